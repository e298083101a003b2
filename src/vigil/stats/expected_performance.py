"""Classification performance expected from calibrated probabilities, before any label.

If row i's true class is drawn with probabilities ``p_i`` (calibrated scores), the confusion
matrix of a set is a random matrix whose mean is ``Σ_{i predicted j} p_i`` in column j — the
expected confusion matrix of confidence-based performance estimation (CBPE) — and whose
covariance is known: the rows are independent and row i's one-hot label has covariance
``diag(p_i) − p_i p_iᵀ``. Every metric here is a function of such sums of labels, so its
estimate is that function at the expectation, and its standard error (the spread of the
realized metric over label draws at the set's size) follows by the delta method.

Codes and shapes as in `vigil.stats.classification`: ``predicted`` holds class codes
``0 .. K−1``; ``proba`` is (n, K), one column per class code; in a binary task the positive
class is code 1.

References: NannyML, *Confidence-based Performance Estimation* (docs, "How it works");
Hanley & McNeil (1982) for the AUC as a Mann–Whitney statistic; the delta method, e.g.
Casella & Berger, *Statistical Inference*, §5.5.4.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np
from numpy.typing import NDArray

Averaging = Literal["binary", "macro"]
CONFUSION_SCORES = ("accuracy", "precision", "recall", "f1", "specificity")


def _check(predicted: NDArray[np.int64], proba: NDArray[np.float64]) -> int:
    if proba.ndim != 2 or predicted.shape != (proba.shape[0],):
        raise ValueError(
            f"expected performance needs one predicted class per row of an (n, K) probability "
            f"array; got {predicted.shape} predictions and {proba.shape} probabilities."
        )
    if proba.shape[0] == 0:
        raise ValueError("expected performance needs at least one row; got none.")
    k = int(proba.shape[1])
    if predicted.size and (predicted.min() < 0 or predicted.max() >= k):
        raise ValueError(f"predicted class codes must be in 0..{k - 1}; got {predicted.max()}.")
    if not np.isfinite(proba).all() or proba.min() < 0 or proba.max() > 1:
        raise ValueError("probabilities must be finite and in [0, 1]; calibrate or clip them.")
    return k


def expected_confusion_matrix(
    predicted: NDArray[np.int64], proba: NDArray[np.float64]
) -> NDArray[np.float64]:
    """``cm[i, j]``: the expected number of rows of true class i predicted as j.

    >>> expected_confusion_matrix(np.array([1, 0]), np.array([[0.2, 0.8], [0.9, 0.1]])).tolist()
    [[0.9, 0.2], [0.1, 0.8]]
    """
    k = _check(predicted, proba)
    onehot = np.eye(k)[predicted]
    return np.asarray((onehot.T @ proba).T, dtype=np.float64)


def confusion_scores(matrix: NDArray[np.float64], *, average: Averaging) -> dict[str, float]:
    """Accuracy, precision, recall, F1 and specificity of a (possibly fractional) confusion
    matrix; ``binary`` scores class 1, ``macro`` averages the classes' one-vs-rest scores.
    A ratio whose denominator is 0 counts as 0, as NannyML and scikit-learn do.

    >>> confusion_scores(np.array([[40.0, 10.0], [5.0, 45.0]]), average="binary")["f1"]
    0.8571428571428571
    """
    n = float(matrix.sum())
    tp = np.diag(matrix)
    fp = matrix.sum(axis=0) - tp
    fn = matrix.sum(axis=1) - tp
    tn = n - tp - fp - fn

    def ratio(a: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.divide(a, b, out=np.zeros_like(a), where=b != 0)

    per_class = {
        "precision": ratio(tp, tp + fp),
        "recall": ratio(tp, tp + fn),
        "f1": ratio(2 * tp, 2 * tp + fp + fn),
        "specificity": ratio(tn, tn + fp),
    }
    if average == "binary":
        chosen = {name: float(values[1]) for name, values in per_class.items()}
    else:
        chosen = {name: float(values.mean()) for name, values in per_class.items()}
    return {"accuracy": float(tp.sum() / n) if n else 0.0, **chosen}


def confusion_score_standard_errors(
    predicted: NDArray[np.int64], proba: NDArray[np.float64], *, average: Averaging
) -> dict[str, float]:
    """The standard error of each `confusion_scores` value over labels drawn from `proba`.

    Column j of the confusion matrix is a sum of independent one-hot labels (the rows
    predicted j), with covariance ``diag(Σp) − PⱼᵀPⱼ``; the columns are independent. The
    gradient of each score is taken by central differences on the matrix's cells.

    >>> se = confusion_score_standard_errors(np.array([1, 1]), np.array([[0.5, 0.5]] * 2),
    ...                                      average="binary")
    >>> round(se["accuracy"], 4)  # two fair coins: √(2 · 0.25) / 2
    0.3536
    """
    k = _check(predicted, proba)
    matrix = expected_confusion_matrix(predicted, proba)
    blocks = []
    for j in range(k):
        rows = proba[predicted == j]
        blocks.append(np.diag(rows.sum(axis=0)) - rows.T @ rows)

    def scores(flat: NDArray[np.float64]) -> NDArray[np.float64]:
        found = confusion_scores(flat.reshape(k, k), average=average)
        return np.array([found[name] for name in CONFUSION_SCORES])

    gradient = _gradient(scores, matrix.ravel(), step=max(1e-6 * float(matrix.sum()), 1e-7))
    out: dict[str, float] = {}
    for s, name in enumerate(CONFUSION_SCORES):
        g = gradient[s].reshape(k, k)  # g[i, j]: d score / d cm[i, j]
        variance = sum(float(g[:, j] @ blocks[j] @ g[:, j]) for j in range(k))
        out[name] = float(np.sqrt(max(variance, 0.0)))
    return out


def _gradient(
    fn: Callable[[NDArray[np.float64]], NDArray[np.float64]],
    at: NDArray[np.float64],
    *,
    step: float,
) -> NDArray[np.float64]:
    """Central-difference Jacobian of `fn` (vector → vector) at `at`: (outputs, inputs)."""
    columns = []
    for i in range(at.size):
        up, down = at.copy(), at.copy()
        up[i] += step
        down[i] -= step
        columns.append((fn(up) - fn(down)) / (2 * step))
    return np.column_stack(columns)


def _midranks(scores: NDArray[np.float64]) -> NDArray[np.float64]:
    """1-based ranks of `scores`, ties sharing their mean rank."""
    order = np.argsort(scores, kind="stable")
    ordered = scores[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], ordered.size]
    mean_rank = (starts + ends + 1) / 2.0
    ranks = np.empty(scores.size)
    ranks[order] = np.repeat(mean_rank, ends - starts)
    return ranks


def expected_roc_auc(scores: NDArray[np.float64], proba: NDArray[np.float64]) -> float:
    """The ROC AUC of `scores` expected when row i is positive with probability ``proba[i]``.

    The rows are ranked by the model's own scores (highest first; tied scores as one step);
    at each threshold the expected true and false positives are the sums of ``p`` and
    ``1 − p`` above it, and the area under that expected curve is the estimate (NannyML's
    CBPE estimate of ROC AUC).

    >>> round(expected_roc_auc(np.array([0.9, 0.8, 0.3, 0.1]), np.array([1.0, 1.0, 0.0, 0.0])), 6)
    1.0
    """
    s = np.asarray(scores, dtype=np.float64)
    p = np.asarray(proba, dtype=np.float64)
    if s.shape != p.shape or s.ndim != 1 or s.size == 0:
        raise ValueError(
            f"expected_roc_auc needs one probability per score; got {s.shape} and {p.shape}."
        )
    order = np.argsort(-s, kind="stable")
    s, p = s[order], p[order]
    last = np.r_[s[1:] != s[:-1], True]  # the last row of each group of tied scores
    tps = np.r_[0.0, np.cumsum(p)[last]]
    fps = np.r_[0.0, np.cumsum(1.0 - p)[last]]
    if tps[-1] <= 0 or fps[-1] <= 0:
        raise ValueError(
            "expected_roc_auc needs both classes to be possible: the probabilities sum to "
            f"{tps[-1]:.3g} positives and {fps[-1]:.3g} negatives."
        )
    return float(np.trapezoid(tps / tps[-1], fps / fps[-1]))


def expected_roc_auc_standard_error(
    scores: NDArray[np.float64], proba: NDArray[np.float64]
) -> float:
    """The standard error of the realized one-vs-rest ROC AUC, averaged over the K columns
    of `scores` and `proba` (one column: a binary AUC), over labels drawn from `proba`.

    Class k's AUC is ``(S_k − N_k(N_k+1)/2) / (N_k (n − N_k))`` with ``S_k`` the sum of the
    positives' midranks and ``N_k`` their number: both are sums of the labels, whose
    covariances across the classes of one row are ``δ p_k − p_k p_l``. With K ≥ 2 the columns
    of `proba` are one row's class probabilities.

    >>> s = np.linspace(0, 1, 200)
    >>> round(expected_roc_auc_standard_error(s, s), 3)
    0.026
    """
    s = np.asarray(scores, dtype=np.float64)
    p = np.asarray(proba, dtype=np.float64)
    if s.ndim == 1:
        s, p = s[:, None], p[:, None]
    if s.shape != p.shape or s.shape[0] < 2:
        raise ValueError(
            f"the AUC's standard error needs at least two rows, one probability per score; "
            f"got {s.shape} and {p.shape}."
        )
    n, k = s.shape
    ranks = np.column_stack([_midranks(s[:, c]) for c in range(k)])
    rp = ranks * p
    # the labels' covariance, δ p_k − p_k p_l per row (one column: p(1 − p))
    cov_ss = np.diag((ranks * rp).sum(axis=0)) - rp.T @ rp
    cov_sn = np.diag(rp.sum(axis=0)) - rp.T @ p
    cov_nn = np.diag(p.sum(axis=0)) - p.T @ p
    covariance = np.block([[cov_ss, cov_sn], [cov_sn.T, cov_nn]])
    big_s, big_n = rp.sum(axis=0), p.sum(axis=0)
    denominator = big_n * (n - big_n)
    if (denominator <= 0).any():
        raise ValueError("the AUC's standard error needs both classes to be possible.")
    d_s = 1.0 / denominator
    numerator = big_s - big_n * (big_n + 1) / 2
    d_n = (-(big_n + 0.5) * denominator - numerator * (n - 2 * big_n)) / denominator**2
    gradient = np.r_[d_s, d_n] / k
    return float(np.sqrt(max(float(gradient @ covariance @ gradient), 0.0)))
