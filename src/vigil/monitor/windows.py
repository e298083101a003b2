"""One window of one model version, judged against its reference through `evaluate`.

The window's rows come from the store as Arrow with the labels joined so far; they are handed
to the same `evaluate` as `vigil report`, once for the whole window and once per segment value
(the top values by volume, the rest as `other`), against the version's reference prepared once
(`vigil.monitor.references`), so a window costs its own size, not the reference's.
Operational figures — volume, rate, latency percentiles, error rate — are read off the same
rows.

A window that only received labels since it was computed is brought up to date from the
reports it gave then (`WindowReports`, passed as `previous`): `vigil.late_labels` re-measures
what labels change and gives the report `evaluate` would give.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vigil.errors import NotEnoughData, VigilError
from vigil.evaluation import PreparedReference, evaluate
from vigil.late_labels import evaluate_labels
from vigil.monitor.history import History
from vigil.monitor.points import ops_points, report_points
from vigil.monitor.references import PreparedVersion, segment_rows
from vigil.report.json import report_to_json
from vigil.report.model import Report
from vigil.spec import ATTRIBUTION_COLUMN, Spec
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
class WindowReports:
    """The reports a window gave, whole and by segment: what its late labels start from."""

    whole: Report
    segments: dict[str, Report]  # by segment label ("shop=a"); a segment not judged is absent
    points: tuple[MetricPoint, ...] = ()  # every point of the window, as stored

    @property
    def count(self) -> int:
        """Reports held."""
        return 1 + len(self.segments)


@dataclass(frozen=True, slots=True)
class WindowResult:
    """What computing a window produced."""

    key: WindowKey
    rows: int
    labelled: int
    report: Report | None  # None when the window was too small to judge
    points: list[MetricPoint]
    reports: WindowReports | None = None  # the reports, whole and by segment
    from_labels: bool = False  # brought up to date from the last reports (only labels came)


def current_table(window: pa.Table, spec: Spec) -> pa.Table:
    """A window's rows in the shape of the spec: fixed fields renamed, other versions' columns
    dropped, extra features kept (they are the schema drift), attributions kept when any row
    has one."""
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
        elif name.startswith(ATTRIBUTION_COLUMN):  # a feature's attributions, when sent
            if column.null_count < len(column):
                arrays[name] = column
        elif name.startswith("__"):
            continue
        elif name in names or column.null_count < len(column):
            arrays[name] = column
    # one chunk per column: the store hands back one per row group, evaluate sorts whole columns
    return pa.table(arrays).combine_chunks()


def operational(
    window: pa.Table,
    seconds: float,
    history: dict[str, list[float]],
    features: list[str],
) -> dict[str, float | None]:
    """Volume, rate, latency percentiles, error rate (and availability, 1 − error rate) and
    missing values of a window's rows,
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
        "availability": 1 - errors / n if n else None,
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
    previous: WindowReports | None = None,
    history: History | None = None,
) -> WindowResult:
    """Read, evaluate and summarise one window (all rows, then each segment) against the
    version's prepared reference.

    `previous`: the reports of the window's last computation, when only labels arrived since
    (its rows are the same); the reports are then brought up to date from them. `history`:
    the earlier windows' figures (read from the store when not given).
    """
    spec = reference.window_spec  # the domain classifier off unless the spec turns it on
    start = key.start
    end = key.end
    if key.kind == "rolling":
        assert plan.rolling_seconds is not None
        end = now
        start = now - timedelta(seconds=plan.rolling_seconds)
    if history is None:
        history = History(store, model, [key], size_seconds=plan.size_seconds, history=plan.history)
    window = store.read_window(model, key.version, start, end)
    seconds = (min(end, now) - start).total_seconds()
    features = [c.name for c in spec.with_role("feature") if c.name in window.column_names]
    ops = operational(window, seconds, history.before(key), features)
    labelled = int(ops.get("labelled") or 0)
    span = {"version": key.version, "kind": key.kind, "start": start, "end": end}
    points = ops_points(ops, segment="", **span)  # type: ignore[arg-type]
    if window.num_rows == 0:
        history.record(key, ops)
        return WindowResult(key, 0, labelled, None, points)
    current = current_table(window, spec)
    report, from_labels = _evaluate(
        reference.whole(), current, spec, None if previous is None else previous.whole
    )
    points += report_points(report, segment="", **span)  # type: ignore[arg-type]
    target = spec.single("target")
    segments: dict[str, Report] = {}
    for column in plan.segments:
        if column not in current.column_names:
            continue
        # labels move rows between segments of the target: those are judged whole
        kept = previous if target is None or column != target.name else None
        values, has_other = segment_values(current.column(column), plan.top_segments)
        for value in [*values, None] if has_other else values:
            label = f"{column}={'other' if value is None else value}"
            found = _segment_report(
                current,
                reference,
                spec,
                column,
                values,
                value,
                None if kept is None else kept.segments.get(label),
            )
            if found is not None:
                segments[label] = found
                points += report_points(found, segment=label, **span)  # type: ignore[arg-type]
    history.record(key, ops)
    return WindowResult(
        key,
        window.num_rows,
        labelled,
        report,
        points,
        WindowReports(report, segments, tuple(points)),
        from_labels,
    )


def _evaluate(
    reference: PreparedReference, current: pa.Table, spec: Spec, previous: Report | None
) -> tuple[Report, bool]:
    """`evaluate`, or `evaluate_labels` from the report of the same rows with other labels
    (then True)."""
    if previous is not None:
        try:
            return evaluate_labels(previous, reference, current), True
        except ValueError:  # not the rows it judged (some were dropped by retention): whole
            pass
    return evaluate(reference, current, spec), False


def _segment_report(
    current: pa.Table,
    reference: PreparedVersion,
    spec: Spec,
    column: str,
    top: list[object],
    value: object,
    previous: Report | None,
) -> Report | None:
    """The report of one segment; `value` None means every value outside `top`; None when
    the segment cannot be judged."""
    part = segment_rows(current, column, top, value)
    if part.num_rows == 0:
        return None
    try:
        return _evaluate(reference.segment(column, top, value), part, spec, previous)[0]
    except (NotEnoughData, VigilError):
        return None


def report_json(result: WindowResult) -> str | None:
    """The window's report in the JSON schema of `vigil report --json`."""
    return None if result.report is None else report_to_json(result.report, indent=False)
