"""Fairness over protected attributes: fairlearn's numbers through `evaluate`, the spec's
options, and the verdict on fair models (ok, over many small windows) and unfair ones."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from fairlearn.metrics import (
    demographic_parity_difference,
    demographic_parity_ratio,
    equal_opportunity_difference,
    equalized_odds_difference,
)
from tests.published import nannyml_analysis, nannyml_reference

from vigil.errors import SpecError
from vigil.evaluation import PreparedReference, evaluate
from vigil.measure.fairness import FairnessResult, measure_fairness
from vigil.report.json import read_report, report_to_json
from vigil.spec import Spec, spec_from_dict

MEASURES = [
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "disparate_impact",
    "equal_opportunity_difference",
    "equalized_odds_difference",
]


def spec_of(protected: str = "group", min_labelled: int = 100, **fairness: Any) -> Spec:
    return spec_from_dict(
        {
            "task": "binary",
            "performance": {"min_labelled": min_labelled},
            "columns": {
                "x": {"role": "feature"},
                protected: {"role": "segment", "protected": True},
                "y": {"role": "target"},
                "pred": {"role": "prediction"},
            },
            "fairness": {"measures": MEASURES, **fairness},
        }
    )


def model_set(
    n: int,
    seed: int,
    *,
    groups: tuple[str, ...] = ("a", "b", "c"),
    weights: tuple[float, ...] = (0.5, 0.3, 0.2),
    drop: float = 0.0,
    labelled: float = 1.0,
) -> pa.Table:
    """A model fair by construction (each group's outcome and prediction rates equal in
    expectation), or, with `drop`, one whose selection rate for group "a" falls by that share."""
    rng = np.random.default_rng(seed)
    group = rng.choice(groups, n, p=weights)
    x = rng.normal(size=n)
    y = (rng.random(n) < 0.4).astype(np.int64)
    pred = np.where(rng.random(n) < 0.85, y, 1 - y)
    unfair = (group == groups[0]) & (pred == 1) & (rng.random(n) < drop)
    pred = np.where(unfair, 0, pred)
    target = pa.array(y.tolist(), pa.int64())
    if labelled < 1:
        target = pa.array([v if rng.random() < labelled else None for v in y.tolist()], pa.int64())
    return pa.table({"x": x, "group": group, "y": target, "pred": pred})


def fairlearn_numbers(
    y: np.ndarray, pred: np.ndarray, groups: np.ndarray, labelled: np.ndarray
) -> dict[str, float]:
    ratio = demographic_parity_ratio(y, pred, sensitive_features=groups)
    return {
        "demographic_parity_difference": demographic_parity_difference(
            y, pred, sensitive_features=groups
        ),
        "demographic_parity_ratio": ratio,
        "disparate_impact": ratio,
        "equal_opportunity_difference": equal_opportunity_difference(
            y[labelled], pred[labelled], sensitive_features=groups[labelled]
        ),
        "equalized_odds_difference": equalized_odds_difference(
            y[labelled], pred[labelled], sensitive_features=groups[labelled]
        ),
    }


def assert_fairlearns(result: FairnessResult, column: str, expected: dict[str, float]) -> None:
    attribute = result.attribute(column)
    assert attribute is not None
    for name, value in expected.items():
        measured = attribute.measures[name].value
        assert measured is not None, (name, attribute.measures[name].reason)
        assert measured == pytest.approx(float(value), abs=1e-12), name


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_seeded_sets_give_fairlearns_numbers(seed: int) -> None:
    table = model_set(3000, seed, drop=0.3 * seed, labelled=0.7)
    spec = spec_of(min_group_size=1)
    result = measure_fairness(spec, table, ("0", "1"))
    assert result is not None and result.positive_class == "1"
    y_raw = table.column("y").to_pylist()
    labelled = np.array([v is not None for v in y_raw])
    y = np.array([-1 if v is None else v for v in y_raw])
    pred = table.column("pred").to_numpy()
    groups = table.column("group").to_numpy(zero_copy_only=False)
    expected = fairlearn_numbers(y, pred, groups, labelled)
    assert_fairlearns(result, "group", expected)
    assert result.labelled_rows == int(labelled.sum())


@pytest.fixture(scope="module")
def car_loan() -> tuple[pa.Table, dict[str, Any]]:
    return nannyml_reference("car_loan")


def car_loan_spec(attribute: str, **fairness: Any) -> Spec:
    return spec_from_dict(
        {
            "task": "binary",
            "columns": {
                "car_value": {"role": "feature"},
                attribute: {"role": "segment", "kind": "categorical", "protected": True},
                "repaid": {"role": "target", "kind": "categorical"},
                "y_pred": {"role": "prediction", "kind": "categorical"},
            },
            "fairness": {"measures": MEASURES, **fairness},
        }
    )


@pytest.mark.parametrize("attribute", ["salary_range", "repaid_loan_on_prev_car"])
def test_nannyml_car_loan_gives_fairlearns_numbers(
    car_loan: tuple[pa.Table, dict[str, Any]], attribute: str
) -> None:
    """NannyML's car-loan reference (50,000 labelled rows), the salary band and the
    previous-loan flag read as protected attributes."""
    table, _ = car_loan
    report = evaluate(table, table.slice(0, 20_000), car_loan_spec(attribute))
    assert report.fairness is not None and report.fairness.positive_class == "1"
    head = table.slice(0, 20_000)
    y = head.column("repaid").to_numpy().astype(int)
    pred = head.column("y_pred").to_numpy()
    groups = np.array([str(v) for v in head.column(attribute).to_pylist()])
    expected = fairlearn_numbers(y, pred, groups, np.ones(y.size, bool))
    assert_fairlearns(report.fairness, attribute, expected)
    # the salary band decides the loan: a real gap, found and judged
    if attribute == "salary_range":
        dp = report.check("fairness.demographic_parity_difference", attribute)
        assert dp is not None and dp.status == "critical"


def test_an_attribute_independent_of_the_model_is_ok_on_every_nannyml_window(
    car_loan: tuple[pa.Table, dict[str, Any]],
) -> None:
    """No false alarm on real data: groups drawn from the id (independent of the model by
    construction), over NannyML's reference and analysis (which drifts), 5,000-row chunks."""
    table, _ = car_loan
    spec = car_loan_spec("cohort")

    def with_cohort(t: pa.Table) -> pa.Table:
        cohort = pc.cast(pc.bit_wise_and(pc.multiply(t.column("id"), 7919), 3), pa.string())
        return t.append_column("cohort", cohort)

    prepared = PreparedReference(with_cohort(table), spec)
    analysis = with_cohort(nannyml_analysis("car_loan"))
    statuses = []
    for source in (with_cohort(table), analysis):
        for start in range(0, source.num_rows, 5000):
            report = evaluate(prepared, source.slice(start, 5000), spec)
            statuses += [c.status for c in report.checks if c.name.startswith("fairness.")]
    assert len(statuses) == 20 * len(MEASURES)
    assert set(statuses) == {"ok"}


def test_a_fair_model_stays_ok_over_many_small_windows() -> None:
    """Rates equal in expectation, groups of about 40, 24 and 16 rows (TPR: 16, 10, 6
    positives): the gaps between groups pass the practical levels by chance alone in most
    windows, and the band keeps them ok — at most one window in a hundred warns."""
    spec = spec_of(min_group_size=10, min_labelled=50)
    prepared = PreparedReference(model_set(2000, 99), spec)
    judged = past_level = 0
    alarmed = set()
    for seed in range(300):
        report = evaluate(prepared, model_set(80, 1000 + seed), spec)
        for c in report.checks:
            if c.name.startswith("fairness.") and c.value is not None:
                judged += 1
                past_level += c.value >= 0.1 if "difference" in c.name else c.value < 0.8
                if c.status in ("warning", "critical"):
                    alarmed.add(seed)
    # nearly every measure judged, the label-based ones too (unless under two groups have 10
    # positives)
    assert judged >= 0.75 * 300 * len(MEASURES)
    assert past_level > judged / 2  # the practical level alone would cry wolf
    assert len(alarmed) <= 3


def test_a_selection_rate_that_drops_for_one_group_warns() -> None:
    spec = spec_of(min_group_size=30)
    prepared = PreparedReference(model_set(2000, 99), spec)
    report = evaluate(prepared, model_set(1500, 5, drop=0.5), spec)
    dp = report.check("fairness.demographic_parity_difference", "group")
    di = report.check("fairness.disparate_impact", "group")
    eo = report.check("fairness.equal_opportunity_difference", "group")
    for check in (dp, di, eo):
        assert check is not None and check.status in ("warning", "critical"), check
        assert check.metric.startswith("fairness.") and check.column == "group"
    assert di is not None and di.value is not None and di.value < 0.8
    attribute = report.fairness.attribute("group") if report.fairness else None
    assert attribute is not None
    assert attribute.measures["disparate_impact"].low_group == "a"


def test_label_based_measures_wait_for_labels_and_small_groups_are_not_judged() -> None:
    spec = spec_of(min_group_size=100)
    prepared = PreparedReference(model_set(2000, 99), spec)
    table = model_set(600, 3, weights=(0.6, 0.35, 0.05), labelled=0.1)
    report = evaluate(prepared, table, spec)
    assert report.fairness is not None and report.fairness.labelled_rows < 100
    eo = report.check("fairness.equal_opportunity_difference", "group")
    assert eo is not None and eo.status == "pending" and "labelled rows" in eo.message
    dp = report.check("fairness.demographic_parity_difference", "group")
    assert dp is not None and dp.status == "ok"
    attribute = report.fairness.attribute("group")
    assert attribute is not None
    assert [g.group for g in attribute.groups] == ["a", "b", "c"]  # "c" reported ...
    assert attribute.measures["demographic_parity_difference"].groups == 2  # ... not compared


def test_multiclass_needs_the_class_named() -> None:
    rng = np.random.default_rng(4)
    n = 900
    y = rng.choice(["cat", "dog", "eel"], n)
    table = pa.table(
        {
            "x": rng.normal(size=n),
            "g": rng.choice(["u", "v"], n),
            "y": y,
            "pred": np.where(rng.random(n) < 0.8, y, "eel"),
        }
    )
    data: dict[str, Any] = {
        "task": "multiclass",
        "columns": {
            "x": {},
            "g": {"role": "segment", "protected": True},
            "y": {"role": "target"},
            "pred": {"role": "prediction"},
        },
    }
    unnamed = evaluate(table, table, spec_from_dict(data))
    assert unnamed.fairness is not None and unnamed.fairness.attributes == ()
    assert "positive_class" in (unnamed.fairness.reason or "")
    named = evaluate(table, table, spec_from_dict({**data, "fairness": {"positive_class": "dog"}}))
    assert named.fairness is not None
    groups = np.asarray(table.column("g"))
    one = (np.asarray(table.column("pred")) == "dog").astype(int)
    truth = (y == "dog").astype(int)
    expected = demographic_parity_difference(truth, one, sensitive_features=groups)
    found = named.fairness.attribute("g")
    assert found is not None
    measured = found.measures["demographic_parity_difference"].value
    assert measured == pytest.approx(expected, abs=1e-12)
    assert found.measures["equalized_odds_difference"].value == pytest.approx(
        equalized_odds_difference(truth, one, sensitive_features=groups), abs=1e-12
    )


def test_the_report_json_round_trips_fairness() -> None:
    spec = spec_of(min_group_size=30)
    report = evaluate(model_set(2000, 1), model_set(1500, 5, drop=0.5), spec)
    back = read_report(report_to_json(report))
    assert back.fairness == report.fairness
    assert back.checks == report.checks


def test_a_spec_without_protected_columns_has_no_fairness() -> None:
    spec = spec_from_dict(
        {
            "task": "binary",
            "columns": {"x": {}, "y": {"role": "target"}, "pred": {"role": "prediction"}},
        }
    )
    report = evaluate(model_set(500, 1), model_set(500, 2), spec)
    assert report.fairness is None
    assert "fairness" not in spec.to_dict()


@pytest.mark.parametrize(
    ("column", "fairness", "message"),
    [
        ({"role": "feature", "protected": True}, {}, "column 'group': only a categorical segment"),
        (
            {"role": "segment", "kind": "numeric", "protected": True},
            {},
            "column 'group': only a categorical segment",
        ),
        ({"role": "segment", "protected": "yes please"}, {}, "columns.group.protected"),
        ({"role": "segment"}, {"measures": ["parity"]}, "fairness.measures"),
        (
            {"role": "segment"},
            {"measures": ["disparate_impact", "disparate_impact"]},
            "fairness.measures lists disparate_impact more than once",
        ),
        ({"role": "segment"}, {"positive_class": ["a"]}, "fairness.positive_class"),
        ({"role": "segment"}, {"difference": [0.3, 0.1]}, "fairness.difference"),
        ({"role": "segment"}, {"ratio": [0.6, 0.8]}, "fairness.ratio"),
        ({"role": "segment"}, {"min_group_size": 0}, "fairness.min_group_size"),
        ({"role": "segment"}, {"alpha": 1.5}, "fairness.alpha"),
        ({"role": "segment"}, {"size": 3}, "fairness.size"),
        # a multivariate key in the fairness section (once accepted, then a TypeError)
        ({"role": "segment"}, {"anomaly_share": [0.1, 0.2]}, "fairness.anomaly_share"),
    ],
)
def test_bad_fairness_options_are_refused_by_name(
    column: dict[str, Any], fairness: dict[str, Any], message: str
) -> None:
    with pytest.raises(SpecError, match=message.replace(".", r"\.")):
        spec_from_dict(
            {
                "task": "binary",
                "columns": {"group": column, "y": {"role": "target"}},
                "fairness": fairness,
            }
        )


def test_fairness_options_round_trip_through_the_spec_file() -> None:
    spec = spec_of(
        min_group_size=50, difference=[0.05, 0.15], ratio=[0.9, 0.7], positive_class=1, alpha=0.01
    )
    assert spec.fairness.positive_class == "1"
    assert spec.fairness.ratio.direction == "below"
    assert spec_from_dict(spec.to_dict()) == spec
    assert spec.to_dict()["columns"]["group"]["protected"] is True


def test_terminal_and_html_show_each_attribute_with_group_names_escaped() -> None:
    import io

    from rich.console import Console

    from vigil.report import render_html, render_terminal

    spec = spec_of(min_group_size=30)
    hostile = "<script>x</script>[bold]"
    table = model_set(1500, 5, groups=(hostile, "b", "c"), drop=0.5)
    report = evaluate(model_set(2000, 1), table, spec)
    out = io.StringIO()
    render_terminal(report, Console(file=out, width=200))
    text = out.getvalue()
    assert "Fairness by group" in text and hostile in text  # printed literally, not as markup
    assert "disparate_impact" in text
    page = render_html(report)
    assert "<script>x" not in page and "&lt;script&gt;x&lt;/script&gt;" in page
    assert page.count('data-measure="') == len(MEASURES)


def test_a_numeric_coded_attribute_with_nan_counts_those_rows_missing() -> None:
    """pandas writes a missing value of a number-coded group as NaN: those rows (and rows with
    no prediction) are left out and counted, not a crash (sorting None among the groups raised
    TypeError)."""
    table = model_set(600, seed=4, groups=("1", "2"), weights=(0.5, 0.5))
    codes = [float(g) for g in table.column("group").to_pylist()]
    codes[:7] = [math.nan] * 7
    pred = table.column("pred").to_pylist()
    pred[7:10] = [None] * 3
    table = table.set_column(1, "group", pa.array(codes, pa.float64()))
    table = table.set_column(3, "pred", pa.array(pred, pa.int64()))
    spec = spec_from_dict(
        {
            "task": "binary",
            "columns": {
                "x": {"role": "feature"},
                "group": {"role": "segment", "kind": "categorical", "protected": True},
                "y": {"role": "target"},
                "pred": {"role": "prediction"},
            },
        }
    )
    report = evaluate(table, table, spec)
    assert report.fairness is not None
    (attribute,) = report.fairness.attributes
    assert attribute.missing == 10
    assert {g.group for g in attribute.groups} == {"1", "2"}
