"""Window bookkeeping and metric points: which windows have news, who computes them, what
they found or why they failed; and reading a window's rows back as Arrow.

A failed computation leaves its window dirty with a count, a reason and a retry time
(`fail_window`); `claim_window` passes over it until that time, and any news for the window
(rows, labels, a new reference, a backfill) lifts the retry time. A success clears all three.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from vigil.store.backend import ROLLING_START, Backend
from vigil.store.base import (
    ARROW_TYPES,
    FinishedWindow,
    MetricPoint,
    ModelInfo,
    WindowKey,
    WindowKind,
    WindowState,
    utcnow,
)
from vigil.store.blocks import Blocks
from vigil.store.points import Points

MAX_ERROR = 2000  # characters of a failure's reason kept; the log has the rest
EARLIEST = datetime(1, 1, 1)  # no lower bound
LATEST = datetime(9999, 1, 1)  # no upper bound
# the time a window is listed and filtered by: its start, or for the rolling window (whose
# key starts at ROLLING_START) the time it was last due
WHEN = "CASE WHEN kind = 'rolling' THEN w_end ELSE w_start END"
STATE_COLUMNS = (
    "version, kind, w_start, w_end, generation, computed_generation, rows_n, labelled_n, "
    "computed_at, coalesce(failures, 0), last_error, retry_at, data_generation"
)
# the same, qualified: where another table is joined to `windows`
CLAIMED_COLUMNS = (
    "windows.version, windows.kind, windows.w_start, windows.w_end, windows.generation, "
    "windows.computed_generation, windows.rows_n, windows.labelled_n, windows.computed_at, "
    "coalesce(windows.failures, 0), windows.last_error, windows.retry_at, "
    "windows.data_generation"
)
# news for a window: one more generation; unless it is labels alone, news for its rows too
MARK = (
    "INSERT INTO windows (model_id, version, kind, w_start, w_end, generation, "
    "computed_generation, data_generation) SELECT ?, version, kind, w_start, w_end, 1, 0, 1 "
    "FROM vigil_keys ON CONFLICT (model_id, version, kind, w_start) "
    "DO UPDATE SET generation = windows.generation + 1, retry_at = NULL"
)
ROWS_TOO = ", data_generation = windows.generation + 1"


class Windows:
    """The `windows` table (and a window's points, through `Points`), and a window's rows."""

    def __init__(self, db: Backend, points: Points, blocks: Blocks) -> None:
        self._db = db
        self.points = points
        self._blocks = blocks
        self._labels: ThreadPoolExecutor | None = None  # reads a window's labels meanwhile
        self._labels_lock = threading.Lock()

    def _label_reader(self) -> ThreadPoolExecutor:
        """One thread (so one connection of its own) that reads windows' labels while their
        blocks are read."""
        with self._labels_lock:
            if self._labels is None:
                self._labels = ThreadPoolExecutor(1, thread_name_prefix="vigil-labels")
            return self._labels

    def close(self) -> None:
        """Stop the label reader's thread (its connection closes with the backend's)."""
        with self._labels_lock:
            if self._labels is not None:
                self._labels.shutdown(wait=True)
                self._labels = None

    def touch(
        self,
        model: ModelInfo,
        buckets: set[tuple[str, datetime]],
        window_seconds: int,
        *,
        labels_only: bool = False,
    ) -> None:
        if not buckets:
            return
        step = timedelta(seconds=window_seconds)
        keys = [WindowKey(v, "tumbling", start, start + step) for v, start in buckets]
        now = utcnow()
        keys += [WindowKey(v, "rolling", ROLLING_START, now) for v in {v for v, _ in buckets}]
        self.mark_windows(model, keys, labels_only=labels_only)

    def mark_windows(
        self, model: ModelInfo, keys: Sequence[WindowKey], *, labels_only: bool = False
    ) -> None:
        """Note that these windows have new rows or labels (created when new); with
        `labels_only`, that only labels arrived (their rows are the same)."""
        if not keys:
            return
        ordered = sorted(keys, key=lambda k: (k.version, k.kind, k.start))  # one lock order
        rows = pa.table(
            {
                "version": pa.array([k.version for k in ordered], pa.string()),
                "kind": pa.array([k.kind for k in ordered], pa.string()),
                "w_start": pa.array([k.start for k in ordered], pa.timestamp("us")),
                "w_end": pa.array([k.end for k in ordered], pa.timestamp("us")),
            }
        )
        self._db.load("vigil_keys", rows)  # one statement for the lot, not one per window
        try:
            self._db.run(MARK if labels_only else MARK + ROWS_TOO, (model.id,))
        finally:
            self._db.unload("vigil_keys")

    def window_states(self, model: ModelInfo, *, dirty_only: bool) -> list[WindowState]:
        """The windows of a model, oldest first; only those with news when `dirty_only`."""
        where = " AND generation > computed_generation" if dirty_only else ""
        rows = self._db.run(
            f"SELECT {STATE_COLUMNS} FROM windows WHERE model_id = ?{where} "
            "ORDER BY w_start, version, kind",
            (model.id,),
        )
        return [_state(r) for r in rows]

    def read_windows(
        self,
        model: ModelInfo,
        *,
        version: str | None,
        kind: WindowKind | None,
        failed: bool,
        since: datetime | None,
        until: datetime | None,
        limit: int,
    ) -> list[WindowState]:
        """Windows matching every filter given, newest first; only failed ones when `failed`.

        `since` (included) and `until` (excluded) bound a tumbling window's start and the
        rolling window's end (the time it was last due).
        """
        where = " AND coalesce(failures, 0) > 0" if failed else ""
        rows = self._db.run(
            f"SELECT {STATE_COLUMNS} FROM windows WHERE model_id = ?{where} "
            "AND (CAST(? AS VARCHAR) IS NULL OR version = ?) "
            "AND (CAST(? AS VARCHAR) IS NULL OR kind = ?) "
            f"AND {WHEN} >= ? AND {WHEN} < ? ORDER BY {WHEN} DESC, version, kind LIMIT ?",
            (
                model.id,
                version,
                version,
                kind,
                kind,
                since or EARLIEST,
                until or LATEST,
                limit,
            ),
        )
        return [_state(r) for r in rows]

    def count_failed_windows(self, model: ModelInfo) -> int:
        """How many windows of a model failed at their last computation."""
        rows = self._db.run(
            "SELECT count(*) FROM windows WHERE model_id = ? AND coalesce(failures, 0) > 0",
            (model.id,),
        )
        return int(rows[0][0])

    def claim_window(
        self,
        model: ModelInfo,
        key: WindowKey,
        owner: str,
        *,
        lease_seconds: float,
        retry_before: datetime | None = None,
    ) -> int | None:
        """Take a dirty window for computing; its generation, or None when someone has it.

        With `retry_before`, a window that failed is taken only once its retry time is at or
        before it; without, whatever its retry time (an explicit retry).
        """
        now = utcnow()
        with self._db.transaction():
            rows = self._db.run(
                "UPDATE windows SET owner = ?, lease_until = ? "
                "WHERE model_id = ? AND version = ? AND kind = ? AND w_start = ? "
                "AND generation > computed_generation "
                "AND (lease_until IS NULL OR lease_until < ? OR owner = ?) "
                "AND (CAST(? AS TIMESTAMP) IS NULL OR retry_at IS NULL OR retry_at <= ?) "
                "RETURNING generation",
                (
                    owner,
                    now + timedelta(seconds=lease_seconds),
                    model.id,
                    key.version,
                    key.kind,
                    key.start,
                    now,
                    owner,
                    retry_before,
                    retry_before,
                ),
            )
        return int(rows[0][0]) if rows else None

    def fail_window(
        self, model: ModelInfo, key: WindowKey, *, owner: str, error: str, retry_at: datetime
    ) -> int:
        """Record that computing a claimed window failed, and release it: one more failure in
        a row, the reason, and the time before which it is not claimed again (unless news for
        it arrives). The failures in a row, or 0 when `owner` no longer held the window."""
        # PostgreSQL cannot store NUL in text; the log keeps the full message
        reason = error.replace("\x00", "\ufffd")[:MAX_ERROR]
        with self._db.transaction():
            rows = self._db.run(
                "UPDATE windows SET failures = coalesce(failures, 0) + 1, last_error = ?, "
                "retry_at = ?, owner = NULL, lease_until = NULL WHERE model_id = ? "
                "AND version = ? AND kind = ? AND w_start = ? AND owner = ? RETURNING failures",
                (reason, retry_at, model.id, key.version, key.kind, key.start, owner),
            )
        return int(rows[0][0]) if rows else 0

    def release_window(self, model: ModelInfo, key: WindowKey, owner: str) -> None:
        """Give a claimed window back without results (e.g. too few rows yet)."""
        with self._db.transaction():
            self._db.run(
                "UPDATE windows SET owner = NULL, lease_until = NULL WHERE model_id = ? "
                "AND version = ? AND kind = ? AND w_start = ? AND owner = ?",
                (model.id, key.version, key.kind, key.start, owner),
            )

    def claim_windows(
        self,
        model: ModelInfo,
        keys: Sequence[WindowKey],
        owner: str,
        *,
        lease_seconds: float,
        retry_before: datetime | None = None,
    ) -> dict[WindowKey, WindowState]:
        """`claim_window` for many windows in one statement: the state of each window taken,
        as it was claimed (its generation is the one the results will reflect); those someone
        else holds, or that have no news, are absent."""
        if not keys:
            return {}
        now = utcnow()
        by_slot = {(k.version, k.kind, k.start): k for k in keys}
        self._db.load("vigil_claims", _slots(keys))
        try:
            with self._db.transaction():
                self._lock_in_order("vigil_claims", model)
                rows = self._db.run(
                    "UPDATE windows SET owner = ?, lease_until = ? FROM vigil_claims c "
                    "WHERE windows.model_id = ? AND windows.version = c.version "
                    "AND windows.kind = c.kind AND windows.w_start = c.w_start "
                    "AND windows.generation > windows.computed_generation "
                    "AND (windows.lease_until IS NULL OR windows.lease_until < ? "
                    "OR windows.owner = ?) AND (CAST(? AS TIMESTAMP) IS NULL "
                    "OR windows.retry_at IS NULL OR windows.retry_at <= ?) "
                    f"RETURNING {CLAIMED_COLUMNS}",
                    (
                        owner,
                        now + timedelta(seconds=lease_seconds),
                        model.id,
                        now,
                        owner,
                        retry_before,
                        retry_before,
                    ),
                )
        finally:
            self._db.unload("vigil_claims")
        claimed = [_state(r) for r in rows]
        return {
            by_slot[(c.key.version, c.key.kind, c.key.start)]: replace(
                c, key=by_slot[(c.key.version, c.key.kind, c.key.start)]
            )
            for c in claimed
        }

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
        finished = FinishedWindow(key, generation, rows, labelled, report, points)
        self.finish_windows(model, [finished], owner=owner)

    def finish_windows(
        self, model: ModelInfo, finished: Sequence[FinishedWindow], *, owner: str
    ) -> None:
        """Store computed windows' reports and metric points and release them, in one
        transaction (a window `owner` no longer holds keeps its state; its points are
        written all the same, as the last computation's)."""
        if not finished:
            return
        done = _slots([f.key for f in finished]).append_column(
            "w_end", pa.array([f.key.end for f in finished], pa.timestamp("us"))
        )
        for name, values, kind in (
            ("computed", [f.generation for f in finished], pa.int64()),
            ("rows_n", [f.rows for f in finished], pa.int64()),
            ("labelled_n", [f.labelled for f in finished], pa.int64()),
            ("report", [f.report for f in finished], pa.string()),
            ("replace_points", [not f.only_changes for f in finished], pa.bool_()),
        ):
            done = done.append_column(name, pa.array(values, kind))
        points = [p for f in finished for p in f.points]
        with self._db.transaction():
            self._db.load("vigil_done", done)
            try:
                self._lock_in_order("vigil_done", model)
                self._db.run(
                    "UPDATE windows SET computed_generation = d.computed, rows_n = d.rows_n, "
                    "labelled_n = d.labelled_n, computed_at = ?, report = d.report, "
                    "w_end = d.w_end, owner = NULL, lease_until = NULL, failures = 0, "
                    "last_error = NULL, retry_at = NULL FROM vigil_done d "
                    "WHERE windows.model_id = ? AND windows.version = d.version "
                    "AND windows.kind = d.kind AND windows.w_start = d.w_start "
                    "AND windows.owner = ?",
                    (utcnow(), model.id, owner),
                )
                self._db.run(
                    "DELETE FROM metric_points USING vigil_done d "
                    "WHERE metric_points.model_id = ? AND metric_points.version = d.version "
                    "AND metric_points.kind = d.kind AND metric_points.w_start = d.w_start "
                    "AND d.kind = 'tumbling' AND d.replace_points "
                    # the change detectors' points are theirs (vigil.monitor.streams)
                    "AND metric_points.metric NOT LIKE 'detect.%'",
                    (model.id,),
                )
            finally:
                self._db.unload("vigil_done")
            stale = [(f.key, *gone) for f in finished for gone in f.stale]
            if stale:
                self.points.delete(model, stale)
            if points:
                self.points.insert(model, points)

    def _lock_in_order(self, keys: str, model: ModelInfo) -> None:
        """On a store several instances share, lock the windows named in the loaded table
        `keys` in one order first, so two instances claiming or finishing overlapping windows
        never wait on each other in a cycle (an UPDATE joined to a table locks in join order)."""
        if self._db.shared:
            self._db.run(
                f"SELECT w.w_start FROM windows w JOIN {keys} k ON w.version = k.version "
                "AND w.kind = k.kind AND w.w_start = k.w_start WHERE w.model_id = ? "
                "ORDER BY w.version, w.kind, w.w_start FOR UPDATE OF w",
                (model.id,),
            )

    def read_window(
        self, model: ModelInfo, version: str, start: datetime, end: datetime
    ) -> pa.Table:
        """A window's rows with labels joined so far, as Arrow, by the users' column names.

        Fixed fields are named `__id`, `__ts`, `__version`, `__latency_ms`, `__error`, and
        `__label` when the model takes labels. In a fixed order, (ts, id), ids in byte order:
        the seeded bootstrap of the performance standard errors sees the order (two reads of
        the same rows must give the same report).
        """
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
        if self._blocks.enabled:
            table = self._from_blocks(model, version, start, end)
        else:
            table = self._from_rows(model, version, start, end)
        return table.rename_columns(schema.names).cast(schema)

    def _from_rows(
        self, model: ModelInfo, version: str, start: datetime, end: datetime
    ) -> pa.Table:
        """`read_window`'s columns from the prediction and label tables, in one query."""
        cols = ["p.id", "p.ts", "p.version", "p.latency_ms", "p.error"]
        cols += [f"p.{c.key}" for c in model.columns]
        join = ""
        if model.label_storage is not None:
            cols.append("l.label")
            join = f" LEFT JOIN l_{model.id} l ON l.id = p.id"
        # ids in byte order: DuckDB's only collation, PostgreSQL's "C"
        collate = ' COLLATE "C"' if self._db.shared else ""
        return self._db.arrow(
            f"SELECT {', '.join(cols)} FROM p_{model.id} p{join} "
            f"WHERE p.version = ? AND p.ts >= ? AND p.ts < ? ORDER BY p.ts, p.id{collate}",
            (version, start, end),
        )

    def _from_blocks(
        self, model: ModelInfo, version: str, start: datetime, end: datetime
    ) -> pa.Table:
        """`read_window`'s columns, by the prediction table's names, from column blocks; the
        labels joined from the label table by id."""
        labels: Future[pa.Table] | None = None
        if model.label_storage is not None:  # read meanwhile, on the helper's connection
            labels = self._label_reader().submit(
                self._db.arrow,
                f"SELECT l.id, l.label FROM l_{model.id} l JOIN p_{model.id} p ON p.id = l.id "
                "WHERE p.version = ? AND p.ts >= ? AND p.ts < ?",
                (version, start, end),
            )
        rows = self._blocks.read(model, version, start, end)
        if rows is None:  # rows written without blocks: this read from the table
            if labels is not None:
                labels.result()  # not left running on the helper's connection
            return self._from_rows(model, version, start, end)
        n = rows.num_rows
        columns = [
            rows.column("id"),
            rows.column("ts"),
            pa.repeat(pa.scalar(version, pa.string()), n),
            rows.column("latency_ms"),
            rows.column("error"),
            *(rows.column(c.key) for c in model.columns),
        ]
        if labels is not None:
            joined = labels.result()
            found = pc.index_in(rows.column("id"), value_set=joined.column("id"))
            columns.append(joined.column("label").take(found))
        return pa.table(columns, names=[f"f{i}" for i in range(len(columns))])

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

    def redo_windows(self, model: ModelInfo, since: datetime, until: datetime) -> int:
        """Mark the tumbling windows starting in [since, until) for recomputation (backfill)."""
        with self._db.transaction():
            rows = self._db.run(
                "UPDATE windows SET generation = generation + 1, "
                "data_generation = generation + 1, retry_at = NULL "
                "WHERE model_id = ? AND kind = 'tumbling' AND w_start >= ? AND w_start < ? "
                "RETURNING w_start",
                (model.id, since, until),
            )
        return len(rows)


def _slots(keys: Sequence[WindowKey]) -> pa.Table:
    """Windows' keys as a table to load: version, kind, w_start."""
    return pa.table(
        {
            "version": pa.array([k.version for k in keys], pa.string()),
            "kind": pa.array([k.kind for k in keys], pa.string()),
            "w_start": pa.array([k.start for k in keys], pa.timestamp("us")),
        }
    )


def _state(row: tuple[Any, ...]) -> WindowState:
    version, kind, start, end, generation, computed, rows, labelled, at, failures, error = row[:11]
    key = WindowKey(str(version), kind, start, end)
    data = None if row[12] is None else int(row[12])
    return WindowState(
        key, int(generation), int(computed), rows, labelled, at, int(failures), error, row[11], data
    )
