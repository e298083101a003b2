"""Multivariate drift on the dashboard: the overview's card, and the drift page's charts of
the reconstruction error within its band, the domain classifier's AUC and the anomaly share,
with the features that separated the latest window from the reference most.

Statuses are the verdict's, read from the points (`multivariate.*` checks); nothing is judged
here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vigil.service.ui.charts import line, ms, series_chart
from vigil.service.ui.render import href, number, worst
from vigil.service.ui.views.cards import Card, CardReader, latest_judged
from vigil.store.base import StoredAlert
from vigil.store.dashboard import SeriesPoint

JUDGED = ("reconstruction_error", "anomaly_share", "domain_auc")
# one metric's series over the page's range (version, segment and step already chosen)
Series = Callable[[str], list[SeriesPoint]]


@dataclass(frozen=True, slots=True)
class MultivariateView:
    """What the drift page shows of multivariate drift."""

    error_chart: dict[str, Any]  # the reconstruction error and its band over time
    share_chart: dict[str, Any]  # domain AUC and anomaly share over time
    top_features: tuple[tuple[str, float], ...]  # of the latest window's domain classifier
    latest: dict[str, SeriesPoint]  # measure -> its newest point in the range


def _levels(report: dict[str, Any], name: str) -> list[tuple[str, float, str]]:
    levels = ((report.get("spec") or {}).get("multivariate") or {}).get(name) or []
    return [
        (f"{severity} at", float(value), severity)
        for severity, value in zip(("warning", "critical"), levels, strict=False)
        if isinstance(value, (int, float))
    ]


def top_features(report: dict[str, Any]) -> tuple[tuple[str, float], ...]:
    """The latest report's separating features: (column, share of the gain)."""
    domain = (report.get("multivariate") or {}).get("domain") or {}
    out = []
    for entry in domain.get("top_features") or []:
        if isinstance(entry, dict) and isinstance(entry.get("share"), (int, float)):
            out.append((str(entry.get("column")), float(entry["share"])))
    return tuple(out)


def _error_line(series: Series) -> dict[str, Any]:
    """The reconstruction error, its band drawn from the stored lower and upper points."""
    values = series("multivariate.reconstruction_error")
    lower = {(p.version, p.start): p.value for p in series("multivariate.reconstruction_lower")}
    upper = {(p.version, p.start): p.value for p in series("multivariate.reconstruction_upper")}
    out = line("reconstruction error", values)
    out["band"] = [
        [ms(p.start), lower.get((p.version, p.start)), upper.get((p.version, p.start))]
        for p in values
    ]
    return out


def read_multivariate(read: Series, report: dict[str, Any]) -> MultivariateView | None:
    """The drift page's multivariate section; None when no window of the range has it."""
    series = {name: read(f"multivariate.{name}") for name in JUDGED}
    if not any(series.values()):
        return None
    latest = {name: p for name, points in series.items() if (p := latest_judged(points))}
    return MultivariateView(
        series_chart([_error_line(read)]),
        series_chart(
            [
                line("domain AUC", series["domain_auc"]),
                line("anomaly share", series["anomaly_share"]),
            ],
            thresholds=_levels(report, "domain_auc"),
            zero=True,
        ),
        top_features(report),
        latest,
    )


def multivariate_card(
    reader: CardReader, report: dict[str, Any], alerts: list[StoredAlert]
) -> Card | None:
    """The domain AUC now, the reconstruction error's status and the separating features;
    None when the model's windows have no multivariate drift."""
    series = {name: reader.series(f"multivariate.{name}") for name in JUDGED}
    if not any(series.values()):
        return None
    statuses = [points[-1].status for points in series.values() if points]
    firing = [
        a.severity for a in alerts if a.status == "firing" and a.metric.startswith("multivariate.")
    ]
    auc = latest_judged(series["domain_auc"])
    error = latest_judged(series["reconstruction_error"])
    notes = []
    if error is not None:
        notes.append(f"reconstruction error {number(error.value)} ({error.status})")
    share = latest_judged(series["anomaly_share"])
    if share is not None and share.value is not None:
        notes.append(f"anomalous rows {share.value:.2%} ({share.status})")
    top = top_features(report)
    if top:
        notes.append("separated by " + ", ".join(f"{c} ({s:.0%})" for c, s in top[:3]))
    figure = (
        f"AUC {number(auc.value)}"
        if auc is not None
        else f"error {number(None if error is None else error.value)}"
    )
    chart_line = (
        line("domain AUC", series["domain_auc"])
        if series["domain_auc"]
        else _error_line(reader.series)
    )
    return Card(
        "multivariate",
        "Multivariate drift",
        worst([*statuses, *firing]),
        figure,
        tuple(notes),
        series_chart([chart_line], thresholds=_levels(report, "domain_auc") if auc else ()),
        (
            href("/models", reader.model.name, "drift", **reader.timerange.query())
            + "#multivariate",
            "multivariate drift",
        ),
    )
