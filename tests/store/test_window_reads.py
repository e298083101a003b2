"""A window read from PostgreSQL is the table DuckDB reads for the same records (issue 12).

PostgreSQL sends a window as binary COPY, decoded in blocks of rows with numpy
(`vigil.store.postgres`); DuckDB hands Arrow over itself, so it is the reference here. Both
stores get the same batches through `write_predictions` / `write_labels`, and every column
of the two reads must agree: types, order, values, NULLs, NaN and infinities.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import psycopg
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import vigil.store.postgres as postgres
from vigil.errors import StoreError
from vigil.store import SqlStore, open_store
from vigil.store.base import Storage

from .records import HOUR, T0, labels, predictions
from .test_backends import assert_same

COLUMNS: list[tuple[str, str, Storage]] = [
    ("x", "feature", "DOUBLE"),
    ("colour", "feature", "VARCHAR"),
    ("flag", "feature", "BOOLEAN"),
    ("seen", "feature", "TIMESTAMP"),
    ("note", "feature", "VARCHAR"),
    ("score", "score", "DOUBLE"),
    ("prediction", "prediction", "VARCHAR"),
]
SPEC: dict[str, Any] = {"version": 1, "task": "binary", "columns": {}}
END = T0 + timedelta(seconds=HOUR)
names = (f"m{i}" for i in itertools.count())  # a model of its own per case

# text at the edges of the decoder: empty, the widest gathered a value at a time
# (`postgres.PADDING` bytes) and one byte past it, multi-byte characters across that edge,
# very long, and what COPY's text format would have to escape
EDGE_TEXT = [
    "",
    "a" * postgres.PADDING,
    "b" * (postgres.PADDING + 1),
    "é" * (postgres.PADDING // 2) + "z",
    "🙂" * 9,
    "x" * 200_000,
    "\\.\n\t\\N,\"'",
    "ünïcode 列",
    None,
]
SPECIAL = [np.nan, np.inf, -np.inf, -0.0, 5e-324, 1.7976931348623157e308, None]


class Pair:
    """The same model in a DuckDB store and a PostgreSQL store."""

    def __init__(self, duck: SqlStore, pg: SqlStore, columns: list[tuple[str, str, Storage]]):
        self.duck, self.pg = duck, pg
        name = next(names)
        self.models = [s.register_model(name, "v1", SPEC, columns, "DOUBLE") for s in (duck, pg)]

    def write(self, table: pa.Table) -> None:
        for store, model in zip((self.duck, self.pg), self.models, strict=True):
            store.write_predictions(model, [table], [], window_seconds=HOUR)

    def label(self, table: pa.Table) -> None:
        for store, model in zip((self.duck, self.pg), self.models, strict=True):
            store.write_labels(model, [table], [], window_seconds=HOUR)

    def extras(self, extra: list[str]) -> None:
        self.models = [
            store.add_extra_columns(model, extra)
            for store, model in zip((self.duck, self.pg), self.models, strict=True)
        ]

    def read(self, start: datetime = T0, end: datetime = END) -> tuple[pa.Table, pa.Table]:
        """DuckDB's read and PostgreSQL's, checked alike; both returned."""
        duck = self.duck.read_window(self.models[0], "v1", start, end)
        pg = self.pg.read_window(self.models[1], "v1", start, end)
        assert pg.schema == duck.schema
        assert pg.num_rows == duck.num_rows
        assert pg.column("__id").to_pylist() == duck.column("__id").to_pylist()  # the order
        assert_same(pg, duck)
        return duck, pg


@pytest.fixture(scope="module")
def stores(module_postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    duck = open_store(tmp_path_factory.mktemp("reads") / "vigil.duckdb")
    pg = open_store(module_postgres_url)
    try:
        yield duck, pg
    finally:
        duck.close()
        pg.close()


@pytest.fixture
def pair(stores: tuple[SqlStore, SqlStore]) -> Pair:
    return Pair(*stores, COLUMNS)


def batch(n: int, *, first: int = 0, seed: int = 0) -> pa.Table:
    """`n` rows over the hour with every column type, NULLs, edge text and special floats."""
    rng = np.random.default_rng(seed)
    ids = [f"r{first + i:07d}" for i in range(n)]
    at = [T0 + timedelta(microseconds=int(u)) for u in rng.integers(0, HOUR * 10**6, n)]
    x = rng.normal(size=n).tolist()
    for i in range(min(n, len(SPECIAL))):
        x[i] = SPECIAL[i]
    seen = [
        None if i % 7 == 3 else datetime(1900 + i % 200, 1 + i % 12, 28, 23, 59) for i in range(n)
    ]
    return predictions(
        ids,
        at=at,
        x=x,
        colour=pa.array([["red", "grün", "", None][i % 4] for i in range(n)], pa.string()),
        flag=pa.array([[True, False, None][i % 3] for i in range(n)], pa.bool_()),
        seen=pa.array(seen, pa.timestamp("us")),
        note=pa.array([EDGE_TEXT[i % len(EDGE_TEXT)] for i in range(n)], pa.string()),
        score=pa.array(rng.random(n)),
        prediction=pa.array([["yes", "no"][i % 2] for i in range(n)], pa.string()),
    )


def test_every_column_type_reads_the_same_from_both_stores(pair: Pair) -> None:
    pair.write(batch(300))
    duck, _ = pair.read()
    assert duck.num_rows == 300
    notes = set(duck.column("note").to_pylist())
    assert notes == set(EDGE_TEXT)  # every edge value came through, long text included


def test_labels_present_absent_and_late_read_the_same(pair: Pair) -> None:
    pair.write(batch(50))
    before, _ = pair.read()
    assert before.column("__label").null_count == 50  # absent
    pair.label(labels([f"r{i:07d}" for i in range(0, 50, 3)], [float(i % 2) for i in range(17)]))
    pair.label(labels(["r0000001"], [np.nan]))  # a NaN label is a value, not NULL
    after, _ = pair.read()
    assert after.column("__label").null_count == 50 - 18  # late labels joined on the next read


def test_extra_columns_read_the_same(pair: Pair) -> None:
    pair.extras(["browser", "os; --", "ünï"])
    table = batch(20).append_column(
        "browser", pa.array([None if i % 2 else "firefox" for i in range(20)], pa.string())
    )
    pair.write(table.append_column("ünï", pa.array(["🙂"] * 20, pa.string())))
    duck, _ = pair.read()
    assert duck.column("os; --").null_count == 20


def test_a_window_without_rows_reads_the_same(pair: Pair) -> None:
    pair.write(batch(5))
    duck, pg = pair.read(T0 + timedelta(hours=3), T0 + timedelta(hours=4))
    assert pg.num_rows == 0 and duck.num_rows == 0


def test_rows_that_tie_on_time_come_in_id_order(pair: Pair) -> None:
    ids = ["b", "a", "B", "a-b", "ab", "é", "A", "10", "9"]
    pair.write(predictions(ids, at=T0 + timedelta(minutes=1)))
    duck, _ = pair.read()
    assert duck.column("__id").to_pylist() == sorted(ids, key=lambda s: s.encode())


def test_a_window_across_many_blocks_reads_the_same(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a block of 16 384 rows and its remainder, then blocks of 7 rows: a block boundary falls
    # everywhere, right before the trailer too (7 x 10 rows)
    pair.write(batch(postgres.BLOCK_ROWS + 70, seed=1))
    pair.read()
    monkeypatch.setattr(postgres, "BLOCK_ROWS", 7)
    small = Pair(pair.duck, pair.pg, COLUMNS)
    small.write(batch(70, seed=2))
    small.read()
    pair.read()


def test_a_block_of_nothing_but_nulls_or_empty_text_reads_the_same(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(postgres, "BLOCK_ROWS", 4)
    n = 12
    pair.write(
        predictions(
            [f"r{i:02d}" for i in range(n)],
            at=[T0 + timedelta(seconds=i) for i in range(n)],
            x=[None] * n,
            colour=pa.array([None] * 4 + [""] * 4 + ["z"] * 4, pa.string()),
            note=pa.array([""] * 8 + ["x" * 1000] * 4, pa.string()),
        )
    )
    pair.read()


def test_a_cut_or_altered_copy_stream_is_an_error_not_a_table() -> None:
    layouts = [postgres.READ_TYPES[25], postgres.READ_TYPES[701]]
    row = b"\x00\x02" + b"\x00\x00\x00\x02hi" + b"\x00\x00\x00\x08" + bytes(8)

    class Stream:
        """A COPY whose messages come half from libpq's buffer (`pgconn.get_copy_data`), half
        from waiting for them (`Copy.read`), as they do from a real server."""

        def __init__(self, *messages: bytes) -> None:
            self.messages = list(messages)
            self.pgconn = self
            self.turn = 0

        def get_copy_data(self, _: int) -> tuple[int, bytes]:
            self.turn += 1
            if not self.messages:
                return -1, b""  # libpq: the COPY is over
            if self.turn % 2:
                return 0, b""  # libpq: nothing received yet
            message = self.messages.pop(0)
            return len(message), message

        def read(self) -> bytes:
            return self.messages.pop(0) if self.messages else b""

        def get_result(self) -> None:
            return None  # libpq: no result (a server error would be one)

    good = Stream(postgres.COPY_HEADER + row, row, row, b"\xff\xff")
    (decoded,) = postgres._read_copy(good, good, layouts)  # type: ignore[arg-type]
    assert decoded.column(0).to_pylist() == ["hi", "hi", "hi"]
    assert decoded.column(1).to_pylist() == [0.0, 0.0, 0.0]
    empty = Stream(postgres.COPY_HEADER + b"\xff\xff")
    assert postgres._read_copy(empty, empty, layouts) == []  # type: ignore[arg-type]
    broken = {
        "no trailer": Stream(postgres.COPY_HEADER + row, row),
        "no trailer, ended by libpq": Stream(postgres.COPY_HEADER + row, row, row),
        "nothing": Stream(),
        "no header": Stream(row, row, b"\xff\xff"),
        "short row": Stream(postgres.COPY_HEADER + row, row[:-3], b"\xff\xff"),
        "long row": Stream(postgres.COPY_HEADER + row, row + b"!", b"\xff\xff"),
        "data after the trailer": Stream(postgres.COPY_HEADER + row, b"\xff\xff", row),
    }
    for case, stream in broken.items():
        with pytest.raises(StoreError, match="COPY"):
            postgres._read_copy(stream, stream, layouts)  # type: ignore[arg-type]
            pytest.fail(case)


# -- hypothesis: any records the validator could let through ---------------------------------

TEXT = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)))
RECORD = st.fixed_dictionaries(
    {
        "micros": st.integers(0, HOUR * 10**6 - 1),
        "x": st.none() | st.floats(allow_nan=True, allow_infinity=True),
        "colour": st.none() | TEXT | st.sampled_from(EDGE_TEXT[:5]),
        "flag": st.none() | st.booleans(),
        "seen": st.none() | st.datetimes(datetime(1, 1, 1), datetime(9999, 12, 31)),
        "label": st.none() | st.floats(allow_nan=True, allow_infinity=True),
    }
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records=st.lists(RECORD, max_size=40), block=st.integers(1, 50), halves=st.booleans())
def test_any_records_read_the_same_from_both_stores(
    stores: tuple[SqlStore, SqlStore], records: list[dict[str, Any]], block: int, halves: bool
) -> None:
    pair = Pair(*stores, COLUMNS[:4])
    n = len(records)
    ids = [f"h{i}" for i in range(n)]
    pair.write(
        predictions(
            ids,
            at=[T0 + timedelta(microseconds=r["micros"]) for r in records],
            x=[r["x"] for r in records],
            colour=pa.array([r["colour"] for r in records], pa.string()),
            flag=pa.array([r["flag"] for r in records], pa.bool_()),
            seen=pa.array([r["seen"] for r in records], pa.timestamp("us")),
        )
    )
    labelled = [
        (i, r["label"]) for i, r in zip(ids, records, strict=True) if r["label"] is not None
    ]
    if labelled:
        pair.label(labels([i for i, _ in labelled], [v for _, v in labelled]))
    saved = postgres.BLOCK_ROWS, postgres.SPLIT_ROWS
    postgres.BLOCK_ROWS = block  # hypothesis runs the examples one after the other
    postgres.SPLIT_ROWS = -1 if halves else saved[1]  # in two halves, or (this small) not
    try:
        duck, _ = pair.read()
    finally:
        postgres.BLOCK_ROWS, postgres.SPLIT_ROWS = saved
    assert duck.num_rows == n


def test_text_with_nul_never_reaches_postgres(pair: Pair) -> None:
    with pytest.raises(StoreError, match="NUL"):
        pair.pg.write_predictions(
            pair.models[1], [predictions(["a"], colour=["a\x00b"])], [], window_seconds=HOUR
        )


def test_a_table_of_every_read_type_decodes_like_the_server_prints_it(
    postgres_url: str,
) -> None:
    """Types the window never has (bytes, small ints, dates, time zones) through `arrow`,
    against psycopg's own reading of the same query."""
    backend = postgres.PostgresBackend(postgres_url)
    try:
        query = (
            "SELECT g, g::int2 AS s, g::int4 AS i, g::float4 AS f, "
            "CASE WHEN g % 3 = 0 THEN NULL ELSE decode(repeat('00ff', g % 40), 'hex') END AS b, "
            "DATE '2000-01-01' + g - 5000 AS d, "
            "TIMESTAMPTZ '2024-05-01 00:00+00' + g * INTERVAL '1 second' AS tz, "
            "repeat('é', g % 50)::varchar AS v, lpad('x', g % 5)::char(6) AS c "
            "FROM generate_series(0, 9999) AS g ORDER BY g"
        )
        jit = backend.run("SHOW jit")
        table = backend.arrow(query)
        rows = backend.run(query)
        assert backend.run("SHOW jit") == jit  # the read's `SET LOCAL` ended with it
    finally:
        backend.close()
    assert table.num_rows == len(rows) == 10_000
    for i, name in enumerate(table.column_names):
        expected = [r[i] for r in rows]
        got = table.column(name).to_pylist()
        if name == "b":
            expected = [None if v is None else bytes(v) for v in expected]
        if name == "f":
            expected = [float(np.float32(v)) for v in expected]
        assert got == expected, name


# -- a big window: two time halves at once on two connections, one snapshot -------------------

MIDDLE = T0 + timedelta(seconds=HOUR / 2)  # where `arrow_ordered` splits the window [T0, END)


@pytest.fixture
def split(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every window read in two halves, whatever its size."""
    monkeypatch.setattr(postgres, "SPLIT_ROWS", -1)


def helper_of(store: SqlStore) -> Any:
    """The second connection of this thread of a PostgreSQL store, or None."""
    return getattr(store._db._local, "helper", None)  # type: ignore[attr-defined]


def test_a_window_in_two_halves_reads_the_same(pair: Pair, split: None) -> None:
    pair.write(batch(300, seed=3))
    pair.label(labels([f"r{i:07d}" for i in range(0, 300, 4)], [1.0] * 75))
    duck, _ = pair.read()
    assert duck.column("__label").null_count == 300 - 75
    helper = helper_of(pair.pg)
    assert helper is not None and not helper.closed  # it was read in two halves
    assert helper.info.transaction_status == 0  # idle again: its transaction ended
    assert pair.pg._db._conn().info.transaction_status == 0  # type: ignore[attr-defined]


def test_rows_at_the_split_and_ties_on_either_side_keep_their_order(
    pair: Pair, split: None
) -> None:
    tick = timedelta(microseconds=1)
    at = {
        T0: ["z", "a"],
        MIDDLE - tick: ["é", "b", "B", "10", "9"],  # the last instant of the first half
        MIDDLE: ["é", "b", "B", "10", "9", "a-b"],  # the first of the second half
        MIDDLE + tick: ["x"],
        END - tick: ["y", "c"],
    }
    rows = [(t, f"{i}{name}") for i, (t, names) in enumerate(at.items()) for name in names]
    pair.write(predictions([i for _, i in rows], at=[t for t, _ in rows]))
    duck, pg = pair.read()
    expected = sorted(rows, key=lambda r: (r[0], r[1].encode()))
    assert pg.column("__id").to_pylist() == [i for _, i in expected]
    assert pg.column("__ts").to_pylist() == [t for t, _ in expected]
    assert duck.num_rows == len(rows)


@pytest.mark.parametrize(
    "where",
    [
        [T0, T0 + timedelta(minutes=29)],  # the second half empty
        [MIDDLE, END - timedelta(microseconds=1)],  # the first half empty
        [MIDDLE],  # one row
        [],  # no row at all
    ],
)
def test_a_window_with_an_empty_half_reads_the_same(
    pair: Pair, split: None, where: list[datetime]
) -> None:
    if where:
        pair.write(predictions([f"e{i}" for i in range(len(where))], at=where))
    pair.write(predictions(["outside"], at=END))  # the next window's, read by neither half
    duck, _ = pair.read()
    assert duck.num_rows == len(where)


def test_rows_committed_during_a_split_read_are_in_neither_half(
    pair: Pair, split: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows in both halves are committed after the halves' transactions began and before
    either COPY runs: the second connection sees the first's snapshot, so neither half has
    them; the next read has them all."""
    first = predictions(["a1", "b1"], at=[T0 + timedelta(minutes=5), MIDDLE])
    late = predictions(["a2", "b2"], at=[T0 + timedelta(minutes=6), END - timedelta(seconds=1)])
    pair.write(first)
    writer = open_store(pair.pg._db._url)  # type: ignore[attr-defined]
    model = writer.get_model(pair.models[1].name)
    assert model is not None
    copy_out = postgres._copy_out
    lock = threading.Lock()
    written: list[str] = []

    def write_then_copy(*args: Any) -> Any:
        with lock:  # both COPYs wait for the commit
            if not written:
                writer.write_predictions(model, [late], [], window_seconds=HOUR)
                written.append(threading.current_thread().name)
        return copy_out(*args)

    monkeypatch.setattr(postgres, "_copy_out", write_then_copy)
    try:
        during = pair.pg.read_window(pair.models[1], "v1", T0, END)
    finally:
        writer.close()
    assert written  # the rows were committed while the read ran
    assert during.column("__id").to_pylist() == ["a1", "b1"]
    monkeypatch.setattr(postgres, "_copy_out", copy_out)
    pair.duck.write_predictions(pair.models[0], [late], [], window_seconds=HOUR)
    after, _ = pair.read()
    assert after.column("__id").to_pylist() == ["a1", "a2", "b1", "b2"]


def test_a_read_inside_a_transaction_takes_one_connection(
    stores: tuple[SqlStore, SqlStore], split: None
) -> None:
    duck, pg = stores
    pair = Pair(duck, pg, COLUMNS)
    pair.write(batch(40, seed=4))
    old = helper_of(pg)
    with pg._db.transaction():  # type: ignore[attr-defined]
        inside = pg.read_window(pair.models[1], "v1", T0, END)
    assert helper_of(pg) is old  # not made, not used
    expected = duck.read_window(pair.models[0], "v1", T0, END)
    assert inside.column("__id").to_pylist() == expected.column("__id").to_pylist()
    assert_same(inside, expected)


def test_a_small_window_takes_one_connection(postgres_url: str) -> None:
    store = open_store(postgres_url)
    try:
        model = store.register_model("small", "v1", SPEC, COLUMNS, "DOUBLE")
        store.write_predictions(model, [batch(100)], [], window_seconds=HOUR)
        assert store.read_window(model, "v1", T0, END).num_rows == 100
        assert helper_of(store) is None
    finally:
        store.close()


def test_a_failed_half_is_an_error_and_the_next_read_works(
    pair: Pair, split: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    pair.write(batch(60, seed=5))
    copy_out = postgres._copy_out

    def fail_second(*args: Any) -> Any:
        if threading.current_thread().name == "vigil-pg-read":
            raise StoreError("PostgreSQL sent COPY rows of unexpected lengths; please report it.")
        return copy_out(*args)

    monkeypatch.setattr(postgres, "_copy_out", fail_second)
    with pytest.raises(StoreError, match="COPY"):
        pair.pg.read_window(pair.models[1], "v1", T0, END)
    monkeypatch.setattr(postgres, "_copy_out", copy_out)
    pair.read()  # both connections back out of the failed read's transaction


def test_a_second_connection_the_server_dropped_is_made_again(pair: Pair, split: None) -> None:
    pair.write(batch(60, seed=6))
    pair.read()
    dropped = helper_of(pair.pg)
    pair.pg._db.run(  # type: ignore[attr-defined]
        "SELECT pg_terminate_backend(?)", (dropped.info.backend_pid,)
    )
    pair.read()
    assert helper_of(pair.pg) is not dropped and dropped.closed


def test_a_failing_query_in_a_split_read_leaves_no_transaction_open(
    pair: Pair, split: None
) -> None:
    pair.write(batch(10, seed=7))
    backend = pair.pg._db
    with pytest.raises(psycopg.Error, match="division by zero"):
        backend.arrow_ordered(  # type: ignore[attr-defined]
            f"SELECT p.id, p.ts, 1 / (length(p.id) * 0) AS boom FROM p_{pair.models[1].id} p "
            "WHERE p.version = ?",
            ("v1",),
            order=("p.ts", "p.id"),
            between=(T0, END),
        )
    assert backend._conn().info.transaction_status == 0
    assert helper_of(pair.pg).info.transaction_status == 0
    pair.read()


def test_the_planners_estimate_decides_the_split(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(postgres_url)
    try:
        model = store.register_model("estimated", "v1", SPEC, COLUMNS, "DOUBLE")
        store.write_predictions(model, [batch(300, seed=8)], [], window_seconds=HOUR)
        store._db.run(f"ANALYZE p_{model.id}")  # type: ignore[attr-defined]
        monkeypatch.setattr(postgres, "SPLIT_ROWS", 3_000)  # ten times the window
        whole = store.read_window(model, "v1", T0, END)
        assert helper_of(store) is None
        monkeypatch.setattr(postgres, "SPLIT_ROWS", 30)  # a tenth of it
        halves = store.read_window(model, "v1", T0, END)
        assert helper_of(store) is not None
        assert halves.column("__id").to_pylist() == whole.column("__id").to_pylist()
        assert_same(halves, whole)
    finally:
        store.close()
