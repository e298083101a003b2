"""CBPE: performance estimated from scores, against NannyML's published estimates and a
simulation of its sampling noise; its verdict on unshifted and shifted data.

NannyML's numbers below are hard-coded in NannyML's own test suite, repository
NannyML/nannyml, file tests/performance_estimation/CBPE/test_cbpe_metrics.py (the version
stored at commit 00cb97f7ee4b334b93cd4d463be70663c9e92d97, the tests of 0.13.x):
`test_cbpe_for_binary_classification_with_timestamps` (id
`size_based_without_timestamp_cm_normalization_none_business_norm_none`: CBPE fitted on
`load_synthetic_binary_classification_dataset()`'s reference, `SizeBasedChunker(chunk_size=20000,
incomplete='append')` on the analysis set) and the multiclass test after it (`{'chunk_size':
20000}` on `load_synthetic_multiclass_classification_dataset()`). The data are the CSV files
inside NannyML's 0.13.1 wheel (tests/published.py): `synthetic_sample_*` and `mc_*`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

import numpy as np
import pyarrow as pa
import pytest
from sklearn import metrics
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from tests.published import nannyml_analysis, nannyml_reference

from vigil.errors import SpecError
from vigil.evaluation import PreparedReference, evaluate, infer_spec
from vigil.measure.cbpe import estimate_cbpe, needs_calibration
from vigil.measure.estimation import estimate
from vigil.report.json import read_report, report_to_json
from vigil.spec import spec_from_dict

_T = TypeVar("_T")
TOLERANCE = 0.002  # the bar for matching NannyML

# NannyML's published estimates (see the module docstring), chunk by chunk.
NANNYML_BINARY = {  # chunks [0:19999], [20000:49999]
    "roc_auc": [0.9711057564966745, 0.9636286015592977],
    "f1": [0.9479079222515973, 0.9278089207836576],
    "precision": [0.9436121782324026, 0.9197836255005452],
    "recall": [0.9522429574319092, 0.9359754933378336],
    "specificity": [0.9434949869571513, 0.9123732942949082],
    "accuracy": [0.9478536003143163, 0.9245926106862006],
}
NANNYML_BINARY_CONFUSION = {  # estimated_true_positive, ... of the same chunks
    ("1", "1"): [9488.96406430504, 14537.180201036117],
    ("0", "0"): [9468.107941981285, 13200.5981195499],
    ("0", "1"): [567.0359356949585, 1267.8197989638852],  # false positives: true 0, predicted 1
    ("1", "0"): [475.8920580187156, 994.4018804500995],
}
NANNYML_MULTICLASS = {  # chunks [0:19999], [20000:39999], [40000:59999]
    "roc_auc": [0.909165141524145, 0.8682789924547322, 0.8203173643497594],
    "f1_macro": [0.756401608336434, 0.6937135623882767, 0.632386421613214],
    "precision_macro": [0.7564437378390059, 0.694174192229447, 0.6336288859123612],
    "recall_macro": [0.7564129287764665, 0.6934788458355289, 0.6319310599943714],
    "specificity_macro": [0.8782068281303994, 0.8469556750949159, 0.8172644220189141],
    "accuracy": [0.7564451493123628, 0.6946947603445697, 0.6378557309960986],
}


class Memo:
    """The reference's memo, as a prepared reference keeps it."""

    def __init__(self) -> None:
        self.values: dict[Hashable, Any] = {}
        self.computed = 0

    def __call__(self, key: Hashable, compute: Callable[[], _T]) -> _T:
        if key not in self.values:
            self.computed += 1
            self.values[key] = compute()
        found: _T = self.values[key]
        return found


def _chunks(table: pa.Table, bounds: list[tuple[int, int]]) -> list[pa.Table]:
    return [table.slice(a, b - a) for a, b in bounds]


def _set(name: str) -> tuple[pa.Table, pa.Table, Any]:
    reference, roles = nannyml_reference(name)
    spec = infer_spec(reference, **roles)
    return reference, nannyml_analysis(name), spec


def test_binary_estimates_match_nannyml_published_numbers() -> None:
    reference, analysis, spec = _set("work_from_home")
    memo = Memo()
    for i, chunk in enumerate(_chunks(analysis, [(0, 20_000), (20_000, 50_000)])):
        result = estimate_cbpe(spec, reference, chunk, memo)
        for metric, published in NANNYML_BINARY.items():
            got = result.estimates[metric].value
            assert abs(got - published[i]) <= TOLERANCE, (metric, i, got, published[i])
        assert result.confusion is not None
        cells = dict(zip(result.confusion.labels, range(2), strict=True))
        for (true, predicted), published in NANNYML_BINARY_CONFUSION.items():
            got = result.confusion.matrix[cells[true]][cells[predicted]]
            assert abs(got - published[i]) <= TOLERANCE * chunk.num_rows
    assert memo.computed == 2  # the classes and the fit, once for both chunks


def test_multiclass_estimates_match_nannyml_published_numbers() -> None:
    reference, analysis, spec = _set("card_offer")
    memo = Memo()
    bounds = [(0, 20_000), (20_000, 40_000), (40_000, 60_000)]
    for i, chunk in enumerate(_chunks(analysis, bounds)):
        result = estimate_cbpe(spec, reference, chunk, memo)
        for metric, published in NANNYML_MULTICLASS.items():
            got = result.estimates[metric].value
            assert abs(got - published[i]) <= TOLERANCE, (metric, i, got, published[i])


def test_the_realized_value_is_the_chunks_own_metric() -> None:
    reference, analysis, spec = _set("card_offer")
    chunk = analysis.slice(40_000, 20_000)
    result = estimate_cbpe(spec, reference, chunk, Memo())
    y = np.array(chunk.column("y_true").to_pylist())
    pred = np.array(chunk.column("y_pred").to_pylist())
    cards = sorted(set(y))
    proba = np.column_stack([chunk.column(f"y_pred_proba_{c}").to_numpy() for c in cards])
    assert result.estimates["roc_auc"].realized == pytest.approx(
        metrics.roc_auc_score(y, proba, multi_class="ovr", labels=cards)
    )
    assert result.estimates["f1_macro"].realized == pytest.approx(
        metrics.f1_score(y, pred, average="macro")
    )
    # the shift NannyML's example describes: the estimate drops below the reference's value
    change = result.estimates["roc_auc"].change
    assert change is not None and change.current < change.reference - 0.05


def _calibrated_draws(
    proba: np.ndarray, pred: np.ndarray, draws: int, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    out: dict[str, list[float]] = {"accuracy": [], "f1": [], "precision": [], "recall": []}
    out["roc_auc"] = []
    out["specificity"] = []
    for _ in range(draws):
        y = (rng.random(proba.size) < proba).astype(int)
        out["accuracy"].append(metrics.accuracy_score(y, pred))
        out["f1"].append(metrics.f1_score(y, pred))
        out["precision"].append(metrics.precision_score(y, pred))
        out["recall"].append(metrics.recall_score(y, pred))
        out["specificity"].append(metrics.recall_score(1 - y, 1 - pred))
        out["roc_auc"].append(metrics.roc_auc_score(y, proba))
    return {k: np.array(v) for k, v in out.items()}


def test_standard_errors_match_the_spread_of_labels_drawn_from_calibrated_scores() -> None:
    rng = np.random.default_rng(7)
    n = 2000
    scores = np.round(rng.beta(2, 2, size=2 * n), 3)  # calibrated by construction
    ref_y = (rng.random(n) < scores[:n]).astype(int)
    reference = pa.table(
        {
            "y": [str(v) for v in ref_y],
            "p": scores[:n],
            "pred": [str(int(s >= 0.5)) for s in scores[:n]],
        }
    )
    current_scores = scores[n:]
    current = pa.table({"p": current_scores, "pred": [str(int(s >= 0.5)) for s in current_scores]})
    spec = spec_from_dict(
        {
            "task": "binary",
            "columns": {
                "y": {"role": "target"},
                "p": {"role": "score"},
                "pred": {"role": "prediction"},
            },
            "estimation": {"calibration": "never"},
        }
    )
    result = estimate_cbpe(spec, reference, current, Memo())
    pred = (current_scores >= 0.5).astype(int)
    spread = _calibrated_draws(current_scores, pred, 400, rng)
    for metric, draws in spread.items():
        found = result.estimates[metric]
        assert found.standard_error is not None
        assert found.standard_error == pytest.approx(draws.std(ddof=1), rel=0.15), metric
        assert found.value == pytest.approx(draws.mean(), abs=3 * draws.std() / 20 + 0.002), metric


def test_calibration_is_chosen_only_when_it_lowers_held_out_calibration_error() -> None:
    rng = np.random.default_rng(3)
    p = rng.random(5000)
    y = (rng.random(5000) < p).astype(np.int64)
    assert needs_calibration(y, p**3)  # pushed towards 0: calibration helps
    assert needs_calibration(y, 0.5 + (p - 0.5) / 4)  # timid scores: calibration helps
    assert not needs_calibration(y, y + 0.1 * p)  # the classes separated: nothing to gain
    assert not needs_calibration(np.ones(100, dtype=np.int64), p[:100])  # one class only


def _breast_cancer_split() -> tuple[pa.Table, pa.Table]:
    data = load_breast_cancer()
    x_train, x_rest, y_train, y_rest = train_test_split(
        data.data, data.target, test_size=0.6, random_state=0, stratify=data.target
    )
    model = LogisticRegression(max_iter=5000).fit(x_train, y_train)
    x_ref, x_cur, y_ref, y_cur = train_test_split(
        x_rest, y_rest, test_size=0.5, random_state=1, stratify=y_rest
    )

    def table(x: np.ndarray, y: np.ndarray) -> pa.Table:
        p = model.predict_proba(x)[:, 1]
        return pa.table(
            {"mean_radius": x[:, 0], "target": y, "score": p, "pred": (p >= 0.5).astype(int)}
        )

    return table(x_ref, y_ref), table(x_cur, y_cur)


def test_unshifted_data_is_ok() -> None:
    reference, current = _breast_cancer_split()
    report = evaluate(reference, current, target="target", prediction="pred", scores=["score"])
    assert report.estimated is not None and report.estimated.method == "cbpe"
    statuses = {c.name: c.status for c in report.checks if c.name.startswith("estimated.")}
    assert statuses and set(statuses.values()) == {"ok"}
    reference, _, spec = _set("car_loan")
    prepared = PreparedReference(reference, spec)
    for start in range(0, 50_000, 10_000):  # the reference's own chunks
        chunk = reference.slice(start, 10_000).drop_columns(["repaid"])
        found = estimate(spec, prepared.reference.table, chunk, prepared.reference.once)
        assert found is not None
        report = evaluate(prepared, chunk)
        estimated = [c for c in report.checks if c.name.startswith("estimated.")]
        assert estimated and all(c.status == "ok" for c in estimated), [
            c.message for c in estimated if c.status != "ok"
        ]


def test_the_shifted_half_of_car_loan_warns_where_its_realized_auc_drops() -> None:
    reference, analysis, spec = _set("car_loan")
    prepared = PreparedReference(reference, spec)
    first = evaluate(prepared, analysis.slice(0, 25_000).drop_columns(["repaid"]))
    second = evaluate(prepared, analysis.slice(25_000).drop_columns(["repaid"]))
    assert first.check("estimated.roc_auc").status == "ok"  # type: ignore[union-attr]
    drop = second.check("estimated.roc_auc")
    assert drop is not None and drop.status in ("warning", "critical"), drop
    labelled = evaluate(prepared, analysis.slice(25_000))
    realized = labelled.check("performance.roc_auc")
    assert realized is not None and realized.status in ("warning", "critical")
    both = labelled.check("estimated.roc_auc")
    assert both is not None and "Realized on the labelled rows" in both.message
    assert labelled.estimated is not None
    assert labelled.estimated.estimates["roc_auc"].realized == pytest.approx(realized.value)


def test_the_report_json_keeps_the_estimates() -> None:
    reference, current = _breast_cancer_split()
    report = evaluate(reference, current, target="target", prediction="pred", scores=["score"])
    again = read_report(report_to_json(report))
    assert again.estimated == report.estimated
    assert again.checks == report.checks


def test_estimation_options_are_read_and_refused_by_key() -> None:
    base = {
        "task": "binary",
        "columns": {"y": {"role": "target"}, "p": {"role": "score"}},
    }
    spec = spec_from_dict({**base, "estimation": {"calibration": "always", "metrics": ["f1"]}})
    assert spec.estimation.calibration == "always" and spec.estimation.metrics == ("f1",)
    assert spec_from_dict(spec.to_dict()) == spec
    with pytest.raises(SpecError, match=r"estimation\.calibration"):
        spec_from_dict({**base, "estimation": {"calibration": "sometimes"}})
    with pytest.raises(SpecError, match=r"estimation\.metrics: unknown metric 'auc'"):
        spec_from_dict({**base, "estimation": {"metrics": ["auc"]}})
    with pytest.raises(SpecError, match="warning_drop"):
        spec_from_dict({**base, "estimation": {"warning_drop": 0.3, "critical_drop": 0.1}})
    off = spec_from_dict({**base, "estimation": {"enabled": False}})
    reference = pa.table({"y": ["0", "1"] * 50, "p": [0.2, 0.8] * 50})
    assert estimate(off, reference, reference, Memo()) is None


def test_the_multiclass_reference_split_against_itself_is_ok() -> None:
    reference, _, spec = _set("card_offer")
    prepared = PreparedReference(reference, spec)
    for start in (0, 20_000, 40_000):
        chunk = reference.slice(start, 10_000).drop_columns(["y_true"])
        found = estimate(spec, prepared.reference.table, chunk, prepared.reference.once)
        assert found is not None and found.calibrated
        for name, e in found.estimates.items():
            assert e.change is not None and e.change.z is not None
            assert abs(e.change.z) < 3, (start, name, e.change)


def test_a_class_the_reference_lacks_leaves_its_rows_out_not_the_window() -> None:
    """A stray label and a stray prediction (a client's bad record) in a binary window: the
    estimate is made from the other rows, and the realized values read only rows of the
    reference's two classes (the service found this: the window raised IndexError)."""
    reference, roles = nannyml_reference("car_loan")
    spec = infer_spec(reference, **roles)
    target, prediction = roles["target"], roles["prediction"]
    window = nannyml_analysis("car_loan").slice(0, 2_000)
    clean = evaluate(reference, window, spec)
    strays = window.slice(0, 2)
    strays = strays.set_column(
        strays.schema.get_field_index(target),
        target,
        pa.array(["2", "2"]).cast(strays.schema.field(target).type, safe=False)
        if pa.types.is_string(strays.schema.field(target).type)
        else pa.array([2, 2], strays.schema.field(target).type),
    )
    strays = strays.set_column(
        strays.schema.get_field_index(prediction),
        prediction,
        pa.array([7, 0], strays.schema.field(prediction).type),
    )
    report = evaluate(reference, pa.concat_tables([strays, window.slice(2)]), spec)
    assert report.estimated is not None and clean.estimated is not None
    assert report.estimated.rows == window.num_rows - 1  # the stray prediction's row
    for name, found in report.estimated.estimates.items():
        assert found.realized is not None, name
        assert abs(found.value - clean.estimated.estimates[name].value) < 0.01, name


def test_the_calibration_rule_decides_on_a_seeded_sample_of_a_large_reference(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Beyond DECISION_ROWS labelled rows the rule reads a seeded sample: its decision is the
    rule's on that sample, and the calibration it asks for is still fitted on every row."""
    from vigil.measure import cbpe

    reference, roles = nannyml_reference("car_loan")
    spec = infer_spec(reference, **roles)
    seen: list[int] = []
    rule = cbpe.needs_calibration

    def counting(truth: np.ndarray, scores: np.ndarray) -> bool:
        seen.append(truth.size)
        return rule(truth, scores)

    monkeypatch.setattr(cbpe, "needs_calibration", counting)
    monkeypatch.setattr(cbpe, "DECISION_ROWS", 5_000)
    found = cbpe.fit_cbpe(spec, reference, cbpe.class_labels(spec, reference))
    assert seen == [5_000]
    truth = np.arange(12_000) % 2
    scores = np.linspace(0, 1, 12_000)
    sampled_truth, sampled_scores = cbpe._decision_rows(truth, scores)
    assert sampled_truth.size == 5_000
    np.testing.assert_array_equal(np.sort(sampled_scores), sampled_scores)  # order kept
    assert found.problem is None and len(found.calibrators) == 1


def test_an_infinite_score_in_the_reference_leaves_its_row_out() -> None:
    """A reference score of inf or -inf (a hostile or broken export) is left out with the NaN
    ones: the calibration is fitted on the finite rows instead of the report failing
    (fit_isotonic raised 'needs finite scores')."""
    reference, roles = nannyml_reference("car_loan")
    spec = infer_spec(reference, **roles)
    score = roles["scores"][0]
    values = reference.column(score).to_pylist()
    values[0], values[1] = math.inf, -math.inf
    broken = reference.set_column(
        reference.schema.get_field_index(score), score, pa.array(values, pa.float64())
    )
    window = nannyml_analysis("car_loan").slice(0, 2_000)
    clean = evaluate(reference.slice(2), window, spec)
    report = evaluate(broken, window, spec)
    assert report.estimated is not None and clean.estimated is not None
    assert report.estimated.estimates.keys() == clean.estimated.estimates.keys()
    for name, found in report.estimated.estimates.items():
        assert found.value == pytest.approx(clean.estimated.estimates[name].value, abs=1e-9)
