"""The SDK's one sender thread: batches per model and kind, retries with backoff, close's deadline.

It drains a `RecordQueue`, fixes ids and encodes on its own thread, and moves each batch's
count from in flight to exactly one outcome. Imports nothing else of vigil.
"""

from __future__ import annotations

import atexit
import logging
import random
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from queue import SimpleQueue
from typing import Any
from urllib.parse import quote

from vigil.client.columns import (
    Columns,
    arrow_columns,
    batch_columns,
    json_columns,
    plain_columns,
)
from vigil.client.queue import MAX_CELLS, Item, Outcome, RecordQueue
from vigil.client.transport import httpx
from vigil.client.wire import (
    ARROW_STREAM,
    COLUMNS,
    COLUMNS_ARROW,
    JSON,
    Kind,
    arrow_body,
    complete_frame,
    complete_record,
    encode_record,
    error_message,
    json_body,
    new_ids,
    read_answer,
    retry_after,
    unread_answer,
)

log = logging.getLogger("vigil.client")
RETRIED = frozenset({429, 502, 503, 504})
MAX_BATCH_SIZE = 20_000  # the default of Client(max_batch_size=): records per request at most
POLL = 0.05  # seconds: how soon a wait between attempts notices close()
GRACE = 0.2  # close() waits this long past its deadline for an answer already on its way


@dataclass(frozen=True, slots=True)
class Options:
    """The client's options, checked by `Client`; docs/sdk.md says what each one does."""

    url: str
    token: str | None
    batch_size: int
    max_batch_size: int
    flush_interval: float
    max_queue: int
    timeout: float
    max_retries: int
    backoff: float
    max_backoff: float
    sample_rate: float
    close_timeout: float
    seed: int | None


def _largest(record: Any, size: int, largest: int) -> int:
    """Records per request, by the first record's number of values: large batches are cheaper
    per record on both ends, and a bound on values keeps a body well below the server's
    limits.max_body (64 MiB by default) and limits.max_pending_records (200,000)."""
    width = len(record) if isinstance(record, Mapping) else 1
    for group in ("features", "segments", "attributions"):
        inner = record.get(group) if isinstance(record, Mapping) else None
        width += len(inner) if isinstance(inner, Mapping) else 0
    return max(size, min(largest, MAX_CELLS // max(width, 1)))


class Sender:
    """The daemon thread that sends a queue's records. Holds no reference to the client."""

    def __init__(self, options: Options, queue: RecordQueue) -> None:
        self._o = options
        self._queue = queue
        self._jitter = random.Random(options.seed).random
        self._close_lock = threading.Lock()
        self._orphaned = False  # the client was garbage collected without close()
        self._columns = True  # the server takes columnar bodies (until it answers 415)
        # the poster sends one batch while this thread makes the next: one request at a time,
        # in order; the slot is held from a batch's dispatch until its outcome is counted
        self._jobs: SimpleQueue[Callable[[], None] | None] = SimpleQueue()
        self._slot = threading.Semaphore(1)
        self._poster = threading.Thread(target=self._post_jobs, name="vigil-post", daemon=True)
        self._poster.start()
        self._thread = threading.Thread(target=self._run, name="vigil-client", daemon=True)
        self._thread.start()

    def is_alive(self) -> bool:
        """Whether the thread still runs."""
        return self._thread.is_alive()

    def close(self, budget: float, *, wait: bool = True) -> None:
        """Send what is queued within `budget` seconds, then stop.

        Whatever is still queued or in flight at the deadline is counted as dropped_closed; an
        answer arriving later is not counted again.
        """
        with self._close_lock:
            deadline = self._queue.shut(budget)
            if not wait:
                return
            if threading.current_thread() is not self._thread:
                self._thread.join(max(0.0, deadline - time.monotonic()) + GRACE)
            self._queue.drop_rest(abandon=True)

    def close_at_exit(self) -> None:
        """The interpreter exits: send what is queued within close_timeout, then stop."""
        self.close(self._o.close_timeout)

    def orphan(self) -> None:
        """The client was garbage collected: the thread closes itself, by close_timeout.

        Run by the collector, possibly on a thread holding one of our locks: it takes none.
        """
        self._orphaned = True
        self._queue.wake.ring()

    def _closing(self) -> bool:
        """Whether close() (or the client's collection) has set a deadline; sets it if orphaned."""
        if self._orphaned and self._queue.deadline is None:
            self.close(self._o.close_timeout, wait=False)
        return self._queue.deadline is not None

    def _run(self) -> None:
        headers = {"authorization": f"Bearer {self._o.token}"} if self._o.token else {}
        http = None
        try:
            http = httpx.Client(headers=headers, timeout=self._o.timeout, follow_redirects=False)
            self._loop(http)
        except Exception as err:  # e.g. a bad SSL_CERT_FILE, or a bug of ours: say so and stop
            log.error("vigil: the sender thread stopped: %r; records are no longer sent", err)
        finally:
            self._slot.acquire()  # the last batch's outcome is counted (or close gave up)
            self._jobs.put(None)
            if http is not None:
                http.close()
            self._queue.drop_rest(abandon=False)
            if self._orphaned:  # nothing left for the exit hook to wait for
                atexit.unregister(self.close_at_exit)

    def _loop(self, http: httpx.Client) -> None:
        queue = self._queue
        records: dict[tuple[str, Kind], deque[Item]] = {}
        frames: deque[Item] = deque()
        next_flush = time.monotonic() + self._o.flush_interval
        overflow_seen = 0
        while True:
            queue.wake.wait(next_flush - time.monotonic())
            self._closing()
            items, closing, everything, overflow = queue.collect()
            for item in items:
                model, rows = item[0], item[5]
                if not isinstance(model, str) or not model:
                    queue.take(rows)
                    queue.settle(rows, "dropped_invalid", [f"model name {model!r}"])
                elif rows > 1 or not isinstance(item[2], Mapping):
                    frames.append(item)
                else:
                    records.setdefault((model, item[1]), deque()).append(item)
            now = time.monotonic()
            if everything or now >= next_flush:
                next_flush = now + self._o.flush_interval
                everything = True
            self._send_ready(http, records, frames, everything=everything)
            if overflow > overflow_seen and queue.warn(
                "overflow",
                f"{overflow - overflow_seen} record(s) dropped since the last warning: the queue "
                f"is full ({self._o.max_queue}); the service is slower than the logging, or down",
                keep=True,
            ):
                overflow_seen = overflow
            if closing:
                return  # what the deadline left is counted as dropped_closed on the way out

    def _send_ready(
        self,
        http: httpx.Client,
        records: dict[tuple[str, Kind], deque[Item]],
        frames: deque[Item],
        *,
        everything: bool,
    ) -> None:
        """Send the full batches, or all batches when the interval is up or someone waits.

        A batch is full at batch_size records; when more wait (the caller logs faster than the
        requests go), one request takes them all, up to max_batch_size and MAX_CELLS values.
        """
        size, queue = self._o.batch_size, self._queue
        for key in list(records):
            pending = records[key]
            while len(pending) >= size or (everything and pending):
                n = min(_largest(pending[0][2], size, self._o.max_batch_size), len(pending))
                if queue.expired():
                    return
                if not self._send_records(http, key, [pending.popleft() for _ in range(n)]):
                    return
            if not pending:
                del records[key]
        for _ in range(len(frames)):
            item = frames.popleft()
            if not (everything or item[5] >= size):
                frames.append(item)
            elif queue.expired():
                frames.appendleft(item)
                return
            elif not self._send_frame(http, item):
                return

    def _dispatch(self, rows: int, job: Callable[[], None]) -> bool:
        """Hand a made batch to the poster once the previous one is counted; False when close()
        has run out of time (the rows are then counted by it)."""
        self._slot.acquire()
        if self._queue.expired() or not self._queue.take(rows):
            self._slot.release()
            return False
        self._jobs.put(job)
        return True

    def _post_jobs(self) -> None:
        while (job := self._jobs.get()) is not None:
            try:
                job()
            except Exception as err:  # a bug of ours: say so, keep the next batches going
                log.error("vigil: a batch could not be sent: %r", err)
            finally:
                self._slot.release()

    def _send_records(self, http: httpx.Client, key: tuple[str, Kind], batch: list[Item]) -> bool:
        """Make a batch's body and dispatch it; whether it was dispatched."""
        model, kind = key
        fresh_ids = new_ids(len(batch))  # fixed here, once, so that a resend is the same record
        columns = (
            batch_columns(
                [item[2] for item in batch],
                kind,
                [item[3] for item in batch],
                [item[4] for item in batch],
                fresh_ids,
            )
            if self._columns
            else None
        )
        body = None if columns is None else _columns_body(columns)
        if body is None:
            return self._dispatch(
                len(batch), lambda: self._post_records(http, model, kind, batch, fresh_ids)
            )
        content_type, encoded = body

        def post() -> None:
            if not self._post(http, model, kind, encoded, content_type, len(batch)):
                self._refused_columns(content_type)
                self._post_records(http, model, kind, batch, fresh_ids)

        return self._dispatch(len(batch), post)

    def _refused_columns(self, content_type: str) -> None:
        self._columns = False  # a server older than columnar bodies: records from now on
        self._queue.note(f"{self._o.url} takes no {content_type}; sending records")

    def _post_records(
        self, http: httpx.Client, model: str, kind: Kind, batch: list[Item], fresh_ids: list[str]
    ) -> None:
        """Send a batch as JSON records (or, when completing them made plain columns, as
        columns); a record that cannot be sent is counted dropped_invalid, alone."""
        complete: list[dict[str, Any]] = []
        invalid: list[str] = []
        for (_, _, record, version, logged_at, _), fresh_id in zip(batch, fresh_ids, strict=True):
            try:
                complete.append(complete_record(record, kind, version, logged_at, fresh_id))
            except Exception as err:  # a label without id, a record that is not a mapping
                invalid.append(f"{kind} for {model!r}: invalid record: {err}")
        columns = plain_columns(complete, kind) if complete and self._columns else None
        body = None if columns is None else _columns_body(columns)
        if body is not None:
            if self._post(http, model, kind, body[1], body[0], len(complete)):
                complete = []
            else:
                self._refused_columns(body[0])
        parts: list[bytes] = []
        for full in complete:
            try:
                parts.append(encode_record(full))
            except Exception as err:  # not JSON (a set, infinity, ...)
                invalid.append(f"{kind} for {model!r}: invalid record: {err}")
        if invalid:
            self._queue.settle(len(invalid), "dropped_invalid", invalid)
        if parts:
            self._post(http, model, kind, json_body(parts), JSON, len(parts))

    def _send_frame(self, http: httpx.Client, item: Item) -> bool:
        model, kind, table, version, logged_at, rows = item
        try:  # ids fixed here too, before the first attempt
            body = arrow_body(complete_frame(table, kind, version, logged_at))
        except Exception as err:
            reason = f"{kind} for {model!r}: invalid frame: {err}"
            return self._dispatch(
                rows, lambda: self._queue.settle(rows, "dropped_invalid", [reason])
            )

        def post() -> None:
            self._post(http, model, kind, body, ARROW_STREAM, rows)

        return self._dispatch(rows, post)

    def _post(
        self, http: httpx.Client, model: str, kind: Kind, body: bytes, content_type: str, rows: int
    ) -> bool:
        """Send a batch, retrying as the options say, and count its outcome; True when counted.

        False only when the server does not take columnar bodies (415): nothing is counted, the
        caller sends the batch again as JSON records.
        """
        url = f"{self._o.url}/v1/models/{quote(model, safe='')}/{kind}"
        what = f"{kind} for {model!r}"
        error = f"{what}: close() ran out of time before it was sent"
        for attempt in range(self._o.max_retries + 1):
            timeout = self._o.timeout
            deadline = self._queue.deadline if self._closing() else None
            if deadline is not None:  # closing: no request may outlive the deadline
                timeout = min(timeout, deadline - time.monotonic())
                if timeout <= 0:
                    break
            wait = None
            try:
                response = http.post(
                    url, content=body, headers={"content-type": content_type}, timeout=timeout
                )
            except (httpx.TransportError, httpx.DecodingError) as err:
                # refused, reset, closed, timed out, or an answer that cannot be decoded: the
                # batch's fate is unknown, so it is sent again (the same ids: a duplicate at most)
                error = f"{what}: {type(err).__name__}: {str(err) or 'no answer'}"
            except Exception as err:  # a bug of ours or of httpx: not retried
                self._queue.settle(rows, "dropped_network", [f"{what}: {err!r}"])
                return True
            else:
                status = response.status_code
                answer = read_answer(response, rows, what) if 200 <= status < 300 else None
                if answer is not None:
                    self._queue.answered(rows, answer)
                    return True
                if 200 <= status < 300:  # not vigil's answer (a proxy's page): as a network drop
                    error = unread_answer(response, what)
                else:
                    if status == 415 and content_type in (COLUMNS, COLUMNS_ARROW):
                        return False
                    error = f"{what}: HTTP {status}: {error_message(response)}"
                    if status not in RETRIED:  # the server read the batch and refused it
                        self._queue.settle(rows, "rejected", [error])
                        return True
                    wait = retry_after(response)
            if attempt < self._o.max_retries:
                self._sleep(self._delay(attempt, wait))
        outcome: Outcome = "dropped_closed" if self._queue.expired() else "dropped_network"
        self._queue.settle(rows, outcome, [error])
        return True

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self._o.max_backoff)
        base = min(self._o.max_backoff, self._o.backoff * 2.0 ** min(attempt, 60))
        return base * (0.5 + 0.5 * self._jitter())

    def _sleep(self, seconds: float) -> None:
        """Wait between attempts (on the poster thread); closing cuts the wait at the deadline.

        Polls rather than waiting on the queue's bell: the bell's rings are the sender's."""
        end = time.monotonic() + seconds
        while True:
            if self._closing():
                end = min(end, self._queue.deadline or end)
            left = end - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(left, POLL))


def _columns_body(columns: Columns) -> tuple[str, bytes] | None:
    """The columnar body: Arrow with the caller's own pyarrow (the SDK never imports it), else
    JSON; None when a text cannot be encoded (the records then go as JSON records)."""
    pa = sys.modules.get("pyarrow")
    body = arrow_columns(columns, pa) if pa else None
    if body is not None:
        return COLUMNS_ARROW, body
    encoded = json_columns(columns)
    return None if encoded is None else (COLUMNS, encoded)
