"""Prometheus exposition of the latest computed window of every model version.

A `Collector` that reads the store at scrape time (no values kept in the process). The families
and their labels (docs/api.md):

- `vigil_drift{model, version, column, measure}` — drift measures of each column;
- `vigil_quality{model, version, column, check}` — data-quality shares;
- `vigil_performance{model, version, metric}` — performance on the labels joined so far;
- `vigil_estimated_performance{model, version, metric}` — performance estimated before the
  labels (CBPE, DLE), and `vigil_estimated_performance_standard_error{model, version, metric}`
  the noise band its status was judged with;
- `vigil_ops{model, version, figure}` — count, rate, latency percentiles, error rate, volume;
- `vigil_attribution{model, version, column, measure}` — feature attribution drift: `ndcg`
  (column ""), and per feature `mean_abs` and `mean_abs_change`;
- `vigil_fairness{model, version, attribute, measure}` — fairness measures between the groups
  of each protected attribute, and `vigil_fairness_standard_error{...}` their noise band;
- `vigil_multivariate{model, version, column, measure}` — multivariate drift of the window
  (column empty), and the domain classifier's gain share of its top features (column set);
- `vigil_status{model, version, column, metric}` — 0 ok, 1 warning, 2 critical, for every value
  a check judged on a column of the spec (or on the whole window);
- `vigil_detection{model, version, stream, detector}` — a change detector fired on a stream
  in the latest window: the stream position of its latest detection there;
- `vigil_new_columns{model, version}` — columns in the latest window that the spec does not
  name (each is a `schema.new_column` finding in the window's report and the metrics API);
- `vigil_window_start_seconds{model, version}` — which window these values belong to;
- `vigil_failed_windows{model}` — windows whose last computation failed (0 when none), so
  that a window that cannot be computed alerts instead of leaving its values stale;
- `vigil_alerts_firing{model, severity}` — firing alerts of every registered model, warning
  and critical (0 when none);
- `vigil_deliveries{status}` — notices in the outbox: pending, sent, failed.

Label values come from specs and a fixed list of metric names, never from record contents:
points on columns the spec does not name (features clients sent unregistered, kept as extra
columns) are left out and only counted, and so are segments, so the number of series is
bounded by the specs.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from vigil.store.base import MetricPoint, Store

SEVERITIES = ("warning", "critical")
# `pending` (too few labels to judge yet) is below ok, so `vigil_status > 0` alerts on findings only
STATUS_VALUE = {"pending": -1.0, "ok": 0.0, "warning": 1.0, "critical": 2.0}


class StoreCollector(Collector):
    """Reads the latest window's metric points of every model when Prometheus scrapes."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """One gauge family per metric group, filled from the store."""
        drift = GaugeMetricFamily(
            "vigil_drift",
            "Drift measure of a column in the latest window.",
            labels=["model", "version", "column", "measure"],
        )
        quality = GaugeMetricFamily(
            "vigil_quality",
            "Data-quality share of a column in the latest window.",
            labels=["model", "version", "column", "check"],
        )
        performance = GaugeMetricFamily(
            "vigil_performance",
            "Model performance on the labels joined so far.",
            labels=["model", "version", "metric"],
        )
        ops = GaugeMetricFamily(
            "vigil_ops",
            "Operational figure of the latest window.",
            labels=["model", "version", "figure"],
        )
        attribution = GaugeMetricFamily(
            "vigil_attribution",
            "Feature attribution drift of the latest window: the importance ranking's NDCG "
            "(column empty), each feature's mean |attribution| and its relative change.",
            labels=["model", "version", "column", "measure"],
        )
        multivariate = GaugeMetricFamily(
            "vigil_multivariate",
            "Multivariate drift of the latest window (column empty), or a feature's share of "
            "the domain classifier's gain.",
            labels=["model", "version", "column", "measure"],
        )
        status = GaugeMetricFamily(
            "vigil_status",
            "Check status: -1 pending (not enough labels yet), 0 ok, 1 warning, 2 critical.",
            labels=["model", "version", "column", "metric"],
        )
        band = GaugeMetricFamily(
            "vigil_performance_standard_error",
            "Standard error of a performance metric's change against the reference: the noise "
            "band its status was judged with.",
            labels=["model", "version", "metric"],
        )
        fairness = GaugeMetricFamily(
            "vigil_fairness",
            "Fairness measure between the groups of a protected attribute in the latest window.",
            labels=["model", "version", "attribute", "measure"],
        )
        fairness_band = GaugeMetricFamily(
            "vigil_fairness_standard_error",
            "Standard error of a fairness measure at the groups' sizes: the noise band its "
            "status was judged with.",
            labels=["model", "version", "attribute", "measure"],
        )
        estimated = GaugeMetricFamily(
            "vigil_estimated_performance",
            "Model performance estimated from the scores, before the labels arrive.",
            labels=["model", "version", "metric"],
        )
        estimated_band = GaugeMetricFamily(
            "vigil_estimated_performance_standard_error",
            "Standard error of an estimated metric's change against the reference's realized "
            "value: the noise band its status was judged with.",
            labels=["model", "version", "metric"],
        )
        start = GaugeMetricFamily(
            "vigil_window_start_seconds",
            "Start (Unix time) of the window the values are from.",
            labels=["model", "version"],
        )
        failed = GaugeMetricFamily(
            "vigil_failed_windows",
            "Windows whose last computation failed; GET /v1/models/{model}/windows?failed=true "
            "says why.",
            labels=["model"],
        )
        new_columns = GaugeMetricFamily(
            "vigil_new_columns",
            "Columns of the latest window the spec does not name (schema.new_column findings; "
            "the metrics API names them).",
            labels=["model", "version"],
        )
        detections = GaugeMetricFamily(
            "vigil_detection",
            "A change detector fired on a per-record stream in the latest window: the stream "
            "position (values fed) of its latest detection there.",
            labels=["model", "version", "stream", "detector"],
        )
        models = self.store.list_models()
        for model in models:
            failed.add_metric([model.name], float(self.store.count_failed_windows(model)))
            unregistered = {c.name for c in model.columns if c.role == "extra"}
            seen: set[str] = set()
            new: dict[str, int] = {}
            for p in self.store.latest_points(model):
                if p.metric == "schema.new_column":
                    new[p.version] = new.get(p.version, 0) + 1
                    continue
                if p.column in unregistered:
                    continue
                if p.metric.startswith("detect.") and p.value is not None:
                    detections.add_metric(
                        [model.name, p.version, p.column, p.metric.partition(".")[2]], p.value
                    )
                    continue
                _add(p, model.name, drift, quality, performance, ops)
                if p.metric.startswith("attribution.") and p.value is not None:
                    attribution.add_metric(
                        [model.name, p.version, p.column, p.metric.partition(".")[2]], p.value
                    )
                if p.value is not None and p.metric.startswith("multivariate."):
                    multivariate.add_metric(
                        [model.name, p.version, p.column, p.metric.partition(".")[2]], p.value
                    )
                if p.status in STATUS_VALUE:
                    status.add_metric(
                        [model.name, p.version, p.column, p.metric], STATUS_VALUE[p.status]
                    )
                if p.band is not None and p.metric.startswith("performance."):
                    band.add_metric([model.name, p.version, p.metric.partition(".")[2]], p.band)
                if p.metric.startswith("fairness.") and p.value is not None:
                    labels = [model.name, p.version, p.column, p.metric.partition(".")[2]]
                    fairness.add_metric(labels, p.value)
                    if p.band is not None:
                        fairness_band.add_metric(labels, p.band)
                if p.metric.startswith("estimated.") and p.value is not None:
                    label = [model.name, p.version, p.metric.partition(".")[2]]
                    estimated.add_metric(label, p.value)
                    if p.band is not None:
                        estimated_band.add_metric(label, p.band)
                if p.version not in seen:
                    seen.add(p.version)
                    epoch = (p.start - datetime(1970, 1, 1)).total_seconds()
                    start.add_metric([model.name, p.version], epoch)
                    new.setdefault(p.version, 0)
            for version, count in new.items():
                new_columns.add_metric([model.name, version], float(count))
        yield from (drift, quality, performance, ops, attribution, status, band, start, failed)
        yield new_columns
        yield from (fairness, fairness_band, estimated, estimated_band, detections, multivariate)
        yield from _alert_families(self.store, [m.name for m in models])


def _alert_families(store: Store, models: list[str]) -> Iterator[GaugeMetricFamily]:
    """Firing alerts by registered model and severity, and the outbox by status: labels from
    the catalogue and fixed words only, so their series are bounded."""
    firing = GaugeMetricFamily(
        "vigil_alerts_firing",
        "Firing alerts by model and severity; GET /v1/alerts?status=firing lists them.",
        labels=["model", "severity"],
    )
    counts = store.firing_counts()
    for name in models:
        for severity in SEVERITIES:
            firing.add_metric([name, severity], float(counts.get((name, severity), 0)))
    deliveries = GaugeMetricFamily(
        "vigil_deliveries",
        "Notices in the outbox by status; GET /v1/deliveries?status=failed says why they failed.",
        labels=["status"],
    )
    for status, n in store.delivery_counts().items():
        deliveries.add_metric([status], float(n))
    yield from (firing, deliveries)


def _add(
    p: MetricPoint,
    model: str,
    drift: GaugeMetricFamily,
    quality: GaugeMetricFamily,
    performance: GaugeMetricFamily,
    ops: GaugeMetricFamily,
) -> None:
    if p.value is None:
        return
    family, _, name = p.metric.partition(".")
    if family == "drift":
        drift.add_metric([model, p.version, p.column, name], p.value)
    elif family == "quality":
        quality.add_metric([model, p.version, p.column, name], p.value)
    elif family == "performance":
        performance.add_metric([model, p.version, name], p.value)
    elif family == "ops":
        ops.add_metric([model, p.version, name], p.value)


def build_collector(store: Store) -> StoreCollector:
    """The collector to register on a service's own registry."""
    return StoreCollector(store)
