"""The spec: YAML loading, validation messages, inference rules, round trip."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from vigil.errors import SpecError
from vigil.evaluation import evaluate
from vigil.spec import (
    DRIFT_METHODS,
    ColumnSpec,
    Spec,
    dump_spec,
    load_spec,
    spec_from_dict,
    spec_of_table,
)


@pytest.fixture
def table() -> pa.Table:
    rng = np.random.default_rng(0)
    n = 500
    return pa.table(
        {
            "income": rng.lognormal(10, 1, n),
            "children": rng.integers(0, 4, n),
            "visits": rng.integers(0, 1000, n),
            "city": rng.choice(["a", "b", "c"], n),
            "flag": rng.random(n) < 0.3,
            "note": [f"free text number {i} written by a person about the case" for i in range(n)],
            "when": pa.array(np.arange(n).astype("datetime64[s]")),
            "tags": pa.array([[1, 2]] * n),
            "y": rng.integers(0, 2, n),
            "pred": rng.integers(0, 2, n),
            "proba": rng.random(n),
        }
    )


def test_inference_follows_the_documented_rules(table: pa.Table) -> None:
    spec = spec_of_table(table, target="y", prediction="pred", scores=["proba"])
    kinds = {c.name: (c.role, c.kind) for c in spec.columns}
    assert kinds["income"] == ("feature", "numeric")
    assert kinds["children"] == ("feature", "categorical")  # integer, <= 10 values
    assert kinds["visits"] == ("feature", "numeric")  # integer, many values
    assert kinds["city"] == ("feature", "categorical")
    assert kinds["flag"] == ("feature", "boolean")
    assert kinds["note"] == ("feature", "text")
    # the first date or time column is the timestamp: as a feature it would always drift
    assert kinds["when"] == ("timestamp", "datetime")
    assert "tags" not in kinds  # lists cannot be judged: left out
    assert kinds["y"] == ("target", "categorical")
    assert kinds["proba"] == ("score", "numeric")
    assert spec.task == "binary"


def test_dictionary_encoded_columns_are_inferred_as_their_values(table: pa.Table) -> None:
    """pandas categories and Parquet's dictionary pages arrive dictionary-encoded: the same
    kinds as the plain columns (utf8_length has no dictionary kernel: an internal error before)."""
    plain = spec_of_table(table, target="y", prediction="pred", scores=["proba"])
    encoded = table
    for name in ("children", "visits", "city", "note", "y"):
        i = encoded.schema.get_field_index(name)
        encoded = encoded.set_column(i, name, encoded.column(name).dictionary_encode())
    assert pa.types.is_dictionary(encoded.schema.field("note").type)
    spec = spec_of_table(encoded, target="y", prediction="pred", scores=["proba"])
    assert spec.to_dict() == plain.to_dict()
    # and judged as the plain columns are, without a spec given (it is inferred)
    roles = {"target": "y", "prediction": "pred", "scores": ["proba"]}
    half = table.num_rows // 2
    a = evaluate(table.slice(0, half), table.slice(half), **roles)
    b = evaluate(encoded.slice(0, half), encoded.slice(half), **roles)
    assert [(c.name, c.column, c.status, c.value) for c in a.checks] == [
        (c.name, c.column, c.status, c.value) for c in b.checks
    ]


def test_regression_task_is_inferred_from_a_continuous_target() -> None:
    t = pa.table({"x": np.arange(100.0), "y": np.linspace(0, 1, 100)})
    assert spec_of_table(t, target="y").task == "regression"


def test_multiclass_scores_get_their_class_from_the_name_suffix() -> None:
    t = pa.table(
        {
            "y": ["cat", "dog", "eel"] * 10,
            "p_dog": [0.2] * 30,
            "p_cat": [0.5] * 30,
            "p_eel": [0.3] * 30,
        }
    )
    spec = spec_of_table(t, target="y", scores=["p_dog", "p_cat", "p_eel"])
    assert spec.task == "multiclass"
    assert {c.name: c.score_class for c in spec.with_role("score")} == {
        "p_dog": "dog",
        "p_cat": "cat",
        "p_eel": "eel",
    }


def test_a_role_column_absent_from_the_reference_is_named(table: pa.Table) -> None:
    with pytest.raises(SpecError, match=r"target column 'label' is not in the reference.*income"):
        spec_of_table(table, target="label")


def test_yaml_round_trip(table: pa.Table, tmp_path) -> None:
    spec = spec_of_table(table, target="y", prediction="pred", scores=["proba"])
    path = tmp_path / "vigil.yaml"
    path.write_text(dump_spec(spec))
    assert load_spec(path) == spec


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"columns": {"a": {"role": "feture"}}}, r"columns\.a\.role"),
        ({"columns": {"a": {"drift": {"method": "jsd"}}}}, r"'a'.*unknown drift method 'jsd'.*ks"),
        (
            {"columns": {"a": {"kind": "categorical", "drift": {"method": "ks"}}}},
            r"'a' is categorical.*'ks' does not apply.*js",
        ),
        ({"columns": {"a": {"drift": {"threshold": -1}}}}, r"'a'.*threshold must be a positive"),
        ({"columns": {"a": {"drift": {"method": "wasserstein"}}}}, r"'a'.*needs a threshold"),
        ({"columns": {"a": {"bounds": [5, 1]}}}, r"'a'.*bounds \[5.0, 1.0\] are reversed"),
        ({"columns": {"a": {}}, "drift": {"alpha": 2}}, r"alpha must be between 0 and 1"),
        ({"columns": {"a": {}}, "colums": {}}, r"colums"),
        ({"columns": {"a": {"role": "target"}, "b": {"role": "target"}}}, r"at most one target"),
        (
            {"columns": {"a": {}}, "quality": {"missing": [0.1, 0.2]}},
            r"quality\.missing: Extra inputs",
        ),
        ({"version": 9, "columns": {"a": {}}}, r"version 9 is not supported"),
    ],
)
def test_invalid_specs_name_the_column_and_what_is_allowed(data: dict, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        spec_from_dict(data)


def test_bad_yaml_files(tmp_path) -> None:
    with pytest.raises(SpecError, match="does not exist"):
        load_spec(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("columns: [unclosed")
    with pytest.raises(SpecError, match="not valid YAML"):
        load_spec(bad)
    bad.write_text("- a list\n")
    with pytest.raises(SpecError, match="YAML mapping"):
        load_spec(bad)


def test_every_registered_method_has_a_kind_and_sane_defaults() -> None:
    for name, method in DRIFT_METHODS.items():
        assert method.name == name
        assert method.kinds
        levels = method.default
        if levels is not None:
            if method.decides_by == "p_value":
                assert levels.direction == "below"
                assert 0 < levels.critical < levels.warning < 1
            else:
                assert levels.direction == "above"
                assert 0 < levels.warning < levels.critical


def test_column_thresholds_apply_overrides() -> None:
    limits = ColumnSpec("a", method="psi", threshold=0.3).thresholds()
    assert (limits.warning, limits.critical) == (0.3, 0.6)
    limits = ColumnSpec("a", kind="categorical", method="chi2", threshold=0.01).thresholds()
    assert (limits.warning, limits.critical) == (0.01, 0.01 / 50)
    assert ColumnSpec("a", method="psi").thresholds().critical == 0.25
    with pytest.raises(SpecError, match=r"critical level 0\.1 must be at or above"):
        ColumnSpec("a", method="psi", threshold=0.3, critical=0.1).thresholds()
    assert Spec((ColumnSpec("a", threshold=0.2),)).column("a").thresholds().warning == 0.2
    with pytest.raises(SpecError, match=r"no column .b..*a"):
        Spec((ColumnSpec("a"),)).column("b")


BASE_SPEC = {"columns": {"x": {"role": "feature", "kind": "numeric"}}}


@pytest.mark.parametrize(
    ("section", "key", "value", "expected"),
    [
        ("drift", "bins", 1_000_000_000, "drift.bins"),
        ("drift", "bins", 1, "drift.bins"),
        ("drift", "dataset_share", 7, "drift.dataset_share"),
        ("quality", "missing_increase", [0.1, 1e300], "quality.missing_increase"),
        ("performance", "min_labelled", 10**15, "performance.min_labelled"),
        ("performance", "warning_drop", 1e308, "performance.warning_drop"),
        ("performance", "standard_errors", [3, 1e9], "performance.standard_errors"),
    ],
)
def test_every_spec_number_is_bounded(section: str, key: str, value: object, expected: str) -> None:
    with pytest.raises(SpecError, match=expected.replace(".", r"\.")) as err:
        spec_from_dict({**BASE_SPEC, section: {key: value}})
    assert "less than" in str(err.value) or "greater than" in str(err.value)


def test_a_drift_override_and_bounds_must_be_finite() -> None:
    columns = {"x": {"role": "feature", "drift": {"method": "psi", "threshold": float("inf")}}}
    with pytest.raises(SpecError, match=r"columns\.x\.drift\.threshold"):
        spec_from_dict({"columns": columns})
    with pytest.raises(SpecError, match=r"columns\.x\.bounds"):
        spec_from_dict({"columns": {"x": {"role": "feature", "bounds": [0, float("nan")]}}})


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("\ud800", "lone surrogate"),
        ("a\x00b", "control character"),
        ("", "1 to 256"),
        ("x" * 300, "1 to 256"),
    ],
)
def test_column_names_must_be_text(name: str, expected: str) -> None:
    with pytest.raises(SpecError, match=expected):
        spec_from_dict({"columns": {name: {"role": "feature"}}})


def test_a_spec_nested_too_deep_is_a_spec_error() -> None:
    deep: dict[str, object] = {}
    node = deep
    for _ in range(100_000):
        node["a"] = {}
        node = node["a"]  # type: ignore[assignment]
    with pytest.raises(SpecError):
        spec_from_dict({"columns": {"x": {"role": "feature", "drift": deep}}})
