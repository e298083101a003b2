"""What a store holds and the interface both backends (DuckDB, PostgreSQL) implement.

Each model gets its own prediction table and label table, with one typed column per spec
column, so a window is read back as an Arrow table without parsing anything. User-given
names (models, columns) are values in the catalogue tables only: the SQL uses generated
identifiers (`p_3`, `c7`), never a name a client sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal, Protocol

import pyarrow as pa

if TYPE_CHECKING:  # defined beside their SQL, which imports this module
    from vigil.store.dashboard import (
        AlertSpan,
        HeatCell,
        Moments,
        QuarantineRecord,
        SeriesPoint,
        WindowSpan,
    )

Storage = Literal["DOUBLE", "VARCHAR", "BOOLEAN", "TIMESTAMP"]
WindowKind = Literal["tumbling", "rolling"]
RecordKind = Literal["prediction", "label"]

# Columns every prediction table has, besides the spec columns (c0, c1, ...).
PREDICTION_FIELDS = ("id", "timestamp", "model_version", "latency_ms", "error")
ARROW_TYPES: dict[str, pa.DataType] = {
    "DOUBLE": pa.float64(),
    "VARCHAR": pa.string(),
    "BOOLEAN": pa.bool_(),
    "TIMESTAMP": pa.timestamp("us"),
}


@dataclass(frozen=True, slots=True)
class StoredColumn:
    """A column of a model's prediction table: the user's name and where it is kept."""

    name: str  # as in the spec, or as first sent for an extra feature
    role: str  # spec role, or "extra" for a feature the spec does not know
    storage: Storage
    key: str  # generated SQL identifier, e.g. "c4"


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """A registered model: its versions, their specs, and its table layout."""

    id: int
    name: str
    current_version: str
    specs: dict[str, dict[str, Any]]  # version -> spec as plain data
    columns: tuple[StoredColumn, ...]
    label_storage: Storage | None  # None when the spec has no target column
    created: datetime

    def column(self, name: str) -> StoredColumn | None:
        """The stored column called `name`, or None."""
        for col in self.columns:
            if col.name == name:
                return col
        return None


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What happened to one batch of records: how many were new, resent or contradicting."""

    accepted: int
    duplicates: int  # same id, same content: already stored, not counted twice
    conflicts: int  # same id, different content: the first one stays
    conflict_ids: tuple[str, ...]
    pending: int = 0  # labels whose prediction has not arrived yet


@dataclass(frozen=True, slots=True)
class Quarantined:
    """A rejected record, kept with its reasons so a person can see what was wrong."""

    kind: RecordKind
    index: int  # position in the request's batch
    record_id: str | None
    errors: tuple[str, ...]
    payload: str  # the record as received, JSON text (truncated when huge)


@dataclass(frozen=True, slots=True)
class WindowKey:
    """One window of one model version."""

    version: str
    kind: WindowKind
    start: datetime  # naive UTC
    end: datetime  # naive UTC; for the rolling window, the time it was last due


@dataclass(frozen=True, slots=True)
class WindowState:
    """A window's bookkeeping: how many changes it has seen and how many are computed."""

    key: WindowKey
    generation: int  # bumped by every write that touches the window
    computed_generation: int  # the generation the stored results reflect
    rows: int | None  # rows at the last computation
    labelled: int | None
    computed_at: datetime | None
    failures: int = 0  # computations that failed in a row since the last success
    last_error: str | None = None  # why the last one failed
    retry_at: datetime | None = None  # not tried again before, unless news arrives
    # the generation of the last news other than labels (rows, a reference, a backfill)
    data_generation: int | None = None

    @property
    def has_only_new_labels(self) -> bool:
        """True when the window was computed and only labels arrived since: its rows, its
        reference and its span are those of its stored results."""
        return (
            self.data_generation is not None
            and 0 < self.computed_generation < self.generation
            and self.data_generation <= self.computed_generation
        )

    @property
    def is_dirty(self) -> bool:
        """True when rows or labels arrived since the window was last computed."""
        return self.generation > self.computed_generation

    @property
    def is_failed(self) -> bool:
        """True when the last computation of the window failed."""
        return self.failures > 0


@dataclass(frozen=True, slots=True)
class FinishedWindow:
    """A claimed window's results, to store (`Store.finish_windows`)."""

    key: WindowKey  # the rolling window's with the end it was computed to
    generation: int  # the generation claimed: what the results reflect
    rows: int
    labelled: int
    report: str | None  # the report JSON; None when the window was too small to judge
    points: Sequence[MetricPoint]  # every point of the window, or with `only_changes` those new
    # with `only_changes`, `points` are the window's points that changed since its stored
    # results and `stale` the (segment, metric, column) of those that are gone; the rest of
    # the stored points stay. Without, the stored points of a tumbling window are replaced.
    only_changes: bool = False
    stale: Sequence[tuple[str, str, str]] = ()


@dataclass(frozen=True, slots=True)
class MetricPoint:
    """One value of one metric for one window (and segment)."""

    version: str
    kind: WindowKind
    segment: str  # "" for the whole window, else "column=value" or "column=other"
    start: datetime
    end: datetime
    metric: str  # e.g. "drift.psi", "quality.missing_share", "performance.roc_auc"
    column: str  # "" for dataset-level metrics
    value: float | None
    status: str  # ok | pending | warning | critical | none (nothing judged the value)
    band: float | None = None  # standard error of the judged change (performance metrics)


@dataclass(frozen=True, slots=True)
class StreamCursor:
    """Where a change detector has read a stream to (arrival time, id), how many values it
    was fed, and its state's bytes (None before its first save)."""

    at: datetime
    id: str
    position: int
    state: bytes | None


AlertStatus = Literal["pending", "firing", "resolved"]
# what an alert event records: the lifecycle's changes and what people did to it
AlertEventKind = Literal[
    "pending", "opened", "escalated", "repeated", "resolved", "acknowledged", "marked", "silenced"
]
AlertVerdict = Literal["true_positive", "false_positive"]
DeliveryStatus = Literal["pending", "sent", "failed"]


@dataclass(frozen=True, slots=True)
class StoredAlert:
    """One alert: one (rule, model, version, column, segment) while it is open, with its latest
    evidence. A key has at most one alert that is not resolved (`Store.save_alerts`)."""

    id: str  # 32 hex digits, made by the caller
    model: str
    rule: str
    version: str
    column: str  # "" for a figure of the whole window
    segment: str  # "" for the whole window
    metric: str
    severity: str  # warning | critical
    status: AlertStatus
    began: datetime  # when the breach was first seen
    opened_at: datetime | None  # when it fired (None while pending)
    changed: datetime  # when its status last changed
    resolved_at: datetime | None
    breached: int  # breached evaluations in a row (while pending)
    clear: int  # clear evaluations in a row (while firing)
    notified: datetime | None  # the last opened / escalated / repeated notification
    window_kind: WindowKind  # the latest evidence's window
    window_start: datetime
    window_end: datetime
    value: float | None
    threshold: float
    baseline: float | None
    message: str
    point_status: str  # the evidence point's own status (ok | warning | critical | none)
    acked_at: datetime | None = None
    acked_by: str | None = None
    verdict: AlertVerdict | None = None
    verdict_by: str | None = None
    verdict_at: datetime | None = None
    verdict_note: str | None = None


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """One change of an alert, with its time and the evidence then."""

    alert_id: str
    at: datetime
    kind: AlertEventKind
    severity: str
    value: float | None
    threshold: float | None
    baseline: float | None
    window_start: datetime | None
    window_end: datetime | None
    message: str
    actor: str | None = None  # the token name of a person's action; None for vigil's own


def alert_event(
    alert: StoredAlert, at: datetime, kind: AlertEventKind, message: str, actor: str | None = None
) -> AlertEvent:
    """An event of `alert` at `at`, with the alert's evidence then."""
    return AlertEvent(
        alert.id,
        at,
        kind,
        alert.severity,
        alert.value,
        alert.threshold,
        alert.baseline,
        alert.window_start,
        alert.window_end,
        message,
        actor,
    )


@dataclass(frozen=True, slots=True)
class Delivery:
    """One notice to one destination, kept in the outbox until it is sent or given up."""

    id: str  # 32 hex digits, made by the caller
    model: str
    destination: str  # the name of the `alerts.notify` entry
    body: str  # the notice as JSON (vigil.alerts.notice.notice_json)
    alert_ids: tuple[str, ...]
    created: datetime
    status: DeliveryStatus
    attempts: int = 0
    next_at: datetime | None = None  # not tried before (pending)
    last_error: str | None = None  # why the last attempt failed; never a secret
    sent_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Silence:
    """While `starts_at <= now < ends_at`, alerts whose key matches every matcher are kept
    but not notified. A matcher value is exact, or a glob with `*` (`fraud-*`)."""

    id: str  # 32 hex digits, made by the caller
    matchers: dict[str, str]  # keys among rule, model, version, column, segment
    starts_at: datetime
    ends_at: datetime
    created: datetime
    created_by: str | None
    comment: str


@dataclass(frozen=True, slots=True)
class ActionRecord:
    """One decision about an action: taken or skipped, why, on what evidence, and how the
    call went."""

    id: str  # 32 hex digits, made by the caller
    model: str
    kind: str  # retrain | rollback | promote
    trigger: str  # scheduled | drift | performance | manual | sla | challenger
    decided_at: datetime
    taken: bool
    reason: str  # a sentence: why taken, or why skipped
    evidence: str  # JSON: the alerts, values or comparison behind it
    outcome: str | None  # taken: "sent", or the failure; skipped: None


def utcnow() -> datetime:
    """Now, as the naive UTC timestamp the store keeps."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


class AlertStore(Protocol):
    """Alerts, the outbox of notices, silences and action records (vigil.alerts)."""

    # alerts: vigil.alerts.engine keeps them; the API reads and annotates them
    def alert_states(self, model: ModelInfo) -> list[StoredAlert]: ...
    def save_alerts(
        self,
        model: ModelInfo,
        alerts: Sequence[StoredAlert],
        events: Sequence[AlertEvent],
        deliveries: Sequence[Delivery],
    ) -> None: ...
    def read_alerts(
        self,
        *,
        model: ModelInfo | None,
        status: AlertStatus | None,
        severity: str | None,
        rule: str | None,
        since: datetime | None,
        limit: int,
    ) -> list[StoredAlert]: ...
    def get_alert(self, alert_id: str) -> StoredAlert | None: ...
    def alert_events(self, alert_id: str) -> list[AlertEvent]: ...
    def ack_alert(
        self, alert_id: str, *, actor: str | None, at: datetime
    ) -> StoredAlert | None: ...
    def mark_alert(
        self,
        alert_id: str,
        verdict: AlertVerdict,
        *,
        actor: str | None,
        note: str | None,
        at: datetime,
    ) -> StoredAlert | None: ...
    def rule_precision(self, model: ModelInfo | None) -> dict[str, tuple[int, int]]: ...
    def firing_counts(self) -> dict[tuple[str, str], int]: ...
    # the report of the window an alert's evidence is from (tumbling by start; rolling: latest)
    def window_report(
        self, model: ModelInfo, version: str, kind: WindowKind, start: datetime
    ) -> tuple[WindowKey, str] | None: ...

    # the outbox
    def claim_deliveries(
        self, now: datetime, owner: str, *, lease_seconds: float, limit: int
    ) -> list[Delivery]: ...
    def finish_delivery(
        self,
        delivery_id: str,
        owner: str,
        *,
        sent_at: datetime | None,
        error: str | None,
        next_at: datetime | None,
    ) -> None: ...
    def read_deliveries(
        self, *, alert_id: str | None, status: DeliveryStatus | None, limit: int
    ) -> list[Delivery]: ...
    def delivery_counts(self) -> dict[DeliveryStatus, int]: ...

    # silences
    def add_silence(self, silence: Silence) -> None: ...
    def list_silences(self, *, active_at: datetime | None) -> list[Silence]: ...
    def delete_silence(self, silence_id: str) -> bool: ...

    # actions
    def record_action(self, model: ModelInfo, record: ActionRecord) -> None: ...
    def read_actions(
        self,
        model: ModelInfo,
        *,
        kind: str | None,
        since: datetime | None,
        limit: int,
    ) -> list[ActionRecord]: ...


class Store(AlertStore, Protocol):
    """The persistence every part of the service goes through (alerts included)."""

    url_for_display: str  # the store's address with any password removed

    def close(self) -> None: ...

    # models
    def register_model(
        self,
        name: str,
        version: str,
        spec: dict[str, Any],
        columns: Sequence[tuple[str, str, Storage]],
        label_storage: Storage | None,
    ) -> ModelInfo: ...
    def get_model(self, name: str) -> ModelInfo | None: ...
    def list_models(self) -> list[ModelInfo]: ...
    def add_extra_columns(
        self, model: ModelInfo, names: Sequence[str], limit: int | None = None
    ) -> ModelInfo: ...

    # references
    def put_reference(self, model: ModelInfo, version: str, parquet: bytes, rows: int) -> None: ...
    def get_reference(self, model: ModelInfo, version: str) -> bytes | None: ...
    def reference_versions(self, model: ModelInfo) -> dict[str, tuple[int, datetime]]: ...

    # ingest
    def write_predictions(
        self,
        model: ModelInfo,
        batches: Sequence[pa.Table],
        quarantined: Sequence[Quarantined],
        *,
        window_seconds: int,
    ) -> list[WriteResult]: ...
    def write_labels(
        self,
        model: ModelInfo,
        batches: Sequence[pa.Table],
        quarantined: Sequence[Quarantined],
        *,
        window_seconds: int,
    ) -> list[WriteResult]: ...
    def read_quarantine(
        self, model: ModelInfo, *, limit: int, since: datetime | None
    ) -> list[dict[str, Any]]: ...

    # windows
    def read_window(
        self, model: ModelInfo, version: str, start: datetime, end: datetime
    ) -> pa.Table: ...
    def window_counts(
        self, model: ModelInfo, version: str, start: datetime, end: datetime
    ) -> tuple[int, int]: ...
    def versions_with_data(self, model: ModelInfo) -> list[str]: ...
    def window_states(self, model: ModelInfo, *, dirty_only: bool) -> list[WindowState]: ...
    def mark_windows(
        self, model: ModelInfo, keys: Sequence[WindowKey], *, labels_only: bool = False
    ) -> None: ...
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
    ) -> list[WindowState]: ...
    def count_failed_windows(self, model: ModelInfo) -> int: ...
    def claim_window(
        self,
        model: ModelInfo,
        key: WindowKey,
        owner: str,
        *,
        lease_seconds: float,
        retry_before: datetime | None = None,
    ) -> int | None: ...
    def claim_windows(
        self,
        model: ModelInfo,
        keys: Sequence[WindowKey],
        owner: str,
        *,
        lease_seconds: float,
        retry_before: datetime | None = None,
    ) -> dict[WindowKey, WindowState]: ...
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
    ) -> None: ...
    def finish_windows(
        self, model: ModelInfo, finished: Sequence[FinishedWindow], *, owner: str
    ) -> None: ...
    def fail_window(
        self, model: ModelInfo, key: WindowKey, *, owner: str, error: str, retry_at: datetime
    ) -> int: ...
    def release_window(self, model: ModelInfo, key: WindowKey, owner: str) -> None: ...
    def redo_windows(self, model: ModelInfo, since: datetime, until: datetime) -> int: ...
    def latest_report(
        self, model: ModelInfo, version: str | None
    ) -> tuple[WindowKey, str] | None: ...
    # change detectors on per-record streams (vigil.monitor.streams, store/streams.py)
    def stream_cursor(self, model: ModelInfo, stream: str, detector: str) -> StreamCursor: ...
    def stream_rows(
        self, model: ModelInfo, column: str, *, errors: bool, after: StreamCursor, limit: int
    ) -> pa.Table: ...
    def save_stream(
        self,
        model: ModelInfo,
        stream: str,
        detector: str,
        before: StreamCursor,
        after: StreamCursor,
        detections: Sequence[MetricPoint],
    ) -> bool: ...
    def detection_points(
        self, model: ModelInfo, version: str, start: datetime
    ) -> list[MetricPoint]: ...
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
    ) -> list[MetricPoint]: ...
    def latest_points(self, model: ModelInfo) -> list[MetricPoint]: ...

    # the scheduler's clock: figures read when nothing arrives (vigil.alerts.clock)
    def received_times(self, model: ModelInfo) -> tuple[datetime | None, datetime | None]: ...
    def window_row_counts(
        self, model: ModelInfo, since: datetime, until: datetime, size_seconds: int
    ) -> dict[datetime, int]: ...

    # the dashboard's reads, grouped by a step in SQL (vigil.store.dashboard)
    def window_span(
        self, model: ModelInfo, version: str | None = None, kind: WindowKind = "tumbling"
    ) -> WindowSpan | None: ...
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
    ) -> list[SeriesPoint]: ...
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
    ) -> list[HeatCell]: ...
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
    ) -> dict[str, list[SeriesPoint]]: ...
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
    ) -> dict[str, list[SeriesPoint]]: ...
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
    ) -> dict[str, Moments]: ...
    def segments(
        self, model: ModelInfo, *, since: datetime | None = None, until: datetime | None = None
    ) -> list[str]: ...
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
    ) -> list[AlertSpan]: ...
    def window_statuses(
        self, model: ModelInfo, *, since: datetime | None = None, until: datetime | None = None
    ) -> dict[tuple[str, datetime], str]: ...
    def quarantine_between(
        self, model: ModelInfo, *, since: datetime, until: datetime, limit: int
    ) -> list[QuarantineRecord]: ...

    # retention
    def drop_predictions_before(self, model: ModelInfo, cutoff: datetime) -> int: ...
    def stats(self) -> dict[str, int]: ...
