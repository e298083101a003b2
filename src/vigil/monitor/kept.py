"""The reports of recently computed windows, kept so that late labels re-measure little.

When a batch of labels reaches a window that was computed before, the window's rows are the
same and only the target column changed: `vigil.late_labels.evaluate_labels` brings the
window's reports (whole and by segment) up to date from the ones it gave then. This keeps
those reports in memory, for the most recently computed windows, with the generation and the
reference they reflect. A window is recomputed from them only when its store state says that
only labels arrived since exactly that computation (`WindowState.has_only_new_labels` and the
same computed generation: not another instance's result, not a replaced reference);
otherwise — after a restart, on another instance, once dropped here — it is computed whole,
which gives the same reports at the cost of every column.

A report costs about 3–4 KB per column of the spec (100 KB for the 28 columns of the bench
model); `KEPT_REPORTS` bounds how many are held, least recently computed dropped first.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

from vigil.monitor.windows import WindowReports
from vigil.store.base import WindowState

KEPT_REPORTS = 512  # whole-window and segment reports held, across models


@dataclass(frozen=True, slots=True)
class _Kept:
    generation: int  # the window's generation the reports reflect
    reference: datetime  # when the reference they were judged against was stored
    reports: WindowReports


class KeptReports:
    """The reports of the last computed windows (LRU), bounded by how many reports they hold."""

    def __init__(self, limit: int = KEPT_REPORTS) -> None:
        self.limit = limit
        self._entries: OrderedDict[tuple[int, str, datetime], _Kept] = OrderedDict()
        self._held = 0
        self._lock = threading.Lock()  # `forget` comes from the thread registering a version

    def __len__(self) -> int:
        return len(self._entries)

    def for_labels(
        self, model_id: int, state: WindowState, reference: datetime
    ) -> WindowReports | None:
        """The reports to bring up to date, when only labels reached the window since the
        computation they came from; None when it must be computed whole."""
        key = state.key
        if key.kind != "tumbling" or not state.has_only_new_labels:
            return None
        with self._lock:
            found = self._entries.get((model_id, key.version, key.start))
        if (
            found is None
            or found.generation != state.computed_generation
            or found.reference != reference
        ):
            return None
        return found.reports

    def keep(
        self,
        model_id: int,
        state: WindowState,
        generation: int,
        reference: datetime,
        reports: WindowReports | None,
    ) -> None:
        """Hold a tumbling window's reports as computed at `generation` (None: nothing to
        hold, and what was held goes)."""
        slot = (model_id, state.key.version, state.key.start)
        with self._lock:
            old = self._entries.pop(slot, None)
            if old is not None:
                self._held -= old.reports.count
            if state.key.kind != "tumbling" or reports is None or reports.count > self.limit:
                return
            self._entries[slot] = _Kept(generation, reference, reports)
            self._held += reports.count
            while self._held > self.limit:
                _, dropped = self._entries.popitem(last=False)
                self._held -= dropped.reports.count

    def forget(self, model_id: int) -> None:
        """Drop every window of a model (a version registered, a spec changed)."""
        with self._lock:
            for slot in [s for s in self._entries if s[0] == model_id]:
                self._held -= self._entries.pop(slot).reports.count
