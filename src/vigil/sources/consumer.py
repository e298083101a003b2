"""One source's consumer thread: fetch messages, decode and validate them, store, then ack.

The order is what makes delivery at-least-once without double counting: a fetch's messages
are decoded with the HTTP decoders, validated against the model's layout, handed to the
writer as ONE job, and acknowledged only after the job's future says the rows are committed.
A crash before the ack redelivers them; the store's idempotence by id counts them once.

A message that cannot be decoded at all is stored in the quarantine with the source, the
broker's message id and the reason, and acknowledged with the rest: a poison message is
never redelivered forever. When the writer is full or the store fails, nothing is acked,
the thread pauses pulling and retries the same messages with back-off, so what is held in
memory stays bounded by the fetch (`batch` messages) and `max_inflight` records.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import pyarrow as pa

from vigil.errors import InputError, SpecError
from vigil.ingest.columnar import decode_columns
from vigil.ingest.decode import decode_json, decode_table
from vigil.ingest.layout import Layout, layout_for
from vigil.ingest.tables import validate_label_table, validate_prediction_table
from vigil.ingest.validate import (
    MAX_PAYLOAD_KEPT,
    TimeRules,
    Validated,
    refuse_columns,
    validate_labels,
    validate_predictions,
)
from vigil.sources.settings import SourceConfig
from vigil.spec import spec_from_dict
from vigil.store.base import ModelInfo, Quarantined, RecordKind, Store, WriteResult

log = logging.getLogger("vigil.sources")
MAX_BACKOFF = 30.0


@dataclass(frozen=True, slots=True)
class Message:
    """One broker message: its id for people, its bytes, and the broker's handle to ack it."""

    id: str
    body: bytes
    redelivered: bool
    handle: Any
    problem: str | None = None  # the broker's message was not in the expected shape


class Broker(Protocol):
    """A broker client as the consumer drives it, on the consumer's own thread."""

    def connect(self) -> None: ...
    def fetch(self, limit: int, timeout: float) -> list[Message]: ...
    def ack(self, messages: Sequence[Message]) -> None: ...
    def wait(self, seconds: float) -> None: ...  # keep the connection alive meanwhile
    def lag(self) -> int | None: ...
    def close(self) -> None: ...


class Sink(Protocol):
    """Where validated batches go: the service's writer (vigil.service.writer.Writer)."""

    def submit(
        self,
        model: ModelInfo,
        kind: RecordKind,
        table: pa.Table,
        quarantined: Sequence[Quarantined],
        *,
        window_seconds: int,
    ) -> Future[WriteResult]: ...


@dataclass(slots=True)
class SourceStats:
    """What a source did, read by the /metrics collector (vigil.sources.metrics)."""

    messages: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            ("consumed", "acked", "quarantined", "redelivered"), 0
        )
    )
    records: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(("accepted", "duplicate", "conflict", "rejected"), 0)
    )
    inflight: int = 0  # records decoded and not yet stored
    peak_inflight: int = 0
    lag: int | None = None  # messages the broker holds for this consumer, when it says
    retries: int = 0
    last_error: str | None = None


class Retry(Exception):
    """Nothing was acked; the same messages are tried again after a pause."""


@dataclass(slots=True)
class _Decoded:
    message: Message
    records: list[Any] | None = None
    table: pa.Table | None = None
    error: str | None = None

    @property
    def size(self) -> int:
        if self.records is not None:
            return len(self.records)
        return int(self.table.num_rows) if self.table is not None else 1


@dataclass(slots=True)
class _Job:
    """Messages decoded and validated as one writer job, and its future once submitted."""

    chunk: list[_Decoded]
    model: ModelInfo
    checked: Validated
    future: Future[WriteResult] | None = None

    @property
    def size(self) -> int:
        return sum(d.size for d in self.chunk)

    @property
    def messages(self) -> list[Message]:
        return [d.message for d in self.chunk]


def _messages(job: _Job | None) -> list[Message]:
    return job.messages if job is not None else []


@dataclass(frozen=True, slots=True)
class Limits:
    """The service's bounds that the consumer applies as HTTP ingest does."""

    max_message: int  # bytes; a larger message is quarantined unread (limits.max_body)
    max_extra_columns: int
    time_rules: Callable[[], TimeRules]
    window_seconds: Callable[[str], int]


class Consumer:
    """A thread consuming one source into the store through the writer."""

    def __init__(
        self, config: SourceConfig, broker: Broker, sink: Sink, store: Store, limits: Limits
    ) -> None:
        self.config = config
        self.broker = broker
        self.sink = sink
        self.store = store
        self.limits = limits
        self.stats = SourceStats()
        self.kind: RecordKind = "prediction" if config.kind == "predictions" else "label"
        self._stop = threading.Event()
        self._layouts: dict[tuple[int, str], Layout] = {}
        self._thread = threading.Thread(
            target=self._run, name=f"vigil-source-{config.name}", daemon=True
        )

    def start(self) -> None:
        """Start consuming."""
        self._thread.start()

    def request_stop(self) -> None:
        """Ask the thread to stop after the fetch it holds (stop() waits for it)."""
        self._stop.set()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop pulling; the batch being stored is stored and acked first, then close."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    @property
    def is_alive(self) -> bool:
        """True while the consumer thread runs."""
        return self._thread.is_alive()

    def _run(self) -> None:
        held: list[Message] = []  # fetched, not yet decoded
        job: _Job | None = None  # handed to the writer, not yet acked
        connected = False
        backoff = 0.5
        while not self._stop.is_set() or job is not None:
            prepared: _Job | None = None
            try:
                if not connected:
                    self.broker.connect()
                    connected = True
                    log.info(
                        "source %s: consuming %s for model %s",
                        self.config.name,
                        self.config.display_url,
                        self.config.model,
                    )
                if not held and not self._stop.is_set():
                    # while a job is stored, only a short look: its ack should not wait
                    held = self.broker.fetch(self.config.batch, 0.05 if job else 1.0)
                    self.stats.messages["consumed"] += len(held)
                    self.stats.messages["redelivered"] += sum(m.redelivered for m in held)
                if held and not self._stop.is_set():
                    # the next batch is decoded and validated while the writer stores the last
                    try:
                        prepared, held = self._prepare(held, job)
                    except Retry:
                        self._finish(job)
                        job = None
                        raise
                self._finish(job)
                job = None
                if prepared is not None:
                    job, prepared = self._submit(prepared), None
                if not held and job is None:
                    self.stats.lag = self.broker.lag()
                backoff = 0.5
            except Retry as err:  # nothing more acked: the same messages again, in order
                held = [*_messages(job), *_messages(prepared), *held]
                job = None
                self._pause(str(err), backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)
            except Exception as err:  # the broker's connection: reconnect, unacked come back
                self._pause(f"{type(err).__name__}: {err}", backoff, broken=True)
                backoff = min(backoff * 2, MAX_BACKOFF)
                held, job = [], None
                connected = False
                self._close()
            finally:
                self.stats.inflight = job.size if job is not None else 0
        self._close()

    def _pause(self, reason: str, seconds: float, *, broken: bool = False) -> None:
        self.stats.retries += 1
        self.stats.last_error = reason
        log.warning(
            "source %s: %s; %s in %.1f s",
            self.config.name,
            reason,
            "reconnecting" if broken else "nothing acknowledged, retrying",
            seconds,
        )
        deadline = time.monotonic() + seconds
        while not self._stop.is_set() and time.monotonic() < deadline:
            if broken:
                self._stop.wait(min(0.2, seconds))
            else:
                try:
                    self.broker.wait(min(0.2, seconds))
                except Exception:  # the connection went meanwhile; the next fetch says so
                    self._stop.wait(min(0.2, seconds))

    def _close(self) -> None:
        try:
            self.broker.close()
        except Exception as err:
            log.debug("source %s: close: %s", self.config.name, err)

    def _model(self) -> tuple[ModelInfo, Layout]:
        model = self.store.get_model(self.config.model)
        if model is None:
            raise Retry(
                f"model {self.config.model!r} is not registered; register it "
                f"(POST /v1/models or the config's models:) and its messages will be stored"
            )
        key = (model.id, model.current_version)
        layout = self._layouts.get(key)
        if layout is None:
            try:
                spec = spec_from_dict(model.specs[model.current_version], source=model.name)
            except SpecError as err:
                raise Retry(f"model {model.name!r}: {err}") from err
            layout = self._layouts[key] = layout_for(spec)
        if self.kind == "label" and (layout.target is None or model.label_storage is None):
            raise Retry(
                f"model {model.name!r} has no target column, so it takes no labels; add a "
                f"column with role: target or point the source at predictions"
            )
        return model, layout

    def _prepare(self, held: list[Message], job: _Job | None) -> tuple[_Job | None, list[Message]]:
        """The next messages decoded and validated, within `max_inflight` beside `job`."""
        model, layout = self._model()
        budget = self.config.max_inflight - (job.size if job is not None else 0)
        chunk: list[_Decoded] = []
        total = 0
        for i, message in enumerate(held):
            decoded = self._decode(message, layout)
            # a first message larger than max_inflight goes alone, once nothing else is held
            if total + decoded.size > budget and (chunk or job is not None):
                held = held[i:]
                break
            chunk.append(decoded)
            total += decoded.size
            self._held(total + self.config.max_inflight - budget)
        else:
            held = []
        if not chunk:
            return None, held
        checked = self._validate(chunk, layout, model)
        if checked.extras:
            limit = self.limits.max_extra_columns
            model = self.store.add_extra_columns(model, checked.extras, limit)
            refused = [name for name in checked.extras if model.column(name) is None]
            if refused:
                prefix = "features." if self.config.format == "json" else ""
                refuse_columns(checked, refused, self.kind, limit, prefix)
        return _Job(chunk, model, checked), held

    def _held(self, records: int) -> None:
        self.stats.inflight = records
        self.stats.peak_inflight = max(self.stats.peak_inflight, records)

    def _decode(self, message: Message, layout: Layout) -> _Decoded:
        if message.problem is not None:
            return _Decoded(message, error=message.problem)
        body = message.body
        if len(body) > self.limits.max_message:
            return _Decoded(
                message,
                error=f"the message holds {len(body):,} bytes, more than limits.max_body "
                f"({self.limits.max_message:,}); publish smaller messages",
            )
        try:
            if self.config.format == "json":
                return _Decoded(message, records=_json_records(body))
            if self.config.format == "columns":
                table = decode_columns(body, layout, self.config.kind)
            else:
                table = decode_table(body, "arrow", max_decoded=self.limits.max_message)
        except InputError as err:
            return _Decoded(message, error=str(err))
        if table.num_rows == 0:
            return _Decoded(message, error=f"the {self.config.format} message has no rows")
        return _Decoded(message, table=table)

    def _validate(self, chunk: list[_Decoded], layout: Layout, model: ModelInfo) -> Validated:
        rules = self.limits.time_rules()
        parts: list[tuple[int, Validated]] = []
        quarantined: list[Quarantined] = []
        offset = 0
        records: list[Any] = []
        owners: list[int] = []  # the chunk index of each JSON record
        for i, item in enumerate(chunk):
            if item.error is not None:
                quarantined.append(self._unreadable(item, offset))
            elif item.records is not None:
                records.extend(item.records)
                owners.extend([i] * len(item.records))
            elif item.table is not None:
                parts.append((offset, self._check_table(item.table, layout, model, rules)))
            offset += item.size
        if records:
            versions = list(model.specs)
            checked = (
                validate_predictions(records, layout, versions, model.current_version, rules)
                if self.kind == "prediction"
                else validate_labels(records, layout, rules)
            )
            checked.quarantined = [
                replace(q, errors=_named(q.errors, self.config.name, chunk[owners[q.index]]))
                for q in checked.quarantined
            ]
            return _joined([(0, checked)], quarantined)
        if not parts:  # every message unreadable: the store still takes a table of its shape
            parts.append((0, self._check_table(self._empty(), layout, model, rules)))
        for offset, part in parts:
            part.quarantined = [
                replace(q, index=q.index + offset, errors=_named(q.errors, self.config.name, None))
                for q in part.quarantined
            ]
        return _joined(parts, quarantined)

    def _check_table(
        self, table: pa.Table, layout: Layout, model: ModelInfo, rules: TimeRules
    ) -> Validated:
        if self.kind == "label":
            return validate_label_table(table, layout, rules)
        versions = list(model.specs)
        return validate_prediction_table(table, layout, versions, model.current_version, rules)

    def _empty(self) -> pa.Table:
        if self.kind == "label":
            return pa.table({"id": pa.array([], pa.string()), "label": pa.array([], pa.string())})
        return pa.table({"id": pa.array([], pa.string()), "timestamp": pa.array([], pa.float64())})

    def _unreadable(self, item: _Decoded, index: int) -> Quarantined:
        text = item.message.body[:MAX_PAYLOAD_KEPT].decode("utf-8", "backslashreplace")
        return Quarantined(
            kind=self.kind,
            index=index,
            record_id=None,
            errors=(f"source {self.config.name}, message {item.message.id}: {item.error}",),
            payload=json.dumps(text)[:MAX_PAYLOAD_KEPT],
        )

    def _submit(self, job: _Job) -> _Job:
        """Hand the job to the writer; Retry (nothing acked) when it refuses."""
        try:
            job.future = self.sink.submit(
                job.model,
                self.kind,
                job.checked.table,
                job.checked.quarantined,
                window_seconds=self.limits.window_seconds(job.model.name),
            )
        except Exception as err:  # the writer is full or stopping: pause, keep the messages
            raise Retry(f"the writer refused the batch ({err})") from err
        return job

    def _finish(self, job: _Job | None) -> None:
        """Wait until the job is committed, then ack its messages; Retry if it failed."""
        if job is None:
            return
        future = job.future
        assert future is not None
        while not future.done():
            self.broker.wait(0.05)  # heartbeats go on while the store works
        error = future.exception()
        if isinstance(error, InputError):  # the store refused a value: find the message
            for item in job.chunk:
                self._store_alone(item, str(error) if len(job.chunk) == 1 else None)
        elif error is not None:
            raise Retry(f"the store failed: {type(error).__name__}: {error}")
        else:
            self._count(future.result(), job.checked, job.chunk)
        self.broker.ack(job.messages)
        self.stats.messages["acked"] += len(job.chunk)

    def _store_alone(self, item: _Decoded, refused: str | None) -> None:
        """One message written by itself; quarantined whole when the store refuses it."""
        if refused is not None:
            item = replace(item, records=None, table=None, error=refused)
        model, layout = self._model()
        job = self._submit(_Job([item], model, self._validate([item], layout, model)))
        assert job.future is not None
        while not job.future.done():
            self.broker.wait(0.05)
        error = job.future.exception()
        if isinstance(error, InputError) and refused is None:
            self._store_alone(item, str(error))
        elif error is not None:
            raise Retry(f"the store failed: {type(error).__name__}: {error}")
        else:
            self._count(job.future.result(), job.checked, job.chunk)

    def _count(self, result: WriteResult, checked: Validated, chunk: list[_Decoded]) -> None:
        records = self.stats.records
        records["accepted"] += result.accepted
        records["duplicate"] += result.duplicates
        records["conflict"] += result.conflicts
        records["rejected"] += len(checked.rejected)
        self.stats.messages["quarantined"] += sum(d.error is not None for d in chunk)


def _named(errors: tuple[str, ...], source: str, owner: _Decoded | None) -> tuple[str, ...]:
    where = f"source {source}" + (f", message {owner.message.id}" if owner is not None else "")
    return tuple(f"{where}: {e}" for e in errors)


def _joined(parts: list[tuple[int, Validated]], unreadable: list[Quarantined]) -> Validated:
    """One Validated of several, rejections' indices already within the whole chunk."""
    tables = [part.table for _, part in parts if part.table.num_rows] or [parts[0][1].table]
    table = tables[0] if len(tables) == 1 else pa.concat_tables(tables, promote_options="default")
    out = Validated(table)
    for offset, part in parts:
        out.rejected.extend(replace(r, index=r.index + offset) for r in part.rejected)
        out.quarantined.extend(part.quarantined)
        out.extras.extend(e for e in part.extras if e not in out.extras)
    out.quarantined.extend(unreadable)
    return out


def _json_records(body: bytes) -> list[Any]:
    """A message's records: `{"records": [...]}` as HTTP takes it, or one record alone."""
    try:
        records = decode_json(body)
    except InputError as err:
        stripped = body.lstrip()
        if not stripped.startswith(b"{"):
            raise
        try:
            single = decode_json(b'{"records":[' + body + b"]}")
        except InputError:
            raise err from None
        if len(single) != 1:
            raise
        records = single
    if not records:
        raise InputError('"records" is empty; send at least one record.')
    return records
