"""The `Backend` each store runs on: Arrow in and out with the same types, errors, URLs."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import psycopg
import pyarrow as pa
import pytest

from vigil.errors import StoreError
from vigil.store import SqlStore, open_store
from vigil.store.postgres import PostgresBackend, mask_password, placeholders

ODD_TEXT = ["", 'a "quote", comma', "line\nbreak\ttab\\", "\\.", "NULL", "ünïcode 列 🙂", None]


def every_type(n: int) -> pa.Table:
    """A table of each type the store loads, with NULLs, NaN, infinities and awkward text."""
    rng = np.random.default_rng(0)
    doubles = rng.normal(size=n)
    doubles[:4] = [np.nan, np.inf, -np.inf, 5e-324][: min(4, n)]
    mask = np.arange(n) % 5 == 1
    return pa.table(
        {
            "d": pa.array(doubles, pa.float64(), mask=mask),
            "s": pa.array([ODD_TEXT[i % len(ODD_TEXT)] for i in range(n)], pa.string()),
            "b": pa.array(np.arange(n) % 3 == 0, pa.bool_(), mask=mask),
            "t": pa.array(
                [datetime(1900, 1, 1), datetime(2024, 2, 29, 23, 59, 59, 999999)] * (n // 2),
                pa.timestamp("us"),
            ),
            "i": pa.array(np.arange(n, dtype=np.int32), pa.int32(), mask=mask),
            "j": pa.array(np.arange(n, dtype=np.int64) * 10**12, pa.int64()),
            "nothing": pa.array([None] * n, pa.float64()),
        }
    )


def assert_same(got: pa.Table, expected: pa.Table) -> None:
    """Equal tables, NaN equal to NaN (and still distinct from NULL)."""
    for name in expected.column_names:
        a, b = got.column(name).combine_chunks(), expected.column(name).combine_chunks()
        assert a.is_null().equals(b.is_null()), name
        if pa.types.is_floating(b.type):
            np.testing.assert_array_equal(
                a.to_numpy(zero_copy_only=False), b.to_numpy(zero_copy_only=False)
            )
        else:
            assert a.equals(b), name


@pytest.mark.parametrize("n", [0, 2, 40_000])  # 40 000 rows cross the block boundaries
def test_load_then_arrow_gives_the_table_back(store: SqlStore, n: int) -> None:
    table = every_type(n)
    db = store._db  # the backend itself is what is tested here
    with db.transaction():
        db.load("vigil_probe", table)
        try:
            back = db.arrow("SELECT * FROM vigil_probe ORDER BY j")
        finally:
            db.unload("vigil_probe")
    assert back.schema == table.schema
    assert_same(back, table)


def test_a_loaded_table_outlives_statements_outside_transactions(store: SqlStore) -> None:
    db = store._db
    db.load("vigil_probe", pa.table({"v": pa.array([1.5, None])}))
    try:
        assert db.run("SELECT count(*), count(v) FROM vigil_probe") == [(2, 1)]
    finally:
        db.unload("vigil_probe")


def test_arrow_types_come_from_the_columns_not_the_values(store: SqlStore) -> None:
    db = store._db
    db.run(
        "CREATE TABLE probe (d DOUBLE PRECISION, s VARCHAR, b BOOLEAN, t TIMESTAMP, "
        "i INTEGER, j BIGINT)"
    )
    db.run("INSERT INTO probe VALUES (NULL, NULL, NULL, NULL, NULL, NULL)")
    empty = db.arrow("SELECT * FROM probe WHERE s = ?", ("no such text",))
    nulls = db.arrow("SELECT *, count(*) OVER () AS n FROM probe")
    types = [pa.float64(), pa.string(), pa.bool_(), pa.timestamp("us"), pa.int32(), pa.int64()]
    assert empty.schema.types == types and empty.num_rows == 0
    assert nulls.schema.types == [*types, pa.int64()]
    assert nulls.to_pylist() == [dict.fromkeys("dsbtij") | {"n": 1}]


def test_parameters_are_values_never_sql(store: SqlStore) -> None:
    db = store._db
    hostile = "x'); DROP TABLE models; -- 100% ?"
    assert db.run("SELECT ?, ? || '%'", (hostile, "50")) == [(hostile, "50%")]
    when = datetime(2024, 1, 2, 3, 4, 5, 6)
    back = db.arrow("SELECT CAST(? AS VARCHAR) AS s, CAST(? AS TIMESTAMP) AS t", (hostile, when))
    assert back.to_pylist() == [{"s": hostile, "t": when}]
    assert store.stats()["models"] == 0


def test_postgres_refuses_text_with_nul(postgres_url: str) -> None:
    store = open_store(postgres_url)
    try:
        with pytest.raises(StoreError, match="'s' holds text with a NUL"):
            store._db.load("vigil_probe", pa.table({"s": ["fine", "not\x00fine"]}))
    finally:
        store.close()


def test_an_unreachable_postgres_names_the_url_without_its_password() -> None:
    with pytest.raises(StoreError) as caught:
        open_store("postgresql://vigil:s3cret@127.0.0.1:1/vigil")
    message = str(caught.value)
    assert "postgresql://vigil:***@127.0.0.1:1/vigil" in message and "s3cret" not in message
    assert "Is PostgreSQL running" in message


def test_a_unique_violation_is_recognised_when_wrapped(postgres_url: str) -> None:
    backend = PostgresBackend(postgres_url)
    try:
        backend.run("CREATE TABLE probe (id VARCHAR PRIMARY KEY)")
        backend.run("INSERT INTO probe VALUES (?)", ("a",))
        with pytest.raises(psycopg.errors.UniqueViolation) as caught:
            backend.run("INSERT INTO probe VALUES (?)", ("a",))
        try:
            raise StoreError("write failed") from caught.value
        except StoreError as wrapped:
            assert backend.is_unique_violation(wrapped)
        assert not backend.is_unique_violation(ValueError("duplicate key"))
    finally:
        backend.close()


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://u:pw@h:5432/db", "postgresql://u:***@h:5432/db"),
        ("postgresql://u:p%40ss:w@h/db", "postgresql://u:***@h/db"),
        (
            "postgresql://u@h/db?password=pw&sslmode=require",
            "postgresql://u@h/db?password=***&sslmode=require",
        ),
        ("postgresql://h/db", "postgresql://h/db"),
    ],
)
def test_passwords_never_show(url: str, shown: str) -> None:
    assert mask_password(url) == shown


def test_question_marks_become_psycopg_placeholders() -> None:
    assert placeholders("SELECT ? WHERE x LIKE '5%'") == "SELECT %s WHERE x LIKE '5%%'"
