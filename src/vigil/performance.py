"""Model performance on the labelled rows of each set."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from vigil.sample import category_codes, category_strings, numeric_array
from vigil.spec import Spec, Task
from vigil.stats import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    confusion_matrix,
    expected_calibration_error,
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
    """The metrics of one set."""

    rows: int  # labelled rows the metrics were computed on
    metrics: dict[str, float | None]  # None: not computable here, see `errors`
    errors: dict[str, str]  # metric name -> why it could not be computed
    confusion: ConfusionMatrix | None


@dataclass(frozen=True, slots=True)
class PerformanceResult:
    """Reference performance is the baseline the current is compared with."""

    task: Task
    target: str
    reference: SetPerformance | None  # None when the reference has no labels
    current: SetPerformance | None  # None when the current set has no labels


# --- computing ------------------------------------------------------------------------------

POSITIVE_LABELS = ("1", "true", "yes", "positive")  # the positive class of a binary target


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
                distinct = pc.unique(table.column(name)).drop_null()
                seen.update(category_strings(pa.chunked_array([distinct])).to_pylist())
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
    """Every metric of the task that the set's columns allow."""
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
        return SetPerformance(n, metrics, errors, None)

    y_true = np.asarray(rows.y_true, dtype=np.int64)
    k = len(labels)
    confusion = None
    if rows.y_pred is not None:
        y_pred = np.asarray(rows.y_pred, dtype=np.int64)
        cm = confusion_matrix(y_true, y_pred, n_classes=k)
        confusion = ConfusionMatrix(labels, tuple(tuple(int(v) for v in row) for row in cm))
        metrics["accuracy"] = accuracy_score(y_true, y_pred)
        if spec.task == "binary" and k == 2:
            p, r, f = precision_recall_f1(cm, average="binary")
            metrics.update(precision=p, recall=r, f1=f)
            metrics["fpr"] = false_positive_rate(y_true, y_pred)
            metrics["fnr"] = false_negative_rate(y_true, y_pred)
        else:
            for average in ("macro", "micro", "weighted"):
                p, r, f = precision_recall_f1(cm, average=average)
                metrics.update(
                    {f"precision_{average}": p, f"recall_{average}": r, f"f1_{average}": f}
                )
    proba = rows.proba
    if proba is not None and proba.ndim == 1 and k == 2:
        _try(metrics, errors, "roc_auc", lambda: roc_auc_score(y_true, proba))
        _try(metrics, errors, "pr_auc", lambda: average_precision_score(y_true, proba))
        _try(metrics, errors, "log_loss", lambda: log_loss(y_true, proba, n_classes=2))
        _try(metrics, errors, "brier", lambda: brier_score_loss(y_true, proba))
        _try(metrics, errors, "ece", lambda: expected_calibration_error(y_true, proba))
    elif proba is not None and proba.ndim == 2:
        _try(metrics, errors, "roc_auc", lambda: roc_auc_score_ovr(y_true, proba))
        _try(metrics, errors, "log_loss", lambda: log_loss(y_true, proba, n_classes=k))
        _try(metrics, errors, "brier", lambda: multiclass_brier_score_loss(y_true, proba))
        _try(metrics, errors, "ece", lambda: top_label_calibration_error(y_true, proba))
    return SetPerformance(n, metrics, errors, confusion)


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
# The metrics whose degradation raises a check, per task.
CHECKED_METRICS: dict[str, tuple[str, ...]] = {
    "binary": ("accuracy", "f1", "roc_auc", "pr_auc", "log_loss"),
    "multiclass": ("accuracy", "f1_macro", "roc_auc", "log_loss"),
    "regression": ("mae", "rmse", "r2"),
}
