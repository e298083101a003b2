"""Inline SVG charts of the HTML report: distributions per column, and performance bands.

A numeric column is drawn as bars per reference bin with a percent axis and its bin edges
under the boundaries; a categorical one as horizontal bars, the reference's most common
category first, so long names stay readable. Every label is escaped, and sized so that it is
drawn inside the chart's viewBox (the browser tests check that).
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Sequence

from markupsafe import Markup, escape

from vigil.measure.drift import Distribution

REFERENCE_COLOUR, CURRENT_COLOUR = "#8aa1b8", "#d9822b"
GRID_COLOUR, AXIS_COLOUR, TEXT_COLOUR = "#e2e8f0", "#a0aec0", "#4a5568"
WIDTH = 440  # viewBox width: about the width of a card, so text draws near its own size
FONT = 11  # px in viewBox units
OTHER = "(other)"  # the bucket of categories past the chart's limit, drawn last


def distribution_svg(distribution: Distribution, *, title: str) -> Markup:
    """The chart of one column: a histogram for bins, horizontal bars for categories."""
    if distribution.edges is not None:
        return histogram_svg(distribution, title=title)
    return category_svg(distribution, title=title)


def text_width(text: str, size: float = FONT) -> float:
    """A generous estimate of a label's drawn width: wide (CJK) characters count double."""
    return sum(size * (1.0 if unicodedata.east_asian_width(ch) in "WF" else 0.62) for ch in text)


def shorten(text: str, room: float, size: float = FONT) -> str:
    """The text, cut with "…" so that it fits in `room` units."""
    if text_width(text, size) <= room:
        return text
    while text and text_width(text + "…", size) > room:
        text = text[:-1]
    return text + "…"


def category_labels(labels: Sequence[str], room: float, size: float = FONT) -> list[str]:
    """Labels that fit in `room`; when cutting their ends makes two alike, the prefix all of
    them share is cut instead ("merchant category number 12 …" as "…12 …").
    """
    shown = [shorten(label, room, size) for label in labels]
    named = [label for label in labels if label != OTHER]
    if len(set(shown)) == len(shown) or len(named) < 2:
        return shown
    first, last = min(named), max(named)  # the prefix of these two is that of them all
    pairs = enumerate(zip(first, last, strict=False))  # first is the shorter when a prefix
    shared = next((i for i, (a, b) in pairs if a != b), len(first))
    prefix = first[:shared]
    cut = max(prefix.rfind(sep) for sep in " _-./:") + 1 or len(prefix)
    return [
        shorten(label, room, size)
        if label == OTHER or len(label) <= cut
        else "…" + shorten(label[cut:], room - text_width("…", size), size)
        for label in labels
    ]


def edge_labels(values: Sequence[float]) -> list[str]:
    """Short labels for bin edges, with as many digits as it takes to tell neighbours apart.

    >>> edge_labels([7999.29, 28968.9, 35402.4])
    ['8k', '29k', '35.4k']
    """
    for digits in range(3, 8):
        labels = [_compact(v, digits) for v in values]
        if all(
            a != b or x == y
            for a, b, x, y in zip(labels, labels[1:], values, values[1:], strict=False)
        ):
            return labels
    return labels


def _compact(value: float, digits: int) -> str:
    value = float(f"{value:.{digits}g}")  # 999.96 -> 1000.0, so that it reads "1k"
    a = abs(value)
    if a == 0:
        return "0"
    if a < 1e-3 or a >= 1e15:
        return f"{value:.{digits - 1}g}"
    for scale, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if a >= scale:
            return f"{value / scale:.{digits}g}{suffix}"
    return f"{value:.{digits}g}"


def percent_ticks(top: float) -> list[float]:
    """Shares 0, step, … to at least `top`, at a round step, two to six ticks."""
    top = max(top, 1e-9)
    for step in (0.001, 0.002, 0.005, 0.01, 0.02, 0.025, 0.05, 0.1, 0.2, 0.25, 0.5):
        if top / step <= 5:
            break
    n = max(1, math.ceil(top / step - 1e-9))
    return [round(i * step, 6) for i in range(n + 1)]


def percent(share: float) -> str:
    """A share as a percent label with no trailing zeros: 0.25 -> '25%', 0.025 -> '2.5%'."""
    return f"{share * 100:.4g}%"


def _open(title: str, kind: str, height: float) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height:.0f}" '
        f'role="img" aria-label="{escape(title)}" class="chart" data-kind="{kind}" '
        f'font-size="{FONT}" fill="{TEXT_COLOUR}">',
        f"<title>{escape(title)}</title>",
    ]


def _bar(
    cls: str, x: float, y: float, w: float, h: float, label: str, share: float, colour: str
) -> str:
    return (
        f'<rect class="{cls}" data-label="{escape(label)}" x="{x:.2f}" y="{y:.2f}" '
        f'width="{w:.2f}" height="{h:.2f}" fill="{colour}"><title>{escape(label)}: {cls} '
        f"{share:.2%}</title></rect>"
    )


def histogram_svg(distribution: Distribution, *, title: str) -> Markup:
    """Reference and current shares per reference bin; edges under the bin boundaries."""
    edges = distribution.edges or ()
    n = len(distribution.labels)
    ticks = percent_ticks(max([*distribution.reference, *distribution.current, 0.0]))
    tick_text = [percent(t) for t in ticks]
    height, top_pad, bottom = 210.0, 8.0, 26.0
    left = max(text_width(t) for t in tick_text) + 10
    edge_text = edge_labels(edges) if len(edges) == n + 1 else []
    right = max([text_width(edge_text[-1]) / 2 + 4, 8.0]) if edge_text else 8.0
    left = max(left, text_width(edge_text[0]) / 2 + 4) if edge_text else left
    plot_w, plot_h = WIDTH - left - right, height - top_pad - bottom
    base = top_pad + plot_h
    slot = plot_w / max(n, 1)
    bar = slot * 0.4

    def y(share: float) -> float:
        return base - plot_h * share / ticks[-1]

    parts = _open(title, "histogram", height)
    for t, label in zip(ticks, tick_text, strict=True):
        parts.append(
            f'<line x1="{left:.2f}" x2="{WIDTH - right:.2f}" y1="{y(t):.2f}" y2="{y(t):.2f}" '
            f'stroke="{GRID_COLOUR if t else AXIS_COLOUR}"/>'
            f'<text class="axis-y" x="{left - 6:.2f}" y="{y(t) + FONT * 0.35:.2f}" '
            f'text-anchor="end">{label}</text>'
        )
    for i, label in enumerate(distribution.labels):
        x = left + i * slot + slot * 0.1
        for j, (share, cls, colour) in enumerate(
            (
                (distribution.reference[i], "reference", REFERENCE_COLOUR),
                (distribution.current[i], "current", CURRENT_COLOUR),
            )
        ):
            parts.append(
                _bar(cls, x + j * bar, y(share), bar, base - y(share), label, share, colour)
            )
    if edge_text:
        for i in range(n + 1):
            x = left + i * slot
            parts.append(
                f'<line x1="{x:.2f}" x2="{x:.2f}" y1="{base:.2f}" y2="{base + 4:.2f}" '
                f'stroke="{AXIS_COLOUR}"/>'
            )
        # every k-th edge, so that neighbouring labels never overlap; both ends always
        widest = max(text_width(t) for t in edge_text) + 6
        every = max(1, math.ceil(widest / slot))
        shown = list(range(0, n + 1, every))
        if shown[-1] != n:
            if (n - shown[-1]) * slot >= widest:
                shown.append(n)
            else:
                shown[-1] = n
        for i in shown:
            parts.append(
                f'<text class="axis-x" x="{left + i * slot:.2f}" y="{base + 4 + FONT:.2f}" '
                f'text-anchor="middle">{escape(edge_text[i])}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))


def category_svg(distribution: Distribution, *, title: str) -> Markup:
    """Horizontal bars per category, the reference's most common first and "(other)" last."""
    order = sorted(
        range(len(distribution.labels)),
        key=lambda i: (
            distribution.labels[i] == OTHER,
            -distribution.reference[i],
            -distribution.current[i],
        ),
    )
    labels = [distribution.labels[i] for i in order]
    ref = [distribution.reference[i] for i in order]
    cur = [distribution.current[i] for i in order]
    ticks = percent_ticks(max([*ref, *cur, 0.0]))
    tick_text = [percent(t) for t in ticks]
    label_room = min(150.0, max([0.0, *(text_width(label) for label in labels)]))
    label_text = category_labels(labels, label_room)
    left = label_room + 8
    value_room = text_width("100.0%", FONT - 2) + 6
    right = max(value_room, text_width(tick_text[-1]) / 2 + 4)
    row, bar, top_pad, bottom = 24.0, 9.0, 6.0, 22.0
    plot_w = WIDTH - left - right
    height = top_pad + row * len(labels) + bottom
    base = top_pad + row * len(labels)

    def x(share: float) -> float:
        return left + plot_w * share / ticks[-1]

    parts = _open(title, "category", height)
    for t, text in zip(ticks, tick_text, strict=True):
        parts.append(
            f'<line x1="{x(t):.2f}" x2="{x(t):.2f}" y1="{top_pad:.2f}" y2="{base:.2f}" '
            f'stroke="{GRID_COLOUR if t else AXIS_COLOUR}"/>'
            f'<text class="axis-x" x="{x(t):.2f}" y="{base + 4 + FONT:.2f}" '
            f'text-anchor="middle">{text}</text>'
        )
    for i, label in enumerate(labels):
        y0 = top_pad + i * row + (row - 2 * bar) / 2
        parts.append(
            f'<text class="category" x="{label_room:.2f}" y="{y0 + bar + FONT * 0.35:.2f}" '
            f'text-anchor="end">{escape(label_text[i])}</text>'
        )
        for j, (share, cls, colour) in enumerate(
            ((ref[i], "reference", REFERENCE_COLOUR), (cur[i], "current", CURRENT_COLOUR))
        ):
            y = y0 + j * bar
            parts.append(_bar(cls, left, y, x(share) - left, bar, label, share, colour))
            parts.append(
                f'<text class="value" x="{x(share) + 3:.2f}" y="{y + bar - 1.5:.2f}" '
                f'font-size="{FONT - 2}">{share:.1%}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))


def band_svg(
    reference: float,
    current: float,
    standard_error: float,
    *,
    noise_level: float,
    status: str,
    title: str,
) -> Markup:
    """The reference value with its noise band (± 1 and ± `noise_level` standard errors of
    the difference) on a line, and the current value as a dot in its status's colour."""
    width, height, pad = 200.0, 22.0, 6.0
    wide = noise_level * standard_error
    lo = min(reference - wide, current)
    hi = max(reference + wide, current)
    span = (hi - lo) or 1.0
    lo, hi = lo - 0.06 * span, hi + 0.06 * span

    def x(v: float) -> float:
        return pad + (width - 2 * pad) * (v - lo) / (hi - lo)

    mid = height / 2
    return Markup(
        f'<svg class="band" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:.0f} '
        f'{height:.0f}" role="img" aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title>"
        f'<line x1="{pad}" x2="{width - pad}" y1="{mid}" y2="{mid}" stroke="{GRID_COLOUR}"/>'
        f'<rect class="noise" x="{x(reference - wide):.2f}" y="{mid - 6}" '
        f'width="{x(reference + wide) - x(reference - wide):.2f}" height="12" '
        f'fill="{REFERENCE_COLOUR}" fill-opacity="0.25"/>'
        f'<rect class="se" x="{x(reference - standard_error):.2f}" y="{mid - 6}" '
        f'width="{x(reference + standard_error) - x(reference - standard_error):.2f}" '
        f'height="12" fill="{REFERENCE_COLOUR}" fill-opacity="0.55"/>'
        f'<line class="reference" x1="{x(reference):.2f}" x2="{x(reference):.2f}" '
        f'y1="{mid - 8}" y2="{mid + 8}" stroke="#2d3748" stroke-width="1.5"/>'
        f'<circle class="current {escape(status)}" cx="{x(current):.2f}" cy="{mid}" r="4.5"/>'
        "</svg>"
    )
