"""Champion / challenger: the bootstrap interval against an independent computation, and its
properties (an identical challenger is never better; swapping the versions flips the sign)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from vigil.alerts.challenger import compare
from vigil.errors import SpecError
from vigil.store import SqlStore, open_store

from .shadow import T0, log_version, register, shadow

SINCE, UNTIL = T0, T0 + timedelta(days=1)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlStore]:
    opened = open_store(tmp_path / "vigil.duckdb")
    try:
        yield opened
    finally:
        opened.close()


def test_a_clearly_better_challenger_is_better_paired_and_unpaired(store: SqlStore) -> None:
    model = register(store)
    truth, champion, challenger = shadow(store, model, 800, gain=1.0)
    paired = compare(store, model, "1", "2", "roc_auc", SINCE, UNTIL, "request_id")
    assert paired.verdict == "better", paired.reason
    assert paired.pairs == 800 and paired.champion_rows == paired.challenger_rows == 800
    assert paired.champion_value == pytest.approx(roc_auc_score(truth, champion))
    assert paired.challenger_value == pytest.approx(roc_auc_score(truth, challenger))
    assert paired.low is not None and paired.high is not None
    assert 0 < paired.low < paired.difference < paired.high  # type: ignore[operator]
    unpaired = compare(store, model, "1", "2", "roc_auc", SINCE, UNTIL)
    assert unpaired.pair_by is None and unpaired.pairs == 800
    # pairing removes the requests' shared variation: the interval narrows
    assert unpaired.high - unpaired.low > paired.high - paired.low  # type: ignore[operator]
    # log loss: lower is better, so a better challenger has an interval below 0
    loss = compare(store, model, "1", "2", "log_loss", SINCE, UNTIL, "request_id")
    assert loss.verdict == "better" and loss.high is not None and loss.high < 0


def test_the_paired_interval_matches_an_independent_bootstrap(store: SqlStore) -> None:
    model = register(store)
    truth, champion, challenger = shadow(store, model, 300, gain=0.3, seed=4)
    ours = compare(
        store,
        model,
        "1",
        "2",
        "roc_auc",
        SINCE,
        UNTIL,
        "request_id",
        n_resamples=4000,
        min_pairs=10,
    )
    # the percentile bootstrap of paired differences, written out with numpy and scikit-learn
    rng = np.random.default_rng(99)
    diffs = []
    for _ in range(4000):
        i = rng.integers(0, 300, 300)
        if truth[i].min() == truth[i].max():
            continue
        diffs.append(roc_auc_score(truth[i], challenger[i]) - roc_auc_score(truth[i], champion[i]))
    low, high = np.percentile(diffs, [2.5, 97.5])
    assert ours.low == pytest.approx(low, abs=0.01)
    assert ours.high == pytest.approx(high, abs=0.01)
    assert ours.difference == pytest.approx(
        roc_auc_score(truth, challenger) - roc_auc_score(truth, champion)
    )


def test_pairs_need_the_key_and_a_label_on_both_sides(store: SqlStore) -> None:
    model = register(store)
    rng = np.random.default_rng(1)
    truth = rng.integers(0, 2, 40)
    proba = rng.random(40)
    requests = [f"q{i}" for i in range(40)]
    labelled = np.arange(40) % 4 != 0  # every 4th champion row has no label
    log_version(store, model, "1", requests, proba, truth, labelled=labelled)
    # the challenger saw only the first 30 requests, the 5th of them twice
    log_version(
        store,
        model,
        "2",
        [*requests[:30], "q5"],
        np.append(proba[:30], 0.5),
        np.append(truth[:30], 1),
    )
    result = compare(store, model, "1", "2", "accuracy", SINCE, UNTIL, "request_id", min_pairs=100)
    expected = sum(1 for i in range(30) if labelled[i])
    assert result.pairs == expected and result.champion_rows == expected
    assert result.verdict == "not enough pairs" and "min_pairs 100" in result.reason
    assert result.difference == pytest.approx(0.0)  # the same scores on the same requests


def test_no_rows_is_not_enough_pairs(store: SqlStore) -> None:
    model = register(store)
    result = compare(store, model, "1", "2", "roc_auc", SINCE, UNTIL, "request_id")
    assert result.verdict == "not enough pairs" and result.pairs == 0
    assert result.low is None and result.difference is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("1", "9", "roc_auc", "request_id"), "no version '9'"),
        (("1", "2", "roc_auc", "nope"), "no column 'nope'"),
        (("1", "2", "rmse", None), "does not apply to a binary model"),
        (("1", "2", "auc", None), "use one of accuracy"),
        (("2", "2", "roc_auc", None), "both version '2'"),
    ],
)
def test_comparisons_that_cannot_be_made_say_why(
    store: SqlStore, args: tuple[str, str, str, str | None], message: str
) -> None:
    model = register(store)
    champion, challenger, metric, pair_by = args
    with pytest.raises(SpecError, match=message):
        compare(store, model, champion, challenger, metric, SINCE, UNTIL, pair_by)


names = (f"m{i}" for i in itertools.count())


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    n=st.integers(20, 120),
    seed=st.integers(0, 10_000),
    metric=st.sampled_from(["roc_auc", "accuracy", "brier"]),
    gain=st.floats(-1.0, 1.0),
)
def test_identical_is_never_better_and_swapping_flips_the_sign(
    store: SqlStore, n: int, seed: int, metric: str, gain: float
) -> None:
    model = register(store, next(names))
    rng = np.random.default_rng(seed)
    truth = np.append(rng.integers(0, 2, n - 2), [0, 1])
    proba = rng.random(n)
    requests = [f"q{i}" for i in range(n)]
    log_version(store, model, "1", requests, proba, truth)
    log_version(store, model, "2", requests, proba, truth)
    same = compare(
        store,
        model,
        "1",
        "2",
        metric,
        SINCE,
        UNTIL,
        "request_id",
        min_pairs=2,
        n_resamples=200,
        seed=seed,
    )
    assert same.verdict != "better"
    assert same.difference in (0.0, None)
    other = register(store, next(names))
    log_version(store, other, "1", requests, proba, truth)
    shifted = np.clip(proba + gain * (truth - 0.5), 0.001, 0.999)
    log_version(store, other, "2", requests, shifted, truth)
    ab = compare(
        store,
        other,
        "1",
        "2",
        metric,
        SINCE,
        UNTIL,
        "request_id",
        min_pairs=2,
        n_resamples=200,
        seed=seed,
    )
    ba = compare(
        store,
        other,
        "2",
        "1",
        metric,
        SINCE,
        UNTIL,
        "request_id",
        min_pairs=2,
        n_resamples=200,
        seed=seed,
    )
    if ab.difference is None:
        assert ba.difference is None
        return
    assert ba.difference == pytest.approx(-ab.difference)
    if ab.low is not None:
        assert ba.low == pytest.approx(-ab.high, abs=1e-9)  # type: ignore[operator]
        assert ba.high == pytest.approx(-ab.low, abs=1e-9)  # type: ignore[operator]
    assert not (ab.verdict == "better" and ba.verdict == "better")
