"""The store's contract, run over DuckDB and PostgreSQL: models, writes, windows, retention."""

from __future__ import annotations

from datetime import datetime, timedelta

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vigil.errors import ConflictError
from vigil.store import SqlStore, open_store
from vigil.store.base import ARROW_TYPES, Quarantined
from vigil.store.migrations import LATEST, MIGRATIONS

from .records import (
    COLUMNS,
    HOUR,
    T0,
    hours,
    labels,
    predictions,
    register,
    write,
)


def test_migrations_run_once_and_reopening_keeps_data(store_url: str) -> None:
    first = open_store(store_url)
    try:
        model = register(first)
        assert write(first, model, predictions(["a", "b"])) == [(2, 0, 0)]
    finally:
        first.close()
    again = open_store(store_url)
    try:
        # the schema table is private to the store; read it to see each migration ran once
        rows = again._db.run("SELECT version FROM vigil_schema ORDER BY version")
        assert [r[0] for r in rows] == [v for v, _ in MIGRATIONS] and rows[-1][0] == LATEST
        reopened = again.get_model("churn")
        assert reopened is not None and reopened.columns == model.columns
        assert again.window_counts(reopened, "v1", T0, hours(1)) == (2, 0)
        assert again.stats() == {"models": 1, "quarantined": 0, "windows": 2, "failed_windows": 0}
    finally:
        again.close()


def test_a_new_version_adds_its_new_columns(store: SqlStore) -> None:
    v1 = register(store)
    v2 = register(store, version="v2", columns=[*COLUMNS, ("age", "feature", "DOUBLE")])
    assert v2.id == v1.id and v2.current_version == "v2" and set(v2.specs) == {"v1", "v2"}
    assert [c.name for c in v2.columns] == [*(c.name for c in v1.columns), "age"]
    assert len({c.key for c in v2.columns}) == len(v2.columns)
    write(store, v2, predictions(["n"], version="v2", age=[41.0]))
    window = store.read_window(v2, "v2", T0, hours(1))
    assert window.column("age").to_pylist() == [41.0]
    assert store.versions_with_data(v2) == ["v2"]
    assert [m.name for m in store.list_models()] == ["churn"]


def test_a_column_changing_its_storage_is_a_conflict(store: SqlStore) -> None:
    register(store)
    changed = [(n, r, "VARCHAR" if n == "x" else s) for n, r, s in COLUMNS]
    with pytest.raises(ConflictError, match="'x' is stored as DOUBLE"):
        register(store, version="v2", columns=changed)
    with pytest.raises(ConflictError, match="target was stored as DOUBLE"):
        register(store, version="v3", label="VARCHAR")
    store._models.clear()  # read the model back from the tables, not this process's cache
    model = store.get_model("churn")
    assert model is not None and model.current_version == "v1" and set(model.specs) == {"v1"}


SQL_LIKE = [
    "x; DROP TABLE models; --",
    "it's",
    'a "quoted" name',
    "naïve ünïcode 列",
    "with space",
    "x); DELETE FROM model_columns; --",
    "100% ? %s $1",
]


@pytest.mark.parametrize("name", SQL_LIKE)
def test_names_that_look_like_sql_round_trip(store: SqlStore, name: str) -> None:
    columns = [(name, "feature", "DOUBLE"), (name + " 2", "segment", "VARCHAR")]
    model = register(store, name, columns=columns, version=name)
    assert store.get_model(name) == model and [m.name for m in store.list_models()] == [name]
    batch = predictions(["a"], version=name, **{name: [1.5], name + " 2": ["it's; --"]})
    assert write(store, model, batch) == [(1, 0, 0)]
    model = store.add_extra_columns(model, [name + " extra"])
    window = store.read_window(model, name, T0, hours(1))
    assert window.column(name).to_pylist() == [1.5]
    assert window.column(name + " 2").to_pylist() == ["it's; --"]
    assert window.column(name + " extra").to_pylist() == [None]
    assert store.stats()["models"] == 1


def test_write_counts_within_a_batch_across_batches_and_against_stored(store: SqlStore) -> None:
    model = register(store)
    first = predictions(["a", "b", "a", "b"], x=[1.0, 2.0, 1.0, 9.0])
    second = predictions(["a", "c"], x=[1.0, 3.0])
    assert write(store, model, first, second) == [(2, 1, 1), (1, 1, 0)]
    assert write(store, model, predictions(["a"], x=[1.0])) == [(0, 1, 0)]
    result = store.write_predictions(
        model, [predictions(["a", "d"], x=[5.0, 4.0])], [], window_seconds=HOUR
    )
    assert (result[0].accepted, result[0].conflict_ids) == (1, ("a",))
    window = store.read_window(model, "v1", T0, hours(1)).sort_by("__id")
    assert window.column("__id").to_pylist() == ["a", "b", "c", "d"]
    assert window.column("x").to_pylist() == [1.0, 2.0, 3.0, 4.0]  # the first one stays


calls = st.lists(  # calls of batches of (id, x): few ids and values, so repeats are common
    st.lists(
        st.lists(st.tuples(st.integers(0, 11), st.sampled_from([0.0, 1.0])), max_size=8),
        min_size=1,
        max_size=3,
    ),
    min_size=1,
    max_size=4,
)
models_made = iter(range(1_000_000))


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(calls)
def test_each_id_is_stored_once_and_every_row_is_counted(
    store: SqlStore, sent: list[list[list[tuple[int, float]]]]
) -> None:
    model = register(store, f"m{next(models_made)}")
    first: dict[str, float] = {}
    accepted = 0
    for call in sent:
        batches = [predictions([f"i{i}" for i, _ in b], x=[x for _, x in b]) for b in call]
        for batch, (ok, duplicates, conflicts) in zip(
            batches, write(store, model, *batches), strict=True
        ):
            assert ok + duplicates + conflicts == batch.num_rows
            accepted += ok
        for batch in call:
            for i, x in batch:
                first.setdefault(f"i{i}", x)
    window = store.read_window(model, "v1", T0, hours(1))
    assert accepted == window.num_rows == len(first)
    assert dict(zip(window["__id"].to_pylist(), window["x"].to_pylist(), strict=True)) == first


def test_labels_before_and_after_their_prediction(store: SqlStore) -> None:
    model = register(store)
    early = store.write_labels(model, [labels(["p1"], [1.0])], [], window_seconds=HOUR)
    assert (early[0].accepted, early[0].pending) == (1, 1)
    assert store.window_states(model, dirty_only=True) == []
    write(store, model, predictions(["p1", "p2"]))
    key = next(s.key for s in store.window_states(model, dirty_only=True) if s.key.start == T0)
    generation = store.claim_window(model, key, "w", lease_seconds=60)
    assert generation is not None
    store.finish_window(
        model, key, owner="w", generation=generation, rows=2, labelled=1, report=None, points=[]
    )
    assert key not in [s.key for s in store.window_states(model, dirty_only=True)]
    late = store.write_labels(model, [labels(["p2"], [0.0])], [], window_seconds=HOUR)
    assert (late[0].accepted, late[0].pending) == (1, 0)
    assert key in [s.key for s in store.window_states(model, dirty_only=True)]
    window = store.read_window(model, "v1", T0, hours(1)).sort_by("__id")
    assert window.column("__label").to_pylist() == [1.0, 0.0]
    assert store.window_counts(model, "v1", T0, hours(1)) == (2, 2)
    again = store.write_labels(model, [labels(["p1", "p2"], [1.0, 1.0])], [], window_seconds=HOUR)
    assert (again[0].duplicates, again[0].conflicts, again[0].conflict_ids) == (1, 1, ("p2",))


def test_read_window_returns_its_rows_with_labels_and_types(store: SqlStore) -> None:
    model = register(store)
    model = register(store, version="v2")
    at = [hours(1) - timedelta(microseconds=1), hours(1), hours(2) - timedelta(microseconds=1)]
    write(store, model, predictions(["before", "first", "last"], at=at, colour=["r", None, "g"]))
    write(store, model, predictions(["end"], at=hours(2)))
    write(store, model, predictions(["other"], at=hours(1), version="v2"))
    store.write_labels(model, [labels(["first"], [1.0])], [], window_seconds=HOUR)
    window = store.read_window(model, "v1", hours(1), hours(2)).sort_by("__ts")
    assert window.column("__id").to_pylist() == ["first", "last"]
    assert window.column("__label").to_pylist() == [1.0, None]
    assert window.column("colour").to_pylist() == [None, "g"]
    assert window.column("flag").to_pylist() == [None, None]  # never sent: all NULL
    expected = {c.name: ARROW_TYPES[c.storage] for c in model.columns}
    expected |= {"__id": pa.string(), "__ts": pa.timestamp("us"), "__version": pa.string()}
    expected |= {"__latency_ms": pa.float64(), "__error": pa.string(), "__label": pa.float64()}
    assert dict(zip(window.schema.names, window.schema.types, strict=True)) == expected
    empty = store.read_window(model, "v1", hours(5), hours(6))
    assert empty.num_rows == 0 and empty.schema == window.schema
    assert store.window_counts(model, "v2", hours(1), hours(2)) == (1, 0)


def test_quarantine_is_written_and_read_newest_first(store: SqlStore) -> None:
    model = register(store)
    bad = Quarantined("prediction", 3, "q1", ("x: expected a number",), '{"id": "q1", "x": "?"}')
    store.write_predictions(model, [], [bad], window_seconds=HOUR)
    no_id = Quarantined("label", 0, None, ("id: missing", "label: missing"), "{}")
    store.write_labels(model, [labels(["z"], [1.0])], [no_id], window_seconds=HOUR)
    rows = store.read_quarantine(model, limit=10, since=None)
    assert [(r["kind"], r["index"], r["id"]) for r in rows] == [
        ("label", 0, None),
        ("prediction", 3, "q1"),
    ]
    assert rows[1]["errors"] == ["x: expected a number"] and rows[1]["payload"] == bad.payload
    assert rows[0]["errors"] == ["id: missing", "label: missing"]
    assert len(store.read_quarantine(model, limit=1, since=None)) == 1
    assert store.read_quarantine(model, limit=10, since=datetime(2999, 1, 1)) == []
    assert store.stats()["quarantined"] == 2
