"""What the dashboard reads: time series and heatmaps of metric points grouped by a step, in
SQL, so a year of hourly windows reaches the page as a few hundred rows.

A group's status is its worst point's (critical, warning, ok, pending, then none); its value is
the mean of its points, beside their least and greatest value and their number.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from vigil.store.alerts import ALERT_COLUMNS, alert_from_row
from vigil.store.backend import Backend
from vigil.store.base import AlertStatus, ModelInfo, RecordKind, StoredAlert, WindowKind

EPOCH = datetime(1970, 1, 1)
# the order of severity, in SQL: a group shows its worst point
RANK = (
    "CASE status WHEN 'critical' THEN 4 WHEN 'warning' THEN 3 WHEN 'ok' THEN 2 "
    "WHEN 'pending' THEN 1 ELSE 0 END"
)
STATUS_OF_RANK = {4: "critical", 3: "warning", 2: "ok", 1: "pending", 0: "none"}


@dataclass(frozen=True, slots=True)
class WindowSpan:
    """The windows a model has computed: the first start, the latest end, how many."""

    first_start: datetime
    latest_end: datetime
    windows: int


@dataclass(frozen=True, slots=True)
class SeriesPoint:
    """One step of a metric's series (one window when the step is the window)."""

    version: str
    start: datetime  # the step's start (the window's, when each window is shown)
    end: datetime  # the last window's end
    value: float | None  # the mean of the points' values
    low: float | None  # the least value
    high: float | None  # the greatest value
    band: float | None  # the mean standard error (performance metrics)
    status: str  # the worst point's status
    windows: int  # how many windows the step holds


@dataclass(frozen=True, slots=True)
class HeatCell:
    """One column in one step: its worst judged drift point."""

    column: str
    start: datetime
    status: str
    metric: str  # the worst point's metric
    value: float | None  # the worst point's value
    windows: int


@dataclass(frozen=True, slots=True)
class AlertSpan:
    """An alert and the data time it covers: from the start of its earliest evidence window
    to its latest evidence window's end (an alert not resolved: to now)."""

    alert: StoredAlert
    first_start: datetime


@dataclass(frozen=True, slots=True)
class QuarantineRecord:
    """A rejected record as a page shows it: when it came, where in its batch, and why."""

    received: datetime
    kind: RecordKind
    index: int  # position in the request's batch
    record_id: str | None
    reasons: tuple[str, ...]
    payload: str  # the record as received, JSON text (truncated when huge)


def _series_point(row: Sequence[Any]) -> SeriesPoint:
    """A step of a series from its grouped row: version, step start in epoch seconds, last
    end, mean, least, greatest, mean band, worst rank, windows."""
    version, bucket, end, value, low, high, band, rank, n = row
    return SeriesPoint(
        str(version),
        EPOCH + timedelta(seconds=int(bucket)),
        end,
        value,
        low,
        high,
        band,
        STATUS_OF_RANK[int(rank)],
        int(n),
    )


def _bucket_sql(step_seconds: int | None) -> str:
    """An SQL expression for the start of a point's step, as epoch seconds."""
    epoch = "CAST(EXTRACT(EPOCH FROM w_start) AS BIGINT)"
    if step_seconds is None:
        return epoch
    step = int(step_seconds)
    # a float divisor: DuckDB's `/` divides integers exactly, PostgreSQL's truncates
    return f"CAST(floor(({epoch}) / {step}.0) * {step} AS BIGINT)"


def _grouped(
    db: Backend,
    model: ModelInfo,
    *,
    key: str | None,
    where: str,
    params: tuple[Any, ...],
    version: str | None,
    since: datetime | None,
    until: datetime | None,
    step_seconds: int | None,
    kind: WindowKind,
) -> dict[str, list[SeriesPoint]]:
    """Points matching `where` grouped per `key` column (one group "" when None), version and
    step (each window when None), oldest first: the one query behind `series`,
    `column_series` and `metric_by_column`."""
    bucket = _bucket_sql(step_seconds)
    head = "" if key is None else f"{key}, "
    rows = db.run(
        f"SELECT {head}version, {bucket} AS b, max(w_end), avg(value), min(value), "
        f"max(value), avg(band), max({RANK}), count(*) FROM metric_points "
        f"WHERE model_id = ? AND kind = ? AND {where} "
        "AND (CAST(? AS VARCHAR) IS NULL OR version = ?) AND w_start >= ? AND w_start < ? "
        f"GROUP BY {head}version, b ORDER BY {head}b, version",
        (
            model.id,
            kind,
            *params,
            version,
            version,
            since or EPOCH,
            until or datetime(9999, 1, 1),
        ),
    )
    out: dict[str, list[SeriesPoint]] = {}
    for row in rows:
        name, rest = ("", row) if key is None else (str(row[0]), row[1:])
        out.setdefault(name, []).append(_series_point(rest))
    return out


class Dashboard:
    """Reads grouped for pages (`Store.window_span`, `series`, `heatmap`, `alert_spans`,
    `window_statuses`, `quarantine_between`)."""

    def __init__(self, db: Backend) -> None:
        self._db = db

    def window_span(
        self, model: ModelInfo, version: str | None = None, kind: WindowKind = "tumbling"
    ) -> WindowSpan | None:
        """The model's computed windows of `kind` (of one version, or all): None when none."""
        rows = self._db.run(
            "SELECT min(w_start), max(w_end), count(*) FROM windows WHERE model_id = ? "
            "AND kind = ? AND computed_generation > 0 "
            "AND (CAST(? AS VARCHAR) IS NULL OR version = ?)",
            (model.id, kind, version, version),
        )
        first, latest, count = rows[0]
        if first is None:
            return None
        return WindowSpan(first, latest, int(count))

    def series(
        self,
        model: ModelInfo,
        *,
        metric: str,
        column: str = "",
        segment: str = "",
        version: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        step_seconds: int | None = None,
        kind: WindowKind = "tumbling",
    ) -> list[SeriesPoint]:
        """One metric of one column and segment over time, per version, grouped by the step
        (each window when None); oldest first."""
        found = _grouped(
            self._db,
            model,
            key=None,
            where="metric = ? AND col = ? AND segment = ?",
            params=(metric, column, segment),
            version=version,
            since=since,
            until=until,
            step_seconds=step_seconds,
            kind=kind,
        )
        return found.get("", [])

    def heatmap(
        self,
        model: ModelInfo,
        *,
        prefix: str = "drift.",
        segment: str = "",
        version: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        step_seconds: int | None = None,
    ) -> list[HeatCell]:
        """Per column and step, the worst judged point among the metrics starting with
        `prefix` (every version together); unjudged points (status none) are left out."""
        bucket = _bucket_sql(step_seconds)
        rows = self._db.run(
            "WITH judged AS ("
            f"SELECT col, {bucket} AS b, w_start, metric, value, {RANK} AS r FROM metric_points "
            "WHERE model_id = ? AND kind = 'tumbling' AND segment = ? AND col <> '' "
            "AND starts_with(metric, ?) AND status <> 'none' "
            "AND (CAST(? AS VARCHAR) IS NULL OR version = ?) AND w_start >= ? AND w_start < ?"
            "), cells AS (SELECT col, b, max(r) AS r, count(DISTINCT w_start) AS n FROM judged "
            "GROUP BY col, b), worst AS (SELECT j.col, j.b, j.metric, j.value, row_number() "
            "OVER (PARTITION BY j.col, j.b ORDER BY j.metric, j.value DESC) AS k FROM judged j "
            "JOIN cells c ON j.col = c.col AND j.b = c.b AND j.r = c.r) "
            "SELECT c.col, c.b, c.r, w.metric, w.value, c.n FROM cells c JOIN worst w "
            "ON c.col = w.col AND c.b = w.b AND w.k = 1 ORDER BY c.col, c.b",
            (
                model.id,
                segment,
                prefix,
                version,
                version,
                since or EPOCH,
                until or datetime(9999, 1, 1),
            ),
        )
        return [
            HeatCell(
                str(col),
                EPOCH + timedelta(seconds=int(b)),
                STATUS_OF_RANK[int(r)],
                str(metric),
                value,
                int(n),
            )
            for col, b, r, metric, value, n in rows
        ]

    def alert_spans(
        self,
        model: ModelInfo,
        *,
        status: AlertStatus | None = None,
        severity: str | None = None,
        rule: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 500,
    ) -> list[AlertSpan]:
        """The model's alerts matching the filters whose evidence touches the windows starting
        in [since, until) (an alert not resolved reaches to now), each with the start of its
        earliest evidence window; open alerts first, then the most recently changed."""
        rows = self._db.run(
            "WITH firsts AS (SELECT e.alert_id, min(e.w_start) AS f FROM alert_events e "
            "JOIN alerts x ON x.id = e.alert_id WHERE x.model_id = ? GROUP BY e.alert_id), "
            f"spans AS (SELECT {ALERT_COLUMNS}, CASE WHEN f.f IS NULL OR f.f > a.w_start "
            "THEN a.w_start ELSE f.f END AS first_start FROM alerts a "
            "JOIN models m ON m.id = a.model_id LEFT JOIN firsts f ON f.alert_id = a.id "
            "WHERE a.model_id = ? AND (CAST(? AS VARCHAR) IS NULL OR a.status = ?) "
            "AND (CAST(? AS VARCHAR) IS NULL OR a.severity = ?) "
            "AND (CAST(? AS VARCHAR) IS NULL OR a.rule = ?) "
            "AND (a.status <> 'resolved' OR a.w_end > ?)) "
            "SELECT * FROM spans WHERE first_start < ? "
            "ORDER BY CASE WHEN status = 'resolved' THEN 1 ELSE 0 END, changed DESC, id DESC "
            "LIMIT ?",
            (
                model.id,
                model.id,
                status,
                status,
                severity,
                severity,
                rule,
                rule,
                since or EPOCH,
                until or datetime(9999, 1, 1),
                limit,
            ),
        )
        return [AlertSpan(alert_from_row(r[:-1]), r[-1]) for r in rows]

    def window_statuses(
        self, model: ModelInfo, *, since: datetime | None = None, until: datetime | None = None
    ) -> dict[tuple[str, datetime], str]:
        """The worst status of each tumbling window's own points (the whole window, not its
        segments), by (version, start), for the windows starting in [since, until)."""
        rows = self._db.run(
            f"SELECT version, w_start, max({RANK}) FROM metric_points WHERE model_id = ? "
            "AND kind = 'tumbling' AND segment = '' AND w_start >= ? AND w_start < ? "
            "GROUP BY version, w_start",
            (model.id, since or EPOCH, until or datetime(9999, 1, 1)),
        )
        return {(str(v), start): STATUS_OF_RANK[int(r)] for v, start, r in rows}

    def quarantine_between(
        self, model: ModelInfo, *, since: datetime, until: datetime, limit: int
    ) -> list[QuarantineRecord]:
        """The records of the model rejected (received) in [since, until), newest first."""
        rows = self._db.run(
            "SELECT received, kind, record_index, record_id, errors, payload FROM quarantine "
            "WHERE model_id = ? AND received >= ? AND received < ? "
            "ORDER BY received DESC, record_index LIMIT ?",
            (model.id, since, until, limit),
        )
        return [
            QuarantineRecord(received, kind, int(index), record_id, _reasons(errors), payload)
            for received, kind, index, record_id, errors, payload in rows
        ]

    def segments(
        self,
        model: ModelInfo,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[str]:
        """The segments (`region=north`, ...) with tumbling windows starting in [since,
        until), read from one figure every segment's evaluation stores (the label coverage,
        or the share of drifted features), so the scan is one point per window and segment."""
        rows = self._db.run(
            "SELECT DISTINCT segment FROM metric_points WHERE model_id = ? AND kind = 'tumbling' "
            "AND segment <> '' AND col = '' "
            "AND metric IN ('drift.share_drifted', 'performance.label_coverage') "
            "AND w_start >= ? AND w_start < ? ORDER BY segment",
            (model.id, since or EPOCH, until or datetime(9999, 1, 1)),
        )
        return [str(r[0]) for r in rows]


def _reasons(errors: str) -> tuple[str, ...]:
    """A rejected record's reasons as stored (a JSON list of sentences)."""
    found = json.loads(errors)
    return tuple(str(e) for e in found) if isinstance(found, list) else (str(found),)


@dataclass(frozen=True, slots=True)
class Moments:
    """One metric's windows in a span: how many, their mean and sample standard deviation."""

    windows: int
    mean: float | None
    std: float | None  # None below two windows


def _prefixes_sql(prefixes: tuple[str, ...]) -> str:
    """`(starts_with(metric, ?) OR ...)`, one placeholder per prefix."""
    if not prefixes:
        raise ValueError("give at least one metric prefix, e.g. ('drift.',).")
    return "(" + " OR ".join("starts_with(metric, ?)" for _ in prefixes) + ")"


class ColumnReads:
    """Every metric of one column in one query (`Store.column_series`, `column_moments`): a
    feature's page reads a dozen measures without scanning the points once per measure."""

    def __init__(self, db: Backend) -> None:
        self._db = db

    def column_series(
        self,
        model: ModelInfo,
        *,
        column: str,
        prefixes: tuple[str, ...] = ("drift.", "quality."),
        segment: str = "",
        version: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        step_seconds: int | None = None,
        kind: WindowKind = "tumbling",
    ) -> dict[str, list[SeriesPoint]]:
        """Each metric of `column` starting with one of `prefixes`, over time, per version,
        grouped by the step (each window when None) as `series` groups one; oldest first."""
        return _grouped(
            self._db,
            model,
            key="metric",
            where=f"col = ? AND segment = ? AND {_prefixes_sql(prefixes)}",
            params=(column, segment, *prefixes),
            version=version,
            since=since,
            until=until,
            step_seconds=step_seconds,
            kind=kind,
        )

    def metric_by_column(
        self,
        model: ModelInfo,
        *,
        metric: str,
        segment: str = "",
        version: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        step_seconds: int | None = None,
        kind: WindowKind = "tumbling",
    ) -> dict[str, list[SeriesPoint]]:
        """One metric of every column over time (e.g. each feature's mean |attribution|), per
        version, grouped by the step as `series` groups one, in one query; oldest first."""
        return _grouped(
            self._db,
            model,
            key="col",
            where="metric = ? AND segment = ? AND col <> ''",
            params=(metric, segment),
            version=version,
            since=since,
            until=until,
            step_seconds=step_seconds,
            kind=kind,
        )

    def column_moments(
        self,
        model: ModelInfo,
        *,
        column: str,
        version: str,
        prefixes: tuple[str, ...] = ("drift.", "quality."),
        segment: str = "",
        since: datetime | None = None,
        until: datetime | None = None,
        kind: WindowKind = "tumbling",
    ) -> dict[str, Moments]:
        """Per metric of `column` (one version), the count, mean and sample standard deviation
        of its windows' finite values starting in [since, until): control limits."""
        rows = self._db.run(
            "SELECT metric, count(value), avg(value), stddev_samp(value) FROM metric_points "
            "WHERE model_id = ? AND kind = ? AND col = ? AND segment = ? AND version = ? "
            f"AND {_prefixes_sql(prefixes)} AND value IS NOT NULL "
            "AND value > -1e308 AND value < 1e308 AND w_start >= ? AND w_start < ? "
            "GROUP BY metric",
            (
                model.id,
                kind,
                column,
                segment,
                version,
                *prefixes,
                since or EPOCH,
                until or datetime(9999, 1, 1),
            ),
        )
        return {
            str(metric): Moments(int(n), mean, std if n and int(n) > 1 else None)
            for metric, n, mean, std in rows
        }
