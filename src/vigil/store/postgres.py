"""The PostgreSQL backend: several `vigil serve` instances can share one database.

One connection per thread, in autocommit outside `transaction()`. Arrow tables travel through
`COPY` in PostgreSQL's binary format, encoded and decoded a column at a time with numpy: a
Python tuple per row is three times slower for a window of a million rows, and the server
prints and parses CSV two and four times slower than binary (measured on 1M rows x 30
columns). A read takes each row's message from libpq's buffer, copies it into one buffer per
block of rows as it arrives, and gathers short text a value at a time. ADBC's PostgreSQL
driver (binary COPY decoded in C) was no faster (bench/RESULTS.md, issue 12). Window reads,
the biggest, do not go through COPY but through column blocks (`vigil.store.blocks`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray
from psycopg import pq, sql
from psycopg.pq import TransactionStatus

from vigil.errors import StoreError

Connection = psycopg.Connection[tuple[Any, ...]]
Ints = NDArray[np.int64]
Buffer = bytes | bytearray | memoryview

# Any fixed number will do: every vigil migrating a database takes the same lock.
MIGRATION_LOCK_KEY = 0x7669_6769_6C  # "vigil"
# whatever the server's defaults: text in UTF-8 for COPY, dates as psycopg parses them
SESSION = "SET client_encoding = 'UTF8'; SET DateStyle = 'ISO'"
# for a COPY read only: JIT compilation cost a quarter of a second of the read of a 1M-row
# window (its plan's cost passes `jit_above_cost`) and saved nothing on a scan this simple
NO_JIT = "SET LOCAL jit = off"
CONNECT_TIMEOUT = 10  # seconds, unless the URL says otherwise


# "Binary Format" in https://www.postgresql.org/docs/current/sql-copy.html
COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
TRAILED_HEADER = len(COPY_HEADER) + 2  # the one message of a COPY without rows
EPOCH_MICROS = 946_684_800_000_000  # PostgreSQL counts from 2000-01-01, Arrow from 1970
EPOCH_DAYS = 10_957
BLOCK_ROWS = 16_384  # rows encoded or decoded at a time: their bytes stay in the CPU's cache
# zero bytes after a block of rows read: fixed-width reads past the last value stay inside,
# and text of at most this many bytes is gathered a value (not a byte) at a time
PADDING = 32

# Result column type OID (fixed in pg_type since 7.x) -> Arrow type and big-endian layout;
# "" marks variable-length bytes. Other types (numeric, uuid, ...) take the slow path.
READ_TYPES: dict[int, tuple[pa.DataType, str]] = {
    16: (pa.bool_(), "?"),
    17: (pa.binary(), ""),
    20: (pa.int64(), ">i8"),
    21: (pa.int16(), ">i2"),
    23: (pa.int32(), ">i4"),
    25: (pa.string(), ""),
    700: (pa.float32(), ">f4"),
    701: (pa.float64(), ">f8"),
    1042: (pa.string(), ""),
    1043: (pa.string(), ""),
    1082: (pa.date32(), ">i4"),
    1114: (pa.timestamp("us"), ">i8"),
    1184: (pa.timestamp("us", tz="UTC"), ">i8"),
}

# Arrow type id -> column type of a table made by `load`, and its binary layout.
LOAD_TYPES: dict[pa.DataType, tuple[str, str]] = {
    pa.bool_(): ("BOOLEAN", "?"),
    pa.int8(): ("SMALLINT", ">i2"),
    pa.int16(): ("SMALLINT", ">i2"),
    pa.int32(): ("INTEGER", ">i4"),
    pa.int64(): ("BIGINT", ">i8"),
    pa.float32(): ("REAL", ">f4"),
    pa.float64(): ("DOUBLE PRECISION", ">f8"),
    pa.date32(): ("DATE", ">i4"),
    pa.string(): ("TEXT", ""),
    pa.large_string(): ("TEXT", ""),
    pa.binary(): ("BYTEA", ""),
    pa.large_binary(): ("BYTEA", ""),
    pa.null(): ("TEXT", ""),
}


SECRET_PARAMS = ("password", "passfile", "secret", "token", "key")


def _secret(name: str) -> bool:
    """A libpq query parameter that holds a secret (password, sslpassword, sslkey, ...)."""
    lowered = name.lower()
    return any(word in lowered for word in SECRET_PARAMS)


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
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, "***" if _secret(k) else v) for k, v in pairs], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def placeholders(query: str) -> str:
    """The shared SQL's `?` parameters as psycopg's `%s` (a literal `%` doubled)."""
    return query.replace("%", "%%").replace("?", "%s")


class PostgresBackend:
    """`vigil.store.sql.Backend` over a PostgreSQL database, with psycopg 3."""

    def __init__(self, url: str) -> None:
        self.types = {
            "blob": "BYTEA",
            "double": "DOUBLE PRECISION",
            "bigint": "BIGINT",
            "raw_blocks": "ALTER TABLE blocks ALTER COLUMN data SET STORAGE EXTERNAL",
        }
        self.shared = True  # several `vigil serve` instances may write at once
        self.blocks = True  # windows are read from column blocks (vigil.store.blocks)
        self.max_columns: int | None = 1600  # PostgreSQL's cap on a table's columns
        self._url = url
        self.url_for_display = mask_password(url)
        self._local = threading.local()
        self._connections: list[Connection] = []
        self._connections_lock = threading.Lock()
        self._closed = False
        self._conn()  # fail now, with a clear message, rather than at the first write

    def _conn(self) -> Connection:
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is not None and not conn.closed:
            return conn
        if self._closed:
            raise StoreError(f"the store {self.url_for_display} is closed; open it again.")
        if getattr(self._local, "in_transaction", False):
            # a new connection would run the rest of the transaction's statements outside it
            raise StoreError(
                f"lost the connection to {self.url_for_display} inside a transaction; "
                f"the transaction was rolled back, try again."
            )
        conn = self._connect()
        self._local.conn = conn
        return conn

    def _connect(self) -> Connection:
        """A new connection in autocommit with the session's settings, closed with the store."""
        try:
            # prepare_threshold=None: poolers in transaction mode (pgbouncer) lose prepared
            # statements, and the temp tables of `load` come and go under the same names.
            options: dict[str, Any] = {"autocommit": True, "prepare_threshold": None}
            if "connect_timeout" not in self._url:
                options["connect_timeout"] = CONNECT_TIMEOUT
            conn = psycopg.connect(self._url, **options)
        except psycopg.Error as err:
            raise StoreError(
                f"cannot connect to the store {self.url_for_display}: "
                f"{str(err).strip().splitlines()[0]}. Is PostgreSQL running there, and do the "
                f"user, password and database in the URL exist?"
            ) from err
        conn.execute(SESSION)
        with self._connections_lock:
            # a connection the server dropped is replaced, not kept
            self._connections = [c for c in self._connections if not c.closed]
            self._connections.append(conn)
        return conn

    def run(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one statement; its rows, if it returns any."""
        conn = self._conn()
        # without parameters psycopg leaves the text alone, so there is nothing to translate
        cur = conn.execute(placeholders(sql), params) if params else conn.execute(sql)
        return [] if cur.description is None else cur.fetchall()

    def blobs(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """`run` for a query of large binary values: its result in PostgreSQL's binary format
        (the text format doubles `bytea` in hex, which both ends then make and parse)."""
        with self._conn().cursor(binary=True) as cur:
            # a row at a time: libpq does not grow one result buffer to the size of them all
            return list(cur.stream(placeholders(sql), params))

    def arrow(self, sql: str, params: Sequence[Any] = ()) -> pa.Table:
        """Run a query and read its result as Arrow, typed from the result's column types."""
        conn = self._conn()
        query = _literal(conn, sql, params)
        with conn.cursor() as cur:
            cur.execute(f"SELECT * FROM ({query}) AS q LIMIT 0".encode())
            names, oids = _described(cur)
            if not all(oid in READ_TYPES for oid in oids):
                rows = cur.execute(query.encode()).fetchall()
                arrays = [
                    pa.array([r[i] for r in rows], READ_TYPES.get(oid, (None, ""))[0])
                    for i, oid in enumerate(oids)
                ]
                return pa.Table.from_arrays(arrays, names=names)
            with conn.transaction():  # SET LOCAL ends with it (or with the caller's)
                cur.execute(NO_JIT)
                batches = _copy_out(cur, conn, query, oids)
        return _table(batches, names, oids)

    def load(self, name: str, table: pa.Table) -> None:
        """Copy an Arrow table into a temporary table `name` on this thread's connection."""
        columns: list[pa.Array] = []
        layouts: list[str] = []
        definitions = []
        for field, column in zip(table.schema, table.columns, strict=True):
            array = _loadable(column.combine_chunks(), field.name)
            pg_type, layout = LOAD_TYPES.get(array.type) or _timestamp_type(array.type)
            columns.append(array)
            layouts.append(layout)
            definitions.append(
                sql.SQL("{} {}").format(sql.Identifier(field.name), sql.SQL(pg_type))
            )
        conn = self._conn()
        # in a transaction the table goes with it; in autocommit it lives until `unload`
        idle = conn.info.transaction_status == TransactionStatus.IDLE
        create = sql.SQL("CREATE TEMP TABLE {} ({}){}").format(
            sql.Identifier(name),
            sql.SQL(", ").join(definitions),
            sql.SQL("" if idle else " ON COMMIT DROP"),
        )
        with conn.cursor() as cur:
            cur.execute(create)
            if table.num_rows == 0:
                return
            copy_sql = sql.SQL("COPY {} FROM STDIN (FORMAT binary)").format(sql.Identifier(name))
            with cur.copy(copy_sql) as copy:
                for block in _encode(columns, layouts):
                    copy.write(block)

    def unload(self, name: str) -> None:
        """Drop a table made by `load` (a failed transaction's rollback drops it itself)."""
        conn = self._conn()
        if conn.info.transaction_status != TransactionStatus.INERROR:
            conn.execute(sql.SQL("DROP TABLE IF EXISTS pg_temp.{}").format(sql.Identifier(name)))

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One transaction on this thread's connection, rolled back on any error."""
        outer = getattr(self._local, "in_transaction", False)
        with self._conn().transaction():
            self._local.in_transaction = True
            try:
                yield
            finally:
                self._local.in_transaction = outer

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
        for _ in range(10):  # a chain of causes can loop
            if seen is None:
                break
            if isinstance(seen, psycopg.errors.UniqueViolation):
                return True
            seen = seen.__cause__ or seen.__context__
        return False

    def is_data_error(self, error: Exception) -> bool:
        """True when PostgreSQL refused the values written (bad text, a value out of range, a
        constraint), not when it failed: the same write would fail again."""
        seen: BaseException | None = error
        for _ in range(10):  # a chain of causes can loop
            if seen is None:
                break
            if isinstance(seen, (psycopg.DataError, psycopg.IntegrityError)):
                return True
            seen = seen.__cause__ or seen.__context__
        return False

    def close(self) -> None:
        """Close every thread's connection."""
        with self._connections_lock:
            self._closed = True
            for conn in self._connections:
                conn.close()
            self._connections.clear()


def _literal(conn: Connection, query: str, params: Sequence[Any]) -> str:
    """The shared SQL with its parameters as literals: COPY takes no parameters."""
    if not params:
        return query
    return psycopg.ClientCursor(conn).mogrify(placeholders(query), params)


def _described(cur: psycopg.Cursor[Any]) -> tuple[list[str], list[int]]:
    """The names and type OIDs of the columns of the cursor's result."""
    assert cur.description is not None  # a SELECT always describes its columns
    return [d.name for d in cur.description], [d.type_code for d in cur.description]


def _copy_out(
    cur: psycopg.Cursor[Any], conn: Connection, query: str, oids: list[int]
) -> list[pa.RecordBatch]:
    """A query's rows, of types `READ_TYPES` knows, read through binary COPY."""
    with cur.copy(f"COPY ({query}) TO STDOUT (FORMAT binary)".encode()) as copy:
        return _read_copy(copy, conn, [READ_TYPES[oid] for oid in oids])


def _table(batches: list[pa.RecordBatch], names: list[str], oids: list[int]) -> pa.Table:
    schema = pa.schema([pa.field(f"f{i}", READ_TYPES[oid][0]) for i, oid in enumerate(oids)])
    return pa.Table.from_batches(batches, schema).rename_columns(names)


def _timestamp_type(arrow_type: pa.DataType) -> tuple[str, str]:
    if pa.types.is_timestamp(arrow_type):
        return ("TIMESTAMP" if arrow_type.tz is None else "TIMESTAMPTZ"), ">i8"
    raise StoreError(
        f"cannot load a column of type {arrow_type} into PostgreSQL; expected one of "
        f"{', '.join(sorted({str(t) for t in LOAD_TYPES}))} or a timestamp."
    )


def _loadable(array: pa.Array, name: str) -> pa.Array:
    """The array in a type `LOAD_TYPES` knows; text checked for NUL, which PostgreSQL refuses."""
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    if pa.types.is_timestamp(array.type):
        return array.cast(pa.timestamp("us", tz=array.type.tz))
    if (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)) and pc.any(
        pc.match_substring(array, "\x00")
    ).as_py():
        raise StoreError(
            f"column {name!r} holds text with a NUL character, which PostgreSQL cannot store; "
            f"remove it before writing (validation should have rejected the record)."
        )
    return array


def _unaligned(buffer: NDArray[np.uint8], layout: str) -> NDArray[Any]:
    """A view whose item i is the value whose bytes start at offset i of `buffer`."""
    width = np.dtype(layout).itemsize
    return np.ndarray((max(len(buffer) - width + 1, 0),), layout, buffer, 0, (1,))


def _spans(starts: Ints, lengths: Ints) -> Ints:
    """Every offset in the byte ranges [start, start + length), range after range."""
    ends = np.cumsum(lengths)
    return np.repeat(starts - (ends - lengths), lengths) + np.arange(ends[-1] if len(ends) else 0)


def _read_copy(
    copy: psycopg.Copy, conn: Connection, layouts: list[tuple[pa.DataType, str]]
) -> list[pa.RecordBatch]:
    """Arrow batches from a `COPY ... TO STDOUT (FORMAT binary)`, decoded as the rows arrive.

    PostgreSQL sends one message per row, then a trailer. Messages already received are taken
    straight from libpq (`PGconn.get_copy_data`), half the CPU of psycopg's `Copy.read` per
    row; only when none is waiting does `Copy.read` wait for the socket (and, after the
    trailer, read the COPY's result). Each message is copied into one growing buffer at once
    and let go: a million messages kept alive until a block is joined cost twice the time of
    reading them.
    """
    batches = []
    take = conn.pgconn.get_copy_data
    wait = copy.read
    block = bytearray()
    sizes: list[int] = []
    size = sizes.append
    first = True
    message: Buffer
    while True:
        got, message = take(1)
        if got <= 0:
            if got < 0:  # the end before the trailer: the server failed, and said why
                _raise_copy_end(conn)
            message = wait()  # nothing received yet: wait for it
            if not message:
                break
        if len(sizes) == BLOCK_ROWS:
            batches.append(_decode(block, sizes, layouts, first=first))
            block, sizes, first = bytearray(), [], False
            size = sizes.append
        block += message
        size(len(message))
        # a row holds at least one field (6 bytes); 2 bytes are the trailer, which the
        # header joins when there are no rows
        if len(message) == 2 or (first and len(sizes) == 1 and len(message) == TRAILED_HEADER):
            if wait():  # the COPY's end and its result
                raise StoreError("PostgreSQL sent COPY data after its trailer; please report it.")
            break
    if not sizes:
        raise StoreError("PostgreSQL ended a COPY without its trailer; please report it.")
    # the trailer is the last message; with no rows, the header came with it
    trailer = bytes(block[len(block) - sizes.pop() :])
    del block[len(block) - len(trailer) :]
    if first and not sizes:
        trailer = trailer[len(COPY_HEADER) :]
    if trailer != b"\xff\xff":
        raise StoreError("PostgreSQL ended a COPY in an unexpected way; please report it.")
    if sizes:
        batches.append(_decode(block, sizes, layouts, first=first))
    return batches


def _raise_copy_end(conn: Connection) -> None:
    """Raise the error a COPY ended with before its trailer (a query that failed midway),
    read from the connection's results as `Copy.read` would have: libpq said the COPY ended,
    so `Copy.read` cannot be asked again."""
    failed = None
    while (result := conn.pgconn.get_result()) is not None:
        if failed is None and result.status == pq.ExecStatus.FATAL_ERROR:
            failed = result
    if failed is not None:
        raise psycopg.errors.error_from_result(failed, encoding=conn.info.encoding)
    raise StoreError("PostgreSQL ended a COPY without its trailer; please report it.")


def _decode(
    block: bytearray, sizes: list[int], layouts: list[tuple[pa.DataType, str]], *, first: bool
) -> pa.RecordBatch:
    """Arrow columns from rows in PostgreSQL's binary COPY format, the rows' bytes one after
    the other in `block` (which gets padding: a NULL's bytes are read from past it)."""
    lengths_of_rows = np.array(sizes, np.int64)
    ends = np.cumsum(lengths_of_rows)
    rows = ends - lengths_of_rows
    block += bytes(PADDING)
    data = np.frombuffer(block, np.uint8)
    if first:
        if data[:11].tobytes() != COPY_HEADER[:11]:
            raise StoreError("PostgreSQL sent COPY data without its header; please report it.")
        rows[0] = len(COPY_HEADER)  # the header shares the first row's message
    int32 = _unaligned(data, ">i4")
    arrays = []
    at = rows + 2
    for arrow_type, layout in layouts:
        lengths = int32[at].astype(np.int64)
        valid = lengths >= 0
        used = np.maximum(lengths, 0)
        everywhere = bool(valid.all())
        at = at + 4
        if layout:
            # a NULL's bytes are read from its neighbour (or the padding) and masked out
            values = _unaligned(data, layout)[at]
            if arrow_type == pa.date32():
                values = values + EPOCH_DAYS
            elif pa.types.is_timestamp(arrow_type):
                values = values + EPOCH_MICROS
            native = values.astype(values.dtype.newbyteorder("="))
            arrays.append(pa.array(native, arrow_type, mask=None if everywhere else ~valid))
        else:
            arrays.append(_varlen(data, at, used, valid, arrow_type, everywhere=everywhere))
        at = at + used
    if np.any(at != ends):
        raise StoreError("PostgreSQL sent COPY rows of unexpected lengths; please report it.")
    return pa.RecordBatch.from_arrays(arrays, [f"f{i}" for i in range(len(arrays))])


def _varlen(
    data: NDArray[np.uint8],
    at: Ints,
    used: Ints,
    valid: NDArray[np.bool_],
    arrow_type: pa.DataType,
    *,
    everywhere: bool,
) -> pa.Array:
    """A text or bytes column from the values of `used` bytes at offsets `at` of `data`."""
    offsets = np.zeros(len(at) + 1, np.int64)
    np.cumsum(used, out=offsets[1:])
    widest = int(used.max()) if len(used) else 0
    if widest <= PADDING:
        # short values (categories, ids): each row's first `widest` bytes in one gather of
        # fixed-width items, then the bytes past each value's length dropped; an index per
        # value rather than one per byte
        items = _unaligned(data, f"V{widest}")[at] if widest else np.zeros(0, np.uint8)
        square = items.view(np.uint8).reshape(len(at), widest)
        content = square[np.arange(widest) < used[:, None]]
    else:
        content = data[_spans(at, used)]
    bitmap = None if everywhere else pa.array(valid).buffers()[1]
    small = offsets[-1] < 2**31
    if arrow_type == pa.binary():
        kind = pa.binary() if small else pa.large_binary()
    else:
        kind = pa.string() if small else pa.large_string()
    index = offsets.astype(np.int32) if small else offsets
    buffers = [bitmap, pa.py_buffer(index), pa.py_buffer(content)]
    return pa.Array.from_buffers(kind, len(at), buffers).cast(arrow_type)


def _encode(columns: list[pa.Array], layouts: list[str]) -> Iterator[Buffer]:
    """The bytes of a `COPY ... FROM STDIN (FORMAT binary)` of these columns, a block at a time.

    Blocks keep the work in the CPU's cache, and the server parses one while the next is made.
    """
    columns = [
        a.cast(pa.large_binary()) if layout == "" else a
        for a, layout in zip(columns, layouts, strict=True)
    ]
    yield COPY_HEADER
    for start in range(0, len(columns[0]) if columns else 0, BLOCK_ROWS):
        yield _encode_rows([a.slice(start, BLOCK_ROWS) for a in columns], layouts)
    yield b"\xff\xff"  # a field count of -1 ends the data


def _encode_rows(columns: list[pa.Array], layouts: list[str]) -> memoryview:
    lengths = []
    for array, layout in zip(columns, layouts, strict=True):
        valid = array.is_valid().to_numpy(zero_copy_only=False)
        if layout:
            width = np.dtype(layout).itemsize
            lengths.append(np.where(valid, width, -1))
        else:
            offsets = _offsets(array)
            lengths.append(np.where(valid, offsets[1:] - offsets[:-1], -1))
    row_sizes = np.full(len(columns[0]), 2, np.int64)
    for length in lengths:
        row_sizes += 4 + np.maximum(length, 0)
    rows = np.cumsum(row_sizes) - row_sizes
    out = np.zeros(int(row_sizes.sum()), np.uint8)
    _unaligned(out, ">i2")[rows] = len(columns)
    at = rows + 2
    for array, layout, length in zip(columns, layouts, lengths, strict=True):
        _unaligned(out, ">i4")[at] = length
        at = at + 4
        valid = length >= 0
        if layout == "?":
            out[at[valid]] = array.drop_null().to_numpy(zero_copy_only=False)
        elif layout:
            values = array.drop_null()
            if pa.types.is_timestamp(array.type):
                values = pc.subtract(values.cast(pa.int64()), EPOCH_MICROS)
            elif array.type == pa.date32():
                values = pc.subtract(values.cast(pa.int32()), EPOCH_DAYS)
            _unaligned(out, layout)[at[valid]] = values.to_numpy()
        else:
            used = np.maximum(length, 0)
            content = np.frombuffer(array.buffers()[2] or b"", np.uint8)
            out[_spans(at, used)] = content[_spans(_offsets(array)[:-1], used)]
        at = at + np.maximum(length, 0)
    return out.data


def _offsets(array: pa.Array) -> Ints:
    """The n + 1 value offsets of a large_binary array (which may be a slice)."""
    offsets: Ints = np.frombuffer(array.buffers()[1], np.int64)
    return offsets[array.offset : array.offset + len(array) + 1]
