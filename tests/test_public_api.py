"""The Python API as a notebook uses it: `vigil.infer_spec` and `vigil.evaluate` on pandas,
polars and Arrow inputs, with the column roles given as arguments."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from tests.conftest import model_logs

import vigil
from vigil.errors import InputError, SpecError

KINDS = {
    "pandas": lambda t: t.to_pandas(),
    "polars": pl.from_arrow,
    "arrow": lambda t: t,
}


def _with_roles(table: pa.Table, seed: int) -> pa.Table:
    """The model logs with an id, a time and a segment column."""
    n = table.num_rows
    ids = pa.array([f"{seed}-{i}" for i in range(n)])
    times = pa.array([1_795_000_000 + 60 * i for i in range(n)], pa.int64()).cast(pa.timestamp("s"))
    region = pa.array(["north", "south"] * (n // 2) + ["north"] * (n % 2))
    return (
        table.append_column("request", ids)
        .append_column("at", times)
        .append_column("region", region)
    )


REFERENCE = _with_roles(model_logs(3000, seed=31), 31)
CURRENT = _with_roles(model_logs(3000, seed=32, shift=0.8), 32)
ROLES: dict[str, Any] = {
    "target": "target",
    "prediction": "prediction",
    "scores": ["score"],
    "id_column": "request",
    "timestamp": "at",
    "segments": ["region"],
}


@pytest.mark.parametrize("kind", list(KINDS))
def test_infer_spec_reads_every_kind_of_frame(kind: str) -> None:
    spec = vigil.infer_spec(KINDS[kind](REFERENCE), **ROLES)
    roles = {c.name: c.role for c in spec.columns}
    assert roles["target"] == "target" and roles["prediction"] == "prediction"
    assert roles["score"] == "score" and roles["request"] == "id"
    assert roles["at"] == "timestamp" and roles["region"] == "segment"
    assert roles["x1"] == roles["colour"] == "feature"
    assert spec.task == "binary"
    assert spec == vigil.infer_spec(REFERENCE, **ROLES), "the same spec whatever the frame"


@pytest.mark.parametrize("kind", list(KINDS))
def test_evaluate_takes_the_roles_as_arguments(kind: str) -> None:
    make = KINDS[kind]
    report = vigil.evaluate(make(REFERENCE), make(CURRENT), **ROLES)
    assert report.spec == vigil.infer_spec(REFERENCE, **ROLES).to_dict()
    drift = {c.column: c.status for c in report.checks if c.name == "drift"}
    assert drift["x1"] == "critical" and drift["x3"] == "ok"
    assert "request" not in drift and "at" not in drift, "id and time are not features"
    assert report.performance is not None
    assert report.reference.rows == report.current.rows == 3000


def test_evaluate_refuses_roles_together_with_a_spec() -> None:
    spec = vigil.infer_spec(REFERENCE, **ROLES)
    with pytest.raises(SpecError, match=r"either a spec or the role arguments \(target, scores\)"):
        vigil.evaluate(REFERENCE, CURRENT, spec, target="target", scores=["score"])


@pytest.mark.parametrize(
    ("roles", "says"),
    [
        ({"target": "nope"}, "target column 'nope' is not in the reference"),
        ({"scores": ["score", "missing"]}, "'missing'"),
        ({"segments": ["region", "region"]}, "region"),
    ],
)
def test_roles_that_name_no_column_are_spec_errors(roles: dict[str, Any], says: str) -> None:
    with pytest.raises(SpecError, match=says):
        vigil.infer_spec(REFERENCE.to_pandas(), **roles)
    with pytest.raises(SpecError, match=says):
        vigil.evaluate(pl.from_arrow(REFERENCE), CURRENT, **roles)


@pytest.mark.parametrize(
    "data",
    [42, ["not", "a", "frame"], {"x1": [1.0]}, pd.Series([1.0, 2.0]), b"PAR1 truncated"],
    ids=["int", "list", "dict", "series", "bytes"],
)
def test_what_is_not_a_frame_or_a_path_is_an_input_error(data: Any) -> None:
    with pytest.raises(InputError):
        vigil.infer_spec(data, target="target")
    with pytest.raises(InputError):
        vigil.evaluate(data, CURRENT)


@pytest.mark.parametrize(
    "first",
    [
        "vigil.infer_spec",
        "vigil.profile_dataset",
        "__import__('vigil.evaluation')",
        "__import__('vigil.cli.batch')",
        "__import__('vigil.monitor.windows')",
    ],
)
def test_vigil_evaluate_is_the_function_whatever_loaded_its_module_first(first: str) -> None:
    # a submodule named like a public function would be bound over it on import: the function
    # lives in vigil.evaluation, whose name no public function shares
    code = (
        "import vigil, types\n"
        f"{first}\n"
        "from vigil import evaluate\n"
        "assert vigil.evaluate is evaluate, vigil.evaluate\n"
        "assert isinstance(evaluate, types.FunctionType), evaluate\n"
        "assert evaluate.__module__ == 'vigil.evaluation'\n"
        "import vigil.evaluation\n"
        "assert isinstance(vigil.evaluate, types.FunctionType), vigil.evaluate\n"
        "assert not set(vigil.__all__) & {m[len('vigil.'):] for m in __import__('sys').modules "
        "if m.startswith('vigil.') and m.count('.') == 1}\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-1500:]
