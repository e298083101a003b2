"""A column's measures over time as charts: each drift measure with its levels and control
limits, each quality share with its check's levels, and the reference-vs-window distribution
as bars (the JSON `static/dashboard.js` draws)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from vigil.alerts.rules import Control
from vigil.service.state import AppState
from vigil.service.ui.charts import bars_chart, detection_marks, line, series_chart
from vigil.service.ui.selection import Selection
from vigil.spec import Spec
from vigil.spec.methods import DRIFT_METHODS
from vigil.spec.types import Threshold
from vigil.store.base import ModelInfo
from vigil.store.dashboard import Moments, SeriesPoint

Limits = Callable[[str], tuple[tuple[str, float, float], ...]]
SIGMAS = 3.0  # control limits without a control rule: mean ± 3σ of the earlier windows
# quality shares in the order people read them, and what each is called
QUALITY = {
    "quality.missing_share": "missing",
    "quality.type_mismatch_share": "not of its kind",
    "quality.out_of_range_share": "out of range",
    "quality.unseen_share": "unseen categories",
    "quality.outlier_share": "outliers",
    "quality.infinite_share": "infinite",
}


@dataclass(frozen=True, slots=True)
class MeasureChart:
    """One measure over time: its chart and the sentence under it."""

    metric: str
    title: str
    chart: dict[str, Any]
    note: str


def control_limits(
    state: AppState,
    model: ModelInfo,
    selection: Selection,
    *,
    column: str,
    role: str,
    version: str,
    start: datetime,
    earlier: dict[str, Moments],
) -> Limits:
    """For each metric, the control band to draw: a `control` alert rule's (mean ± k·σ of
    its last N windows before `start`) when one covers the metric, else mean ± 3σ of
    the version's windows in range before the shown one; none below two windows."""
    rules = [
        r
        for r in state.alerting.engine.rules_for(model)
        if isinstance(r.when, Control)
        and r.scope.covers(model.name, version, column, selection.segment, role)
    ]
    size = timedelta(seconds=selection.plan.size_seconds)
    by_reach: dict[int, dict[str, Moments]] = {}

    def limits(metric: str) -> tuple[tuple[str, float, float], ...]:
        for rule in rules:
            if not rule.watches(metric):
                continue
            assert isinstance(rule.when, Control)
            reach = rule.when.windows
            if reach not in by_reach:
                by_reach[reach] = state.store.column_moments(
                    model,
                    column=column,
                    version=version,
                    segment=selection.segment,
                    since=start - reach * size,
                    until=start,
                )
            m = by_reach[reach].get(metric)
            k = rule.when.levels.warning or rule.when.levels.critical or SIGMAS
            if m is None or m.mean is None or not m.std or m.windows < rule.when.min_history:
                return ()
            name = f"rule {rule.name}: mean ± {k:g}σ of the last {m.windows} windows"
            return ((name, m.mean - k * m.std, m.mean + k * m.std),)
        m = earlier.get(metric)
        if m is None or m.mean is None or not m.std or m.windows < 2:
            return ()
        name = f"mean ± 3σ of the {m.windows} earlier windows in range"
        return ((name, m.mean - SIGMAS * m.std, m.mean + SIGMAS * m.std),)

    return limits


def _lines(
    points: Sequence[SeriesPoint], link: Callable[[SeriesPoint], str]
) -> list[dict[str, Any]]:
    """One line per version, its band the least and greatest window of each step."""
    versions = sorted({p.version for p in points})
    return [
        line(
            f"version {v}",
            [p for p in points if p.version == v],
            band="range",
            href=link,
        )
        for v in versions
    ]


def drift_charts(
    series: dict[str, list[SeriesPoint]],
    *,
    method: str,
    levels: Threshold,
    alpha: float | None,
    limits: Callable[[str], tuple[tuple[str, float, float], ...]],
    link: Callable[[SeriesPoint], str],
) -> list[MeasureChart]:
    """Each drift measure over time: the deciding one first with the spec's levels, the
    test's p-value with α, the others with the levels their method has by default."""
    decider = f"drift.{method}"
    names = [m for m in series if m.startswith("drift.") and not m.endswith("_p_value")]
    names.sort(key=lambda m: (m != decider, m != "drift.p_value", m))
    out = []
    for metric in names:
        measure = metric.removeprefix("drift.")
        thresholds: list[tuple[str, float, str]] = []
        if metric == decider:
            side = "below" if levels.direction == "below" else "from"
            thresholds = [
                (f"warning {side}", levels.warning, "warning"),
                (f"critical {side}", levels.critical, "critical"),
            ]
            title = f"{measure} — decides this column's drift"
            note = (
                f"The spec's levels for {measure}: warning {side} {levels.warning:g}, critical "
                f"{side} {levels.critical:g}"
                + (
                    f"; a level counts only when the test's p-value, corrected across the "
                    f"window's tests, is below α = {alpha:g}."
                    if alpha is not None and levels.direction == "above"
                    else "."
                )
            )
        elif metric == "drift.p_value":
            title = "p-value of the column's test (before correction)"
            if alpha is not None:
                thresholds = [("α", alpha, "warning")]
            note = (
                "The raw p-value; the verdict compares the p-value corrected across the "
                "window's tests (Benjamini–Hochberg) with α, so a point under the line may "
                "still be judged ok."
            )
        else:
            entry = DRIFT_METHODS.get(measure)
            default = None if entry is None else entry.default
            title = f"{measure} — measured, not deciding"
            if default is not None and default.direction == "above":
                thresholds = [
                    (f"{measure}'s default warning", default.warning, "warning"),
                    (f"{measure}'s default critical", default.critical, "critical"),
                ]
                note = (
                    f"Not judged: {method} decides this column. The dashed lines are "
                    f"{measure}'s default levels, had the spec chosen it."
                )
            else:
                note = f"Not judged: {method} decides this column; in the column's units."
        # p-values of an unchanged column are uniform, not near a mean: no control band
        band = () if metric.endswith("p_value") else limits(metric)
        if band:
            note += f" Shaded: {band[0][0]}."
        marks = detection_marks(series) if metric == decider else []
        if marks:
            note += " Purple lines: windows where a stream detector fired on this column."
        chart = series_chart(
            _lines(series[metric], link),
            thresholds=thresholds,
            limits=band,
            zero=True,
            marks=marks,
        )
        chart["levelsInView"] = metric == decider  # both of the spec's levels always drawn
        out.append(MeasureChart(metric, title, chart, note))
    return out


def quality_levels(spec: Spec, metric: str, quality: dict[str, Any] | None) -> list[Any]:
    """The warning and critical levels of a quality share, as its check reads them: an
    increase over the reference's share where the check judges an increase."""
    o = spec.quality
    reference = 0.0
    if metric == "quality.missing_share":
        limits = o.missing_increase
        reference = float((quality or {}).get("reference_missing_share") or 0.0)
    elif metric == "quality.outlier_share":
        limits = o.outlier_increase
        reference = float((quality or {}).get("reference_outlier_share") or 0.0)
    elif metric == "quality.out_of_range_share":
        limits = o.out_of_range
    elif metric == "quality.unseen_share":
        limits = o.unseen_share
    elif metric == "quality.type_mismatch_share":
        limits = o.type_mismatch
    else:
        return []
    return [
        ("warning", reference + limits.warning, "warning"),
        ("critical", reference + limits.critical, "critical"),
    ]


def quality_charts(
    spec: Spec,
    series: dict[str, list[SeriesPoint]],
    quality: dict[str, Any] | None,
    link: Callable[[SeriesPoint], str],
) -> list[MeasureChart]:
    """Each quality share of the column over time, with the levels its check uses."""
    out = []
    for metric, title in QUALITY.items():
        if metric not in series:
            continue
        thresholds = quality_levels(spec, metric, quality)
        increase = metric in ("quality.missing_share", "quality.outlier_share")
        note = (
            "Share of the window's values. "
            + (
                "Levels: the reference's share plus the allowed increase. "
                if increase and thresholds
                else ""
            )
            + ("A level counts only beyond sampling noise." if thresholds else "Not judged.")
        )
        chart = series_chart(_lines(series[metric], link), thresholds=thresholds, zero=True)
        out.append(MeasureChart(metric, f"{title} share", chart, note))
    return out


def distribution_of(drift: dict[str, Any] | None) -> tuple[dict[str, Any] | None, Any]:
    """The column's distribution in the report, and its bars chart (None when absent)."""
    distribution = None if drift is None else drift.get("distribution")
    if not isinstance(distribution, dict) or not distribution.get("labels"):
        return None, None
    labels = [str(label) for label in distribution["labels"]]
    chart = bars_chart(
        labels,
        [
            ("reference", distribution.get("reference") or []),
            ("window", distribution.get("current") or []),
        ],
        unit="share",
        rotate=30 if len(labels) > 6 else 0,
    )
    return distribution, chart


def no_limits(metric: str) -> tuple[tuple[str, float, float], ...]:
    """No control band (no window is shown to be earlier than)."""
    return ()
