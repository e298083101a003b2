"""The Python SDK: log predictions and labels from a prediction service, never in its way.

The caller's thread only appends to a bounded queue; one background thread sends batches.
Whatever the server does — answers, refuses, hangs, is not there — `log_*` returns at once
and never raises. Every record ends in exactly one count of `stats()`, so that

    logged == queued + in_flight + accepted + duplicates + conflicts + rejected
              + dropped_overflow + dropped_network + dropped_invalid + dropped_closed

holds at every moment. Only network errors and 429/502/503/504 are retried (with backoff,
honouring Retry-After); other answers are final. This module imports nothing else of vigil.
"""

from __future__ import annotations

import atexit
import functools
import inspect
import logging
import random
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from vigil.client_wire import (
    ARROW_STREAM,
    Kind,
    arrow_body,
    call_record,
    complete_frame,
    error_message,
    json_body,
    retry_after,
    to_arrow,
    with_id_and_time,
)

log = logging.getLogger("vigil.client")
F = TypeVar("F", bound=Callable[..., Any])
RETRIED = frozenset({429, 502, 503, 504})
COUNTERS = (
    "logged",
    "sampled_out",
    "sent",
    "accepted",
    "duplicates",
    "conflicts",
    "rejected",
    "dropped_overflow",
    "dropped_network",
    "dropped_invalid",
    "dropped_closed",
)


@dataclass(frozen=True, slots=True)
class ClientStats:
    """Where every logged record is now."""

    logged: int
    sampled_out: int
    queued: int
    in_flight: int
    sent: int
    accepted: int
    duplicates: int
    conflicts: int
    rejected: int
    dropped_overflow: int
    dropped_network: int
    dropped_invalid: int
    dropped_closed: int


@dataclass(slots=True)
class _Item:
    """One queued record, or one frame to send as Arrow (counted as its rows)."""

    model: str
    kind: Kind
    record: dict[str, Any] | None
    frame: Any = None  # a pyarrow Table
    rows: int = 1


class Client:
    """Buffered sender of predictions and labels to a `vigil serve`."""

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        batch_size: int = 500,
        flush_interval: float = 1.0,
        max_queue: int = 100_000,
        timeout: float = 5.0,
        max_retries: int = 5,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        sample_rate: float = 1.0,
        close_timeout: float = 5.0,
        seed: int | None = None,
    ) -> None:
        for name, value in (("batch_size", batch_size), ("max_queue", max_queue)):
            if value < 1:
                raise ValueError(f"{name} must be at least 1; got {value}.")
        for name, number in (
            ("flush_interval", flush_interval),
            ("timeout", timeout),
            ("close_timeout", close_timeout),
            ("backoff", backoff),
        ):
            if number <= 0:
                raise ValueError(f"{name} must be a positive number of seconds; got {number}.")
        if not 0 < sample_rate <= 1:
            raise ValueError(f"sample_rate must be in (0, 1]; got {sample_rate}.")
        if max_retries < 0:
            raise ValueError(f"max_retries must be 0 or more; got {max_retries}.")
        self.url = url.rstrip("/")
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.max_queue = max_queue
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.sample_rate = sample_rate
        self.close_timeout = close_timeout
        self._random = random.Random(seed)
        headers = {"authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(headers=headers, timeout=timeout)
        self._queue: deque[_Item] = deque()
        self._queued = 0  # records in the queue
        self._in_flight = 0
        self._counts = dict.fromkeys(COUNTERS, 0)
        self._errors: deque[str] = deque(maxlen=20)
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self._deadline: float | None = None  # set by close(): no request may outlive it
        self._abandoned = False
        self._thread = threading.Thread(target=self._run, name="vigil-client", daemon=True)
        self._thread.start()
        atexit.register(_close_at_exit, weakref.ref(self))

    # -- the caller's side: append and return ----------------------------------------------

    def log_predictions(
        self, model: str, frame_or_records: Any, *, version: str | None = None
    ) -> None:
        """Queue predictions: a record dict, a list of them, or a pandas/polars/Arrow frame."""
        self._log(model, "predictions", frame_or_records, version)

    def log_labels(self, model: str, frame_or_records: Any) -> None:
        """Queue labels `{"id", "label", "timestamp"?}`: a dict, a list, or a frame."""
        self._log(model, "labels", frame_or_records, None)

    def _log(self, model: str, kind: Kind, data: Any, version: str | None) -> None:
        try:
            if isinstance(data, dict):
                self._append(model, kind, [data], version)
            elif isinstance(data, list):
                self._append(model, kind, data, version)
            else:
                self._append_frame(model, kind, data, version)
        except Exception as err:  # the SDK never raises into the caller's code
            with self._lock:
                self._counts["logged"] += 1
                self._counts["dropped_invalid"] += 1
            log.warning("vigil: a record could not be logged: %s", err)

    def _append(self, model: str, kind: Kind, records: list[Any], version: str | None) -> None:
        with self._lock:
            for record in records:
                if self.sample_rate < 1 and self._random.random() >= self.sample_rate:
                    self._counts["sampled_out"] += 1
                    continue
                self._counts["logged"] += 1
                if self._closed:
                    self._counts["dropped_closed"] += 1
                elif not isinstance(record, dict):
                    self._counts["dropped_invalid"] += 1
                elif self._queued >= self.max_queue:
                    self._counts["dropped_overflow"] += 1
                else:
                    if version is not None and "model_version" not in record:
                        record = {**record, "model_version": version}
                    self._queue.append(_Item(model, kind, record))
                    self._queued += 1
            if self._queued >= self.batch_size:
                self._wake.set()

    def _append_frame(self, model: str, kind: Kind, frame: Any, version: str | None) -> None:
        table = to_arrow(frame)
        n = table.num_rows
        if self.sample_rate < 1:
            import pyarrow as pa

            keep = [self._random.random() < self.sample_rate for _ in range(n)]
            with self._lock:
                self._counts["sampled_out"] += n - sum(keep)
            table = table.filter(pa.array(keep))
            n = table.num_rows
        table = complete_frame(table, kind, version)
        with self._lock:
            self._counts["logged"] += n
            if self._closed:
                self._counts["dropped_closed"] += n
                return
            room = self.max_queue - self._queued
            if n > room:
                self._counts["dropped_overflow"] += n - max(room, 0)
                table = table.slice(0, max(room, 0))
            for start in range(0, table.num_rows, self.batch_size):
                part = table.slice(start, self.batch_size)
                self._queue.append(_Item(model, kind, None, part, part.num_rows))
                self._queued += part.num_rows
            self._wake.set()

    def monitor(
        self,
        *,
        model: str,
        version: str | None = None,
        id_from: Callable[[Any], Any] | None = None,
    ) -> Callable[[F], F]:
        """Decorate a predict function: log its inputs, output, latency and exceptions."""

        def decorate(fn: F) -> F:
            signature = inspect.signature(fn)

            @functools.wraps(fn)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                started = time.perf_counter()
                try:
                    result = fn(*args, **kwargs)
                except BaseException as err:
                    self._record_call(
                        model,
                        version,
                        id_from,
                        signature,
                        args,
                        kwargs,
                        None,
                        started,
                        f"{type(err).__name__}: {err}",
                    )
                    raise
                self._record_call(
                    model, version, id_from, signature, args, kwargs, result, started, None
                )
                return result

            return wrapper  # type: ignore[return-value]

        return decorate

    def _record_call(
        self,
        model: str,
        version: str | None,
        id_from: Callable[[Any], Any] | None,
        signature: inspect.Signature,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        result: Any,
        started: float,
        error: str | None,
    ) -> None:
        latency = (time.perf_counter() - started) * 1000
        try:
            record = call_record(signature, args, kwargs, result, latency, error, id_from)
        except Exception as err:  # a monitoring failure must not break the prediction
            with self._lock:
                self._counts["logged"] += 1
                self._counts["dropped_invalid"] += 1
            log.warning("vigil: could not record a call of the monitored function: %s", err)
            return
        self._log(model, "predictions", record, version)

    # -- counting ----------------------------------------------------------------------------

    def stats(self) -> ClientStats:
        """Where every record logged so far is."""
        with self._lock:
            return ClientStats(queued=self._queued, in_flight=self._in_flight, **self._counts)

    def last_errors(self) -> list[str]:
        """The last rejection reasons and send failures, newest last (at most 20)."""
        with self._lock:
            return list(self._errors)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until nothing is queued or in flight; False if `timeout` ran out first."""
        end = None if timeout is None else time.monotonic() + timeout
        self._wake.set()
        while True:
            with self._lock:
                if self._queued == 0 and self._in_flight == 0:
                    return True
            if end is not None and time.monotonic() >= end:
                return False
            if not self._thread.is_alive():
                return False
            time.sleep(0.005)

    def close(self, timeout: float | None = None) -> None:
        """Send what is queued within `close_timeout` (even if the server hangs), then stop."""
        budget = self.close_timeout if timeout is None else timeout
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._deadline = time.monotonic() + budget
        self._wake.set()
        self._thread.join(budget + 1.0)
        with self._lock:  # what the deadline left behind, queued or stuck in a request
            self._counts["dropped_closed"] += self._queued + self._in_flight
            self._queued = self._in_flight = 0
            self._queue.clear()
            self._abandoned = True  # an answer arriving now is not counted again
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the sender thread ---------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            self._wake.wait(self.flush_interval)
            self._wake.clear()
            while True:
                batch = self._take()
                if batch is None:
                    break
                try:
                    self._send(*batch)
                except Exception as err:  # e.g. the HTTP client closed under a hung request
                    self._settle(
                        sum(i.rows for i in batch[2]),
                        dropped="dropped_closed",
                        error=f"{type(err).__name__}: {err}",
                    )
            with self._lock:
                if self._closed and (not self._queue or self._expired()):
                    return

    def _expired(self) -> bool:
        return self._deadline is not None and time.monotonic() >= self._deadline

    def _take(self) -> tuple[str, Kind, list[_Item]] | None:
        """The next batch: queued items of one model and kind, up to batch_size records."""
        with self._lock:
            if not self._queue or self._expired():
                return None
            first = self._queue[0]
            if first.frame is not None:
                self._queue.popleft()
                items = [first]
            else:
                items = []
                kept: deque[_Item] = deque()
                while self._queue and len(items) < self.batch_size:
                    item = self._queue.popleft()
                    if item.frame is None and (item.model, item.kind) == (first.model, first.kind):
                        items.append(item)
                    else:
                        kept.append(item)
                self._queue.extendleft(reversed(kept))
            rows = sum(item.rows for item in items)
            self._queued -= rows
            self._in_flight += rows
            return first.model, first.kind, items

    def _send(self, model: str, kind: Kind, items: list[_Item]) -> None:
        rows = sum(item.rows for item in items)
        try:
            body, content_type = _body(items)
        except Exception as err:
            self._settle(rows, dropped="dropped_invalid", error=f"not serialisable: {err}")
            return
        url = f"{self.url}/v1/models/{model}/{kind}"
        for attempt in range(self.max_retries + 1):
            remaining = None if self._deadline is None else self._deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                self._settle(rows, dropped="dropped_closed", error="closed before sent")
                return
            timeout = self.timeout if remaining is None else min(self.timeout, remaining)
            wait = None
            try:
                response = self._http.post(
                    url, content=body, timeout=timeout, headers={"content-type": content_type}
                )
            except httpx.HTTPError as err:  # connect error, timeout, reset: retried
                error = f"{type(err).__name__}: {err}"
            else:
                if response.status_code == 200:
                    self._answered(rows, response)
                    return
                error = f"HTTP {response.status_code}: {error_message(response)}"
                if response.status_code not in RETRIED:
                    self._settle(rows, rejected=True, error=error)
                    return
                wait = retry_after(response)
            if attempt == self.max_retries:
                break
            delay = (
                wait
                if wait is not None
                else min(
                    self.max_backoff, self.backoff * 2**attempt * (0.5 + self._random.random())
                )
            )
            if self._deadline is not None:
                delay = min(delay, max(0.0, self._deadline - time.monotonic()))
            time.sleep(delay)
        dropped = "dropped_closed" if self._expired() else "dropped_network"
        self._settle(rows, dropped=dropped, error=error)

    def _answered(self, rows: int, response: httpx.Response) -> None:
        try:
            body = response.json()
            counts = {k: int(body.get(k, 0)) for k in ("accepted", "duplicates", "conflicts")}
            rejected = body.get("rejected") or []
        except (ValueError, AttributeError, TypeError):
            counts, rejected = {"accepted": rows, "duplicates": 0, "conflicts": 0}, []
        counted = sum(counts.values()) + len(rejected)
        counts["accepted"] += rows - counted  # labels pending for their prediction, for one
        with self._lock:
            if self._abandoned:
                return
            self._in_flight -= rows
            self._counts["sent"] += rows
            for key, value in counts.items():
                self._counts[key] += value
            self._counts["rejected"] += len(rejected)
            for r in rejected[-5:]:
                self._errors.append(f"rejected {r.get('id')}: {'; '.join(r.get('errors', []))}")

    def _settle(
        self, rows: int, *, dropped: str | None = None, rejected: bool = False, error: str
    ) -> None:
        with self._lock:
            if self._abandoned:
                return
            self._in_flight -= rows
            if rejected:
                self._counts["sent"] += rows
                self._counts["rejected"] += rows
            else:
                self._counts[dropped or "dropped_network"] += rows
            self._errors.append(error)
        log.warning("vigil: %d record(s) not accepted: %s", rows, error)


def _close_at_exit(ref: weakref.ref[Client]) -> None:
    client = ref()
    if client is not None:
        client.close()


def _body(items: list[_Item]) -> tuple[bytes, str]:
    """JSON records (ids fixed once, so a resend is the same record), or a frame as Arrow."""
    if items[0].frame is not None:
        return arrow_body(items[0].frame), ARROW_STREAM
    for item in items:
        assert item.record is not None
        item.record = with_id_and_time(item.record)
    return json_body([item.record for item in items if item.record is not None]), "application/json"
