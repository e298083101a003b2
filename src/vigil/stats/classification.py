"""Classification metrics: from class codes, scores and predicted probabilities to numbers.

Naming rule: ``*_score`` is higher-is-better, ``*_error``, ``*_loss`` and ``*_rate`` (of
mistakes) are lower-is-better. Every value matches scikit-learn's function of the same name
(checked by the tests); the docstrings say where vigil differs.

Inputs are already encoded by the caller:

- labels are integer class codes ``0 .. n_classes - 1``; in a binary task the positive class
  is code 1;
- ``y_score`` is any finite score of the positive class (higher = more likely positive);
- ``proba`` holds probabilities in [0, 1]: shape (n,) for P(class 1) in a binary task, or
  (n, n_classes) with one column per class code. Rows need not sum exactly to 1 and are never
  renormalised (scikit-learn ≥ 1.5 does not renormalise either; it only warns).

Bad input (lengths that differ, no rows, codes out of range, NaN, probabilities outside
[0, 1]) raises ValueError. A metric that is undefined on valid input (ROC AUC with a single
class in ``y_true``) raises ValueError too, saying why; the caller reports it as "not
computable". Every kernel is vectorised: at most one sort of the scores per class, no loop
over rows.
"""

from __future__ import annotations

from typing import Literal, get_args

import numpy as np
from numpy.typing import NDArray

from vigil.stats._validate import (
    class_codes,
    integer_at_least,
    label_pair,
    probabilities,
    scores,
)

Average = Literal["binary", "macro", "micro", "weighted"]
"""How per-class precision, recall and F1 become one number.

``binary``: class 1 only (two classes); ``macro``: unweighted mean over all ``n_classes``
classes, including those absent from the data (they count as 0); ``micro``: from the counts
summed over classes (equals accuracy when every row has one label); ``weighted``: mean
weighted by each class's number of true rows.
"""
OvrAverage = Literal["macro", "weighted"]
"""How the one-vs-rest ROC AUCs of the classes become one number (see `roc_auc_score_ovr`)."""

# Log loss clips probabilities to [EPS, 1 - EPS], as scikit-learn does for float64.
EPS = float(np.finfo(np.float64).eps)


# --- from predicted labels --------------------------------------------------------------------


def confusion_matrix(
    y_true: NDArray[np.int64], y_pred: NDArray[np.int64], *, n_classes: int
) -> NDArray[np.int64]:
    """Counts of (true, predicted) class pairs: ``cm[i, j]`` rows of class i predicted as j.

    Reference: `sklearn.metrics.confusion_matrix(y_true, y_pred, labels=range(n_classes))`.

    >>> import numpy as np
    >>> confusion_matrix(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 2]), n_classes=3)
    array([[1, 1, 0],
           [0, 1, 0],
           [0, 0, 1]])
    """
    return _confusion("confusion_matrix", y_true, y_pred, n_classes)


def accuracy_score(y_true: NDArray[np.int64], y_pred: NDArray[np.int64]) -> float:
    """Share of rows whose predicted class is the true class, in [0, 1].

    Reference: `sklearn.metrics.accuracy_score`.

    >>> import numpy as np
    >>> accuracy_score(np.array([0, 1, 1, 2]), np.array([0, 1, 0, 2]))
    0.75
    """
    true, pred = label_pair("accuracy_score", y_true, y_pred, None)
    return float(np.count_nonzero(true == pred) / true.size)


def precision_recall_f1(cm: NDArray[np.int64], *, average: Average) -> tuple[float, float, float]:
    """Precision, recall and F1 from one confusion matrix (rows true, columns predicted).

    A ratio with a zero denominator is 0.0, as scikit-learn's ``zero_division=0`` (and no
    warning). F1 is 2·TP / (2·TP + FP + FN), which is the harmonic mean of precision and
    recall wherever both are defined. See `Average` for the averages.

    Reference: `sklearn.metrics.precision_recall_fscore_support(..., labels=range(K),
    zero_division=0)`.

    >>> import numpy as np
    >>> cm = np.array([[3, 1], [2, 4]])  # 4 true positives, 1 false positive, 2 missed
    >>> precision_recall_f1(cm, average="binary")
    (0.8, 0.6666666666666666, 0.7272727272727273)
    >>> [round(v, 4) for v in precision_recall_f1(cm, average="macro")]
    [0.7, 0.7083, 0.697]
    """
    matrix = _checked_matrix(cm)
    n_classes = matrix.shape[0]
    if average not in get_args(Average):
        raise ValueError(
            f"precision_recall_f1: unknown average {average!r}; use one of "
            f"{', '.join(get_args(Average))}."
        )
    if average == "binary":
        if n_classes != 2:
            raise ValueError(
                f"average='binary' needs 2 classes; the confusion matrix has {n_classes}. "
                "Use average='macro', 'micro' or 'weighted' for several classes."
            )
        tp, predicted, actual = int(matrix[1, 1]), int(matrix[:, 1].sum()), int(matrix[1].sum())
        return _ratio(tp, predicted), _ratio(tp, actual), _ratio(2 * tp, predicted + actual)
    if average == "micro":
        # Summed over classes every row is one TP or one (FP, FN) pair: all three are accuracy.
        correct, total = int(np.trace(matrix)), int(matrix.sum())
        return _ratio(correct, total), _ratio(correct, total), _ratio(2 * correct, 2 * total)
    tp_k = np.diagonal(matrix).astype(np.float64)
    predicted_k = matrix.sum(axis=0).astype(np.float64)
    actual_k = matrix.sum(axis=1).astype(np.float64)
    per_class = (
        _ratios(tp_k, predicted_k),
        _ratios(tp_k, actual_k),
        _ratios(2.0 * tp_k, predicted_k + actual_k),
    )
    weights = np.ones(n_classes) if average == "macro" else actual_k
    p, r, f = (float(np.dot(values, weights) / weights.sum()) for values in per_class)
    return p, r, f


def precision_score(
    y_true: NDArray[np.int64],
    y_pred: NDArray[np.int64],
    *,
    n_classes: int,
    average: Average = "binary",
) -> float:
    """Share of the rows predicted as a class that truly are of it, in [0, 1].

    Reference: `sklearn.metrics.precision_score(..., zero_division=0)`.

    >>> import numpy as np
    >>> precision_score(np.array([0, 1, 1, 0]), np.array([1, 1, 0, 0]), n_classes=2)
    0.5
    """
    cm = _confusion("precision_score", y_true, y_pred, n_classes)
    return precision_recall_f1(cm, average=average)[0]


def recall_score(
    y_true: NDArray[np.int64],
    y_pred: NDArray[np.int64],
    *,
    n_classes: int,
    average: Average = "binary",
) -> float:
    """Share of the rows of a class that are predicted as it (sensitivity), in [0, 1].

    Reference: `sklearn.metrics.recall_score(..., zero_division=0)`.

    >>> import numpy as np
    >>> recall_score(np.array([0, 1, 1, 1]), np.array([0, 1, 0, 1]), n_classes=2)
    0.6666666666666666
    """
    cm = _confusion("recall_score", y_true, y_pred, n_classes)
    return precision_recall_f1(cm, average=average)[1]


def f1_score(
    y_true: NDArray[np.int64],
    y_pred: NDArray[np.int64],
    *,
    n_classes: int,
    average: Average = "binary",
) -> float:
    """Harmonic mean of precision and recall, 2·TP / (2·TP + FP + FN), in [0, 1].

    Reference: `sklearn.metrics.f1_score(..., zero_division=0)`.

    >>> import numpy as np
    >>> f1_score(np.array([0, 1, 2, 2]), np.array([0, 2, 2, 2]), n_classes=3, average="macro")
    0.6
    """
    cm = _confusion("f1_score", y_true, y_pred, n_classes)
    return precision_recall_f1(cm, average=average)[2]


def false_positive_rate(y_true: NDArray[np.int64], y_pred: NDArray[np.int64]) -> float:
    """Share of the negative rows (code 0) predicted positive, FP / (FP + TN); 0.0 if none.

    Reference: 1 − `sklearn.metrics.recall_score(..., pos_label=0)`.

    >>> import numpy as np
    >>> false_positive_rate(np.array([0, 0, 0, 1]), np.array([1, 0, 0, 1]))
    0.3333333333333333
    """
    cm = _confusion("false_positive_rate", y_true, y_pred, 2)
    return _ratio(int(cm[0, 1]), int(cm[0].sum()))


def false_negative_rate(y_true: NDArray[np.int64], y_pred: NDArray[np.int64]) -> float:
    """Share of the positive rows (code 1) predicted negative, FN / (FN + TP); 0.0 if none.

    Reference: 1 − `sklearn.metrics.recall_score` (the miss rate).

    >>> import numpy as np
    >>> false_negative_rate(np.array([1, 1, 0, 1]), np.array([1, 0, 0, 1]))
    0.3333333333333333
    """
    cm = _confusion("false_negative_rate", y_true, y_pred, 2)
    return _ratio(int(cm[1, 0]), int(cm[1].sum()))


# --- from scores: ranking ---------------------------------------------------------------------


def roc_auc_score(y_true: NDArray[np.int64], y_score: NDArray[np.float64]) -> float:
    """Area under the ROC curve: P(score of a positive > score of a negative), ties count 1/2.

    Computed as the Mann–Whitney U statistic: both classes' scores are sorted once and each
    positive counts the negatives below it (and half those tied with it) by binary search.
    The count is exact in integers, so ties are handled as in scikit-learn's trapezoidal
    area. Raises ValueError when y_true holds one class only (the curve does not exist);
    scikit-learn returns NaN with a warning there.

    References: Hanley & McNeil (1982), *The meaning and use of the area under a ROC curve*;
    `sklearn.metrics.roc_auc_score`.

    >>> import numpy as np
    >>> roc_auc_score(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8]))
    0.75
    >>> roc_auc_score(np.array([0, 1]), np.array([0.5, 0.5]))  # a tie
    0.5
    """
    y = class_codes("roc_auc_score", "y_true", y_true, 2)
    s = scores("roc_auc_score", y, y_score)
    positive = y == 1
    n_pos = int(np.count_nonzero(positive))
    if n_pos in (0, y.size):
        raise ValueError(
            f"roc_auc_score needs both classes in y_true; got {n_pos} positive and "
            f"{y.size - n_pos} negative rows. ROC AUC is not defined with one class."
        )
    return _auc_of_sorted(np.sort(s[positive]), np.sort(s[~positive]))


def roc_auc_score_ovr(
    y_true: NDArray[np.int64], proba: NDArray[np.float64], *, average: OvrAverage = "macro"
) -> float:
    """Multiclass ROC AUC, one class against the rest, averaged over classes.

    The classes are the columns of `proba` (shape (n, K)); class k's AUC ranks rows by
    column k. ``macro`` is the plain mean over the K classes and needs every class in
    y_true (an absent class has no AUC); ``weighted`` weights each class by its number of
    true rows, so an absent class (weight 0) is skipped. Both need at least two classes in
    y_true. scikit-learn also refuses rows that do not sum to 1; vigil does not, since each
    column is ranked on its own.

    References: Fawcett (2006), *An introduction to ROC analysis*;
    `sklearn.metrics.roc_auc_score(y, proba, multi_class="ovr", labels=range(K))`.

    >>> import numpy as np
    >>> proba = np.array([[0.7, 0.2, 0.1], [0.2, 0.5, 0.3], [0.1, 0.3, 0.6], [0.3, 0.4, 0.3]])
    >>> roc_auc_score_ovr(np.array([0, 1, 2, 1]), proba)
    1.0
    """
    metric = "roc_auc_score_ovr"
    p = _proba_matrix(metric, proba)
    n_classes = p.shape[1]
    y = class_codes(metric, "y_true", y_true, n_classes)
    p = probabilities(metric, y, p, n_classes)
    if average not in get_args(OvrAverage):
        raise ValueError(
            f"{metric}: unknown average {average!r}; use one of {', '.join(get_args(OvrAverage))}."
        )
    counts = np.bincount(y, minlength=n_classes)
    present = np.flatnonzero(counts)
    if present.size < 2:
        raise ValueError(
            f"{metric} needs at least two classes in y_true; got only class {present[0]} "
            f"({y.size} rows). ROC AUC is not defined with one class."
        )
    if average == "macro" and present.size < n_classes:
        absent = np.flatnonzero(counts == 0).tolist()
        raise ValueError(
            f"{metric} with average='macro' needs every one of the {n_classes} classes in "
            f"y_true; classes {absent} have no row. Use a larger window, or average='weighted' "
            "(which skips absent classes)."
        )
    areas = np.zeros(n_classes)
    for k in present:
        is_k = y == k
        column = p[:, k]
        areas[k] = _auc_of_sorted(np.sort(column[is_k]), np.sort(column[~is_k]))
    if average == "macro":
        return float(areas.mean())
    return float(np.dot(areas, counts) / y.size)


def average_precision_score(y_true: NDArray[np.int64], y_score: NDArray[np.float64]) -> float:
    """Area under the precision–recall curve as a step sum: Σ (R_t − R_t') · P_t, in [0, 1].

    Over the distinct scores t from the highest down, each rise in recall is weighted by the
    precision at that threshold (rows scored ≥ t predicted positive). This is the PR AUC
    vigil reports. It is not the trapezoidal area: straight lines between PR points are not
    achievable classifiers and overstate the area (Davis & Goadrich 2006). Needs at least
    one positive; with no negative it is 1.0.

    References: Davis & Goadrich (2006), *The relationship between precision-recall and ROC
    curves*; `sklearn.metrics.average_precision_score`.

    >>> import numpy as np
    >>> average_precision_score(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8]))
    0.8333333333333333
    """
    y = class_codes("average_precision_score", "y_true", y_true, 2)
    s = scores("average_precision_score", y, y_score)
    positive = y == 1
    n_pos = int(np.count_nonzero(positive))
    if n_pos == 0:
        raise ValueError(
            f"average_precision_score needs at least one positive (code 1) in y_true; got 0 "
            f"of {y.size} rows. Precision-recall is not defined without positives."
        )
    pos, neg = np.sort(s[positive]), np.sort(s[~positive])
    # The thresholds that move recall are the distinct positive scores.
    first = np.flatnonzero(np.concatenate(([True], pos[1:] != pos[:-1])))
    tied = np.diff(np.append(first, n_pos))  # positives at each threshold: the recall step
    true_pos = n_pos - first  # positives scored >= threshold
    false_pos = neg.size - np.searchsorted(neg, pos[first], side="left")
    precision = true_pos / (true_pos + false_pos)
    return float(np.dot(tied, precision) / n_pos)


# --- from probabilities -----------------------------------------------------------------------


def log_loss(y_true: NDArray[np.int64], proba: NDArray[np.float64], *, n_classes: int) -> float:
    """Mean negative log-likelihood of the true class (cross-entropy, natural log), ≥ 0: the
    mean of `log_losses`.

    `proba` is P(class 1) of shape (n,) when ``n_classes == 2``, or (n, n_classes). The
    probability of the true class is clipped to [ε, 1 − ε] with ε the float64 machine
    epsilon, so a confident mistake costs about 36 rather than infinity. Rows are not
    renormalised (as scikit-learn since 1.5, which warns on rows not summing to 1).

    Reference: `sklearn.metrics.log_loss(..., labels=range(n_classes))`; Bishop (2006),
    *Pattern Recognition and Machine Learning*, §4.3.2.

    >>> import numpy as np
    >>> round(log_loss(np.array([1, 0, 0, 1]), np.array([0.9, 0.1, 0.2, 0.65]), n_classes=2), 5)
    0.21616
    """
    return float(np.mean(log_losses(y_true, proba, n_classes=n_classes)))


def log_losses(
    y_true: NDArray[np.int64], proba: NDArray[np.float64], *, n_classes: int
) -> NDArray[np.float64]:
    """Each row's negative log-likelihood of its true class, clipped as in `log_loss`.

    >>> import numpy as np
    >>> log_losses(np.array([1, 0]), np.array([0.5, 0.5]), n_classes=2).round(4).tolist()
    [0.6931, 0.6931]
    """
    integer_at_least("log_loss", "n_classes", n_classes, 2)
    y = class_codes("log_loss", "y_true", y_true, n_classes)
    p = probabilities("log_loss", y, proba, n_classes)
    p_true = np.where(y == 1, p, 1.0 - p) if p.ndim == 1 else p[np.arange(y.size), y]
    losses: NDArray[np.float64] = -np.log(np.clip(p_true, EPS, 1.0 - EPS))
    return losses


def brier_score_loss(y_true: NDArray[np.int64], proba: NDArray[np.float64]) -> float:
    """Binary Brier score: mean squared gap between P(class 1) and the outcome, in [0, 1].

    Reference: Brier (1950), *Verification of forecasts expressed in terms of probability*;
    `sklearn.metrics.brier_score_loss(y, proba, pos_label=1)`.

    >>> import numpy as np
    >>> round(brier_score_loss(np.array([0, 1, 1, 0]), np.array([0.1, 0.9, 0.8, 0.3])), 4)
    0.0375
    """
    y = class_codes("brier_score_loss", "y_true", y_true, 2)
    p = probabilities("brier_score_loss", y, proba, None)
    return float(np.mean(np.square(p - y)))


def multiclass_brier_score_loss(y_true: NDArray[np.int64], proba: NDArray[np.float64]) -> float:
    """Multiclass Brier score: mean over rows of Σ_k (p_k − 1[y = k])², in [0, 2].

    This is Brier's original definition, summed over all K columns of `proba` (n, K). With
    K ≥ 3 it equals scikit-learn ≥ 1.7's `brier_score_loss(y, proba, labels=range(K))`; for
    K = 2 scikit-learn halves it by default (``scale_by_half="auto"``) to match the binary
    score, so there it is twice `brier_score_loss`. Earlier scikit-learn versions had no
    multiclass Brier score.

    Reference: Brier (1950); `sklearn.metrics.brier_score_loss(..., scale_by_half=False)`.

    >>> import numpy as np
    >>> proba = np.array([[0.8, 0.1, 0.1], [0.2, 0.6, 0.2]])
    >>> round(multiclass_brier_score_loss(np.array([0, 2]), proba), 4)  # (0.06 + 1.04) / 2
    0.55
    """
    metric = "multiclass_brier_score_loss"
    p = _proba_matrix(metric, proba)
    y = class_codes(metric, "y_true", y_true, p.shape[1])
    p = probabilities(metric, y, p, p.shape[1])
    p_true = p[np.arange(y.size), y]
    # Σ_k p_k² − p_y² + (1 − p_y)² per row, without an (n, K) temporary.
    others = float(np.vdot(p, p)) - float(np.dot(p_true, p_true))
    return (others + float(np.sum(np.square(1.0 - p_true)))) / y.size


def expected_calibration_error(
    y_true: NDArray[np.int64], proba: NDArray[np.float64], *, n_bins: int = 10
) -> float:
    """Expected calibration error of P(class 1): Σ_b (n_b / n) · |mean(y in b) − mean(p in b)|.

    The bins split [0, 1] into `n_bins` equal widths; bin b holds p in
    [b / n_bins, (b + 1) / n_bins), and p = 1 falls in the last bin (the edges are
    ``np.linspace(0, 1, n_bins + 1)``, as `sklearn.calibration.calibration_curve` with
    ``strategy="uniform"`` uses). Empty bins weigh nothing. 0 is perfectly calibrated; the
    value is in [0, 1].

    Reference: Naeini, Cooper & Hauskrecht (2015), *Obtaining well calibrated probabilities
    using Bayesian binning*, AAAI.

    >>> import numpy as np
    >>> expected_calibration_error(np.array([0, 1, 1, 1]), np.array([0.25, 0.75, 0.75, 0.75]))
    0.25
    """
    y = class_codes("expected_calibration_error", "y_true", y_true, 2)
    p = probabilities("expected_calibration_error", y, proba, None)
    return _calibration_error("expected_calibration_error", y, p, n_bins)


def top_label_calibration_error(
    y_true: NDArray[np.int64], proba: NDArray[np.float64], *, n_bins: int = 10
) -> float:
    """Expected calibration error of the top label: confidence max_k p_k against correctness.

    Each row's predicted class is its most probable column (the first on a tie) and its
    confidence that column's probability; the ECE of `expected_calibration_error` is taken
    between confidence and whether the prediction is right. In [0, 1].

    Reference: Guo, Pleiss, Sun & Weinberger (2017), *On calibration of modern neural
    networks*, ICML; Naeini et al. (2015).

    >>> import numpy as np
    >>> proba = np.array([[0.9, 0.05, 0.05], [0.1, 0.6, 0.3], [0.2, 0.2, 0.6]])
    >>> round(top_label_calibration_error(np.array([0, 1, 0]), proba), 4)
    0.1
    """
    metric = "top_label_calibration_error"
    p = _proba_matrix(metric, proba)
    y = class_codes(metric, "y_true", y_true, p.shape[1])
    p = probabilities(metric, y, p, p.shape[1])
    predicted = np.argmax(p, axis=1)
    confidence = p[np.arange(y.size), predicted]
    return _calibration_error(metric, predicted == y, confidence, n_bins)


# --- private ----------------------------------------------------------------------------------


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else 0.0


def _ratios(
    numerator: NDArray[np.float64], denominator: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Element-wise ratio, 0.0 where the denominator is 0 (scikit-learn's zero_division=0)."""
    out = np.zeros_like(numerator)
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    return out


def _checked_matrix(cm: NDArray[np.int64]) -> NDArray[np.int64]:
    matrix = np.asarray(cm)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] == 0:
        raise ValueError(
            "precision_recall_f1 needs a square confusion matrix (K × K counts, rows true, "
            f"columns predicted); got shape {matrix.shape}. Build it with confusion_matrix."
        )
    if matrix.dtype.kind not in "iu" or int(matrix.min()) < 0 or int(matrix.sum()) == 0:
        raise ValueError(
            "precision_recall_f1 needs integer counts >= 0 with at least one row counted; got "
            f"dtype {matrix.dtype}, total {matrix.sum()}. Build it with confusion_matrix."
        )
    return matrix.astype(np.int64, copy=False)


def _confusion(
    metric: str, y_true: NDArray[np.int64], y_pred: NDArray[np.int64], n_classes: int
) -> NDArray[np.int64]:
    integer_at_least(metric, "n_classes", n_classes, 1)
    true, pred = label_pair(metric, y_true, y_pred, n_classes)
    counts = np.bincount(true * n_classes + pred, minlength=n_classes * n_classes)
    return counts.reshape(n_classes, n_classes).astype(np.int64, copy=False)


def _proba_matrix(metric: str, proba: NDArray[np.float64]) -> NDArray[np.float64]:
    p = np.asarray(proba, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] < 2:
        raise ValueError(
            f"{metric} needs proba of shape (n, K) with K >= 2, one column per class code; "
            f"got shape {p.shape}. For a binary task pass P(class 1) to the binary metric."
        )
    return p


def _auc_of_sorted(positive: NDArray[np.float64], negative: NDArray[np.float64]) -> float:
    """Mann–Whitney AUC from the sorted scores of the positives and of the negatives."""
    below = np.searchsorted(negative, positive, side="left")
    below_or_tied = np.searchsorted(negative, positive, side="right")
    # Twice the count of (positive, negative) pairs won, a tie being half a win: an integer.
    twice_won = int(below.sum()) + int(below_or_tied.sum())
    return twice_won / (2 * positive.size * negative.size)


def _calibration_error(
    metric: str,
    outcome: NDArray[np.int64] | NDArray[np.bool_],
    confidence: NDArray[np.float64],
    n_bins: int,
) -> float:
    integer_at_least(metric, "n_bins", n_bins, 1)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    bins = np.searchsorted(edges[1:-1], confidence, side="right")
    outcome_sums = np.bincount(bins, weights=outcome, minlength=n_bins)
    confidence_sums = np.bincount(bins, weights=confidence, minlength=n_bins)
    # (n_b / n)·|ȳ_b − p̄_b| = |Σ_b y − Σ_b p| / n, with no division by an empty bin.
    return float(np.sum(np.abs(outcome_sums - confidence_sums)) / confidence.size)
