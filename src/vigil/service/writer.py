"""The one writer: validated batches wait here and are committed together.

Each request's batch is queued; a single thread takes everything waiting, writes it in one
transaction per model (a group commit: one log flush for many requests) and only then answers
each request, so a 200 always means committed. The queue is bounded by records: past the bound
a request is refused at once with 503 and Retry-After instead of memory growing without end.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass

import pyarrow as pa

from vigil.errors import InputError
from vigil.store.base import ModelInfo, Quarantined, RecordKind, Store, WriteResult

log = logging.getLogger("vigil.service")
MAX_GROUP_RECORDS = 500_000  # one transaction takes at most about this many records


class Overloaded(Exception):
    """The writer's queue is full; the client should retry after a pause."""


@dataclass(frozen=True, slots=True)
class WriteJob:
    """One request's validated batch."""

    model: ModelInfo
    kind: RecordKind
    table: pa.Table
    quarantined: Sequence[Quarantined]
    window_seconds: int
    done: Future[WriteResult]

    @property
    def size(self) -> int:
        """Records the job holds (accepted and quarantined)."""
        return int(self.table.num_rows) + len(self.quarantined)


class Writer:
    """Commits queued batches in groups on one thread."""

    def __init__(self, store: Store, *, max_pending: int) -> None:
        self.store = store
        self.max_pending = max_pending
        self._queue: deque[WriteJob] = deque()
        self._pending = 0
        self._cond = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="vigil-writer", daemon=True)
        self.groups = 0  # transactions committed, for the logs and tests
        self.on_commit: Callable[[], None] | None = None  # told after each round of commits
        self.on_pending: Callable[[int], None] | None = None  # told the new count (under lock)

    def start(self) -> None:
        """Start the writer thread."""
        self._thread.start()

    @property
    def is_alive(self) -> bool:
        """True while the writer thread runs."""
        return self._thread.is_alive()

    @property
    def pending(self) -> int:
        """Records queued and not yet committed."""
        return self._pending

    def submit(
        self,
        model: ModelInfo,
        kind: RecordKind,
        table: pa.Table,
        quarantined: Sequence[Quarantined],
        *,
        window_seconds: int,
    ) -> Future[WriteResult]:
        """Queue a batch; its future resolves once it is committed. Raises Overloaded."""
        done: Future[WriteResult] = Future()
        job = WriteJob(model, kind, table, quarantined, window_seconds, done)
        with self._cond:
            if self._stopping:
                raise Overloaded("the service is shutting down")
            # a single batch larger than the bound still gets in when the queue is empty
            if self._pending and self._pending + job.size > self.max_pending:
                raise Overloaded(f"{self._pending} records are waiting to be written")
            self._queue.append(job)
            self._pending += job.size
            self._tell_pending()
            self._cond.notify()
        return done

    def _tell_pending(self) -> None:
        if self.on_pending is not None:
            self.on_pending(self._pending)

    def stop(self, timeout: float = 30.0) -> None:
        """Write what is queued, then stop."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _take(self) -> list[WriteJob] | None:
        with self._cond:
            while not self._queue and not self._stopping:
                self._cond.wait()
            if not self._queue:
                return None
            jobs = [self._queue.popleft()]
            size = jobs[0].size
            while self._queue and size + self._queue[0].size <= MAX_GROUP_RECORDS:
                job = self._queue.popleft()
                jobs.append(job)
                size += job.size
            return jobs

    def _run(self) -> None:
        while (jobs := self._take()) is not None:
            groups: dict[tuple[int, str], list[WriteJob]] = {}
            for job in jobs:
                groups.setdefault((job.model.id, job.kind), []).append(job)
            for group in groups.values():
                self._commit(group)
            with self._cond:
                self._pending -= sum(job.size for job in jobs)
                self._tell_pending()
            if self.on_commit is not None:
                self.on_commit()  # the scheduler's nudge: sets an event, never blocks

    def _commit(self, group: list[WriteJob]) -> None:
        """Write a group in one transaction; if that fails, each request alone.

        One request's data that the store refuses (or any other failure) must not fail the
        requests committed beside it: they are retried one by one, each in its own
        transaction, so only the request at fault hears the error. An InputError (the store
        refused the values) becomes a 422 for that request; a store that is down fails each.
        """
        try:
            results = self._write(group)
        except Exception as err:
            if len(group) == 1:
                self._fail(group[0], err)
                return
            log.warning(
                "write of %d batches failed (%s: %s); writing them one by one",
                len(group),
                type(err).__name__,
                str(err).splitlines()[0] if str(err) else "",
            )
            for job in group:
                self._commit([job])
            return
        self.groups += 1
        for job, result in zip(group, results, strict=True):
            job.done.set_result(result)

    def _fail(self, job: WriteJob, err: Exception) -> None:
        if isinstance(err, InputError):
            log.warning("the store refused a batch of %d records: %s", job.size, err)
        else:
            log.error("write of a batch of %d records failed", job.size, exc_info=err)
        job.done.set_exception(err)

    def _write(self, group: list[WriteJob]) -> list[WriteResult]:
        first = group[0]
        model = max((job.model for job in group), key=lambda m: len(m.columns))
        write = (
            self.store.write_predictions if first.kind == "prediction" else self.store.write_labels
        )
        quarantined = [q for job in group for q in job.quarantined]
        return write(
            model, [job.table for job in group], quarantined, window_seconds=first.window_seconds
        )
