"""Turn what evaluate found into checks: each a value, a threshold and a status.

The thresholds come from the spec; nothing here measures. A CI gate (`vigil check
--fail-on critical`) and, later, the alert rules read this one list.
"""

from __future__ import annotations

from vigil.drift import DriftResult
from vigil.performance import CHECKED_METRICS, HIGHER_IS_BETTER, PerformanceResult
from vigil.quality import ColumnQuality, QualityResult
from vigil.report.model import Check, Status
from vigil.spec import DRIFT_METHODS, Spec, Threshold


def level(value: float, threshold: Threshold) -> tuple[Status, float]:
    """The status of a value against warning/critical levels, and the level that decided it."""
    if value >= threshold.critical:
        return "critical", threshold.critical
    if value >= threshold.warning:
        return "warning", threshold.warning
    return "ok", threshold.warning


def build_checks(
    spec: Spec, drift: DriftResult, quality: QualityResult, performance: PerformanceResult | None
) -> tuple[Check, ...]:
    """Every check of a report, in a stable order: drift, schema, quality, performance."""
    checks = [*_drift_checks(drift), *_schema_checks(quality)]
    for q in quality.columns.values():
        checks += _quality_checks(spec, q, quality.current_rows)
    checks += _dataset_quality_checks(spec, quality)
    if performance is not None:
        checks += _performance_checks(spec, performance)
    return tuple(checks)


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def _drift_checks(drift: DriftResult) -> list[Check]:
    out = []
    for c in drift.columns.values():
        if c.error is not None:
            out.append(
                Check(
                    "drift",
                    c.column,
                    "warning",
                    None,
                    None,
                    f"{c.column}: drift not evaluated — {c.error}.",
                )
            )
            continue
        by_p_value = DRIFT_METHODS[c.method].decides_by == "p_value"
        value = c.p_value_adjusted if by_p_value else c.statistic
        threshold = c.critical_threshold if c.status == "critical" else c.threshold
        if c.drifted:
            message = (
                f"{c.column} drifted: {c.method} = {_fmt(c.statistic or 0.0)} "
                f"(threshold {_fmt(c.threshold)}, critical {_fmt(c.critical_threshold)})"
            )
            if c.p_value_adjusted is not None:
                message += f", {c.test} p = {c.p_value_adjusted:.3g} after correction"
        else:
            message = f"{c.column}: no drift ({c.method} = {_fmt(c.statistic or 0.0)})"
        out.append(Check("drift", c.column, c.status, value, threshold, message + "."))
    dataset: Status = "ok"
    if drift.dataset_drifted:
        dataset = "critical"
    elif drift.n_drifted:
        dataset = "warning"
    out.append(
        Check(
            "dataset_drift",
            None,
            dataset,
            drift.share_drifted,
            drift.dataset_threshold,
            f"{drift.n_drifted} of {drift.n_features} features drifted "
            f"({drift.share_drifted:.0%}; the dataset drifts at "
            f"{drift.dataset_threshold:.0%}).",
        )
    )
    return out


def _schema_checks(quality: QualityResult) -> list[Check]:
    s = quality.schema
    out = [
        Check(
            "schema.missing_column",
            name,
            "critical",
            None,
            None,
            f"{name} is in the spec but missing from the current set.",
        )
        for name in s.missing_columns
    ]
    out += [
        Check(
            "schema.new_column",
            name,
            "warning",
            None,
            None,
            f"{name} is new: the reference and the spec do not have it.",
        )
        for name in s.new_columns
    ]
    out += [
        Check(
            "schema.type_change",
            t.column,
            "critical",
            None,
            None,
            f"{t.column} changed type from {t.reference_type} to {t.current_type}.",
        )
        for t in s.type_changes
    ]
    return out


def _quality_checks(spec: Spec, q: ColumnQuality, rows: int) -> list[Check]:
    if q.error is not None:
        return []
    o = spec.quality
    out = []
    increase = q.missing_share - q.reference_missing_share
    status, limit = level(increase, o.missing_increase)
    out.append(
        Check(
            "missing_share",
            q.column,
            status,
            q.missing_share,
            q.reference_missing_share + limit,
            f"{q.column}: {q.missing_share:.2%} missing (reference "
            f"{q.reference_missing_share:.2%}).",
        )
    )
    if q.type_mismatches:
        share = q.type_mismatches / rows if rows else 0.0
        status, limit = level(share, o.type_mismatch)
        out.append(
            Check(
                "type_mismatch",
                q.column,
                status,
                share,
                limit,
                f"{q.column}: {q.type_mismatches} values are not of its kind "
                f"({q.kind}); they were counted as missing.",
            )
        )
    if q.out_of_range_share is not None:
        status, limit = level(q.out_of_range_share, o.out_of_range)
        out.append(
            Check(
                "out_of_range_share",
                q.column,
                status,
                q.out_of_range_share,
                limit,
                f"{q.column}: {q.out_of_range_share:.2%} of values outside "
                f"[{q.range_low}, {q.range_high}] (from the {q.range_source}).",
            )
        )
    if q.role in ("id", "timestamp"):  # new ids and new times are the point, not a finding
        return out
    if q.unseen_share is not None:
        status, limit = level(q.unseen_share, o.unseen_share)
        listed = ", ".join(q.unseen_categories[:5])
        what = "tokens" if q.kind == "text" else "categories"
        out.append(
            Check(
                "unseen_share",
                q.column,
                status,
                q.unseen_share,
                limit,
                f"{q.column}: {q.n_unseen_categories} unseen {what} in "
                f"{q.unseen_share:.2%} of values" + (f" ({listed})" if listed else "") + ".",
            )
        )
    if q.outlier_share is not None and q.reference_outlier_share is not None:
        status, limit = level(q.outlier_share - q.reference_outlier_share, o.outlier_increase)
        out.append(
            Check(
                "outlier_share",
                q.column,
                status,
                q.outlier_share,
                q.reference_outlier_share + limit,
                f"{q.column}: {q.outlier_share:.2%} outliers by the reference's IQR "
                f"fences (reference {q.reference_outlier_share:.2%}).",
            )
        )
    if q.is_constant and not q.reference_is_constant:
        out.append(
            Check(
                "constant",
                q.column,
                "warning",
                None,
                None,
                f"{q.column} holds a single value in the current set but varied in the reference.",
            )
        )
    return out


def _dataset_quality_checks(spec: Spec, quality: QualityResult) -> list[Check]:
    status, limit = level(quality.duplicate_row_share, spec.quality.duplicate_rows)
    out = [
        Check(
            "duplicate_rows",
            None,
            status,
            quality.duplicate_row_share,
            limit,
            f"{quality.duplicate_rows} duplicate rows "
            f"({quality.duplicate_row_share:.2%} of the current set).",
        )
    ]
    if quality.duplicate_ids is not None:
        out.append(
            Check(
                "duplicate_ids",
                None,
                "critical" if quality.duplicate_ids else "ok",
                float(quality.duplicate_ids),
                0.0,
                f"{quality.duplicate_ids} rows repeat an id seen earlier in the set.",
            )
        )
    return out


def _performance_checks(spec: Spec, perf: PerformanceResult) -> list[Check]:
    if perf.reference is None or perf.current is None:
        return []
    o = spec.performance
    out = []
    for name in CHECKED_METRICS[perf.task]:
        ref = perf.reference.metrics.get(name)
        cur = perf.current.metrics.get(name)
        if ref is None or cur is None or ref == 0:
            continue
        worse = (ref - cur) if HIGHER_IS_BETTER[name] else (cur - ref)
        drop = worse / abs(ref)
        status, limit = level(drop, Threshold(o.warning_drop, o.critical_drop))
        out.append(
            Check(
                f"performance.{name}",
                None,
                status,
                drop,
                limit,
                f"{name}: {_fmt(ref)} in the reference, {_fmt(cur)} now "
                f"({-drop:+.1%} {'better' if drop < 0 else 'worse'}"
                f" relative)."
                if drop
                else f"{name} unchanged at {_fmt(cur)}.",
            )
        )
    return out
