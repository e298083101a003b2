"""Feature attribution drift on the dashboard: the overview's card and the drift page's charts.

The card shows the importance ranking's NDCG in the latest window with its levels, the top
features now against the reference's, and the features whose importance moved; the drift page
draws NDCG over time with the spec's warning and critical lines, and each feature's mean
|attribution| over time (the features most important in the range, one line each). Shown only
for a model whose windows carry attributions. Statuses come from the points, never from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vigil.service.state import AppState
from vigil.service.ui.charts import line, series_chart
from vigil.service.ui.render import href, number, worst
from vigil.service.ui.selection import Selection
from vigil.service.ui.views.cards import Card, CardReader, latest_judged
from vigil.spec import AttributionOptions
from vigil.store.base import ModelInfo, StoredAlert

TOP_FEATURES = 8  # lines on the importance chart: the features most important in the range


def ndcg_levels(model: ModelInfo, version: str | None) -> tuple[float, float]:
    """The spec's NDCG warning and critical levels (the defaults when it sets none)."""
    spec = model.specs.get(version or model.current_version, {})
    levels = (spec.get("attribution") or {}).get("ndcg")
    default = AttributionOptions().ndcg
    if isinstance(levels, list) and len(levels) == 2:
        return float(levels[0]), float(levels[1])
    return default.warning, default.critical


def _thresholds(model: ModelInfo, version: str | None) -> list[tuple[str, float, str]]:
    warning, critical = ndcg_levels(model, version)
    return [
        ("warning below", warning, "warning"),
        ("critical below", critical, "critical"),
    ]


def attribution_card(
    reader: CardReader, report: dict[str, Any], alerts: list[StoredAlert]
) -> Card | None:
    """NDCG now with its levels, the ranking, and the features that moved; None when the
    range has no attribution points."""
    points = reader.series("attribution.ndcg")
    if not points:
        return None
    now = latest_judged(points)
    block = report.get("attribution") or {}
    features = block.get("features") or {}
    notes = []
    if features:
        by_now = sorted(features, key=lambda f: features[f]["current_rank"])
        notes.append("top now: " + ", ".join(by_now[:3]))
        notes.append("top in the reference: " + ", ".join(list(features)[:3]))
    checks = [
        c for c in report.get("checks", []) if str(c.get("name", "")).startswith("attribution.")
    ]
    moved = [
        c["column"]
        for c in checks
        if c.get("column") and c.get("status") in ("warning", "critical")
    ]
    if moved:
        notes.append("importance moved: " + ", ".join(moved[:5]) + (" …" if len(moved) > 5 else ""))
    if block:
        band = block.get("band") or {}
        notes.append(
            f"unchanged data of {number(band.get('rows'))} rows: {number(band.get('mean'))} "
            f"± {number(band.get('sd'))}"
        )
    statuses = [now.status if now is not None else "pending"]
    statuses += [str(c.get("status")) for c in checks]
    statuses += [
        a.severity for a in alerts if a.status == "firing" and a.metric.startswith("attribution.")
    ]
    k = block.get("k")
    return Card(
        "attribution",
        "Feature attribution",
        worst(statuses),
        f"NDCG{'@' + str(k) if k else ''} {number(None if now is None else now.value)}",
        tuple(notes),
        series_chart([line("NDCG", points)], thresholds=_thresholds(reader.model, reader.version)),
        (
            href("/models", reader.model.name, "drift", **reader.timerange.query())
            + "#attribution",
            "importance over time",
        ),
    )


@dataclass(frozen=True, slots=True)
class AttributionView:
    """The drift page's attribution charts (None when the range has no attribution points)."""

    ndcg: dict[str, Any]
    importance: dict[str, Any]
    features: tuple[str, ...]  # on the importance chart, most important first
    latest: float | None
    latest_status: str  # the worst latest status of the ranking (NDCG) and the features


def read_attribution(
    state: AppState, model: ModelInfo, selection: Selection
) -> AttributionView | None:
    """NDCG, every feature's importance and its judged change over the range: three grouped
    reads."""
    timerange = selection.timerange
    common: dict[str, Any] = {
        "segment": selection.segment,
        "version": selection.version,
        "since": timerange.since,
        "until": timerange.until,
        "step_seconds": timerange.step_seconds,
    }
    ndcg = state.store.series(model, metric="attribution.ndcg", **common)
    if not ndcg:
        return None
    by_feature = state.store.metric_by_column(model, metric="attribution.mean_abs", **common)

    def weight(column: str) -> float:
        values = [p.value for p in by_feature[column] if p.value is not None]
        return sum(values) / len(values) if values else 0.0

    top = sorted(by_feature, key=lambda c: (-weight(c), c))[:TOP_FEATURES]
    now = latest_judged(ndcg)
    # the section's status is the overview card's: the ranking's and every feature's change
    changes = state.store.metric_by_column(model, metric="attribution.mean_abs_change", **common)
    latest = [latest_judged(points) for points in changes.values()]
    statuses = [now.status if now is not None else "pending"]
    statuses += [p.status for p in latest if p is not None]
    return AttributionView(
        series_chart([line("NDCG", ndcg)], thresholds=_thresholds(model, selection.version)),
        series_chart([line(f, by_feature[f]) for f in top], zero=True),
        tuple(top),
        None if now is None else now.value,
        worst(statuses),
    )
