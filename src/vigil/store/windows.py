"""Window bookkeeping and metric points: which windows have news, who computes them, what
they found or why they failed; and reading a window's rows back as Arrow.

A failed computation leaves its window dirty with a count, a reason and a retry time
(`fail_window`); `claim_window` passes over it until that time, and any news for the window
(rows, labels, a new reference, a backfill) lifts the retry time. A success clears all three.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa

from vigil.store.backend import ROLLING_START, WINDOW_FIELDS, Backend
from vigil.store.base import (
    ARROW_TYPES,
    MetricPoint,
    ModelInfo,
    WindowKey,
    WindowKind,
    WindowState,
    utcnow,
)

MAX_ERROR = 2000  # characters of a failure's reason kept; the log has the rest
EARLIEST = datetime(1, 1, 1)  # no lower bound
LATEST = datetime(9999, 1, 1)  # no upper bound
# the time a window is listed and filtered by: its start, or for the rolling window (whose
# key starts at ROLLING_START) the time it was last due
WHEN = "CASE WHEN kind = 'rolling' THEN w_end ELSE w_start END"
STATE_COLUMNS = (
    "version, kind, w_start, w_end, generation, computed_generation, rows_n, labelled_n, "
    "computed_at, coalesce(failures, 0), last_error, retry_at"
)


class Windows:
    """The `windows` and `metric_points` tables, and the rows of a window."""

    def __init__(self, db: Backend) -> None:
        self._db = db

    def touch(
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
            self._db.run(
                "INSERT INTO windows (model_id, version, kind, w_start, w_end, generation, "
                "computed_generation) SELECT ?, version, kind, w_start, w_end, 1, 0 "
                "FROM vigil_keys ON CONFLICT (model_id, version, kind, w_start) "
                "DO UPDATE SET generation = windows.generation + 1, retry_at = NULL",
                (model.id,),
            )
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
                "computed_at = ?, report = ?, w_end = ?, owner = NULL, lease_until = NULL, "
                "failures = 0, last_error = NULL, retry_at = NULL "
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
                "band": pa.array([p.band for p in points], pa.float64()),
            }
        )
        self._db.load("vigil_points", rows)
        try:
            self._db.run(
                "INSERT INTO metric_points SELECT * FROM vigil_points ON CONFLICT "
                "(model_id, version, kind, segment, w_start, metric, col) DO UPDATE SET "
                "value = excluded.value, status = excluded.status, w_end = excluded.w_end, "
                "band = excluded.band"
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
            "SELECT version, kind, segment, w_start, w_end, metric, col, value, status, band "
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
            "m.status, m.band FROM metric_points m JOIN (SELECT version, max(w_start) AS w_start "
            "FROM windows WHERE model_id = ? AND kind = 'tumbling' AND computed_generation > 0 "
            "GROUP BY version) w ON m.version = w.version AND m.w_start = w.w_start "
            "WHERE m.model_id = ? AND m.kind = 'tumbling' AND m.segment = '' "
            "ORDER BY m.version, m.metric, m.col",
            (model.id, model.id),
        )
        return [_point(r) for r in rows]

    def redo_windows(self, model: ModelInfo, since: datetime, until: datetime) -> int:
        """Mark the tumbling windows starting in [since, until) for recomputation (backfill)."""
        with self._db.transaction():
            rows = self._db.run(
                "UPDATE windows SET generation = generation + 1, retry_at = NULL "
                "WHERE model_id = ? AND kind = 'tumbling' AND w_start >= ? AND w_start < ? "
                "RETURNING w_start",
                (model.id, since, until),
            )
        return len(rows)


def _state(row: tuple[Any, ...]) -> WindowState:
    version, kind, start, end, generation, computed, rows, labelled, at, failures, error, retry = (
        row
    )
    key = WindowKey(str(version), kind, start, end)
    return WindowState(
        key, int(generation), int(computed), rows, labelled, at, int(failures), error, retry
    )


def _point(row: tuple[Any, ...]) -> MetricPoint:
    version, kind, segment, start, end, metric, col, value, status, band = row
    return MetricPoint(str(version), kind, segment, start, end, metric, col, value, status, band)
