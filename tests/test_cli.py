"""The command line as a user runs it: a real `vigil` process, exit codes, files, messages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from tests.conftest import model_logs

VIGIL = [sys.executable, "-m", "vigil.cli"]


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [*VIGIL, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300, check=False
    )


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("data")
    pq.write_table(model_logs(4000, seed=11), d / "ref.parquet")
    pq.write_table(model_logs(4000, seed=12), d / "same.parquet")
    pq.write_table(model_logs(4000, seed=13, shift=0.8), d / "shifted.parquet")
    return {
        "ref": d / "ref.parquet",
        "same": d / "same.parquet",
        "shifted": d / "shifted.parquet",
        "dir": d,
    }


def test_init_writes_a_spec_that_report_accepts(files) -> None:
    spec = files["dir"] / "vigil.yaml"
    done = run(
        "init",
        "--reference",
        str(files["ref"]),
        "--target",
        "target",
        "--prediction",
        "prediction",
        "--score",
        "score",
        "-o",
        str(spec),
    )
    assert done.returncode == 0, done.stderr
    assert "role: target" in spec.read_text()
    out_json = files["dir"] / "r.json"
    done = run(
        "report",
        "--reference",
        str(files["ref"]),
        "--current",
        str(files["shifted"]),
        "--spec",
        str(spec),
        "--json",
        str(out_json),
        "--html",
        str(files["dir"] / "r.html"),
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(out_json.read_text())
    assert data["drift"]["columns"]["x1"]["drifted"] is True
    assert data["drift"]["columns"]["x3"]["drifted"] is False
    assert "x1" in done.stdout
    assert (files["dir"] / "r.html").read_text().lstrip().lower().startswith("<!doctype html")


def test_check_is_a_ci_gate(files) -> None:
    args = ["--target", "target", "--prediction", "prediction", "--score", "score"]
    ok = run("check", "--reference", str(files["ref"]), "--current", str(files["same"]), *args)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "check passed" in ok.stdout
    bad = run("check", "--reference", str(files["ref"]), "--current", str(files["shifted"]), *args)
    assert bad.returncode == 1
    assert "check failed" in bad.stdout


def test_profile_then_report_against_it(files) -> None:
    prof = files["dir"] / "ref.vigil"
    done = run(
        "profile",
        str(files["ref"]),
        "-o",
        str(prof),
        "--target",
        "target",
        "--score",
        "score",
        "--prediction",
        "prediction",
    )
    assert done.returncode == 0, done.stderr
    out_json = files["dir"] / "p.json"
    done = run(
        "report",
        "--reference",
        str(prof),
        "--current",
        str(files["shifted"]),
        "--json",
        str(out_json),
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(out_json.read_text())
    assert data["reference"]["is_profile"] is True
    assert "ks" in data["drift"]["columns"]["x1"]["approximate"]
    assert data["drift"]["columns"]["x1"]["drifted"] is True


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["report", "--reference", "nope.parquet", "--current", "x.parquet"], "does not exist"),
        (
            ["report", "--reference", "{ref}", "--current", "{ref}", "--spec", "missing.yaml"],
            "spec file 'missing.yaml' does not exist",
        ),
        (
            ["report", "--reference", "{ref}", "--current", "{ref}", "--target", "nope"],
            "target column 'nope' is not in the reference",
        ),
        (
            ["check", "--reference", "{ref}", "--current", "{ref}", "--fail-on", "bad"],
            "invalid choice",
        ),
    ],
)
def test_usage_errors_exit_2_with_one_line_and_no_traceback(files, args, message) -> None:
    done = run(*[a.format(ref=files["ref"]) for a in args])
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_a_csv_that_is_not_csv(files) -> None:
    bad = files["dir"] / "bad.parquet"
    bad.write_text("a,b\n1,2\n")
    done = run("report", "--reference", str(files["ref"]), "--current", str(bad))
    assert done.returncode == 2
    assert "as Parquet" in done.stderr and "Traceback" not in done.stderr


def test_demo_writes_both_reports_where_it_says(tmp_path) -> None:
    done = run("demo", "--rows", "3000", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    data = json.loads((tmp_path / "report.json").read_text())
    drifted = {n for n, c in data["drift"]["columns"].items() if c["drifted"]}
    assert {"income", "debt_ratio", "purpose", "default_probability"} <= drifted
    assert "age" not in drifted and "housing" not in drifted
    perf = data["performance"]
    assert perf["current"]["roc_auc"] < perf["reference"]["roc_auc"]
    assert (tmp_path / "report.html").exists()
    assert "report.html" in done.stdout
