"""A saved profile as the reference: what it keeps, what it says it lacks, and that a report
against it gives the checks the raw reference gives (docs/profile-format.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from tests.conftest import model_logs

from vigil.errors import SpecError
from vigil.evaluation import NO_ROLES_NOTE, NO_TARGET_NOTE, evaluate, infer_spec, profile_dataset
from vigil.profile import NumericProfile, load_profile, save_profile
from vigil.report.model import Report
from vigil.spec import Spec, spec_from_dict

ROLES = {"target": "target", "prediction": "prediction", "scores": ["score"]}
VIGIL = [sys.executable, "-m", "vigil.cli"]


def _with_outliers(table: pa.Table, column: str, share: float, seed: int) -> pa.Table:
    """`table` with a share of one column's rows moved far outside its range."""
    values = table.column(column).to_numpy(zero_copy_only=False).copy()
    rng = np.random.default_rng(seed)
    chosen = rng.random(values.size) < share
    values[chosen] = values[chosen] * 10 + 50
    return table.set_column(table.schema.get_field_index(column), column, pa.array(values))


def _saved(reference: pa.Table | str | Path, spec: Spec | None, path: Path) -> Path:
    save_profile(profile_dataset(reference, spec), path)
    return path


def _checks(report: Report, *prefixes: str) -> dict[tuple[str, str | None], tuple[str, float]]:
    return {
        (c.name, c.column): (c.status, c.value)
        for c in report.checks
        if c.name.startswith(prefixes) and c.value is not None
    }


def test_a_profile_without_roles_says_it_keeps_no_performance_baseline(tmp_path: Path) -> None:
    reference, current = model_logs(3000, seed=1), model_logs(3000, seed=2)
    profile = profile_dataset(reference)
    assert profile.notes == (NO_ROLES_NOTE, NO_TARGET_NOTE)
    assert profile.performance == {}
    path = _saved(reference, None, tmp_path / "ref.vigil")
    assert load_profile(path).notes == profile.notes
    report = evaluate(path, current)
    assert NO_TARGET_NOTE in report.notes and NO_ROLES_NOTE in report.notes
    assert report.performance is None
    # With the roles, the target is profiled and the note is gone.
    with_roles = profile_dataset(reference, infer_spec(reference, **ROLES))
    assert with_roles.notes == ()
    assert with_roles.performance["rows"] == 3000.0


def test_roles_cannot_be_given_to_a_profile_and_the_refusal_says_why(tmp_path: Path) -> None:
    reference, current = model_logs(500, seed=1), model_logs(500, seed=2)
    path = _saved(reference, None, tmp_path / "ref.vigil")
    with pytest.raises(SpecError, match=r"is a profile.*no performance baseline.*rebuild"):
        evaluate(path, current, target="target")


def test_the_cli_report_against_a_profile_without_roles_shows_the_note(tmp_path: Path) -> None:
    pq.write_table(model_logs(2000, seed=1), tmp_path / "ref.parquet")
    pq.write_table(model_logs(2000, seed=2), tmp_path / "cur.parquet")
    env = {**os.environ, "COLUMNS": "200"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*VIGIL, *args], capture_output=True, text=True, env=env, timeout=300, check=False
        )

    done = run("profile", str(tmp_path / "ref.parquet"), "-o", str(tmp_path / "ref.vigil"))
    assert done.returncode == 0, done.stderr
    out = tmp_path / "r.json"
    args = ("--reference", str(tmp_path / "ref.vigil"), "--current", str(tmp_path / "cur.parquet"))
    done = run("report", *args, "--json", str(out))
    assert done.returncode == 0, done.stderr
    assert "no performance baseline" in " ".join(done.stdout.split())
    assert NO_TARGET_NOTE in json.loads(out.read_text())["notes"]


def test_outlier_checks_against_a_profile_are_those_of_the_raw_reference(tmp_path: Path) -> None:
    reference = model_logs(4000, seed=3)
    current = _with_outliers(model_logs(4000, seed=4), "x1", 0.08, seed=5)
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(yaml.safe_dump(infer_spec(reference, **ROLES).to_dict()))
    path = _saved(reference, spec_file, tmp_path / "ref.vigil")  # `vigil profile --spec`
    raw = evaluate(reference, current, spec_file)
    approx = evaluate(path, current)
    for name in ("x1", "x2", "x3", "score"):
        exact, got = raw.quality.columns[name], approx.quality.columns[name]
        assert exact.reference_outlier_share is not None
        assert got.reference_outlier_share == exact.reference_outlier_share
        assert got.outlier_share == exact.outlier_share
        assert got.p_values["outlier_increase"] == exact.p_values["outlier_increase"]
    # an independent count: numpy's quartiles, Tukey's fences
    x1 = reference.column("x1").to_numpy()
    q1, q3 = np.percentile(x1, [25, 75])
    low, high = q1 - 1.5 * (q3 - q1), q3 + 1.5 * (q3 - q1)
    expected = np.count_nonzero((x1 < low) | (x1 > high)) / x1.size
    assert approx.quality.columns["x1"].reference_outlier_share == pytest.approx(expected)
    planted = approx.check("outlier_share", "x1")
    assert planted is not None and planted.status != "ok"
    assert _checks(approx, "outlier_share") == _checks(raw, "outlier_share")
    assert len(_checks(approx, "outlier_share")) >= 4


def test_the_note_about_what_is_exact_is_true(tmp_path: Path) -> None:
    """Every quality and performance check not named in the note is the raw reference's."""
    reference = model_logs(5000, seed=6)
    current = model_logs(5000, seed=7, shift=0.3)
    current = _with_outliers(current, "x2", 0.05, seed=8)
    x3 = current.column("x3").to_numpy(zero_copy_only=False).copy()
    x3[:400] = np.nan  # a missing-share finding
    current = current.set_column(2, "x3", pa.array(x3))
    spec = infer_spec(reference, **ROLES)
    raw = evaluate(reference, current, spec)
    approx = evaluate(_saved(reference, spec, tmp_path / "ref.vigil"), current)
    note = next(n for n in approx.notes if n.startswith("The reference is a saved profile"))
    assert "duplicate rows" in note and "constant" in note
    assert "every other measure is exact" not in note
    compared = ("missing_share", "outlier_share", "type_mismatch", "performance.")
    assert _checks(approx, *compared) == _checks(raw, *compared)
    statuses = {s for s, _ in _checks(raw, *compared).values()}
    assert statuses > {"ok"}, "the data must make some checks fire"
    for name, column in raw.drift.columns.items():  # category drift is exact
        if column.kind == "categorical":
            assert approx.drift.columns[name].metrics == column.metrics
    assert approx.quality.schema == raw.quality.schema


def test_drift_bins_are_honoured_and_kept(tmp_path: Path) -> None:
    reference, current = model_logs(6000, seed=9), model_logs(6000, seed=10, shift=0.2)
    document = infer_spec(reference, **ROLES).to_dict()
    document["drift"] = {**document.get("drift", {}), "bins": 20}
    spec = spec_from_dict(document)
    path = _saved(reference, spec, tmp_path / "ref.vigil")
    profile = load_profile(path)
    assert profile.bins == 20
    assert json.loads(path.read_text())["bins"] == 20
    x1 = profile.columns["x1"]
    assert isinstance(x1, NumericProfile)
    values = reference.column("x1").to_numpy()
    expected = np.unique(np.quantile(values, np.arange(1, 20) / 20))
    np.testing.assert_allclose(x1.edges, expected, rtol=1e-12)
    assert x1.counts.size == 20
    raw, approx = evaluate(reference, current, spec), evaluate(path, current)
    for name in ("x1", "x2", "x3"):
        for measure in ("psi", "js", "hellinger"):
            assert approx.drift.columns[name].metrics[measure] == pytest.approx(
                raw.drift.columns[name].metrics[measure], rel=1e-12
            )
    assert not any("histogram bins" in n for n in approx.notes)
    # A spec asking for other bins than the profile has is told which bins were used.
    other = evaluate(path, current, infer_spec(reference, **ROLES))
    assert any("asks for 10 histogram bins" in n and "built with 20" in n for n in other.notes)


def test_performance_round_trips_and_gives_the_raw_references_checks(tmp_path: Path) -> None:
    reference = model_logs(5000, seed=11)
    current = model_logs(5000, seed=12)
    rng = np.random.default_rng(13)
    target = current.column("target").to_numpy().copy()
    flipped = rng.random(target.size) < 0.25  # labels noisier than in the reference
    target[flipped] = 1 - target[flipped]
    current = current.set_column(
        current.schema.get_field_index("target"), "target", pa.array(target)
    )
    spec = infer_spec(reference, **ROLES)
    profile = profile_dataset(reference, spec)
    path = _saved(reference, spec, tmp_path / "ref.vigil")
    assert load_profile(path).performance == profile.performance
    assert set(profile.performance) > {"rows", "accuracy", "roc_auc"}
    assert len(profile.performance) > 10, "the standard errors' inputs are kept too"
    raw, approx = evaluate(reference, current, spec), evaluate(path, current)
    assert raw.performance is not None and approx.performance is not None
    assert approx.performance.reference is not None and raw.performance.reference is not None
    for name, value in raw.performance.reference.metrics.items():
        assert approx.performance.reference.metrics[name] == pytest.approx(value, rel=1e-12)
    exact_checks = _checks(raw, "performance.")
    assert exact_checks and any(s != "ok" for s, _ in exact_checks.values())
    assert _checks(approx, "performance.") == exact_checks
    for c in raw.checks:
        if c.name.startswith("performance."):
            got = approx.check(c.name, c.column)
            assert got is not None and got.standard_error == pytest.approx(c.standard_error)


def test_a_profile_keeps_the_references_unreadable_cells_and_types(tmp_path: Path) -> None:
    reference = model_logs(2000, seed=14).to_pandas()
    reference["x1"] = reference["x1"].astype(object)
    reference.loc[:9, "x1"] = "unknown"  # ten cells a reader cannot take for numbers
    reference.to_csv(tmp_path / "ref.csv", index=False)
    current = model_logs(2000, seed=15).to_pandas()
    current["x1"] = current["x1"].astype(object)
    current.loc[:29, "x1"] = "unknown"
    current["x2"] = current["x2"].map(lambda v: f"{v:.5f}")  # a type change
    current.to_csv(tmp_path / "cur.csv", index=False)
    spec = infer_spec(tmp_path / "ref.csv", **ROLES)
    path = _saved(tmp_path / "ref.csv", spec, tmp_path / "ref.vigil")
    assert load_profile(path).type_mismatches == {"x1": 10}
    raw = evaluate(tmp_path / "ref.csv", current, spec)
    approx = evaluate(path, current)
    for name in ("x1", "x2"):
        assert (
            approx.quality.columns[name].p_values["type_mismatch"]
            == raw.quality.columns[name].p_values["type_mismatch"]
        )
    assert _checks(approx, "type_mismatch") == _checks(raw, "type_mismatch")
    assert [t.column for t in approx.quality.schema.type_changes] == ["x2"]
    assert approx.quality.schema == raw.quality.schema
