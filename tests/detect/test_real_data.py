"""The detectors on data nobody here generated: scikit-learn's bundled sets.

Unshifted: every numeric feature of breast_cancer, wine and diabetes, shuffled, its first third
the reference and the rest the stream — no change, so any detection is a false alarm. Changed:
breast_cancer's benign tumours followed by its malignant ones (a real change of population),
and the errors of a digits classifier that never saw the 8s and 9s when they start to come (a
real new class). Numeric streams are standardised by the reference's mean and σ, as the
service and reports feed them (vigil.detect.detector).
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_wine
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from vigil.detect import DetectorConfig, check_params, make_detector

SEEDS = range(10)


def detector(name: str, stream: str, reference: np.ndarray) -> object:
    config = DetectorConfig(name, check_params(name, {}, where="test"), stream)  # type: ignore[arg-type]
    return make_detector(config, mean=float(reference.mean()), sigma=float(reference.std(ddof=1)))


def first_alarm(d: object, values: np.ndarray) -> int | None:
    for i, v in enumerate(values.tolist()):
        if d.update(v):  # type: ignore[attr-defined]
            return i
    return None


def unshifted_streams() -> list[tuple[np.ndarray, np.ndarray]]:
    out = []
    for load in (load_breast_cancer, load_wine, load_diabetes):
        features = load(return_X_y=True)[0]
        for column in features.T:
            for seed in SEEDS:
                values = np.random.default_rng(seed).permutation(column)
                n = values.size // 3
                out.append((values[:n], values[n:]))
    return out


# Alarms on the 530 unshifted streams (119 to 380 values each). ADWIN, the default, raised
# none; Page-Hinkley 12 and CUSUM 30 (the bounds below leave a little room), on the skewed
# features (breast_cancer's "area error" has skew 5.4): their sums read z as if it were
# normal. On the raw values, before numeric streams were standardised, Page-Hinkley alarmed on
# every stream of a feature whose σ is above about 2.
ALLOWED = {"adwin": 0, "page_hinkley": 15, "cusum": 36}


@pytest.mark.parametrize("name", sorted(ALLOWED))
def test_unshifted_real_features_raise_no_or_few_alarms(name: str) -> None:
    alarms = sum(
        first_alarm(detector(name, "numeric", ref), stream) is not None
        for ref, stream in unshifted_streams()
    )
    assert alarms <= ALLOWED[name], alarms


# breast_cancer's features whose benign and malignant means are more than 1.5 benign σ apart
def changed_features() -> list[int]:
    x, y = load_breast_cancer(return_X_y=True)
    benign, malignant = x[y == 1], x[y == 0]
    gap = np.abs(malignant.mean(axis=0) - benign.mean(axis=0)) / benign.std(axis=0, ddof=1)
    return [int(i) for i in np.flatnonzero(gap > 1.5)]


# KSWIN is left out: it alarmed early on 19 of these 150 runs (a KS test at every value; it
# is offered for low-rate streams, docs/statistics.md), and costs 2 ms a value
@pytest.mark.parametrize("name", ["adwin", "page_hinkley", "cusum"])
def test_benign_then_malignant_is_found_soon_after_the_switch(name: str) -> None:
    x, y = load_breast_cancer(return_X_y=True)
    features = changed_features()
    assert len(features) >= 10
    early, found, delays = 0, 0, []
    for column in features:
        for seed in SEEDS:
            rng = np.random.default_rng(seed)
            benign, malignant = (
                rng.permutation(x[y == 1, column]),
                rng.permutation(x[y == 0, column]),
            )
            reference, before = benign[:150], benign[150:]
            at = first_alarm(detector(name, "numeric", reference), np.r_[before, malignant])
            if at is not None and at < before.size:
                early += 1
            elif at is not None:
                found += 1
                delays.append(at - before.size)
    runs = len(features) * len(SEEDS)
    assert found >= 0.95 * runs, (found, runs)
    assert early <= 0.05 * runs, (early, runs)
    assert float(np.median(delays)) <= 60, delays


# DDM is left out: at this 3 % error rate it alarmed before the change on 8 of 10 runs (its
# minimum of p + s falls low after a run of correct predictions); docs/statistics.md says so
@pytest.mark.parametrize("name", ["adwin", "page_hinkley", "eddm", "hddm_a", "hddm_w"])
def test_a_new_class_raises_the_error_stream_and_is_found(name: str) -> None:
    """A digits classifier trained without 8s and 9s: 3 % errors on the digits it knows; once
    8s and 9s arrive (a fifth of the traffic) it errs on every one of them."""
    x, y = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.6, random_state=0, stratify=y
    )
    known = y_train < 8
    model = LogisticRegression(max_iter=3000).fit(x_train[known], y_train[known])
    wrong = (model.predict(x_test) != y_test).astype(float)
    old, new = np.flatnonzero(y_test < 8), np.flatnonzero(y_test >= 8)
    early, delays = 0, []
    for seed in SEEDS:
        rng = np.random.default_rng(seed)
        old = rng.permutation(old)
        reference, before = wrong[old[:200]], wrong[old[200:600]]
        after = wrong[rng.permutation(np.r_[old[600:], new])]
        at = first_alarm(detector(name, "binary", reference), np.r_[before, after])
        if at is not None and at < before.size:
            early += 1
        elif at is not None:
            delays.append(at - before.size)
    assert wrong[old].mean() < 0.05 and wrong[new].mean() == 1.0
    assert early == 0
    assert len(delays) == len(SEEDS) and max(delays) <= 250, delays
