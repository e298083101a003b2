"""A report (and the window's operational figures) as metric points: the time series.

Every check of the report becomes the point of the metric it judged, with the check's status
(and, for performance, the standard error as the point's band): the points carry the verdict,
they never decide one. Every other measured value becomes a point with status "none", or
"pending" when it is measured on labels alone and fewer than `performance.min_labelled` rows
are labelled (performance metrics no check judges, the target's drift measures).
Metric names are listed in docs/api.md: `drift.<measure>`, `drift.p_value`,
`drift.share_drifted`; `quality.<measure>`; `schema.<change>`; `performance.<metric>`,
`performance.label_coverage`, `performance.labelled_rows`; `attribution.ndcg`,
`attribution.mean_abs_change` and `attribution.mean_abs` (per feature); `fairness.<measure>`
(the column is the protected attribute; a label-based measure no check judges is `pending`
like performance); `estimated.<metric>` (performance estimated before labels, the change's
standard error as its band); `multivariate.<measure>` (and `multivariate.feature_gain` per
column: the domain classifier's top features); `ops.<figure>`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from vigil.report.model import Report
from vigil.spec import LABELLED_FAIRNESS
from vigil.store.base import MetricPoint, WindowKind

QUALITY_FIELDS = (
    "missing_share",
    "infinite_share",
    "out_of_range_share",
    "unseen_share",
    "outlier_share",
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
    """The report's checks as judged points, and its other values as points without status."""
    out: list[MetricPoint] = []
    judged: set[tuple[str, str]] = set()
    # below performance.min_labelled the labels say too little: what is measured on them alone
    # (performance, the target's drift) is `pending` rather than "none", so no rule judges it
    waiting = any(
        c.metric == "performance.label_coverage" and c.status == "pending" for c in report.checks
    )

    def add(metric: str, column: str, value: float | None, on_labels: bool = False) -> None:
        if (metric, column) not in judged:
            status = "pending" if waiting and on_labels else "none"
            out.append(
                MetricPoint(version, kind, segment, start, end, metric, column, value, status)
            )

    for check in report.checks:
        key = (check.metric, check.column or "")
        if key in judged:
            continue
        judged.add(key)
        out.append(
            MetricPoint(
                version,
                kind,
                segment,
                start,
                end,
                check.metric,
                check.column or "",
                check.value,
                check.status,
                check.standard_error,
            )
        )
    for name, col in report.drift.columns.items():
        target = col.role == "target"
        for measure, value in col.metrics.items():
            add(f"drift.{measure}", name, value, target)
        if col.p_value is not None:
            add("drift.p_value", name, col.p_value, target)
    for name, q in report.quality.columns.items():
        for field in QUALITY_FIELDS:
            value = getattr(q, field)
            if value is not None:
                add(f"quality.{field}", name, float(value))
    add("quality.duplicate_row_share", "", report.quality.duplicate_row_share)
    p = report.performance
    if p is not None:
        if p.current is not None:
            for metric, value in p.current.metrics.items():
                add(f"performance.{metric}", "", value, True)
        add("performance.labelled_rows", "", float(p.current.rows if p.current else 0))
        add("performance.label_coverage", "", p.label_coverage)
    a = report.attribution
    if a is not None:  # each feature's importance in the window, for its chart over time
        for feature, fa in a.features.items():
            add("attribution.mean_abs", feature, fa.current_mean_abs)
    f = report.fairness
    if f is not None:
        for attribute in f.attributes:
            for name, m in attribute.measures.items():
                if m.value is not None:
                    add(f"fairness.{name}", attribute.column, m.value, name in LABELLED_FAIRNESS)
    if report.estimated is not None:  # those with a reference value are checks, above
        for metric, found in report.estimated.estimates.items():
            add(f"estimated.{metric}", "", found.value)
    mv = report.multivariate
    if mv is not None:  # the judged values are checks above; these draw their bands
        r = mv.reconstruction
        add("multivariate.reconstruction_error", "", r.value)
        add("multivariate.reconstruction_reference", "", r.reference)
        add("multivariate.reconstruction_lower", "", r.lower)
        add("multivariate.reconstruction_upper", "", r.upper)
        add("multivariate.anomaly_share", "", mv.anomaly.value)
        if mv.domain is not None:
            add("multivariate.domain_auc", "", mv.domain.auc)
            for column, share in mv.domain.top_features:
                add("multivariate.feature_gain", column, share)
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


def changed_points(
    before: Sequence[MetricPoint], after: Sequence[MetricPoint]
) -> tuple[list[MetricPoint], list[tuple[str, str, str]]]:
    """The points of `after` that are not in `before` as they are (new, or another value,
    status or band), and the (segment, metric, column) of those of `before` gone from
    `after`: what turns a window's stored points `before` into `after`."""
    stored = {(p.segment, p.metric, p.column): p for p in before}
    changed = [p for p in after if stored.get((p.segment, p.metric, p.column)) != p]
    kept = {(p.segment, p.metric, p.column) for p in after}
    return changed, [k for k in stored if k not in kept]
