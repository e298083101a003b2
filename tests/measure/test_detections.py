"""The stream detectors of a one-off report (`vigil.measure.detections`): the same detections
as River's detectors run directly over the same stream in time order, none on unshifted
scikit-learn data, a detection soon after a planted change, `streams:` entries checked, the
result through JSON, the terminal and HTML, off in the service's windows, and redone on late
labels."""

from __future__ import annotations

import dataclasses
import io
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console
from river import drift
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import train_test_split
from tests.conftest import model_logs
from tests.test_cli import run
from tests.test_late_labels import relabel, same

from vigil.detect import Cusum, CusumParams
from vigil.errors import SpecError
from vigil.evaluation import PreparedReference, evaluate, profile_dataset
from vigil.ingest.layout import layout_for
from vigil.late_labels import evaluate_labels
from vigil.measure.detections import without_detections
from vigil.monitor.references import PreparedVersion
from vigil.monitor.scheduler import Monitor
from vigil.monitor.windows import WindowPlan
from vigil.report.html import render_html
from vigil.report.json import read_report, report_to_json
from vigil.report.terminal import render_terminal
from vigil.spec import Spec, StreamOptions, spec_from_dict
from vigil.store import open_store

START = datetime(2026, 1, 1)


def binary_spec(streams: list[dict[str, Any]] | None = None, *, timestamp: bool = True) -> Spec:
    columns: dict[str, Any] = {
        "x": {"role": "feature", "kind": "numeric"},
        "score": {"role": "score"},
        "pred": {"role": "prediction"},
        "y": {"role": "target"},
    }
    if timestamp:
        columns["ts"] = {"role": "timestamp"}
    data: dict[str, Any] = {"version": 1, "task": "binary", "columns": columns}
    if streams is not None:
        data["streams"] = streams
    return spec_from_dict(data)


def binary_set(n: int, seed: int, *, shift_at: int | None = None, shuffle: bool = True) -> pa.Table:
    """A scored binary set; from row `shift_at` (in time order) the scores and the errors move.
    Rows are stored shuffled, so only the timestamp gives the order."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, n)
    score = 1 / (1 + np.exp(-2 * x))
    y = (rng.random(n) < score).astype(int)
    if shift_at is not None:
        score[shift_at:] = np.clip(score[shift_at:] + 0.35, 0, 1)
        flip = rng.random(n - shift_at) < 0.3
        y[shift_at:] = np.where(flip, 1 - y[shift_at:], y[shift_at:])
    pred = (score >= 0.5).astype(int)
    ts = [START + timedelta(minutes=i) for i in range(n)]
    order = rng.permutation(n) if shuffle else np.arange(n)
    return pa.table(
        {
            "x": x[order],
            "score": score[order],
            "pred": pred[order],
            "y": y[order],
            "ts": pa.array([ts[i] for i in order], pa.timestamp("us")),
        }
    )


def river_positions(detector: Any, values: np.ndarray) -> list[int]:
    found = []
    for i, v in enumerate(values.tolist(), start=1):
        detector.update(v)
        if detector.drift_detected:
            found.append(i)
    return found


def in_time_order(table: pa.Table) -> pa.Table:
    return table.take(np.argsort(table.column("ts").to_numpy(), kind="stable"))


def test_detections_equal_rivers_detectors_run_directly_in_time_order() -> None:
    reference = binary_set(1000, 1)
    current = binary_set(3000, 2, shift_at=1500)
    spec = binary_spec(
        [
            {"stream": "score", "detector": "adwin"},
            {"stream": "x", "detector": "page_hinkley", "params": {"threshold": 20.0}},
            {"stream": "error", "detector": "ddm"},
            {"stream": "error", "detector": "adwin", "params": {"delta": 0.01}},
        ]
    )
    d = evaluate(reference, current, spec).detections
    assert d is not None and d.order == "timestamp" and d.timestamp_column == "ts"
    ordered = in_time_order(current)
    score = ordered.column("score").to_numpy()
    error = (ordered.column("pred").to_numpy() != ordered.column("y").to_numpy()).astype(float)

    def z(column: str, values: np.ndarray) -> np.ndarray:
        """A numeric stream as the detectors read it: standardised by the reference's."""
        ref = reference.column(column).to_numpy()
        return (values - ref.mean()) / ref.std(ddof=1)

    expected = {
        ("score", "adwin"): river_positions(drift.ADWIN(delta=0.002), z("score", score)),
        ("x", "page_hinkley"): river_positions(
            drift.PageHinkley(min_instances=30, delta=0.005, threshold=20.0),
            z("x", ordered.column("x").to_numpy()),
        ),
        ("error", "ddm"): river_positions(drift.binary.DDM(warm_start=30), error),
        ("error", "adwin"): river_positions(drift.ADWIN(delta=0.01), error),
    }
    got = {(s.stream, s.detector): [x.position for x in s.detections] for s in d.streams}
    assert got == expected
    assert expected[("score", "adwin")], "the planted shift must give River a detection"
    for s in d.streams:
        assert s.records == 3000
        times = ordered.column("ts").to_pylist()
        for x in s.detections:  # each detection names the record it fired at
            assert current.column("ts")[x.row].as_py() == times[x.position - 1]
            assert x.timestamp == times[x.position - 1].isoformat()
    # ADWIN's estimate of the start is its cut: the width it keeps after the detection
    adwin, starts = drift.ADWIN(delta=0.002), []
    for i, v in enumerate(z("score", score).tolist(), start=1):
        adwin.update(v)
        if adwin.drift_detected:
            starts.append(i - int(adwin.width) + 1)
    assert [x.change_start for x in d.streams[0].detections] == starts


def test_cusum_is_standardised_by_the_reference() -> None:
    reference = binary_set(1000, 3)
    current = binary_set(2000, 4, shift_at=1000)
    spec = binary_spec([{"stream": "score", "detector": "cusum", "params": {"h": 6.0}}])
    d = evaluate(reference, current, spec).detections
    assert d is not None
    run = d.streams[0]
    ref_score = reference.column("score").to_numpy()
    assert run.reference_mean == pytest.approx(float(np.mean(ref_score)))
    assert run.reference_sigma == pytest.approx(float(np.std(ref_score, ddof=1)))
    cusum = Cusum(CusumParams(float(np.mean(ref_score)), float(np.std(ref_score, ddof=1)), h=6.0))
    score = in_time_order(current).column("score").to_numpy()
    expected = [i for i, v in enumerate(score.tolist(), start=1) if cusum.update(v)]
    assert [x.position for x in run.detections] == expected != []
    assert run.library == "vigil"


def _breast_cancer(seed: int) -> tuple[pa.Table, pa.Table]:
    data = load_breast_cancer()
    x_train, x_rest, y_train, y_rest = train_test_split(
        data.data, data.target, test_size=0.6, random_state=0, stratify=data.target
    )
    model = LogisticRegression(max_iter=5000).fit(x_train, y_train)
    p = model.predict_proba(x_rest)[:, 1]
    table = pa.table(
        {"mean_radius": x_rest[:, 0], "y": y_rest, "score": p, "pred": (p >= 0.5).astype(int)}
    )
    table = table.take(np.random.default_rng(seed).permutation(table.num_rows))
    half = table.num_rows // 2
    return table.slice(0, half), table.slice(half)


@pytest.mark.parametrize("seed", range(5))
def test_unshifted_breast_cancer_gives_no_detection_with_the_default(seed: int) -> None:
    reference, current = _breast_cancer(seed)
    spec = spec_from_dict(
        {
            "version": 1,
            "task": "binary",
            "columns": {
                "mean_radius": {"role": "feature"},
                "score": {"role": "score"},
                "pred": {"role": "prediction"},
                "y": {"role": "target"},
            },
            "streams": [{"stream": "score"}, {"stream": "error"}, {"stream": "mean_radius"}],
        }
    )
    d = evaluate(reference, current, spec).detections
    assert d is not None and d.order == "row"
    assert [(s.stream, s.detector, s.records) for s in d.streams] == [
        ("score", "adwin", current.num_rows),
        ("error", "adwin", current.num_rows),
        ("mean_radius", "adwin", current.num_rows),
    ]
    assert all(s.detections == () for s in d.streams)


@pytest.mark.parametrize("seed", range(3))
def test_unshifted_diabetes_regression_errors_give_no_detection(seed: int) -> None:
    data = load_diabetes()
    model = LinearRegression().fit(data.data[:150], data.target[:150])
    rest = np.arange(150, len(data.target))
    rest = np.random.default_rng(seed).permutation(rest)
    table = pa.table(
        {"bmi": data.data[rest, 2], "pred": model.predict(data.data[rest]), "y": data.target[rest]}
    )
    spec = spec_from_dict(
        {
            "version": 1,
            "task": "regression",
            "columns": {
                "bmi": {"role": "feature"},
                "pred": {"role": "prediction"},
                "y": {"role": "target"},
            },
        }
    )
    half = table.num_rows // 2
    d = evaluate(table.slice(0, half), table.slice(half), spec).detections
    assert d is not None and [s.stream for s in d.streams] == ["error"]  # no score column
    assert d.streams[0].detections == ()


@pytest.mark.parametrize("seed", range(3))
def test_a_shift_half_way_is_found_soon_after_and_not_before(seed: int) -> None:
    current = binary_set(4000, 10 + seed, shift_at=2000)
    d = evaluate(binary_set(1000, 20 + seed), current, binary_spec()).detections
    assert d is not None
    runs = {s.stream: s for s in d.streams}
    assert set(runs) == {"score", "error"}  # the defaults
    for stream, bound in (("score", 150), ("error", 600)):
        positions = [x.position for x in runs[stream].detections]
        assert positions, stream
        assert 2000 < positions[0] <= 2000 + bound, (stream, positions)


def test_a_set_without_a_timestamp_is_read_in_row_order_and_says_so() -> None:
    table = binary_set(2000, 5, shift_at=1000, shuffle=False).drop(["ts"])
    spec = binary_spec(timestamp=False)
    report = evaluate(binary_set(500, 6).drop(["ts"]), table, spec)
    d = report.detections
    assert d is not None and d.order == "row" and d.timestamp_column is None
    assert all(
        x.timestamp is None and x.row == x.position - 1 for s in d.streams for x in s.detections
    )
    console = Console(width=160, record=True)
    render_terminal(report, console)
    text = console.export_text()
    assert "Change detectors over the current set" in text
    assert "in row order: the spec has no timestamp column" in text
    assert "in row order" in render_html(report)


def test_records_without_a_timestamp_are_read_last_and_counted() -> None:
    table = binary_set(600, 7)
    ts = table.column("ts").to_pylist()
    ts[0] = ts[5] = None
    table = table.set_column(4, "ts", pa.array(ts, pa.timestamp("us")))
    d = evaluate(binary_set(300, 8), table, binary_spec([{"stream": "score"}])).detections
    assert d is not None and d.unordered == 2 and d.streams[0].records == 600


@pytest.mark.parametrize(
    ("streams", "message"),
    [
        (
            [{"stream": "score", "detector": "adwinn"}],
            "streams[0].detector: unknown detector 'adwinn'",
        ),
        (
            [{"stream": "score"}, {"stream": "x", "detector": "adwin", "params": {"delt": 0.1}}],
            "streams[1].params: adwin has no parameter 'delt'",
        ),
        (
            [{"stream": "score", "detector": "cusum", "params": {"h": "high"}}],
            "streams[0].params: cusum.h must be float",
        ),
        ([{"stream": "colour"}], "streams[0].stream: 'colour' is not `error`, `score`"),
        ([{"stream": "score", "detector": "ddm"}], "streams[0].detector: ddm reads 0/1 streams"),
        ([{"stream": "score", "params": {"delta": 0.1}}], "streams[0].params: parameters need"),
        ([{"stream": "score", "window": 5}], "streams.0.window"),
        ([{"detector": "adwin"}], "streams.0.stream"),
        ([{"stream": "score"}, {"stream": "score"}], "streams[1]: stream 'score'"),
        ("score", "streams"),
    ],
)
def test_bad_streams_entries_are_refused_naming_the_entry_and_key(
    streams: Any, message: str
) -> None:
    with pytest.raises(SpecError) as err:
        binary_spec(streams)
    assert message in str(err.value)


def test_a_named_score_stream_without_one_score_column_is_a_spec_error() -> None:
    spec = spec_from_dict(
        {
            "version": 1,
            "task": "regression",
            "columns": {"x": {"role": "feature"}, "pred": {"role": "prediction"}},
            "streams": [{"stream": "score"}],
        }
    )
    table = pa.table({"x": np.arange(50.0), "pred": np.arange(50.0)})
    with pytest.raises(SpecError, match=r"streams\[0\]: the score stream needs exactly one"):
        evaluate(table, table, spec)


def test_streams_round_trip_through_the_spec_and_an_empty_list_runs_none() -> None:
    entries = [{"stream": "x", "detector": "kswin", "params": {"alpha": 0.001, "seed": 3}}]
    spec = binary_spec(entries)
    assert spec.to_dict()["streams"] == entries
    assert spec_from_dict(spec.to_dict()) == spec
    assert "streams" not in binary_spec().to_dict()  # a spec without them reads as before
    off = binary_spec([])
    assert off == without_detections(binary_spec()) and off.to_dict()["streams"] == []
    assert evaluate(binary_set(200, 1), binary_set(200, 2), off).detections is None


def test_a_missing_label_column_skips_the_named_error_stream_with_the_reason() -> None:
    spec = binary_spec([{"stream": "error"}, {"stream": "score"}])
    d = evaluate(binary_set(300, 1), binary_set(300, 2).drop(["y"]), spec).detections
    assert d is not None
    assert [s.stream for s in d.streams] == ["score"]
    assert d.skipped == (("error", "the current set has no labels"),)


def test_json_round_trip_and_html_escape_a_hostile_column_name() -> None:
    hostile = "<script>alert('x')</script>"
    spec = spec_from_dict(
        {
            "version": 1,
            "task": "binary",
            "columns": {
                hostile: {"role": "feature", "kind": "numeric"},
                "score": {"role": "score"},
                "pred": {"role": "prediction"},
                "y": {"role": "target"},
                "ts": {"role": "timestamp"},
            },
            "streams": [{"stream": hostile, "detector": "page_hinkley"}, {"stream": "score"}],
        }
    )

    def rename(t: pa.Table) -> pa.Table:
        return t.rename_columns([hostile if n == "x" else n for n in t.column_names])

    current = binary_set(3000, 9, shift_at=1500)
    x = current.column("x").to_numpy() + 3 * (current.column("score").to_numpy() > 0.9)
    current = current.set_column(0, "x", pa.array(x))
    report = evaluate(rename(binary_set(800, 10)), rename(current), spec)
    assert report.detections is not None
    assert any(s.detections for s in report.detections.streams)
    back = read_report(report_to_json(report))
    assert back.detections == report.detections
    assert report_to_json(back) == report_to_json(report)
    page = render_html(report)
    assert hostile not in page
    assert "&lt;script&gt;alert(" in page


def test_service_windows_run_no_report_detectors() -> None:
    spec = binary_spec([{"stream": "score"}])
    version = PreparedVersion(binary_set(500, 1), spec)
    assert version.window_spec.streams == ()
    assert version.spec.streams == spec.streams  # the registered spec is kept as it was
    prepared = PreparedReference(binary_set(500, 1), version.window_spec)
    assert evaluate(prepared, binary_set(400, 2, shift_at=200)).detections is None


def test_late_labels_redo_the_error_stream_as_a_whole_evaluate_would() -> None:
    spec = binary_spec()
    prepared = PreparedReference(binary_set(1000, 1), spec)
    after = binary_set(3000, 2, shift_at=1500)
    before = relabel(after, list(range(3000)), [None] * 3000)
    previous = evaluate(prepared, before, spec)
    assert previous.detections is not None
    assert [s.stream for s in previous.detections.streams] == ["score", "error"]
    assert previous.detections.streams[1].records == 0
    whole = evaluate(prepared, after, spec)
    same(whole, evaluate_labels(previous, prepared, after))
    assert whole.detections is not None and whole.detections.streams[1].records == 3000
    assert whole.detections.streams[1].detections


def test_a_window_computed_by_the_monitor_on_a_real_store_runs_none(tmp_path: Path) -> None:
    """Through the service's path (DuckDB store, Monitor.tick): a model whose spec asks for
    report-side detectors gets none in its windows' reports, stored or returned; the same
    rows through `evaluate` get them."""
    spec = binary_spec([{"stream": "score"}, {"stream": "x", "detector": "cusum"}], timestamp=False)
    store = open_store(tmp_path / "w.duckdb")
    model = store.register_model("m", "1", spec.to_dict(), layout_for(spec).stored(), "VARCHAR")
    reference = binary_set(1000, 1).drop(["ts"])
    sink = io.BytesIO()
    pq.write_table(reference, sink)
    store.put_reference(model, "1", sink.getvalue(), reference.num_rows)
    rows = binary_set(2000, 2, shift_at=1000)
    batch = pa.table(
        {
            "id": [f"r{i}" for i in range(rows.num_rows)],
            "timestamp": rows.column("ts"),
            "model_version": ["1"] * rows.num_rows,
            "latency_ms": np.full(rows.num_rows, 5.0),
            "error": pa.nulls(rows.num_rows, pa.string()),
            "x": rows.column("x"),
            "score": rows.column("score"),
            "pred": pa.array([str(v) for v in rows.column("pred").to_pylist()]),
        }
    )
    store.write_predictions(model, [batch], [], window_seconds=86_400)
    now = START + timedelta(days=3)
    monitor = Monitor(
        store, {}, default_plan=WindowPlan(rolling_seconds=None, min_rows=10), clock=lambda: now
    )
    computed = monitor.tick().computed
    assert computed and all(r.report.detections is None for r in computed)
    for r in computed:
        stored = store.window_report(model, "1", "tumbling", r.key.start)
        assert stored is not None and '"detections"' not in stored[1]
    whole = evaluate(reference, in_time_order(rows).drop(["y", "ts"]), spec).detections
    assert whole is not None and [s.stream for s in whole.streams] == ["score", "x"]
    assert whole.streams[0].detections
    store.close()


def test_a_multiclass_spec_skips_the_default_score_stream_and_watches_its_errors() -> None:
    rng = np.random.default_rng(0)

    def table(n: int) -> pa.Table:
        p = rng.dirichlet([2, 2, 2], n)
        y = np.array([rng.choice(3, p=row) for row in p])
        return pa.table(
            {
                "s0": p[:, 0],
                "s1": p[:, 1],
                "s2": p[:, 2],
                "pred": [str(v) for v in p.argmax(1)],
                "y": [str(v) for v in y],
            }
        )

    spec = spec_from_dict(
        {
            "version": 1,
            "task": "multiclass",
            "columns": {
                "s0": {"role": "score", "class": "0"},
                "s1": {"role": "score", "class": "1"},
                "s2": {"role": "score", "class": "2"},
                "pred": {"role": "prediction"},
                "y": {"role": "target"},
            },
        }
    )
    d = evaluate(table(600), table(600), spec).detections
    assert d is not None and [s.stream for s in d.streams] == ["error"] and d.skipped == ()
    named = dataclasses.replace(spec, streams=(StreamOptions("s1"),))
    d = evaluate(table(600), table(600), named).detections
    assert d is not None and [s.stream for s in d.streams] == ["s1"]


def test_vigil_report_prints_writes_and_refuses_streams(tmp_path: Path) -> None:
    """The command as a user runs it: the table in the terminal, the key in the JSON, and a
    bad entry refused in one line naming it (exit 2)."""
    pq.write_table(model_logs(3000, seed=11), tmp_path / "ref.parquet")
    shifted = pa.concat_tables([model_logs(2000, seed=12), model_logs(2000, seed=13, shift=1.5)])
    pq.write_table(shifted, tmp_path / "cur.parquet")
    spec = """version: 1
task: binary
columns:
  x1: {role: feature}
  score: {role: score}
  prediction: {role: prediction}
  target: {role: target}
streams:
  - {stream: x1, detector: cusum}
  - {stream: score}
"""
    (tmp_path / "vigil.yaml").write_text(spec)
    args = ["report", "--reference", str(tmp_path / "ref.parquet"), "--current"]
    args += [str(tmp_path / "cur.parquet"), "--spec", str(tmp_path / "vigil.yaml")]
    done = run(*args, "--json", str(tmp_path / "out.json"))
    assert done.returncode in (0, 1), done.stderr
    assert "Change detectors over the current set" in done.stdout
    assert "in row order: the spec has no timestamp column" in done.stdout
    document = json.loads((tmp_path / "out.json").read_text())
    streams = document["detections"]["streams"]
    assert [(s["stream"], s["detector"]) for s in streams] == [("x1", "cusum"), ("score", "adwin")]
    first = streams[0]["detections"][0]["position"]
    assert 2000 < first <= 2050, first  # CUSUM on a 1.5σ shift: within tens of records
    bad = spec.replace("{stream: score}", "{stream: score, bogus: 1}")
    (tmp_path / "vigil.yaml").write_text(bad)
    refused = run(*args)
    assert refused.returncode == 2
    assert "streams.1.bogus" in refused.stderr and "Traceback" not in refused.stderr


def test_against_a_saved_profile_features_run_as_against_the_rows_and_the_error_is_skipped() -> (
    None
):
    """A numeric stream is standardised by the reference's mean and σ: a feature's or score's
    column profile keeps them (the same numbers), the regression error's is not in a profile."""
    spec = binary_spec(
        [
            {"stream": "x", "detector": "cusum"},
            {"stream": "x", "detector": "adwin"},
            {"stream": "score", "detector": "page_hinkley"},
            {"stream": "error", "detector": "adwin"},
            {"stream": "error", "detector": "cusum"},
        ],
        timestamp=False,
    )
    reference = binary_set(1000, 1).drop(["ts"])
    profile = profile_dataset(reference, spec)
    current = in_time_order(binary_set(2000, 2, shift_at=1000)).drop(["ts"])
    d = evaluate(profile, current, spec).detections
    rows = evaluate(reference, current, spec).detections
    assert d is not None and rows is not None
    ran = [(s.stream, s.detector) for s in d.streams]
    assert ran == [("x", "cusum"), ("x", "adwin"), ("score", "page_hinkley"), ("error", "adwin")]
    by_rows = {(s.stream, s.detector): s for s in rows.streams}
    for s in d.streams:
        twin = by_rows[(s.stream, s.detector)]
        assert [x.position for x in s.detections] == [x.position for x in twin.detections]
    assert any(s.detections for s in d.streams), "the planted shift is found"
    ((stream, why),) = d.skipped
    assert stream == "error" and "saved profile" in why


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_with_a_timestamp_the_rows_order_in_the_file_changes_nothing(seed: int) -> None:
    """Time order is the order: any shuffle of the rows gives the same detections, at the
    same positions and timestamps, each naming its record's row in the shuffled set."""
    spec = binary_spec([{"stream": "score"}, {"stream": "x", "detector": "cusum"}])
    reference, current = binary_set(400, 1), binary_set(1500, 2, shift_at=700, shuffle=False)
    shuffled = current.take(np.random.default_rng(seed).permutation(current.num_rows))
    a = evaluate(reference, current, spec).detections
    b = evaluate(reference, shuffled, spec).detections
    assert a is not None and b is not None
    for s, t in zip(a.streams, b.streams, strict=True):
        assert [(x.position, x.timestamp, x.change_start) for x in s.detections] == [
            (x.position, x.timestamp, x.change_start) for x in t.detections
        ]
        for x in t.detections:
            assert shuffled.column("ts")[x.row].as_py().isoformat() == x.timestamp
    assert any(s.detections for s in a.streams)
