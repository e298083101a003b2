"""CBPE: a classifier's performance on the current set estimated from its scores alone.

Fitted once per reference (through the reference's memo): whether the scores need
calibrating (NannyML's rule: cross-validated expected calibration error lower after isotonic
calibration than before), the isotonic calibrators (one per class, one-vs-rest, for
multiclass; the calibrated rows renormalised to sum to 1), and the reference's realized
metrics with their standard errors. Per current set: the calibrated probabilities give the
expected confusion matrix and every metric of it, the expected ROC AUC, and each estimate's
standard error at the set's size (`vigil.stats.expected_performance`). docs/statistics.md,
"Performance before labels", has the method, the rule and when it is blind.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from vigil.measure.columns import category_codes, numeric_array
from vigil.measure.estimation import (
    Estimate,
    EstimatedConfusion,
    EstimationResult,
    Once,
)
from vigil.measure.performance import MetricChange, class_labels, reference_classes
from vigil.spec import Spec
from vigil.stats import roc_auc_score, roc_auc_score_ovr
from vigil.stats.expected_performance import (
    Averaging,
    confusion_score_standard_errors,
    confusion_scores,
    expected_confusion_matrix,
    expected_roc_auc,
    expected_roc_auc_standard_error,
)
from vigil.stats.isotonic import Isotonic, fit_isotonic

# The metrics CBPE estimates, by task: vigil's performance names (multiclass: macro averages).
CBPE_METRICS: dict[str, tuple[str, ...]] = {
    "binary": ("roc_auc", "accuracy", "precision", "recall", "f1", "specificity"),
    "multiclass": (
        "roc_auc",
        "accuracy",
        "precision_macro",
        "recall_macro",
        "f1_macro",
        "specificity_macro",
    ),
}
# NannyML's calibration check: 10 stratified splits holding out 10%, ECE on 10 equal-count bins.
SPLITS = 10
TEST_SHARE = 0.1
ECE_BINS = 10
SEED = 42
# labelled reference rows the calibration rule decides on (a seeded sample beyond it; the
# calibration itself, if the rule asks for it, is fitted on every row)
DECISION_ROWS = 200_000
# the estimate's own sampling noise: seeded resamples of the reference's scores at this size
RESAMPLE_ROWS = 2000
RESAMPLES = 100


@dataclass(frozen=True, slots=True)
class _Rows:
    """A set's rows that carry every score, encoded: predicted class codes, the scores as an
    (n, K) array in class order (binary: P(positive) alone, K = 1), true codes when labelled."""

    predicted: NDArray[np.int64]
    scores: NDArray[np.float64]
    truth: NDArray[np.int64] | None


@dataclass(frozen=True, slots=True)
class CbpeFit:
    """What CBPE keeps of the reference: the calibration and the realized baseline."""

    labels: tuple[str, ...]
    calibrators: tuple[Isotonic | None, ...]  # per score column; None: left as it is
    reference: dict[str, float]  # the reference's realized metrics
    reference_errors: dict[str, float]  # their standard errors at the reference's size
    problem: str | None = None  # why nothing can be estimated against this reference
    # the estimate's own sampling noise: its standard deviation over reference resamples of
    # `RESAMPLE_ROWS`, times √RESAMPLE_ROWS (so SE at n rows = scale / √n)
    estimate_scales: dict[str, float] = field(default_factory=dict)

    @property
    def calibrated(self) -> bool:
        """Whether any score column is recalibrated."""
        return any(c is not None for c in self.calibrators)


def _rows(spec: Spec, table: pa.Table, labels: tuple[str, ...]) -> _Rows | None:
    """The rows with every score (and a readable prediction, when the spec has one)."""
    scores = [c for c in spec.with_role("score") if c.name in table.column_names]
    if spec.task == "binary":
        if not scores:
            return None
        columns = [scores[0].name]
    else:
        order = {c.score_class: c.name for c in scores}
        if not labels or not all(label in order for label in labels):
            return None
        columns = [order[label] for label in labels]
    values = np.column_stack([numeric_array(table.column(name), "numeric")[0] for name in columns])
    keep = np.isfinite(values).all(axis=1)  # a NaN or infinite score: the row is left out
    prediction = spec.single("prediction")
    if prediction is not None and prediction.name in table.column_names:
        predicted = category_codes(table.column(prediction.name), labels)
        keep &= predicted >= 0
    elif spec.task == "binary":
        predicted = (values[:, 0] >= 0.5).astype(np.int64)
    else:
        predicted = np.argmax(np.nan_to_num(values, nan=-np.inf), axis=1).astype(np.int64)
    truth = None
    target = spec.single("target")
    if target is not None and target.name in table.column_names:
        truth = category_codes(table.column(target.name), labels)
    return _Rows(
        predicted[keep].astype(np.int64),
        values[keep],
        None if truth is None else truth[keep],
    )


def _labelled(rows: _Rows) -> _Rows | None:
    if rows.truth is None:
        return None
    has = rows.truth >= 0
    if not has.any():
        return None
    return _Rows(rows.predicted[has], rows.scores[has], rows.truth[has])


def _index_bins(length: int, bins: int) -> list[tuple[int, int]]:
    """Equal-count bins of sorted positions (the last takes the remainder), as NannyML."""
    if length <= 2 * bins:
        bins = length // 2
    width = length // bins
    edges = list(range(0, length + 1, width))
    edges[-1] = length
    return list(itertools.pairwise(edges))


def _calibration_error(truth: NDArray[np.float64], proba: NDArray[np.float64]) -> float:
    """Expected calibration error on equal-count bins of the sorted probabilities."""
    order = np.argsort(proba)
    proba, truth = proba[order], truth[order]
    n = proba.size
    return float(
        sum(
            (hi - lo) / n * abs(proba[lo:hi].mean() - truth[lo:hi].mean())
            for lo, hi in _index_bins(n, ECE_BINS)
        )
    )


def needs_calibration(truth: NDArray[np.int64], scores: NDArray[np.float64]) -> bool:
    """Whether isotonic calibration lowers the expected calibration error of held-out rows.

    NannyML's rule: ten stratified splits each hold out a tenth of the labelled reference; an
    isotonic map is fitted on the rest and applied to the held-out tenth; the ECE (10 equal-
    count bins) of all held-out scores before and after is compared. Not needed when one class
    only is present or the scores separate the classes almost perfectly (AUC > 0.999).
    The splits are numpy's, seeded, not scikit-learn's: the same design, other rows.
    """
    classes = np.unique(truth)
    if classes.size < 2 or truth.size < 2 * ECE_BINS:
        return False
    if roc_auc_score(truth, scores) > 0.999:
        return False
    rng = np.random.default_rng(SEED)
    members = [np.flatnonzero(truth == c) for c in classes]
    held_truth, before, after = [], [], []
    for _ in range(SPLITS):
        test_parts = []
        for rows in members:
            shuffled = rng.permutation(rows)
            test_parts.append(shuffled[: max(1, round(TEST_SHARE * rows.size))])
        test = np.concatenate(test_parts)
        train = np.ones(truth.size, dtype=bool)
        train[test] = False
        fitted = fit_isotonic(scores[train], truth[train])
        held_truth.append(truth[test])
        before.append(scores[test])
        after.append(fitted.apply(scores[test]))
    y = np.concatenate(held_truth).astype(np.float64)
    return _calibration_error(y, np.concatenate(before)) > _calibration_error(
        y, np.concatenate(after)
    )


def _one_vs_rest(rows: _Rows) -> list[tuple[NDArray[np.int64], NDArray[np.float64]]]:
    """Per score column: the 0/1 labels of its class and its scores."""
    assert rows.truth is not None
    if rows.scores.shape[1] == 1:
        return [((rows.truth == 1).astype(np.int64), rows.scores[:, 0])]
    return [
        ((rows.truth == k).astype(np.int64), rows.scores[:, k]) for k in range(rows.scores.shape[1])
    ]


def _probabilities(fit: CbpeFit, scores: NDArray[np.float64]) -> NDArray[np.float64]:
    """The calibrated probability of each class: (n, K) rows summing to 1 (binary: K = 2)."""
    out = np.column_stack(
        [
            scores[:, k] if cal is None else cal.apply(scores[:, k])
            for k, cal in enumerate(fit.calibrators)
        ]
    )
    out = np.clip(out, 0.0, 1.0)
    if out.shape[1] == 1:
        return np.column_stack([1.0 - out[:, 0], out[:, 0]])
    total = out.sum(axis=1, keepdims=True)
    uniform = np.full_like(out, 1.0 / out.shape[1])
    normalised: NDArray[np.float64] = np.divide(out, total, out=uniform, where=total != 0)
    return normalised


def _names(spec: Spec) -> tuple[str, ...]:
    return CBPE_METRICS["binary" if spec.task == "binary" else "multiclass"]


def _confusion_name(spec: Spec, name: str) -> str:
    """The `confusion_scores` key of a metric name (`f1_macro` -> `f1`)."""
    return name.removesuffix("_macro") if spec.task == "multiclass" else name


def _realized(spec: Spec, rows: _Rows) -> dict[str, float]:
    """The metrics of labelled rows (the truth known), each where it is defined."""
    assert rows.truth is not None
    k = 2 if spec.task == "binary" else rows.scores.shape[1]
    matrix = np.zeros((k, k))
    np.add.at(matrix, (rows.truth, rows.predicted), 1.0)
    average: Averaging = "binary" if spec.task == "binary" else "macro"
    scores = confusion_scores(matrix, average=average)
    out = {name: scores[_confusion_name(spec, name)] for name in _names(spec) if name != "roc_auc"}
    try:
        if spec.task == "binary":
            out["roc_auc"] = roc_auc_score((rows.truth == 1).astype(np.int64), rows.scores[:, 0])
        else:
            out["roc_auc"] = roc_auc_score_ovr(rows.truth, rows.scores)
    except ValueError:
        pass  # one class only among the labelled rows: no AUC
    return out


def _estimated(
    spec: Spec, fit: CbpeFit, rows: _Rows, *, with_errors: bool = True
) -> tuple[dict[str, float], dict[str, float], dict[str, str], NDArray[np.float64]]:
    """Estimates, their standard errors, why any is missing, and the expected confusion."""
    proba = _probabilities(fit, rows.scores)
    average: Averaging = "binary" if spec.task == "binary" else "macro"
    matrix = expected_confusion_matrix(rows.predicted, proba)
    found = confusion_scores(matrix, average=average)
    values = {n: found[_confusion_name(spec, n)] for n in _names(spec) if n != "roc_auc"}
    errors: dict[str, float] = {}
    problems: dict[str, str] = {}
    if with_errors and rows.predicted.size >= 2:
        se = confusion_score_standard_errors(rows.predicted, proba, average=average)
        errors = {n: se[_confusion_name(spec, n)] for n in values}
    positive = proba[:, 1:] if spec.task == "binary" else proba
    try:
        values["roc_auc"] = float(
            np.mean(
                [
                    expected_roc_auc(rows.scores[:, c], positive[:, c])
                    for c in range(rows.scores.shape[1])
                ]
            )
        )
        if with_errors:
            errors["roc_auc"] = expected_roc_auc_standard_error(rows.scores, positive)
    except ValueError as err:
        problems["roc_auc"] = str(err)
    return values, errors, problems, matrix


def _decision_rows(
    truth: NDArray[np.int64], scores: NDArray[np.float64]
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """The rows the calibration rule reads: every one, or a seeded sample of DECISION_ROWS of
    a larger reference (the rule's ten held-out splits cost 3 s on a million rows)."""
    if truth.size <= DECISION_ROWS:
        return truth, scores
    picked = np.sort(np.random.default_rng(SEED).choice(truth.size, DECISION_ROWS, False))
    return truth[picked], scores[picked]


def fit_cbpe(spec: Spec, reference: pa.Table, labels: tuple[str, ...]) -> CbpeFit:
    """Calibrators and the realized baseline from the reference's labelled rows."""
    options = spec.estimation
    rows = _rows(spec, reference, labels)
    labelled = None if rows is None else _labelled(rows)
    if labelled is None or labelled.truth is None:
        return CbpeFit(labels, (), {}, {}, "the reference has no labelled row with every score")
    calibrators: list[Isotonic | None] = []
    for truth, scores in _one_vs_rest(labelled):
        wanted = options.calibration == "always" or (
            options.calibration == "auto"
            and (
                scores.min() < 0
                or scores.max() > 1
                or needs_calibration(*_decision_rows(truth, scores))
            )
        )
        calibrators.append(fit_isotonic(scores, truth) if wanted else None)
    fit = CbpeFit(labels, tuple(calibrators), _realized(spec, labelled), {})
    _, reference_errors, _, _ = _estimated(spec, fit, labelled)
    return replace(
        fit, reference_errors=reference_errors, estimate_scales=_estimate_scales(spec, fit, rows)
    )


def _estimate_scales(spec: Spec, fit: CbpeFit, rows: _Rows | None) -> dict[str, float]:
    """How much the estimate itself moves between windows of one population: its standard
    deviation over seeded resamples of the reference's scored rows, scaled by √rows."""
    if rows is None or rows.predicted.size < 2:
        return {}
    size = min(RESAMPLE_ROWS, int(rows.predicted.size))
    rng = np.random.default_rng(SEED)
    draws: dict[str, list[float]] = {}
    for _ in range(RESAMPLES):
        pick = rng.integers(0, rows.predicted.size, size)
        sample = _Rows(rows.predicted[pick], rows.scores[pick], None)
        values, _, _, _ = _estimated(spec, fit, sample, with_errors=False)
        for name, value in values.items():
            draws.setdefault(name, []).append(value)
    return {
        name: float(np.std(values, ddof=1)) * math.sqrt(size)
        for name, values in draws.items()
        if len(values) == RESAMPLES
    }


def estimate_cbpe(
    spec: Spec, reference: pa.Table, current: pa.Table, once: Once[Any]
) -> EstimationResult:
    """Every CBPE metric of `current` (its labels unread), with standard errors, the change
    from the reference's realized value and, where `current` has labels, the realized value."""
    known: frozenset[str] = once(("classes",), lambda: reference_classes(spec, reference))
    # the reference's classes (and the spec's score classes): what the calibration knows. A
    # current row whose label or prediction is another class is left out, so one stray
    # record never costs the window its estimate
    labels = class_labels(spec, known=known)
    options = spec.estimation
    fit: CbpeFit = once(
        ("cbpe", labels, options.calibration), lambda: fit_cbpe(spec, reference, labels)
    )
    wanted = [n for n in _names(spec) if not options.metrics or n in options.metrics]
    rows = _rows(spec, current, labels)
    if fit.problem is not None or rows is None or rows.predicted.size == 0:
        why = fit.problem or "no current row has every score and a readable prediction"
        return EstimationResult("cbpe", {}, 0, fit.calibrated, None, dict.fromkeys(wanted, why))
    values, errors, problems, matrix = _estimated(spec, fit, rows)
    labelled = _labelled(rows)
    realized = _realized(spec, labelled) if labelled is not None else {}
    estimates: dict[str, Estimate] = {}
    for name in wanted:
        if name not in values:
            continue
        se = errors.get(name)
        ref = fit.reference.get(name)
        change = None
        scale = fit.estimate_scales.get(name)
        if ref is not None:
            # the verdict's noise: the estimate's own sampling noise at this size, and the
            # reference value's
            own = None if scale is None else scale / math.sqrt(rows.predicted.size)
            ref_se = fit.reference_errors.get(name)
            both = None if own is None or ref_se is None else math.hypot(own, ref_se)
            change = MetricChange(name, ref, values[name], both, True, True)
        estimates[name] = Estimate(name, values[name], se, change, realized.get(name))
    confusion = EstimatedConfusion(labels, tuple(tuple(float(v) for v in row) for row in matrix))
    return EstimationResult(
        "cbpe",
        estimates,
        int(rows.predicted.size),
        fit.calibrated,
        confusion,
        {n: problems[n] for n in wanted if n in problems},
    )


def with_realized(
    result: EstimationResult, spec: Spec, current: pa.Table, labels: tuple[str, ...]
) -> EstimationResult:
    """`result` with each estimate's realized value from `current`'s labels (late labels: the
    estimate never reads labels, so only the realized values change)."""
    rows = _rows(spec, current, labels)
    labelled = None if rows is None else _labelled(rows)
    realized = _realized(spec, labelled) if labelled is not None else {}
    return replace(
        result,
        estimates={
            name: replace(found, realized=realized.get(name))
            for name, found in result.estimates.items()
        },
    )


__all__ = ["CBPE_METRICS", "CbpeFit", "estimate_cbpe", "fit_cbpe", "with_realized"]
