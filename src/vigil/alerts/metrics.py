"""The metric names a rule may watch: every point a report or a window's figures produce.

docs/api.md lists them; a rule naming another is refused when the config is read, with the
names that come closest, so a typo never becomes a rule that silently never fires.
"""

from __future__ import annotations

import difflib

from vigil.detect import DETECTORS
from vigil.measure.performance import HIGHER_IS_BETTER
from vigil.spec.methods import DRIFT_METHODS, KIND_TESTS
from vigil.spec.model import ESTIMATED_METRICS
from vigil.spec.types import FAIRNESS_MEASURES

QUALITY_METRICS = (
    "missing_share",
    "infinite_share",
    "out_of_range_share",
    "unseen_share",
    "outlier_share",
    "type_mismatch_share",
    "is_constant",
)
DATASET_QUALITY = ("duplicate_row_share", "duplicate_ids")
SCHEMA_CHANGES = ("new_column", "missing_column", "type_change")
OPS_FIGURES = (
    "count",
    "rate_per_s",
    "latency_p50_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "error_rate",
    "availability",
    "volume_ratio",
    "missing_share",
    "missing_change",
    "labelled",
    "labelled_share",
)
PERFORMANCE_EXTRA = ("labelled_rows", "label_coverage")
# multivariate drift (vigil.measure.multivariate, docs/api.md): whole-window measures, and the
# bands drawn beside the reconstruction error
MULTIVARIATE_METRICS = (
    "reconstruction_error",
    "reconstruction_reference",
    "reconstruction_lower",
    "reconstruction_upper",
    "anomaly_share",
    "domain_auc",
)
# figures of the scheduler's clock (vigil.alerts.clock): whole-model, computed when nothing
# arrives too, so no window computation makes them
CLOCK_METRICS = (
    "freshness.prediction_age_s",
    "freshness.label_age_s",
    "volume.last_window_rows",
    "volume.last_window_ratio",
)
# an SLA's judgement of a window (vigil.alerts.sla): the "column" is the SLA's name, or
# "<sla>:<metric>" for one objective
SLA_METRICS = ("sla.met", "sla.objective")
# feature attribution drift (vigil.measure.attribution): per feature, and the ranking's NDCG
ATTRIBUTION_COLUMN_METRICS = ("attribution.mean_abs_change", "attribution.mean_abs")
ATTRIBUTION_DATASET_METRICS = ("attribution.ndcg",)
# a change detector's detection on a per-record stream (vigil.monitor.streams): the "column"
# is the stream (`error`, the score's or a feature's name), the value the stream position
DETECT_METRICS = (*(f"detect.{name}" for name in DETECTORS), "detect.fresh_start")


def column_metrics() -> frozenset[str]:
    """Metrics measured per column (a rule on them names columns, or `*`); for `sla.met` the
    columns are SLA names, for `sla.objective` `<sla>:<metric>`, for `fairness.*` the
    protected attributes, for `detect.*` streams."""
    return frozenset(
        [f"drift.{name}" for name in DRIFT_METHODS]
        + [
            f"drift.{name}_p_value"  # as measure/drift.py records them
            for name, method in DRIFT_METHODS.items()
            if method.decides_by == "p_value" or name in KIND_TESTS.values()
        ]
        + ["drift.p_value"]
        + [f"quality.{name}" for name in QUALITY_METRICS]
        + [f"schema.{name}" for name in SCHEMA_CHANGES]
        + [f"fairness.{name}" for name in FAIRNESS_MEASURES]
        + ["multivariate.feature_gain"]  # the domain classifier's gain share of a feature
        + list(SLA_METRICS)
        + list(ATTRIBUTION_COLUMN_METRICS)
        + list(DETECT_METRICS)
    )


def dataset_metrics() -> frozenset[str]:
    """Metrics of the whole window (a rule on them names no column)."""
    return frozenset(
        ["drift.share_drifted"]
        + [f"quality.{name}" for name in DATASET_QUALITY]
        + [f"performance.{name}" for name in (*HIGHER_IS_BETTER, *PERFORMANCE_EXTRA)]
        + [f"estimated.{name}" for name in ESTIMATED_METRICS]
        + [f"ops.{name}" for name in OPS_FIGURES]
        + [f"multivariate.{name}" for name in MULTIVARIATE_METRICS]
        + list(CLOCK_METRICS)
        + list(ATTRIBUTION_DATASET_METRICS)
    )


def metric_problem(name: str) -> str | None:
    """Why `name` is not a metric a rule can watch, or None when it is."""
    known = column_metrics() | dataset_metrics()
    if name in known:
        return None
    close = difflib.get_close_matches(name, sorted(known), n=3, cutoff=0.6)
    hint = f"did you mean {', '.join(close)}?" if close else "docs/api.md lists the metrics."
    return f"{name!r} is not a metric vigil measures; {hint}"
