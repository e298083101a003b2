"""Standard errors of the performance metrics, against the spread of repeated samples."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats

from vigil.stats import (
    auc_standard_error,
    average_precision_score,
    binomial_standard_error,
    bootstrap_scales,
    log_losses,
    mean_standard_error,
    roc_auc_score,
)


def test_binomial_standard_error_is_the_spread_of_a_proportion() -> None:
    rng = np.random.default_rng(1)
    shares = rng.binomial(400, 0.9, 50_000) / 400
    assert binomial_standard_error(0.9, 400) == pytest.approx(np.std(shares), rel=0.02)


def test_mean_standard_error_is_scipys_sem() -> None:
    values = np.random.default_rng(2).exponential(2.0, 300)
    assert mean_standard_error(values) == pytest.approx(scipy.stats.sem(values))
    assert mean_standard_error(np.array([3.0])) == 0.0


@pytest.mark.parametrize(
    ("separation", "positives", "negatives"), [(1.0, 150, 350), (2.5, 60, 900)]
)
def test_auc_standard_error_is_the_spread_of_the_auc_across_samples(
    separation: float, positives: int, negatives: int
) -> None:
    """DeLong's standard error, averaged over 600 samples of binormal scores, against the
    spread of their AUCs (vigil's `roc_auc_score`, which equals scikit-learn's:
    test_classification.py)."""
    rng = np.random.default_rng(3)
    labels = np.r_[np.ones(positives), np.zeros(negatives)].astype(np.int64)
    aucs, errors = [], []
    for _ in range(600):
        scores = np.r_[rng.normal(separation, 1, positives), rng.normal(0, 1, negatives)]
        aucs.append(roc_auc_score(labels, scores))
        errors.append(auc_standard_error(labels, scores))
    assert np.mean(errors) == pytest.approx(np.std(aucs), rel=0.1)


def test_auc_standard_error_needs_both_classes_twice() -> None:
    with pytest.raises(ValueError, match="at least two rows of each class"):
        auc_standard_error(np.array([1, 0, 0]), np.array([0.9, 0.2, 0.1]))


def test_bootstrap_scales_recover_the_spread_of_a_metric_across_samples() -> None:
    rng = np.random.default_rng(4)

    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = (rng.random(n) < 0.3).astype(np.int64)
        p = np.clip(0.3 + 0.35 * (y - 0.3) + rng.normal(0, 0.2, n), 0.001, 0.999)
        return y, p

    n = 1500
    spread = np.std([average_precision_score(*draw(n)) for _ in range(600)])
    y, p = draw(20_000)
    scales = bootstrap_scales(
        {
            "pr_auc": average_precision_score,
            "log_loss": lambda t, s: float(np.mean(log_losses(t, s, n_classes=2))),
        },
        [y, p],
        size=2000,
        draws=300,
    )
    assert scales["pr_auc"] is not None
    assert scales["pr_auc"] / np.sqrt(n) == pytest.approx(spread, rel=0.15)
    # for a mean the bootstrap and the formula agree
    assert scales["log_loss"] / np.sqrt(len(y)) == pytest.approx(
        mean_standard_error(log_losses(y, p, n_classes=2)), rel=0.15
    )
    again = bootstrap_scales({"pr_auc": average_precision_score}, [y, p])
    assert again == bootstrap_scales({"pr_auc": average_precision_score}, [y, p])  # seeded


def test_bootstrap_scales_give_none_where_the_metric_cannot_be_computed() -> None:
    def needs_two_classes(y: np.ndarray) -> float:
        if len(set(y.tolist())) < 2:
            raise ValueError("one class")
        return float(np.mean(y))

    assert bootstrap_scales({"m": needs_two_classes}, [np.zeros(50)]) == {"m": None}
    assert bootstrap_scales({"m": needs_two_classes}, [np.zeros(1)]) == {"m": None}


@pytest.mark.parametrize("decimals", [None, 1])
def test_auc_standard_error_equals_delongs_midrank_formula(decimals: int | None) -> None:
    """The placements from binary search agree with DeLong's definition by midranks
    (scipy's rankdata), ties included."""
    rng = np.random.default_rng(5)
    y = (rng.random(4000) < 0.3).astype(np.int64)
    scores = rng.normal(y, 1.0, 4000)
    if decimals is not None:
        scores = np.round(scores, decimals)
    positive, negative = scores[y == 1], scores[y == 0]
    m, n = positive.size, negative.size
    pooled = scipy.stats.rankdata(np.r_[positive, negative])
    v10 = (pooled[:m] - scipy.stats.rankdata(positive)) / n
    v01 = 1 - (pooled[m:] - scipy.stats.rankdata(negative)) / m
    expected = np.sqrt(np.var(v10, ddof=1) / m + np.var(v01, ddof=1) / n)
    assert auc_standard_error(y, scores) == pytest.approx(expected, rel=1e-12)
