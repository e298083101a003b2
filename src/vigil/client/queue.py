"""The SDK's bounded record queue and its counts, shared by the caller's threads and the sender.

The caller's side (`put`, `put_many`, `put_frame`) counts and appends under one lock and does
nothing else. Every count moves under that lock, so every logged record is in exactly one of
the counts of `ClientStats` at every moment. Imports nothing else of vigil.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from queue import Empty, SimpleQueue
from typing import Any, Literal

from vigil.client.wire import Answer, Kind

log = logging.getLogger("vigil.client")
WARN_EVERY = 10.0  # seconds between two warnings of one kind, so a bad stream cannot flood logs
Outcome = Literal["rejected", "dropped_network", "dropped_invalid", "dropped_closed"]
MAX_CELLS = 1_000_000  # a request's values (records x fields) at most, whatever max_batch_size
# model, kind, a record mapping or an Arrow table, version, time logged (epoch s), rows
Item = tuple[Any, Kind, Any, str | None, float, int]


@dataclass(frozen=True, slots=True)
class ClientStats:
    """Where every record given to the client is now; see `Client.stats`."""

    logged: int  # given to log_* and kept by sampling; the sum of the counts below
    sampled_out: int
    queued: int
    in_flight: int
    sent: int  # in requests the server answered (accepted, duplicates, conflicts or rejected)
    accepted: int
    duplicates: int
    conflicts: int
    rejected: int
    dropped_overflow: int
    dropped_network: int
    dropped_invalid: int
    dropped_closed: int


class Bell:
    """Wakes the sender; safe to ring from anywhere, a garbage-collection callback included.

    `threading.Event.set` takes a lock, so a finalizer run by the collector on a thread that
    holds that lock would deadlock; `SimpleQueue.put` is reentrant (its documented use is
    destructors and weakref callbacks).
    """

    def __init__(self) -> None:
        self._calls: SimpleQueue[None] = SimpleQueue()

    def ring(self) -> None:
        """Wake the sender if it waits, else make its next wait return at once."""
        self._calls.put(None)

    def wait(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for a ring; whether there was one. Clears all rings."""
        try:
            self._calls.get(timeout=max(timeout, 0.0)) if timeout > 0 else self._calls.get(False)
        except Empty:
            return False
        while True:  # rings while it was busy are answered by this one wake-up
            try:
                self._calls.get(False)
            except Empty:
                return True


class RecordQueue:
    """Records waiting to be sent, at most `max_queue`, and the counts of all records."""

    def __init__(
        self,
        *,
        batch_size: int,
        max_batch_size: int,
        max_queue: int,
        sample_rate: float,
        seed: int | None,
    ):
        self._batch_size, self._max_queue, self._rate = batch_size, max_queue, sample_rate
        self._max_batch_size = max_batch_size
        self._draw = random.Random(seed).random  # one C call: atomic under the GIL
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)  # records left the queue or flight
        self.wake = Bell()  # for the sender: a batch is ready, a flush waits, closing
        self._items: deque[Item] = deque()
        self._signalled = False
        self._logged = self._sampled_out = self._queued = self._in_flight = self._sent = 0
        self._accepted = self._duplicates = self._conflicts = self._rejected = 0
        self._dropped_overflow = self._dropped_network = self._dropped_invalid = 0
        self._dropped_closed = 0
        self._errors: deque[str] = deque(maxlen=20)
        self._warned: dict[str, float] = {}
        self._closed = False
        self._abandoned = False  # close() counted what was left: nothing is counted again
        self._flushing = 0
        self.deadline: float | None = None  # set by close(): no request may outlive it

    # -- the caller's threads: count and append, nothing else -----------------------------

    def put(
        self, model: Any, kind: Kind, record: Any, version: str | None, sampled: bool = False
    ) -> None:
        """Queue one record mapping (not copied: the caller must not change it afterwards)."""
        if not sampled and self._rate < 1.0 and self._draw() >= self._rate:
            with self._lock:
                self._sampled_out += 1
            return
        logged_at = time.time()  # its time, if it has none: when logged, not when sent
        with self._lock:
            self._logged += 1
            if self._closed:
                self._dropped_closed += 1
                return
            if self._queued >= self._max_queue:
                self._dropped_overflow += 1
                return
            self._items.append((model, kind, record, version, logged_at, 1))
            self._queued += 1
            if self._signalled or len(self._items) < self._batch_size:
                return
            self._signalled = True
        self.wake.ring()

    def keep(self) -> bool:
        """Draw whether to keep one record; count it as sampled out if not."""
        if self._rate >= 1.0 or self._draw() < self._rate:
            return True
        with self._lock:
            self._sampled_out += 1
        return False

    def put_many(self, model: Any, kind: Kind, records: Sequence[Any], version: str | None) -> None:
        """Queue a list of record mappings under one lock; anything else in it is invalid."""
        logged_at = time.time()
        bad = 0
        with self._lock:
            for record in records:
                if self._rate < 1.0 and self._draw() >= self._rate:
                    self._sampled_out += 1
                    continue
                self._logged += 1
                if self._closed:
                    self._dropped_closed += 1
                elif not isinstance(record, Mapping):
                    self._dropped_invalid += 1
                    bad += 1
                elif self._queued >= self._max_queue:
                    self._dropped_overflow += 1
                else:
                    self._items.append((model, kind, record, version, logged_at, 1))
                    self._queued += 1
            if bad:
                self._errors.append(f"{kind} for {model!r}: {bad} item(s) are not record dicts")
            signal = not self._signalled and len(self._items) >= self._batch_size
            self._signalled = self._signalled or signal
        if signal:
            self.wake.ring()
        if bad:
            self.warn("invalid", f"{bad} {kind} item(s) for {model!r} are not record dicts")

    def put_frame(self, model: Any, kind: Kind, table: Any, version: str | None) -> None:
        """Queue an Arrow table as slices of at most max_batch_size rows and MAX_CELLS values
        (never fewer than batch_size rows; slices share memory)."""
        logged_at = time.time()
        if self._rate < 1.0:
            import pyarrow as pa

            keep = [self._draw() < self._rate for _ in range(table.num_rows)]
            with self._lock:
                self._sampled_out += len(keep) - sum(keep)
            table = table.filter(pa.array(keep, pa.bool_()))
        n = table.num_rows
        with self._lock:
            self._logged += n
            if self._closed:
                self._dropped_closed += n
                return
            room = max(0, min(n, self._max_queue - self._queued))
            self._dropped_overflow += n - room
            width = max(1, table.num_columns)
            step = max(self._batch_size, min(self._max_batch_size, MAX_CELLS // width))
            for start in range(0, room, step):
                part = table.slice(start, min(step, room - start))
                self._items.append((model, kind, part, version, logged_at, part.num_rows))
                self._queued += part.num_rows
            self._signalled = True
        self.wake.ring()

    def count_invalid(self, rows: int, reason: str) -> None:
        """Count records refused before they were queued."""
        with self._lock:
            self._logged += rows
            self._dropped_invalid += rows
            self._errors.append(reason)
        self.warn("invalid", f"{rows} record(s) not logged: {reason}")

    def note(self, reason: str) -> None:
        """Keep a problem that lost no record (for last_errors), and warn about it."""
        with self._lock:
            self._errors.append(reason)
        self.warn("note", reason)

    # -- any thread ----------------------------------------------------------------------

    def stats(self) -> ClientStats:
        """All counts, read together under the lock."""
        with self._lock:
            return ClientStats(
                self._logged, self._sampled_out, self._queued, self._in_flight, self._sent,
                self._accepted, self._duplicates, self._conflicts, self._rejected,
                self._dropped_overflow, self._dropped_network, self._dropped_invalid,
                self._dropped_closed,
            )  # fmt: skip

    def last_errors(self) -> list[str]:
        """The last reasons records were rejected or dropped, newest last."""
        with self._lock:
            return list(self._errors)

    def wait_empty(self, timeout: float | None, is_sending: Callable[[], bool]) -> bool:
        """Have the sender send everything now; wait until nothing is queued or in flight."""
        end = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            self._flushing += 1
        self.wake.ring()
        try:
            with self._changed:
                while self._queued or self._in_flight:
                    left = 0.05 if end is None else min(0.05, end - time.monotonic())
                    if left <= 0 or not is_sending():
                        return False
                    self._changed.wait(left)
                return True
        finally:
            with self._lock:
                self._flushing -= 1

    def shut(self, budget: float) -> float:
        """Take no more records; the deadline to send the rest by (set by the first call)."""
        with self._lock:
            self._closed = True
            if self.deadline is None:
                self.deadline = time.monotonic() + budget
            deadline = self.deadline
        self.wake.ring()
        return deadline

    def drop_rest(self, *, abandon: bool) -> None:
        """Count what is still queued or in flight as dropped_closed.

        With `abandon` (close() gave up waiting) the sender's later answers are not counted.
        """
        with self._lock:
            self._closed = True
            if not self._abandoned:
                self._dropped_closed += self._queued + self._in_flight
                self._queued = self._in_flight = 0
                self._items.clear()
            self._abandoned = self._abandoned or abandon
            self._changed.notify_all()

    # -- the sender thread ---------------------------------------------------------------

    def collect(self) -> tuple[deque[Item], bool, bool, int]:
        """The records appended since the last call; closing; whether to send all; overflow."""
        with self._lock:
            items, self._items = self._items, deque()
            self._signalled = False
            closing = self._closed
            return items, closing, closing or self._flushing > 0, self._dropped_overflow

    def expired(self) -> bool:
        """Whether close()'s deadline has passed."""
        return self.deadline is not None and time.monotonic() >= self.deadline

    def take(self, rows: int) -> bool:
        """Move rows from queued to in flight; False once close() has abandoned the sender."""
        with self._lock:
            if self._abandoned:
                return False
            self._queued -= rows
            self._in_flight += rows
            return True

    def answered(self, rows: int, answer: Answer) -> None:
        """Count a batch the server took (a 2xx answer)."""
        with self._lock:
            if self._abandoned:
                return
            self._in_flight -= rows
            self._sent += rows
            self._accepted += answer.accepted
            self._duplicates += answer.duplicates
            self._conflicts += answer.conflicts
            self._rejected += answer.rejected
            self._errors.extend(answer.reasons[-20:])
            self._changed.notify_all()
        if answer.reasons:
            self.warn("rejected", f"{answer.rejected} record(s) rejected; {answer.reasons[0]}")

    def settle(self, rows: int, outcome: Outcome, reasons: list[str]) -> None:
        """Count in-flight rows that will not be accepted."""
        with self._lock:
            if self._abandoned:
                return
            self._in_flight -= rows
            if outcome == "rejected":
                self._sent += rows
                self._rejected += rows
            elif outcome == "dropped_network":
                self._dropped_network += rows
            elif outcome == "dropped_invalid":
                self._dropped_invalid += rows
            else:
                self._dropped_closed += rows
            self._errors.extend(reasons[-20:])
            self._changed.notify_all()
        self.warn(outcome, f"{rows} record(s) {outcome.replace('_', ' ')}; {reasons[-1]}")

    def warn(self, kind: str, message: str, *, keep: bool = False) -> bool:
        """Log a warning, at most one of each kind every WARN_EVERY seconds; whether it did.

        With `keep` the message also goes to last_errors (when it is logged).
        """
        now = time.monotonic()
        if now - self._warned.get(kind, -WARN_EVERY) < WARN_EVERY:
            return False
        self._warned[kind] = now
        if keep:
            with self._lock:
                self._errors.append(message)
        log.warning("vigil: %s (more in Client.last_errors())", message)
        return True
