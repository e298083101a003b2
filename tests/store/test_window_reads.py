"""A window read from PostgreSQL is the table DuckDB reads for the same records (issue 12).

PostgreSQL reads a window from column blocks (`vigil.store.blocks`), and every other query
through binary COPY, decoded in blocks of rows with numpy (`vigil.store.postgres`); DuckDB
hands Arrow over itself, so it is the reference here. Both stores get the same batches
through `write_predictions` / `write_labels`, and every window is read from PostgreSQL both
ways: from its blocks and, with blocks turned off, through COPY. Every column of the reads
must agree: types, order, values, NULLs, NaN and infinities.
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

import vigil.store.blocks as blocks
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
        self.pg._db.blocks = False  # type: ignore[attr-defined]
        try:
            copied = self.pg.read_window(self.models[1], "v1", start, end)
        finally:
            self.pg._db.blocks = True  # type: ignore[attr-defined]
        for read in (pg, copied):
            assert read.schema == duck.schema
            assert read.num_rows == duck.num_rows
            assert read.column("__id").to_pylist() == duck.column("__id").to_pylist()  # order
            assert_same(read, duck)
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


def batch(n: int, *, first: int = 0, seed: int = 0, longest: int = 200_000) -> pa.Table:
    """`n` rows over the hour with every column type, NULLs, edge text and special floats;
    the very long text cut to `longest` characters."""
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
        note=pa.array([_cut(EDGE_TEXT[i % len(EDGE_TEXT)], longest) for i in range(n)]),
        score=pa.array(rng.random(n)),
        prediction=pa.array([["yes", "no"][i % 2] for i in range(n)], pa.string()),
    )


def _cut(text: str | None, longest: int) -> str | None:
    return None if text is None else text[:longest]


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
    pair.write(batch(postgres.BLOCK_ROWS + 70, seed=1, longest=2_000))  # text past `PADDING`
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
@given(
    records=st.lists(RECORD, max_size=40),
    block=st.integers(1, 50),
    writes=st.integers(1, 5),
    compact=st.booleans(),
)
def test_any_records_read_the_same_from_both_stores(
    stores: tuple[SqlStore, SqlStore],
    records: list[dict[str, Any]],
    block: int,
    writes: int,
    compact: bool,
) -> None:
    pair = Pair(*stores, COLUMNS[:4])
    n = len(records)
    ids = [f"h{i}" for i in range(n)]
    rows = predictions(
        ids,
        at=[T0 + timedelta(microseconds=r["micros"]) for r in records],
        x=[r["x"] for r in records],
        colour=pa.array([r["colour"] for r in records], pa.string()),
        flag=pa.array([r["flag"] for r in records], pa.bool_()),
        seen=pa.array([r["seen"] for r in records], pa.timestamp("us")),
    )
    for first in range(writes):  # a block of column blocks per write
        pair.write(rows.slice(first * n // writes, (first + 1) * n // writes - first * n // writes))
    labelled = [
        (i, r["label"]) for i, r in zip(ids, records, strict=True) if r["label"] is not None
    ]
    if labelled:
        pair.label(labels([i for i, _ in labelled], [v for _, v in labelled]))
    saved = postgres.BLOCK_ROWS, blocks.COMPACT_ABOVE
    postgres.BLOCK_ROWS = block  # hypothesis runs the examples one after the other
    blocks.COMPACT_ABOVE = 1 if compact else saved[1]  # merged at the first read, or not
    try:
        duck, _ = pair.read()
        pair.read()  # again, after a merge
    finally:
        postgres.BLOCK_ROWS, blocks.COMPACT_ABOVE = saved
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


# -- column blocks: what keeps them equal to the prediction table -----------------------------


def pg_blocks(pair: Pair) -> list[tuple[Any, ...]]:
    """The PostgreSQL model's blocks: (version, first_ts, last_ts, rows_n), in time order."""
    return pair.pg._db.run(
        "SELECT version, first_ts, last_ts, rows_n FROM blocks WHERE model_id = ? "
        "ORDER BY version, first_ts",
        (pair.models[1].id,),
    )


def forget_blocks(pair: Pair) -> None:
    """Make the PostgreSQL model one whose rows were stored before vigil kept blocks."""
    model_id = pair.models[1].id
    pair.pg._db.run("DELETE FROM blocks WHERE model_id = ?", (model_id,))
    pair.pg._db.run("DELETE FROM block_models WHERE model_id = ?", (model_id,))
    pair.pg.blocks._ready.discard(model_id)


def test_rows_stored_before_blocks_are_copied_into_blocks_at_the_first_read(pair: Pair) -> None:
    pair.write(batch(120, seed=4))
    pair.label(labels([f"r{i:07d}" for i in range(0, 120, 4)], [1.0] * 30))
    forget_blocks(pair)
    pair.read()
    assert sum(rows for *_, rows in pg_blocks(pair)) == 120
    pair.write(batch(30, first=500, seed=5))  # and the model's next writes add blocks
    pair.read()
    assert sum(rows for *_, rows in pg_blocks(pair)) == 150


def test_a_backfill_in_parts_copies_every_row_once_and_leaves_no_index(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(blocks, "BACKFILL_ROWS", 7)
    ids = [f"p{i:03d}" for i in range(60)]
    at = [T0 + timedelta(minutes=11 * i) for i in range(60)]  # 11 hours, 5 or 6 rows an hour
    rows = pa.concat_tables(
        [predictions(ids[:40], at=at[:40]), predictions(ids[40:], at=at[40:], version="v2")]
    )
    pair.write(rows)
    forget_blocks(pair)
    for version, end in (("v1", T0 + timedelta(hours=8)), ("v2", T0 + timedelta(hours=12))):
        duck = pair.duck.read_window(pair.models[0], version, T0, end)
        pg = pair.pg.read_window(pair.models[1], version, T0, end)
        assert pg.column("__id").to_pylist() == duck.column("__id").to_pylist()
        assert_same(pg, duck)
    assert sum(n for *_, n in pg_blocks(pair)) == 60
    indexes = pair.pg._db.run(
        "SELECT indexname FROM pg_indexes WHERE tablename = ?", (f"p_{pair.models[1].id}",)
    )
    assert [name for (name,) in indexes] == [f"p_{pair.models[1].id}_pkey"]


def test_rows_written_without_blocks_are_read_from_the_table_and_blocks_made_again(
    pair: Pair,
) -> None:
    pair.write(batch(30, seed=14))
    pair.read()
    for store, model in zip((pair.duck, pair.pg), pair.models, strict=True):
        # as an earlier vigil, still running after the upgrade, writes: no block
        store._db.run(
            f"INSERT INTO p_{model.id} (id, ts, version, received) VALUES (?, ?, ?, ?)",
            ("stray", T0 + timedelta(minutes=5), "v1", T0),
        )
    duck, _ = pair.read()  # PostgreSQL's from its table, the same as DuckDB's
    assert "stray" in duck.column("__id").to_pylist()
    assert not pair.pg._db.run(
        "SELECT 1 FROM block_models WHERE model_id = ?", (pair.models[1].id,)
    )
    pair.read()  # from blocks made again
    assert sum(n for *_, n in pg_blocks(pair)) == 31


def test_a_resent_or_overlapping_batch_is_not_stored_twice_in_blocks(pair: Pair) -> None:
    pair.write(batch(50, seed=6))
    pair.write(batch(50, seed=6))  # the same again: all duplicates
    pair.write(batch(50, first=25, seed=7).slice(25))  # new ids only, as the overlap's rest
    duck, _ = pair.read()
    assert duck.num_rows == 75
    assert sum(rows for *_, rows in pg_blocks(pair)) == 75


def test_each_version_of_a_write_gets_blocks_of_its_own(pair: Pair) -> None:
    ids = [f"v{i}" for i in range(40)]
    mixed = pa.concat_tables(
        [predictions(ids[:25], version="v1"), predictions(ids[25:], version="v2")]
    )
    pair.write(mixed)
    assert {version for version, *_ in pg_blocks(pair)} == {"v1", "v2"}
    duck = pair.duck.read_window(pair.models[0], "v2", T0, END)
    pg = pair.pg.read_window(pair.models[1], "v2", T0, END)
    assert pg.column("__id").to_pylist() == duck.column("__id").to_pylist() == ids[25:]
    assert_same(pg, duck)
    pair.read()


def test_columns_added_after_blocks_were_written_read_as_null_in_them(pair: Pair) -> None:
    pair.write(batch(30, seed=8))
    pair.extras(["browser"])
    later = batch(30, first=100, seed=9)
    pair.write(later.append_column("browser", pa.array(["firefox"] * 30, pa.string())))
    duck, _ = pair.read()
    assert duck.column("browser").null_count == 30


def test_retention_cuts_the_blocks_as_it_deletes_the_rows(pair: Pair) -> None:
    pair.write(batch(300, seed=10))
    pair.label(labels([f"r{i:07d}" for i in range(0, 300, 2)], [0.0] * 150))
    cutoff = T0 + timedelta(minutes=25)
    for store, model in zip((pair.duck, pair.pg), pair.models, strict=True):
        store.drop_predictions_before(model, cutoff)
    duck, _ = pair.read()
    assert 0 < duck.num_rows < 300
    assert all(first >= cutoff for _, first, _, _ in pg_blocks(pair))
    assert sum(rows for *_, rows in pg_blocks(pair)) == duck.num_rows


def test_many_small_writes_are_merged_at_a_read(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(blocks, "COMPACT_ABOVE", 3)
    for first in range(0, 50, 5):
        pair.write(batch(5, first=first, seed=first))
    assert len(pg_blocks(pair)) == 10
    pair.read()  # a read that finds more than three merges them
    assert len(pg_blocks(pair)) == 1
    pair.read()
    pair.read(T0 + timedelta(minutes=10), T0 + timedelta(minutes=20))


def test_a_merge_leaves_large_blocks_alone(pair: Pair, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(blocks, "COMPACT_ABOVE", 3)
    monkeypatch.setattr(blocks, "BLOCK_ROWS", 40)  # small: 10 rows or fewer
    pair.write(batch(30, first=100, seed=13))
    for first in range(0, 25, 5):
        pair.write(batch(5, first=first, seed=first))
    pair.read()
    assert sorted(rows for *_, rows in pg_blocks(pair)) == [25, 30]
    pair.read()


def test_a_merge_that_lost_a_race_changes_nothing(pair: Pair) -> None:
    for first in range(0, 20, 5):
        pair.write(batch(5, first=first, seed=first))
    before = pg_blocks(pair)
    ids = [
        str(b)
        for (b,) in pair.pg._db.run(
            "SELECT block_id FROM blocks WHERE model_id = ?", (pair.models[1].id,)
        )
    ]
    rows = pair.pg.read_window(pair.models[1], "v1", T0, END)
    # another vigil merged one of them first: its block is gone
    pair.pg.blocks._compact(pair.models[1].id, "v1", [*ids, "gone"], rows)
    assert pg_blocks(pair) == before
    pair.read()


def test_a_damaged_block_is_an_error_that_names_it(pair: Pair) -> None:
    pair.write(batch(10, seed=11))
    pair.pg._db.run(
        "UPDATE blocks SET data = ? WHERE model_id = ?", (b"ARROW1 cut", pair.models[1].id)
    )
    (block_id,) = pair.pg._db.run(
        "SELECT block_id FROM blocks WHERE model_id = ?", (pair.models[1].id,)
    )[0]
    with pytest.raises(StoreError, match=f"block {block_id} .* damaged") as caught:
        pair.pg.read_window(pair.models[1], "v1", T0, END)
    # what the message says to run makes the blocks again
    statement = str(caught.value).split("`")[1]
    pair.pg._db.run(statement)
    pair.pg.blocks._ready.discard(pair.models[1].id)  # as a restarted vigil
    pair.read()


def test_a_write_in_flight_during_a_backfill_loses_no_row(postgres_url: str) -> None:
    store = open_store(postgres_url)
    try:
        model = store.register_model("flight", "v1", SPEC, COLUMNS, "DOUBLE")
        store.write_predictions(model, [batch(20, seed=12)], [], window_seconds=HOUR)
        store._db.run("DELETE FROM blocks")
        store._db.run("DELETE FROM block_models")
        store.blocks._ready.clear()
        with psycopg.connect(postgres_url) as writer:  # an older vigil's insert, not committed
            writer.execute(
                f"INSERT INTO p_{model.id} (id, ts, version, received) VALUES (%s, %s, %s, %s)",
                ("late", T0 + timedelta(minutes=5), "v1", T0),
            )
            read: list[pa.Table] = []
            reader = threading.Thread(
                target=lambda: read.append(store.read_window(model, "v1", T0, END))
            )
            reader.start()
            reader.join(timeout=1.0)
            assert reader.is_alive()  # the backfill waits for the writer's rows
            writer.commit()
            reader.join(timeout=30)
        assert read and "late" in read[0].column("__id").to_pylist()
        assert read[0].num_rows == 21
    finally:
        store.close()


@given(
    counts=st.lists(
        st.tuples(st.sampled_from(["v1", "v2", "v3"]), st.integers(0, 50), st.integers(1, 30)),
        max_size=40,
    ),
    most=st.integers(1, 60),
)
def test_backfill_parts_cover_every_hour_once_within_the_bound(
    counts: list[tuple[str, int, int]], most: int
) -> None:
    found = {(v, T0 + timedelta(hours=h)): n for v, h, n in counts}  # as GROUP BY gives them
    hours = sorted((v, at, n) for (v, at), n in found.items())
    parts = blocks._parts(hours, most)
    for version, at, _ in hours:  # every hour in exactly one part of its version
        assert sum(v == version and lo <= at < hi for v, lo, hi in parts) == 1
    for version, low, high in parts:
        inside = [n for v, at, n in hours if v == version and low <= at < high]
        assert inside and (sum(inside) <= most or len(inside) == 1)
