"""The PostgreSQL backend: several `vigil serve` instances can share one database.

One connection per thread, in autocommit outside `transaction()`. Arrow tables travel as CSV
through `COPY`, parsed and written by pyarrow's multi-threaded CSV code, because building a
Python tuple per row is ten times slower for a window of a million rows.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from psycopg import sql
from psycopg.pq import TransactionStatus

from vigil.errors import StoreError

# Any fixed number will do; every vigil migrating a database takes the same lock.
MIGRATION_LOCK_KEY = 0x7669_6769_6C00  # "vigil"

# PostgreSQL type OIDs (pg_type.oid, fixed since 7.x) whose CSV text pyarrow parses as is.
CSV_TYPES: dict[int, pa.DataType] = {
    16: pa.bool_(),
    18: pa.string(),  # "char"
    19: pa.string(),  # name
    20: pa.int64(),
    21: pa.int16(),
    23: pa.int32(),
    25: pa.string(),
    700: pa.float32(),
    701: pa.float64(),
    1042: pa.string(),  # bpchar
    1043: pa.string(),  # varchar
    1082: pa.date32(),
    1114: pa.timestamp("us"),
}

# Arrow type -> the column type of a table made by `load`.
LOAD_TYPES: dict[pa.DataType, str] = {
    pa.bool_(): "BOOLEAN",
    pa.int8(): "SMALLINT",
    pa.int16(): "SMALLINT",
    pa.int32(): "INTEGER",
    pa.int64(): "BIGINT",
    pa.float32(): "REAL",
    pa.float64(): "DOUBLE PRECISION",
    pa.string(): "TEXT",
    pa.large_string(): "TEXT",
    pa.null(): "TEXT",
    pa.date32(): "DATE",
    pa.timestamp("s"): "TIMESTAMP",
    pa.timestamp("ms"): "TIMESTAMP",
    pa.timestamp("us"): "TIMESTAMP",
    pa.timestamp("ns"): "TIMESTAMP",
}

# Settings the CSV exchange relies on, whatever the server's defaults are.
SESSION_SETTINGS = (
    "SET DateStyle = 'ISO'; SET extra_float_digits = 3; SET client_encoding = 'UTF8'; "
    "SET TimeZone = 'UTC'"
)


def mask_password(url: str) -> str:
    """The URL with any password (in the user part or the query) replaced by `***`."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        user, _, host = netloc.rpartition("@")
        if ":" in user:
            user = user.split(":", 1)[0] + ":***"
        netloc = f"{user}@{host}"
    query = parts.query
    if "password" in query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, "***" if k == "password" else v) for k, v in pairs], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def placeholders(query: str) -> str:
    """The shared SQL's `?` parameters as psycopg's `%s` (a literal `%` doubled)."""
    return query.replace("%", "%%").replace("?", "%s")


class PostgresBackend:
    """`vigil.store.sql.Backend` over a PostgreSQL database, with psycopg 3."""

    types: ClassVar[dict[str, str]] = {
        "blob": "BYTEA",
        "double": "DOUBLE PRECISION",
        "bigint": "BIGINT",
    }

    def __init__(self, url: str) -> None:
        self._url = url
        self.url_for_display = mask_password(url)
        self._local = threading.local()
        self._connections: list[psycopg.Connection[tuple[Any, ...]]] = []
        self._connections_lock = threading.Lock()
        self._conn()  # fail now, with a clear message, rather than at the first write

    def _conn(self) -> psycopg.Connection[tuple[Any, ...]]:
        conn: psycopg.Connection[tuple[Any, ...]] | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        try:
            # prepare_threshold=None: temp tables come and go under one name, and poolers
            # in transaction mode (pgbouncer) do not keep prepared statements.
            conn = psycopg.connect(self._url, autocommit=True, prepare_threshold=None)
        except psycopg.Error as err:
            raise StoreError(
                f"cannot connect to the store {self.url_for_display}: "
                f"{str(err).strip().splitlines()[0]}. Is PostgreSQL running there, and do the "
                f"user, password and database in the URL exist?"
            ) from err
        conn.execute(SESSION_SETTINGS)
        self._local.conn = conn
        with self._connections_lock:
            self._connections.append(conn)
        return conn

    def run(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one statement; its rows, if it returns any."""
        conn = self._conn()
        # without parameters psycopg leaves the text alone, so nothing to translate
        cur = conn.execute(placeholders(sql), params) if params else conn.execute(sql)
        if cur.description is None:
            return []
        return cur.fetchall()

    def arrow(self, sql: str, params: Sequence[Any] = ()) -> pa.Table:
        """Run a query and read its result as an Arrow table, typed from the result's columns."""
        conn = self._conn()
        query = placeholders(sql)
        # COPY takes no parameters: inline them as literals, quoted by psycopg itself
        text = psycopg.ClientCursor(conn).mogrify(query, params) if params else sql
        with conn.cursor() as cur:
            cur.execute(f"SELECT * FROM ({text}) AS q LIMIT 0".encode())
            assert cur.description is not None
            names = [d.name for d in cur.description]
            oids = [d.type_code for d in cur.description]
        if not all(oid in CSV_TYPES for oid in oids):
            return self._arrow_rows(text, names, oids)
        return self._arrow_csv(text, names, [CSV_TYPES[oid] for oid in oids])

    def _arrow_csv(self, query: str, names: list[str], types: list[pa.DataType]) -> pa.Table:
        schema = pa.schema([pa.field(f"f{i}", t) for i, t in enumerate(types)])
        chunks = []
        with self._conn().cursor() as cur, cur.copy(f"COPY ({query}) TO STDOUT (FORMAT csv)") as copy:
            chunks = [bytes(chunk) for chunk in copy]
        if not chunks:
            return schema.empty_table().rename_columns(names)
        table = pacsv.read_csv(
            pa.py_buffer(b"".join(chunks)),
            read_options=pacsv.ReadOptions(column_names=schema.names),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types=schema,
                # PostgreSQL writes NULL unquoted and an empty string as "", so tell them apart
                null_values=[""],
                strings_can_be_null=True,
                quoted_strings_can_be_null=False,
                true_values=["t"],
                false_values=["f"],
            ),
        )
        return table.rename_columns(names)

    def _arrow_rows(self, query: str, names: list[str], oids: list[int]) -> pa.Table:
        """The slow path, for result types the CSV path does not know (numeric, bytea, ...)."""
        with self._conn().cursor() as cur:
            rows = cur.execute(query.encode()).fetchall()
        arrays = [
            pa.array([row[i] for row in rows], type=CSV_TYPES.get(oid))
            for i, oid in enumerate(oids)
        ]
        return pa.Table.from_arrays(arrays, names=names)

    def load(self, name: str, table: pa.Table) -> None:
        """Copy an Arrow table into a temporary table `name` on this thread's connection."""
        columns = []
        for field in table.schema:
            pg_type = LOAD_TYPES.get(field.type)
            if pg_type is None:
                raise StoreError(
                    f"cannot load column {field.name!r} of type {field.type} into PostgreSQL; "
                    f"expected one of {sorted(str(t) for t in LOAD_TYPES)}."
                )
            if pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
                _check_no_nul(field.name, table.column(field.name))
            columns.append(sql.SQL("{} {}").format(sql.Identifier(field.name), sql.SQL(pg_type)))
        conn = self._conn()
        # inside a transaction the table goes with it; in autocommit it lives until `unload`
        in_transaction = conn.info.transaction_status != TransactionStatus.IDLE
        create = sql.SQL("CREATE TEMP TABLE {} ({}){}").format(
            sql.Identifier(name),
            sql.SQL(", ").join(columns),
            sql.SQL(" ON COMMIT DROP" if in_transaction else ""),
        )
        with conn.cursor() as cur:
            cur.execute(create)
            if table.num_rows == 0:
                return
            # strings are always quoted by pyarrow, so an unquoted empty field is NULL
            data = pa.BufferOutputStream()
            pacsv.write_csv(table, data, pacsv.WriteOptions(include_header=False))
            copy_sql = sql.SQL("COPY {} FROM STDIN (FORMAT csv)").format(sql.Identifier(name))
            with cur.copy(copy_sql) as copy:
                buffer = memoryview(data.getvalue())
                step = 1 << 20
                for offset in range(0, len(buffer), step):
                    copy.write(buffer[offset : offset + step])

    def unload(self, name: str) -> None:
        """Drop a table made by `load` (a failed transaction's rollback drops it itself)."""
        conn = self._conn()
        if conn.info.transaction_status == TransactionStatus.INERROR:
            return
        conn.execute(sql.SQL("DROP TABLE IF EXISTS pg_temp.{}").format(sql.Identifier(name)))

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One transaction on this thread's connection, rolled back on any error."""
        with self._conn().transaction():
            yield

    @contextmanager
    def migration_lock(self) -> Iterator[None]:
        """A database-wide advisory lock, so instances starting together migrate once."""
        conn = self._conn()
        conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))

    def is_unique_violation(self, error: Exception) -> bool:
        """True when `error`, or an error it was raised from, is a duplicate key."""
        seen: BaseException | None = error
        while seen is not None:
            if isinstance(seen, psycopg.errors.UniqueViolation):
                return True
            seen = seen.__cause__ or seen.__context__
        return False

    def close(self) -> None:
        """Close every thread's connection."""
        with self._connections_lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()


def _check_no_nul(name: str, column: pa.ChunkedArray) -> None:
    if pc.any(pc.match_substring(column, "\x00")).as_py():
        raise StoreError(
            f"column {name!r} holds text with a NUL character, which PostgreSQL cannot store; "
            f"remove it before writing (validation should have rejected the record)."
        )
