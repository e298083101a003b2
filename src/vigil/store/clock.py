"""What the scheduler's clock reads of a model's rows: when the newest prediction and label
were received, and how many rows each window holds — figures that must be read when nothing
arrives, so no window computation can give them (vigil.alerts.clock)."""

from __future__ import annotations

from datetime import datetime, timedelta

from vigil.store.backend import Backend
from vigil.store.base import ModelInfo

EPOCH = datetime(1970, 1, 1)  # windows are aligned on it (vigil.store.batches.buckets)


class Clock:
    """Reads of a model's prediction and label tables for the scheduler's clock."""

    def __init__(self, db: Backend) -> None:
        self._db = db

    def received_times(self, model: ModelInfo) -> tuple[datetime | None, datetime | None]:
        """When the newest prediction and the newest label were received (naive UTC); None
        for none ever, or for labels when the model takes none."""
        prediction = self._db.run(f"SELECT max(received) FROM p_{model.id}")[0][0]
        label = None
        if model.label_storage is not None:
            label = self._db.run(f"SELECT max(received) FROM l_{model.id}")[0][0]
        return prediction, label

    def window_row_counts(
        self, model: ModelInfo, since: datetime, until: datetime, size_seconds: int
    ) -> dict[datetime, int]:
        """Prediction rows (every version) per window start, for the rows whose timestamp is in
        [since, until); windows of `size_seconds` aligned as the store aligns them. A window
        without rows is absent. Give `since` and `until` on window bounds, or the windows at
        the ends are counted in part."""
        if size_seconds <= 0:
            raise ValueError(f"a window is at least a second long; got {size_seconds} seconds.")
        rows = self._db.run(
            "SELECT CAST(floor(extract(epoch FROM ts) / ?) AS BIGINT) AS bucket, count(*) "
            f"FROM p_{model.id} WHERE ts >= ? AND ts < ? GROUP BY bucket",
            (size_seconds, since, until),
        )
        step = timedelta(seconds=size_seconds)
        return {EPOCH + int(bucket) * step: int(n) for bucket, n in rows}
