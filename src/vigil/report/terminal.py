"""The terminal report: a summary line and rich tables, worst findings first."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from vigil.measure.drift import ColumnDrift
from vigil.measure.fairness import FairnessResult
from vigil.report.model import STATUS_ORDER, Report

STYLE = {"ok": "green", "pending": "cyan", "warning": "yellow", "critical": "bold red"}


def number(value: float | None) -> str:
    """Four significant digits; p-values below 1e-16 as such; '—' for missing."""
    if value is None or value != value:
        return "—"
    if value != 0 and abs(value) < 1e-16:
        return "<1e-16"
    return f"{value:.4g}"


def drift_columns(report: Report) -> list[ColumnDrift]:
    """Critical, warning, ok, then not evaluated; within a status by statistic / threshold."""

    def order(c: ColumnDrift) -> tuple[bool, int, float]:
        ratio = (c.statistic or 0.0) / c.threshold if c.threshold else 0.0
        return (c.error is not None, -STATUS_ORDER[report.drift_status(c.column) or "ok"], -ratio)

    return sorted(report.drift.columns.values(), key=order)


def summary_line(report: Report) -> str:
    """How many features drifted, and the dataset-drift status."""
    drifted, evaluated = len(report.drifted_features), report.evaluated_features
    dataset = report.check("dataset_drift")
    share = dataset.value if dataset is not None and dataset.value is not None else 0.0
    status = dataset.status if dataset is not None else "ok"
    return f"{drifted} of {evaluated} features drifted ({share:.0%}; dataset drift {status})"


def _status(status: str) -> str:
    return f"[{STYLE[status]}]{status}[/]"


def _fairness(report: Report, f: FairnessResult, console: Console) -> None:
    """Each protected attribute's measures (judged or not), and its groups' rates."""
    if f.reason is not None:
        console.print(f"Fairness not measured: {escape(f.reason)}", highlight=False)
        return
    for a in f.attributes:
        positive = escape(str(f.positive_class))
        t = Table(
            title=f"Fairness by {escape(a.column)} (positive class {positive})",
            title_justify="left",
        )
        for header in (
            "measure",
            "value",
            "± noise (1 SE)",
            "p (equal rates)",
            "lowest vs highest",
            "status",
        ):
            t.add_column(
                header,
                justify="right"
                if header in ("value", "± noise (1 SE)", "p (equal rates)")
                else "left",
            )
        for name, m in a.measures.items():
            judged = report.check(f"fairness.{name}", a.column)
            pair = (
                f"{m.low_group} vs {m.high_group}" if m.low_group is not None else (m.reason or "—")
            )
            t.add_row(
                name,
                number(m.value),
                number(m.standard_error),
                number(m.p_value),
                escape(pair),
                _status(judged.status) if judged is not None else "[dim]not judged[/]",
            )
        groups = ", ".join(
            f"{g.group} {number(g.selection_rate)} of {g.rows:,}"
            + ("" if g.rows >= f.min_group_size else " (too small to compare)")
            for g in a.groups
        )
        t.caption = escape(f"selection rates: {groups}")
        console.print(t)


def render_terminal(report: Report, console: Console) -> None:
    """Print the report: summary, drift, quality findings, performance, failed checks."""
    console.print(
        f"[bold]vigil[/] {_status(report.status)} — reference {report.reference.rows:,} rows, "
        f"current {report.current.rows:,} rows; {summary_line(report)}",
        highlight=False,
    )
    for note in report.notes:
        console.print(f"[dim]note: {escape(note)}[/]", highlight=False)

    table = Table(title="Drift", title_justify="left", show_lines=False)
    for header in (
        "column",
        "role",
        "kind",
        "method",
        "statistic",
        "threshold",
        "p (adj.)",
        "status",
    ):
        table.add_column(
            header, justify="right" if header in ("statistic", "threshold", "p (adj.)") else "left"
        )
    for c in drift_columns(report):
        if c.error is not None:
            table.add_row(
                escape(c.column),
                c.role,
                c.kind,
                c.method,
                "—",
                "—",
                "—",
                f"[dim]not evaluated: {escape(c.error)}[/]",
            )
            continue
        table.add_row(
            escape(c.column),
            c.role,
            c.kind,
            c.method,
            number(c.statistic),
            number(c.threshold),
            number(c.p_value_adjusted),
            _status(report.drift_status(c.column) or "ok"),
        )
    console.print(table)

    findings = [
        c
        for c in report.checks
        if c.status != "ok"
        and c.name not in ("drift", "dataset_drift")
        and not c.name.startswith(
            ("performance.", "attribution.", "fairness.", "estimated.", "multivariate.")
        )
    ]
    if findings:
        q = Table(title="Data quality", title_justify="left")
        for header in ("check", "column", "value", "status", "finding"):
            q.add_column(header)
        for f in sorted(findings, key=lambda c: -STATUS_ORDER[c.status]):
            q.add_row(
                f.name,
                escape(f.column or "—"),
                number(f.value),
                _status(f.status),
                escape(f.message),
            )
        console.print(q)

    p = report.performance
    if p is not None:
        t = Table(title=f"Performance ({p.task}, target {escape(p.target)})", title_justify="left")
        for header in ("metric", "reference", "current", "change", "± noise (1 SE)", "status"):
            t.add_column(header, justify="left" if header in ("metric", "status") else "right")
        ref = p.reference.metrics if p.reference else {}
        cur = p.current.metrics if p.current else {}
        for name in list(dict.fromkeys([*ref, *cur])):
            a, b = ref.get(name), cur.get(name)
            change = number(b - a) if a is not None and b is not None else "—"
            judged = report.check(f"performance.{name}")
            se = judged.standard_error if judged is not None else None
            t.add_row(
                name,
                number(a),
                number(b),
                change,
                number(se),
                _status(judged.status) if judged is not None else "[dim]not judged[/]",
            )
        t.caption = (
            f"labelled rows: reference {p.reference.rows if p.reference else 0:,}, "
            f"current {p.current.rows if p.current else 0:,} of {p.current_rows:,} "
            f"({p.label_coverage:.0%})"
        )
        console.print(t)

    if report.attribution is not None:
        render_attribution(report, console)
    if report.fairness is not None:
        _fairness(report, report.fairness, console)
    e = report.estimated
    if e is not None and (e.estimates or e.errors):
        calibrated = "scores recalibrated on the reference" if e.calibrated else "scores as given"
        t = Table(
            title=f"Performance estimated before labels ({e.method.upper()}, {calibrated})",
            title_justify="left",
        )
        for header in ("metric", "reference", "estimate", "± noise (1 SE)", "realized", "status"):
            t.add_column(header, justify="left" if header in ("metric", "status") else "right")
        for name, found in e.estimates.items():
            judged = report.check(f"estimated.{name}")
            t.add_row(
                name,
                number(found.change.reference if found.change is not None else None),
                number(found.value),
                number(found.standard_error),
                number(found.realized),
                _status(judged.status) if judged is not None else "[dim]not judged[/]",
            )
        for name, why in e.errors.items():
            t.add_row(name, "—", "—", "—", "—", f"[dim]{escape(why)}[/]")
        t.caption = f"estimated from {e.rows:,} rows' scores, without their labels"
        console.print(t)
    if report.multivariate is not None:
        _multivariate_table(report, console)
    if report.detections is not None:
        _detections_table(report, console)

    failed = [c for c in report.checks if c.status != "ok"]
    console.print(
        f"{len(failed)} of {len(report.checks)} checks not ok "
        f"({sum(c.status == 'critical' for c in failed)} critical, "
        f"{sum(c.status == 'warning' for c in failed)} warning, "
        f"{sum(c.status == 'pending' for c in failed)} pending)",
        highlight=False,
    )


def render_attribution(report: Report, console: Console) -> None:
    """The attribution table: each feature's importance in both sets, most important first."""
    a = report.attribution
    assert a is not None
    ndcg = report.check("attribution.ndcg")
    t = Table(
        title=f"Feature attribution (NDCG@{a.k} {number(a.ndcg)}, "
        f"{_status(ndcg.status if ndcg is not None else 'ok')})",
        title_justify="left",
    )
    for header in ("feature", "rank", "reference", "current", "change", "± noise (1 SE)", "status"):
        t.add_column(header, justify="left" if header in ("feature", "status") else "right")
    for f in a.features.values():
        judged = report.check("attribution.mean_abs_change", f.feature)
        t.add_row(
            escape(f.feature),
            f"{f.reference_rank} → {f.current_rank}",
            number(f.reference_mean_abs),
            number(f.current_mean_abs),
            f"{f.relative_change:+.0%}",
            number(f.standard_error),
            _status(judged.status) if judged is not None else "[dim]not judged[/]",
        )
    t.caption = (
        f"mean |attribution| over rows with attributions: reference {a.reference_rows:,}, "
        f"current {a.current_rows:,}; unchanged data of {a.band_rows:,} rows gives NDCG "
        f"{number(a.band_mean)} ± {number(a.band_sd)}"
    )
    console.print(t)


def _multivariate_table(report: Report, console: Console) -> None:
    m = report.multivariate
    assert m is not None
    t = Table(title=f"Multivariate drift ({len(m.columns)} columns)", title_justify="left")
    for header in ("measure", "reference", "current", "noise", "status"):
        t.add_column(header, justify="left" if header in ("measure", "status") else "right")
    r, a, d = m.reconstruction, m.anomaly, m.domain
    rows = [
        (
            "reconstruction_error",
            number(r.reference),
            number(r.value),
            f"band {number(r.lower)}–{number(r.upper)}",
        ),
        ("anomaly_share", f"{a.reference:.2%}", f"{a.value:.2%}", f"p {number(a.p_value)}"),
    ]
    if d is not None:
        rows.append(("domain_auc", "0.5", f"{d.auc:.3f}", f"± {d.standard_error:.3f}"))
    for name, ref, cur, noise in rows:
        judged = report.check(f"multivariate.{name}")
        t.add_row(name, ref, cur, noise, _status(judged.status) if judged else "[dim]—[/]")
    captions = []
    if d is not None and d.top_features:
        captions.append(
            "separated most by "
            + ", ".join(f"{escape(c)} ({share:.0%})" for c, share in d.top_features)
        )
    captions += [escape(n) for n in m.notes]
    t.caption = "; ".join(captions) or None
    console.print(t)


def detections_order(report: Report) -> str:
    """How the detectors read the current set: in time order, or in row order and why."""
    d = report.detections
    assert d is not None
    if d.timestamp_column is None:
        return "in row order: the spec has no timestamp column in the current set"
    late = f"; {d.unordered:,} records without a timestamp read last" if d.unordered else ""
    return f"in time order of {d.timestamp_column!r}{late}"


def _detections_table(report: Report, console: Console) -> None:
    d = report.detections
    assert d is not None
    t = Table(title="Change detectors over the current set", title_justify="left")
    for header in ("stream", "detector", "records", "detections", "first at", "change from"):
        t.add_column(header, justify="left" if header in ("stream", "detector") else "right")
    for s in d.streams:
        first = s.detections[0] if s.detections else None
        t.add_row(
            escape(s.stream),
            escape(s.detector),
            f"{s.records:,}",
            f"{len(s.detections):,}",
            "—" if first is None else escape(_where(first.position, first.row, first.timestamp)),
            "—" if first is None or first.change_start is None else f"{first.change_start:,}",
        )
    for stream, why in d.skipped:
        t.add_row(escape(stream), "—", "—", "—", "—", f"[dim]{escape(why)}[/]")
    t.caption = escape(
        f"values read {detections_order(report)}; a detection is information, not a check"
    )
    console.print(t)


def _where(position: int, row: int, timestamp: str | None) -> str:
    return f"#{position:,} (row {row:,}{', ' + timestamp if timestamp else ''})"
