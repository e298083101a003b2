"""The one place a status is decided: ok, pending, warning or critical.

The measuring modules (`vigil.measure`) return numbers, p-values and standard errors; this
module reads them against the spec's thresholds and gives one `Check` per judgement. The
report, the metric points, /metrics and the alert rules all read these checks, never decide
again. The rules, with their reasons, are in docs/statistics.md ("The verdict").

- A drift check fires when the method's statistic reaches its level *and* the column's test
  stays significant after the correction across columns (p-value methods: the adjusted
  p-value is below the level).
- A quality check fires when its share reaches the level *and* the share is beyond sampling
  noise (its one-sided test, corrected across the report's quality tests, below `alpha`).
- A performance check fires when the worsening is practically large (relative to the value
  or, for metrics bounded by 1, to the error) *and* at least so many standard errors of the
  difference. Below the minimum of labelled rows it is `pending`.
- An attribution check fires when NDCG falls below its level *and* so many standard errors
  below what unchanged data of the window's size gives; a feature's when its mean
  |attribution| moves by its relative level *and* Welch's t-test, corrected across the
  features, is below `alpha`.
- A fairness check (per protected attribute) fires when the gap between groups reaches its
  level (a difference above, a ratio below) *and* the pair of groups attaining it differs
  beyond sampling noise (p-value adjusted for the pairs, below `fairness.alpha`). The
  label-based measures are `pending` below `performance.min_labelled` labelled rows, and any
  measure with fewer than two groups of `fairness.min_group_size` is `pending`. An attribute
  with one group in the set (a window of one of its own segments) has no check.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, replace
from statistics import NormalDist
from typing import Literal

from vigil.measure.attribution import AttributionResult
from vigil.measure.drift import ColumnDrift, DriftResult
from vigil.measure.estimation import EstimationResult
from vigil.measure.fairness import FairnessMeasure, FairnessResult
from vigil.measure.multivariate import MultivariateResult
from vigil.measure.performance import CHECKED_METRICS, MetricChange, PerformanceResult
from vigil.measure.quality import ColumnQuality, QualityResult
from vigil.spec import (
    DRIFT_METHODS,
    LABELLED_FAIRNESS,
    RATIO_FAIRNESS,
    EstimationOptions,
    PerformanceOptions,
    Spec,
    Threshold,
)

Status = Literal["ok", "pending", "warning", "critical"]
# `pending` (not enough labelled rows yet) ranks above ok and below warning: a report whose
# worst check is pending found nothing wrong, but has not judged everything yet.
STATUS_ORDER: dict[str, int] = {"ok": 0, "pending": 1, "warning": 2, "critical": 3}
STATUSES: tuple[Status, ...] = ("ok", "pending", "warning", "critical")


@dataclass(frozen=True, slots=True)
class Check:
    """One judgement: a measured value, the level that decided, and the evidence."""

    name: str  # e.g. "drift", "dataset_drift", "missing_share", "performance.roc_auc"
    column: str | None  # None for dataset-level checks
    metric: str  # the metric point it judged, e.g. "drift.ks", "performance.roc_auc"
    status: Status
    value: float | None
    threshold: float | None  # the level that decided the status (warning, or critical)
    message: str  # one sentence a person can act on
    p_value: float | None = None  # adjusted p-value of the sampling-noise test, where one applies
    standard_error: float | None = None  # performance: of current − reference


def level(value: float, threshold: Threshold) -> Status:
    """The status a value reaches against a warning and a critical level.

    >>> level(0.15, Threshold(0.1, 0.2)), level(0.01, Threshold(0.05, 0.001, "below"))
    ('warning', 'warning')
    """
    if threshold.direction == "above":
        if value >= threshold.critical:
            return "critical"
        return "warning" if value >= threshold.warning else "ok"
    if value < threshold.critical:
        return "critical"
    return "warning" if value < threshold.warning else "ok"


def decided_by(status: Status, threshold: Threshold) -> float:
    """The level a status was decided at (the warning level for ok)."""
    return threshold.critical if status == "critical" else threshold.warning


def worst(statuses: Iterable[Status]) -> Status:
    """The most severe of the statuses; ok when there are none."""
    found: Status = "ok"
    for status in statuses:
        if STATUS_ORDER[status] > STATUS_ORDER[found]:
            found = status
    return found


# A critical finding needs stronger evidence than a warning: an adjusted p-value below
# alpha / CRITICAL_EVIDENCE (0.001 at the default alpha 0.05, the default critical level of the
# p-value methods).
CRITICAL_EVIDENCE = 50.0


def evidence(p_adjusted: float | None, alpha: float | None) -> Status:
    """The highest status the evidence allows: critical below alpha/50, warning below alpha.

    No test to ask (`p_adjusted` None) or no alpha to ask it at: the levels alone decide.

    >>> evidence(0.0005, 0.05), evidence(0.01, 0.05), evidence(0.2, 0.05), evidence(None, 0.05)
    ('critical', 'warning', 'ok', 'critical')
    """
    if alpha is None or p_adjusted is None or p_adjusted < alpha / CRITICAL_EVIDENCE:
        return "critical"
    return "warning" if p_adjusted < alpha else "ok"


def at_most(status: Status, limit: Status) -> Status:
    """The less severe of the two."""
    return status if STATUS_ORDER[status] <= STATUS_ORDER[limit] else limit


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def _p(p: float) -> str:
    return "< 1e-16" if p < 1e-16 else f"= {p:.3g}"


def _bound(x: float | None, open_end: str) -> str:
    return open_end if x is None else _fmt(x)


def judge(
    spec: Spec,
    drift: DriftResult,
    quality: QualityResult,
    performance: PerformanceResult | None,
    *,
    attribution: AttributionResult | None = None,
    fairness: FairnessResult | None = None,
    estimated: EstimationResult | None = None,
    multivariate: MultivariateResult | None = None,
) -> tuple[Check, ...]:
    """Every check of a report, in a stable order: drift, schema, quality, performance,
    attribution, fairness, estimated performance, multivariate drift."""
    checks = [*_drift_checks(spec, drift, attribution), *_schema_checks(spec, quality)]
    realized: list[Check] = []
    for q in quality.columns.values():
        checks += _quality_checks(spec, q, quality.current_rows)
    checks += _dataset_quality_checks(spec, quality)
    if performance is not None:
        realized = _performance_checks(spec, performance)
        checks += realized
    if attribution is not None:
        checks += _attribution_checks(spec, attribution)
    if fairness is not None:
        checks += _fairness_checks(spec, fairness)
    if estimated is not None:
        checks += _estimated_checks(spec, estimated, realized)
    if multivariate is not None:
        checks += _multivariate_checks(spec, multivariate)
    return tuple(checks)


# --- drift --------------------------------------------------------------------------------------


def drift_status(column: ColumnDrift, alpha: float | None) -> Status:
    """A measured column's drift status (a column that was not measured has none: ok)."""
    if column.error is not None:
        return "ok"
    method = DRIFT_METHODS[column.method]
    if method.decides_by == "p_value":
        p = column.p_value_adjusted
        if p is None:
            return "ok"
        return level(p, Threshold(column.threshold, column.critical_threshold, "below"))
    if column.statistic is None:
        return "ok"
    if alpha is not None and column.p_value_adjusted is None:
        return "ok"  # the column's test could not be computed: no evidence either way
    size = level(column.statistic, Threshold(column.threshold, column.critical_threshold))
    return at_most(size, evidence(column.p_value_adjusted, alpha))


def _drift_checks(
    spec: Spec, drift: DriftResult, attribution: AttributionResult | None = None
) -> list[Check]:
    out = []
    features, drifted = 0, 0
    weights = (
        {f: a.reference_share for f, a in attribution.features.items()}
        if spec.attribution.importance_weighted and attribution is not None
        else None
    )
    weight_in_all, weight_drifted = 0.0, 0.0
    for c in drift.columns.values():
        if c.error is not None:  # shown as "not evaluated" in the report; nothing judged
            continue
        status = drift_status(c, drift.alpha)
        by_p = DRIFT_METHODS[c.method].decides_by == "p_value"
        value = c.p_value_adjusted if by_p else c.statistic
        threshold = c.critical_threshold if status == "critical" else c.threshold
        if status != "ok":
            message = (
                f"{c.column} drifted: {c.method} = {_fmt(c.statistic or 0.0)} "
                f"(warning at {_fmt(c.threshold)}, critical at {_fmt(c.critical_threshold)})"
            )
            if c.p_value_adjusted is not None:
                message += f", {c.test} p {_p(c.p_value_adjusted)} after correction"
        else:
            message = f"{c.column}: no drift ({c.method} = {_fmt(c.statistic or 0.0)})"
        out.append(
            Check(
                "drift",
                c.column,
                f"drift.{c.method}",
                status,
                value,
                threshold,
                message + ".",
                p_value=c.p_value_adjusted,
            )
        )
        if c.role == "feature":
            features += 1
            drifted += status != "ok"
            if weights is not None:
                weight_in_all += weights.get(c.column, 0.0)
                weight_drifted += weights.get(c.column, 0.0) if status != "ok" else 0.0
    share = drifted / features if features else 0.0
    limits = spec.drift.dataset_share
    if weights is not None:
        out.append(
            _weighted_dataset_drift(drifted, features, weight_drifted, weight_in_all, limits)
        )
        return out
    status = level(share, limits) if features else "ok"
    out.append(
        Check(
            "dataset_drift",
            None,
            "drift.share_drifted",
            status,
            share,
            decided_by(status, limits),
            f"{drifted} of {features} features drifted ({share:.0%}; a warning from "
            f"{limits.warning:.0%}, critical from {limits.critical:.0%}).",
        )
    )
    return out


def _weighted_dataset_drift(
    drifted: int, features: int, weight_drifted: float, weight_in_all: float, limits: Threshold
) -> Check:
    """The dataset drift check with each feature counted by its reference importance."""
    share = weight_drifted / weight_in_all if weight_in_all > 0 else 0.0
    status = level(share, limits) if weight_in_all > 0 else "ok"
    return Check(
        "dataset_drift",
        None,
        "drift.share_drifted",
        status,
        share,
        decided_by(status, limits),
        f"{drifted} of {features} features drifted, holding {share:.0%} of the reference's "
        f"attribution importance (importance-weighted; a warning from {limits.warning:.0%}, "
        f"critical from {limits.critical:.0%}).",
    )


# --- schema and quality ---------------------------------------------------------------------------

# A column missing from the current set: a feature or the model's output cannot be judged at
# all; an id, time or segment column missing is a pipeline change worth a look. A missing
# target is normal (labels come later): label coverage says so instead.
_MISSING_COLUMN: dict[str, Status] = {
    "feature": "critical",
    "prediction": "critical",
    "score": "critical",
    "id": "warning",
    "timestamp": "warning",
    "segment": "warning",
}


def _schema_checks(spec: Spec, quality: QualityResult) -> list[Check]:
    s = quality.schema
    out = []
    for name in s.missing_columns:
        role = spec.column(name).role if name in spec.names else "feature"
        status = _MISSING_COLUMN.get(role)
        if status is None:
            continue
        out.append(
            Check(
                "schema.missing_column",
                name,
                "schema.missing_column",
                status,
                1.0,
                None,
                f"{name} ({role}) is in the spec but missing from the current set.",
            )
        )
    out += [
        Check(
            "schema.new_column",
            name,
            "schema.new_column",
            "warning",
            1.0,
            None,
            f"{name} is new: the reference and the spec do not have it.",
        )
        for name in s.new_columns
    ]
    out += [
        Check(
            "schema.type_change",
            t.column,
            "schema.type_change",
            "critical",
            1.0,
            None,
            f"{t.column} changed type from {t.reference_type} to {t.current_type}.",
        )
        for t in s.type_changes
    ]
    return out


def _share_check(
    spec: Spec,
    q: ColumnQuality,
    *,
    name: str,
    metric: str,
    test: str,
    value: float,
    judged: float,
    limits: Threshold,
    offset: float,
    message: str,
) -> Check:
    """A share that fires at its level only when its noise test is significant too."""
    p = q.p_values_adjusted.get(test)
    size = level(judged, limits)
    status = at_most(size, evidence(p, spec.quality.alpha))
    if status != size and p is not None:
        message += f" Its {size} level is reached, but p = {p:.3g} after correction."
    return Check(
        name, q.column, metric, status, value, offset + decided_by(status, limits), message, p
    )


def _quality_checks(spec: Spec, q: ColumnQuality, rows: int) -> list[Check]:
    if q.error is not None:
        return []
    o = spec.quality
    out = []
    if q.role != "target":  # labels arrive late: label coverage judges the target's gaps
        increase = q.missing_share - q.reference_missing_share
        out.append(
            _share_check(
                spec,
                q,
                name="missing_share",
                metric="quality.missing_share",
                test="missing_increase",
                value=q.missing_share,
                judged=increase,
                limits=o.missing_increase,
                offset=q.reference_missing_share,
                message=f"{q.column}: {q.missing_share:.2%} missing (reference "
                f"{q.reference_missing_share:.2%}).",
            )
        )
    if q.type_mismatches:
        share = q.type_mismatches / rows if rows else 0.0
        out.append(
            _share_check(
                spec,
                q,
                name="type_mismatch",
                metric="quality.type_mismatch_share",
                test="type_mismatch",
                value=share,
                judged=share,
                limits=o.type_mismatch,
                offset=0.0,
                message=f"{q.column}: {q.type_mismatches} values are not of its kind "
                f"({q.kind}); they were counted as missing.",
            )
        )
    # times move on: a window is later than its reference by nature, not out of range
    if q.out_of_range_share is not None and q.role != "timestamp" and q.kind != "datetime":
        out.append(
            _share_check(
                spec,
                q,
                name="out_of_range_share",
                metric="quality.out_of_range_share",
                test="out_of_range",
                value=q.out_of_range_share,
                judged=q.out_of_range_share,
                limits=o.out_of_range,
                offset=0.0,
                message=f"{q.column}: {q.out_of_range_share:.2%} of values outside "
                f"[{_bound(q.range_low, '−∞')}, {_bound(q.range_high, '+∞')}] (from the "
                f"{q.range_source}).",
            )
        )
    if q.role in ("id", "timestamp"):  # new ids and new times are the point, not a finding
        return out
    if q.unseen_share is not None:
        listed = ", ".join(q.unseen_categories[:5])
        one = q.n_unseen_categories == 1
        what = (
            ("token" if one else "tokens")
            if q.kind == "text"
            else ("category" if one else "categories")
        )
        out.append(
            _share_check(
                spec,
                q,
                name="unseen_share",
                metric="quality.unseen_share",
                test="unseen_share",
                value=q.unseen_share,
                judged=q.unseen_share,
                limits=o.unseen_share,
                offset=0.0,
                message=f"{q.column}: {q.n_unseen_categories} unseen {what} in "
                f"{q.unseen_share:.2%} of values" + (f" ({listed})" if listed else "") + ".",
            )
        )
    # times move with the calendar: later values are not outliers either
    if (
        q.outlier_share is not None
        and q.reference_outlier_share is not None
        and q.kind != "datetime"
    ):
        out.append(
            _share_check(
                spec,
                q,
                name="outlier_share",
                metric="quality.outlier_share",
                test="outlier_increase",
                value=q.outlier_share,  # type: ignore[arg-type]
                judged=q.outlier_share - q.reference_outlier_share,  # type: ignore[operator]
                limits=o.outlier_increase,
                offset=q.reference_outlier_share,
                message=f"{q.column}: {q.outlier_share:.2%} outliers by the reference's IQR "
                f"fences (reference {q.reference_outlier_share:.2%}).",
            )
        )
    if q.is_constant and not q.reference_is_constant:
        p = q.p_values_adjusted.get("constant")
        significant = evidence(p, spec.quality.alpha) != "ok"
        out.append(
            Check(
                "constant",
                q.column,
                "quality.is_constant",
                "warning" if significant else "ok",
                1.0,
                None,
                f"{q.column} holds a single value in the current set but varied in the "
                "reference" + ("." if significant else f"; by chance with p = {p:.3g}."),
                p,
            )
        )
    return out


def _dataset_quality_checks(spec: Spec, quality: QualityResult) -> list[Check]:
    limits = spec.quality.duplicate_rows
    size = level(quality.duplicate_row_increase, limits)
    p = quality.duplicate_rows_p_value_adjusted
    status = at_most(size, evidence(p, spec.quality.alpha))
    noise = status != size
    out = [
        Check(
            "duplicate_rows",
            None,
            "quality.duplicate_row_share",
            status,
            quality.duplicate_row_share,
            quality.reference_duplicate_row_share + decided_by(status, limits),
            f"{quality.duplicate_rows} duplicate rows ({quality.duplicate_row_share:.2%} of "
            f"the current set; the reference at the same size "
            f"{quality.reference_duplicate_row_share:.2%})"
            + (f"; its {size} level is reached, but p = {p:.3g}." if noise and p else "."),
            p,
        )
    ]
    if quality.duplicate_ids is not None:
        out.append(
            Check(
                "duplicate_ids",
                None,
                "quality.duplicate_ids",
                "critical" if quality.duplicate_ids else "ok",
                float(quality.duplicate_ids),
                0.0,
                f"{quality.duplicate_ids} rows repeat an id seen earlier in the set.",
            )
        )
    return out


# --- performance ----------------------------------------------------------------------------------


def change_status(
    change: MetricChange, spec: Spec, options: PerformanceOptions | EstimationOptions | None = None
) -> Status:
    """A metric's status: practically large *and* beyond its standard errors, at the levels
    of `options` (the spec's `performance` by default; `estimation` for an estimate).

    Without a standard error (a rate whose denominator is 0, say) the practical size alone
    decides.
    """
    o = spec.performance if options is None else options
    size = level(change.relative, Threshold(o.warning_drop, o.critical_drop))
    z = change.z
    if z is None or size == "ok":
        return size
    noise = level(z, o.standard_errors)
    return size if STATUS_ORDER[noise] >= STATUS_ORDER[size] else noise


def _performance_checks(spec: Spec, perf: PerformanceResult) -> list[Check]:
    if perf.reference is None or not perf.reference.metrics:
        return []
    o = spec.performance
    labelled = perf.current.rows if perf.current is not None else 0
    waiting = labelled < o.min_labelled
    coverage = perf.label_coverage
    out = [
        Check(
            "label_coverage",
            None,
            "performance.label_coverage",
            "pending" if waiting else "ok",
            coverage,
            float(o.min_labelled),
            f"{labelled:,} of {perf.current_rows:,} rows labelled ({coverage:.1%})"
            + (
                f"; performance is judged from {o.min_labelled:,} labelled rows."
                if waiting
                else "."
            ),
        )
    ]
    current = perf.current.metrics if perf.current is not None else {}
    for name in CHECKED_METRICS[perf.task]:
        ref = perf.reference.metrics.get(name)
        if ref is None:
            continue
        change = perf.changes.get(name)
        reason = perf.current.errors.get(name) if perf.current is not None else None
        if not waiting and change is None and reason:  # computable in the reference only
            out.append(
                Check(
                    f"performance.{name}",
                    None,
                    f"performance.{name}",
                    "warning",
                    None,
                    None,
                    f"{name}: {_fmt(ref)} in the reference, not computable now: {reason}",
                )
            )
            continue
        if waiting or change is None:
            cur = current.get(name)
            out.append(
                Check(
                    f"performance.{name}",
                    None,
                    f"performance.{name}",
                    "pending",
                    cur,
                    None,
                    f"{name}: {_fmt(ref)} in the reference; waiting for {o.min_labelled:,} "
                    f"labelled rows (have {labelled:,}).",
                )
            )
            continue
        status = change_status(change, spec)
        out.append(
            Check(
                f"performance.{name}",
                None,
                f"performance.{name}",
                status,
                change.current,
                None,
                _change_message(change),
                standard_error=change.standard_error,
            )
        )
    return out


def _change_message(change: MetricChange) -> str:
    """E.g. "accuracy: 0.9436 in the reference, 0.9158 now (2.9% lower; 49% more errors;
    13.7 standard errors of ±0.002)"."""
    if change.worsening == 0:
        return f"{change.metric} unchanged at {_fmt(change.current)}."
    better = change.worsening < 0
    text = (
        f"{change.metric}: {_fmt(change.reference)} in the reference, {_fmt(change.current)} now ("
    )
    if change.reference:
        moved = abs(change.current - change.reference) / abs(change.reference)
        text += f"{moved:.1%} {'higher' if change.current > change.reference else 'lower'}"
    if change.bounded and change.reference < 1:
        errors = (change.current - change.reference) / (change.reference - 1.0)
        text += f"; {abs(errors):.0%} {'more' if errors > 0 else 'fewer'} errors"
    text += "; better" if better else "; worse"
    z = change.z
    if change.standard_error is not None and z is not None and math.isfinite(z):
        text += f"; {abs(z):.1f} standard errors of ±{change.standard_error:.2g}"
    return text + ")."


# --- attribution --------------------------------------------------------------------------------


def _attribution_checks(spec: Spec, result: AttributionResult) -> list[Check]:
    options = spec.attribution
    errors = options.standard_errors
    fall = result.band_mean - result.ndcg
    # unchanged data of this size always ranking alike (sd 0): any fall is beyond noise
    z = fall / result.band_sd if result.band_sd > 0 else (math.inf if fall > 0 else 0.0)
    status = at_most(level(result.ndcg, options.ndcg), level(z, errors))
    ranking = "changed" if status != "ok" else "held"
    out = [
        Check(
            "attribution.ndcg",
            None,
            "attribution.ndcg",
            status,
            result.ndcg,
            decided_by(status, options.ndcg),
            f"the feature-importance ranking {ranking}: NDCG@{result.k} = {_fmt(result.ndcg)} "
            f"(a warning below {_fmt(options.ndcg.warning)}, critical below "
            f"{_fmt(options.ndcg.critical)}; unchanged data of {result.band_rows} rows gives "
            f"{_fmt(result.band_mean)} ± {_fmt(result.band_sd)}).",
            standard_error=result.band_sd,
        )
    ]
    for f in result.features.values():
        size = level(abs(f.relative_change), options.relative_change)
        f_status = at_most(size, evidence(f.p_value_adjusted, options.alpha))
        moved = "rose" if f.change > 0 else "fell"
        message = (
            f"{f.feature}'s mean |attribution| {moved} from {_fmt(f.reference_mean_abs)} to "
            f"{_fmt(f.current_mean_abs)} ({f.relative_change:+.0%}; rank "
            f"{f.reference_rank} → {f.current_rank}; t-test p {_p(f.p_value_adjusted)} after "
            f"correction)"
        )
        if f_status == "ok":
            message = f"{f.feature}: importance steady — " + message
        out.append(
            Check(
                "attribution.mean_abs_change",
                f.feature,
                "attribution.mean_abs_change",
                f_status,
                f.relative_change,
                decided_by(f_status, options.relative_change),
                message + ".",
                p_value=f.p_value_adjusted,
                standard_error=f.standard_error,
            )
        )
    return out


# --- fairness -----------------------------------------------------------------------------------


def fairness_status(spec: Spec, measure: FairnessMeasure) -> Status:
    """A measured gap's status: at its level (difference above, ratio below) *and* beyond
    sampling noise (the attaining pair's adjusted p-value; critical below alpha/50)."""
    if measure.value is None:
        return "pending"
    o = spec.fairness
    threshold = o.ratio if measure.name in RATIO_FAIRNESS else o.difference
    return at_most(level(measure.value, threshold), evidence(measure.p_value, o.alpha))


def _fairness_checks(spec: Spec, fairness: FairnessResult) -> list[Check]:
    o = spec.fairness
    waiting = fairness.labelled_rows < spec.performance.min_labelled
    out = []
    for attribute in fairness.attributes:
        if len(attribute.groups) < 2:
            continue  # one group (a segment's own window): nothing to compare, ever
        for name in o.measures:
            m = attribute.measures[name]
            threshold = o.ratio if name in RATIO_FAIRNESS else o.difference
            labelled = name in LABELLED_FAIRNESS
            if labelled and waiting:
                status: Status = "pending"
                message = (
                    f"{name} of {attribute.column!r}: waiting for "
                    f"{spec.performance.min_labelled:,} labelled rows (have "
                    f"{fairness.labelled_rows:,})."
                )
            elif m.value is None:
                status = "pending"
                message = f"{name} of {attribute.column!r} not judged: {m.reason}."
            else:
                status = fairness_status(spec, m)
                message = _fairness_message(m, m.value, attribute.column, threshold, status)
            out.append(
                Check(
                    f"fairness.{name}",
                    attribute.column,
                    f"fairness.{name}",
                    status,
                    m.value,
                    decided_by(status, threshold),
                    message,
                    p_value=m.p_value,
                    standard_error=m.standard_error,
                )
            )
    return out


def _fairness_message(
    m: FairnessMeasure, value: float, column: str, threshold: Threshold, status: Status
) -> str:
    """E.g. "disparate_impact of 'sex': 0.62 between 'f' and 'm' (2 groups compared; ±0.05;
    p = 0.001 for equal rates); warning below 0.8."."""
    text = (
        f"{m.name} of {column!r}: {_fmt(value)} between {m.low_group!r} and "
        f"{m.high_group!r} ({m.groups} groups compared"
    )
    if m.standard_error is not None:
        text += f"; ±{m.standard_error:.2g}"
    if m.p_value is not None:
        text += f"; p {_p(m.p_value)} for equal rates"
    side = "below" if threshold.direction == "below" else "at or above"
    reached = level(value, threshold)
    if status == "ok" and reached != "ok":
        at = _fmt(decided_by(reached, threshold))
        return text + f"); past the {reached} level {at} but within sampling noise."
    if status == "ok":
        return text + f"); ok, a warning {side} {_fmt(threshold.warning)}."
    return text + f"); {status}: {side} {_fmt(decided_by(status, threshold))}."


# --- performance estimated before labels ----------------------------------------------------


def _estimated_checks(spec: Spec, result: EstimationResult, realized: list[Check]) -> list[Check]:
    """One `estimated.<metric>` check per estimate with a reference value.

    Once the realized metric is judged (enough labelled rows), it is the authority: the
    estimate's status is at most the realized check's, and its message gives both values.
    """
    judged = {c.name: c for c in realized if c.status != "pending"}
    out = []
    for name, found in result.estimates.items():
        change = found.change
        if change is None:
            continue
        status = change_status(change, spec, spec.estimation)
        text = f"estimated ({result.method}) " + _change_message(change)
        authority = judged.get(f"performance.{name}")
        if found.realized is not None:
            text += f" Realized on the labelled rows: {_fmt(found.realized)}"
            if authority is not None:
                status = at_most(status, authority.status)
                text += f" (performance.{name} decides: {authority.status})"
            text += "."
        out.append(
            Check(
                f"estimated.{name}",
                None,
                f"estimated.{name}",
                status,
                found.value,
                None,
                text,
                standard_error=change.standard_error,
            )
        )
    return out


# --- multivariate ---------------------------------------------------------------------------------


def _z(p_value: float) -> float:
    """The one-sided p-value as standard normal deviates (3 for 0.00135), capped at 40."""
    if not p_value > 1e-300:
        return 40.0
    return min(-NormalDist().inv_cdf(min(p_value, 1.0 - 1e-16)), 40.0)


def family_errors(errors: Threshold, size: int) -> Threshold:
    """Standard-error levels asked of each of `size` tests judged as one family: the one-sided
    tail of each level divided among them (Bonferroni), so the family's false alarms stay at
    what one test's level allows.

    >>> t = family_errors(Threshold(3.0, 4.0), 3)
    >>> round(t.warning, 2), round(t.critical, 2), family_errors(Threshold(3.0, 4.0), 1)
    (3.32, 4.25, Threshold(warning=3.0, critical=4.0, direction='above'))
    """
    if size <= 1:
        return errors
    normal = NormalDist()

    def each(k: float) -> float:
        return -normal.inv_cdf((1.0 - normal.cdf(k)) / size)

    return Threshold(each(errors.warning), each(errors.critical), errors.direction)


def _multivariate_checks(spec: Spec, result: MultivariateResult) -> list[Check]:
    """Reconstruction error, anomaly share and domain AUC: each practically large *and*
    beyond its noise, the window's two or three measures judged as one family
    (docs/statistics.md, "Multivariate drift")."""
    o = replace(
        spec.multivariate,
        standard_errors=family_errors(
            spec.multivariate.standard_errors, 2 if result.domain is None else 3
        ),
    )
    r = result.reconstruction
    # the error a status is reached at: the relative increase's level and the band's width
    # both passed, so one absolute level per status
    limits = Threshold(
        max(
            r.reference * (1 + o.reconstruction_increase.warning),
            r.level(o.standard_errors.warning),
        ),
        max(
            r.reference * (1 + o.reconstruction_increase.critical),
            r.level(o.standard_errors.critical),
        ),
    )
    status = level(r.value, limits)
    out = [
        Check(
            "multivariate.reconstruction_error",
            None,
            "multivariate.reconstruction_error",
            status,
            r.value,
            decided_by(status, limits),
            f"mean PCA reconstruction error {_fmt(r.value)} against {_fmt(r.reference)} in the "
            f"reference ({r.relative_increase:+.1%}; band {_fmt(r.lower)}–{_fmt(r.upper)}, "
            f"{r.standard_errors:+.1f} standard errors; {r.components} components hold "
            f"{r.explained_variance:.0%} of the variance of {len(result.columns)} columns).",
            standard_error=r.standard_error,
        )
    ]
    a = result.anomaly
    status = at_most(level(a.value, o.anomaly_share), level(_z(a.p_value), o.standard_errors))
    out.append(
        Check(
            "multivariate.anomaly_share",
            None,
            "multivariate.anomaly_share",
            status,
            a.value,
            decided_by(status, o.anomaly_share),
            f"{a.rows:,} of {result.current_rows:,} rows ({a.value:.2%}) lie farther from the "
            f"reference's principal subspace than its {spec.multivariate.anomaly_quantile:.1%} "
            f"quantile ({a.reference:.2%} of the reference does; p {_p(a.p_value)}).",
            p_value=a.p_value,
        )
    )
    d = result.domain
    if d is not None:
        status = at_most(level(d.auc, o.domain_auc), level(_z(d.p_value), o.standard_errors))
        top = ", ".join(f"{name} ({share:.0%})" for name, share in d.top_features[:3])
        out.append(
            Check(
                "multivariate.domain_auc",
                None,
                "multivariate.domain_auc",
                status,
                d.auc,
                decided_by(status, o.domain_auc),
                f"a classifier tells current rows from reference rows with ROC AUC "
                f"{d.auc:.3f} (0.5: indistinguishable; ±{d.standard_error:.3f} by chance, "
                f"p {_p(d.p_value)})" + (f"; separated most by {top}." if top else "."),
                p_value=d.p_value,
                standard_error=d.standard_error,
            )
        )
    return out
