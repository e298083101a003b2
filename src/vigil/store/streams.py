"""Per-record streams in arrival order, and the change detectors' cursors and state.

A stream's rows are read after a cursor (arrival time, id): a prediction arrives when it is
stored (`received`); a labelled prediction — one value of the error stream — when the later
of its prediction and its label is stored, so the error stream follows the order labels
arrive in. Within one arrival time (one written batch) rows go by id. A detector's position,
state, cursor and the detections it made since are written in one transaction
(`save_stream`), compare-and-set on the cursor, so a restart continues exactly where the
last commit left it and two instances never both advance one detector.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pyarrow as pa

from vigil.store.backend import Backend
from vigil.store.base import MetricPoint, ModelInfo, StreamCursor, utcnow
from vigil.store.points import Points

START = datetime(1970, 1, 1)


class Streams:
    """The `detector_streams` table and the rows the detectors read."""

    def __init__(self, db: Backend, points: Points) -> None:
        self._db = db
        self.points = points

    def stream_cursor(self, model: ModelInfo, stream: str, detector: str) -> StreamCursor:
        """The detector's saved cursor, or the stream's start."""
        rows = self._db.run(
            "SELECT cursor_at, cursor_id, position, state FROM detector_streams "
            "WHERE model_id = ? AND stream = ? AND detector = ?",
            (model.id, stream, detector),
        )
        if not rows:
            return StreamCursor(START, "", 0, None)
        at, row_id, position, state = rows[0]
        return StreamCursor(at, str(row_id), int(position), bytes(state))

    def stream_rows(
        self, model: ModelInfo, column: str, *, errors: bool, after: StreamCursor, limit: int
    ) -> pa.Table:
        """Up to `limit` rows after the cursor, in arrival order: `arrived`, `id`, `ts`,
        `version` and `value` (the stored column `column`), with `label` when `errors`."""
        stored = model.column(column)
        if stored is None:
            raise KeyError(column)
        if errors:
            if model.label_storage is None:
                raise KeyError("label")
            arrived = "GREATEST(p.received, l.received)"
            sql = (
                f"SELECT {arrived} AS arrived, p.id AS id, p.ts AS ts, p.version AS version, "
                f"p.{stored.key} AS value, l.label AS label FROM p_{model.id} p "
                f"JOIN l_{model.id} l ON p.id = l.id "
                f"WHERE ({arrived} > ? OR ({arrived} = ? AND p.id > ?)) "
                "ORDER BY arrived, id LIMIT ?"
            )
        else:
            sql = (
                f"SELECT received AS arrived, id, ts, version, {stored.key} AS value "
                f"FROM p_{model.id} WHERE (received > ? OR (received = ? AND id > ?)) "
                "ORDER BY arrived, id LIMIT ?"
            )
        return self._db.arrow(sql, (after.at, after.at, after.id, limit))

    def save_stream(
        self,
        model: ModelInfo,
        stream: str,
        detector: str,
        before: StreamCursor,
        after: StreamCursor,
        detections: Sequence[MetricPoint],
    ) -> bool:
        """Store the detections, the state and the cursor at once; False (nothing written)
        when another writer moved the detector since `before` was read."""
        if after.state is None:
            raise ValueError(f"stream {stream} of model {model.name}: a save needs a state")
        with self._db.transaction():
            if before.state is None:
                taken = self._db.run(
                    "INSERT INTO detector_streams VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (model_id, stream, detector) DO NOTHING RETURNING position",
                    (
                        model.id,
                        stream,
                        detector,
                        after.at,
                        after.id,
                        after.position,
                        after.state,
                        utcnow(),
                    ),
                )
            else:
                taken = self._db.run(
                    "UPDATE detector_streams SET cursor_at = ?, cursor_id = ?, position = ?, "
                    "state = ?, updated = ? WHERE model_id = ? AND stream = ? AND detector = ? "
                    "AND cursor_at = ? AND cursor_id = ? RETURNING position",
                    (
                        after.at,
                        after.id,
                        after.position,
                        after.state,
                        utcnow(),
                        model.id,
                        stream,
                        detector,
                        before.at,
                        before.id,
                    ),
                )
            if not taken:
                return False
            if detections:
                self.points.insert(model, detections)
        return True

    def detection_points(
        self, model: ModelInfo, version: str, start: datetime
    ) -> list[MetricPoint]:
        """The detections stored in one tumbling window (metrics `detect.*`)."""
        rows = self._db.run(
            "SELECT version, kind, segment, w_start, w_end, metric, col, value, status, band "
            "FROM metric_points WHERE model_id = ? AND version = ? AND kind = 'tumbling' "
            "AND w_start = ? AND segment = '' AND metric LIKE 'detect.%' ORDER BY metric, col",
            (model.id, version, start),
        )
        return [
            MetricPoint(str(v), k, seg, s, e, m, c, val, st, b)
            for v, k, seg, s, e, m, c, val, st, b in rows
        ]
