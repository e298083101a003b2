"""Date and time columns through `evaluate` and the command line: every Arrow time type, in
Parquet, CSV, pandas and Arrow, as the timestamp or as a feature measured in epoch seconds."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from scipy import stats

from vigil.evaluation import evaluate, infer_spec
from vigil.report.model import Report

VIGIL = [sys.executable, "-m", "vigil.cli"]
N = 1500

# How a time column is held: name -> pandas series of n times starting at `start`.
VARIANTS: dict[str, Callable[[pd.DatetimeIndex], Any]] = {
    "naive microseconds": lambda t: t.as_unit("us"),
    "naive nanoseconds": lambda t: t.as_unit("ns") + pd.Timedelta(nanoseconds=7),
    "UTC": lambda t: t.tz_localize("UTC"),
    "Europe/Paris, nanoseconds": lambda t: t.tz_localize("UTC").tz_convert("Europe/Paris"),
    "date32": lambda t: pa.array(t.date, pa.date32()),
    "date64": lambda t: pa.array(t.date, pa.date64()),
}


def frame(variant: str, *, start: str, seed: int) -> pd.DataFrame:
    """A model's data: a time of scoring that moves with the calendar, a birth date that
    does not, a numeric feature and a binary target."""
    rng = np.random.default_rng(seed)
    scored = pd.date_range(start, periods=N, freq="17min")
    born = pd.to_datetime("1960-01-01") + pd.to_timedelta(rng.integers(0, 15_000, N), unit="D")
    hold = VARIANTS[variant]
    return pd.DataFrame(
        {
            "scored_at": hold(scored),
            "x": rng.normal(size=N),
            "born": hold(pd.DatetimeIndex(born)),
            "y": (rng.random(N) < 0.3).astype(int),
        }
    )


def write(df: pd.DataFrame, fmt: str, path: Path) -> Any:
    """The frame as the reader gets it: a file path, the frame itself or an Arrow table."""
    table = pa.Table.from_pandas(df, preserve_index=False)
    if fmt == "parquet":
        pq.write_table(table, path.with_suffix(".parquet"))
        return path.with_suffix(".parquet")
    if fmt == "csv":
        df.to_csv(path.with_suffix(".csv"), index=False)
        return path.with_suffix(".csv")
    return df if fmt == "pandas" else table


def epoch_seconds(column: Any) -> np.ndarray:
    """Seconds since 1970 UTC as pandas computes them, independently of vigil."""
    times = pd.to_datetime(pd.Series(column), utc=True)
    return (times - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy()


def _not_ok(report: Report, column: str) -> list[tuple[str, str]]:
    return [(c.name, c.status) for c in report.checks if c.column == column and c.status != "ok"]


@pytest.mark.parametrize("fmt", ["parquet", "csv", "pandas", "arrow"])
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_time_columns_are_the_timestamp_and_a_feature_in_epoch_seconds(
    variant: str, fmt: str, tmp_path: Path
) -> None:
    reference = frame(variant, start="2024-01-01", seed=1)
    current = frame(variant, start="2024-03-01", seed=2)  # two months later
    ref = write(reference, fmt, tmp_path / "ref")
    cur = write(current, fmt, tmp_path / "cur")
    spec = infer_spec(ref, target="y")
    kinds = {c.name: (c.role, c.kind) for c in spec.columns}
    assert kinds["scored_at"] == ("timestamp", "datetime"), "the first time column"
    assert kinds["born"] == ("feature", "datetime")
    report = evaluate(ref, cur, target="y")
    assert report.drift.columns["born"].error is None
    assert "scored_at" not in report.drift.columns  # a timestamp's drift is not measured
    assert _not_ok(report, "scored_at") == [], "moving on in time is not a finding"
    assert report.quality.columns["scored_at"].error is None
    # The birth dates are measured as seconds since the epoch, as scipy measures them.
    r, c = epoch_seconds(reference["born"]), epoch_seconds(current["born"])
    ks = stats.ks_2samp(r, c)
    born = report.drift.columns["born"]
    assert born.metrics["ks"] == pytest.approx(ks.statistic, abs=1e-12)
    assert born.metrics["ks_p_value"] == pytest.approx(ks.pvalue, rel=1e-6)
    assert report.drift_status("born") == "ok"
    assert report.status != "critical"


def test_a_naive_reference_and_an_aware_current_set_compare_in_utc() -> None:
    reference = frame("naive microseconds", start="2024-01-01", seed=3)
    current = frame("Europe/Paris, nanoseconds", start="2024-01-01", seed=3)
    report = evaluate(reference, current, target="y")
    assert report.quality.schema.type_changes == ()
    assert report.drift.columns["born"].metrics["ks"] == 0.0
    assert _not_ok(report, "scored_at") == []


def test_times_written_as_text_are_read_when_the_spec_says_datetime(tmp_path: Path) -> None:
    reference = frame("UTC", start="2024-01-01", seed=4)
    current = frame("UTC", start="2024-01-01", seed=5)
    current["born"] = current["born"].dt.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
    current.loc[:9, "born"] = "not yet"  # ten cells that are not times
    spec = infer_spec(reference, target="y")
    report = evaluate(reference, current, spec)
    r = epoch_seconds(reference["born"])
    c = epoch_seconds(current["born"].iloc[10:])
    assert report.drift.columns["born"].metrics["ks"] == pytest.approx(
        stats.ks_2samp(r, c).statistic, abs=1e-12
    )
    assert report.quality.columns["born"].type_mismatches == 10
    assert [t.column for t in report.quality.schema.type_changes] == ["born"]


def test_a_timestamp_role_in_a_written_spec_and_a_time_given_as_text(tmp_path: Path) -> None:
    reference = frame("naive nanoseconds", start="2024-01-01", seed=6)
    current = frame("naive nanoseconds", start="2024-02-01", seed=7)
    current["scored_at"] = current["scored_at"].dt.strftime("%Y-%m-%d %H:%M:%S")
    spec = {
        "version": 1,
        "task": "binary",
        "columns": {
            "scored_at": {"role": "timestamp", "kind": "datetime"},
            "x": {"role": "feature", "kind": "numeric"},
            "born": {"role": "feature", "kind": "datetime"},
            "y": {"role": "target", "kind": "categorical"},
        },
    }
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec))
    report = evaluate(reference, current, tmp_path / "spec.yaml")
    assert report.quality.columns["scored_at"].missing_share == 0.0
    assert report.quality.columns["scored_at"].type_mismatches == 0
    # times now written as text are a change of type, and nothing else
    assert _not_ok(report, "scored_at") == [("schema.type_change", "critical")]


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_report_and_check_on_files_with_times(fmt: str, tmp_path: Path) -> None:
    ref = write(frame("Europe/Paris, nanoseconds", start="2024-01-01", seed=8), fmt, tmp_path / "r")
    cur = write(frame("Europe/Paris, nanoseconds", start="2024-05-01", seed=9), fmt, tmp_path / "c")
    env = {**os.environ, "COLUMNS": "200"}
    base = [*VIGIL, "--reference", str(ref), "--current", str(cur), "--target", "y"]
    for command in (["report"], ["check", "--fail-on", "critical"]):
        args = [*base[:3], *command, *base[3:]]
        done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "Traceback" not in done.stderr and "error" not in done.stderr
