"""The Spark engine against the in-memory path, on a real local Spark (`vigil.spark`).

Every report `vigil.spark` gives is compared with the one `vigil.summaries.evaluate_summary`
gives for the same rows summarised in memory (every number, to float rounding; the exact
measures exactly), and its exact measures with `vigil.evaluate` on the rows themselves. One
Spark session serves the module (a JVM takes seconds to start).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from tests.conftest import model_logs

from vigil import evaluate as evaluate_in_memory
from vigil.cli import main
from vigil.errors import NotEnoughData, SpecError, VigilError
from vigil.evaluation import infer_spec
from vigil.profile import CategoricalProfile, DatasetProfile
from vigil.report.json import report_to_dict
from vigil.report.model import Report
from vigil.spec import Spec, dump_spec
from vigil.spec.methods import DRIFT_METHODS
from vigil.spec.values import category_strings

pyspark = pytest.importorskip("pyspark")

import vigil.spark  # noqa: E402
from vigil.spark.partitions import OTHER, Plan, groups, merge, summarise, window_starts  # noqa: E402
from vigil.spark.session import _python_error  # noqa: E402
from vigil.summaries import (  # noqa: E402
    ReferenceSketch,
    Summary,
    evaluate_summary,
    reference_profile,
)

pytestmark = [
    pytest.mark.spark,
    # pyspark 4 warns on each Arrow UDF under pandas 3; vigil's own calls silence it
    pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning"),
]
DAY = timedelta(days=1)
START = datetime(2024, 3, 1, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def spark() -> Any:
    from pyspark.sql import SparkSession

    vigil.spark.session.check_java()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    session = (
        SparkSession.builder.master("local[2]")
        .appName("vigil-tests")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.default.parallelism", "2")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.memory", "1g")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def frame(spark: Any, table: pa.Table, tmp: Path, name: str, partitions: int | None = None) -> Any:
    """The table as Spark reads it from a Parquet file, in `partitions` partitions."""
    path = tmp / f"{name}.parquet"
    pq.write_table(table, path)
    df = spark.read.parquet(str(path))
    return df if partitions is None else df.repartition(partitions)


def in_memory_profile(table: pa.Table, spec: Spec, batch_rows: int = 50) -> DatasetProfile:
    """The reference profile `vigil.summaries` builds from the rows, in batches."""
    sketch = ReferenceSketch.empty(spec)
    for batch in table.to_batches(max_chunksize=batch_rows):
        sketch.add(batch)
    summary = Summary.empty(sketch.layout(), spec)
    for batch in table.to_batches(max_chunksize=batch_rows):
        summary.add(batch)
    return reference_profile(sketch, summary, spec, source="reference")


def in_memory_report(
    reference: DatasetProfile, table: pa.Table, spec: Spec, *, saved: bool = True
) -> Report:
    """The report from the same rows in memory; `saved`: the reference is a saved profile
    (False: rows summarised for the report, a Spark DataFrame)."""
    summary = Summary.empty(reference, spec)
    summary.add(table)
    return evaluate_summary(reference, summary, spec, source="current", reference_is_profile=saved)


def comparable(report: Report) -> dict[str, Any]:
    """The report's JSON without its time and notes, and without the current medians, which
    come from quantile sketches merged in another order (`assert_medians` checks them)."""
    doc = report_to_dict(report)
    for key in ("created", "notes"):
        doc.pop(key, None)
    for side in ("reference", "current"):  # the sets' names
        doc[side].pop("source", None)
    for entry in doc["quality"]["columns"].values():
        (entry.get("current_stats") or {}).pop("median", None)
    return doc


def assert_medians(report: Report, table: pa.Table) -> None:
    """Each numeric column's current median lies between the rows' quantiles at 0.5 ± 3 %
    (the KLL sketch's rank error at k = 200 is about 1.3 %)."""
    checked = 0
    for name, entry in report_to_dict(report)["quality"]["columns"].items():
        median = (entry.get("current_stats") or {}).get("median")
        if median is None or name not in table.column_names:
            continue
        values = table.column(name).to_numpy(zero_copy_only=False).astype(float)
        values = values[np.isfinite(values)]
        low, high = np.quantile(values, [0.47, 0.53])
        assert low <= median <= high, f"{name}: median {median} outside [{low}, {high}]"
        checked += 1
    assert checked


def assert_close(a: Any, b: Any, where: str = "report") -> None:
    """Equal, floats to rounding (summaries merged in another order sum in another order)."""
    if isinstance(a, dict) and isinstance(b, dict):
        assert sorted(a) == sorted(b), where
        for key in a:
            assert_close(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_close(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert (math.isnan(a) and math.isnan(b)) or math.isclose(
            a, b, rel_tol=1e-9, abs_tol=1e-12
        ), f"{where}: {a} != {b}"
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def exact_measures(report: Report) -> dict[tuple[str, str], float | None]:
    """The histogram and category measures (methods reading counts) and the quality shares:
    what summaries give exactly."""
    found: dict[tuple[str, str], float | None] = {}
    for name, column in report.drift.columns.items():
        for method, value in column.metrics.items():
            if method in DRIFT_METHODS and DRIFT_METHODS[method].input == "counts":
                found[(name, method)] = value
    for name, quality in report.quality.columns.items():
        for share in ("missing_share", "infinite_share", "out_of_range_share", "unseen_share"):
            found[(name, share)] = getattr(quality, share)
        found[(name, "type_mismatches")] = quality.type_mismatches
    return found


def assert_same_profile(a: Any, b: Any, name: str) -> None:
    """Two column profiles equal: counts, edges and fences exactly, sums to rounding."""
    if isinstance(a, CategoricalProfile):
        assert a == b, name
        return
    for exact in ("count", "missing", "infinite", "min", "max", "fences", "outliers"):
        assert getattr(a, exact) == getattr(b, exact), f"{name}.{exact}"
    for array in ("edges", "counts", "fine_edges", "fine_counts"):
        assert np.array_equal(getattr(a, array), getattr(b, array)), f"{name}.{array}"
    for close in ("mean", "m2"):
        assert math.isclose(getattr(a, close), getattr(b, close), rel_tol=1e-9), name
    assert np.allclose(a.fine_offsets, b.fine_offsets, rtol=1e-9, atol=1e-12), name


def statuses(report: Report) -> dict[tuple[str, str | None], str]:
    return {(c.name, c.column): c.status for c in report.checks}


# --- scikit-learn's bundled sets and a generated shifted set ---------------------------


def sklearn_set(name: str) -> tuple[pa.Table, pa.Table, pa.Table]:
    """Reference (even rows), current (odd rows), and the current with two features moved."""
    loader = {"wine": load_wine, "breast_cancer": load_breast_cancer, "diabetes": load_diabetes}
    frame_ = loader[name](as_frame=True).frame
    table = pa.Table.from_pandas(frame_, preserve_index=False)
    even = pc.equal(pc.bit_wise_and(pa.array(np.arange(len(frame_))), 1), 0)
    reference, current = table.filter(even), table.filter(pc.invert(even))
    first, second = current.column_names[0], current.column_names[1]
    moved = current.set_column(
        0, first, pc.add(pc.multiply(current.column(first), 1.2), 0.5)
    ).set_column(1, second, pc.multiply(current.column(second), 0.7))
    return reference, current, moved


@pytest.mark.parametrize("name", ["wine", "breast_cancer", "diabetes"])
def test_reports_equal_the_in_memory_summaries(spark: Any, tmp_path: Path, name: str) -> None:
    reference, current, moved = sklearn_set(name)
    spec = infer_spec(reference, target="target")
    profile = in_memory_profile(reference, spec)
    for cur, label in ((current, "same"), (moved, "moved")):
        found = vigil.spark.evaluate(
            profile,
            frame(spark, cur, tmp_path, label, partitions=3),
            spec,
            sources=("reference", "current"),
        )
        expected = in_memory_report(profile, cur, spec)
        assert_close(comparable(found), comparable(expected))
        assert statuses(found) == statuses(expected)
        # the exact measures are those of the in-memory path on the rows themselves
        rows = evaluate_in_memory(profile, cur, spec)
        assert exact_measures(found) == exact_measures(rows)
        assert exact_measures(found)
    assert found.drift_status(moved.column_names[0]) in ("warning", "critical")


def test_the_report_says_it_ran_on_spark(spark: Any, tmp_path: Path) -> None:
    reference, current, _ = sklearn_set("wine")
    spec = infer_spec(reference, target="target")
    found = vigil.spark.evaluate(
        in_memory_profile(reference, spec), frame(spark, current, tmp_path, "cur", 3), spec
    )
    assert any("Computed on Spark (master local[2], 3 partitions" in n for n in found.notes)
    expected = in_memory_report(in_memory_profile(reference, spec), current, spec)
    assert set(expected.notes) <= set(found.notes)  # what is exact and approximate, kept


def test_a_reference_dataframe_gives_the_in_memory_profile(spark: Any, tmp_path: Path) -> None:
    # under 200 rows the quantile sketches are exact, so the edges cannot depend on partitions
    reference, _, moved = sklearn_set("wine")
    spec = infer_spec(reference, target="target")
    ref_df = frame(spark, reference, tmp_path, "ref", partitions=3)
    built = vigil.spark.profile(ref_df, spec)
    expected = in_memory_profile(reference, spec)
    for name in spec.names:
        assert_same_profile(built.columns[name], expected.columns[name], name)
    found = vigil.spark.evaluate(ref_df, frame(spark, moved, tmp_path, "cur", 2), spec)
    assert not found.reference.is_profile  # rows, summarised on the executors: not "saved"
    assert_close(
        comparable(found), comparable(in_memory_report(expected, moved, spec, saved=False))
    )


@pytest.mark.parametrize("partitions", [1, 3, 7, 12])  # 12: merged on the executors
def test_partitions_do_not_change_the_exact_numbers(
    spark: Any, tmp_path: Path, partitions: int
) -> None:
    reference, current = model_logs(3000, seed=1), model_logs(4000, seed=2, shift=0.4)
    spec = infer_spec(reference, target="target", prediction="prediction", scores=["score"])
    profile = in_memory_profile(reference, spec, batch_rows=1000)
    found = vigil.spark.evaluate(profile, frame(spark, current, tmp_path, "cur", partitions), spec)
    expected = in_memory_report(profile, current, spec)
    assert found.reference.is_profile
    assert exact_measures(found) == exact_measures(expected)
    assert statuses(found) == statuses(expected)
    assert_close(comparable(found), comparable(expected))
    assert_medians(found, current)


# --- windows and segments --------------------------------------------------------------


def timed_logs(n: int, *, seed: int, days: int, shift_from: int | None = None) -> pa.Table:
    """model_logs with a timestamp over `days` days and a segment column `shop`; from day
    `shift_from` on the features move."""
    rng = np.random.default_rng(seed)
    base = model_logs(n, seed=seed)
    day = rng.integers(0, days, n)
    seconds = rng.integers(0, 86_400, n)
    if shift_from is not None:
        moved = model_logs(n, seed=seed + 100, shift=0.8)
        later = day >= shift_from
        base = pa.table(
            {
                name: np.where(
                    later,
                    moved.column(name).to_numpy(zero_copy_only=False),
                    base.column(name).to_numpy(zero_copy_only=False),
                )
                for name in base.column_names
            }
        )
    stamps = [
        START + timedelta(days=int(d), seconds=int(s)) for d, s in zip(day, seconds, strict=True)
    ]
    shop = rng.choice(["north", "south", "east"], n, p=[0.5, 0.35, 0.15]).astype(object)
    shop[rng.random(n) < 0.03] = None
    return base.append_column("ts", pa.array(stamps, pa.timestamp("us", "UTC"))).append_column(
        "shop", pa.array(shop, pa.string())
    )


def window_rows(table: pa.Table, start: datetime) -> pa.Table:
    ts = table.column("ts")
    inside = pc.and_(
        pc.greater_equal(ts, pa.scalar(start, ts.type)),
        pc.less(ts, pa.scalar(start + DAY, ts.type)),
    )
    return table.filter(inside)


def segment_rows(table: pa.Table, value: str, top: list[str]) -> pa.Table:
    shop = category_strings(table.column("shop"))
    if value == OTHER:
        return table.filter(pc.fill_null(pc.invert(pc.is_in(shop, pa.array(top))), True))
    return table.filter(pc.fill_null(pc.equal(shop, value), False))


def test_windows_equal_each_day_evaluated_alone(spark: Any, tmp_path: Path) -> None:
    reference = timed_logs(2000, seed=3, days=1)
    current = timed_logs(5000, seed=4, days=5, shift_from=3)
    spec = infer_spec(reference, target="target", timestamp="ts", segments=["shop"])
    profile = in_memory_profile(reference, spec, batch_rows=500)
    found = vigil.spark.evaluate_windows(
        profile, frame(spark, current, tmp_path, "cur", 3), spec, every="1d"
    )
    wholes = [w for w in found if w.segment == ""]
    assert [w.start for w in wholes] == [START + i * DAY for i in range(5)]
    assert sum(w.rows for w in wholes) == current.num_rows
    top = ["north", "south", "east"]
    for w in found:
        rows = window_rows(current, w.start)
        if w.segment:
            rows = segment_rows(rows, w.segment.split("=", 1)[1], top)
        assert w.rows == rows.num_rows
        assert w.report is not None, w.reason
        expected = in_memory_report(profile, rows, spec)
        assert_close(comparable(w.report), comparable(expected), f"{w.start} {w.segment}")
        assert statuses(w.report) == statuses(expected)
    assert {w.segment for w in found} == {"", "shop=north", "shop=south", "shop=east", "shop=other"}
    by_day = {w.start: w.report.drift_status("x1") for w in wholes if w.report is not None}
    assert by_day[START] == "ok" and by_day[START + 4 * DAY] in ("warning", "critical")


def test_segments_of_a_reference_dataframe_have_their_own_reference(
    spark: Any, tmp_path: Path
) -> None:
    # under 200 reference rows per segment, so the sketches (and the edges) are exact
    reference = timed_logs(190, seed=5, days=1)
    current = timed_logs(900, seed=6, days=2, shift_from=1)
    spec = infer_spec(reference, timestamp="ts", segments=["shop"])
    found = vigil.spark.evaluate_windows(
        frame(spark, reference, tmp_path, "ref", 2),
        frame(spark, current, tmp_path, "cur", 3),
        spec,
        every="1d",
        top_segments=2,
    )
    top = ["north", "south"]  # the reference's two most frequent values
    assert {w.segment for w in found} == {"", "shop=north", "shop=south", "shop=other"}
    for w in found:
        value = w.segment.split("=", 1)[1] if w.segment else None
        ref_rows = reference if value is None else segment_rows(reference, value, top)
        rows = window_rows(current, w.start)
        rows = rows if value is None else segment_rows(rows, value, top)
        assert w.report is not None, w.reason
        expected = in_memory_report(in_memory_profile(ref_rows, spec), rows, spec, saved=False)
        assert_close(comparable(w.report), comparable(expected), f"{w.start} {w.segment}")


def test_rows_without_a_timestamp_are_counted_not_lost(spark: Any, tmp_path: Path) -> None:
    reference = timed_logs(500, seed=7, days=1)
    current = timed_logs(600, seed=8, days=2)
    gaps = pa.array(np.arange(current.num_rows) % 10 == 0)
    ts = pc.if_else(gaps, pa.scalar(None, current.column("ts").type), current.column("ts"))
    current = current.set_column(current.column_names.index("ts"), "ts", ts)
    spec = infer_spec(reference, timestamp="ts")
    found = vigil.spark.evaluate_windows(
        in_memory_profile(reference, spec),
        frame(spark, current, tmp_path, "cur", 2),
        spec,
        every="1d",
    )
    assert sum(w.rows for w in found if not w.segment) == current.num_rows - 60
    assert any("60 current rows have no 'ts'" in n for n in found[0].report.notes)


# --- hostile input ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def wine_spec() -> tuple[pa.Table, pa.Table, Spec]:
    reference, current, _ = sklearn_set("wine")
    return reference, current, infer_spec(reference, target="target")


def test_a_reference_lacking_a_spec_column_is_refused(
    spark: Any, tmp_path: Path, wine_spec: Any
) -> None:
    reference, current, spec = wine_spec
    ref_df = frame(spark, reference.drop_columns(["alcohol"]), tmp_path, "ref")
    with pytest.raises(SpecError, match=r"'alcohol'.*reference"):
        vigil.spark.evaluate(ref_df, frame(spark, current, tmp_path, "cur"), spec)


def test_wrong_types_missing_columns_and_nulls_are_judged_as_in_memory(
    spark: Any, tmp_path: Path, wine_spec: Any
) -> None:
    reference, current, spec = wine_spec
    profile = in_memory_profile(reference, spec)
    n = current.num_rows
    text = pa.array(
        [f"{v}" if i % 7 else "n/a" for i, v in enumerate(current["alcohol"].to_pylist())]
    )
    hostile = (
        current.drop_columns(["hue"])  # a spec column the current set lacks
        .set_column(current.column_names.index("alcohol"), "alcohol", text)  # numbers as text
        .set_column(
            current.column_names.index("malic_acid"), "malic_acid", pa.nulls(n, pa.float64())
        )  # every value missing
    )
    found = vigil.spark.evaluate(profile, frame(spark, hostile, tmp_path, "cur", 3), spec)
    expected = in_memory_report(profile, hostile, spec)
    assert_close(comparable(found), comparable(expected))
    assert found.quality.columns["alcohol"].type_mismatches == len(range(0, n, 7))
    assert found.quality.columns["malic_acid"].missing_share == 1.0
    assert found.drift.columns["hue"].statistic is None  # not measured, and said so
    assert found.drift.columns["hue"].error


def test_an_empty_current_set_is_not_enough_data(
    spark: Any, tmp_path: Path, wine_spec: Any
) -> None:
    reference, current, spec = wine_spec
    with pytest.raises(NotEnoughData, match="no rows"):
        vigil.spark.evaluate(
            in_memory_profile(reference, spec),
            frame(spark, current.slice(0, 0), tmp_path, "cur"),
            spec,
        )
    with pytest.raises(NotEnoughData, match=r"reference .* no rows"):
        vigil.spark.evaluate(
            frame(spark, reference.slice(0, 0), tmp_path, "ref"),
            frame(spark, current, tmp_path, "cur"),
            spec,
        )


def test_a_timestamp_of_text_is_refused_from_the_executors(spark: Any, tmp_path: Path) -> None:
    reference = timed_logs(300, seed=9, days=1)
    spec = infer_spec(reference, timestamp="ts")
    current = timed_logs(300, seed=10, days=2)
    as_text = pc.cast(current.column("ts"), pa.string())
    current = current.set_column(current.column_names.index("ts"), "ts", as_text)
    with pytest.raises(SpecError, match="timestamp column holds string"):
        vigil.spark.evaluate_windows(
            in_memory_profile(reference, spec),
            frame(spark, current, tmp_path, "cur", 2),
            spec,
            every="1d",
        )


def test_windows_need_a_timestamp_and_a_length(spark: Any, tmp_path: Path, wine_spec: Any) -> None:
    reference, current, spec = wine_spec
    profile = in_memory_profile(reference, spec)
    cur = frame(spark, current, tmp_path, "cur")
    with pytest.raises(SpecError, match="timestamp"):
        vigil.spark.evaluate_windows(profile, cur, spec, every="1d")
    with pytest.raises(VigilError, match="not a duration"):
        vigil.spark.evaluate_windows(profile, cur, spec, every="one day")


def test_a_dataframe_reference_needs_a_spec(spark: Any, tmp_path: Path, wine_spec: Any) -> None:
    reference, current, _ = wine_spec
    with pytest.raises(SpecError, match="needs a spec"):
        vigil.spark.evaluate(
            frame(spark, reference, tmp_path, "ref"), frame(spark, current, tmp_path, "cur")
        )


def test_python_worker_errors_are_read_from_spark_s_text() -> None:
    text = (
        "An exception was thrown from the Python worker. Please see the stack trace below.\n"
        'Traceback (most recent call last):\n  File "worker.py", line 1\n'
        "ModuleNotFoundError: No module named 'vigil'\n"
        "\tat org.apache.spark.api.python.BasePythonRunner.handlePythonException(x)\n"
    )
    assert _python_error(text) == "ModuleNotFoundError: No module named 'vigil'"
    assert _python_error("java.lang.OutOfMemoryError: Java heap space") is None


# --- the partition function without Spark -------------------------------------------------


def test_groups_split_rows_by_window_and_segment() -> None:
    table = timed_logs(400, seed=11, days=3)
    spec = infer_spec(table, timestamp="ts", segments=["shop"])
    plan = Plan("sketch", spec, every_us=86_400_000_000, timestamp="ts", tops={"shop": ("north",)})
    parts = list(groups(table.to_batches()[0], plan))
    wholes = {k: p.num_rows for k, p in parts if k[1] == ""}
    assert sum(wholes.values()) == 400 and len(wholes) == 3
    for (window, segment, value), part in parts:
        starts = window_starts(part.column("ts"), 86_400_000_000)
        assert set(starts.tolist()) == {window}
        if segment:
            shop = category_strings(pa.chunked_array([part.column("shop")])).to_pylist()
            assert all((s == "north") == (value == "north") for s in shop)


def test_window_starts_floor_on_the_epoch() -> None:
    hour = 3_600_000_000
    stamps = pa.array(
        [datetime(1969, 12, 31, 23, 30, tzinfo=timezone.utc), datetime(1970, 1, 1, 1, 5), None],
        pa.timestamp("us", "UTC"),
    )
    starts = window_starts(stamps, hour)
    assert starts[:2].tolist() == [-hour, hour]
    assert starts[2] == np.iinfo(np.int64).min
    dates = pa.array([datetime(2024, 1, 2).date()], pa.date32())
    assert window_starts(dates, 86_400_000_000).tolist() == [
        int(datetime(2024, 1, 2, tzinfo=timezone.utc).timestamp()) * 1_000_000
    ]


def test_summarise_then_merge_equals_one_summary() -> None:
    reference = model_logs(600, seed=12)
    spec = infer_spec(reference, target="target")
    profile = in_memory_profile(reference, spec)
    current = model_logs(900, seed=13, shift=0.3)
    plan = Plan("summary", spec, {("", ""): profile})
    rows = [next(summarise(current.slice(i, 300).to_batches(), plan)) for i in range(0, 900, 300)]
    merged = next(merge(rows, "summary"))
    assert merged.num_rows == 1 and merged.column("rows").to_pylist() == [900]
    summary = Summary.from_bytes(merged.column("summary")[0].as_py())
    found = evaluate_summary(profile, summary, spec, source="current")
    assert_close(comparable(found), comparable(in_memory_report(profile, current, spec)))
    assert_medians(found, current)


# --- the command line --------------------------------------------------------------------


def test_vigil_report_engine_spark(spark: Any, tmp_path: Path, wine_spec: Any) -> None:
    reference, current, spec = wine_spec
    pq.write_table(reference, tmp_path / "reference.parquet")
    (tmp_path / "current").mkdir()
    for i in range(3):
        pq.write_table(current.slice(i * 30, 30), tmp_path / "current" / f"part-{i}.parquet")
    (tmp_path / "spec.yaml").write_text(dump_spec(spec), encoding="utf-8")
    out = tmp_path / "report.json"
    code = main(
        [
            "report",
            "--engine",
            "spark",
            "--quiet",
            "--reference",
            str(tmp_path / "reference.parquet"),
            "--current",
            str(tmp_path / "current" / "*.parquet"),
            "--spec",
            str(tmp_path / "spec.yaml"),
            "--json",
            str(out),
        ]
    )
    assert code == 0
    document = json.loads(out.read_text(encoding="utf-8"))
    expected = vigil.spark.evaluate(
        frame(spark, reference, tmp_path, "ref"), frame(spark, current, tmp_path, "cur"), spec
    )
    assert document["status"] == expected.status
    assert spark.sparkContext._jsc is not None  # the CLI left the session it did not start


def test_vigil_report_engine_spark_by_window_on_csv(
    spark: Any, tmp_path: Path, capsys: Any
) -> None:
    reference = timed_logs(300, seed=14, days=1)
    current = timed_logs(600, seed=15, days=3)
    spec = infer_spec(reference, timestamp="ts", segments=["shop"])
    import pyarrow.csv as pacsv

    pq.write_table(reference, tmp_path / "reference.parquet")
    pacsv.write_csv(current, tmp_path / "current.csv")
    (tmp_path / "spec.yaml").write_text(dump_spec(spec), encoding="utf-8")
    out = tmp_path / "windows.json"
    code = main(
        [
            "report",
            "--engine",
            "spark",
            "--window",
            "1d",
            "--reference",
            str(tmp_path / "reference.parquet"),
            "--current",
            str(tmp_path / "current.csv"),
            "--spec",
            str(tmp_path / "spec.yaml"),
            "--json",
            str(out),
        ]
    )
    assert code == 0
    windows = json.loads(out.read_text(encoding="utf-8"))
    assert [w["start"][:10] for w in windows if w["segment"] is None] == [
        "2024-03-01",
        "2024-03-02",
        "2024-03-03",
    ]
    assert sum(w["rows"] for w in windows if w["segment"] is None) == 600
    assert all(w["report"] is None or w["report"]["status"] == w["status"] for w in windows)
    printed = capsys.readouterr().out
    assert "2024-03-02 00:00 – 2024-03-03 00:00" in printed and "shop=north" in printed


def test_a_spark_report_prints_none_of_spark_s_start_up_notices(
    tmp_path: Path, wine_spec: Any
) -> None:
    """A fresh JVM, as `vigil report --engine spark` starts one: its stderr holds no log line
    of Spark's (its default printed eight: the host's address, the native library, the log
    level); the JVM's own module notice is not Spark's to silence."""
    reference, current, spec = wine_spec
    pq.write_table(reference, tmp_path / "r.parquet")
    pq.write_table(current, tmp_path / "c.parquet")
    (tmp_path / "spec.yaml").write_text(dump_spec(spec), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "SPARK_CONF_DIR"}
    done = subprocess.run(
        [
            *(sys.executable, "-m", "vigil.cli", "report", "--engine", "spark", "--quiet"),
            *("--reference", str(tmp_path / "r.parquet"), "--current", str(tmp_path / "c.parquet")),
            *("--spec", str(tmp_path / "spec.yaml"), "--json", str(tmp_path / "out.json")),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.returncode in (0, 1), done.stderr  # a verdict (1: the gate failed), no error
    assert (tmp_path / "out.json").exists(), done.stderr
    lines = [line for line in done.stderr.splitlines() if "incubator modules" not in line]
    assert lines == []
    assert json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))["checks"]


@pytest.mark.parametrize(
    "extra",
    [
        ["--window", "1d"],  # --window without --engine spark
        ["--engine", "spark", "--target", "target"],  # role options instead of a spec
        ["--engine", "spark", "--window", "1d", "--html", "x.html"],
    ],
)
def test_vigil_report_engine_spark_usage_errors(
    tmp_path: Path, wine_spec: Any, extra: list[str], capsys: Any
) -> None:
    reference, current, _ = wine_spec
    pq.write_table(reference, tmp_path / "r.parquet")
    pq.write_table(current, tmp_path / "c.parquet")
    code = main(
        [
            "report",
            "--reference",
            str(tmp_path / "r.parquet"),
            "--current",
            str(tmp_path / "c.parquet"),
            *extra,
        ]
    )
    assert code == 2
    assert "error:" in capsys.readouterr().err


def test_vigil_spark_loads_no_pyspark_until_used_and_says_how_to_install() -> None:
    script = (
        "import sys\n"
        "import vigil.spark, vigil.cli\n"
        "assert 'pyspark' not in sys.modules\n"
        "sys.modules['pyspark'] = None  # as if the extra were not installed\n"
        "try:\n"
        "    vigil.spark.spark_session()\n"
        "except vigil.VigilError as err:\n"
        "    print(err)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    assert "pip install 'vigil-monitor[spark]'" in done.stdout
