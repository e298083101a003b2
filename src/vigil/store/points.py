"""Metric points: the time series a window's computation leaves, written and read back."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pyarrow as pa

from vigil.store.backend import ROLLING_START, Backend
from vigil.store.base import MetricPoint, ModelInfo, WindowKey, WindowKind


class Points:
    """The `metric_points` table."""

    def __init__(self, db: Backend) -> None:
        self._db = db

    def delete(self, model: ModelInfo, points: Sequence[tuple[WindowKey, str, str, str]]) -> None:
        """Delete single points: (window, segment, metric, column)."""
        gone = _keys([p[0] for p in points])
        for i, name in enumerate(("segment", "metric", "col"), start=1):
            gone = gone.append_column(name, pa.array([p[i] for p in points], pa.string()))
        self._db.load("vigil_gone", gone)
        try:
            self._db.run(
                "DELETE FROM metric_points USING vigil_gone g "
                "WHERE metric_points.model_id = ? AND metric_points.version = g.version "
                "AND metric_points.kind = g.kind AND metric_points.w_start = g.w_start "
                "AND metric_points.segment = g.segment AND metric_points.metric = g.metric "
                "AND metric_points.col = g.col",
                (model.id,),
            )
        finally:
            self._db.unload("vigil_gone")

    def insert(self, model: ModelInfo, points: Sequence[MetricPoint]) -> None:
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

    def read(
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

    def latest(self, model: ModelInfo) -> list[MetricPoint]:
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


def _keys(keys: Sequence[WindowKey]) -> pa.Table:
    """Windows' keys as a table to load: version, kind, w_start."""
    return pa.table(
        {
            "version": pa.array([k.version for k in keys], pa.string()),
            "kind": pa.array([k.kind for k in keys], pa.string()),
            "w_start": pa.array([k.start for k in keys], pa.timestamp("us")),
        }
    )


def _point(row: tuple[Any, ...]) -> MetricPoint:
    version, kind, segment, start, end, metric, col, value, status, band = row
    return MetricPoint(str(version), kind, segment, start, end, metric, col, value, status, band)
