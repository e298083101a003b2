"""Windows: operational figures against numpy, segments, open windows, late labels, rolling."""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from vigil.ingest.layout import layout_for
from vigil.monitor.scheduler import Monitor
from vigil.monitor.windows import WindowPlan, current_table, operational, segment_values
from vigil.spec import spec_from_dict
from vigil.store import open_store
from vigil.store.sql import SqlStore

SPEC = {
    "version": 1,
    "task": "regression",
    "columns": {
        "x": {"role": "feature", "kind": "numeric"},
        "shop": {"role": "segment", "kind": "categorical"},
        "yhat": {"role": "prediction", "kind": "numeric"},
        "y": {"role": "target", "kind": "numeric"},
    },
}
HOUR = datetime(2026, 11, 23, 10)


def _store(tmp_path: Path) -> tuple[SqlStore, object]:
    store = open_store(tmp_path / "w.duckdb")
    spec = spec_from_dict(SPEC)
    layout = layout_for(spec)
    model = store.register_model("m", "1", spec.to_dict(), layout.stored(), "DOUBLE")
    rng = np.random.default_rng(3)
    ref = pa.table(
        {
            "x": rng.normal(0, 1, 2000),
            "shop": rng.choice(["a", "b", "c"], 2000),
            "yhat": rng.normal(0, 1, 2000),
            "y": rng.normal(0, 1, 2000),
        }
    )
    sink = io.BytesIO()
    pq.write_table(ref, sink)
    store.put_reference(model, "1", sink.getvalue(), ref.num_rows)
    return store, model


def _batch(
    n: int,
    start: datetime,
    *,
    prefix: str,
    shift: float = 0.0,
    seed: int = 0,
    shops: list[str] | None = None,
) -> pa.Table:
    rng = np.random.default_rng(seed)
    return pa.table(
        {
            "id": [f"{prefix}{i}" for i in range(n)],
            "timestamp": pa.array(
                [start + timedelta(seconds=int(s)) for s in rng.integers(0, 3600, n)],
                pa.timestamp("us"),
            ),
            "model_version": ["1"] * n,
            "latency_ms": rng.exponential(10, n),
            "error": pa.array([None if v > 0.1 else "timeout" for v in rng.random(n)], pa.string()),
            "x": rng.normal(shift, 1, n),
            "shop": rng.choice(shops or ["a", "b", "c"], n),
            "yhat": rng.normal(0, 1, n),
        }
    )


def test_operational_figures_match_numpy() -> None:
    rng = np.random.default_rng(1)
    lat = rng.exponential(7, 500)
    lat_with_gaps = [None if i % 10 == 0 else v for i, v in enumerate(lat)]
    errors = [None if i % 4 else "boom" for i in range(500)]
    window = pa.table(
        {
            "__latency_ms": pa.array(lat_with_gaps, pa.float64()),
            "__error": pa.array(errors, pa.string()),
            "__label": pa.array([1.0] * 100 + [None] * 400, pa.float64()),
            "a": pa.array([None] * 50 + [1.0] * 450, pa.float64()),
            "b": pa.array([2.0] * 500),
        }
    )
    history = {"ops.count": [400.0, 600.0, 0.0], "ops.missing_share": [0.01, 0.03]}
    figures = operational(window, 3600.0, history, ["a", "b"])
    kept = np.array([v for v in lat_with_gaps if v is not None])
    assert figures["count"] == 500
    assert figures["rate_per_s"] == pytest.approx(500 / 3600)
    for q in (50, 95, 99):
        assert figures[f"latency_p{q}_ms"] == pytest.approx(np.percentile(kept, q))
    assert figures["error_rate"] == pytest.approx(125 / 500)
    assert figures["volume_ratio"] == pytest.approx(1.0)  # empty windows are not averaged
    assert figures["missing_share"] == pytest.approx(50 / 1000)
    assert figures["missing_change"] == pytest.approx(0.05 - 0.02)
    assert figures["labelled"] == 100 and figures["labelled_share"] == pytest.approx(0.2)


def test_segment_values_keep_the_biggest_and_tell_whether_others_remain() -> None:
    col = pa.chunked_array([pa.array(["a"] * 5 + ["b"] * 3 + ["c"] * 2 + [None] * 4)])
    assert segment_values(col, 2) == (["a", "b"], True)
    assert segment_values(col, 3) == (["a", "b", "c"], False)


def test_current_table_renames_fixed_fields_and_drops_other_versions_columns() -> None:
    spec = spec_from_dict({**SPEC, "columns": {**SPEC["columns"], "rid": {"role": "id"}}})
    window = pa.table(
        {
            "__id": ["a"],
            "__ts": pa.array([HOUR], pa.timestamp("us")),
            "__version": ["1"],
            "__latency_ms": [1.0],
            "__error": pa.array([None], pa.string()),
            "x": [1.0],
            "old_feature": pa.array([None], pa.float64()),
            "extra": ["v"],
            "__label": [2.0],
        }
    )
    out = current_table(window, spec)
    assert out.column_names == ["rid", "x", "extra", "y"]


def test_windows_are_computed_once_per_change_and_late_labels_recompute(tmp_path: Path) -> None:
    store, model = _store(tmp_path)
    now = HOUR + timedelta(hours=3)
    monitor = Monitor(
        store, {}, default_plan=WindowPlan(rolling_seconds=None, min_rows=10), clock=lambda: now
    )
    store.write_predictions(
        model, [_batch(300, HOUR, prefix="a", shift=2.0)], [], window_seconds=3600
    )
    store.write_predictions(
        model, [_batch(200, HOUR + timedelta(hours=1), prefix="b")], [], window_seconds=3600
    )
    first = monitor.tick()
    assert sorted(r.rows for r in first.computed) == [200, 300]
    drifted = {r.key.start: r.report.drift_status("x") != "ok" for r in first.computed}
    volume = store.read_points(
        model,
        metric="ops.volume_ratio",
        column="",
        segment="",
        version="1",
        kind="tumbling",
        since=None,
        until=None,
        limit=10,
    )
    assert [p.value for p in volume] == [None, pytest.approx(200 / 300)]
    assert drifted == {HOUR: True, HOUR + timedelta(hours=1): False}
    assert monitor.tick().computed == []
    labels = pa.table(
        {
            "id": ["a1", "a2", "zzz"],
            "label": [0.5, 1.5, 2.0],
            "timestamp": pa.nulls(3, pa.timestamp("us")),
        }
    )
    (written,) = store.write_labels(model, [labels], [], window_seconds=3600)
    assert written.pending == 1
    again = monitor.tick().computed
    assert [(r.key.start, r.labelled) for r in again] == [(HOUR, 2)]
    perf = again[0].report.performance
    assert perf is not None and perf.current is not None and perf.current.rows == 2
    store.close()


def test_open_window_waits_for_min_rows(tmp_path: Path) -> None:
    store, model = _store(tmp_path)
    now = HOUR + timedelta(minutes=30)
    monitor = Monitor(
        store, {}, default_plan=WindowPlan(rolling_seconds=None, min_rows=50), clock=lambda: now
    )
    store.write_predictions(model, [_batch(20, HOUR, prefix="a")], [], window_seconds=3600)
    summary = monitor.tick()
    assert summary.computed == [] and summary.skipped == {"open window below min_rows": 1}
    store.write_predictions(model, [_batch(40, HOUR, prefix="b")], [], window_seconds=3600)
    assert [r.rows for r in monitor.tick().computed] == [60]
    store.close()


def test_segments_and_rolling_window(tmp_path: Path) -> None:
    store, model = _store(tmp_path)
    now = HOUR + timedelta(hours=5)
    plan = WindowPlan(rolling_seconds=86400, min_rows=10, segments=("shop",), top_segments=2)
    monitor = Monitor(store, {}, default_plan=plan, clock=lambda: now)
    store.write_predictions(
        model,
        [_batch(600, HOUR, prefix="a", shops=["a"] * 5 + ["b"] * 3 + ["c", "d"])],
        [],
        window_seconds=3600,
    )
    results = monitor.tick().computed
    kinds = sorted(r.key.kind for r in results)
    assert kinds == ["rolling", "tumbling"]
    segments = {p.segment for r in results for p in r.points}
    assert segments == {"", "shop=a", "shop=b", "shop=other"}
    rolling = next(r for r in results if r.key.kind == "rolling")
    assert rolling.rows == 600
    points = store.read_points(
        model,
        metric="ops.count",
        column=None,
        segment="",
        version="1",
        kind="rolling",
        since=None,
        until=None,
        limit=10,
    )
    assert [p.value for p in points] == [600.0]
    assert points[0].end == now and points[0].start == now - timedelta(days=1)
    store.close()


def test_retention_drops_raw_rows_but_keeps_points(tmp_path: Path) -> None:
    store, model = _store(tmp_path)
    now = HOUR + timedelta(days=10)
    monitor = Monitor(
        store, {}, default_plan=WindowPlan(rolling_seconds=None, min_rows=10), clock=lambda: now
    )
    store.write_predictions(model, [_batch(100, HOUR, prefix="a")], [], window_seconds=3600)
    monitor.tick()
    kept = Monitor(
        store,
        {},
        default_plan=WindowPlan(rolling_seconds=None),
        clock=lambda: now,
        retention_seconds=86400,
    )
    kept.tick()
    assert store.window_counts(model, "1", HOUR, HOUR + timedelta(hours=1)) == (0, 0)
    points = store.read_points(
        model,
        metric="ops.count",
        column=None,
        segment="",
        version=None,
        kind=None,
        since=None,
        until=None,
        limit=10,
    )
    assert [p.value for p in points] == [100.0]
    store.close()


def test_a_spec_with_times_computes_its_windows(tmp_path: Path) -> None:
    """A timestamp role, an id and a datetime feature: the stored reference is conformed as
    the upload conforms it, the window's `__ts` becomes the timestamp column, and nothing fails.
    """
    from vigil.deployment import reference_parquet
    from vigil.measure.reading import Dataset

    columns = {
        **SPEC["columns"],
        "when": {"role": "timestamp", "kind": "datetime"},
        "rid": {"role": "id", "kind": "categorical"},
        "born": {"role": "feature", "kind": "datetime"},
    }
    spec = spec_from_dict({**SPEC, "columns": columns})
    store = open_store(tmp_path / "t.duckdb")
    layout = layout_for(spec)
    model = store.register_model("m", "1", spec.to_dict(), layout.stored(), "DOUBLE")
    rng = np.random.default_rng(4)
    n = 1000
    born = rng.integers(-300_000_000, 900_000_000, n) * 1_000_000_000  # epoch ns
    reference = pa.table(
        {
            "x": rng.normal(0, 1, n),
            "shop": rng.choice(["a", "b", "c"], n),
            "yhat": rng.normal(0, 1, n),
            "y": rng.normal(0, 1, n),
            "when": pa.array(
                np.arange(n, dtype=np.int64) * 3_600_000_000_123, pa.timestamp("ns", "Asia/Tokyo")
            ),
            "rid": [f"r{i}" for i in range(n)],
            "born": pa.array(born, pa.timestamp("ns")),
        }
    )
    parquet, rows = reference_parquet(Dataset(reference, "ref.parquet"), spec)
    store.put_reference(model, "1", parquet, rows)
    stored = pq.read_table(io.BytesIO(parquet))
    assert stored.schema.field("when").type == pa.timestamp("us", tz="UTC")
    batch = _batch(300, HOUR, prefix="a", seed=5)
    batch = batch.append_column(
        "born", pa.array(rng.integers(-300_000_000, 900_000_000, 300) * 1_000, pa.timestamp("ms"))
    )
    store.write_predictions(model, [batch], [], window_seconds=3600)
    now = HOUR + timedelta(hours=2)
    plan = WindowPlan(rolling_seconds=86400, min_rows=10, segments=("shop",))
    summary = Monitor(store, {}, default_plan=plan, clock=lambda: now).tick()
    assert summary.failed == []
    assert sorted(r.key.kind for r in summary.computed) == ["rolling", "tumbling"]
    for result in summary.computed:
        report = result.report
        assert report is not None
        assert report.quality.columns["when"].error is None
        assert report.quality.columns["when"].missing_share == 0.0
        assert report.drift.columns["born"].error is None
        assert report.drift_status("born") == "ok"
        assert [c for c in report.checks if c.column == "when" and c.status != "ok"] == []
        assert report.quality.duplicate_ids == 0
    store.close()
