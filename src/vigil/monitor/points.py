"""A report (and the window's operational figures) as metric points: the time series.

Metric names (docs/api.md lists them): `drift.<measure>`, `drift.p_value`,
`drift.share_drifted`; `quality.<check>`; `performance.<metric>`; `ops.<figure>`. A point's
status is the status of the check that judged that value, or "none" when nothing judged it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from vigil.report.model import Report
from vigil.store.base import MetricPoint, WindowKind

QUALITY_FIELDS = (
    "missing_share",
    "infinite_share",
    "out_of_range_share",
    "unseen_share",
    "outlier_share",
    "type_mismatches",
)


def report_points(
    report: Report,
    *,
    version: str,
    kind: WindowKind,
    segment: str,
    start: datetime,
    end: datetime,
) -> list[MetricPoint]:
    """Every value of a report worth a time series, with the status its check gave it."""
    status = {(c.name, c.column or ""): c.status for c in report.checks}
    out: list[MetricPoint] = []

    def add(metric: str, column: str, value: float | None, judged: str | None) -> None:
        out.append(
            MetricPoint(version, kind, segment, start, end, metric, column, value, judged or "none")
        )

    for name, col in report.drift.columns.items():
        for measure, value in col.metrics.items():
            add(f"drift.{measure}", name, value, col.status if measure == col.method else None)
        if col.p_value is not None:
            add("drift.p_value", name, col.p_value, None)
    add(
        "drift.share_drifted",
        "",
        report.drift.share_drifted,
        status.get(("dataset_drift", "")),
    )
    for name, q in report.quality.columns.items():
        for field in QUALITY_FIELDS:
            value = getattr(q, field)
            if value is None:
                continue
            check = "type_mismatch" if field == "type_mismatches" else field
            add(f"quality.{field}", name, float(value), status.get((check, name), "ok"))
    add(
        "quality.duplicate_row_share",
        "",
        report.quality.duplicate_row_share,
        status.get(("duplicate_rows", ""), "ok"),
    )
    p = report.performance
    if p is not None and p.current is not None:
        for metric, value in p.current.metrics.items():
            add(f"performance.{metric}", "", value, status.get((f"performance.{metric}", "")))
        add("performance.labelled_rows", "", float(p.current.rows), None)
    for (name, column), judged in status.items():
        if name.startswith("schema."):
            add(name, column, 1.0, judged)
    return out


def ops_points(
    figures: Mapping[str, float | None],
    *,
    version: str,
    kind: WindowKind,
    segment: str,
    start: datetime,
    end: datetime,
) -> list[MetricPoint]:
    """Operational figures (counts, rates, latency, errors) as `ops.*` points."""
    return [
        MetricPoint(version, kind, segment, start, end, f"ops.{name}", "", value, "none")
        for name, value in figures.items()
    ]
