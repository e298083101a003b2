import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn import calibration
from sklearn import metrics as skm

from vigil.stats.classification import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    confusion_matrix,
    expected_calibration_error,
    f1_score,
    false_negative_rate,
    false_positive_rate,
    log_loss,
    multiclass_brier_score_loss,
    precision_recall_f1,
    precision_score,
    recall_score,
    roc_auc_score,
    roc_auc_score_ovr,
    top_label_calibration_error,
)

from .strategies import PROPERTIES


def close(value: float, expected: float, tol: float = 1e-9) -> bool:
    """Within `tol`, absolute below 1 and relative above."""
    return abs(value - expected) <= tol * max(1.0, abs(expected))


# --- seeded data ------------------------------------------------------------------------------


def binary_data(
    n: int, *, seed: int, ties: bool = False, positive_share: float = 0.4
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Codes with both classes, an informative P(class 1), and a prediction at 0.5."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < positive_share).astype(np.int64)
    y[:2] = [0, 1]
    proba = 1.0 / (1.0 + np.exp(-(1.5 * y - 0.75 + rng.normal(size=n))))
    if ties:
        proba = np.round(proba * 8) / 8  # nine distinct values, 0 and 1 included
    return y, proba, (proba >= 0.5).astype(np.int64)


def multiclass_data(
    n: int, k: int, *, seed: int, ties: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Codes with every class (when n >= k), probabilities whose rows sum to 1, predictions."""
    rng = np.random.default_rng(seed)
    y = rng.choice(k, size=n, p=np.linspace(1.0, 3.0, k) / np.linspace(1.0, 3.0, k).sum())
    y[: min(n, k)] = np.arange(min(n, k))
    logits = rng.normal(size=(n, k)) + 1.2 * np.eye(k)[y]
    if ties:  # rows drawn from a small palette: many tied values in every column
        palette = rng.dirichlet(np.ones(k), size=6)
        logits = np.log(palette[rng.integers(0, 6, n)]) + 0.5 * np.eye(k)[y]
    proba = np.exp(logits - logits.max(axis=1, keepdims=True))
    proba /= proba.sum(axis=1, keepdims=True)
    return y, proba, np.argmax(proba, axis=1).astype(np.int64)


def reference_ece(y: np.ndarray, p: np.ndarray, n_bins: int) -> float:
    """ECE from scikit-learn's per-bin means and numpy's per-bin counts."""
    prob_true, prob_pred = calibration.calibration_curve(y, p, n_bins=n_bins, strategy="uniform")
    counts, _ = np.histogram(p, bins=np.linspace(0.0, 1.0, n_bins + 1))
    filled = counts[counts > 0]
    return float(np.sum(filled * np.abs(prob_true - prob_pred)) / p.size)


BINARY_CASES = [
    pytest.param(n, seed, ties, share, id=f"n={n}-seed={seed}-ties={ties}-share={share}")
    for n, seed, ties, share in [
        (2, 0, False, 0.5),
        (3, 1, True, 0.5),
        (4, 2, False, 0.5),
        (5, 3, True, 0.5),
        (200, 4, False, 0.4),
        (200, 5, True, 0.4),
        (2000, 6, False, 0.02),  # imbalanced
        (2000, 7, True, 0.97),
        (100_000, 8, False, 0.3),
        (100_000, 9, True, 0.1),
    ]
]
MULTICLASS_CASES = [
    pytest.param(n, k, seed, ties, id=f"n={n}-k={k}-seed={seed}-ties={ties}")
    for n, k, seed, ties in [
        (3, 3, 0, False),
        (5, 3, 1, True),
        (7, 7, 2, False),
        (300, 3, 3, True),
        (300, 7, 4, False),
        (3000, 7, 5, True),
        (100_000, 3, 6, False),
        (100_000, 7, 7, True),
    ]
]


# --- against scikit-learn ---------------------------------------------------------------------


@pytest.mark.parametrize(("n", "seed", "ties", "share"), BINARY_CASES)
def test_binary_metrics_match_sklearn(n: int, seed: int, ties: bool, share: float) -> None:
    y, proba, pred = binary_data(n, seed=seed, ties=ties, positive_share=share)
    expected_cm = skm.confusion_matrix(y, pred, labels=[0, 1])
    np.testing.assert_array_equal(confusion_matrix(y, pred, n_classes=2), expected_cm)
    assert close(accuracy_score(y, pred), skm.accuracy_score(y, pred))
    kw = {"zero_division": 0}
    expected_prf = (
        skm.precision_score(y, pred, **kw),
        skm.recall_score(y, pred, **kw),
        skm.f1_score(y, pred, **kw),
    )
    ours = (
        precision_score(y, pred, n_classes=2),
        recall_score(y, pred, n_classes=2),
        f1_score(y, pred, n_classes=2),
    )
    assert all(close(a, b) for a, b in zip(ours, expected_prf, strict=True))
    assert precision_recall_f1(expected_cm, average="binary") == ours
    tn, fp = expected_cm[0]
    assert close(false_positive_rate(y, pred), fp / (fp + tn))
    assert close(false_negative_rate(y, pred), 1.0 - skm.recall_score(y, pred))
    assert close(roc_auc_score(y, proba), skm.roc_auc_score(y, proba))
    assert close(average_precision_score(y, proba), skm.average_precision_score(y, proba))
    assert close(log_loss(y, proba, n_classes=2), skm.log_loss(y, proba, labels=[0, 1]))
    assert close(brier_score_loss(y, proba), skm.brier_score_loss(y, proba, pos_label=1))
    for n_bins in (1, 5, 10, 15):
        ours_ece = expected_calibration_error(y, proba, n_bins=n_bins)
        assert close(ours_ece, reference_ece(y, proba, n_bins))


@pytest.mark.parametrize(("n", "k", "seed", "ties"), MULTICLASS_CASES)
def test_multiclass_metrics_match_sklearn(n: int, k: int, seed: int, ties: bool) -> None:
    y, proba, pred = multiclass_data(n, k, seed=seed, ties=ties)
    labels = list(range(k))
    cm = confusion_matrix(y, pred, n_classes=k)
    np.testing.assert_array_equal(cm, skm.confusion_matrix(y, pred, labels=labels))
    assert close(accuracy_score(y, pred), skm.accuracy_score(y, pred))
    for average in ("macro", "micro", "weighted"):
        expected = skm.precision_recall_fscore_support(
            y, pred, labels=labels, average=average, zero_division=0
        )[:3]
        ours = precision_recall_f1(cm, average=average)
        assert all(close(a, b) for a, b in zip(ours, expected, strict=True)), average
        assert close(precision_score(y, pred, n_classes=k, average=average), expected[0])
        assert close(recall_score(y, pred, n_classes=k, average=average), expected[1])
        assert close(f1_score(y, pred, n_classes=k, average=average), expected[2])
    for average in ("macro", "weighted"):
        expected_auc = skm.roc_auc_score(
            y, proba, multi_class="ovr", average=average, labels=labels
        )
        assert close(roc_auc_score_ovr(y, proba, average=average), expected_auc), average
    assert close(log_loss(y, proba, n_classes=k), skm.log_loss(y, proba, labels=labels))
    expected_brier = skm.brier_score_loss(y, proba, labels=labels, scale_by_half=False)
    assert close(multiclass_brier_score_loss(y, proba), expected_brier)
    correct = (pred == y).astype(np.int64)
    confidence = proba.max(axis=1)
    assert close(top_label_calibration_error(y, proba), reference_ece(correct, confidence, 10))


def test_multiclass_brier_matches_sklearn_default_for_three_or_more_classes() -> None:
    y, proba, _ = multiclass_data(500, 3, seed=11)
    assert close(multiclass_brier_score_loss(y, proba), skm.brier_score_loss(y, proba))
    # With two columns scikit-learn halves it to agree with the binary score.
    y2, p2, _ = binary_data(500, seed=12)
    two_columns = np.column_stack([1.0 - p2, p2])
    assert close(multiclass_brier_score_loss(y2, two_columns), 2 * brier_score_loss(y2, p2))


def test_log_loss_neither_renormalises_rows_nor_warns_like_sklearn() -> None:
    y, proba, _ = multiclass_data(400, 3, seed=13)
    unnormalised = proba * 0.9
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "The y_prob values do not sum to one"
        expected = skm.log_loss(y, unnormalised, labels=[0, 1, 2])
    assert close(log_loss(y, unnormalised, n_classes=3), expected)
    assert close(
        log_loss(y, unnormalised, n_classes=3), log_loss(y, proba, n_classes=3) - np.log(0.9)
    )


def test_log_loss_clips_certain_mistakes_like_sklearn() -> None:
    y = np.array([0, 1, 1, 0])
    proba = np.array([1.0, 0.0, 1.0, 0.0])
    assert close(log_loss(y, proba, n_classes=2), skm.log_loss(y, proba, labels=[0, 1]))
    assert log_loss(y, proba, n_classes=2) == pytest.approx(-np.log(np.finfo(float).eps) / 2)


def test_weighted_ovr_auc_skips_absent_classes_like_sklearn() -> None:
    y, proba, _ = multiclass_data(600, 4, seed=14)
    keep = y != 2
    y, proba = y[keep], proba[keep]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", skm._ranking.UndefinedMetricWarning)
        expected = skm.roc_auc_score(
            y, proba, multi_class="ovr", average="weighted", labels=[0, 1, 2, 3]
        )
    assert close(roc_auc_score_ovr(y, proba, average="weighted"), expected)
    with pytest.raises(ValueError, match=r"classes \[2\] have no row.*average='weighted'"):
        roc_auc_score_ovr(y, proba, average="macro")


def test_macro_scores_count_absent_classes_as_zero_like_sklearn() -> None:
    y, pred = np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2])
    cm = confusion_matrix(y, pred, n_classes=5)
    expected = skm.precision_recall_fscore_support(
        y, pred, labels=range(5), average="macro", zero_division=0
    )[:3]
    assert precision_recall_f1(cm, average="macro") == pytest.approx(expected, rel=1e-12)


def test_zero_division_gives_zero_without_warnings() -> None:
    y, pred = np.array([0, 0, 0]), np.array([0, 0, 0])
    assert precision_score(y, pred, n_classes=2) == 0.0
    assert recall_score(y, pred, n_classes=2) == 0.0
    assert f1_score(y, pred, n_classes=2) == 0.0
    assert false_negative_rate(y, pred) == 0.0
    assert false_positive_rate(np.array([1, 1]), np.array([1, 0])) == 0.0


def test_average_precision_is_one_without_negatives_like_sklearn() -> None:
    y, score = np.array([1, 1, 1]), np.array([0.2, 0.2, 0.9])
    assert average_precision_score(y, score) == skm.average_precision_score(y, score) == 1.0


# --- properties -------------------------------------------------------------------------------

_probability = st.one_of(
    st.floats(0.0, 1.0, allow_subnormal=False), st.integers(0, 4).map(lambda v: v / 4)
)


@st.composite
def binary_rows(draw: st.DrawFn, *, both_classes: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Codes 0/1 (both present if asked) and P(class 1), ties common."""
    n = draw(st.integers(2, 40))
    y = draw(arrays(np.int64, n, elements=st.integers(0, 1)))
    if both_classes:
        y[:2] = [0, 1]
    p = draw(arrays(np.float64, n, elements=_probability))
    return y, p


@st.composite
def multiclass_rows(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    """Codes covering all K classes and probabilities of shape (n, K); rows need not sum to 1."""
    k = draw(st.integers(2, 7))
    n = draw(st.integers(k, 40))
    y = draw(arrays(np.int64, n, elements=st.integers(0, k - 1)))
    y[:k] = np.arange(k)
    p = draw(arrays(np.float64, (n, k), elements=_probability))
    return y, p


def binary_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    pred = (p >= 0.5).astype(np.int64)
    cm = confusion_matrix(y, pred, n_classes=2)
    precision, recall, f1 = precision_recall_f1(cm, average="binary")
    return {
        "accuracy": accuracy_score(y, pred),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "fpr": false_positive_rate(y, pred),
        "fnr": false_negative_rate(y, pred),
        "roc_auc": roc_auc_score(y, p),
        "pr_auc": average_precision_score(y, p),
        "log_loss": log_loss(y, p, n_classes=2),
        "brier": brier_score_loss(y, p),
        "ece": expected_calibration_error(y, p),
    }


def multiclass_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    k = p.shape[1]
    pred = np.argmax(p, axis=1)
    cm = confusion_matrix(y, pred, n_classes=k)
    values = {"accuracy": accuracy_score(y, pred)}
    for average in ("macro", "micro", "weighted"):
        precision, recall, f1 = precision_recall_f1(cm, average=average)
        values |= {f"precision_{average}": precision, f"recall_{average}": recall}
        values[f"f1_{average}"] = f1
    return values | {
        "roc_auc_macro": roc_auc_score_ovr(y, p),
        "roc_auc_weighted": roc_auc_score_ovr(y, p, average="weighted"),
        "log_loss": log_loss(y, p, n_classes=k),
        "brier": multiclass_brier_score_loss(y, p),
        "ece": top_label_calibration_error(y, p),
    }


@PROPERTIES
@given(binary_rows(), st.integers(0, 2**32 - 1))
def test_binary_metrics_ignore_row_order(rows: tuple[np.ndarray, np.ndarray], seed: int) -> None:
    y, p = rows
    order = np.random.default_rng(seed).permutation(y.size)
    before, after = binary_metrics(y, p), binary_metrics(y[order], p[order])
    assert after == pytest.approx(before, rel=1e-12, abs=1e-15)


@PROPERTIES
@given(multiclass_rows(), st.integers(0, 2**32 - 1))
def test_multiclass_metrics_ignore_row_order(
    rows: tuple[np.ndarray, np.ndarray], seed: int
) -> None:
    y, p = rows
    order = np.random.default_rng(seed).permutation(y.size)
    before, after = multiclass_metrics(y, p), multiclass_metrics(y[order], p[order])
    assert after == pytest.approx(before, rel=1e-12, abs=1e-15)


@PROPERTIES
@given(binary_rows(both_classes=False))
def test_binary_metrics_stay_in_bounds(rows: tuple[np.ndarray, np.ndarray]) -> None:
    y, p = rows
    bounded = {"accuracy", "precision", "recall", "f1", "fpr", "fnr", "roc_auc", "pr_auc"}
    if y.min() == y.max():  # the ranking metrics need both classes (PR AUC: a positive)
        with pytest.raises(ValueError, match="both classes"):
            roc_auc_score(y, p)
        y = np.append(y, [0, 1])
        p = np.append(p, [0.5, 0.5])
    values = binary_metrics(y, p)
    for name in bounded | {"brier", "ece"}:
        assert 0.0 <= values[name] <= 1.0, name
    assert 0.0 <= values["log_loss"] <= -np.log(np.finfo(float).eps) + 1e-12


@PROPERTIES
@given(multiclass_rows())
def test_multiclass_metrics_stay_in_bounds(rows: tuple[np.ndarray, np.ndarray]) -> None:
    y, p = rows
    values = multiclass_metrics(y, p)
    for name, value in values.items():
        if name not in ("log_loss", "brier"):
            assert 0.0 <= value <= 1.0, name
    assert values["log_loss"] >= 0.0
    # Σ_k (p_k − 1[y=k])² with p_k in [0, 1] is at most K.
    assert 0.0 <= values["brier"] <= p.shape[1]


@PROPERTIES
@given(binary_rows())
def test_reversing_the_scores_flips_roc_auc(rows: tuple[np.ndarray, np.ndarray]) -> None:
    y, p = rows
    assert roc_auc_score(y, -p) == pytest.approx(1.0 - roc_auc_score(y, p), abs=1e-15)


@PROPERTIES
@given(binary_rows(), st.floats(0.001, 0.499))
def test_perfect_binary_predictions_score_one(
    rows: tuple[np.ndarray, np.ndarray], margin: float
) -> None:
    y, _ = rows
    proba = np.where(y == 1, 1.0 - margin, margin)
    values = binary_metrics(y, proba)
    for name in ("accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc"):
        assert values[name] == 1.0, name
    assert values["fpr"] == values["fnr"] == 0.0
    certain = y.astype(np.float64)
    assert brier_score_loss(y, certain) == 0.0
    assert expected_calibration_error(y, certain) == 0.0
    assert log_loss(y, certain, n_classes=2) == pytest.approx(0.0, abs=1e-15)


@PROPERTIES
@given(multiclass_rows())
def test_perfect_multiclass_predictions_score_one(rows: tuple[np.ndarray, np.ndarray]) -> None:
    y, p = rows
    one_hot = np.eye(p.shape[1])[y]
    values = multiclass_metrics(y, one_hot)
    for name, value in values.items():
        if name in ("log_loss", "brier", "ece"):
            assert value == pytest.approx(0.0, abs=1e-15), name
        else:
            assert value == 1.0, name


@PROPERTIES
@given(binary_rows(), st.integers(1, 20))
def test_ece_is_zero_when_every_bin_is_calibrated(
    rows: tuple[np.ndarray, np.ndarray], n_bins: int
) -> None:
    # One bin holding all rows, with p = the share of positives: calibrated by construction.
    y, _ = rows
    p = np.full(y.size, y.mean())
    assert expected_calibration_error(y, p, n_bins=n_bins) == pytest.approx(0.0, abs=1e-15)


# --- bad input --------------------------------------------------------------------------------


def test_lengths_that_differ_are_named() -> None:
    y, p, pred = binary_data(10, seed=0)
    message = r"y_true has 10 rows and y_pred 9"
    with pytest.raises(ValueError, match=message):
        confusion_matrix(y, pred[:9], n_classes=2)
    with pytest.raises(ValueError, match=message):
        accuracy_score(y, pred[:9])
    with pytest.raises(ValueError, match=r"y_true has 10 rows and y_score 9"):
        roc_auc_score(y, p[:9])
    with pytest.raises(ValueError, match=r"y_true has 10 rows and proba 9"):
        log_loss(y, p[:9], n_classes=2)


def test_empty_input_is_rejected() -> None:
    empty = np.array([], dtype=np.int64)
    with pytest.raises(ValueError, match="at least one row"):
        accuracy_score(empty, empty)
    with pytest.raises(ValueError, match="at least one row"):
        brier_score_loss(empty, np.array([]))


@pytest.mark.parametrize("bad", [1.5, -0.25, np.nan, np.inf])
def test_probabilities_outside_0_1_or_nan_are_rejected(bad: float) -> None:
    y, p, _ = binary_data(10, seed=0)
    p[3] = bad
    counts = "1 NaN or infinite and 0" if not np.isfinite(bad) else "0 NaN or infinite and 1"
    message = rf"in \[0, 1\]; of 10 values got {counts} finite outside \[0, 1\]"
    for metric in (brier_score_loss, expected_calibration_error):
        with pytest.raises(ValueError, match=message):
            metric(y, p)
    with pytest.raises(ValueError, match=message):
        log_loss(y, p, n_classes=2)
    if np.isfinite(bad):
        with pytest.raises(ValueError, match=str(bad)):
            log_loss(y, p, n_classes=2)


def test_nan_scores_are_rejected() -> None:
    y, p, _ = binary_data(10, seed=0)
    p[[1, 4]] = np.nan
    with pytest.raises(ValueError, match="got 2 NaN or infinite of 10"):
        roc_auc_score(y, p)
    with pytest.raises(ValueError, match="got 2 NaN or infinite of 10"):
        average_precision_score(y, p)


def test_codes_out_of_range_are_named() -> None:
    with pytest.raises(ValueError, match=r"codes 0\.\.2 \(3 classes\); got codes from 0 to 4"):
        confusion_matrix(np.array([0, 1, 4]), np.array([0, 1, 2]), n_classes=3)
    with pytest.raises(ValueError, match="codes from -1 to 1"):
        roc_auc_score(np.array([-1, 0, 1]), np.array([0.1, 0.2, 0.3]))
    with pytest.raises(ValueError, match="dtype float64"):
        accuracy_score(np.array([0.0, 1.0]), np.array([0, 1]))


def test_one_class_has_no_roc_auc() -> None:
    with pytest.raises(ValueError, match="both classes in y_true; got 0 positive and 3 negative"):
        roc_auc_score(np.array([0, 0, 0]), np.array([0.1, 0.5, 0.9]))
    with pytest.raises(ValueError, match="at least two classes"):
        roc_auc_score_ovr(np.array([1, 1]), np.array([[0.2, 0.5, 0.3], [0.1, 0.8, 0.1]]))
    with pytest.raises(ValueError, match="at least one positive"):
        average_precision_score(np.array([0, 0]), np.array([0.1, 0.2]))


def test_bad_options_are_rejected() -> None:
    cm = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1]])
    with pytest.raises(ValueError, match=r"average='binary' needs 2 classes; .* has 3"):
        precision_recall_f1(cm, average="binary")
    with pytest.raises(ValueError, match="unknown average 'samples'; use one of binary"):
        precision_recall_f1(cm, average="samples")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="square confusion matrix"):
        precision_recall_f1(np.array([1, 2]), average="micro")
    with pytest.raises(ValueError, match="n_bins >= 1; got 0"):
        expected_calibration_error(np.array([0, 1]), np.array([0.2, 0.8]), n_bins=0)
    with pytest.raises(ValueError, match=r"shape \(n, 3\).*got shape \(2,\)"):
        log_loss(np.array([0, 1]), np.array([0.2, 0.8]), n_classes=3)
    with pytest.raises(ValueError, match=r"shape \(n, K\) with K >= 2"):
        top_label_calibration_error(np.array([0, 1]), np.array([0.2, 0.8]))
