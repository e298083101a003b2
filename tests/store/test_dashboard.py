"""The dashboard's grouped reads (vigil.store.dashboard) against the points they group, read
back one by one with `read_points` and grouped in Python, over DuckDB and PostgreSQL."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import datetime, timedelta

import pytest

from vigil.store import SqlStore
from vigil.store.base import MetricPoint, ModelInfo, WindowKey
from vigil.store.dashboard import EPOCH

from .records import finish, hours, predictions, register, write

STATUSES = ("none", "pending", "ok", "warning", "critical")
WORST_FIRST = ("critical", "warning", "ok", "pending", "none")
COLUMNS = ("x", "colour", "a/b?c", "<b>")
WINDOWS = 12


def _worst(statuses: list[str]) -> str:
    return next(s for s in WORST_FIRST if s in statuses)


def _bucket(moment: datetime, step: int | None) -> datetime:
    seconds = int((moment - EPOCH).total_seconds())
    return EPOCH + timedelta(seconds=seconds if step is None else seconds // step * step)


@pytest.fixture
def filled(store: SqlStore) -> tuple[SqlStore, ModelInfo]:
    """30 hourly windows of two versions with drift, quality and performance points whose
    values and statuses are drawn at random (seeded)."""
    model = register(store)
    for version in ("v1", "v2"):
        ids = [f"{version}-{n}" for n in range(WINDOWS)]
        write(
            store, model, predictions(ids, at=[hours(n) for n in range(WINDOWS)], version=version)
        )
    rng = random.Random(7)
    for version in ("v1", "v2"):
        for n in range(WINDOWS):
            key = WindowKey(version, "tumbling", hours(n), hours(n + 1))
            points = [
                MetricPoint(
                    version,
                    "tumbling",
                    segment,
                    key.start,
                    key.end,
                    metric,
                    column,
                    None if rng.random() < 0.05 else rng.uniform(-1, 3),
                    rng.choice(STATUSES),
                    rng.uniform(0, 0.1) if metric.startswith("performance.") else None,
                )
                for segment in ("", "region=north")
                for metric, column in [
                    *[
                        (m, c)
                        for m in ("drift.psi", "drift.ks", "quality.missing_share")
                        for c in COLUMNS
                    ],
                    ("performance.roc_auc", ""),
                    ("drift.share_drifted", ""),
                ]
            ]
            finish(store, model, key, points)
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
        limit=100_000,
    )


def test_a_series_groups_by_the_step_as_its_points_say(
    filled: tuple[SqlStore, ModelInfo],
) -> None:
    for step in (None, 3 * 3600, 86_400):
        _check_series(*filled, step)


def _check_series(store: SqlStore, model: ModelInfo, step: int | None) -> None:
    since, until = hours(2), hours(11)
    expected: dict[tuple[str, datetime], list[MetricPoint]] = defaultdict(list)
    for p in _all(store, model):
        if (p.metric, p.column, p.segment) == ("performance.roc_auc", "", "region=north") and (
            since <= p.start < until
        ):
            expected[(p.version, _bucket(p.start, step))].append(p)
    got = store.series(
        model,
        metric="performance.roc_auc",
        segment="region=north",
        since=since,
        until=until,
        step_seconds=step,
    )
    assert [(s.version, s.start) for s in got] == sorted(expected, key=lambda k: (k[1], k[0]))
    for s in got:
        group = expected[(s.version, s.start)]
        values = [p.value for p in group if p.value is not None]
        assert s.windows == len(group)
        assert s.status == _worst([p.status for p in group])
        assert s.end == max(p.end for p in group)
        if values:
            assert s.value == pytest.approx(sum(values) / len(values))
            assert (s.low, s.high) == (pytest.approx(min(values)), pytest.approx(max(values)))
        else:
            assert s.value is None
        bands = [p.band for p in group if p.band is not None]
        assert s.band == pytest.approx(sum(bands) / len(bands))


def test_a_series_of_one_version_leaves_the_others_out(
    filled: tuple[SqlStore, ModelInfo],
) -> None:
    store, model = filled
    got = store.series(model, metric="drift.psi", column="<b>", version="v2")
    assert len(got) == WINDOWS and {s.version for s in got} == {"v2"}
    assert all(s.windows == 1 for s in got)
    assert store.series(model, metric="drift.psi", column="no such column") == []


def test_a_heatmap_cell_is_its_worst_judged_drift_point(
    filled: tuple[SqlStore, ModelInfo],
) -> None:
    for step in (None, 6 * 3600):
        _check_heatmap(*filled, step)


def _check_heatmap(store: SqlStore, model: ModelInfo, step: int | None) -> None:
    cells: dict[tuple[str, datetime], list[MetricPoint]] = defaultdict(list)
    for p in _all(store, model):
        if p.segment == "" and p.column and p.metric.startswith("drift.") and p.status != "none":
            cells[(p.column, _bucket(p.start, step))].append(p)
    got = store.heatmap(model, step_seconds=step)
    assert [(c.column, c.start) for c in got] == sorted(cells)
    for cell in got:
        group = cells[(cell.column, cell.start)]
        status = _worst([p.status for p in group])
        assert cell.status == status
        assert cell.windows == len({p.start for p in group})
        assert cell.metric in {p.metric for p in group if p.status == status}
    # quality points and whole-window figures never make a cell
    assert {c.column for c in got} <= set(COLUMNS)


def test_the_window_span_counts_computed_windows(filled: tuple[SqlStore, ModelInfo]) -> None:
    store, model = filled
    span = store.window_span(model)
    assert span is not None
    assert (span.first_start, span.latest_end, span.windows) == (
        hours(0),
        hours(WINDOWS),
        2 * WINDOWS,
    )
    one = store.window_span(model, "v1")
    assert one is not None and one.windows == WINDOWS
    assert store.window_span(model, "nope") is None
