"""A model's predictions kept a second time as column blocks, for window reads on PostgreSQL.

PostgreSQL sends a query's result a row at a time and makes every value of it with a function
call of its own: a 1M-row, 28-column window took 2.0 s as binary COPY, of which 1.5 s was the
server's work with nothing sorted (bench/RESULTS.md, issue 12), against DuckDB's 0.3 s. So on
PostgreSQL every write of predictions also stores the rows it stored as one *block*: the Arrow
IPC stream (LZ4 frames) of those rows, sorted by (ts, id), in the `blocks` table with its
model, version and first and last timestamp. A window's read fetches the blocks that overlap
it (a few large values: the server copies bytes), decodes them in Arrow, keeps the window's
rows and sorts them; the labels are joined from the label table as before.

The blocks hold exactly the stored rows: written in the transaction that inserts the rows
(`append`), after the insert (so the rows' lock orders it after a backfill), and only the rows
the insert kept (a resent id is not stored twice). A model's rows stored before it had blocks
are copied into blocks once, at its first window read (`backfill`, holding off writers with
a SHARE lock on its prediction table, a million rows at a time through an index made for the
copy and dropped with it); `block_models` lists the models whose rows are all in
blocks. Retention cuts the blocks as it deletes the rows (`drop_before`). Small writes make
small blocks; a window read that finds more than `COMPACT_ABOVE` of them (a quarter of
`BLOCK_ROWS` rows or fewer) merges them into blocks of up to `BLOCK_ROWS` rows (`_compact`);
large blocks are left as they are. Everything that replaces blocks holds a
transaction-level advisory lock on the model, so two replacements never interleave.

A read counts the window's rows in the prediction table before it fetches the blocks: blocks
holding fewer (rows written by a vigil that kept none) send the read to the table and have
the model's blocks made again (`read` gives None, `forget`).

DuckDB reads its own columns fast and keeps no blocks (`Backend.blocks` is False).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as paipc

from vigil.errors import StoreError
from vigil.store.backend import Backend
from vigil.store.base import ARROW_TYPES, ModelInfo, utcnow

BLOCK_ROWS = 262_144  # rows of a block made by a backfill or a compaction
COMPACT_ABOVE = 32  # a window read that finds more blocks than this merges them
BACKFILL_ROWS = 1_048_576  # rows a backfill reads at a time (whole hours; more if one has)
# every vigil takes this advisory lock (with the model's id) to replace a model's blocks
REPLACE_LOCK = 0x7669_626C  # "vibl"
IPC_OPTIONS = paipc.IpcWriteOptions(compression="lz4")
# the prediction table's columns a block keeps: the version is the block's, `received` is
# not read by windows
FIXED = ("id", "ts", "latency_ms", "error")
ORDER = [("ts", "ascending"), ("id", "ascending")]  # text in byte order, as COLLATE "C"
log = logging.getLogger("vigil.store")


class _Raced(Exception):
    """Another vigil replaced some of the blocks first."""


class Blocks:
    """The `blocks` of the models whose windows are read from them."""

    def __init__(self, db: Backend) -> None:
        self._db = db
        self._ready: set[int] = set()  # models known to have all their rows in blocks

    @property
    def enabled(self) -> bool:
        """Whether this database keeps blocks (PostgreSQL)."""
        return self._db.blocks

    def start(self, model_id: int) -> None:
        """A new model, with no rows yet: every row it gets goes into blocks."""
        if self.enabled:
            self._db.run(
                "INSERT INTO block_models (model_id, since) VALUES (?, ?) "
                "ON CONFLICT (model_id) DO NOTHING",
                (model_id, utcnow()),
            )

    def append(self, model: ModelInfo, rows: pa.Table) -> None:
        """The rows an insert just stored (the prediction table's columns), as one block per
        version; in the insert's transaction, after it."""
        if not self.enabled or rows.num_rows == 0 or not self._is_ready(model.id):
            return
        for version in pc.unique(rows.column("version")).to_pylist():
            part = rows.filter(pc.equal(rows.column("version"), version))
            self._write(model.id, str(version), _kept(part).sort_by(ORDER))

    def read(
        self, model: ModelInfo, version: str, start: datetime, end: datetime
    ) -> pa.Table | None:
        """The version's rows with `start <= ts < end`, in (ts, id) order, with the
        prediction table's column names (`id`, `ts`, `latency_ms`, `error`, `c0`, ...).

        None when the blocks lack rows the prediction table has (written by a vigil that
        kept no blocks, still running after an upgrade): the model's blocks are then made
        again at its next read, and this read is the caller's to make from the rows. The
        rows are counted before the blocks are fetched, and every row committed by then is
        in a block committed with it, so a concurrent write never looks like a lack
        (retention deleting rows between the two can: that costs one backfill).
        """
        if not self._is_ready(model.id):
            self.backfill(model)
        stored = int(
            self._db.run(
                f"SELECT count(*) FROM p_{model.id} WHERE version = ? AND ts >= ? AND ts < ?",
                (version, start, end),
            )[0][0]
        )
        found = self._db.blobs(
            "SELECT block_id, rows_n, data FROM blocks WHERE model_id = ? AND version = ? "
            "AND last_ts >= ? AND first_ts < ?",
            (model.id, version, start, end),
        )
        tables = _decoded(model, [(str(b), data) for b, _, data in found])
        whole = _joined(model, tables)
        order = _window_order(whole, start, end)
        if len(order) < stored:
            log.warning(
                "model %r: the column blocks of version %r hold %d rows in [%s, %s), the "
                "prediction table %d; an earlier vigil may still be writing to this store. "
                "Read from the table; the blocks are made again at the next read.",
                model.name,
                version,
                len(order),
                start,
                end,
                stored,
            )
            self.forget(model)
            return None
        small = [i for i, (_, n, _) in enumerate(found) if n <= BLOCK_ROWS // 4]
        if len(small) > COMPACT_ABOVE:
            ids = [str(found[i][0]) for i in small]
            self._compact(model.id, version, ids, _joined(model, [tables[i] for i in small]))
        return whole.take(order)

    def forget(self, model: ModelInfo) -> None:
        """Make the model's blocks again from its prediction table at its next read."""
        self._db.run("DELETE FROM block_models WHERE model_id = ?", (model.id,))
        self._ready.discard(model.id)

    def backfill(self, model: ModelInfo) -> None:
        """Copy the rows the model stored before it had blocks into blocks, once."""
        with self._db.transaction():
            # writers wait here until the copy is done, then see `block_models` and append;
            # the table before the advisory lock, in the order retention takes them
            self._db.run(f"LOCK TABLE p_{model.id} IN SHARE MODE")
            self._db.run("SELECT pg_advisory_xact_lock(?, ?)", (REPLACE_LOCK, model.id))
            if self._db.run("SELECT 1 FROM block_models WHERE model_id = ?", (model.id,)):
                self._ready.add(model.id)
                return
            self._db.run("DELETE FROM blocks WHERE model_id = ?", (model.id,))
            hours = self._db.run(
                f"SELECT version, date_trunc('hour', ts), count(*) FROM p_{model.id} "
                "GROUP BY 1, 2 ORDER BY 1, 2"
            )
            parts = _parts([(str(v), h, int(n)) for v, h, n in hours], BACKFILL_ROWS)
            total = sum(int(n) for *_, n in hours)
            log.info(
                "copying the %d stored rows of model %r into column blocks, once; its writes "
                "wait meanwhile",
                total,
                model.name,
            )
            began = time.monotonic()
            index = f"vigil_backfill_{model.id}"
            if len(parts) > 1:  # one scan a part: through an index made for the copy alone
                self._db.run(f"CREATE INDEX {index} ON p_{model.id} (version, ts)")
            names = ", ".join([*FIXED, *(c.key for c in model.columns)])
            for version, low, high in parts:
                rows = self._db.arrow(
                    f"SELECT {names} FROM p_{model.id} WHERE version = ? AND ts >= ? AND ts < ?",
                    (version, low, high),
                )
                self._write_sized(model.id, version, rows)
            if len(parts) > 1:
                self._db.run(f"DROP INDEX {index}")
            log.info(
                "model %r: %d rows in column blocks after %.1f s",
                model.name,
                total,
                time.monotonic() - began,
            )
            self._db.run(
                "INSERT INTO block_models (model_id, since) VALUES (?, ?)",
                (model.id, utcnow()),
            )
        self._ready.add(model.id)

    def drop_before(self, model: ModelInfo, cutoff: datetime) -> None:
        """Retention: the rows with `ts < cutoff` out of the blocks; in the transaction that
        deletes them from the prediction table."""
        if not self.enabled:
            return
        self._db.run("SELECT pg_advisory_xact_lock(?, ?)", (REPLACE_LOCK, model.id))
        self._db.run("DELETE FROM blocks WHERE model_id = ? AND last_ts < ?", (model.id, cutoff))
        cut = self._db.blobs(
            "SELECT block_id, version, data FROM blocks WHERE model_id = ? AND first_ts < ?",
            (model.id, cutoff),
        )
        for block_id, version, data in cut:
            (rows,) = _decoded(model, [(str(block_id), data)])
            kept = rows.filter(pc.greater_equal(rows["ts"], pa.scalar(cutoff, rows["ts"].type)))
            self._db.run("DELETE FROM blocks WHERE block_id = ?", (block_id,))
            self._write(model.id, str(version), kept)

    def _is_ready(self, model_id: int) -> bool:
        if model_id in self._ready:
            return True
        if self._db.run("SELECT 1 FROM block_models WHERE model_id = ?", (model_id,)):
            self._ready.add(model_id)  # never taken back: a model keeps its blocks
            return True
        return False

    def _compact(self, model_id: int, version: str, ids: Sequence[str], rows: pa.Table) -> None:
        """Put the rows of many blocks (`ids`, decoded into `rows`) into few; nothing when
        another vigil replaced any of them since they were read."""
        try:
            with self._db.transaction():
                self._db.run("SELECT pg_advisory_xact_lock(?, ?)", (REPLACE_LOCK, model_id))
                self._db.load("vigil_blocks", pa.table({"block_id": pa.array(ids, pa.string())}))
                try:
                    gone = self._db.run(
                        "DELETE FROM blocks WHERE model_id = ? AND block_id IN "
                        "(SELECT block_id FROM vigil_blocks) RETURNING block_id",
                        (model_id,),
                    )
                finally:
                    self._db.unload("vigil_blocks")
                if len(gone) != len(ids):
                    raise _Raced
                self._write_sized(model_id, version, rows)
        except _Raced:
            return

    def _write_sized(self, model_id: int, version: str, rows: pa.Table) -> None:
        """Rows as blocks of at most `BLOCK_ROWS` rows."""
        rows = rows.sort_by(ORDER)
        for first in range(0, rows.num_rows, BLOCK_ROWS):
            self._write(model_id, version, rows.slice(first, BLOCK_ROWS))

    def _write(self, model_id: int, version: str, rows: pa.Table) -> None:
        """Rows in (ts, id) order as one block."""
        if rows.num_rows == 0:
            return
        sink = pa.BufferOutputStream()
        with paipc.new_stream(sink, rows.schema, options=IPC_OPTIONS) as writer:
            writer.write_table(rows)
        ts = rows.column("ts")
        self._db.run(
            "INSERT INTO blocks (block_id, model_id, version, first_ts, last_ts, rows_n, data) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                uuid.uuid4().hex,
                model_id,
                version,
                ts[0].as_py(),
                ts[-1].as_py(),
                rows.num_rows,
                sink.getvalue().to_pybytes(),
            ),
        )


def _window_order(rows: pa.Table, start: datetime, end: datetime) -> pa.Array:
    """The positions of the rows with `start <= ts < end`, in (ts, id) order: what one
    `take` of every column makes the window of (the keys alone are filtered and sorted)."""
    ts = rows.column("ts")
    inside = pc.and_(
        pc.greater_equal(ts, pa.scalar(start, ts.type)), pc.less(ts, pa.scalar(end, ts.type))
    )
    keys = rows.select(["ts", "id"])
    if pc.all(inside).as_py() is not False:  # every row (or none: an empty table)
        return pc.sort_indices(keys, ORDER)
    kept = pc.indices_nonzero(inside)
    return kept.take(pc.sort_indices(keys.take(kept), ORDER))


def _parts(
    hours: Sequence[tuple[str, datetime, int]], most: int
) -> list[tuple[str, datetime, datetime]]:
    """(version, start, end) spans of consecutive whole hours of one version holding at most
    `most` rows each (an hour with more is a part of its own), from (version, hour, rows)
    in order."""
    parts: list[tuple[str, datetime, datetime]] = []
    held = 0
    for version, hour, n in hours:
        end = hour + timedelta(hours=1)
        if parts and parts[-1][0] == version and held + n <= most:
            parts[-1] = (version, parts[-1][1], end)
            held += n
        else:
            parts.append((version, hour, end))
            held = n
    return parts


def _kept(rows: pa.Table) -> pa.Table:
    """A block's columns of the prediction table's rows."""
    return rows.drop_columns([n for n in ("version", "received") if n in rows.column_names])


def _schema(model: ModelInfo) -> pa.Schema:
    """A block's columns as read: every column the model has now."""
    return pa.schema(
        [
            pa.field("id", pa.string()),
            pa.field("ts", pa.timestamp("us")),
            pa.field("latency_ms", pa.float64()),
            pa.field("error", pa.string()),
            *(pa.field(c.key, ARROW_TYPES[c.storage]) for c in model.columns),
        ]
    )


def _decoded(model: ModelInfo, blocks: Sequence[tuple[str, bytes]]) -> list[pa.Table]:
    """Each block's rows with every column the model has now (columns added after a block
    was written are NULL in its rows)."""
    schema = _schema(model)
    tables = []
    for block_id, data in blocks:
        try:
            table = paipc.open_stream(pa.py_buffer(data)).read_all()
        except (pa.ArrowInvalid, OSError) as err:
            raise StoreError(
                f"block {block_id} of model {model.name!r} in the store is damaged ({err}); "
                f"delete the model's row in block_models (`DELETE FROM block_models WHERE "
                f"model_id = {model.id}`) and restart vigil: the model's blocks are made "
                f"again from its prediction table at the next window read."
            ) from err
        missing = [f for f in schema if f.name not in table.column_names]
        for field in missing:
            table = table.append_column(field, pa.nulls(table.num_rows, field.type))
        tables.append(table.select(schema.names).cast(schema))
    return tables


def _joined(model: ModelInfo, tables: list[pa.Table]) -> pa.Table:
    """Decoded blocks as one table (their chunks, not copied)."""
    return pa.concat_tables(tables) if tables else _schema(model).empty_table()
