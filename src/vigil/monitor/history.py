"""The volume and missing share of earlier windows, which a window's own are compared with.

A tumbling window's `ops.volume_ratio` and `ops.missing_change` compare it with the previous
`history` tumbling windows of its version. The scheduler computes windows in batches and
stores each batch's results together, so this reads the earlier windows' points once per
batch and version, and lays the figures of the windows computed in the batch over them as
they are computed: each window sees what it would have read had every window before it been
stored at once (oldest first, as the scheduler computes them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from vigil.store.base import ModelInfo, Store, WindowKey

METRICS = ("ops.count", "ops.missing_share")
_ANY = 10**9  # no limit on the points read: the span bounds them


class History:
    """Earlier windows' `ops.count` and `ops.missing_share` for the windows `keys`."""

    def __init__(
        self,
        store: Store,
        model: ModelInfo,
        keys: Sequence[WindowKey],
        *,
        size_seconds: int,
        history: int,
    ) -> None:
        self._store = store
        self._model = model
        self._span = timedelta(seconds=size_seconds * history)
        self._history = history
        starts = [k.start for k in keys if k.kind == "tumbling"]
        self._since = min(starts) - self._span if starts else datetime.min
        self._until = max(starts) if starts else datetime.min
        # version -> metric -> window start -> value (None: a point without a value)
        self._values: dict[str, dict[str, dict[datetime, float | None]]] = {}

    def _version(self, version: str) -> dict[str, dict[datetime, float | None]]:
        found = self._values.get(version)
        if found is None:
            found = {}
            for metric in METRICS:
                points = self._store.read_points(
                    self._model,
                    metric=metric,
                    column="",
                    segment="",
                    version=version,
                    kind="tumbling",
                    since=self._since,
                    until=self._until,
                    limit=_ANY,
                )
                found[metric] = {p.start: p.value for p in points}
            self._values[version] = found
        return found

    def before(self, key: WindowKey) -> dict[str, list[float]]:
        """Counts and missing shares of the previous `history` tumbling windows that had rows,
        oldest first; nothing for the rolling window."""
        if key.kind != "tumbling" or not self._history:
            return {}
        since = key.start - self._span
        out: dict[str, list[float]] = {}
        for metric, values in self._version(key.version).items():
            starts = sorted(s for s in values if since <= s < key.start)[: self._history]
            out[metric] = [v for v in (values[s] for s in starts) if v is not None]
        return out

    def record(self, key: WindowKey, figures: Mapping[str, float | None]) -> None:
        """A window's figures as the batch computed them: what later windows read of it."""
        if key.kind != "tumbling" or not self._history:
            return
        values = self._version(key.version)
        for metric in METRICS:
            values[metric][key.start] = figures.get(metric.removeprefix("ops."))
