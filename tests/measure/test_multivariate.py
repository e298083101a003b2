"""Multivariate drift end to end through `evaluate`: NannyML's published reconstruction errors,
scikit-learn's cross-validation for the domain AUC, no alarm on unshifted data, and the
changes univariate drift cannot see."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.model_selection import PredefinedSplit, cross_val_score
from tests.published import nannyml_analysis, nannyml_reference, sklearn_set

from vigil import infer_spec
from vigil.evaluation import PreparedReference, evaluate
from vigil.measure import multivariate as mv
from vigil.report.model import Report
from vigil.spec import ColumnSpec, MultivariateOptions, Spec

MEASURES = ("reconstruction_error", "anomaly_share", "domain_auc")


def statuses(report: Report) -> dict[str, str]:
    return {
        c.name.removeprefix("multivariate."): c.status
        for c in report.checks
        if c.name.startswith("multivariate.")
    }


def with_options(spec: Spec, **options: Any) -> Spec:
    return dataclasses.replace(spec, multivariate=dataclasses.replace(spec.multivariate, **options))


# NannyML 0.13's "Data Reconstruction with PCA" tutorial (docs/example_notebooks/Tutorial -
# Drift - Multivariate.ipynb, cell 5): DataReconstructionDriftCalculator on the car-loan
# example's seven features, chunk_size=5000, defaults otherwise (frequency-encoded
# categoricals, StandardScaler, PCA keeping 65% of the variance). The analysis chunks' values
# and their sampling error 0.006996; the thresholds from 10 reference chunks 1.114261–1.15404.
NANNYML_CAR_LOAN = (1.141517, 1.130636, 1.138914, 1.145040, 1.137563, 1.249205, 1.243101)
NANNYML_CAR_LOAN += (1.258147, 1.228179)
NANNYML_SAMPLING_ERROR = 0.006996


@pytest.fixture(scope="module")
def car_loan() -> tuple[PreparedReference, pa.Table]:
    reference, roles = nannyml_reference("car_loan")
    return PreparedReference(reference, infer_spec(reference, **roles)), nannyml_analysis(
        "car_loan"
    )


def test_reconstruction_errors_are_nannymls_published_values(
    car_loan: tuple[PreparedReference, pa.Table],
) -> None:
    prepared, analysis = car_loan
    assert prepared.spec.multivariate.variance == 0.65
    for i, published in enumerate(NANNYML_CAR_LOAN):
        report = evaluate(prepared, analysis.slice(5000 * i, 5000))
        m = report.multivariate
        assert m is not None
        assert m.columns == (
            "car_value",
            "salary_range",
            "debt_to_income_ratio",
            "loan_length",
            "repaid_loan_on_prev_car",
            "size_of_downpayment",
            "driver_tenure",
        )
        assert m.reconstruction.value == pytest.approx(published, abs=5e-7)
        # the window mean's own noise is NannyML's sampling error (from cross-fitted reference
        # errors: the same to 2e-6 at 50,000 rows); the difference's adds the reference's
        assert m.reconstruction.sampling_error == pytest.approx(NANNYML_SAMPLING_ERROR, abs=2e-6)
        assert m.reconstruction.standard_error > m.reconstruction.sampling_error
        # NannyML's band from its reference chunks; ours adds the reference mean's noise: 0.003
        assert m.reconstruction.lower == pytest.approx(1.114261, abs=3e-3)
        assert m.reconstruction.upper == pytest.approx(1.15404, abs=3e-3)
        found = statuses(report)
        if i < 5:  # before the shift NannyML raises no alert, nor do we
            assert found == dict.fromkeys(MEASURES, "ok"), (i, found)
        else:  # NannyML alerts on every chunk from the sixth on
            assert found["reconstruction_error"] != "ok", i
            assert found["domain_auc"] == "critical", i
            assert m.domain is not None and m.domain.top_features[0][0] == "car_value"


def test_domain_auc_is_scikit_learns_cross_validated_auc_with_the_same_folds() -> None:
    from lightgbm import LGBMClassifier

    rng = np.random.default_rng(4)
    reference = rng.normal(size=(900, 4))
    current = rng.normal(size=(600, 4)) + np.array([0.0, 1.0, 0.0, 0.0])
    found = mv.domain_classifier(reference, current, ["a", "b", "c", "d"], cap=10_000)
    x = np.vstack([reference, current])
    y = np.r_[np.zeros(900, np.int64), np.ones(600, np.int64)]
    folds = PredefinedSplit(mv.stratified_folds(y, mv.FOLDS, mv.SEED))
    model = LGBMClassifier(importance_type="gain", **mv.LGBM_PARAMS)
    expected = cross_val_score(model, x, y, cv=folds, scoring="roc_auc")
    assert found.auc == pytest.approx(float(np.mean(expected)), abs=1e-12)
    assert found.top_features[0][0] == "b"  # the one shifted column separates the sets
    assert sum(share for _, share in found.top_features) == pytest.approx(1.0)


def test_the_null_standard_error_is_the_mann_whitney_one_at_the_fold_sizes() -> None:
    rng = np.random.default_rng(5)
    found = mv.domain_classifier(
        rng.normal(size=(1000, 3)), rng.normal(size=(1000, 3)), ["a", "b", "c"], cap=10_000
    )
    # 5 folds of 200 + 200 rows: one fold's sqrt(401 / (12 * 200 * 200)), not over sqrt(5)
    assert found.standard_error == pytest.approx(np.sqrt(401 / (12 * 200 * 200)))
    assert found.reference_rows == found.current_rows == 1000


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("name", ["wine", "breast_cancer", "digits", "diabetes"])
def test_scikit_learns_sets_split_at_random_are_not_drifted(name: str, seed: int) -> None:
    table = sklearn_set(name)
    order = np.random.default_rng(seed).permutation(table.num_rows)
    half = table.num_rows // 2
    reference, current = table.take(order[:half]), table.take(order[half:])
    spec = infer_spec(reference, target="target")
    report = evaluate(reference, current, spec)
    assert report.multivariate is not None
    assert statuses(report) == dict.fromkeys(MEASURES, "ok"), [
        c.message for c in report.checks if c.name.startswith("multivariate.")
    ]


def test_a_reference_against_itself_is_not_drifted(
    car_loan: tuple[PreparedReference, pa.Table],
) -> None:
    reference, roles = nannyml_reference("car_loan")
    report = evaluate(reference, reference, infer_spec(reference, **roles))
    assert statuses(report) == dict.fromkeys(MEASURES, "ok")
    assert report.multivariate is not None
    # the reference's own errors are out-of-sample: its rows scored in-sample lie below them
    assert report.multivariate.reconstruction.relative_increase <= 0.0


def correlated(n: int, rho: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    b = rho * a + np.sqrt(1 - rho**2) * rng.normal(size=n)
    return pd.DataFrame(
        {
            "a": a,
            "b": b,
            "c": rng.normal(size=n),
            "shop": rng.choice(["x", "y", "z"], size=n, p=[0.5, 0.3, 0.2]),
        }
    )


def test_a_correlation_change_with_unchanged_marginals_is_caught() -> None:
    reference = correlated(5000, 0.9, seed=1)
    spec = infer_spec(reference)
    prepared = PreparedReference(reference, spec)
    same = evaluate(prepared, correlated(2000, 0.9, seed=2))
    flipped = evaluate(prepared, correlated(2000, -0.9, seed=3))
    for report in (same, flipped):  # univariate drift sees nothing either way
        assert all(c.status == "ok" for c in report.checks if c.name == "drift"), report.checks
    assert statuses(same) == dict.fromkeys(MEASURES, "ok")
    found = statuses(flipped)
    assert found["reconstruction_error"] == "critical"
    assert found["domain_auc"] == "critical"
    assert flipped.multivariate is not None and flipped.multivariate.domain is not None
    assert {c for c, _ in flipped.multivariate.domain.top_features[:2]} == {"a", "b"}


def test_rows_off_the_data_manifold_raise_the_anomaly_share() -> None:
    reference = correlated(10_000, 0.95, seed=1)
    prepared = PreparedReference(reference, infer_spec(reference))
    current = correlated(4700, 0.95, seed=2)
    rng = np.random.default_rng(3)
    # 300 crafted rows: each value inside its column's usual range, the pair impossible
    a = rng.uniform(2.5, 3.2, 300)  # within the reference min–max of ±3.8
    adversarial = pd.DataFrame(
        {"a": a, "b": -a, "c": rng.normal(size=300), "shop": rng.choice(["x", "y"], 300)}
    )
    report = evaluate(prepared, pd.concat([current, adversarial], ignore_index=True))
    m = report.multivariate
    assert m is not None
    assert m.anomaly.rows >= 295
    assert m.anomaly.value == pytest.approx(0.06, abs=0.01)
    assert statuses(report)["anomaly_share"] == "critical"
    assert statuses(evaluate(prepared, current))["anomaly_share"] == "ok"


def test_encoding_frequency_shares_unseen_as_zero_missing_imputed() -> None:
    reference = pa.table({"n": [1.0, 2.0, None, 10.0], "c": ["x", "x", "y", None]})
    numeric, category = ColumnSpec("n"), ColumnSpec("c", kind="categorical")
    e_n = mv.fit_encoding(reference.column("n"), numeric)
    e_c = mv.fit_encoding(reference.column("c"), category)
    assert e_n.fill == 2.0  # the median of the present values
    assert e_c.labels == ("x", "y") and e_c.shares == (0.5, 0.25)
    assert e_c.fill == 0.5  # the most frequent category's share
    current = pa.table({"n": [float("inf"), 3.0], "c": ["new", None]})
    encoded = mv.encode(current, (e_n, e_c))
    assert np.isnan(encoded[0, 0]) and encoded[1, 0] == 3.0
    assert encoded[0, 1] == 0.0 and np.isnan(encoded[1, 1])
    np.testing.assert_array_equal(mv.impute(encoded, (e_n, e_c)), [[2.0, 0.0], [3.0, 0.5]])


def test_small_windows_and_no_lightgbm_skip_the_classifier_with_a_note(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reference = correlated(2000, 0.5, seed=1)
    prepared = PreparedReference(reference, infer_spec(reference))
    small = evaluate(prepared, correlated(30, 0.5, seed=2))
    assert small.multivariate is not None and small.multivariate.domain is None
    assert "50 rows on each side" in small.multivariate.notes[0]
    assert "domain_auc" not in statuses(small)
    monkeypatch.setattr(mv, "has_lightgbm", lambda: False)
    without = evaluate(prepared, correlated(500, 0.5, seed=2))
    assert without.multivariate is not None and without.multivariate.domain is None
    assert "pip install 'vigil-monitor[ml]'" in without.multivariate.notes[0]


def test_options_turn_it_off_or_narrow_it() -> None:
    reference = correlated(1000, 0.5, seed=1)
    spec = infer_spec(reference)
    assert evaluate(reference, reference, with_options(spec, enabled=False)).multivariate is None
    narrowed = evaluate(
        reference, reference, with_options(spec, columns=("a", "b"), domain_classifier=False)
    )
    assert narrowed.multivariate is not None
    assert narrowed.multivariate.columns == ("a", "b") and narrowed.multivariate.domain is None
    one = infer_spec(reference[["a"]])
    assert evaluate(reference[["a"]], reference[["a"]], one).multivariate is None  # 1 feature
    assert MultivariateOptions().enabled is None


def test_a_profile_reference_says_why_there_is_no_multivariate_drift(tmp_path: Any) -> None:
    from vigil.evaluation import profile_dataset
    from vigil.profile import save_profile

    reference = correlated(500, 0.5, seed=1)
    spec = infer_spec(reference)
    path = tmp_path / "ref.profile"
    save_profile(profile_dataset(reference, spec), path)
    report = evaluate(path, reference, spec)
    assert report.multivariate is None
    assert any("needs the reference's rows" in note for note in report.notes)


def test_a_large_reference_is_fitted_on_a_seeded_sample(monkeypatch: pytest.MonkeyPatch) -> None:
    """Beyond FIT_ROWS the PCA, its errors and the threshold come from a seeded sample of the
    reference (the encodings from every row): the fit equals one on that sample, and an
    unshifted window is still judged ok against it."""
    monkeypatch.setattr(mv, "FIT_ROWS", 1_000)
    # numbers without gaps: the encodings (read from every row) are the sample's too
    frame = correlated(4_000, 0.7, seed=3).drop(columns="shop")
    reference = pa.Table.from_pandas(frame.iloc[:3_000], preserve_index=False)
    window = pa.Table.from_pandas(frame.iloc[3_000:], preserve_index=False)
    spec = infer_spec(reference)
    columns = mv.multivariate_columns(spec)
    fit = mv.fit_multivariate(reference, columns, spec)
    picked = np.sort(np.random.default_rng(mv.SEED).choice(3_000, 1_000, False))
    monkeypatch.setattr(mv, "FIT_ROWS", 10_000)
    on_sample = mv.fit_multivariate(reference.take(pa.array(picked)), columns, spec)
    assert fit.errors.size == 1_000
    np.testing.assert_allclose(fit.errors, on_sample.errors, rtol=1e-12)
    np.testing.assert_allclose(fit.pca.components, on_sample.pca.components, rtol=1e-12)
    assert fit.anomaly_threshold == on_sample.anomaly_threshold
    monkeypatch.setattr(mv, "FIT_ROWS", 1_000)
    report = evaluate(reference, window, spec)
    found = {k: v for k, v in statuses(report).items() if not k.endswith("domain_auc")}
    assert found and set(found.values()) == {"ok"}, found
