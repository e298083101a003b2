"""The store's logic in the SQL that DuckDB and PostgreSQL share, over a small `Backend`.

A backend (`vigil.store.backend`) opens connections, runs statements with `?` parameters, makes
an Arrow table visible as a relation, and reads a query back as Arrow. Everything else is
written once, so both backends pass one test suite: the catalogue and references here, writes
in `vigil.store.writes`, windows and metric points in `vigil.store.windows`, what the
scheduler's clock reads in `vigil.store.clock`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from vigil.errors import ConflictError, SpecError, StoreError
from vigil.store.actions import ActionLog
from vigil.store.alerts import Alerts
from vigil.store.backend import ROLLING_START, WINDOW_FIELDS, Backend
from vigil.store.base import (
    ModelInfo,
    Storage,
    StoredColumn,
    utcnow,
)
from vigil.store.blocks import Blocks
from vigil.store.clock import Clock
from vigil.store.dashboard import ColumnReads, Dashboard
from vigil.store.migrations import MIGRATIONS
from vigil.store.points import Points
from vigil.store.streams import Streams
from vigil.store.windows import Windows
from vigil.store.writes import Writes

# every predictions table's own columns, before the model's (c0, c1, ...)
FIXED_COLUMNS = ("id", "ts", "version", "latency_ms", "error", "received")

__all__ = ["ROLLING_START", "WINDOW_FIELDS", "Backend", "SqlStore", "utcnow"]


class SqlStore:
    """The `vigil.store.base.Store` interface over a DuckDB or PostgreSQL backend."""

    def __init__(self, backend: Backend) -> None:
        self._db = backend
        self.url_for_display = backend.url_for_display
        self._models: dict[str, ModelInfo] = {}
        self.points = Points(backend)
        self.blocks = Blocks(backend)
        self.windows = Windows(backend, self.points, self.blocks)
        self.writes = Writes(backend, self.windows, self.blocks)
        self.clock = Clock(backend)
        # the Store interface, answered by the two parts
        self.write_predictions = self.writes.write_predictions
        self.write_labels = self.writes.write_labels
        self.read_quarantine = self.writes.read_quarantine
        self.mark_windows = self.windows.mark_windows
        self.window_states = self.windows.window_states
        self.read_windows = self.windows.read_windows
        self.count_failed_windows = self.windows.count_failed_windows
        self.fail_window = self.windows.fail_window
        self.claim_window = self.windows.claim_window
        self.claim_windows = self.windows.claim_windows
        self.release_window = self.windows.release_window
        self.finish_window = self.windows.finish_window
        self.finish_windows = self.windows.finish_windows
        self.read_window = self.windows.read_window
        self.window_counts = self.windows.window_counts
        self.versions_with_data = self.windows.versions_with_data
        self.latest_report = self.windows.latest_report
        self.read_points = self.points.read
        self.streams = Streams(backend, self.points)
        self.stream_cursor = self.streams.stream_cursor
        self.stream_rows = self.streams.stream_rows
        self.save_stream = self.streams.save_stream
        self.detection_points = self.streams.detection_points
        self.latest_points = self.points.latest
        self.redo_windows = self.windows.redo_windows
        self.received_times = self.clock.received_times
        self.window_row_counts = self.clock.window_row_counts
        # what the dashboard reads, grouped in SQL (vigil.store.dashboard)
        self.dashboard = Dashboard(backend)
        self.window_span = self.dashboard.window_span
        self.series = self.dashboard.series
        self.heatmap = self.dashboard.heatmap
        self.segments = self.dashboard.segments
        self.column_reads = ColumnReads(backend)
        self.column_series = self.column_reads.column_series
        self.metric_by_column = self.column_reads.metric_by_column
        self.column_moments = self.column_reads.column_moments
        self.alert_spans = self.dashboard.alert_spans
        self.window_statuses = self.dashboard.window_statuses
        self.quarantine_between = self.dashboard.quarantine_between
        # the AlertStore interface (vigil.store.alerts)
        self.alerts = Alerts(backend)
        self.alert_states = self.alerts.alert_states
        self.save_alerts = self.alerts.save_alerts
        self.read_alerts = self.alerts.read_alerts
        self.get_alert = self.alerts.get_alert
        self.alert_events = self.alerts.alert_events
        self.ack_alert = self.alerts.ack_alert
        self.mark_alert = self.alerts.mark_alert
        self.rule_precision = self.alerts.rule_precision
        self.firing_counts = self.alerts.firing_counts
        self.window_report = self.alerts.window_report
        self.claim_deliveries = self.alerts.claim_deliveries
        self.finish_delivery = self.alerts.finish_delivery
        self.read_deliveries = self.alerts.read_deliveries
        self.delivery_counts = self.alerts.delivery_counts
        self.add_silence = self.alerts.add_silence
        self.list_silences = self.alerts.list_silences
        self.delete_silence = self.alerts.delete_silence
        # action records (vigil.store.actions)
        self.action_log = ActionLog(backend)
        self.record_action = self.action_log.record
        self.read_actions = self.action_log.read
        self._migrate()

    def close(self) -> None:
        """Close every connection."""
        self.windows.close()
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
            self._db.run(
                "INSERT INTO model_versions VALUES (?, ?, ?, ?) "
                "ON CONFLICT (model_id, version) DO UPDATE SET spec = excluded.spec",
                (model_id, version, json.dumps(spec), now),
            )
            added = self._add_columns(model_id, columns)
            if found:
                self._widen(model_id, added)
            else:  # a new model: its table is made with every column at once
                typed = [f"c{position} {self._sql_type(storage)}" for position, storage in added]
                self._create_tables(model_id, label_storage, typed)
                self.blocks.start(model_id)  # no rows yet: all of them will be in blocks
            if label_storage is not None and not (found and found[0][1]):
                self._ensure_label_table(model_id, label_storage)
        self._models.pop(name, None)
        info = self.get_model(name)
        assert info is not None
        return info

    def _create_tables(
        self, model_id: int, label_storage: Storage | None, columns: Sequence[str]
    ) -> None:
        extra = "".join(f", {c}" for c in columns)
        self._db.run(
            f"CREATE TABLE IF NOT EXISTS p_{model_id} ("
            "id VARCHAR PRIMARY KEY, ts TIMESTAMP NOT NULL, version VARCHAR NOT NULL, "
            f"latency_ms {self._db.types['double']}, error VARCHAR, received TIMESTAMP NOT NULL"
            f"{extra})"
        )
        if label_storage is not None:
            self._ensure_label_table(model_id, label_storage)

    def _ensure_label_table(self, model_id: int, storage: Storage) -> None:
        self._db.run(
            f"CREATE TABLE IF NOT EXISTS l_{model_id} (id VARCHAR PRIMARY KEY, "
            f"label {self._sql_type(storage)}, ts TIMESTAMP, received TIMESTAMP NOT NULL)"
        )

    def _add_columns(
        self, model_id: int, columns: Sequence[tuple[str, str, Storage]]
    ) -> list[tuple[int, Storage]]:
        """Record the spec columns not yet stored; their positions and storage, to be added
        to the table by the caller (in one statement where the database allows)."""
        rows = self._db.run(
            "SELECT position, name, storage FROM model_columns WHERE model_id = ?", (model_id,)
        )
        known = {name: storage for _, name, storage in rows}
        position = max((int(p) for p, _, _ in rows), default=-1) + 1
        new: list[tuple[int, int, str, str, Storage]] = []
        for name, role, storage in columns:
            if name in known:
                if known[name] != storage:
                    raise ConflictError(
                        f"column {name!r} is stored as {known[name]} and the new spec makes it "
                        f"{storage}; keep its kind, or give the changed column a new name."
                    )
                continue
            new.append((model_id, position, name, role, storage))
            known[name] = storage
            position += 1
        room = self._column_room(len(rows))
        if room is not None and len(new) > room:
            raise SpecError(
                f"the model would keep {len(rows) + len(new):,} columns; this store's tables "
                f"take at most {self._db.max_columns:,} columns, {len(FIXED_COLUMNS)} of them "
                f"vigil's, so a model holds at most {len(rows) + room:,}. Split the model, or "
                f"use a DuckDB store."
            )
        for start in range(0, len(new), 500):  # one INSERT per 500 columns
            chunk = new[start : start + 500]
            values = ", ".join(["(?, ?, ?, ?, ?)"] * len(chunk))
            params = [value for row in chunk for value in row]
            self._db.run(f"INSERT INTO model_columns VALUES {values}", params)
        return [(position, storage) for _, position, _, _, storage in new]

    def _column_room(self, stored: int) -> int | None:
        """How many more columns a model holding `stored` may add, or None for no bound."""
        if self._db.max_columns is None:
            return None
        return max(0, self._db.max_columns - len(FIXED_COLUMNS) - stored)

    def _widen(self, model_id: int, added: Sequence[tuple[int, Storage]]) -> None:
        """Add the new columns to a model's predictions table."""
        typed = [f"c{position} {self._sql_type(storage)}" for position, storage in added]
        if self._db.shared and typed:  # PostgreSQL adds many columns in one statement
            adds = ", ".join(f"ADD COLUMN IF NOT EXISTS {t}" for t in typed)
            self._db.run(f"ALTER TABLE p_{model_id} {adds}")
        else:  # DuckDB takes one column per ALTER
            for t in typed:
                self._db.run(f"ALTER TABLE p_{model_id} ADD COLUMN IF NOT EXISTS {t}")

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

    def add_extra_columns(
        self, model: ModelInfo, names: Sequence[str], limit: int | None = None
    ) -> ModelInfo:
        """Keep features the spec does not know (as text), so schema drift can be shown.

        At most `limit` extra columns per model (None: no bound): names past it are not added,
        in the order given; the caller sees which were by the model returned. The count is
        read in the transaction that adds, and two adders racing collide on the column's
        position and retry, so concurrent batches cannot pass the limit together.
        """
        fresh = [n for n in names if model.column(n) is None]
        if not fresh:
            return model
        for attempt in range(3):
            try:
                with self._db.transaction():
                    room = len(fresh)
                    if limit is not None:
                        kept = self._db.run(
                            "SELECT count(*) FROM model_columns "
                            "WHERE model_id = ? AND role = 'extra'",
                            (model.id,),
                        )[0][0]
                        room = max(0, limit - int(kept))
                    cap = self._column_room(len(model.columns))
                    if cap is not None:  # near PostgreSQL's cap, extras are the first to go
                        room = min(room, cap)
                    if room:
                        added = self._add_columns(
                            model.id, [(n, "extra", "VARCHAR") for n in fresh[:room]]
                        )
                        self._widen(model.id, added)
                break
            except Exception as err:
                if attempt == 2 or not self._db.is_unique_violation(err):
                    raise
        self._models.pop(model.name, None)
        info = self.get_model(model.name)
        assert info is not None
        return info

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
            # every window of the version is judged against the new reference, at once even
            # where the old one made it fail
            self._db.run(
                "UPDATE windows SET generation = generation + 1, "
                "data_generation = generation + 1, retry_at = NULL "
                "WHERE model_id = ? AND version = ?",
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

    # -- ingest ---------------------------------------------------------------------------

    # -- windows --------------------------------------------------------------------------

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
            self.blocks.drop_before(model, cutoff)
        return n

    def stats(self) -> dict[str, int]:
        """Row counts of the store's shared tables, and the windows whose last computation
        failed, for /readyz and the logs."""
        windows, failed = self._db.run(
            "SELECT count(*), count(*) FILTER (WHERE coalesce(failures, 0) > 0) FROM windows"
        )[0]
        return {
            "models": int(self._db.run("SELECT count(*) FROM models")[0][0]),
            "quarantined": int(self._db.run("SELECT count(*) FROM quarantine")[0][0]),
            "windows": int(windows),
            "failed_windows": int(failed),
        }
