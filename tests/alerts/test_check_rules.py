"""`vigil check --rules`: the rules are judged on the report and gate the exit code, on
scikit-learn's breast-cancer set split at random (unshifted) and by tumour size (shifted)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from tests.published import sklearn_set
from tests.test_cli import run

RULES = """
alerts:
  rules:
    - name: drift-verdict
      metric: drift.ks
      status: critical
    - name: size-psi
      metric: drift.psi
      columns: [mean radius, mean area]
      above: {warning: 0.1, critical: 0.25}
    - name: volume-band
      metric: ops.count
      control: {windows: 24, min_history: 4}
    - name: feature-drift
      metric: drift
      roles: [feature]
      status: critical
"""


@pytest.fixture(scope="module")
def split(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("bc")
    data = sklearn_set("breast_cancer")
    order = np.random.default_rng(3).permutation(data.num_rows)
    shuffled = data.take(order)
    pq.write_table(shuffled.slice(0, 284), d / "ref.parquet")
    pq.write_table(shuffled.slice(284), d / "same.parquet")
    by_size = data.sort_by("mean radius")
    pq.write_table(by_size.slice(0, 284), d / "small.parquet")
    pq.write_table(by_size.slice(284), d / "large.parquet")
    (d / "rules.yaml").write_text(RULES)
    return d


def test_unshifted_data_breaches_no_rule_and_passes(split: Path) -> None:
    done = run(
        "check",
        "--reference",
        str(split / "ref.parquet"),
        "--current",
        str(split / "same.parquet"),
        "--rules",
        str(split / "rules.yaml"),
        "--fail-on",
        "warning",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "rules: 0 breached of" in done.stdout
    assert "rule volume-band skipped" in done.stdout  # it needs earlier windows
    assert "check passed" in done.stdout


def test_a_shift_breaches_the_rules_and_fails_the_gate(split: Path) -> None:
    done = run(
        "check",
        "--reference",
        str(split / "small.parquet"),
        "--current",
        str(split / "large.parquet"),
        "--rules",
        str(split / "rules.yaml"),
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "size-psi" in done.stdout and "drift-verdict" in done.stdout
    assert "feature-drift" in done.stdout  # a rule scoped by role: the spec's roles apply
    assert "drift.psi of 'mean radius' is" in done.stdout
    assert "rule finding(s) at or above critical" in done.stdout


def check_same(split: Path, rules: Path) -> subprocess.CompletedProcess[str]:
    """`vigil check --rules` on the unshifted split."""
    reference, current = str(split / "ref.parquet"), str(split / "same.parquet")
    return run("check", "--reference", reference, "--current", current, "--rules", str(rules))


def test_a_bad_rules_file_is_a_usage_error_naming_the_rule_and_key(split: Path) -> None:
    bad = split / "bad.yaml"
    bad.write_text("rules:\n  - name: r1\n    metric: drift.psi\n    above: {warning: high}\n")
    done = check_same(split, bad)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "rule 'r1'.above.warning: expected a number; got 'high'" in done.stderr
    empty = split / "empty.yaml"
    empty.write_text("rules: []\n")
    done = check_same(split, empty)
    assert done.returncode == 2 and "no rules" in done.stderr
    broken = split / "broken.yaml"
    broken.write_text("rules: [name: r1\n  metric: {\n")
    done = check_same(split, broken)
    assert done.returncode == 2 and "broken.yaml is not valid YAML" in done.stderr
    done = check_same(split, split / "absent.yaml")
    assert done.returncode == 2 and "cannot read the rules" in done.stderr
    assert "Traceback" not in done.stderr
