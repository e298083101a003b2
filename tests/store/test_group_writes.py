"""A group of batches written in one call: one INSERT for all of them, counted per batch."""

from __future__ import annotations

from datetime import datetime, timedelta

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.store.records import HOUR, T0, hours, labels, predictions, register, write

from vigil.store import SqlStore
from vigil.store.batches import buckets


def test_batches_with_different_columns_are_stored_with_nulls_where_absent(
    store: SqlStore,
) -> None:
    model = register(store)
    plain = predictions(["a", "b"], x=[1.0, 2.0])
    coloured = predictions(["c"], x=[3.0], colour=["red"], flag=[True])
    late = predictions(["d"], at=T0 + timedelta(minutes=90), x=[4.0], colour=["blue"])
    assert write(store, model, plain, coloured, late) == [(2, 0, 0), (1, 0, 0), (1, 0, 0)]
    first = store.read_window(model, "v1", T0, hours(1)).sort_by("__id")
    assert first.column("__id").to_pylist() == ["a", "b", "c"]
    assert first.column("colour").to_pylist() == [None, None, "red"]
    assert first.column("flag").to_pylist() == [None, None, True]
    second = store.read_window(model, "v1", hours(1), hours(2))
    assert second.column("colour").to_pylist() == ["blue"]
    dirty = {s.key.start for s in store.window_states(model, dirty_only=True)}
    assert {T0, hours(1)} <= dirty  # both hours the group touched are marked


def test_labels_in_one_group_count_their_own_pending_rows(store: SqlStore) -> None:
    model = register(store)
    write(store, model, predictions(["p1", "p2", "p3"]))
    batches = [
        labels(["p1", "x1"], [1.0, 0.0]),
        labels(["x2"], [1.0]),
        labels(["p2", "p3"], [0, 1]),
    ]
    results = store.write_labels(model, batches, [], window_seconds=HOUR)
    assert [(r.accepted, r.pending) for r in results] == [(2, 1), (1, 1), (2, 0)]
    window = store.read_window(model, "v1", T0, hours(1)).sort_by("__id")
    assert window.column("__label").to_pylist() == [1.0, 0.0, 1.0]


groups = st.lists(  # a group of batches, each a set of ids from a small pool, some with `colour`
    st.tuples(st.lists(st.integers(0, 9), max_size=6, unique=True), st.booleans()),
    min_size=1,
    max_size=5,
)
models_made = iter(range(1_000_000))


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(groups)
def test_a_group_stores_what_the_same_batches_written_one_by_one_store(
    store: SqlStore, group: list[tuple[list[int], bool]]
) -> None:
    together = register(store, f"t{next(models_made)}")
    alone = register(store, f"a{next(models_made)}")
    batches = []
    for ids, coloured in group:
        extra = {"colour": [f"c{i}" for i in ids]} if coloured else {}
        batches.append(predictions([f"i{i}" for i in ids], x=[float(i) for i in ids], **extra))
    counted = write(store, together, *batches)
    one_by_one = [write(store, alone, batch)[0] for batch in batches]
    assert counted == one_by_one
    read = [
        store.read_window(m, "v1", T0, hours(1)).sort_by("__id").select(["__id", "x", "colour"])
        for m in (together, alone)
    ]
    assert read[0].equals(read[1])
    assert read[0].num_rows == len({i for ids, _ in group for i in ids})
    assert pa.compute.count_distinct(read[0].column("__id")).as_py() == read[0].num_rows


rows = st.lists(  # (version, microseconds since the epoch), a few versions over a few hours
    st.tuples(st.sampled_from(["1", "2", "v3"]), st.integers(0, 5 * 3_600_000_000)),
    min_size=1,
    max_size=60,
)


@given(rows, st.sampled_from([60, 3600, 86400]))
def test_buckets_are_the_version_and_window_start_of_each_row(
    stored: list[tuple[str, int]], window_seconds: int
) -> None:
    table = pa.table(
        {
            "version": pa.array([v for v, _ in stored], pa.string()),
            "ts": pa.array([t for _, t in stored], pa.int64()).cast(pa.timestamp("us")),
        }
    )
    epoch = datetime(1970, 1, 1)
    expected = {
        (v, epoch + timedelta(seconds=(t // 1_000_000) // window_seconds * window_seconds))
        for v, t in stored
    }
    assert buckets(table, window_seconds) == expected
