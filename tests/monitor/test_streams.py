"""Stream detectors in the service, over real stores (DuckDB and PostgreSQL): rows are fed in
arrival order (the error stream in the order labels arrive), detections land as points in
the windows of their records, and a detector continued from its stored state and cursor —
a chunk at a time, by a new process-like instance each time — fires where one uninterrupted
detector fed the same values fires."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tests.store.conftest import postgres_url, store_url  # noqa: F401  (fixtures)

from vigil.alerts.judge import judge
from vigil.alerts.metrics import column_metrics
from vigil.alerts.rules import parse_rules
from vigil.detect import DETECTORS, DetectorConfig, check_params, make_detector
from vigil.errors import ConfigError
from vigil.ingest.layout import layout_for
from vigil.monitor.scheduler import Monitor
from vigil.monitor.streams import StreamConfig, StreamDetectors, resolve, window_points
from vigil.monitor.windows import WindowPlan
from vigil.spec import spec_from_dict
from vigil.store import SqlStore, open_store
from vigil.store.base import ModelInfo

SPEC = {
    "version": 1,
    "task": "regression",
    "columns": {
        "x": {"role": "feature", "kind": "numeric"},
        "yhat": {"role": "prediction", "kind": "numeric"},
        "y": {"role": "target", "kind": "numeric"},
    },
}
HOUR = datetime(2026, 11, 23, 10)
STREAMS = (
    StreamConfig("x", "adwin", {}),
    StreamConfig("x", "cusum", {"h": 8.0}),
    StreamConfig("error", "page_hinkley", {"threshold": 20.0}),
)


def reference() -> bytes:
    rng = np.random.default_rng(1)
    yhat = rng.normal(0, 1, 2000)
    table = pa.table(
        {"x": rng.normal(0, 1, 2000), "yhat": yhat, "y": yhat + rng.normal(0, 1, 2000)}
    )
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def predictions(first: int, n: int, *, shift: float, start: datetime) -> pa.Table:
    rng = np.random.default_rng(first)
    return pa.table(
        {
            "id": [f"r{i:06d}" for i in range(first, first + n)],
            "timestamp": pa.array(
                [start + timedelta(seconds=i) for i in range(n)], pa.timestamp("us")
            ),
            "model_version": ["1"] * n,
            "latency_ms": rng.exponential(10, n),
            "error": pa.nulls(n, pa.string()),
            "x": rng.normal(shift, 1, n),
            "yhat": rng.normal(0, 1, n),
        }
    )


@pytest.fixture
def model(store_url: str) -> Iterator[tuple[SqlStore, ModelInfo]]:  # noqa: F811
    store = open_store(store_url)
    spec = spec_from_dict(SPEC)
    info = store.register_model("m", "1", spec.to_dict(), layout_for(spec).stored(), "DOUBLE")
    store.put_reference(info, "1", reference(), 2000)
    try:
        yield store, info
    finally:
        store.close()


def expected_points(
    name: str,
    params: dict[str, object],
    values: list[float],
    ts: list[datetime],
    column: str,
    *,
    mean: float = 0.0,
    sigma: float = 1.0,
) -> dict[datetime, float]:
    """Window start -> position of the latest detection there, from one uninterrupted run."""
    config = DetectorConfig(name, check_params(name, params, where="test"), "numeric")
    detector = make_detector(config, mean=mean, sigma=sigma)
    out = {}
    for value, when in zip(values, ts, strict=True):
        if detector.update(value):
            out[when.replace(minute=0, second=0, microsecond=0)] = float(detector.position)
    return out


def stored(store: SqlStore, model: ModelInfo, metric: str, column: str) -> dict[datetime, float]:
    points = store.read_points(
        model,
        metric=metric,
        column=column,
        segment="",
        version=None,
        kind="tumbling",
        since=None,
        until=None,
        limit=10_000,
    )
    return {p.start: p.value for p in points if p.value is not None}


def test_detectors_continued_chunk_by_chunk_fire_where_one_run_fires(
    model: tuple[SqlStore, ModelInfo],
) -> None:
    store, info = model
    tables = [
        predictions(0, 1500, shift=0.0, start=HOUR),
        predictions(1500, 1500, shift=0.0, start=HOUR + timedelta(hours=1)),
        predictions(3000, 1500, shift=1.5, start=HOUR + timedelta(hours=2)),
    ]
    fed = 0
    for table in tables:  # each batch stored, then read by a detector just "restarted"
        store.write_predictions(info, [table], [], window_seconds=3600)
        runner = StreamDetectors(store, {"m": STREAMS[:2]}, size_of=lambda _: 3600, chunk=257)
        fed += runner.run()
    assert fed == 2 * 4500
    assert StreamDetectors(store, {"m": STREAMS[:2]}, size_of=lambda _: 3600).run() == 0

    whole = pa.concat_tables(tables)
    x, ts = whole.column("x").to_pylist(), whole.column("timestamp").to_pylist()
    ref = pq.read_table(io.BytesIO(reference())).column("x").to_numpy()
    moments = {"mean": float(ref.mean()), "sigma": float(ref.std(ddof=1))}
    adwin = expected_points("adwin", {}, x, ts, "x", **moments)  # standardised, as CUSUM
    cusum = expected_points("cusum", {"h": 8.0}, x, ts, "x", **moments)
    assert stored(store, info, "detect.adwin", "x") == adwin
    assert stored(store, info, "detect.cusum", "x") == cusum
    # the shift in the third hour is found there
    assert HOUR + timedelta(hours=2) in adwin and HOUR + timedelta(hours=2) in cusum


def test_the_error_stream_follows_the_order_labels_arrive_in(
    model: tuple[SqlStore, ModelInfo],
) -> None:
    store, info = model
    table = predictions(0, 3000, shift=0.0, start=HOUR)
    store.write_predictions(info, [table], [], window_seconds=3600)
    yhat = table.column("yhat").to_numpy()
    rng = np.random.default_rng(9)
    order = rng.permutation(3000)
    batches = [order[:1000], order[1000:2000], order[2000:]]
    noise = [1.0, 1.0, 4.0]  # the last labels to arrive are far off: the error grows
    fed_values: list[float] = []
    fed_ts: list[datetime] = []
    runner = StreamDetectors(store, {"m": STREAMS[2:]}, size_of=lambda _: 3600, chunk=500)
    for ids, scale in zip(batches, noise, strict=True):
        ids = np.sort(ids)  # within a batch rows go by id
        y = yhat[ids] + rng.normal(0, scale, ids.size)
        labels = pa.table(
            {
                "id": [f"r{i:06d}" for i in ids],
                "label": y,
                "timestamp": pa.array([HOUR] * ids.size, pa.timestamp("us")),
            }
        )
        store.write_labels(info, [labels], [], window_seconds=3600)
        runner.run()
        fed_values += np.abs(yhat[ids] - y).tolist()
        fed_ts += [table.column("timestamp")[int(i)].as_py() for i in ids]
    ref = pq.read_table(io.BytesIO(reference()))
    ref_error = np.abs(ref.column("yhat").to_numpy() - ref.column("y").to_numpy())
    expected = expected_points(  # the error standardised by the reference's error
        "page_hinkley",
        {"threshold": 20.0},
        fed_values,
        fed_ts,
        "error",
        mean=float(ref_error.mean()),
        sigma=float(ref_error.std(ddof=1)),
    )
    assert expected, "the growing error was detected"
    assert stored(store, info, "detect.page_hinkley", "error") == expected


def test_a_detection_goes_with_its_window_and_survives_the_window_being_recomputed(
    model: tuple[SqlStore, ModelInfo],
) -> None:
    store, info = model
    runner = StreamDetectors(store, {"m": STREAMS[:1]}, size_of=lambda _: 3600)
    monitor = Monitor(
        store,
        {},
        default_plan=WindowPlan(rolling_seconds=None, min_rows=10),
        clock=lambda: HOUR + timedelta(hours=5),
    )
    monitor.before_tick = runner.run
    monitor.extra_points = lambda m, points: window_points(store, m, points)
    store.write_predictions(
        info, [predictions(0, 2000, shift=0.0, start=HOUR)], [], window_seconds=3600
    )
    store.write_predictions(
        info,
        [predictions(2000, 1000, shift=2.0, start=HOUR + timedelta(hours=1))],
        [],
        window_seconds=3600,
    )
    summary = monitor.tick()
    window = next(r for r in summary.computed if r.key.start == HOUR + timedelta(hours=1))
    carried = [p for p in window.points if p.metric == "detect.adwin"]
    assert len(carried) == 1 and carried[0].column == "x" and carried[0].status == "none"
    # an alert rule on detections judges the window that carries one, and only that one
    rules = parse_rules(
        [{"name": "x-changed", "metric": "detect.adwin", "columns": ["x"], "above": {"warning": 1}}]
    )
    by_window = {r.key.start: judge(rules, "m", r.points) for r in summary.computed}
    assert [f.severity for f in by_window[HOUR + timedelta(hours=1)]] == ["warning"]
    assert by_window[HOUR] == []
    # more rows for that window: it is computed again, the detection stays
    store.write_predictions(
        info,
        [predictions(3000, 100, shift=2.0, start=HOUR + timedelta(hours=1))],
        [],
        window_seconds=3600,
    )
    monitor.tick()
    assert stored(store, info, "detect.adwin", "x").keys() == {HOUR + timedelta(hours=1)}


def test_a_detector_whose_state_cannot_be_read_starts_fresh_and_says_so(
    model: tuple[SqlStore, ModelInfo], caplog: pytest.LogCaptureFixture
) -> None:
    store, info = model
    store.write_predictions(
        info, [predictions(0, 300, shift=0.0, start=HOUR)], [], window_seconds=3600
    )
    StreamDetectors(store, {"m": STREAMS[:1]}, size_of=lambda _: 3600).run()
    store.write_predictions(
        info,
        [predictions(300, 300, shift=0.0, start=HOUR + timedelta(hours=1))],
        [],
        window_seconds=3600,
    )
    # the config changed the detector's parameters: the stored state is not its state
    other = (StreamConfig("x", "adwin", {"delta": 0.01}),)
    assert StreamDetectors(store, {"m": other}, size_of=lambda _: 3600).run() == 300
    assert "starts fresh" in caplog.text
    assert stored(store, info, "detect.fresh_start", "x") == {HOUR + timedelta(hours=1): 0.0}
    assert store.stream_cursor(info, "x", "adwin").position == 300


@pytest.mark.parametrize(
    ("stream", "message"),
    [
        (StreamConfig("nope", None, {}), "stream 'nope' is not `error`, `score` or a numeric"),
        (StreamConfig("score", None, {}), "needs exactly one score column"),
        (StreamConfig("x", "ddm", {}), "ddm reads binary streams and 'x' is numeric"),
        (StreamConfig("x", "adwin", {"delta": "x"}), "adwin.delta must be float"),
    ],
)
def test_a_stream_the_spec_cannot_give_is_a_config_error(
    stream: StreamConfig, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        resolve(spec_from_dict(SPEC), stream, where="models.m.streams[0]")


def test_the_binary_error_stream_defaults_to_adwin_and_detections_are_alertable() -> None:
    spec = spec_from_dict(
        {
            **SPEC,
            "task": "binary",
            "columns": {
                "x": {"role": "feature", "kind": "numeric"},
                "yhat": {"role": "prediction", "kind": "categorical"},
                "y": {"role": "target", "kind": "categorical"},
            },
        }
    )
    resolved = resolve(spec, StreamConfig("error", None, {}), where="w")
    assert (resolved.config.name, resolved.config.stream, resolved.stream) == (
        "adwin",
        "binary",
        "error",
    )
    assert {f"detect.{name}" for name in DETECTORS} <= column_metrics()
    rules = parse_rules(
        [
            {
                "name": "drifting",
                "metric": "detect.adwin",
                "columns": ["error"],
                "above": {"warning": 0, "critical": 0},
            }
        ]
    )
    assert rules[0].metric == "detect.adwin"
