"""Expected performance from probabilities, and isotonic calibration: against scikit-learn,
against simulation, and by Hypothesis properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics
from sklearn.isotonic import IsotonicRegression

from vigil.stats.expected_performance import (
    confusion_score_standard_errors,
    confusion_scores,
    expected_confusion_matrix,
    expected_roc_auc,
    expected_roc_auc_standard_error,
)
from vigil.stats.isotonic import fit_isotonic


@st.composite
def labelled(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = draw(st.integers(4, 60))
    k = draw(st.integers(2, 4))
    y = np.array(draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n)))
    pred = np.array(draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n)))
    return y, pred, np.eye(k)[y]


@given(labelled())
def test_certain_probabilities_give_the_realized_confusion_and_scores(
    case: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    y, pred, onehot = case
    k = onehot.shape[1]
    matrix = expected_confusion_matrix(pred, onehot)
    realized = metrics.confusion_matrix(y, pred, labels=list(range(k)))
    np.testing.assert_allclose(matrix, realized)
    found = confusion_scores(matrix, average="macro")
    assert found["accuracy"] == pytest.approx(metrics.accuracy_score(y, pred))
    for name, fn in (
        ("precision", metrics.precision_score),
        ("recall", metrics.recall_score),
        ("f1", metrics.f1_score),
    ):
        expected = fn(y, pred, average="macro", labels=list(range(k)), zero_division=0)
        assert found[name] == pytest.approx(expected), name
    # no label noise, no standard error
    se = confusion_score_standard_errors(pred, onehot, average="macro")
    assert all(v == pytest.approx(0.0, abs=1e-6) for v in se.values())


@given(labelled())
def test_the_expected_confusion_keeps_each_prediction_columns_total(
    case: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    _, pred, onehot = case
    rng = np.random.default_rng(0)
    proba = rng.dirichlet(np.ones(onehot.shape[1]), size=pred.size)
    matrix = expected_confusion_matrix(pred, proba)
    np.testing.assert_allclose(matrix.sum(axis=0), np.bincount(pred, minlength=proba.shape[1]))
    assert matrix.sum() == pytest.approx(pred.size)


@given(
    st.lists(st.floats(0, 1), min_size=4, max_size=80),
    st.lists(st.booleans(), min_size=4, max_size=80),
)
def test_with_certain_labels_the_expected_auc_is_the_realized_auc(
    scores: list[float], positive: list[bool]
) -> None:
    n = min(len(scores), len(positive))
    s, y = np.round(np.array(scores[:n]), 2), np.array(positive[:n], dtype=int)
    if y.min() == y.max():
        with pytest.raises(ValueError, match="both classes"):
            expected_roc_auc(s, y.astype(float))
        return
    assert expected_roc_auc(s, y.astype(float)) == pytest.approx(metrics.roc_auc_score(y, s))


def test_the_expected_auc_is_the_mean_realized_auc_of_drawn_labels() -> None:
    rng = np.random.default_rng(11)
    p = rng.beta(0.7, 0.7, size=3000)
    draws = []
    for _ in range(300):
        y = (rng.random(p.size) < p).astype(int)
        draws.append(metrics.roc_auc_score(y, p))
    assert expected_roc_auc(p, p) == pytest.approx(np.mean(draws), abs=0.002)
    assert expected_roc_auc_standard_error(p, p) == pytest.approx(np.std(draws), rel=0.15)


def test_multiclass_standard_errors_match_drawn_labels() -> None:
    rng = np.random.default_rng(5)
    proba = rng.dirichlet([1.0, 1.0, 1.0], size=1500)
    pred = proba.argmax(axis=1)
    draws: dict[str, list[float]] = {"accuracy": [], "f1": [], "roc_auc": []}
    for _ in range(300):
        u = rng.random(proba.shape[0])[:, None]
        y = (u > proba.cumsum(axis=1)).sum(axis=1)
        draws["accuracy"].append(metrics.accuracy_score(y, pred))
        draws["f1"].append(metrics.f1_score(y, pred, average="macro"))
        draws["roc_auc"].append(metrics.roc_auc_score(y, proba, multi_class="ovr"))
    se = confusion_score_standard_errors(pred, proba, average="macro")
    assert se["accuracy"] == pytest.approx(np.std(draws["accuracy"]), rel=0.15)
    assert se["f1"] == pytest.approx(np.std(draws["f1"]), rel=0.15)
    assert expected_roc_auc_standard_error(proba, proba) == pytest.approx(
        np.std(draws["roc_auc"]), rel=0.15
    )


@settings(max_examples=60)
@given(
    st.lists(st.floats(-5, 5), min_size=1, max_size=60),
    st.lists(st.integers(0, 1), min_size=1, max_size=60),
    st.lists(st.floats(-6, 6), min_size=1, max_size=20),
)
def test_isotonic_matches_scikit_learn(x: list[float], y: list[int], new: list[float]) -> None:
    n = min(len(x), len(y))
    xs, ys = np.round(np.array(x[:n]), 1), np.array(y[:n], dtype=float)
    fitted = fit_isotonic(xs, ys)
    reference = IsotonicRegression(out_of_bounds="clip", increasing=True).fit(xs, ys)
    points = np.array(new)
    np.testing.assert_allclose(fitted.apply(points), reference.predict(points), atol=1e-9)
    np.testing.assert_allclose(fitted.apply(xs), reference.predict(xs), atol=1e-9)


def test_bad_input_is_refused_with_the_shapes() -> None:
    with pytest.raises(ValueError, match="one label per score"):
        fit_isotonic(np.array([0.1, 0.2]), np.array([1]))
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        expected_confusion_matrix(np.array([0]), np.array([[1.5, -0.5]]))
    with pytest.raises(ValueError, match=r"codes must be in 0\.\.1"):
        expected_confusion_matrix(np.array([2]), np.array([[0.5, 0.5]]))
