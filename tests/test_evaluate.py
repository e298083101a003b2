"""evaluate(): the one computation path, end to end on seeded data."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from sklearn import metrics
from tests.conftest import model_logs

from vigil.errors import InputError, NotEnoughData, SpecError
from vigil.evaluation import evaluate, infer_spec, profile_dataset
from vigil.profile import save_profile
from vigil.spec import ColumnSpec, Spec

ROLES = {"target": "target", "prediction": "prediction", "scores": ["score"]}


def halves(n: int, seed: int) -> tuple[pa.Table, pa.Table]:
    """Two random halves of one data set."""
    table = model_logs(2 * n, seed=seed)
    order = np.random.default_rng(seed + 100).permutation(2 * n)
    return table.take(order[:n]), table.take(order[n:])


@pytest.mark.parametrize("n", [10_000, pytest.param(1_000_000, marks=pytest.mark.slow)])
def test_two_halves_of_one_data_set_are_not_drifted(n: int) -> None:
    reference, current = halves(n, seed=3)
    report = evaluate(reference, current, infer_spec(reference, **ROLES))
    drifted = [c for c in report.drift.columns if report.drift_status(c) != "ok"]
    assert drifted == []
    dataset = report.check("dataset_drift")
    assert dataset is not None and dataset.status == "ok" and dataset.value == 0.0


@pytest.mark.parametrize("n", [10_000, pytest.param(1_000_000, marks=pytest.mark.slow)])
def test_a_real_shift_is_drifted_and_nothing_else(n: int) -> None:
    reference = model_logs(n, seed=4)
    current = model_logs(n, seed=5, shift=0.6)
    report = evaluate(reference, current, infer_spec(reference, **ROLES))
    drifted = {c for c in report.drift.columns if report.drift_status(c) != "ok"}
    assert drifted == {"x1", "x2", "colour", "score", "prediction"}


def test_measures_equal_the_scipy_references(logs) -> None:
    reference, current = logs
    report = evaluate(reference, current, infer_spec(reference, **ROLES))
    for name in ("x1", "x2", "x3"):
        r = reference.column(name).to_numpy(zero_copy_only=False)
        c = current.column(name).to_numpy(zero_copy_only=False)
        r, c = r[~np.isnan(r)], c[~np.isnan(c)]
        m = report.drift.columns[name].metrics
        ks = stats.ks_2samp(r, c)
        assert m["ks"] == pytest.approx(ks.statistic, abs=1e-12)
        assert m["ks_p_value"] == pytest.approx(ks.pvalue, rel=1e-9, abs=1e-300)
        assert m["wasserstein"] == pytest.approx(stats.wasserstein_distance(r, c), rel=1e-9)
        assert m["wasserstein_norm"] == pytest.approx(
            stats.wasserstein_distance(r, c) / np.std(r, ddof=1), rel=1e-9
        )
        edges = np.unique(np.quantile(r, np.arange(1, 10) / 10))
        p = np.bincount(np.searchsorted(edges, r, side="left"), minlength=edges.size + 1)
        q = np.bincount(np.searchsorted(edges, c, side="left"), minlength=edges.size + 1)
        ps, qs = p / p.sum(), q / q.sum()
        assert m["js"] == pytest.approx(
            float(
                __import__("scipy.spatial.distance").spatial.distance.jensenshannon(ps, qs, base=2)
            ),
            rel=1e-9,
        )
        psf, qsf = np.where(ps == 0, 1e-4, ps), np.where(qs == 0, 1e-4, qs)
        assert m["psi"] == pytest.approx(np.sum((qsf - psf) * np.log(qsf / psf)), rel=1e-9)
    colour = report.drift.columns["colour"].metrics
    r = reference.column("colour").to_pylist()
    c = current.column("colour").to_pylist()
    cats = sorted(set(r) | set(c))
    table = np.array([[r.count(k) for k in cats], [c.count(k) for k in cats]])
    chi2 = stats.chi2_contingency(table)
    assert colour["chi2"] == pytest.approx(chi2.statistic, rel=1e-9)
    assert colour["chi2_p_value"] == pytest.approx(chi2.pvalue, rel=1e-9)


def test_performance_equals_scikit_learn(logs) -> None:
    reference, current = logs
    report = evaluate(reference, current, infer_spec(reference, **ROLES))
    assert report.performance is not None and report.performance.current is not None
    y = current.column("target").to_numpy()
    s = current.column("score").to_numpy()
    yp = current.column("prediction").to_numpy()
    got = report.performance.current.metrics
    assert got["accuracy"] == pytest.approx(metrics.accuracy_score(y, yp), abs=1e-12)
    assert got["f1"] == pytest.approx(metrics.f1_score(y, yp), abs=1e-12)
    assert got["roc_auc"] == pytest.approx(metrics.roc_auc_score(y, s), abs=1e-9)
    assert got["pr_auc"] == pytest.approx(metrics.average_precision_score(y, s), abs=1e-9)
    assert got["log_loss"] == pytest.approx(metrics.log_loss(y, s), rel=1e-9)
    assert got["brier"] == pytest.approx(metrics.brier_score_loss(y, s), rel=1e-9)
    cm = report.performance.current.confusion
    assert cm is not None and cm.labels == ("0", "1")
    assert np.array_equal(np.array(cm.matrix), metrics.confusion_matrix(y, yp))


def test_inputs_may_be_files_frames_or_tables(logs, tmp_path) -> None:
    reference, current = logs
    pq.write_table(reference, tmp_path / "ref.parquet")
    current.to_pandas().to_csv(tmp_path / "cur.csv", index=False)
    spec = infer_spec(reference, **ROLES)
    from_files = evaluate(tmp_path / "ref.parquet", str(tmp_path / "cur.csv"), spec)
    from_frames = evaluate(reference.to_pandas(), current, spec)
    for name in ("x1", "colour", "score"):
        a = from_files.drift.columns[name].metrics
        b = from_frames.drift.columns[name].metrics
        assert a.keys() == b.keys()
        for key in a:
            assert a[key] == pytest.approx(b[key], rel=1e-9), (name, key)


def test_a_reference_profile_gives_the_same_histogram_measures(logs, tmp_path) -> None:
    reference, current = logs
    spec = infer_spec(reference, **ROLES)
    save_profile(profile_dataset(reference, spec), tmp_path / "ref.vigil")
    exact = evaluate(reference, current, spec)
    approx = evaluate(tmp_path / "ref.vigil", current)
    assert approx.reference.is_profile
    assert any("approximation" in note for note in approx.notes)
    for name, column in exact.drift.columns.items():
        other = approx.drift.columns[name]
        for key in ("psi", "js", "hellinger", "kl", "chi2", "chi2_p_value"):
            if key in column.metrics:
                assert other.metrics[key] == pytest.approx(column.metrics[key], rel=1e-12)
        if column.kind == "numeric":
            assert "ks" in other.approximate
            assert other.metrics["ks"] == pytest.approx(column.metrics["ks"], abs=0.01)
    assert approx.performance is not None and approx.performance.reference is not None
    assert approx.performance.reference.metrics["roc_auc"] == pytest.approx(
        exact.performance.reference.metrics["roc_auc"]
    )


def test_empty_current_set_is_refused_with_its_name(logs) -> None:
    reference, current = logs
    with pytest.raises(NotEnoughData, match=r"current set .* has no rows"):
        evaluate(reference, current.slice(0, 0))


def test_a_spec_naming_absent_columns_lists_what_exists(logs) -> None:
    reference, current = logs
    spec = Spec((ColumnSpec("x1"), ColumnSpec("incme")))
    with pytest.raises(SpecError, match=r"'incme'.*its columns are x1, x2"):
        evaluate(reference, current, spec)


def test_broken_columns_are_reported_and_the_rest_still_evaluated(logs) -> None:
    reference, current = logs
    n = current.num_rows
    current = current.drop_columns(["x2"]).set_column(0, "x1", pa.array(np.full(n, np.nan)))
    current = current.set_column(
        current.schema.get_field_index("x3"),
        "x3",
        pa.array(np.where(np.arange(n) % 10 == 0, np.inf, 1.0)),
    )
    current = current.append_column("surprise", pa.array(np.ones(n)))
    report = evaluate(reference, current, infer_spec(reference, **ROLES))
    cols = report.drift.columns
    assert "no finite value" in (cols["x1"].error or "")
    assert "absent from the current set" in (cols["x2"].error or "")
    assert (
        cols["x3"].error is None and report.drift_status("x3") != "ok"
    )  # constant 1.0 vs uniform(0, 10)
    assert report.quality.columns["x3"].infinite_share == pytest.approx(0.1)
    assert report.quality.columns["x3"].is_constant
    assert report.quality.columns["x1"].missing_share == 1.0
    assert report.quality.schema.missing_columns == ("x2",)
    assert report.quality.schema.new_columns == ("surprise",)
    assert cols["colour"].error is None  # the rest of the report is still there
    statuses = {(c.name, c.column): c.status for c in report.checks}
    assert statuses[("schema.missing_column", "x2")] == "critical"
    assert statuses[("schema.new_column", "surprise")] == "warning"
    assert statuses[("missing_share", "x1")] == "critical"
    assert statuses[("constant", "x3")] == "warning"
    assert report.status == "critical"


def test_quality_finds_unseen_categories_out_of_range_and_duplicates(logs) -> None:
    reference, current = logs
    n = current.num_rows
    colour = current.column("colour").to_pylist()
    colour[:100] = ["purple"] * 100
    x3 = current.column("x3").to_numpy(zero_copy_only=False).copy()
    x3[:50] = 1000.0
    current = current.set_column(4, "colour", pa.array(colour)).set_column(2, "x3", pa.array(x3))
    current = pa.concat_tables([current, current.slice(0, 25)])
    report = evaluate(reference, current, infer_spec(reference, **ROLES))
    q = report.quality.columns
    assert q["colour"].unseen_categories == ("purple",)
    assert q["colour"].unseen_share == pytest.approx(125 / (n + 25))  # the 25 copies too
    final_x3 = current.column("x3").to_numpy(zero_copy_only=False)
    final_x3 = final_x3[np.isfinite(final_x3)]
    ref_x3 = reference.column("x3").to_numpy(zero_copy_only=False)
    low, high = np.nanmin(ref_x3), np.nanmax(ref_x3)
    outside = np.count_nonzero((final_x3 < low) | (final_x3 > high))
    assert outside >= 75  # the 50 planted values and their 25 copies, plus any by chance
    assert q["x3"].out_of_range_share == pytest.approx(outside / final_x3.size)
    assert report.quality.duplicate_rows == 25


def test_type_change_is_a_schema_finding(logs) -> None:
    reference, current = logs
    as_text = pa.array([f"{v:.6f}" for v in current.column("x1").to_pylist()])
    current = current.set_column(0, "x1", as_text)
    report = evaluate(reference, current, infer_spec(reference, **ROLES))
    assert [t.column for t in report.quality.schema.type_changes] == ["x1"]
    assert report.drift.columns["x1"].error is None  # the numbers in the text still compare
    assert report.drift_status("x1") == "ok"


def test_a_set_with_two_columns_of_one_name_is_refused(logs) -> None:
    reference, current = logs
    twice = current.append_column("x1", current.column("x1"))
    with pytest.raises(InputError, match=r"column 'x1' appears 2 times"):
        evaluate(reference, twice)


def test_multiclass_performance_equals_scikit_learn() -> None:
    rng = np.random.default_rng(8)
    n = 4000
    labels = np.array(["cat", "dog", "eel"])

    def table(noise: float) -> pa.Table:
        y = rng.integers(0, 3, n)
        logits = np.eye(3)[y] * 2.0 + rng.normal(0, noise, (n, 3))
        proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        return pa.table(
            {
                "x": rng.normal(0, 1, n),
                "y": labels[y],
                "pred": labels[proba.argmax(axis=1)],
                "p_cat": proba[:, 0],
                "p_dog": proba[:, 1],
                "p_eel": proba[:, 2],
            }
        )

    reference, current = table(1.0), table(2.5)
    spec = infer_spec(reference, target="y", prediction="pred", scores=["p_dog", "p_eel", "p_cat"])
    report = evaluate(reference, current, spec)
    assert report.performance is not None and report.performance.current is not None
    got = report.performance.current.metrics
    y = np.array(current.column("y").to_pylist())
    pred = np.array(current.column("pred").to_pylist())
    proba = np.column_stack([current.column(f"p_{k}").to_numpy() for k in labels])
    assert got["accuracy"] == pytest.approx(metrics.accuracy_score(y, pred), abs=1e-12)
    assert got["f1_macro"] == pytest.approx(metrics.f1_score(y, pred, average="macro"), abs=1e-12)
    assert got["roc_auc"] == pytest.approx(
        metrics.roc_auc_score(y, proba, multi_class="ovr", labels=labels), abs=1e-9
    )
    assert got["log_loss"] == pytest.approx(metrics.log_loss(y, proba, labels=labels), rel=1e-9)
    assert got["accuracy"] < report.performance.reference.metrics["accuracy"]
    assert any(c.name == "performance.accuracy" and c.status != "ok" for c in report.checks)


def test_regression_performance_equals_scikit_learn() -> None:
    rng = np.random.default_rng(9)
    n = 3000
    x = rng.normal(0, 1, n)
    y = 3 * x + rng.normal(0, 1, n) + 10
    reference = pa.table({"x": x, "y": y, "yhat": 3 * x + 10})
    current = pa.table({"x": x, "y": y, "yhat": 3 * x + 11})  # biased by +1
    report = evaluate(reference, current, infer_spec(reference, target="y", prediction="yhat"))
    assert report.performance is not None and report.performance.task == "regression"
    got = report.performance.current.metrics
    assert got["mae"] == pytest.approx(metrics.mean_absolute_error(y, 3 * x + 11), rel=1e-12)
    assert got["rmse"] == pytest.approx(metrics.root_mean_squared_error(y, 3 * x + 11), rel=1e-12)
    assert got["r2"] == pytest.approx(metrics.r2_score(y, 3 * x + 11), rel=1e-12)
    assert got["mean_error"] == pytest.approx(np.mean(3 * x + 11 - y), rel=1e-12)
    assert got["mape"] == pytest.approx(
        metrics.mean_absolute_percentage_error(y, 3 * x + 11), rel=1e-12
    )


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_row_order_does_not_change_the_report(seed: int) -> None:
    reference, current = model_logs(600, seed=21), model_logs(600, seed=22, shift=0.3)
    order = np.random.default_rng(seed).permutation(600)
    spec = infer_spec(reference, **ROLES)
    a = evaluate(reference, current, spec)
    b = evaluate(reference.take(order), current.take(order[::-1].copy()), spec)
    for name, column in a.drift.columns.items():
        other = b.drift.columns[name]
        assert b.drift_status(name) == a.drift_status(name)
        for key, value in column.metrics.items():
            assert other.metrics[key] == pytest.approx(value, rel=1e-9, abs=1e-12), (name, key)
    assert a.performance.current.metrics == pytest.approx(b.performance.current.metrics)


def test_integers_beyond_float_precision_are_measured_not_a_crash() -> None:
    """int64 near 2^63 and uint64 near 2^64 (ids, hashes) once failed the cast to float64."""
    rng = np.random.default_rng(5)
    big = pa.array(rng.integers(2**62, 2**63 - 1, 2000, dtype=np.int64))
    huge = pa.array(rng.integers(2**63, 2**64 - 1, 2000, dtype=np.uint64), pa.uint64())
    reference = pa.table({"big": big, "huge": huge, "x": rng.normal(0, 1, 2000)})
    current = pa.table({"big": big[::-1], "huge": huge[::-1], "x": rng.normal(0, 1, 2000)})
    report = evaluate(reference, current)
    assert all(c.error is None for c in report.drift.columns.values())
    assert report.drift.columns["big"].statistic == 0.0  # the same values, reordered
    assert report.quality.duplicate_rows == 0  # hashed as integers: no two rows collide
    assert report.status == "ok", [c for c in report.checks if c.status != "ok"]


@pytest.mark.parametrize("unique_first", [True, False])
def test_duplicate_rows_are_counted_whichever_column_comes_first(unique_first: bool) -> None:
    """A column of distinct numbers proves there is no duplicate row; without one every row
    is hashed. Both ways count the same repeated rows as pandas does."""
    rng = np.random.default_rng(6)
    x = rng.normal(0, 1, 3000)
    table = pa.table({"x": x, "k": rng.integers(0, 3, 3000), "c": rng.choice(["a", "b"], 3000)})
    repeated = pa.concat_tables([table, table.slice(0, 40)])  # 40 whole rows twice
    if not unique_first:
        repeated = repeated.select(["k", "c", "x"])
    report = evaluate(table, repeated)
    assert report.quality.duplicate_rows == int(repeated.to_pandas().duplicated().sum()) == 40
    unique = evaluate(table, table)
    assert unique.quality.duplicate_rows == 0
