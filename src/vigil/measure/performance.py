"""Model performance on the labelled rows of each set, with the sampling noise of each metric.

For every checked metric the current value is compared with the reference's, and the
standard error of the difference — what sampling alone would move it by if the current rows
were drawn like the reference's — comes with it: analytic for proportions (accuracy,
precision, recall, FPR, FNR) and the binary ROC AUC (Hanley & McNeil), a bootstrap of the
reference for the rest (docs/statistics.md, "Performance"). Whether a change counts is decided
in `vigil.verdict`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from vigil.errors import SpecError
from vigil.measure.columns import category_codes, numeric_array
from vigil.spec import Spec, Task
from vigil.spec.values import distinct_categories
from vigil.stats import (
    accuracy_score,
    auc_standard_error,
    average_precision_score,
    binomial_standard_error,
    bootstrap_scales,
    brier_score_loss,
    confusion_matrix,
    expected_calibration_error,
    f1_score,
    false_negative_rate,
    false_positive_rate,
    log_loss,
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_error,
    multiclass_brier_score_loss,
    precision_recall_f1,
    r2_score,
    roc_auc_score,
    roc_auc_score_ovr,
    root_mean_squared_error,
    top_label_calibration_error,
)


@dataclass(frozen=True, slots=True)
class ConfusionMatrix:
    """Counts of (true, predicted) class pairs; rows are true classes."""

    labels: tuple[str, ...]
    matrix: tuple[tuple[int, ...], ...]


@dataclass(frozen=True, slots=True)
class SetPerformance:
    """The metrics of one set, and what their sampling noise is computed from."""

    rows: int  # labelled rows the metrics were computed on
    metrics: dict[str, float | None]  # None: not computable here, see `errors`
    errors: dict[str, str]  # metric name -> why it could not be computed
    confusion: ConfusionMatrix | None
    # binary: the denominators of the rates (positives, negatives, predicted_positives)
    counts: dict[str, int] = field(default_factory=dict)
    # checked metrics without a formula: σ such that σ/√n is the standard error on n rows
    scales: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class MetricChange:
    """One checked metric in both sets, and the standard error of their difference."""

    metric: str
    reference: float
    current: float
    standard_error: float | None  # of current − reference under "drawn like the reference"
    higher_is_better: bool
    bounded: bool  # higher is better and at most 1: its error is 1 − value

    @property
    def worsening(self) -> float:
        """How much worse the current value is, in the metric's units (negative: better)."""
        diff = self.current - self.reference
        return -diff if self.higher_is_better else diff

    @property
    def relative(self) -> float:
        """The worsening relative to the reference value or, for a metric bounded by 1, to
        its error 1 − value, whichever is larger (0.942 → 0.917 accuracy is 42% more errors)."""
        w = self.worsening
        scales = [abs(self.reference)]
        if self.bounded:
            scales.append(1.0 - self.reference)
        smallest = min(s for s in scales)
        if smallest <= 0:
            return math.inf if w > 0 else 0.0
        return w / smallest

    @property
    def z(self) -> float | None:
        """The worsening in standard errors; None without a standard error."""
        if self.standard_error is None:
            return None
        if self.standard_error == 0:
            return math.inf if self.worsening > 0 else 0.0
        return self.worsening / self.standard_error


@dataclass(frozen=True, slots=True)
class PerformanceResult:
    """Reference performance is the baseline the current is compared with."""

    task: Task
    target: str
    reference: SetPerformance | None  # None when the reference has no labels
    current: SetPerformance | None  # None when the current set has no labelled row
    current_rows: int  # rows of the current set, labelled or not
    changes: dict[str, MetricChange]  # checked metrics present in both sets

    @property
    def label_coverage(self) -> float:
        """Share of the current set's rows that carry a label."""
        labelled = self.current.rows if self.current is not None else 0
        return labelled / self.current_rows if self.current_rows else 0.0


# Whether a higher value is better, for the degradation checks.
HIGHER_IS_BETTER = {
    "accuracy": True,
    "precision": True,
    "recall": True,
    "f1": True,
    "roc_auc": True,
    "pr_auc": True,
    "r2": True,
    "f1_macro": True,
    "fpr": False,
    "fnr": False,
    "log_loss": False,
    "brier": False,
    "ece": False,
    "mae": False,
    "rmse": False,
    "mape": False,
}
# Metrics that are at most 1 and higher-is-better: their error 1 − value is judged too.
BOUNDED_BY_ONE = frozenset(
    {"accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc", "r2", "f1_macro"}
)
# The metrics whose degradation raises a check, per task.
CHECKED_METRICS: dict[str, tuple[str, ...]] = {
    "binary": ("accuracy", "f1", "roc_auc", "pr_auc", "log_loss"),
    "multiclass": ("accuracy", "f1_macro", "roc_auc", "log_loss"),
    "regression": ("mae", "rmse", "r2"),
}
POSITIVE_LABELS = ("1", "true", "yes", "positive")  # the positive class of a binary target
BOOTSTRAP_SIZE = 2000  # rows per bootstrap resample of the reference
BOOTSTRAP_DRAWS = 100


@dataclass(frozen=True, slots=True)
class Labelled:
    """The rows of a set that carry a target, encoded for the metric kernels."""

    y_true: NDArray[np.int64] | NDArray[np.float64]
    y_pred: NDArray[np.int64] | NDArray[np.float64] | None
    proba: NDArray[np.float64] | None  # binary: P(positive); multiclass: (n, K) in class order


def class_labels(spec: Spec, *tables: pa.Table) -> tuple[str, ...]:
    """The classes of a classification task: the target's and predictions' values, as strings.

    Binary: the positive class is last (a value among POSITIVE_LABELS, else the larger label).
    """
    names = [c.name for c in (spec.single("target"), spec.single("prediction")) if c is not None]
    seen: set[str] = set()
    for table in tables:
        for name in names:
            if name in table.column_names:
                seen.update(distinct_categories(table.column(name)))
    if spec.task == "multiclass":
        seen.update(c.score_class for c in spec.with_role("score") if c.score_class is not None)
    labels = sorted(seen)
    if spec.task == "binary" and len(labels) == 2:
        positive = [v for v in labels if v.lower() in POSITIVE_LABELS]
        if positive:
            labels = [v for v in labels if v != positive[0]] + [positive[0]]
    return tuple(labels)


def labelled_rows(spec: Spec, table: pa.Table, labels: tuple[str, ...]) -> Labelled | None:
    """Encode the target, prediction and scores of the rows that carry a target."""
    target = spec.single("target")
    if target is None or target.name not in table.column_names:
        return None
    prediction = spec.single("prediction")
    scores = [c for c in spec.with_role("score") if c.name in table.column_names]
    has_pred = prediction is not None and prediction.name in table.column_names
    if spec.task == "regression":
        y = numeric_array(table.column(target.name), "numeric")[0]
        yp = (
            numeric_array(table.column(prediction.name), "numeric")[0]
            if has_pred and prediction is not None
            else None
        )
        keep = ~np.isnan(y) if yp is None else ~(np.isnan(y) | np.isnan(yp))
        return Labelled(y[keep], None if yp is None else yp[keep], None)
    y_codes = category_codes(table.column(target.name), labels)
    keep = y_codes >= 0
    pred_codes = None
    if has_pred and prediction is not None:
        pred_codes = category_codes(table.column(prediction.name), labels)
        keep &= pred_codes >= 0
    proba = None
    if scores and spec.task == "binary":
        proba = numeric_array(table.column(scores[0].name), "numeric")[0]
    elif scores and spec.task == "multiclass":
        order = {c.score_class: c.name for c in scores}
        if all(label in order for label in labels):
            proba = np.column_stack(
                [numeric_array(table.column(order[label]), "numeric")[0] for label in labels]
            )
    if proba is not None:
        keep &= ~np.isnan(proba) if proba.ndim == 1 else ~np.isnan(proba).any(axis=1)
    if pred_codes is None and proba is not None:  # predicted class from the scores
        pred_codes = (
            (proba >= 0.5).astype(np.int64)
            if proba.ndim == 1
            else np.argmax(proba, axis=1).astype(np.int64)
        )
    return Labelled(
        y_codes[keep],
        None if pred_codes is None else pred_codes[keep],
        None if proba is None else proba[keep],
    )


def check_score_classes(spec: Spec, table: pa.Table, labels: tuple[str, ...], source: str) -> None:
    """Refuse a multiclass spec whose score columns are mapped to the wrong classes.

    On the reference, the class whose score is highest in a row should be the predicted class
    in most rows. A score column that is highest more often on rows predicted as another class
    than on rows predicted as its own is mapped wrongly (e.g. `_prepaid_card` read as
    `highstreet_card`), and the report would compare the wrong probabilities.
    """
    prediction = spec.single("prediction")
    scores = [c for c in spec.with_role("score") if c.name in table.column_names]
    if (
        spec.task != "multiclass"
        or prediction is None
        or prediction.name not in table.column_names
        or len(scores) < 2
        or any(c.score_class is None for c in scores)
    ):
        return
    classes = [c.score_class for c in scores]
    proba = np.column_stack([numeric_array(table.column(c.name), "numeric")[0] for c in scores])
    predicted = category_codes(table.column(prediction.name), tuple(classes))  # type: ignore[arg-type]
    keep = (predicted >= 0) & ~np.isnan(proba).any(axis=1)
    if not keep.any():
        return
    highest = np.argmax(proba[keep], axis=1)
    agree = np.zeros((len(scores), len(scores)), dtype=np.int64)
    np.add.at(agree, (highest, predicted[keep]), 1)
    for i, col in enumerate(scores):
        j = int(np.argmax(agree[i]))
        if agree[i, j] > agree[i, i]:
            raise SpecError(
                f"{source}: score column {col.name!r} is mapped to the class "
                f"{col.score_class!r}, but where it is the highest score the prediction is "
                f"{classes[j]!r} in {agree[i, j]} rows and {col.score_class!r} in only "
                f"{agree[i, i]}. Check `class:` under the score columns of the spec."
            )


def _try(
    metrics: dict[str, float | None],
    errors: dict[str, str],
    name: str,
    compute: Callable[[], float],
) -> None:
    try:
        metrics[name] = float(compute())
    except ValueError as err:
        metrics[name] = None
        errors[name] = str(err)


def set_performance(
    spec: Spec, rows: Labelled, labels: tuple[str, ...], *, scales: bool = False
) -> SetPerformance:
    """Every metric of the task that the set's columns allow.

    `scales=True` (the reference) also bootstraps the σ of the checked metrics that have no
    standard-error formula.
    """
    metrics: dict[str, float | None] = {}
    errors: dict[str, str] = {}
    n = int(rows.y_true.size)
    if n == 0:
        return SetPerformance(
            0, {}, {"rows": "no row carries both a target and a prediction"}, None
        )
    if spec.task == "regression":
        y = np.asarray(rows.y_true, dtype=np.float64)
        if rows.y_pred is None:
            return SetPerformance(n, {}, {"prediction": "no prediction column"}, None)
        yp = np.asarray(rows.y_pred, dtype=np.float64)
        kernels: dict[str, Callable[..., float]] = {
            "mae": mean_absolute_error,
            "rmse": root_mean_squared_error,
            "mape": mean_absolute_percentage_error,
            "r2": r2_score,
            "mean_error": mean_error,
        }
        for name, fn in kernels.items():
            _try(metrics, errors, name, lambda fn=fn: fn(y, yp))  # type: ignore[misc]
        found = _scales(kernels, ("mae", "rmse", "r2"), (y, yp)) if scales else {}
        return SetPerformance(n, metrics, errors, None, {}, found)

    y_true = np.asarray(rows.y_true, dtype=np.int64)
    k = len(labels)
    confusion = None
    counts: dict[str, int] = {}
    bootstrapped: dict[str, Callable[..., float]] = {}
    arrays: list[NDArray[np.generic]] = [y_true]
    y_pred = None
    if rows.y_pred is not None:
        y_pred = np.asarray(rows.y_pred, dtype=np.int64)
        arrays.append(y_pred)
        cm = confusion_matrix(y_true, y_pred, n_classes=k)
        confusion = ConfusionMatrix(labels, tuple(tuple(int(v) for v in row) for row in cm))
        metrics["accuracy"] = accuracy_score(y_true, y_pred)
        if spec.task == "binary" and k == 2:
            p, r, f = precision_recall_f1(cm, average="binary")
            metrics.update(precision=p, recall=r, f1=f)
            metrics["fpr"] = false_positive_rate(y_true, y_pred)
            metrics["fnr"] = false_negative_rate(y_true, y_pred)
            counts = {
                "positives": int(cm[1].sum()),
                "negatives": int(cm[0].sum()),
                "predicted_positives": int(cm[:, 1].sum()),
            }
            bootstrapped["f1"] = lambda t, p, *_: f1_score(t, p, n_classes=2)
        else:
            for average in ("macro", "micro", "weighted"):
                p, r, f = precision_recall_f1(cm, average=average)
                metrics.update(
                    {f"precision_{average}": p, f"recall_{average}": r, f"f1_{average}": f}
                )
            bootstrapped["f1_macro"] = lambda t, p, *_: f1_score(t, p, n_classes=k, average="macro")
    proba = rows.proba
    if proba is not None and proba.ndim == 1 and k == 2:
        _try(metrics, errors, "roc_auc", lambda: roc_auc_score(y_true, proba))
        _try(metrics, errors, "pr_auc", lambda: average_precision_score(y_true, proba))
        _try(metrics, errors, "log_loss", lambda: log_loss(y_true, proba, n_classes=2))
        _try(metrics, errors, "brier", lambda: brier_score_loss(y_true, proba))
        _try(metrics, errors, "ece", lambda: expected_calibration_error(y_true, proba))
        counts.setdefault("positives", int(np.count_nonzero(y_true == 1)))
        counts.setdefault("negatives", int(np.count_nonzero(y_true == 0)))
        bootstrapped["pr_auc"] = lambda t, *rest: average_precision_score(t, rest[-1])
        bootstrapped["log_loss"] = lambda t, *rest: log_loss(t, rest[-1], n_classes=2)
    elif proba is not None and proba.ndim == 2:
        _try(metrics, errors, "roc_auc", lambda: roc_auc_score_ovr(y_true, proba))
        _try(metrics, errors, "log_loss", lambda: log_loss(y_true, proba, n_classes=k))
        _try(metrics, errors, "brier", lambda: multiclass_brier_score_loss(y_true, proba))
        _try(metrics, errors, "ece", lambda: top_label_calibration_error(y_true, proba))
        bootstrapped["roc_auc"] = lambda t, *rest: roc_auc_score_ovr(t, rest[-1])
        bootstrapped["log_loss"] = lambda t, *rest: log_loss(t, rest[-1], n_classes=k)
    if proba is not None:
        arrays.append(proba)
    found = _scales(bootstrapped, tuple(bootstrapped), arrays) if scales else {}
    return SetPerformance(n, metrics, errors, confusion, counts, found)


def _scales(
    kernels: dict[str, Callable[..., float]],
    names: tuple[str, ...],
    arrays: tuple[NDArray[np.generic], ...] | list[NDArray[np.generic]],
) -> dict[str, float]:
    chosen = {name: kernels[name] for name in names}
    found = bootstrap_scales(chosen, list(arrays), size=BOOTSTRAP_SIZE, draws=BOOTSTRAP_DRAWS)
    return {name: value for name, value in found.items() if value is not None}


def compare(
    task: Task, reference: SetPerformance, current: SetPerformance
) -> dict[str, MetricChange]:
    """Each checked metric of both sets with the standard error of their difference.

    The difference's standard error is √(SE_ref² + SE_cur²), each at its set's own size,
    both computed as if the rows were drawn like the reference's (the null of "no change").
    """
    out = {}
    for name in CHECKED_METRICS[task]:
        ref, cur = reference.metrics.get(name), current.metrics.get(name)
        if ref is None or cur is None:
            continue
        se = _difference_error(name, ref, reference, current)
        out[name] = MetricChange(name, ref, cur, se, HIGHER_IS_BETTER[name], name in BOUNDED_BY_ONE)
    return out


def _difference_error(
    name: str, value: float, reference: SetPerformance, current: SetPerformance
) -> float | None:
    sides = (reference, current)
    try:
        if name == "accuracy":
            errors = [binomial_standard_error(value, s.rows) for s in sides]
        elif name in ("precision", "recall", "fnr", "fpr"):
            denominator = {
                "precision": "predicted_positives",
                "recall": "positives",
                "fnr": "positives",
                "fpr": "negatives",
            }[name]
            errors = [binomial_standard_error(value, s.counts[denominator]) for s in sides]
        elif name == "roc_auc" and "positives" in reference.counts:
            errors = [
                auc_standard_error(value, s.counts["positives"], s.counts["negatives"])
                for s in sides
            ]
        elif name in reference.scales:
            errors = [reference.scales[name] / math.sqrt(s.rows) for s in sides]
        else:
            return None
    except (KeyError, ValueError, ZeroDivisionError):
        return None  # a denominator of 0 (no positives, say): nothing to judge by
    return math.sqrt(sum(e * e for e in errors))
