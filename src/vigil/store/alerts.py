"""Alerts, their events, the outbox of notices and silences: the `AlertStore` part of the store.

Who writes what: the alert engine (vigil.alerts) saves alerts with their events and the
deliveries they make (`save_alerts`, one transaction); people acknowledge and mark them
(`ack_alert`, `mark_alert`), which only touch the `acked_*` and `verdict*` columns, so an
engine saving the alert it read before a person acted never undoes the act. The outbox worker
leases pending deliveries (`claim_deliveries`) and reports how each went (`finish_delivery`).

One open (pending or firing) alert per key (model, rule, version, column, segment): checked in
the saving transaction, which holds a lock on the model (its `models` row on PostgreSQL; the
process's write lock on DuckDB), so two instances saving one model's alerts take turns.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from vigil.errors import StoreError
from vigil.store.backend import ROLLING_START, Backend
from vigil.store.base import (
    AlertEvent,
    AlertStatus,
    AlertVerdict,
    Delivery,
    DeliveryStatus,
    ModelInfo,
    Silence,
    StoredAlert,
    WindowKey,
    WindowKind,
    alert_event,
)

MAX_ERROR = 2000  # characters of a delivery's failure kept; the worker's log has the rest
CHUNK = 1000  # ids per `IN (...)` list
ID = re.compile(r"[0-9a-f]{32}")
STATUSES: tuple[AlertStatus, ...] = ("pending", "firing", "resolved")
VERDICTS: tuple[AlertVerdict, ...] = ("true_positive", "false_positive")
DELIVERY_STATUSES: tuple[DeliveryStatus, ...] = ("pending", "sent", "failed")
MATCHER_KEYS = ("rule", "model", "version", "column", "segment")

# StoredAlert's fields in order, as the alerts table (joined to models as `m`) holds them
ALERT_COLUMNS = (
    "a.id, m.name, a.rule, a.version, a.col, a.segment, a.metric, a.severity, a.status, "
    "a.began, a.opened_at, a.changed, a.resolved_at, a.breached, a.clear_n, a.notified, "
    "a.w_kind, a.w_start, a.w_end, a.value, a.threshold, a.baseline, a.message, "
    "a.point_status, a.acked_at, a.acked_by, a.verdict, a.verdict_by, a.verdict_at, "
    "a.verdict_note"
)
# what the engine owns: an upsert of an existing alert sets these and leaves people's columns
ENGINE_COLUMNS = (
    "rule", "version", "col", "segment", "metric", "severity", "status", "began", "opened_at",
    "changed", "resolved_at", "breached", "clear_n", "notified", "w_kind", "w_start", "w_end",
    "value", "threshold", "baseline", "message", "point_status",
)  # fmt: skip
DELIVERY_COLUMNS = (
    "d.id, m.name, d.destination, d.body, d.created, d.status, d.attempts, d.next_at, "
    "d.last_error, d.sent_at"
)
EVENT_COLUMNS = (
    "alert_id, event_at, kind, severity, value, threshold, baseline, w_start, w_end, message, actor"
)


class Alerts:
    """The tables of migration 4 but `actions`: alerts, alert_events, deliveries,
    delivery_alerts, silences."""

    def __init__(self, db: Backend) -> None:
        self._db = db

    # -- alerts ---------------------------------------------------------------------------

    def alert_states(self, model: ModelInfo) -> list[StoredAlert]:
        """The newest alert of each key of a model: its open one (pending or firing) where it
        has one, else its most recently resolved one (the engine's cooldown reads it)."""
        rows = self._db.run(
            f"SELECT {ALERT_COLUMNS} FROM (SELECT *, row_number() OVER (PARTITION BY rule, "
            "version, col, segment ORDER BY CASE WHEN status = 'resolved' THEN 1 ELSE 0 END, "
            "coalesce(resolved_at, changed) DESC, id DESC) AS newest FROM alerts "
            "WHERE model_id = ?) a JOIN models m ON m.id = a.model_id WHERE a.newest = 1 "
            "ORDER BY a.rule, a.version, a.col, a.segment",
            (model.id,),
        )
        return [alert_from_row(r) for r in rows]

    def save_alerts(
        self,
        model: ModelInfo,
        alerts: Sequence[StoredAlert],
        events: Sequence[AlertEvent],
        deliveries: Sequence[Delivery],
    ) -> None:
        """In one transaction: upsert `alerts` by id, append `events` (numbered after the
        alert's last), and queue `deliveries`. StoreError, with nothing written, when an alert
        would open beside another open alert of its key, belongs to another model, or an
        event or delivery names an alert of no alert of this model.

        An alert already stored keeps its `acked_*` and `verdict*` columns: people set those
        (`ack_alert`, `mark_alert`), the engine saves the rest.
        """
        for alert in alerts:
            _check_alert(model, alert)
        for event in events:
            _check_event(event)
        for delivery in deliveries:
            _check_delivery(model, delivery)
        if not alerts and not events and not deliveries:
            return
        with self._db.transaction():
            self._lock_model(model.id)
            owners = self._owners([a.id for a in alerts])
            for alert in alerts:
                owner = owners.get(alert.id, model.id)
                if owner != model.id:
                    raise StoreError(
                        f"alert {alert.id} belongs to another model than {model.name!r}; an "
                        f"alert keeps its model, give the new alert a new id."
                    )
                self._upsert(model, alert)
            self._check_open_keys(model, alerts)
            named = {e.alert_id for e in events} | {i for d in deliveries for i in d.alert_ids}
            known = {i for i, owner in self._owners(sorted(named)).items() if owner == model.id}
            missing = sorted(named - known)
            if missing:
                raise StoreError(
                    f"model {model.name!r} has no alert {missing[0]} (named by an event or a "
                    f"delivery); save the alert with its first event."
                )
            self._append(events)
            self._queue(model, deliveries)

    def _lock_model(self, model_id: int) -> None:
        """Make the model's alert writers take turns: on PostgreSQL the model's row is locked
        until the transaction ends (a lock on the alert rows would not stop a second instance
        inserting a new open alert beside them); DuckDB's writes already hold the process's
        write lock, and its file lock keeps other processes out."""
        if self._db.shared:
            self._db.run("SELECT id FROM models WHERE id = ? FOR UPDATE", (model_id,))

    def _owners(self, ids: Sequence[str]) -> dict[str, int]:
        """alert id -> model id, for those of `ids` that are stored."""
        out: dict[str, int] = {}
        for chunk in _chunks(ids):
            marks = ", ".join("?" * len(chunk))
            for alert_id, model_id in self._db.run(
                f"SELECT id, model_id FROM alerts WHERE id IN ({marks})", chunk
            ):
                out[str(alert_id)] = int(model_id)
        return out

    def _upsert(self, model: ModelInfo, a: StoredAlert) -> None:
        updates = ", ".join(f"{c} = excluded.{c}" for c in ENGINE_COLUMNS)
        self._db.run(
            f"INSERT INTO alerts VALUES ({', '.join('?' * 30)}) "
            f"ON CONFLICT (id) DO UPDATE SET {updates}",
            (
                a.id,
                model.id,
                a.rule,
                a.version,
                a.column,
                a.segment,
                a.metric,
                a.severity,
                a.status,
                a.began,
                a.opened_at,
                a.changed,
                a.resolved_at,
                a.breached,
                a.clear,
                a.notified,
                a.window_kind,
                a.window_start,
                a.window_end,
                a.value,
                a.threshold,
                a.baseline,
                a.message,
                a.point_status,
                a.acked_at,
                a.acked_by,
                a.verdict,
                a.verdict_by,
                a.verdict_at,
                a.verdict_note,
            ),
        )

    def _check_open_keys(self, model: ModelInfo, alerts: Sequence[StoredAlert]) -> None:
        """One open alert per key, among the stored ones and those just saved."""
        rows = self._db.run(
            "SELECT rule, version, col, segment, min(id), max(id) FROM alerts "
            "WHERE model_id = ? AND status <> 'resolved' GROUP BY rule, version, col, segment "
            "HAVING count(*) > 1 ORDER BY 1, 2, 3, 4 LIMIT 1",
            (model.id,),
        )
        if rows:
            rule, version, column, segment, first, second = rows[0]
            saved = {a.id for a in alerts}
            new = second if second in saved and first not in saved else first
            other = second if new == first else first
            raise StoreError(
                f"model {model.name!r}: rule {rule!r} on version {version!r}, column "
                f"{column!r}, segment {segment!r} already has the open alert {other}; alert "
                f"{new} cannot open beside it (one open alert per key): update {other}, or "
                f"resolve it first."
            )

    def _append(self, events: Sequence[AlertEvent]) -> None:
        """Append events, each numbered one past its alert's last."""
        if not events:
            return
        last: dict[str, int] = {}
        for chunk in _chunks(sorted({e.alert_id for e in events})):
            marks = ", ".join("?" * len(chunk))
            for alert_id, seq in self._db.run(
                f"SELECT alert_id, max(seq) FROM alert_events WHERE alert_id IN ({marks}) "
                "GROUP BY alert_id",
                chunk,
            ):
                last[str(alert_id)] = int(seq)
        for e in events:
            seq = last.get(e.alert_id, 0) + 1
            last[e.alert_id] = seq
            self._db.run(
                f"INSERT INTO alert_events (alert_id, seq, {EVENT_COLUMNS.partition(', ')[2]}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    e.alert_id,
                    seq,
                    e.at,
                    e.kind,
                    e.severity,
                    e.value,
                    e.threshold,
                    e.baseline,
                    e.window_start,
                    e.window_end,
                    e.message,
                    e.actor,
                ),
            )

    def _queue(self, model: ModelInfo, deliveries: Sequence[Delivery]) -> None:
        ids = [d.id for d in deliveries]
        if len(set(ids)) != len(ids):
            raise StoreError("two deliveries of one save share an id; give each its own.")
        for chunk in _chunks(ids):
            marks = ", ".join("?" * len(chunk))
            taken = self._db.run(f"SELECT id FROM deliveries WHERE id IN ({marks})", chunk)
            if taken:
                raise StoreError(
                    f"a delivery {taken[0][0]} is already queued; a delivery is queued once."
                )
        for d in deliveries:
            self._db.run(
                "INSERT INTO deliveries VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL)",
                (
                    d.id,
                    model.id,
                    d.destination,
                    d.body,
                    d.created,
                    d.status,
                    d.attempts,
                    d.next_at,
                    d.last_error,
                    d.sent_at,
                ),
            )
            for alert_id in sorted(set(d.alert_ids)):
                self._db.run("INSERT INTO delivery_alerts VALUES (?, ?)", (d.id, alert_id))

    def read_alerts(
        self,
        *,
        model: ModelInfo | None,
        status: AlertStatus | None,
        severity: str | None,
        rule: str | None,
        since: datetime | None,
        limit: int,
    ) -> list[StoredAlert]:
        """Alerts matching every filter given, the most recently changed first; `since`
        keeps those that changed at or after it."""
        rows = self._db.run(
            f"SELECT {ALERT_COLUMNS} FROM alerts a JOIN models m ON m.id = a.model_id "
            "WHERE (CAST(? AS INTEGER) IS NULL OR a.model_id = ?) "
            "AND (CAST(? AS VARCHAR) IS NULL OR a.status = ?) "
            "AND (CAST(? AS VARCHAR) IS NULL OR a.severity = ?) "
            "AND (CAST(? AS VARCHAR) IS NULL OR a.rule = ?) "
            "AND (CAST(? AS TIMESTAMP) IS NULL OR a.changed >= ?) "
            "ORDER BY a.changed DESC, a.id DESC LIMIT ?",
            (
                *_twice(None if model is None else model.id),
                *_twice(status),
                *_twice(severity),
                *_twice(rule),
                *_twice(since),
                limit,
            ),
        )
        return [alert_from_row(r) for r in rows]

    def get_alert(self, alert_id: str) -> StoredAlert | None:
        """One alert by id, or None."""
        if not _is_id(alert_id):
            return None
        rows = self._db.run(
            f"SELECT {ALERT_COLUMNS} FROM alerts a JOIN models m ON m.id = a.model_id "
            "WHERE a.id = ?",
            (alert_id,),
        )
        return alert_from_row(rows[0]) if rows else None

    def alert_events(self, alert_id: str) -> list[AlertEvent]:
        """An alert's events, oldest first (in the order they were appended)."""
        if not _is_id(alert_id):
            return []
        rows = self._db.run(
            f"SELECT {EVENT_COLUMNS} FROM alert_events WHERE alert_id = ? ORDER BY seq",
            (alert_id,),
        )
        return [_event(r) for r in rows]

    def ack_alert(self, alert_id: str, *, actor: str | None, at: datetime) -> StoredAlert | None:
        """Acknowledge an alert (an `acknowledged` event); None when there is no such alert.
        An alert acknowledged already keeps its first acknowledgement, and gets no event."""
        _check_text(actor, "actor")
        if not _is_id(alert_id):
            return None
        with self._db.transaction():
            alert = self._locked(alert_id)
            if alert is None:
                return None
            if alert.acked_at is not None:
                return alert
            self._db.run(
                "UPDATE alerts SET acked_at = ?, acked_by = ? WHERE id = ?",
                (at, actor, alert_id),
            )
            who = f" by {actor}" if actor else ""
            self._append([alert_event(alert, at, "acknowledged", f"acknowledged{who}", actor)])
            return self._locked(alert_id)

    def mark_alert(
        self,
        alert_id: str,
        verdict: AlertVerdict,
        *,
        actor: str | None,
        note: str | None,
        at: datetime,
    ) -> StoredAlert | None:
        """Mark an alert a true or a false positive (a `marked` event); a later mark replaces
        the verdict, and both events stay. None when there is no such alert."""
        if verdict not in VERDICTS:
            raise StoreError(f"verdict {verdict!r} is not one of {', '.join(VERDICTS)}.")
        _check_text(actor, "actor")
        _check_text(note, "note")
        if not _is_id(alert_id):
            return None
        with self._db.transaction():
            alert = self._locked(alert_id)
            if alert is None:
                return None
            self._db.run(
                "UPDATE alerts SET verdict = ?, verdict_by = ?, verdict_at = ?, verdict_note = ? "
                "WHERE id = ?",
                (verdict, actor, at, note, alert_id),
            )
            said = f"marked {verdict.replace('_', ' ')}" + (f" by {actor}" if actor else "")
            said += f": {note}" if note else ""
            self._append([alert_event(alert, at, "marked", said, actor)])
            return self._locked(alert_id)

    def _locked(self, alert_id: str) -> StoredAlert | None:
        """In a transaction: the alert, read after its model's lock is taken."""
        found = self._db.run("SELECT model_id FROM alerts WHERE id = ?", (alert_id,))
        if not found:
            return None
        self._lock_model(int(found[0][0]))
        return self.get_alert(alert_id)

    def rule_precision(self, model: ModelInfo | None) -> dict[str, tuple[int, int]]:
        """rule -> (alerts marked true positive, marked false positive), over one model or
        all; each alert counts once, with its latest mark."""
        rows = self._db.run(
            "SELECT rule, count(*) FILTER (WHERE verdict = 'true_positive'), "
            "count(*) FILTER (WHERE verdict = 'false_positive') FROM alerts "
            "WHERE verdict IS NOT NULL AND (CAST(? AS INTEGER) IS NULL OR model_id = ?) "
            "GROUP BY rule ORDER BY rule",
            _twice(None if model is None else model.id),
        )
        return {str(rule): (int(tp), int(fp)) for rule, tp, fp in rows}

    def firing_counts(self) -> dict[tuple[str, str], int]:
        """(model name, severity) -> firing alerts; pairs without any are absent."""
        rows = self._db.run(
            "SELECT m.name, a.severity, count(*) FROM alerts a JOIN models m "
            "ON m.id = a.model_id WHERE a.status = 'firing' GROUP BY m.name, a.severity"
        )
        return {(str(name), str(severity)): int(n) for name, severity, n in rows}

    def window_report(
        self, model: ModelInfo, version: str, kind: WindowKind, start: datetime
    ) -> tuple[WindowKey, str] | None:
        """The stored report of one window: a tumbling window by its start, the version's
        rolling window as last computed (whatever `start`); None when it has none yet."""
        rows = self._db.run(
            "SELECT w_start, w_end, report FROM windows WHERE model_id = ? AND version = ? "
            "AND kind = ? AND w_start = ? AND report IS NOT NULL",
            (model.id, version, kind, ROLLING_START if kind == "rolling" else start),
        )
        if not rows:
            return None
        w_start, w_end, report = rows[0]
        return WindowKey(version, kind, w_start, w_end), str(report)

    # -- the outbox -----------------------------------------------------------------------

    def claim_deliveries(
        self, now: datetime, owner: str, *, lease_seconds: float, limit: int
    ) -> list[Delivery]:
        """Lease up to `limit` pending deliveries due at `now` (no `next_at`, or at or before
        it) whose lease is free or expired, oldest first. Two workers never hold one delivery:
        on PostgreSQL each skips the rows the other is leasing (FOR UPDATE SKIP LOCKED)."""
        if limit < 1:
            return []
        skip = " FOR UPDATE SKIP LOCKED" if self._db.shared else ""
        with self._db.transaction():
            rows = self._db.run(
                "UPDATE deliveries SET owner = ?, lease_until = ? WHERE id IN (SELECT id "
                "FROM deliveries WHERE status = 'pending' AND (next_at IS NULL OR next_at <= ?) "
                "AND (lease_until IS NULL OR lease_until <= ?) ORDER BY created, id LIMIT ?"
                f"{skip}) RETURNING id",
                (owner, now + timedelta(seconds=lease_seconds), now, now, limit),
            )
            return self._deliveries([str(r[0]) for r in rows])

    def finish_delivery(
        self,
        delivery_id: str,
        owner: str,
        *,
        sent_at: datetime | None,
        error: str | None,
        next_at: datetime | None,
    ) -> None:
        """Record how an attempt went and release the lease, if `owner` still holds it.

        Sent (`sent_at`): status `sent`. Failed (`error`): its reason kept, and either tried
        again from `next_at` or, with `next_at` None, given up (status `failed`). Either way
        one more attempt is counted. A worker whose lease another took changes nothing.
        """
        if (sent_at is None) == (error is None):
            raise StoreError(
                f"delivery {delivery_id}: give either sent_at (it was sent) or error (it "
                f"failed), not {'both' if sent_at else 'neither'}."
            )
        with self._db.transaction():
            if sent_at is not None:
                self._db.run(
                    "UPDATE deliveries SET status = 'sent', sent_at = ?, next_at = NULL, "
                    "attempts = attempts + 1, owner = NULL, lease_until = NULL "
                    "WHERE id = ? AND owner = ? AND status = 'pending'",
                    (sent_at, delivery_id, owner),
                )
                return
            # PostgreSQL cannot store NUL in text; the worker's log keeps the whole message
            reason = _storable(cast(str, error)[:MAX_ERROR])
            self._db.run(
                "UPDATE deliveries SET status = ?, last_error = ?, next_at = ?, "
                "attempts = attempts + 1, owner = NULL, lease_until = NULL "
                "WHERE id = ? AND owner = ? AND status = 'pending'",
                ("pending" if next_at else "failed", reason, next_at, delivery_id, owner),
            )

    def read_deliveries(
        self, *, alert_id: str | None, status: DeliveryStatus | None, limit: int
    ) -> list[Delivery]:
        """Deliveries matching the filters given, the most recently created first."""
        if alert_id is not None and not _is_id(alert_id):
            return []
        rows = self._db.run(
            "SELECT d.id FROM deliveries d WHERE (CAST(? AS VARCHAR) IS NULL OR d.status = ?) "
            "AND (CAST(? AS VARCHAR) IS NULL OR d.id IN "
            "(SELECT delivery_id FROM delivery_alerts WHERE alert_id = ?)) "
            "ORDER BY d.created DESC, d.id DESC LIMIT ?",
            (*_twice(status), *_twice(alert_id), limit),
        )
        found = {d.id: d for d in self._deliveries([str(r[0]) for r in rows])}
        return [found[str(r[0])] for r in rows]

    def delivery_counts(self) -> dict[DeliveryStatus, int]:
        """Deliveries by status: pending, sent, failed (0 when none)."""
        counts = dict.fromkeys(DELIVERY_STATUSES, 0)
        for status, n in self._db.run("SELECT status, count(*) FROM deliveries GROUP BY status"):
            if status in counts:
                counts[status] = int(n)
        return counts

    def _deliveries(self, ids: Sequence[str]) -> list[Delivery]:
        """The deliveries of `ids`, oldest first, each with its alerts (sorted by id)."""
        rows: list[tuple[Any, ...]] = []
        alerts: dict[str, list[str]] = {}
        for chunk in _chunks(ids):
            marks = ", ".join("?" * len(chunk))
            rows += self._db.run(
                f"SELECT {DELIVERY_COLUMNS} FROM deliveries d JOIN models m "
                f"ON m.id = d.model_id WHERE d.id IN ({marks})",
                chunk,
            )
            for delivery_id, alert_id in self._db.run(
                "SELECT delivery_id, alert_id FROM delivery_alerts "
                f"WHERE delivery_id IN ({marks}) ORDER BY alert_id",
                chunk,
            ):
                alerts.setdefault(str(delivery_id), []).append(str(alert_id))
        rows.sort(key=lambda r: (r[4], r[0]))
        return [_delivery(r, tuple(alerts.get(str(r[0]), ()))) for r in rows]

    # -- silences -------------------------------------------------------------------------

    def add_silence(self, silence: Silence) -> None:
        """Store a silence (its matchers as JSON)."""
        _check_silence(silence)
        with self._db.transaction():
            self._db.run(
                "INSERT INTO silences VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    silence.id,
                    json.dumps(silence.matchers, sort_keys=True, ensure_ascii=False),
                    silence.starts_at,
                    silence.ends_at,
                    silence.created,
                    silence.created_by,
                    silence.comment,
                ),
            )

    def list_silences(self, *, active_at: datetime | None) -> list[Silence]:
        """The silences in force at `active_at` (`starts_at <= active_at < ends_at`), or with
        None every stored one, ended and future ones too; the latest to start first."""
        rows = self._db.run(
            "SELECT id, matchers, starts_at, ends_at, created, created_by, comment FROM silences "
            "WHERE CAST(? AS TIMESTAMP) IS NULL OR (starts_at <= ? AND ends_at > ?) "
            "ORDER BY starts_at DESC, id",
            (active_at, active_at, active_at),
        )
        return [
            Silence(str(i), json.loads(m), s, e, c, by, str(comment))
            for i, m, s, e, c, by, comment in rows
        ]

    def delete_silence(self, silence_id: str) -> bool:
        """Delete a silence; True when it existed."""
        if not _is_id(silence_id):
            return False
        with self._db.transaction():
            rows = self._db.run("DELETE FROM silences WHERE id = ? RETURNING id", (silence_id,))
        return bool(rows)


def _is_id(value: str) -> bool:
    return ID.fullmatch(value) is not None


def _twice(value: Any) -> tuple[Any, Any]:
    """A filter's value for `(CAST(? AS ...) IS NULL OR column = ?)`."""
    return value, value


def _chunks(ids: Sequence[str]) -> Iterable[list[str]]:
    for start in range(0, len(ids), CHUNK):
        yield list(ids[start : start + CHUNK])


def _storable(text: str) -> str:
    """Text both databases keep: NUL and lone surrogates replaced by U+FFFD."""
    return "".join("\ufffd" if c == "\x00" or "\ud800" <= c <= "\udfff" else c for c in text)


def _check_text(value: str | None, field: str) -> None:
    """Refuse text no database here can keep the same: NUL (PostgreSQL refuses it), lone
    surrogates (not Unicode). The API refuses both first; this keeps the backends alike."""
    if value is None:
        return
    if "\x00" in value:
        raise StoreError(f"{field} holds a NUL character, which the store cannot keep; remove it.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise StoreError(
            f"{field} holds a lone surrogate (not Unicode text), which the store cannot keep."
        ) from None


def _check_id(value: str, what: str) -> None:
    if not _is_id(value):
        raise StoreError(f"{what} id {value[:40]!r} is not 32 lowercase hex digits (uuid4().hex).")


def _check_alert(model: ModelInfo, a: StoredAlert) -> None:
    _check_id(a.id, "alert")
    if a.model != model.name:
        raise StoreError(
            f"alert {a.id} names the model {a.model[:100]!r}, saved under {model.name!r}; "
            f"save each model's alerts under it."
        )
    if a.status not in STATUSES:
        raise StoreError(f"alert {a.id}: status {a.status!r} is not one of {', '.join(STATUSES)}.")
    if a.verdict is not None and a.verdict not in VERDICTS:
        raise StoreError(f"alert {a.id}: verdict {a.verdict!r} is not one of {VERDICTS}.")
    for field in ("rule", "version", "column", "segment", "metric", "severity", "message"):
        _check_text(getattr(a, field), f"alert {a.id}: {field}")
    for field in ("point_status", "acked_by", "verdict_by", "verdict_note"):
        _check_text(getattr(a, field), f"alert {a.id}: {field}")


def _check_event(e: AlertEvent) -> None:
    _check_id(e.alert_id, "event's alert")
    for field in ("kind", "severity", "message", "actor"):
        _check_text(getattr(e, field), f"event of alert {e.alert_id}: {field}")


def _check_delivery(model: ModelInfo, d: Delivery) -> None:
    _check_id(d.id, "delivery")
    if d.model != model.name:
        raise StoreError(
            f"delivery {d.id} names the model {d.model[:100]!r}, saved under {model.name!r}."
        )
    if d.status not in DELIVERY_STATUSES:
        raise StoreError(f"delivery {d.id}: status {d.status!r} is not one of {DELIVERY_STATUSES}.")
    if not d.alert_ids:
        raise StoreError(f"delivery {d.id} names no alert; a notice is about at least one.")
    for alert_id in d.alert_ids:
        _check_id(alert_id, f"delivery {d.id}'s alert")
    for field in ("destination", "body", "last_error"):
        _check_text(getattr(d, field), f"delivery {d.id}: {field}")


def _check_silence(s: Silence) -> None:
    _check_id(s.id, "silence")
    if not s.matchers:
        raise StoreError(f"silence {s.id} has no matcher; it would silence every alert.")
    unknown = sorted(set(s.matchers) - set(MATCHER_KEYS))
    if unknown:
        raise StoreError(
            f"silence {s.id}: unknown matcher {unknown[0][:100]!r}; use {', '.join(MATCHER_KEYS)}."
        )
    if s.ends_at <= s.starts_at:
        raise StoreError(f"silence {s.id} ends ({s.ends_at}) before it starts ({s.starts_at}).")
    for key, value in s.matchers.items():
        _check_text(value, f"silence {s.id}: matcher {key}")
    _check_text(s.created_by, f"silence {s.id}: created_by")
    _check_text(s.comment, f"silence {s.id}: comment")


def alert_from_row(r: tuple[Any, ...]) -> StoredAlert:
    """An alert from a row of `ALERT_COLUMNS` (the dashboard's alert reads use it too)."""
    return StoredAlert(
        id=str(r[0]),
        model=str(r[1]),
        rule=str(r[2]),
        version=str(r[3]),
        column=str(r[4]),
        segment=str(r[5]),
        metric=str(r[6]),
        severity=str(r[7]),
        status=r[8],
        began=r[9],
        opened_at=r[10],
        changed=r[11],
        resolved_at=r[12],
        breached=int(r[13]),
        clear=int(r[14]),
        notified=r[15],
        window_kind=r[16],
        window_start=r[17],
        window_end=r[18],
        value=r[19],
        threshold=float(r[20]),
        baseline=r[21],
        message=str(r[22]),
        point_status=str(r[23]),
        acked_at=r[24],
        acked_by=r[25],
        verdict=r[26],
        verdict_by=r[27],
        verdict_at=r[28],
        verdict_note=r[29],
    )


def _event(r: tuple[Any, ...]) -> AlertEvent:
    return AlertEvent(str(r[0]), *r[1:])


def _delivery(r: tuple[Any, ...], alert_ids: tuple[str, ...]) -> Delivery:
    delivery_id, model, destination, body, created, status, attempts, next_at, error, sent = r
    return Delivery(
        str(delivery_id),
        str(model),
        str(destination),
        str(body),
        alert_ids,
        created,
        status,
        int(attempts),
        next_at,
        error,
        sent,
    )
