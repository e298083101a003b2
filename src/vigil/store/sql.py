"""The store's logic in the SQL that DuckDB and PostgreSQL share, over a small `Backend`.

A backend opens connections, runs statements with `?` parameters, makes an Arrow table visible
as a relation, and reads a query back as Arrow. Everything else — catalogue, idempotent writes,
window bookkeeping, metric points — is written once here, so both backends pass one test suite.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vigil.errors import ConflictError, StoreError
from vigil.store.base import (
    ARROW_TYPES,
    MetricPoint,
    ModelInfo,
    Quarantined,
    Storage,
    StoredColumn,
    WindowKey,
    WindowKind,
    WindowState,
    WriteResult,
)
from vigil.store.migrations import MIGRATIONS

ROLLING_START = datetime(1970, 1, 1)  # the rolling window's fixed key; its end moves
RESERVED_PREFIX = "__"  # window tables name their fixed fields __id, __ts, ...
WINDOW_FIELDS = ("__id", "__ts", "__version", "__latency_ms", "__error")


class Backend(Protocol):
    """What the shared SQL needs from a database driver."""

    url_for_display: str
    types: dict[str, str]  # "blob", "double", "bigint" -> this database's type names
    shared: bool  # other processes write this database too (PostgreSQL), not only this one

    def run(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...
    def arrow(self, sql: str, params: Sequence[Any] = ()) -> pa.Table: ...
    def load(self, name: str, table: pa.Table) -> None: ...
    def unload(self, name: str) -> None: ...
    def transaction(self) -> AbstractContextManager[None]: ...
    def migration_lock(self) -> AbstractContextManager[None]: ...
    def is_unique_violation(self, error: Exception) -> bool: ...
    def close(self) -> None: ...


def utcnow() -> datetime:
    """Now, as the naive UTC timestamp the store keeps."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


class SqlStore:
    """The `vigil.store.base.Store` interface over a DuckDB or PostgreSQL backend."""

    def __init__(self, backend: Backend) -> None:
        self._db = backend
        self.url_for_display = backend.url_for_display
        self._models: dict[str, ModelInfo] = {}
        self._migrate()

    def close(self) -> None:
        """Close every connection."""
        self._db.close()

    # -- schema ---------------------------------------------------------------------------

    def _migrate(self) -> None:
        with self._db.migration_lock():
            self._db.run("CREATE TABLE IF NOT EXISTS vigil_schema (version INTEGER NOT NULL)")
            rows = self._db.run("SELECT max(version) FROM vigil_schema")
            current = rows[0][0] or 0
            for version, statements in MIGRATIONS:
                if version <= current:
                    continue
                with self._db.transaction():
                    for statement in statements:
                        self._db.run(statement.format(**self._db.types))
                    self._db.run("INSERT INTO vigil_schema VALUES (?)", (version,))
            if current > MIGRATIONS[-1][0]:
                raise StoreError(
                    f"the store {self.url_for_display} has schema version {current}, newer than "
                    f"this vigil knows ({MIGRATIONS[-1][0]}); upgrade vigil."
                )

    def _sql_type(self, storage: Storage) -> str:
        return self._db.types["double"] if storage == "DOUBLE" else storage

    # -- models ---------------------------------------------------------------------------

    def register_model(
        self,
        name: str,
        version: str,
        spec: dict[str, Any],
        columns: Sequence[tuple[str, str, Storage]],
        label_storage: Storage | None,
    ) -> ModelInfo:
        """Add a model or a version of one; new spec columns get new table columns."""
        for attempt in range(3):
            try:
                return self._register(name, version, spec, columns, label_storage)
            except Exception as err:  # two instances registering at once: try again
                if attempt == 2 or not self._db.is_unique_violation(err):
                    raise
        raise AssertionError("unreachable")

    def _register(
        self,
        name: str,
        version: str,
        spec: dict[str, Any],
        columns: Sequence[tuple[str, str, Storage]],
        label_storage: Storage | None,
    ) -> ModelInfo:
        now = utcnow()
        with self._db.transaction():
            found = self._db.run("SELECT id, label_storage FROM models WHERE name = ?", (name,))
            if found:
                model_id, old_label = int(found[0][0]), found[0][1]
                if old_label and label_storage and old_label != label_storage:
                    raise ConflictError(
                        f"model {name!r}: the target was stored as {old_label} and version "
                        f"{version!r} makes it {label_storage}; keep the target's kind, or "
                        f"register the new model under another name."
                    )
                self._db.run(
                    "UPDATE models SET current_version = ?, label_storage = ? WHERE id = ?",
                    (version, old_label or label_storage, model_id),
                )
            else:
                model_id = int(self._db.run("SELECT coalesce(max(id), 0) + 1 FROM models")[0][0])
                self._db.run(
                    "INSERT INTO models VALUES (?, ?, ?, ?, ?)",
                    (model_id, name, version, label_storage, now),
                )
                self._create_tables(model_id, label_storage)
            self._db.run(
                "INSERT INTO model_versions VALUES (?, ?, ?, ?) "
                "ON CONFLICT (model_id, version) DO UPDATE SET spec = excluded.spec",
                (model_id, version, json.dumps(spec), now),
            )
            self._add_columns(model_id, columns)
            if label_storage is not None and not (found and found[0][1]):
                self._ensure_label_table(model_id, label_storage)
        self._models.pop(name, None)
        info = self.get_model(name)
        assert info is not None
        return info

    def _create_tables(self, model_id: int, label_storage: Storage | None) -> None:
        self._db.run(
            f"CREATE TABLE IF NOT EXISTS p_{model_id} ("
            "id VARCHAR PRIMARY KEY, ts TIMESTAMP NOT NULL, version VARCHAR NOT NULL, "
            f"latency_ms {self._db.types['double']}, error VARCHAR, received TIMESTAMP NOT NULL)"
        )
        if label_storage is not None:
            self._ensure_label_table(model_id, label_storage)

    def _ensure_label_table(self, model_id: int, storage: Storage) -> None:
        self._db.run(
            f"CREATE TABLE IF NOT EXISTS l_{model_id} (id VARCHAR PRIMARY KEY, "
            f"label {self._sql_type(storage)}, ts TIMESTAMP, received TIMESTAMP NOT NULL)"
        )

    def _add_columns(self, model_id: int, columns: Sequence[tuple[str, str, Storage]]) -> None:
        rows = self._db.run(
            "SELECT position, name, storage FROM model_columns WHERE model_id = ?", (model_id,)
        )
        known = {name: storage for _, name, storage in rows}
        position = max((int(p) for p, _, _ in rows), default=-1) + 1
        for name, role, storage in columns:
            if name in known:
                if known[name] != storage:
                    raise ConflictError(
                        f"column {name!r} is stored as {known[name]} and the new spec makes it "
                        f"{storage}; keep its kind, or give the changed column a new name."
                    )
                continue
            self._db.run(
                "INSERT INTO model_columns VALUES (?, ?, ?, ?, ?)",
                (model_id, position, name, role, storage),
            )
            self._db.run(
                f"ALTER TABLE p_{model_id} ADD COLUMN IF NOT EXISTS c{position} "
                f"{self._sql_type(storage)}"
            )
            known[name] = storage
            position += 1

    def get_model(self, name: str) -> ModelInfo | None:
        """The model called `name`, or None; cached until it changes in this process."""
        cached = self._models.get(name)
        if cached is not None:
            return cached
        rows = self._db.run(
            "SELECT id, current_version, label_storage, created FROM models WHERE name = ?",
            (name,),
        )
        if not rows:
            return None
        model_id, current, label_storage, created = rows[0]
        specs = {
            str(v): json.loads(s)
            for v, s in self._db.run(
                "SELECT version, spec FROM model_versions WHERE model_id = ? ORDER BY created",
                (model_id,),
            )
        }
        columns = tuple(
            StoredColumn(str(n), str(r), s, f"c{p}")
            for p, n, r, s in self._db.run(
                "SELECT position, name, role, storage FROM model_columns "
                "WHERE model_id = ? ORDER BY position",
                (model_id,),
            )
        )
        info = ModelInfo(int(model_id), name, str(current), specs, columns, label_storage, created)
        self._models[name] = info
        return info

    def list_models(self) -> list[ModelInfo]:
        """Every registered model, by name."""
        names = [str(r[0]) for r in self._db.run("SELECT name FROM models ORDER BY name")]
        return [m for m in (self.get_model(n) for n in names) if m is not None]

    def add_extra_columns(self, model: ModelInfo, names: Sequence[str]) -> ModelInfo:
        """Keep features the spec does not know (as text), so schema drift can be shown."""
        fresh = [n for n in names if model.column(n) is None]
        if not fresh:
            return model
        for attempt in range(3):
            try:
                with self._db.transaction():
                    self._add_columns(model.id, [(n, "extra", "VARCHAR") for n in fresh])
                break
            except Exception as err:
                if attempt == 2 or not self._db.is_unique_violation(err):
                    raise
        self._models.pop(model.name, None)
        info = self.get_model(model.name)
        assert info is not None
        return info

    def forget_cached(self, name: str) -> None:
        """Drop this process's cached copy of a model (another instance may have changed it)."""
        self._models.pop(name, None)

    # -- references -----------------------------------------------------------------------

    def put_reference(self, model: ModelInfo, version: str, parquet: bytes, rows: int) -> None:
        """Store (or replace) the reference set of a model version, as Parquet bytes."""
        with self._db.transaction():
            self._db.run(
                "INSERT INTO model_references VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (model_id, version) DO UPDATE SET parquet = excluded.parquet, "
                "rows_n = excluded.rows_n, created = excluded.created",
                (model.id, version, parquet, rows, utcnow()),
            )
            # every window of the version is judged against the new reference
            self._db.run(
                "UPDATE windows SET generation = generation + 1 WHERE model_id = ? AND version = ?",
                (model.id, version),
            )

    def get_reference(self, model: ModelInfo, version: str) -> bytes | None:
        """The stored reference of a version, or None."""
        rows = self._db.run(
            "SELECT parquet FROM model_references WHERE model_id = ? AND version = ?",
            (model.id, version),
        )
        return bytes(rows[0][0]) if rows else None

    def reference_versions(self, model: ModelInfo) -> dict[str, tuple[int, datetime]]:
        """Versions with a reference: its row count and when it was stored."""
        return {
            str(v): (int(n), created)
            for v, n, created in self._db.run(
                "SELECT version, rows_n, created FROM model_references WHERE model_id = ?",
                (model.id,),
            )
        }

    def redo_windows(self, model: ModelInfo, since: datetime, until: datetime) -> int:
        """Mark the tumbling windows starting in [since, until) for recomputation (backfill)."""
        with self._db.transaction():
            rows = self._db.run(
                "UPDATE windows SET generation = generation + 1 WHERE model_id = ? "
                "AND kind = 'tumbling' AND w_start >= ? AND w_start < ? RETURNING w_start",
                (model.id, since, until),
            )
        return len(rows)

    # -- ingest ---------------------------------------------------------------------------

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
                        "received": _constant_time(now.as_py(), b.num_rows),
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
            "received": _constant_time(utcnow(), n),
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
        results = []
        touched: set[tuple[str, datetime]] = set()
        for batch in batches:
            # the fast path lets the primary key find repeated ids (then all is redone slowly)
            fresh, duplicates, conflicts = (batch, 0, []) if fast else _split_repeats(batch)
            if not fast and fresh.num_rows:
                fresh, dup_stored, conflict_stored = self._against_stored(table, fresh)
                duplicates += dup_stored
                conflicts += conflict_stored
            pending = 0
            if fresh.num_rows:
                stored = self._insert(table, fresh, skip_existing=not fast)
                if stored.num_rows < fresh.num_rows:
                    # another instance stored some of these ids since `_against_stored` looked
                    raced = fresh.filter(pc.invert(pc.is_in(fresh["id"], stored["id"])))
                    _, dup_raced, conflict_raced = self._against_stored(table, raced)
                    duplicates += dup_raced
                    conflicts += conflict_raced
                    fresh = stored
                if labels:
                    joined = self._joined_predictions(model, fresh)
                    pending = fresh.num_rows - joined.num_rows
                    touched |= _buckets(joined, window_seconds)
                else:
                    touched |= _buckets(fresh, window_seconds)
            results.append(
                WriteResult(fresh.num_rows, duplicates, len(conflicts), tuple(conflicts), pending)
            )
        self._write_quarantine(model, quarantined)
        self._touch(model, touched, window_seconds)
        return results

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
        keep = []
        duplicates = 0
        conflicts = []
        for i, row in enumerate(rows.select(names).to_pylist()):
            old = before.get(row["id"])
            if old is None:
                keep.append(i)
            elif _same(old, row):
                duplicates += 1
            else:
                conflicts.append(str(row["id"]))
        return rows.take(pa.array(keep, pa.int64())), duplicates, conflicts

    def _joined_predictions(self, model: ModelInfo, labels: pa.Table) -> pa.Table:
        self._db.load("vigil_ids", pa.table({"id": labels.column("id")}))
        try:
            return self._db.arrow(
                f"SELECT p.version, p.ts FROM p_{model.id} p JOIN vigil_ids b ON p.id = b.id"
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
                "record_id": pa.array([r.record_id for r in records], pa.string()),
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

    # -- windows --------------------------------------------------------------------------

    def _touch(
        self, model: ModelInfo, buckets: set[tuple[str, datetime]], window_seconds: int
    ) -> None:
        if not buckets:
            return
        step = timedelta(seconds=window_seconds)
        keys = [WindowKey(v, "tumbling", start, start + step) for v, start in buckets]
        now = utcnow()
        keys += [WindowKey(v, "rolling", ROLLING_START, now) for v in {v for v, _ in buckets}]
        self.mark_windows(model, keys)

    def mark_windows(self, model: ModelInfo, keys: Sequence[WindowKey]) -> None:
        """Note that these windows have new rows or labels (created when new)."""
        for key in sorted(keys, key=lambda k: (k.version, k.kind, k.start)):
            self._db.run(
                "INSERT INTO windows (model_id, version, kind, w_start, w_end, generation, "
                "computed_generation) VALUES (?, ?, ?, ?, ?, 1, 0) "
                "ON CONFLICT (model_id, version, kind, w_start) "
                "DO UPDATE SET generation = windows.generation + 1",
                (model.id, key.version, key.kind, key.start, key.end),
            )

    def window_states(self, model: ModelInfo, *, dirty_only: bool) -> list[WindowState]:
        """The windows of a model, oldest first; only those with news when `dirty_only`."""
        where = " AND generation > computed_generation" if dirty_only else ""
        rows = self._db.run(
            "SELECT version, kind, w_start, w_end, generation, computed_generation, rows_n, "
            f"labelled_n, computed_at FROM windows WHERE model_id = ?{where} "
            "ORDER BY w_start, version, kind",
            (model.id,),
        )
        return [
            WindowState(WindowKey(str(v), k, s, e), int(g), int(cg), rn, ln, at)
            for v, k, s, e, g, cg, rn, ln, at in rows
        ]

    def claim_window(
        self, model: ModelInfo, key: WindowKey, owner: str, *, lease_seconds: float
    ) -> int | None:
        """Take a dirty window for computing; its generation, or None when someone has it."""
        now = utcnow()
        with self._db.transaction():
            rows = self._db.run(
                "UPDATE windows SET owner = ?, lease_until = ? "
                "WHERE model_id = ? AND version = ? AND kind = ? AND w_start = ? "
                "AND generation > computed_generation "
                "AND (lease_until IS NULL OR lease_until < ? OR owner = ?) RETURNING generation",
                (
                    owner,
                    now + timedelta(seconds=lease_seconds),
                    model.id,
                    key.version,
                    key.kind,
                    key.start,
                    now,
                    owner,
                ),
            )
        return int(rows[0][0]) if rows else None

    def release_window(self, model: ModelInfo, key: WindowKey, owner: str) -> None:
        """Give a claimed window back without results (e.g. too few rows yet)."""
        with self._db.transaction():
            self._db.run(
                "UPDATE windows SET owner = NULL, lease_until = NULL WHERE model_id = ? "
                "AND version = ? AND kind = ? AND w_start = ? AND owner = ?",
                (model.id, key.version, key.kind, key.start, owner),
            )

    def finish_window(
        self,
        model: ModelInfo,
        key: WindowKey,
        *,
        owner: str,
        generation: int,
        rows: int,
        labelled: int,
        report: str | None,
        points: Sequence[MetricPoint],
    ) -> None:
        """Store a computed window's report and metric points and release it."""
        with self._db.transaction():
            self._db.run(
                "UPDATE windows SET computed_generation = ?, rows_n = ?, labelled_n = ?, "
                "computed_at = ?, report = ?, w_end = ?, owner = NULL, lease_until = NULL "
                "WHERE model_id = ? AND version = ? AND kind = ? AND w_start = ? AND owner = ?",
                (
                    generation,
                    rows,
                    labelled,
                    utcnow(),
                    report,
                    key.end,
                    model.id,
                    key.version,
                    key.kind,
                    key.start,
                    owner,
                ),
            )
            if key.kind == "tumbling":
                self._db.run(
                    "DELETE FROM metric_points WHERE model_id = ? AND version = ? AND kind = ? "
                    "AND w_start = ?",
                    (model.id, key.version, key.kind, key.start),
                )
            if points:
                self._insert_points(model, points)

    def _insert_points(self, model: ModelInfo, points: Sequence[MetricPoint]) -> None:
        rows = pa.table(
            {
                "model_id": pa.array([model.id] * len(points), pa.int32()),
                "version": [p.version for p in points],
                "kind": [p.kind for p in points],
                "segment": [p.segment for p in points],
                "w_start": pa.array([p.start for p in points], pa.timestamp("us")),
                "w_end": pa.array([p.end for p in points], pa.timestamp("us")),
                "metric": [p.metric for p in points],
                "col": [p.column for p in points],
                "value": pa.array([p.value for p in points], pa.float64()),
                "status": [p.status for p in points],
            }
        )
        self._db.load("vigil_points", rows)
        try:
            self._db.run(
                "INSERT INTO metric_points SELECT * FROM vigil_points ON CONFLICT "
                "(model_id, version, kind, segment, w_start, metric, col) DO UPDATE SET "
                "value = excluded.value, status = excluded.status, w_end = excluded.w_end"
            )
        finally:
            self._db.unload("vigil_points")

    def read_window(
        self, model: ModelInfo, version: str, start: datetime, end: datetime
    ) -> pa.Table:
        """A window's rows with labels joined so far, as Arrow, by the users' column names.

        Fixed fields are named `__id`, `__ts`, `__version`, `__latency_ms`, `__error`, and
        `__label` when the model takes labels.
        """
        cols = ["p.id", "p.ts", "p.version", "p.latency_ms", "p.error"]
        cols += [f"p.{c.key}" for c in model.columns]
        names = [*WINDOW_FIELDS, *(c.name for c in model.columns)]
        join = ""
        if model.label_storage is not None:
            cols.append("l.label")
            names.append("__label")
            join = f" LEFT JOIN l_{model.id} l ON l.id = p.id"
        table = self._db.arrow(
            f"SELECT {', '.join(cols)} FROM p_{model.id} p{join} "
            "WHERE p.version = ? AND p.ts >= ? AND p.ts < ?",
            (version, start, end),
        )
        table = table.rename_columns(names)
        schema = pa.schema(
            [
                pa.field("__id", pa.string()),
                pa.field("__ts", pa.timestamp("us")),
                pa.field("__version", pa.string()),
                pa.field("__latency_ms", pa.float64()),
                pa.field("__error", pa.string()),
                *(pa.field(c.name, ARROW_TYPES[c.storage]) for c in model.columns),
                *(
                    [pa.field("__label", ARROW_TYPES[model.label_storage])]
                    if model.label_storage is not None
                    else []
                ),
            ]
        )
        return table.cast(schema)

    def window_counts(
        self, model: ModelInfo, version: str, start: datetime, end: datetime
    ) -> tuple[int, int]:
        """Rows and labelled rows in a window, without reading it."""
        if model.label_storage is None:
            rows = self._db.run(
                f"SELECT count(*), 0 FROM p_{model.id} p "
                "WHERE p.version = ? AND p.ts >= ? AND p.ts < ?",
                (version, start, end),
            )
        else:
            rows = self._db.run(
                f"SELECT count(*), count(l.id) FROM p_{model.id} p LEFT JOIN l_{model.id} l "
                "ON l.id = p.id WHERE p.version = ? AND p.ts >= ? AND p.ts < ?",
                (version, start, end),
            )
        return int(rows[0][0]), int(rows[0][1])

    def window_volumes(
        self, model: ModelInfo, version: str, starts: Sequence[datetime], seconds: int
    ) -> list[int]:
        """Row counts of earlier tumbling windows, for the volume comparison."""
        out = []
        for start in starts:
            out.append(
                self.window_counts(model, version, start, start + timedelta(seconds=seconds))[0]
            )
        return out

    def versions_with_data(self, model: ModelInfo) -> list[str]:
        """Versions that have predictions, in order of first window."""
        rows = self._db.run(
            "SELECT version, min(w_start) FROM windows WHERE model_id = ? GROUP BY version "
            "ORDER BY 2",
            (model.id,),
        )
        return [str(r[0]) for r in rows]

    def latest_report(self, model: ModelInfo, version: str | None) -> tuple[WindowKey, str] | None:
        """The report of the most recently started, computed tumbling window."""
        rows = self._db.run(
            "SELECT version, kind, w_start, w_end, report FROM windows WHERE model_id = ? "
            "AND kind = 'tumbling' AND report IS NOT NULL "
            "AND (CAST(? AS VARCHAR) IS NULL OR version = ?) "
            "ORDER BY w_start DESC, computed_at DESC LIMIT 1",
            (model.id, version, version),
        )
        if not rows:
            return None
        v, k, s, e, report = rows[0]
        return WindowKey(str(v), k, s, e), str(report)

    def read_points(
        self,
        model: ModelInfo,
        *,
        metric: str | None,
        column: str | None,
        segment: str | None,
        version: str | None,
        kind: WindowKind | None,
        since: datetime | None,
        until: datetime | None,
        limit: int,
    ) -> list[MetricPoint]:
        """Metric points matching every filter given, oldest first."""
        rows = self._db.run(
            "SELECT version, kind, segment, w_start, w_end, metric, col, value, status "
            "FROM metric_points WHERE model_id = ? "
            # typed, because PostgreSQL cannot tell the type of a bare `? IS NULL`
            "AND (CAST(? AS VARCHAR) IS NULL OR metric = ?) "
            "AND (CAST(? AS VARCHAR) IS NULL OR col = ?) "
            "AND (CAST(? AS VARCHAR) IS NULL OR segment = ?) "
            "AND (CAST(? AS VARCHAR) IS NULL OR version = ?) "
            "AND (CAST(? AS VARCHAR) IS NULL OR kind = ?) AND w_start >= ? AND w_start < ? "
            "ORDER BY w_start, version, kind, segment, metric, col LIMIT ?",
            (
                model.id,
                metric,
                metric,
                column,
                column,
                segment,
                segment,
                version,
                version,
                kind,
                kind,
                since or ROLLING_START,
                until or datetime(9999, 1, 1),
                limit,
            ),
        )
        return [_point(r) for r in rows]

    def latest_points(self, model: ModelInfo) -> list[MetricPoint]:
        """Whole-window points of each version's latest computed tumbling window."""
        rows = self._db.run(
            "SELECT m.version, m.kind, m.segment, m.w_start, m.w_end, m.metric, m.col, m.value, "
            "m.status FROM metric_points m JOIN (SELECT version, max(w_start) AS w_start "
            "FROM windows WHERE model_id = ? AND kind = 'tumbling' AND computed_generation > 0 "
            "GROUP BY version) w ON m.version = w.version AND m.w_start = w.w_start "
            "WHERE m.model_id = ? AND m.kind = 'tumbling' AND m.segment = '' "
            "ORDER BY m.version, m.metric, m.col",
            (model.id, model.id),
        )
        return [_point(r) for r in rows]

    # -- retention ------------------------------------------------------------------------

    def drop_predictions_before(self, model: ModelInfo, cutoff: datetime) -> int:
        """Delete raw predictions (and their labels) older than `cutoff`; points stay."""
        with self._db.transaction():
            n = int(
                self._db.run(f"SELECT count(*) FROM p_{model.id} WHERE ts < ?", (cutoff,))[0][0]
            )
            if model.label_storage is not None:
                self._db.run(
                    f"DELETE FROM l_{model.id} WHERE id IN "
                    f"(SELECT id FROM p_{model.id} WHERE ts < ?)",
                    (cutoff,),
                )
            self._db.run(f"DELETE FROM p_{model.id} WHERE ts < ?", (cutoff,))
        return n

    def stats(self) -> dict[str, int]:
        """Row counts of the store's shared tables, for /readyz and the logs."""
        return {
            "models": int(self._db.run("SELECT count(*) FROM models")[0][0]),
            "quarantined": int(self._db.run("SELECT count(*) FROM quarantine")[0][0]),
            "windows": int(self._db.run("SELECT count(*) FROM windows")[0][0]),
        }


def _point(row: tuple[Any, ...]) -> MetricPoint:
    version, kind, segment, start, end, metric, col, value, status = row
    return MetricPoint(str(version), kind, segment, start, end, metric, col, value, status)


def _split_repeats(batch: pa.Table) -> tuple[pa.Table, int, list[str]]:
    """Keep the first row of each id in a batch; count repeats as duplicates or conflicts."""
    ids = batch.column("id")
    if pc.count_distinct(ids).as_py() == batch.num_rows:
        return batch, 0, []
    first: dict[str, dict[str, Any]] = {}
    keep = []
    duplicates = 0
    conflicts = []
    payload = [n for n in batch.column_names if n != "received"]
    for i, row in enumerate(batch.select(payload).to_pylist()):
        old = first.get(row["id"])
        if old is None:
            first[row["id"]] = row
            keep.append(i)
        elif _same(old, row):
            duplicates += 1
        else:
            conflicts.append(str(row["id"]))
    return batch.take(pa.array(keep, pa.int64())), duplicates, conflicts


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    for key, value in b.items():
        if key == "received":
            continue
        other = a.get(key)
        if value != other and not (_is_nan(value) and _is_nan(other)):
            return False
    return True


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and value != value


def _buckets(rows: pa.Table, window_seconds: int) -> set[tuple[str, datetime]]:
    """The (version, window start) pairs these rows fall in."""
    if rows.num_rows == 0:
        return set()
    micros = pc.cast(rows.column("ts"), pa.int64()).to_numpy(zero_copy_only=False)
    step = window_seconds * 1_000_000
    starts = pa.array((micros // step) * step, pa.int64())
    pairs = pa.table({"v": rows.column("version"), "s": starts}).group_by(["v", "s"]).aggregate([])
    epoch = datetime(1970, 1, 1)
    return {
        (str(v), epoch + timedelta(microseconds=int(s)))
        for v, s in zip(pairs.column("v").to_pylist(), pairs.column("s").to_pylist(), strict=True)
    }


def _constant_time(value: datetime, n: int) -> pa.Array:
    """`n` copies of one timestamp, without a Python list of n datetimes."""
    micros = int((value - datetime(1970, 1, 1)) / timedelta(microseconds=1))
    return pa.array(np.full(n, micros, dtype=np.int64)).cast(pa.timestamp("us"))
