"""Inline SVG bar charts of a column's distribution: reference beside current, per bin."""

from __future__ import annotations

from markupsafe import Markup, escape

from vigil.measure.drift import Distribution

WIDTH, HEIGHT, PAD, LABEL = 560, 200, 6, 64
LEFT = 40  # room for the first rotated label
REFERENCE_COLOUR, CURRENT_COLOUR = "#8aa1b8", "#d9822b"


def distribution_svg(distribution: Distribution, *, title: str) -> Markup:
    """Grouped bars of the shares per bin or category; labels under the bars, escaped."""
    n = len(distribution.labels)
    top = max([*distribution.reference, *distribution.current, 1e-12])
    plot_h = HEIGHT - LABEL - PAD
    slot = (WIDTH - LEFT - PAD) / max(n, 1)
    bar = max(slot * 0.38, 1.0)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-label="{escape(title)}" class="chart">',
        f"<title>{escape(title)}</title>",
    ]
    for i, label in enumerate(distribution.labels):
        x = LEFT + i * slot + slot * 0.1
        for j, (share, colour) in enumerate(
            (
                (distribution.reference[i], REFERENCE_COLOUR),
                (distribution.current[i], CURRENT_COLOUR),
            )
        ):
            h = plot_h * share / top
            which = "reference" if j == 0 else "current"
            parts.append(
                f'<rect x="{x + j * bar:.1f}" y="{PAD + plot_h - h:.1f}" width="{bar:.1f}" '
                f'height="{h:.1f}" fill="{colour}"><title>{escape(label)}: {which} '
                f"{share:.2%}</title></rect>"
            )
        if n <= 24:
            text = str(label) if len(str(label)) <= 14 else str(label)[:13] + "…"
            parts.append(
                f'<text x="{x + bar:.1f}" y="{HEIGHT - LABEL + 14}" font-size="9" '
                f'text-anchor="end" transform="rotate(-35 {x + bar:.1f} '
                f'{HEIGHT - LABEL + 14})">{escape(text)}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))
