"""The embedded DuckDB backend: one file, nothing to start.

One connection per store, one cursor per thread (DuckDB's rule for threads); writes are
serialised by a lock so that transactions never race inside the process, and DuckDB's file
lock keeps a second process out. A commit writes DuckDB's write-ahead log, so an acknowledged
write survives a killed process.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from vigil.errors import StoreError


class DuckDBBackend:
    """`vigil.store.sql.Backend` over a DuckDB file."""

    def __init__(self, path: str | Path) -> None:
        self.types = {
            "blob": "BLOB",
            "double": "DOUBLE",
            "bigint": "BIGINT",
            "raw_blocks": "SELECT 1",  # keeps no blocks
        }
        self.shared = False  # DuckDB's file lock keeps other processes out
        self.blocks = False  # reads its own columns fast: no column blocks (vigil.store.blocks)
        self.max_columns: int | None = None  # no cap a spec could reach
        self.url_for_display = str(path)
        try:
            self._con = duckdb.connect(str(path))
        except duckdb.IOException as err:
            first = str(err).splitlines()[0]
            hint = (
                " Another process (another `vigil serve`?) holds the file: one DuckDB file "
                "serves one process; use PostgreSQL (--db postgresql://...) for several."
                if "lock" in first.lower()
                else " Check that the folder exists and is writable."
            )
            raise StoreError(f"cannot open the store {path}: {first}.{hint}") from err
        self._con.execute("SET enable_progress_bar = false")
        self._local = threading.local()
        self._write_lock = threading.RLock()
        self._cursors: list[duckdb.DuckDBPyConnection] = []
        self._cursors_lock = threading.Lock()

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        cur: duckdb.DuckDBPyConnection | None = getattr(self._local, "cursor", None)
        if cur is None:
            cur = self._con.cursor()
            self._local.cursor = cur
            with self._cursors_lock:
                self._cursors.append(cur)
        return cur

    def run(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one statement; its rows, if it returns any."""
        cur = self._cursor()
        cur.execute(sql, list(params))
        if cur.description is None:
            return []
        return cur.fetchall()

    def blobs(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """`run` for a query of large binary values."""
        return self.run(sql, params)

    def arrow(self, sql: str, params: Sequence[Any] = ()) -> pa.Table:
        """Run a query and read its result as an Arrow table."""
        table: pa.Table = self._cursor().sql(sql, params=list(params)).to_arrow_table()
        return table

    def load(self, name: str, table: pa.Table) -> None:
        """Make an Arrow table queryable as `name` on this thread's cursor (no copy)."""
        self._cursor().register(name, table)

    def unload(self, name: str) -> None:
        """Forget a relation made by `load` (after the rollback, if the transaction failed)."""
        try:
            self._cursor().unregister(name)
        except duckdb.TransactionException:
            self._local.stale = [*getattr(self._local, "stale", []), name]

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One transaction on this thread's cursor, holding the process's write lock."""
        with self._write_lock:
            cur = self._cursor()
            cur.execute("BEGIN TRANSACTION")
            try:
                yield
            except BaseException:
                cur.execute("ROLLBACK")
                for name in getattr(self._local, "stale", []):
                    cur.unregister(name)
                self._local.stale = []
                raise
            cur.execute("COMMIT")

    @contextmanager
    def migration_lock(self) -> Iterator[None]:
        """DuckDB's file lock already keeps other processes out."""
        with self._write_lock:
            yield

    def is_unique_violation(self, error: Exception) -> bool:
        """True when `error` is a duplicate primary or unique key."""
        return isinstance(error, duckdb.ConstraintException) and (
            "Duplicate key" in str(error) or "unique" in str(error).lower()
        )

    def is_data_error(self, error: Exception) -> bool:
        """True when the database refused the values written (bad text, a value out of range,
        a constraint), not when it failed: the same write would fail again."""
        return isinstance(
            error, (duckdb.DataError, duckdb.InvalidInputException, duckdb.ConstraintException)
        )

    def close(self) -> None:
        """Close every cursor and the connection (checkpointing the log into the file)."""
        with self._cursors_lock:
            for cur in self._cursors:
                cur.close()
            self._cursors.clear()
        self._con.close()
