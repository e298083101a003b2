"""The HTML report: one self-contained page (inline CSS and SVG, no network) to open offline."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from markupsafe import Markup, escape

from vigil.measure.performance import (
    HIGHER_IS_BETTER,
    MetricChange,
    PerformanceResult,
    SetPerformance,
)
from vigil.report.charts import CURRENT_COLOUR, REFERENCE_COLOUR, band_svg, distribution_svg
from vigil.report.model import STATUS_ORDER, Check, Report, SetSummary, Status
from vigil.report.terminal import detections_order, drift_columns, number, summary_line

# The names vigil.measure.reading gives data that came from memory rather than a file, with
# or without the angle brackets.
IN_MEMORY = ("pandas DataFrame", "polars DataFrame", "Arrow table", "Arrow record batch")
# Checks of one column's data quality, shown in that column's row of the quality table.
QUALITY_CHECKS = (
    "missing_share",
    "type_mismatch",
    "out_of_range_share",
    "unseen_share",
    "outlier_share",
    "constant",
    "schema.missing_column",
    "schema.new_column",
    "schema.type_change",
)
NOISE_LEVEL = 3.0  # standard errors drawn as the noise band when the spec does not say


@dataclass(frozen=True, slots=True)
class MetricRow:
    """One line of the performance table."""

    name: str
    reference: float | None
    current: float | None
    change: float | None  # current − reference
    standard_error: float | None  # of the change; None when the metric is not checked
    higher_is_better: bool | None  # None for a metric with no better direction (mean error)
    status: Status | None  # None: the metric is shown, not judged
    band: Markup | None


@dataclass(frozen=True, slots=True)
class ConfusionCell:
    count: int
    row_share: float  # of the true class's rows: the cell's shade


def source_label(summary: SetSummary) -> str:
    """Where a set came from, in words: a path, or e.g. "in-memory Arrow table"."""
    source = summary.source
    name = source[1:-1] if source.startswith("<") and source.endswith(">") else source
    if name != source or name in IN_MEMORY:
        return f"in-memory {name}"
    return source


def breakable(name: str) -> Markup:
    """The name escaped, with a line-break opportunity after each "_", "." and "/", so that a
    long column name or path wraps between its parts rather than anywhere."""
    return Markup(re.sub(r"([_./])", r"\1<wbr>", str(escape(name))))


def higher_is_better(metric: str) -> bool | None:
    """Whether a larger value of the metric is better ("precision_macro" as "precision")."""
    for name in (metric, metric.split("_")[0]):
        if name in HIGHER_IS_BETTER:
            return HIGHER_IS_BETTER[name]
    return None


def _noise_level(report: Report) -> float:
    levels = report.spec.get("performance", {}).get("standard_errors")
    if isinstance(levels, (list, tuple)) and levels and isinstance(levels[0], (int, float)):
        return float(levels[0])
    return NOISE_LEVEL


def _change_band(
    name: str, change: MetricChange | None, check: Check | None, noise: float, now: str
) -> Markup | None:
    """The noise band of a judged change: the reference ± its standard error, and `now`."""
    if change is None or change.standard_error is None or check is None:
        return None
    return band_svg(
        change.reference,
        change.current,
        change.standard_error,
        noise_level=noise,
        status=check.status,
        title=f"{name}: reference {number(change.reference)} ± "
        f"{number(change.standard_error)} (1 standard error; the light band "
        f"{noise:g}), {now} {number(change.current)}",
    )


def metric_rows(report: Report, perf: PerformanceResult) -> list[MetricRow]:
    """Every metric of either set; the checked ones with their status and noise band."""
    ref = perf.reference.metrics if perf.reference else {}
    cur = perf.current.metrics if perf.current else {}
    noise = _noise_level(report)
    rows = []
    for name in dict.fromkeys([*ref, *cur]):
        a, b = ref.get(name), cur.get(name)
        check = report.check(f"performance.{name}")
        change = perf.changes.get(name)
        band = _change_band(name, change, check, noise, "current")
        rows.append(
            MetricRow(
                name,
                a,
                b,
                None if a is None or b is None else b - a,
                None if change is None else change.standard_error,
                change.higher_is_better if change is not None else higher_is_better(name),
                None if check is None else check.status,
                band,
            )
        )
    return rows


@dataclass(frozen=True, slots=True)
class EstimateRow:
    """One line of the estimated-performance table."""

    name: str
    reference: float | None
    estimate: float
    standard_error: float | None  # of the estimate, at the current set's size
    realized: float | None
    status: Status | None
    band: Markup | None


def estimate_rows(report: Report) -> list[EstimateRow]:
    """Each estimated metric beside the reference's realized value and, later, the truth."""
    e = report.estimated
    if e is None:
        return []
    noise = _noise_level(report)
    rows = []
    for name, found in e.estimates.items():
        check = report.check(f"estimated.{name}")
        change = found.change
        band = _change_band(name, change, check, noise, "estimated")
        rows.append(
            EstimateRow(
                name,
                None if change is None else change.reference,
                found.value,
                found.standard_error,
                found.realized,
                None if check is None else check.status,
                band,
            )
        )
    return rows


@dataclass(frozen=True, slots=True)
class MeasureRow:
    """One line of the multivariate table, its numbers already formatted."""

    name: str
    reference: str
    current: str
    noise: str
    band: Markup | None
    status: Status | None


def multivariate_rows(report: Report) -> dict[str, Any] | None:
    """The multivariate section's rows (None when the report has no multivariate drift)."""
    m = report.multivariate
    if m is None:
        return None
    levels = report.spec.get("multivariate", {}).get("standard_errors")
    width = float(levels[0]) if isinstance(levels, list) and levels else NOISE_LEVEL

    def status(name: str) -> Status | None:
        check = report.check(f"multivariate.{name}")
        return None if check is None else check.status

    r, a, d = m.reconstruction, m.anomaly, m.domain
    rows = [
        MeasureRow(
            "reconstruction_error",
            number(r.reference),
            number(r.value),
            f"band {number(r.lower)}–{number(r.upper)}",
            band_svg(
                r.reference,
                r.value,
                r.standard_error,
                noise_level=width,
                status=status("reconstruction_error") or "ok",
                title=f"reconstruction error: reference {number(r.reference)} ± "
                f"{number(r.standard_error)}, current {number(r.value)}",
            ),
            status("reconstruction_error"),
        ),
        MeasureRow(
            "anomaly_share",
            f"{a.reference:.2%}",
            f"{a.value:.2%}",
            f"binomial p = {number(a.p_value)}",
            None,
            status("anomaly_share"),
        ),
    ]
    if d is not None:
        rows.append(
            MeasureRow(
                "domain_auc",
                "0.5",
                f"{d.auc:.3f}",
                f"± {d.standard_error:.2g} by chance",
                band_svg(
                    0.5,
                    d.auc,
                    d.standard_error,
                    noise_level=width,
                    status=status("domain_auc") or "ok",
                    title=f"domain AUC: 0.5 ± {number(d.standard_error)} by chance, "
                    f"current {d.auc:.3f}",
                ),
                status("domain_auc"),
            )
        )
    return {"result": m, "rows": rows, "width": width}


def confusion_rows(side: SetPerformance) -> list[tuple[str, list[ConfusionCell]]]:
    """The confusion matrix of a set, each cell with its share of the true class's rows."""
    if side.confusion is None:
        return []
    out = []
    for label, row in zip(side.confusion.labels, side.confusion.matrix, strict=True):
        total = sum(row)
        out.append((label, [ConfusionCell(v, v / total if total else 0.0) for v in row]))
    return out


def quality_statuses(report: Report) -> dict[tuple[str, str], Status]:
    """(column, check name) -> status, for the quality checks of each column."""
    return {
        (c.column, c.name): c.status
        for c in report.checks
        if c.column is not None and c.name in QUALITY_CHECKS
    }


def _environment() -> Any:
    from jinja2 import Environment, PackageLoader, select_autoescape  # only when rendering

    env = Environment(
        loader=PackageLoader("vigil.report", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = number
    env.filters["pct"] = lambda v: "—" if v is None else f"{v:.2%}"
    env.filters["count"] = lambda v: f"{v:,}"
    env.filters["breakable"] = breakable
    env.filters["measure"] = lambda name: name.replace("_p_value", " p-value")
    return env


def render_html(report: Report) -> str:
    """The report as an HTML page; every user-supplied string is escaped."""
    columns = drift_columns(report)
    charts = {
        c.column: distribution_svg(c.distribution, title=f"{c.column}: distribution")
        for c in columns
        if c.distribution is not None
    }
    counts = {s: sum(c.status == s for c in report.checks) for s in STATUS_ORDER}
    findings = report.sorted_by_status(tuple(c for c in report.checks if c.status != "ok"))
    perf = report.performance
    flags = quality_statuses(report)
    column_status: dict[str, Status] = {}
    for (column, _), status in flags.items():
        if STATUS_ORDER[status] >= STATUS_ORDER[column_status.get(column, "ok")]:
            column_status[column] = status
    template = _environment().get_template("report.html.j2")
    page: str = template.render(
        report=report,
        sources={
            "reference": source_label(report.reference),
            "current": source_label(report.current),
        },
        columns=columns,
        charts=charts,
        counts=counts,
        findings=findings,
        perf=perf,
        metric_rows=[] if perf is None else metric_rows(report, perf),
        estimated=report.estimated,
        estimate_rows=estimate_rows(report),
        noise_level=_noise_level(report),
        confusion=[]
        if perf is None
        else [
            (label, confusion_rows(side))
            for side, label in ((perf.reference, "reference"), (perf.current, "current"))
            if side is not None and side.confusion is not None
        ],
        coverage=report.check("label_coverage"),
        quality=report.quality,
        flags=flags,
        column_status=column_status,
        drift_status={c.column: report.drift_status(c.column) or "ok" for c in columns},
        dataset=report.check("dataset_drift"),
        mv=multivariate_rows(report),
        detections=report.detections,
        detections_order=None if report.detections is None else detections_order(report),
        summary=summary_line(report),
        reference_colour=REFERENCE_COLOUR,
        current_colour=CURRENT_COLOUR,
        attribution=report.attribution,
    )
    return page


def write_html(report: Report, path: str | Path) -> None:
    """Write the HTML report to `path`."""
    Path(path).write_text(render_html(report), encoding="utf-8")
