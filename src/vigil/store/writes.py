"""Idempotent writes of predictions, labels and rejected records, in one transaction per group.

The fast path inserts the whole group as one table and lets the primary key notice an id that is
already there; then the whole group is redone carefully: repeats within a batch and against
the stored rows are told apart as duplicates (same content) or conflicts (the first stays).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vigil.errors import ConflictError, InputError
from vigil.store.backend import ROLLING_START, Backend
from vigil.store.base import (
    ARROW_TYPES,
    ModelInfo,
    Quarantined,
    WriteResult,
    utcnow,
)
from vigil.store.batches import (
    against_known,
    buckets,
    concatenated,
    constant_time,
    split_repeats,
)
from vigil.store.blocks import Blocks
from vigil.store.windows import Windows


class Writes:
    """Writes into a model's prediction and label tables and into the quarantine."""

    def __init__(self, db: Backend, windows: Windows, blocks: Blocks) -> None:
        self._db = db
        self._windows = windows
        self._blocks = blocks

    def write_predictions(
        self,
        model: ModelInfo,
        batches: Sequence[pa.Table],
        quarantined: Sequence[Quarantined],
        *,
        window_seconds: int,
    ) -> list[WriteResult]:
        """Store validated prediction batches in one transaction; idempotent by id.

        Each batch has the columns `id`, `timestamp`, `model_version`, `latency_ms`, `error`
        and any of the model's stored columns, by their names.
        """
        keyed = [self._prediction_frame(model, b) for b in batches]
        table = f"p_{model.id}"
        return self._write(
            model, table, keyed, quarantined, window_seconds=window_seconds, labels=False
        )

    def write_labels(
        self,
        model: ModelInfo,
        batches: Sequence[pa.Table],
        quarantined: Sequence[Quarantined],
        *,
        window_seconds: int,
    ) -> list[WriteResult]:
        """Store validated label batches (`id`, `label`, `timestamp`) in one transaction."""
        if model.label_storage is None:
            raise ConflictError(
                f"model {model.name!r} has no target column in its spec, so it cannot take "
                f"labels; add a column with `role: target` and register the version again."
            )
        now = pa.scalar(utcnow(), pa.timestamp("us"))
        keyed = []
        for b in batches:
            keyed.append(
                pa.table(
                    {
                        "id": b.column("id"),
                        "label": b.column("label").cast(ARROW_TYPES[model.label_storage]),
                        "ts": b.column("timestamp").cast(pa.timestamp("us")),
                        "received": constant_time(now.as_py(), b.num_rows),
                    }
                )
            )
        table = f"l_{model.id}"
        return self._write(
            model, table, keyed, quarantined, window_seconds=window_seconds, labels=True
        )

    def _prediction_frame(self, model: ModelInfo, batch: pa.Table) -> pa.Table:
        n = batch.num_rows
        arrays: dict[str, pa.Array | pa.ChunkedArray] = {
            "id": batch.column("id"),
            "ts": batch.column("timestamp").cast(pa.timestamp("us")),
            "version": batch.column("model_version"),
            "latency_ms": batch.column("latency_ms").cast(pa.float64()),
            "error": batch.column("error").cast(pa.string()),
            "received": constant_time(utcnow(), n),
        }
        present = set(batch.column_names)
        for col in model.columns:
            if col.name in present:
                arrays[col.key] = batch.column(col.name).cast(ARROW_TYPES[col.storage])
        return pa.table(arrays)

    def _write(
        self,
        model: ModelInfo,
        table: str,
        batches: Sequence[pa.Table],
        quarantined: Sequence[Quarantined],
        *,
        window_seconds: int,
        labels: bool,
    ) -> list[WriteResult]:
        """The group written; InputError when the database refused the values themselves."""
        try:
            return self._write_group(
                model, table, batches, quarantined, window_seconds=window_seconds, labels=labels
            )
        except Exception as err:
            if not self._db.is_data_error(err):
                raise
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise InputError(
                f"the store refused this batch: {first}. Nothing of it was stored; "
                f"check the text and values of the batch."
            ) from err

    def _write_group(
        self,
        model: ModelInfo,
        table: str,
        batches: Sequence[pa.Table],
        quarantined: Sequence[Quarantined],
        *,
        window_seconds: int,
        labels: bool,
    ) -> list[WriteResult]:
        try:
            with self._db.transaction():
                return self._write_all(
                    model, table, batches, quarantined, window_seconds, labels, fast=True
                )
        except Exception as err:
            if not self._db.is_unique_violation(err):
                raise
        # some id was there already: check every batch against what is stored
        with self._db.transaction():
            return self._write_all(
                model, table, batches, quarantined, window_seconds, labels, fast=False
            )

    def _write_all(
        self,
        model: ModelInfo,
        table: str,
        batches: Sequence[pa.Table],
        quarantined: Sequence[Quarantined],
        window_seconds: int,
        labels: bool,
        *,
        fast: bool,
    ) -> list[WriteResult]:
        if fast:
            results, touched = self._write_fast(model, table, batches, window_seconds, labels)
        else:
            results, touched = self._write_careful(model, table, batches, window_seconds, labels)
        self._write_quarantine(model, quarantined)
        # labels mark their windows as having only new labels; rows, as having new data
        self._windows.touch(model, touched, window_seconds, labels_only=labels)
        return results

    def _write_fast(
        self,
        model: ModelInfo,
        table: str,
        batches: Sequence[pa.Table],
        window_seconds: int,
        labels: bool,
    ) -> tuple[list[WriteResult], set[tuple[str, datetime]]]:
        """The group's batches as one table in one INSERT; the primary key notices a repeated
        id (within a batch, across the group's batches or against the stored rows), and then
        the transaction is redone carefully, batch by batch."""
        rows = concatenated(batches)
        pending = [0] * len(batches)
        touched: set[tuple[str, datetime]] = set()
        if rows is not None and rows.num_rows:
            self._insert(table, rows, skip_existing=False)
            if labels:
                joined = self._joined_predictions(model, rows, [b.num_rows for b in batches])
                found = np.bincount(
                    joined.column("k").to_numpy(zero_copy_only=False), minlength=len(batches)
                )
                pending = [b.num_rows - int(f) for b, f in zip(batches, found, strict=True)]
                touched = buckets(joined, window_seconds)
            else:
                self._blocks.append(model, rows)
                touched = buckets(rows, window_seconds)
        results = [
            WriteResult(b.num_rows, 0, 0, (), p) for b, p in zip(batches, pending, strict=True)
        ]
        return results, touched

    def _write_careful(
        self,
        model: ModelInfo,
        table: str,
        batches: Sequence[pa.Table],
        window_seconds: int,
        labels: bool,
    ) -> tuple[list[WriteResult], set[tuple[str, datetime]]]:
        """Batch by batch: repeats within a batch and against the stored rows are told apart
        as duplicates (same content) or conflicts (the first stays)."""
        results = []
        touched: set[tuple[str, datetime]] = set()
        for batch in batches:
            fresh, duplicates, conflicts = split_repeats(batch)
            if fresh.num_rows:
                fresh, dup_stored, conflict_stored = self._against_stored(table, fresh)
                duplicates += dup_stored
                conflicts += conflict_stored
            pending = 0
            if fresh.num_rows:
                stored = self._insert(table, fresh, skip_existing=True)
                if stored.num_rows < fresh.num_rows:
                    # another instance stored some of these ids since `_against_stored` looked
                    raced = fresh.filter(pc.invert(pc.is_in(fresh["id"], stored["id"])))
                    _, dup_raced, conflict_raced = self._against_stored(table, raced)
                    duplicates += dup_raced
                    conflicts += conflict_raced
                    fresh = stored
                if labels:
                    joined = self._joined_predictions(model, fresh, [fresh.num_rows])
                    pending = fresh.num_rows - joined.num_rows
                    touched |= buckets(joined, window_seconds)
                else:
                    self._blocks.append(model, fresh)
                    touched |= buckets(fresh, window_seconds)
            results.append(
                WriteResult(fresh.num_rows, duplicates, len(conflicts), tuple(conflicts), pending)
            )
        return results, touched

    def _insert(self, table: str, rows: pa.Table, *, skip_existing: bool) -> pa.Table:
        """Insert rows; those actually stored (with `skip_existing`, ids not taken meanwhile)."""
        names = ", ".join(rows.column_names)  # generated identifiers only (id, ts, c0, ...)
        # one order of ids for every writer, so two instances never wait on each other in a cycle
        self._db.load("vigil_batch", rows.sort_by("id") if self._db.shared else rows)
        try:
            insert = f"INSERT INTO {table} ({names}) SELECT {names} FROM vigil_batch"
            if not skip_existing:
                self._db.run(insert)
                return rows
            ids = self._db.run(f"{insert} ON CONFLICT (id) DO NOTHING RETURNING id")
        finally:
            self._db.unload("vigil_batch")
        if len(ids) == rows.num_rows:
            return rows
        return rows.filter(pc.is_in(rows["id"], pa.array([r[0] for r in ids], pa.string())))

    def _against_stored(self, table: str, rows: pa.Table) -> tuple[pa.Table, int, list[str]]:
        """Rows whose id is not stored yet; resends of stored rows; ids that contradict them."""
        names = [n for n in rows.column_names if n != "received"]
        self._db.load("vigil_ids", pa.table({"id": rows.column("id")}))
        try:
            stored = self._db.arrow(
                f"SELECT {', '.join('t.' + n for n in names)} FROM {table} t "
                "JOIN vigil_ids b ON t.id = b.id"
            )
        finally:
            self._db.unload("vigil_ids")
        if stored.num_rows == 0:
            return rows, 0, []
        before = {r["id"]: r for r in stored.to_pylist()}
        return against_known(rows.select(names), rows, before, remember=False)

    def _joined_predictions(self, model: ModelInfo, labels: pa.Table, sizes: list[int]) -> pa.Table:
        """`k` (which of the batches of `sizes` rows a label came in), `version` and `ts` of
        the stored predictions these labels belong to."""
        k = np.repeat(np.arange(len(sizes), dtype=np.int32), sizes)
        self._db.load("vigil_ids", pa.table({"id": labels.column("id"), "k": k}))
        try:
            return self._db.arrow(
                f"SELECT b.k, p.version, p.ts FROM p_{model.id} p JOIN vigil_ids b ON p.id = b.id"
            )
        finally:
            self._db.unload("vigil_ids")

    def _write_quarantine(self, model: ModelInfo, records: Sequence[Quarantined]) -> None:
        if not records:
            return
        now = utcnow()
        rows = pa.table(
            {
                "model_id": pa.array([model.id] * len(records), pa.int32()),
                "received": pa.array([now] * len(records), pa.timestamp("us")),
                "kind": [r.kind for r in records],
                "record_index": pa.array([r.index for r in records], pa.int32()),
                "record_id": pa.array([_storable(r.record_id) for r in records], pa.string()),
                "errors": [json.dumps(list(r.errors)) for r in records],
                "payload": [r.payload for r in records],
            }
        )
        self._db.load("vigil_quarantine", rows)
        try:
            self._db.run("INSERT INTO quarantine SELECT * FROM vigil_quarantine")
        finally:
            self._db.unload("vigil_quarantine")

    def read_quarantine(
        self, model: ModelInfo, *, limit: int, since: datetime | None
    ) -> list[dict[str, Any]]:
        """The most recent rejected records of a model, newest first."""
        rows = self._db.run(
            "SELECT received, kind, record_index, record_id, errors, payload FROM quarantine "
            "WHERE model_id = ? AND received >= ? ORDER BY received DESC, record_index LIMIT ?",
            (model.id, since or ROLLING_START, limit),
        )
        return [
            {
                "received": received.isoformat() + "Z",
                "kind": kind,
                "index": index,
                "id": record_id,
                "errors": json.loads(errors),
                "payload": payload,
            }
            for received, kind, index, record_id, errors, payload in rows
        ]


def _storable(record_id: str | None) -> str | None:
    """A rejected record's id as every store keeps it: PostgreSQL refuses text holding NUL (a
    reason to reject the record, so it does occur here); NUL is kept as U+FFFD, and a lone
    surrogate (JSON's `"\\ud800"`, which no store can hold as text) as `?`."""
    if record_id is None:
        return None
    return record_id.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")
