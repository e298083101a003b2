"""The segments a model's windows were evaluated on, as the performance page lists them, over
DuckDB and PostgreSQL."""

from __future__ import annotations

from vigil.store import SqlStore
from vigil.store.base import MetricPoint, WindowKey

from .records import finish, hours, predictions, register, write


def _point(key: WindowKey, metric: str, segment: str, column: str = "") -> MetricPoint:
    return MetricPoint(
        key.version, key.kind, segment, key.start, key.end, metric, column, 0.5, "ok"
    )


def test_segments_lists_each_evaluated_segment_once_within_the_range(store: SqlStore) -> None:
    model = register(store)
    write(store, model, predictions(["a", "b", "c"], at=[hours(0), hours(1), hours(2)]))
    early, middle, late = (WindowKey("v1", "tumbling", hours(n), hours(n + 1)) for n in range(3))
    finish(store, model, early, [
        _point(early, "drift.share_drifted", ""),
        _point(early, "drift.share_drifted", "region=north"),
        _point(early, "performance.label_coverage", "region=north"),
    ])  # fmt: skip
    finish(store, model, middle, [
        _point(middle, "drift.share_drifted", "region=south"),
        _point(middle, "drift.ks", "a <b>/c", column="x"),  # a column's point names no segment
    ])  # fmt: skip
    finish(store, model, late, [_point(late, "performance.label_coverage", "region=<east>")])
    assert store.segments(model) == ["region=<east>", "region=north", "region=south"]
    assert store.segments(model, since=hours(1), until=hours(2)) == ["region=south"]
    assert store.segments(model, until=hours(0)) == []
    other = register(store, name="other")
    assert store.segments(other) == []
