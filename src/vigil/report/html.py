"""The HTML report: one self-contained page (inline CSS and SVG, no network) to open offline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vigil.report.charts import CURRENT_COLOUR, REFERENCE_COLOUR, distribution_svg
from vigil.report.model import STATUS_ORDER, Report
from vigil.report.terminal import drift_columns, number, summary_line


def _environment() -> Any:
    from jinja2 import Environment, PackageLoader, select_autoescape  # only when rendering

    env = Environment(
        loader=PackageLoader("vigil.report", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )
    env.filters["num"] = number
    env.filters["pct"] = lambda v: "—" if v is None else f"{v:.2%}"
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
    metric_rows = []
    if perf is not None:
        ref = perf.reference.metrics if perf.reference else {}
        cur = perf.current.metrics if perf.current else {}
        for name in dict.fromkeys([*ref, *cur]):
            a, b = ref.get(name), cur.get(name)
            metric_rows.append((name, a, b, None if a is None or b is None else b - a))
    metric_names = sorted({k for c in columns for k in c.metrics})
    template = _environment().get_template("report.html.j2")
    page: str = template.render(
        report=report,
        columns=columns,
        charts=charts,
        counts=counts,
        findings=findings,
        metric_rows=metric_rows,
        perf=perf,
        metric_names=metric_names,
        quality=report.quality,
        drift_status={c.column: report.drift_status(c.column) or "ok" for c in columns},
        dataset=report.check("dataset_drift"),
        summary=summary_line(report),
        reference_colour=REFERENCE_COLOUR,
        current_colour=CURRENT_COLOUR,
    )
    return page


def write_html(report: Report, path: str | Path) -> None:
    """Write the HTML report to `path`."""
    Path(path).write_text(render_html(report), encoding="utf-8")
