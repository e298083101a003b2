"""Figures on the scheduler's clock against a real store, on DuckDB and PostgreSQL: rows
written at known times and received at known times (set in the table, as a store that has
been running for hours would hold them), counted independently here."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from tests.store.records import labels, predictions, register

from vigil.alerts import judge, parse_rules
from vigil.alerts.clock import clock_points, window_start
from vigil.alerts.metrics import dataset_metrics
from vigil.store import SqlStore
from vigil.store.base import ModelInfo

HOUR = timedelta(hours=1)
MINUTES_IN = timedelta(minutes=25)  # how far into the current window "now" is


def current_window(model: ModelInfo) -> datetime:
    """The current window in most tests: five hours after the one the model was registered
    in (the store takes rows at any time; the clock is `now`, given)."""
    return window_start(model.created, 3600) + 5 * HOUR


def write(db: SqlStore, model: ModelInfo, times: list[datetime], prefix: str, **kw) -> None:
    ids = [f"{prefix}{i}" for i in range(len(times))]
    db.write_predictions(model, [predictions(ids, at=times, **kw)], [], window_seconds=3600)


def set_received(db: SqlStore, table: str, at: datetime) -> None:
    """Date the rows' arrival: the store stamps `received` with its clock on write."""
    db._db.run(f"UPDATE {table} SET received = ?", (at,))


def figures(db: SqlStore, model: ModelInfo, *, now: datetime | None = None, history: int = 3):
    now = current_window(model) + MINUTES_IN if now is None else now
    points = clock_points(db, model, now=now, size_seconds=3600, history=history)
    return {p.metric: p for p in points}


def test_freshness_and_volume_from_rows_at_known_times(store: SqlStore) -> None:
    model = register(store)
    W = current_window(model)
    NOW = W + MINUTES_IN
    per_window = {W - 4 * HOUR: 10, W - 3 * HOUR: 0, W - 2 * HOUR: 30, W - HOUR: 5, W: 7}
    times = [start + timedelta(seconds=37 * i) for start, n in per_window.items() for i in range(n)]
    write(store, model, times, "p", version="v1")
    set_received(store, f"p_{model.id}", NOW - timedelta(minutes=20))
    store.write_labels(model, [labels(["p0", "p1"], [1.0, 0.0])], [], window_seconds=3600)
    set_received(store, f"l_{model.id}", NOW - timedelta(hours=3))
    found = figures(store, model)
    assert (
        set(found)
        == {
            "freshness.prediction_age_s",
            "freshness.label_age_s",
            "volume.last_window_rows",
            "volume.last_window_ratio",
        }
        <= dataset_metrics()
    )
    assert found["freshness.prediction_age_s"].value == 20 * 60
    assert found["freshness.label_age_s"].value == 3 * 3600
    assert found["volume.last_window_rows"].value == 5
    # the three windows before the last, the empty one as 0
    assert found["volume.last_window_ratio"].value == pytest.approx(5 / ((30 + 0 + 10) / 3))
    for p in found.values():
        assert (p.version, p.kind, p.segment, p.column, p.status) == (
            "v1",
            "tumbling",
            "",
            "",
            "none",
        )
        assert (p.start, p.end) == (W, NOW)
    # windows before the one the model was registered in (W - 5h) are not in the mean
    assert figures(store, model, history=12)["volume.last_window_ratio"].value == pytest.approx(
        5 / ((30 + 0 + 10 + 0) / 4)
    )
    assert figures(store, model, history=1)["volume.last_window_ratio"].value == pytest.approx(
        5 / 30
    )
    assert figures(store, model, history=0)["volume.last_window_ratio"].value is None
    # an hour later the current window's 7 rows are the last closed window's
    later = figures(store, model, now=NOW + HOUR)
    assert later["volume.last_window_rows"].value == 7
    assert later["volume.last_window_ratio"].value == pytest.approx(7 / ((5 + 30 + 0) / 3))
    assert later["freshness.prediction_age_s"].value == 80 * 60
    # "now" given with a zone is the same moment
    aware = figures(store, model, now=NOW.replace(tzinfo=timezone.utc))
    assert {m: p.value for m, p in aware.items()} == {m: p.value for m, p in found.items()}


def test_every_version_counts_and_the_current_version_dates_the_points(
    store: SqlStore,
) -> None:
    model = register(store)
    W = current_window(model)
    write(store, model, [W - HOUR + timedelta(minutes=i) for i in range(4)], "a", version="v1")
    model = register(store, version="v2")
    write(store, model, [W - HOUR + timedelta(minutes=i) for i in range(6)], "b", version="v2")
    write(store, model, [W - 2 * HOUR] * 5, "c", version="v2")
    found = figures(store, model, history=1)
    assert found["volume.last_window_rows"].value == 10
    assert found["volume.last_window_ratio"].value == pytest.approx(2.0)
    assert {p.version for p in found.values()} == {"v2"}


def test_a_model_that_never_received_anything(store: SqlStore) -> None:
    model = register(store)
    born = model.created
    at_birth = figures(store, model, now=born)
    assert at_birth["freshness.prediction_age_s"].value is None
    assert at_birth["freshness.label_age_s"].value is None
    # the last closed window ended before the model existed: nothing to say about it
    assert at_birth["volume.last_window_rows"].value is None
    assert at_birth["volume.last_window_ratio"].value is None
    two_hours = figures(
        store, model, now=window_start(born, 3600) + 2 * HOUR + timedelta(minutes=1)
    )
    assert two_hours["volume.last_window_rows"].value == 0
    assert two_hours["volume.last_window_ratio"].value is None  # the window before held 0 too
    assert two_hours["freshness.prediction_age_s"].value is None


def test_rows_sent_back_dated_before_registration_count_where_they_are(
    store: SqlStore,
) -> None:
    model = register(store)
    born = window_start(model.created, 3600)
    write(store, model, [born - HOUR + timedelta(minutes=m) for m in range(3)], "old")
    found = figures(store, model, now=born + timedelta(minutes=30), history=24)
    assert found["volume.last_window_rows"].value == 3
    assert found["volume.last_window_ratio"].value is None  # every earlier window is older


def test_a_model_without_labels_has_no_label_age(store: SqlStore) -> None:
    model = register(store, label=None)
    W = current_window(model)
    NOW = W + MINUTES_IN
    write(store, model, [W - HOUR], "p")
    set_received(store, f"p_{model.id}", NOW + timedelta(seconds=3))  # a clock a little ahead
    found = figures(store, model)
    assert found["freshness.label_age_s"].value is None
    assert found["freshness.prediction_age_s"].value == 0.0
    assert store.received_times(model)[1] is None


@pytest.mark.parametrize("size", [60, 3600, 86400, 7 * 86400])
def test_window_row_counts_match_a_plain_count(store: SqlStore, size: int) -> None:
    """Random times over ten days, and times on window bounds and a microsecond before them:
    the store's count per window is the count of times whose floor is that window."""
    model = register(store)
    rng = np.random.default_rng(size)
    base = datetime(2024, 5, 1)
    step = timedelta(seconds=size)
    times = [base + timedelta(microseconds=int(m)) for m in rng.integers(0, 10 * 86400e6, 400)]
    edge = window_start(base + timedelta(days=3), size)
    times += [
        edge,
        edge - timedelta(microseconds=1),
        edge + step,
        edge + step - timedelta(microseconds=1),
    ]
    write(store, model, times, "t")
    since, until = base + timedelta(days=1), base + timedelta(days=9)
    epoch = datetime(1970, 1, 1)
    expected = Counter(epoch + ((t - epoch) // step) * step for t in times if since <= t < until)
    assert store.window_row_counts(model, since, until, size) == dict(expected)
    with pytest.raises(ValueError, match="at least a second"):
        store.window_row_counts(model, since, until, 0)


def test_the_freshness_rule_of_the_docs_fires_on_the_clock_points(
    store: SqlStore,
) -> None:
    model = register(store)
    W = current_window(model)
    NOW = W + MINUTES_IN
    write(store, model, [W - HOUR], "p")
    set_received(store, f"p_{model.id}", W - HOUR)
    rules = parse_rules(
        [
            {
                "name": "no-predictions",
                "metric": "freshness.prediction_age_s",
                "above": {"warning": 900, "critical": 3600},
            },
            {"name": "quiet", "metric": "volume.last_window_ratio", "below": {"warning": 0.5}},
            {"name": "labels", "metric": "freshness.label_age_s", "above": 60},
        ]
    )
    for now, severity in (
        (W - HOUR + timedelta(minutes=10), None),
        (W - timedelta(minutes=30), "warning"),
        (NOW + HOUR, "critical"),
    ):
        points = clock_points(store, model, now=now, size_seconds=3600, history=24)
        found = {f.rule: f for f in judge(rules, model.name, points)}
        assert found["no-predictions"].severity == severity
        assert "labels" not in found  # no label ever: nothing to judge, nothing opens
    with pytest.raises(ValueError, match="at least a second"):
        clock_points(store, model, now=NOW, size_seconds=0, history=1)
    with pytest.raises(ValueError, match="0 or more"):
        clock_points(store, model, now=NOW, size_seconds=60, history=-1)
