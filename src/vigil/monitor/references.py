"""Each model version's reference, prepared once and reused by every window and segment.

Judging a window reads the reference: its columns sorted, its category counts, its classes,
its performance, and for each segment the reference rows of that segment. Done afresh, that
costs the reference's size at every window (about 65 ms for 20,000 rows, seconds for a
million) whatever the window's size. A `PreparedVersion` keeps all of it
(`vigil.evaluation.PreparedReference`), for the whole reference and for each segment part,
so a window costs what the window costs; the reports are the ones a fresh `evaluate` gives.

`ReferenceCache` keeps the prepared references of the most recently used versions (least
recently used dropped first; `REFERENCE_VERSIONS_KEPT` by default). One version holds its
reference table, a sorted float64 copy of each numeric column (8 bytes a cell), the counts of
each categorical column, and the same for up to `SEGMENT_PARTS_KEPT` segment parts. A
version's entry is replaced when its reference is (the upload time changes) or its spec does,
and dropped by `forget` when a model's versions change.
"""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from vigil.errors import VigilError
from vigil.evaluation import PreparedReference
from vigil.measure.multivariate import window_spec
from vigil.spec import Spec

REFERENCE_VERSIONS_KEPT = 4  # model versions whose prepared reference is kept
SEGMENT_PARTS_KEPT = 64  # segment parts of the reference kept per version


def read_reference(parquet: bytes) -> pa.Table:
    """A stored reference set as Arrow."""
    return pq.read_table(io.BytesIO(parquet))


def segment_rows(table: pa.Table, column: str, top: list[object], value: object) -> pa.Table:
    """The rows of `table` in one segment: `column` equal to `value`, or, when `value` is None,
    outside `top` (missing included). A table without the column is returned whole."""
    if column not in table.column_names:
        return table
    col = table.column(column)
    if value is None:
        kept = pc.invert(pc.is_in(col, value_set=pa.array(top, col.type)))
        return table.filter(pc.fill_null(kept, True))
    return table.filter(pc.fill_null(pc.equal(col, pa.scalar(value, col.type)), False))


class _Outcome:
    """A prepared reference or the error preparing it raised, computed at first use."""

    def __init__(self, make: Callable[[], PreparedReference]) -> None:
        self._make: Callable[[], PreparedReference] | None = make
        self._value: PreparedReference | None = None
        self._error: VigilError | None = None
        self._lock = threading.Lock()

    def get(self) -> PreparedReference:
        with self._lock:
            if self._make is not None:
                try:
                    self._value = self._make()
                except VigilError as err:
                    self._error = err
                self._make = None
            if self._error is not None:
                raise self._error
            assert self._value is not None
            return self._value


class PreparedVersion:
    """One version's reference table, prepared for its spec: whole and by segment."""

    def __init__(self, table: pa.Table, spec: Spec) -> None:
        self.table = table
        self.spec = spec  # the version's, as registered (the cache compares it)
        # what windows are judged with: the domain classifier off unless the spec turns it on
        self.window_spec = spec = window_spec(spec)
        self._whole = _Outcome(lambda: PreparedReference(table, spec))
        self._segments: OrderedDict[Hashable, _Outcome] = OrderedDict()
        self._lock = threading.Lock()

    def whole(self) -> PreparedReference:
        """The whole reference, prepared; raises what `evaluate` would raise for it."""
        return self._whole.get()

    def segment(self, column: str, top: list[object], value: object) -> PreparedReference:
        """The reference rows of one segment (`segment_rows`), prepared; raises what
        `evaluate` would raise for them (none left: `NotEnoughData`)."""
        key: Hashable = (
            (column, "other", tuple((type(v).__name__, v) for v in top))
            if value is None
            else (column, "value", type(value).__name__, value)
        )
        with self._lock:
            outcome = self._segments.get(key)
            if outcome is None:
                rows = segment_rows(self.table, column, top, value)
                outcome = _Outcome(lambda: PreparedReference(rows, self.window_spec))
                self._segments[key] = outcome
                while len(self._segments) > SEGMENT_PARTS_KEPT:
                    self._segments.popitem(last=False)
            else:
                self._segments.move_to_end(key)
        return outcome.get()


class ReferenceCache:
    """Prepared references of the last `versions` model versions used (LRU)."""

    def __init__(self, versions: int = REFERENCE_VERSIONS_KEPT) -> None:
        if versions < 1:
            raise ValueError(f"ReferenceCache keeps at least 1 version; got {versions}.")
        self.versions = versions
        self._entries: OrderedDict[tuple[int, str], tuple[datetime, PreparedVersion]] = (
            OrderedDict()
        )
        self._lock = threading.Lock()

    def get(
        self,
        model_id: int,
        version: str,
        stamp: datetime,
        spec: Spec,
        load: Callable[[], pa.Table],
    ) -> PreparedVersion:
        """The prepared reference of a version uploaded at `stamp`; `load` reads it when the
        cache has no entry for that upload and spec."""
        key = (model_id, version)
        with self._lock:
            found = self._entries.get(key)
            if found is not None and found[0] == stamp and found[1].spec == spec:
                self._entries.move_to_end(key)
                return found[1]
        prepared = PreparedVersion(load(), spec)
        with self._lock:
            self._entries[key] = (stamp, prepared)
            self._entries.move_to_end(key)
            while len(self._entries) > self.versions:
                self._entries.popitem(last=False)
        return prepared

    def forget(self, model_id: int) -> None:
        """Drop every version of a model."""
        with self._lock:
            for key in [k for k in self._entries if k[0] == model_id]:
                del self._entries[key]

    def __len__(self) -> int:
        return len(self._entries)
