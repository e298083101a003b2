"""What a chart draws, as the JSON `static/dashboard.js` reads: times in epoch milliseconds,
numbers finite or null (JSON has no NaN), every name plain text."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from vigil.store.dashboard import EPOCH, HeatCell, SeriesPoint

STATUS_INDEX = {"none": 0, "pending": 1, "ok": 2, "warning": 3, "critical": 4}


def ms(moment: datetime) -> int:
    """A stored (naive UTC) time as epoch milliseconds."""
    return int((moment - EPOCH).total_seconds() * 1000)


def finite(value: float | None) -> float | None:
    """The value, or None for a missing or non-finite one."""
    return None if value is None or not math.isfinite(value) else float(value)


def line(
    name: str,
    points: Sequence[SeriesPoint],
    *,
    band: str | None = None,
    href: Callable[[SeriesPoint], str | None] | None = None,
    color: str | None = None,
) -> dict[str, Any]:
    """One line of a `series` chart. `band`: "se" draws value ± 1.96 standard errors (a
    performance metric's band), "range" the least and greatest value of each step, None none.
    `href`: the page a click on a point opens."""
    out: dict[str, Any] = {
        "name": name,
        "points": [
            [ms(p.start), finite(p.value), None, None, p.status, href(p) if href else None]
            for p in points
        ],
    }
    if color is not None:
        out["color"] = color
    if band == "se":
        out["band"] = [[ms(p.start), *_se_band(p)] for p in points]
    elif band == "range":
        out["band"] = [[ms(p.start), finite(p.low), finite(p.high)] for p in points]
    return out


def _se_band(point: SeriesPoint) -> tuple[float | None, float | None]:
    value, se = finite(point.value), finite(point.band)
    if value is None or se is None:
        return None, None
    return value - 1.96 * se, value + 1.96 * se


def series_chart(
    lines: Sequence[dict[str, Any]],
    *,
    unit: str = "",
    thresholds: Sequence[tuple[str, float, str]] = (),
    limits: Sequence[tuple[str, float, float]] = (),
    zero: bool = False,
    marks: Sequence[tuple[str, datetime]] = (),
) -> dict[str, Any]:
    """A `series` chart: lines over time; `thresholds` as (name, value, severity) dashed lines;
    `limits` as (name, lower, upper) shaded areas; `zero` keeps 0 on the axis; `marks` as
    (name, time) vertical lines (where a stream detector fired)."""
    return {
        "kind": "series",
        "unit": unit,
        "zero": zero,
        "lines": list(lines),
        "marks": [{"name": n, "at": ms(at)} for n, at in marks],
        "thresholds": [
            {"name": n, "value": v, "severity": s}
            for n, v, s in thresholds
            if finite(v) is not None
        ],
        "limits": [
            {"name": n, "lower": lo, "upper": hi}
            for n, lo, hi in limits
            if finite(lo) is not None and finite(hi) is not None
        ],
    }


def heatmap_chart(
    cells: Sequence[HeatCell],
    *,
    rows: Sequence[str],
    href: Callable[[HeatCell], str],
) -> dict[str, Any]:
    """A `heatmap` chart: one row per name in `rows` (in that order), one column per step that
    has a cell; a click on a cell opens `href(cell)`."""
    row_of = {name: i for i, name in enumerate(rows)}
    starts = sorted({c.start for c in cells})
    column_of = {start: i for i, start in enumerate(starts)}
    return {
        "kind": "heatmap",
        "rows": list(rows),
        "columns": [ms(s) for s in starts],
        "cells": [
            [
                column_of[c.start],
                row_of[c.column],
                STATUS_INDEX[c.status],
                c.metric,
                finite(c.value),
                c.windows,
                href(c),
            ]
            for c in cells
            if c.column in row_of
        ],
    }


def bars_chart(
    categories: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    *,
    unit: str = "",
    rotate: int = 0,
) -> dict[str, Any]:
    """A `bars` chart: one bar group per category, one bar per (name, values) series (e.g.
    the reference's and a window's shares); `rotate` turns long category labels."""
    return {
        "kind": "bars",
        "unit": unit,
        "rotate": rotate,
        "categories": list(categories),
        "series": [{"name": n, "values": [finite(v) for v in values]} for n, values in series],
    }


def detection_marks(series: dict[str, list[SeriesPoint]]) -> list[tuple[str, datetime]]:
    """Vertical marks for stream detections (the `detect.<detector>` series of a column):
    one per step and detector, at the step's start, named after the detector."""
    return sorted(
        (f"{metric.removeprefix('detect.')} fired", p.start)
        for metric, points in series.items()
        if metric.startswith("detect.") and metric != "detect.fresh_start"
        for p in points
    )
