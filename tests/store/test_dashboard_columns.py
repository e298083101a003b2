"""The dashboard's per-column reads (`column_series`, `column_moments`, beside `series`, and
`segments`) against the same points read one by one (`read_points`) and grouped in Python,
on DuckDB and PostgreSQL."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import astuple
from datetime import datetime, timedelta

import numpy as np
import pytest
from tests.store.records import HOUR, finish, hours, predictions, register, write

from vigil.store import SqlStore
from vigil.store.base import MetricPoint, ModelInfo
from vigil.store.dashboard import EPOCH, SeriesPoint

RANK = {"none": 0, "pending": 1, "ok": 2, "warning": 3, "critical": 4}
STATUSES = ("ok", "ok", "ok", "warning", "critical", "pending")
SEGMENTS = ("", "region=a", "region=b")
WINDOWS = 12


def _points(rng: np.random.Generator, version: str, start: datetime) -> list[MetricPoint]:
    """Judged and unjudged drift and quality points of two columns in every segment; some
    values missing or not finite, as measures can be."""
    end = start + timedelta(hours=1)
    out = []
    for segment in SEGMENTS:
        for column in ("x", "colour"):
            for metric, judged in (("drift.ks", True), ("drift.psi", False),
                                   ("quality.missing_share", True)):  # fmt: skip
                value: float | None = float(rng.random())
                if rng.random() < 0.1:
                    value = None if rng.random() < 0.5 else math.nan
                status = str(rng.choice(STATUSES)) if judged else "none"
                out.append(
                    MetricPoint(
                        version, "tumbling", segment, start, end, metric, column, value, status
                    )
                )
        out.append(
            MetricPoint(
                version,
                "tumbling",
                segment,
                start,
                end,
                "drift.share_drifted",
                "",
                float(rng.random()),
                "ok",
            )
        )
    return out


@pytest.fixture
def filled(store: SqlStore) -> tuple[SqlStore, ModelInfo]:
    """Twelve hourly windows of two versions with random points (seeded)."""
    model = register(store)
    model = register(store, version="v2")
    for h in range(WINDOWS):
        write(store, model, predictions([f"a{h}"], at=hours(h)))
        write(store, model, predictions([f"b{h}"], at=hours(h), version="v2"))
    rng = np.random.default_rng(7)
    for state in sorted(store.window_states(model, dirty_only=True), key=lambda s: s.key.start):
        finish(store, model, state.key, _points(rng, state.key.version, state.key.start))
    return store, model


def _all(store: SqlStore, model: ModelInfo) -> list[MetricPoint]:
    return store.read_points(
        model,
        metric=None,
        column=None,
        segment=None,
        version=None,
        kind=None,
        since=None,
        until=None,
        limit=1_000_000,
    )


def _bucket(start: datetime, step: int | None) -> datetime:
    if step is None:
        return start
    seconds = int((start - EPOCH).total_seconds())
    return EPOCH + timedelta(seconds=seconds // step * step)


def _same(point: SeriesPoint) -> tuple[object, ...]:
    """A point's fields with NaN made comparable (NaN != NaN) and sums rounded (PostgreSQL
    adds in no fixed order)."""
    return tuple(
        ("nan" if math.isnan(v) else round(v, 12)) if isinstance(v, float) else v
        for v in astuple(point)
    )


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


@pytest.mark.parametrize("step", [None, 2 * HOUR, 86_400])
def test_series_and_column_series_group_the_points_they_stand_for(
    filled: tuple[SqlStore, ModelInfo], step: int | None
) -> None:
    store, model = filled
    groups: dict[tuple[str, str, datetime], list[MetricPoint]] = defaultdict(list)
    for p in _all(store, model):
        if p.column == "x" and p.segment == "" and p.metric != "drift.share_drifted":
            groups[(p.metric, p.version, _bucket(p.start, step))].append(p)
    by_metric = store.column_series(model, column="x", step_seconds=step)
    assert set(by_metric) == {"drift.ks", "drift.psi", "quality.missing_share"}
    for metric, points in by_metric.items():
        alone = store.series(model, metric=metric, column="x", step_seconds=step)
        assert [_same(p) for p in points] == [_same(p) for p in alone]
        assert {(metric, p.version, p.start) for p in points} == {
            k for k in groups if k[0] == metric
        }
        for point in points:
            group = groups[(metric, point.version, point.start)]
            values = [p.value for p in group if p.value is not None]
            assert point.windows == len(group)
            assert point.end == max(p.end for p in group)
            assert RANK[point.status] == max(RANK[p.status] for p in group)
            if values and all(math.isfinite(v) for v in values):
                assert point.value == pytest.approx(float(np.mean(values)))
                assert point.low == pytest.approx(min(values))
                assert point.high == pytest.approx(max(values))
    only = store.column_series(model, column="x", prefixes=("quality.",), version="v2")
    assert set(only) == {"quality.missing_share"}
    assert {p.version for p in only["quality.missing_share"]} == {"v2"}


def test_column_moments_are_the_mean_and_sample_deviation_of_finite_values(
    filled: tuple[SqlStore, ModelInfo],
) -> None:
    store, model = filled
    since, until = hours(2), hours(10)
    moments = store.column_moments(
        model, column="colour", version="v2", segment="region=b", since=since, until=until
    )
    for metric in ("drift.ks", "drift.psi", "quality.missing_share"):
        values = [
            p.value
            for p in _all(store, model)
            if p.metric == metric and p.column == "colour" and p.version == "v2"
            and p.segment == "region=b" and since <= p.start < until and _finite(p.value)
        ]  # fmt: skip
        m = moments[metric]
        assert m.windows == len(values) > 2
        assert m.mean == pytest.approx(float(np.mean(values)))
        assert m.std == pytest.approx(float(np.std(values, ddof=1)))
    assert store.column_moments(model, column="colour", version="v2", since=hours(50)) == {}


def test_segments_lists_the_judged_segments(filled: tuple[SqlStore, ModelInfo]) -> None:
    store, model = filled
    assert store.segments(model) == ["region=a", "region=b"]
    other = register(store, "empty")
    assert store.segments(other) == []


@pytest.mark.parametrize("step", [None, 86_400])
def test_metric_by_column_is_series_of_each_column_in_one_read(
    filled: tuple[SqlStore, ModelInfo], step: int | None
) -> None:
    store, model = filled
    for segment in ("", "region=a"):
        by_column = store.metric_by_column(
            model, metric="drift.ks", segment=segment, step_seconds=step
        )
        assert set(by_column) == {"x", "colour"}  # the whole-window column "" left out
        for column, points in by_column.items():
            alone = store.series(
                model, metric="drift.ks", column=column, segment=segment, step_seconds=step
            )
            assert [_same(p) for p in points] == [_same(p) for p in alone]
    v2 = store.metric_by_column(model, metric="quality.missing_share", version="v2")
    assert {p.version for points in v2.values() for p in points} == {"v2"}
    assert store.metric_by_column(model, metric="attribution.mean_abs") == {}
