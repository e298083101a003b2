"""`evaluate_labels` gives the report a whole `evaluate` gives, field by field, for label
batches Hypothesis chooses: labels added, changed, taken away, on binary, multiclass and
regression models, with repeated rows whose duplicates only the label tells apart."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.monitor.test_prepared_references import BINARY, MULTICLASS, binary_set, multiclass_set

from vigil.evaluation import PreparedReference, evaluate, profile_dataset
from vigil.late_labels import evaluate_labels
from vigil.report.model import Report
from vigil.spec import Spec, spec_from_dict

LABEL_BATCHES = settings(max_examples=25, deadline=None)
REGRESSION = {
    "version": 1,
    "task": "regression",
    "columns": {
        "x": {"role": "feature", "kind": "numeric"},
        "c": {"role": "feature", "kind": "categorical"},
        "pred": {"role": "prediction", "kind": "numeric"},
        "y": {"role": "target", "kind": "numeric"},
    },
}


def same(a: Any, b: Any, path: str = "report") -> None:
    """Assert `a` and `b` equal: dataclasses field by field, dicts in the same key order,
    NaN equal to NaN (a float compares unequal to itself there), `created` left out."""
    if dataclasses.is_dataclass(a) and not isinstance(a, type):
        assert type(a) is type(b), path
        for f in dataclasses.fields(a):
            if isinstance(a, Report) and f.name == "created":
                continue
            same(getattr(a, f.name), getattr(b, f.name), f"{path}.{f.name}")
    elif isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b), path
        for k in a:
            same(a[k], b[k], f"{path}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            same(x, y, f"{path}[{i}]")
    elif isinstance(a, np.ndarray):
        assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), path
    elif isinstance(a, float) and math.isnan(a):
        assert isinstance(b, float) and math.isnan(b), path
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


def relabel(table: pa.Table, rows: list[int], labels: list[Any], *, target: str = "y") -> pa.Table:
    """`table` with the target of `rows` set to `labels` (None takes a label away)."""
    values = table.column(target).to_pylist()
    for i, label in zip(rows, labels, strict=True):
        values[i % len(values)] = label
    index = table.column_names.index(target)
    return table.set_column(index, target, pa.array(values, table.schema.field(target).type))


def check(prepared: PreparedReference, before: pa.Table, after: pa.Table) -> tuple[Report, Report]:
    """The label path against the whole path; both reports."""
    previous = evaluate(prepared, before, prepared.spec)
    whole = evaluate(prepared, after, prepared.spec)
    same(whole, evaluate_labels(previous, prepared, after))
    return previous, whole


# the shop protected: the fairness measures (label-free and label-based) are judged too, with
# groups small enough that Hypothesis' batches move them
FAIR_BINARY = {
    **BINARY,
    "columns": {**BINARY["columns"], "shop": {"role": "segment", "protected": True}},
    "fairness": {"min_group_size": 5, "alpha": 0.05},
    "performance": {"min_labelled": 20},
}


@pytest.fixture(scope="module")
def binary() -> PreparedReference:
    return PreparedReference(binary_set(2000, 1, missing=0.02), spec_from_dict(FAIR_BINARY))


@pytest.fixture(scope="module")
def multiclass() -> PreparedReference:
    return PreparedReference(multiclass_set(1500, 2), spec_from_dict(MULTICLASS))


@pytest.fixture(scope="module")
def regression() -> PreparedReference:
    rng = np.random.default_rng(3)
    return PreparedReference(regression_set(rng, 1500, 0.0), spec_from_dict(REGRESSION))


def regression_set(rng: np.random.Generator, n: int, shift: float) -> pa.Table:
    x = rng.normal(shift, 1, n)
    return pa.table(
        {
            "x": x,
            "c": rng.choice(["u", "v", "w"], n),
            "pred": x * 2,
            "y": x * 2 + rng.normal(0, 1 + shift, n),
        }
    )


@LABEL_BATCHES
@given(
    seed=st.integers(0, 10_000),
    shift=st.sampled_from([0.0, 0.5, 1.5]),
    labelled=st.sampled_from([0.0, 0.3, 1.0]),
    repeated=st.booleans(),
    batch=st.lists(
        st.tuples(st.integers(0, 10_000), st.sampled_from(["0", "1", None])), max_size=80
    ),
)
def test_binary_label_batches_give_the_whole_report(
    binary: PreparedReference,
    seed: int,
    shift: float,
    labelled: float,
    repeated: bool,
    batch: list[tuple[int, str | None]],
) -> None:
    before = binary_set(300, seed, shift=shift, missing=0.1, labelled=labelled)
    if repeated:  # rows that repeat but for their label: the duplicates hang on the labels
        before = pa.concat_tables([before, before.slice(0, 60)])
    after = relabel(before, [i for i, _ in batch], [label for _, label in batch])
    check(binary, before, after)


@LABEL_BATCHES
@given(
    seed=st.integers(0, 10_000),
    shift=st.sampled_from([0.0, 2.0]),
    batch=st.lists(
        st.tuples(st.integers(0, 10_000), st.sampled_from(["a", "b", "c", None])), max_size=60
    ),
)
def test_multiclass_label_batches_give_the_whole_report(
    multiclass: PreparedReference, seed: int, shift: float, batch: list[tuple[int, str | None]]
) -> None:
    before = multiclass_set(200, seed, shift=shift)
    after = relabel(before, [i for i, _ in batch], [label for _, label in batch])
    check(multiclass, before, after)


@LABEL_BATCHES
@given(
    seed=st.integers(0, 10_000),
    shift=st.sampled_from([0.0, 1.0]),
    batch=st.lists(
        st.tuples(st.integers(0, 10_000), st.none() | st.floats(-50, 50, allow_nan=False)),
        max_size=60,
    ),
)
def test_regression_label_batches_give_the_whole_report(
    regression: PreparedReference, seed: int, shift: float, batch: list[tuple[int, float | None]]
) -> None:
    before = regression_set(np.random.default_rng(seed), 200, shift)
    after = relabel(before, [i for i, _ in batch], [label for _, label in batch])
    check(regression, before, after)


def test_labels_move_the_verdicts_of_other_columns_through_the_family(
    binary: PreparedReference,
) -> None:
    """The first labels of a window change more than performance: the target's drift and
    quality tests join the family, so other columns' adjusted p-values move too."""
    before = binary_set(400, 7, shift=1.0, labelled=0.0)
    after = binary_set(400, 7, shift=1.0, labelled=1.0)
    previous, whole = check(binary, before, after)
    assert previous.performance is not None and previous.performance.current is None
    assert whole.performance is not None and whole.performance.current is not None
    moved = [
        name
        for name, col in whole.drift.columns.items()
        if name != "y" and col.p_value_adjusted != previous.drift.columns[name].p_value_adjusted
    ]
    assert moved  # the family changed: the feature columns' adjusted p-values with it
    assert all(whole.drift.columns[n].p_value == previous.drift.columns[n].p_value for n in moved)


def test_a_class_the_reference_never_had_is_judged_as_evaluate_judges_it(
    multiclass: PreparedReference,
) -> None:
    before = multiclass_set(200, 5)
    after = relabel(before, [0, 1, 2], ["zebra", "zebra", None])
    _, whole = check(multiclass, before, after)
    assert whole.performance is not None and whole.performance.current is not None
    confusion = whole.performance.current.confusion
    assert confusion is not None and "zebra" in confusion.labels


def test_labels_move_the_label_based_fairness_measures(binary: PreparedReference) -> None:
    before = binary_set(400, 9, labelled=0.0)
    previous, whole = check(binary, before, binary_set(400, 9, labelled=1.0))
    assert previous.fairness is not None and whole.fairness is not None
    old, new = previous.fairness.attribute("shop"), whole.fairness.attribute("shop")
    assert old is not None and new is not None
    assert old.measures["equal_opportunity_difference"].value is None
    assert new.measures["equal_opportunity_difference"].value is not None
    assert old.measures["disparate_impact"] == new.measures["disparate_impact"]
    check_ = whole.check("fairness.equalized_odds_difference", "shop")
    assert check_ is not None and check_.status != "pending"


def test_a_previous_report_of_other_rows_is_refused(binary: PreparedReference) -> None:
    previous = evaluate(binary, binary_set(300, 8), binary.spec)
    with pytest.raises(ValueError, match="evaluate the set whole"):
        evaluate_labels(previous, binary, binary_set(301, 8))
    other: Spec = spec_from_dict({**BINARY, "drift": {"bins": 7}})
    with pytest.raises(ValueError, match="evaluate the set whole"):
        evaluate_labels(previous, PreparedReference(binary_set(2000, 1), other), binary_set(300, 8))
    with pytest.raises(ValueError, match="evaluate the set whole"):
        evaluate_labels(previous, binary, binary_set(300, 8).drop_columns(["city"]))


def test_a_window_without_its_target_column_gets_one(binary: PreparedReference) -> None:
    """The label column absent before (no labels yet, as a batch export has it) and present
    after, and the other way round."""
    labelled = binary_set(300, 9, labelled=0.6)
    unlabelled = labelled.drop_columns(["y"])
    check(binary, unlabelled, labelled)
    check(binary, labelled, unlabelled)


def test_a_reference_profile_gives_the_whole_report_too() -> None:
    """Against a saved profile (approximate measures, its notes) the label path is the same."""
    spec = spec_from_dict(BINARY)
    prepared = PreparedReference(profile_dataset(binary_set(2000, 11), spec), spec)
    before = binary_set(300, 12, shift=1.0, labelled=0.2)
    previous, whole = check(prepared, before, relabel(before, list(range(0, 300, 3)), ["1"] * 100))
    assert whole.reference.is_profile and whole.notes  # the profile's notes came along
    assert whole.performance is not None and previous.performance is not None
    assert whole.performance.current != previous.performance.current


def test_the_estimate_is_carried_and_its_realized_values_refreshed(
    binary: PreparedReference,
) -> None:
    unlabelled = binary_set(600, 9, labelled=0.0)
    labelled = binary_set(600, 9, labelled=1.0)
    previous = evaluate(binary, unlabelled, binary.spec)
    after = evaluate_labels(previous, binary, labelled)
    same(evaluate(binary, labelled, binary.spec), after)
    assert previous.estimated is not None and after.estimated is not None
    for name, found in previous.estimated.estimates.items():
        assert found.realized is None
        refreshed = after.estimated.estimates[name]
        assert refreshed.value == found.value and refreshed.realized is not None
    performance = after.performance
    assert performance is not None and performance.current is not None
    assert after.estimated.estimates["roc_auc"].realized == pytest.approx(
        performance.current.metrics["roc_auc"]
    )
