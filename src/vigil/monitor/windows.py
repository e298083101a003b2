"""One window of one model version, judged against its reference through `evaluate`.

The window's rows come from the store as Arrow with the labels joined so far; they are handed
to the same `evaluate` as `vigil report`, once for the whole window and once per segment value
(the top values by volume, the rest as `other`), against the version's reference prepared once
(`vigil.monitor.references`), so a window costs its own size, not the reference's.
Operational figures — volume, rate, latency percentiles, error rate — are read off the same
rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vigil.errors import NotEnoughData, VigilError
from vigil.evaluation import evaluate
from vigil.monitor.points import ops_points, report_points
from vigil.monitor.references import PreparedVersion, segment_rows
from vigil.report.json import report_to_json
from vigil.report.model import Report
from vigil.spec import Spec
from vigil.store.base import MetricPoint, ModelInfo, Store, WindowKey


@dataclass(frozen=True, slots=True)
class WindowPlan:
    """How a model is windowed (docs/config.md, `windows:`)."""

    size_seconds: int = 3600
    rolling_seconds: int | None = 7 * 86400
    min_rows: int = 100  # an open window is evaluated once it holds this many rows
    segments: tuple[str, ...] = ()
    top_segments: int = 10
    history: int = 24  # earlier tumbling windows the volume and missing share are compared with


@dataclass(frozen=True, slots=True)
class WindowResult:
    """What computing a window produced."""

    key: WindowKey
    rows: int
    labelled: int
    report: Report | None  # None when the window was too small to judge
    points: list[MetricPoint]


def current_table(window: pa.Table, spec: Spec) -> pa.Table:
    """A window's rows in the shape of the spec: fixed fields renamed, other versions' columns
    dropped, extra features kept (they are the schema drift)."""
    rename = {
        field: None if col is None else col.name
        for field, col in (
            ("__id", spec.single("id")),
            ("__ts", spec.single("timestamp")),
            ("__label", spec.single("target")),
        )
    }
    names = set(spec.names)
    arrays: dict[str, pa.ChunkedArray] = {}
    for name in window.column_names:
        column = window.column(name)
        if name in rename:
            target = rename[name]
            if target is not None:
                arrays[target] = column
        elif name.startswith("__"):
            continue
        elif name in names or column.null_count < len(column):
            arrays[name] = column
    # one chunk per column: the store hands back one per row group, evaluate sorts whole columns
    return pa.table(arrays).combine_chunks()


def _history(
    store: Store, model: ModelInfo, key: WindowKey, plan: WindowPlan
) -> dict[str, list[float]]:
    """Counts and missing shares of the previous `history` tumbling windows that had rows."""
    if key.kind != "tumbling" or not plan.history:
        return {}
    since = key.start - timedelta(seconds=plan.size_seconds * plan.history)
    out: dict[str, list[float]] = {}
    for metric in ("ops.count", "ops.missing_share"):
        points = store.read_points(
            model,
            metric=metric,
            column="",
            segment="",
            version=key.version,
            kind="tumbling",
            since=since,
            until=key.start,
            limit=plan.history,
        )
        out[metric] = [p.value for p in points if p.value is not None]
    return out


def operational(
    window: pa.Table,
    seconds: float,
    history: dict[str, list[float]],
    features: list[str],
) -> dict[str, float | None]:
    """Volume, rate, latency percentiles, error rate and missing values of a window's rows,
    the volume and missing share also against the previous windows (`history`)."""
    n = window.num_rows
    latency = window.column("__latency_ms").drop_null().to_numpy()
    errors = n - window.column("__error").null_count
    counts = [c for c in history.get("ops.count", []) if c > 0]
    mean_before = float(np.mean(counts)) if counts else None
    cells = n * len(features)
    missing = sum(window.column(f).null_count for f in features) / cells if cells else None
    missing_before = history.get("ops.missing_share", [])
    figures: dict[str, float | None] = {
        "count": float(n),
        "rate_per_s": n / seconds if seconds > 0 else None,
        "latency_p50_ms": float(np.percentile(latency, 50)) if latency.size else None,
        "latency_p95_ms": float(np.percentile(latency, 95)) if latency.size else None,
        "latency_p99_ms": float(np.percentile(latency, 99)) if latency.size else None,
        "error_rate": errors / n if n else None,
        "volume_ratio": n / mean_before if mean_before else None,
        "missing_share": missing,
        "missing_change": (
            missing - float(np.mean(missing_before))
            if missing is not None and missing_before
            else None
        ),
    }
    if "__label" in window.column_names:
        labelled = n - window.column("__label").null_count
        figures["labelled"] = float(labelled)
        figures["labelled_share"] = labelled / n if n else None
    return figures


def segment_values(column: pa.ChunkedArray, top: int) -> tuple[list[object], bool]:
    """The `top` most frequent values of a segment column, and whether others remain."""
    counts = pc.value_counts(column.drop_null())
    pairs = sorted(
        zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True),
        key=lambda vc: (-vc[1], str(vc[0])),
    )
    return [v for v, _ in pairs[:top]], len(pairs) > top


def compute_window(
    store: Store,
    model: ModelInfo,
    key: WindowKey,
    spec: Spec,
    reference: PreparedVersion,
    plan: WindowPlan,
    *,
    now: datetime,
) -> WindowResult:
    """Read, evaluate and summarise one window (all rows, then each segment) against the
    version's prepared reference."""
    start = key.start
    end = key.end
    if key.kind == "rolling":
        assert plan.rolling_seconds is not None
        end = now
        start = now - timedelta(seconds=plan.rolling_seconds)
    window = store.read_window(model, key.version, start, end)
    seconds = (min(end, now) - start).total_seconds()
    features = [c.name for c in spec.with_role("feature") if c.name in window.column_names]
    ops = operational(window, seconds, _history(store, model, key, plan), features)
    labelled = int(ops.get("labelled") or 0)
    span = {"version": key.version, "kind": key.kind, "start": start, "end": end}
    points = ops_points(ops, segment="", **span)  # type: ignore[arg-type]
    if window.num_rows == 0:
        return WindowResult(key, 0, labelled, None, points)
    current = current_table(window, spec)
    report = evaluate(reference.whole(), current, spec)
    points += report_points(report, segment="", **span)  # type: ignore[arg-type]
    for column in plan.segments:
        if column not in current.column_names:
            continue
        values, has_other = segment_values(current.column(column), plan.top_segments)
        for value in [*values, None] if has_other else values:
            points += _segment_points(current, reference, spec, column, values, value, span)
    return WindowResult(key, window.num_rows, labelled, report, points)


def _segment_points(
    current: pa.Table,
    reference: PreparedVersion,
    spec: Spec,
    column: str,
    top: list[object],
    value: object,
    span: dict[str, object],
) -> list[MetricPoint]:
    """Points of one segment; `value` None means every value outside `top`."""
    label = f"{column}={'other' if value is None else value}"
    part = segment_rows(current, column, top, value)
    if part.num_rows == 0:
        return []
    try:
        report = evaluate(reference.segment(column, top, value), part, spec)
    except (NotEnoughData, VigilError):
        return []
    return report_points(report, segment=label, **span)  # type: ignore[arg-type]


def report_json(result: WindowResult) -> str | None:
    """The window's report in the JSON schema of `vigil report --json`."""
    return None if result.report is None else report_to_json(result.report)
