"""Model performance on the labelled rows of each set, with the sampling noise of each metric.

Each set's checked metrics come with their standard errors at that set's size, estimated from
its own rows: the binomial formula for accuracy, DeLong's for a binary ROC AUC, the
standard error of a mean for the losses that are means of per-row losses (log loss, Brier,
MAE; RMSE by the delta method), and a seeded bootstrap for the rest (F1, average precision,
a multiclass AUC, R²). The difference between the sets has the standard error
√(SE_ref² + SE_cur²), as in Welch's two-sample test (docs/statistics.md, "Performance").
Whether a change counts is decided in `vigil.verdict`.
"""

from __future__ import annotations

import contextlib
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
    log_losses,
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_error,
    mean_standard_error,
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
    # checked metrics: the standard error at this set's size, from its own rows
    standard_errors: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class MetricChange:
    """One checked metric in both sets, and the standard error of their difference."""

    metric: str
    reference: float
    current: float
    standard_error: float | None  # of current − reference: √(SE_ref² + SE_cur²)
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


def reference_classes(spec: Spec, table: pa.Table) -> frozenset[str]:
    """The target's and predictions' values in one set, as strings (`class_labels`' input)."""
    names = [c.name for c in (spec.single("target"), spec.single("prediction")) if c is not None]
    seen: set[str] = set()
    for name in names:
        if name in table.column_names:
            seen.update(distinct_categories(table.column(name)))
    return frozenset(seen)


def class_labels(
    spec: Spec, *tables: pa.Table, known: frozenset[str] = frozenset()
) -> tuple[str, ...]:
    """The classes of a classification task: the target's and predictions' values, as strings,
    in `tables` and among `known` (another set's, from `reference_classes`).

    Binary: the positive class is last (a value among POSITIVE_LABELS, else the larger label).
    """
    seen: set[str] = set(known)
    for table in tables:
        seen |= reference_classes(spec, table)
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


def set_performance(spec: Spec, rows: Labelled, labels: tuple[str, ...]) -> SetPerformance:
    """Every metric of the task that the set's columns allow, and the standard errors of the
    checked ones at this set's size."""
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
        for name, fn in (
            ("mae", mean_absolute_error),
            ("rmse", root_mean_squared_error),
            ("mape", mean_absolute_percentage_error),
            ("r2", r2_score),
            ("mean_error", mean_error),
        ):
            _try(metrics, errors, name, lambda fn=fn: fn(y, yp))  # type: ignore[misc]
        residual = yp - y
        se: dict[str, float | None] = {"mae": mean_standard_error(np.abs(residual))}
        rmse = metrics.get("rmse")
        if rmse:  # delta method: SE(√m) = SE(m) / (2√m)
            se["rmse"] = mean_standard_error(np.square(residual)) / (2.0 * rmse)
        se.update(_bootstrapped({"r2": r2_score}, (y, yp)))
        return SetPerformance(n, metrics, errors, None, _known(se))

    y_true = np.asarray(rows.y_true, dtype=np.int64)
    k = len(labels)
    confusion = None
    se = {}
    bootstrapped: dict[str, Callable[..., float]] = {}
    arrays: list[NDArray[np.generic]] = [y_true]
    if rows.y_pred is not None:
        y_pred = np.asarray(rows.y_pred, dtype=np.int64)
        arrays.append(y_pred)
        cm = confusion_matrix(y_true, y_pred, n_classes=k)
        confusion = ConfusionMatrix(labels, tuple(tuple(int(v) for v in row) for row in cm))
        accuracy = accuracy_score(y_true, y_pred)
        metrics["accuracy"] = accuracy
        se["accuracy"] = binomial_standard_error(accuracy, n)
        if spec.task == "binary" and k == 2:
            p, r, f = precision_recall_f1(cm, average="binary")
            metrics.update(precision=p, recall=r, f1=f)
            metrics["fpr"] = false_positive_rate(y_true, y_pred)
            metrics["fnr"] = false_negative_rate(y_true, y_pred)
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
        if metrics.get("roc_auc") is not None:
            with contextlib.suppress(ValueError):  # under two rows of a class: no standard error
                se["roc_auc"] = auc_standard_error(y_true, proba)
        if metrics["log_loss"] is not None:  # else the scores are not probabilities
            se["log_loss"] = mean_standard_error(log_losses(y_true, proba, n_classes=2))
        if metrics["brier"] is not None:
            se["brier"] = mean_standard_error(np.square(proba - y_true))
        bootstrapped["pr_auc"] = lambda t, *rest: average_precision_score(t, rest[-1])
    elif proba is not None and proba.ndim == 2:
        _try(metrics, errors, "roc_auc", lambda: roc_auc_score_ovr(y_true, proba))
        _try(metrics, errors, "log_loss", lambda: log_loss(y_true, proba, n_classes=k))
        _try(metrics, errors, "brier", lambda: multiclass_brier_score_loss(y_true, proba))
        _try(metrics, errors, "ece", lambda: top_label_calibration_error(y_true, proba))
        if metrics["log_loss"] is not None:
            se["log_loss"] = mean_standard_error(log_losses(y_true, proba, n_classes=k))
        bootstrapped["roc_auc"] = lambda t, *rest: roc_auc_score_ovr(t, rest[-1])
    if proba is not None:
        arrays.append(proba)
    se.update(_bootstrapped(bootstrapped, tuple(arrays)))
    return SetPerformance(n, metrics, errors, confusion, _known(se))


def _bootstrapped(
    kernels: dict[str, Callable[..., float]], arrays: tuple[NDArray[np.generic], ...]
) -> dict[str, float | None]:
    """Standard errors at the set's own size from a seeded bootstrap (`bootstrap_scales`)."""
    if not kernels:
        return {}
    n = int(arrays[0].shape[0])
    scales = bootstrap_scales(kernels, list(arrays), size=BOOTSTRAP_SIZE, draws=BOOTSTRAP_DRAWS)
    return {name: None if s is None else s / math.sqrt(n) for name, s in scales.items()}


def _known(errors: dict[str, float | None]) -> dict[str, float]:
    return {name: value for name, value in errors.items() if value is not None}


def compare(
    task: Task, reference: SetPerformance, current: SetPerformance
) -> dict[str, MetricChange]:
    """Each checked metric of both sets, with the standard error of their difference:
    √(SE_ref² + SE_cur²), each set's own (None when either side has none)."""
    out = {}
    for name in CHECKED_METRICS[task]:
        ref, cur = reference.metrics.get(name), current.metrics.get(name)
        if ref is None or cur is None:
            continue
        a, b = reference.standard_errors.get(name), current.standard_errors.get(name)
        se = None if a is None or b is None else math.sqrt(a * a + b * b)
        out[name] = MetricChange(name, ref, cur, se, HIGHER_IS_BETTER[name], name in BOUNDED_BY_ONE)
    return out
