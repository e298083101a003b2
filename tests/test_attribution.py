"""Feature attribution drift through `evaluate`: the spec options, the verdict on unshifted
and shifted data, the JSON round trip, late labels and the metric points.

The attributions are exact SHAP values of a linear model, computed honestly: for a logistic
regression on standardised features, the interventional SHAP value of feature j in a row x is
w_j / s_j · (x_j − m_j) (log-odds units), with m and s the training set's mean and standard
deviation (Lundberg & Lee 2017, "linear models"; `shap.LinearExplainer` with independent
features gives the same). The model is scikit-learn's, trained on its bundled breast cancer
data set, which nobody here wrote.
"""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.linear_model import LinearRegression, LogisticRegression

from vigil.errors import InputError, SpecError
from vigil.evaluation import PreparedReference, evaluate
from vigil.late_labels import evaluate_labels
from vigil.monitor.points import report_points
from vigil.report.json import read_report, report_to_dict, report_to_json
from vigil.spec import AttributionOptions, Spec, Threshold, dump_spec, spec_from_dict


def _breast_cancer() -> tuple[
    np.ndarray, np.ndarray, list[str], np.ndarray, np.ndarray, np.ndarray
]:
    data = load_breast_cancer()
    x, y = data.data, data.target
    names = [n.replace(" ", "_") for n in data.feature_names]
    rng = np.random.default_rng(0)
    order = rng.permutation(len(y))
    x, y = x[order], y[order]
    train = slice(0, 200)
    mean, sd = x[train].mean(axis=0), x[train].std(axis=0)
    model = LogisticRegression(max_iter=5000).fit((x[train] - mean) / sd, y[train])
    return x, y, names, model.coef_[0] / sd, mean, model


def _table(
    x: np.ndarray,
    y: np.ndarray,
    names: list[str],
    weights: np.ndarray,
    mean: np.ndarray,
    model: LogisticRegression,
    sd: np.ndarray,
    *,
    prefix: str = "shap_",
) -> pa.Table:
    score = model.predict_proba((x - mean) / sd)[:, 1]
    phi = weights * (x - mean)  # exact linear SHAP, log-odds units
    columns: dict[str, object] = {n: x[:, i] for i, n in enumerate(names)}
    columns.update({f"{prefix}{n}": phi[:, i] for i, n in enumerate(names)})
    columns["score"] = score
    columns["y"] = y.astype(str)
    return pa.table(columns)


@pytest.fixture(scope="module")
def cancer() -> dict[str, object]:
    x, y, names, weights, mean, model = _breast_cancer()
    sd = x[:200].std(axis=0)
    spec = Spec.__new__(Spec)  # replaced below; keeps mypy quiet about the dict
    columns = {n: {"role": "feature", "kind": "numeric"} for n in names}
    columns["score"] = {"role": "score", "kind": "numeric"}
    columns["y"] = {"role": "target", "kind": "categorical"}
    spec = spec_from_dict({"task": "binary", "columns": columns})

    def table(rows: slice, xs: np.ndarray | None = None) -> pa.Table:
        return _table(x[rows] if xs is None else xs, y[rows], names, weights, mean, model, sd)

    return {"x": x, "names": names, "spec": spec, "table": table, "weights": weights}


def test_unshifted_split_of_the_same_model_is_ok(cancer: dict) -> None:
    table = cancer["table"]
    report = evaluate(table(slice(200, 400)), table(slice(400, 569)), cancer["spec"])
    a = report.attribution
    assert a is not None and a.reference_rows == 200 and a.current_rows == 169
    assert len(a.features) == 30
    checks = [c for c in report.checks if c.name.startswith("attribution.")]
    assert len(checks) == 31
    assert all(c.status == "ok" for c in checks), [c.message for c in checks if c.status != "ok"]
    # the reference split against itself: NDCG 1 and no change
    same = evaluate(table(slice(200, 400)), table(slice(200, 400)), cancer["spec"])
    assert same.attribution is not None and same.attribution.ndcg == pytest.approx(1.0)
    assert all(f.change == 0 for f in same.attribution.features.values())


def test_a_minor_feature_becoming_dominant_warns(cancer: dict) -> None:
    table, names = cancer["table"], cancer["names"]
    reference = table(slice(200, 400))
    ref = evaluate(reference, table(slice(200, 400)), cancer["spec"]).attribution
    assert ref is not None
    minor = list(ref.features)[-3]  # among the least important features
    j = names.index(minor)
    x = cancer["x"][400:569].copy()
    centre = x[:200, j].mean()
    x[:, j] = centre + 40 * (x[:, j] - centre)  # the feature's spread 40 times wider
    report = evaluate(reference, table(slice(400, 569), x), cancer["spec"])
    a = report.attribution
    assert a is not None
    assert a.features[minor].current_rank <= 3
    feature = report.check("attribution.mean_abs_change", minor)
    assert feature is not None and feature.status == "critical"
    ndcg = report.check("attribution.ndcg")
    assert ndcg is not None and ndcg.status in ("warning", "critical"), ndcg.message
    # recomputed by hand: the means against numpy, NDCG against scikit-learn
    from sklearn.metrics import ndcg_score

    cur_phi = cancer["weights"] * (x - cancer["x"][:200].mean(axis=0))
    ref_phi = cancer["weights"] * (cancer["x"][200:400] - cancer["x"][:200].mean(axis=0))
    cur_mean = np.abs(cur_phi).mean(axis=0)
    ref_mean = np.abs(ref_phi).mean(axis=0)
    assert a.features[minor].current_mean_abs == pytest.approx(cur_mean[j])
    assert a.features[minor].reference_mean_abs == pytest.approx(ref_mean[j])
    assert a.ndcg == pytest.approx(ndcg_score([ref_mean], [cur_mean], k=10))


def test_small_windows_do_not_alarm(cancer: dict) -> None:
    table = cancer["table"]
    reference = PreparedReference(table(slice(200, 400)), cancer["spec"])
    statuses = []
    for start in range(400, 560, 20):  # 8 windows of 20 unshifted rows
        report = evaluate(reference, table(slice(start, start + 20)))
        statuses += [c.status for c in report.checks if c.name.startswith("attribution.")]
    assert set(statuses) == {"ok"}


def test_regression_on_diabetes_unshifted_is_ok() -> None:
    data = load_diabetes()
    x, y = data.data, data.target
    model = LinearRegression().fit(x[:150], y[:150])
    mean = x[:150].mean(axis=0)
    phi = model.coef_ * (x - mean)  # exact linear SHAP of a linear regression
    columns: dict[str, object] = {n: x[:, i] for i, n in enumerate(data.feature_names)}
    columns.update({f"shap_{n}": phi[:, i] for i, n in enumerate(data.feature_names)})
    columns["pred"] = model.predict(x)
    columns["y"] = y
    t = pa.table(columns)
    spec_dict = {n: {"role": "feature"} for n in data.feature_names}
    spec_dict["pred"] = {"role": "prediction"}
    spec_dict["y"] = {"role": "target"}
    spec = spec_from_dict({"task": "regression", "columns": spec_dict})
    report = evaluate(t.slice(150, 150), t.slice(300), spec)
    assert report.attribution is not None and len(report.attribution.features) == 10
    assert {c.status for c in report.checks if c.name.startswith("attribution.")} == {"ok"}


def test_no_attributions_no_measure_and_no_noise(cancer: dict) -> None:
    table = cancer["table"]
    names = cancer["names"]
    plain = table(slice(200, 400)).select([*names, "score", "y"])
    with_attr = table(slice(400, 569))
    for ref, cur in ((plain, plain), (plain, with_attr), (with_attr, plain.slice(0, 100))):
        report = evaluate(ref, cur, cancer["spec"])
        assert report.attribution is None
        assert not any(c.name.startswith("attribution.") for c in report.checks)
        assert report.check("schema.new_column", "shap_" + names[0]) is None
        assert "attribution" not in report_to_dict(report)


def test_importance_weighted_dataset_drift(cancer: dict) -> None:
    table, names = cancer["table"], cancer["names"]
    reference = table(slice(200, 400))
    ref = evaluate(reference, reference, cancer["spec"]).attribution
    assert ref is not None
    minor = list(ref.features)[-1]
    j = names.index(minor)
    x = cancer["x"][400:569].copy()
    x[:, j] += 10 * x[:, j].std()  # the least important feature shifts far
    current = table(slice(400, 569), x)
    plain = evaluate(reference, current, cancer["spec"])
    weighted_spec = spec_from_dict(
        {**cancer["spec"].to_dict(), "attribution": {"importance_weighted": True}}
    )
    weighted = evaluate(reference, current, weighted_spec)
    p, w = plain.check("dataset_drift"), weighted.check("dataset_drift")
    assert p is not None and w is not None
    assert minor in weighted.drifted_features
    drifted = weighted.drifted_features
    shares = weighted.attribution.features  # type: ignore[union-attr]
    assert w.value == pytest.approx(sum(shares[f].reference_share for f in drifted))
    assert p.value == pytest.approx(len(plain.drifted_features) / 30)
    assert "importance-weighted" in w.message and "importance" not in p.message
    assert weighted.spec["attribution"]["importance_weighted"] is True
    assert report_to_dict(weighted)["attribution"]["importance_weighted_drift_share"] is True


def test_json_round_trip_and_points(cancer: dict) -> None:
    table = cancer["table"]
    report = evaluate(table(slice(200, 400)), table(slice(400, 569)), cancer["spec"])
    back = read_report(report_to_json(report))
    assert back.attribution == report.attribution
    assert back.checks == report.checks
    doc = report_to_dict(report)["attribution"]
    assert doc["k"] == 10 and set(doc["features"]) == set(cancer["names"])
    from datetime import datetime, timezone

    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    points = report_points(report, version="v1", kind="tumbling", segment="", start=now, end=now)
    by = {(p.metric, p.column): p for p in points}
    assert by[("attribution.ndcg", "")].status == "ok"
    assert by[("attribution.ndcg", "")].value == pytest.approx(report.attribution.ndcg)  # type: ignore[union-attr]
    first = cancer["names"][0]
    assert by[("attribution.mean_abs_change", first)].status == "ok"
    assert by[("attribution.mean_abs", first)].status == "none"
    from vigil.alerts.metrics import metric_problem

    for name in ("attribution.ndcg", "attribution.mean_abs_change", "attribution.mean_abs"):
        assert metric_problem(name) is None


def test_late_labels_carry_the_attributions(cancer: dict) -> None:
    table = cancer["table"]
    prepared = PreparedReference(table(slice(200, 400)), cancer["spec"])
    current = table(slice(400, 569))
    unlabelled = current.set_column(
        current.schema.get_field_index("y"), "y", pa.nulls(current.num_rows, pa.string())
    )
    before = evaluate(prepared, unlabelled)
    after = evaluate_labels(before, prepared, current)
    whole = evaluate(prepared, current)
    assert after.attribution == whole.attribution
    assert after.checks == whole.checks


def test_spec_options_round_trip_and_refusals() -> None:
    base = {"columns": {"a": {"role": "feature"}}}
    spec = spec_from_dict(
        {
            **base,
            "attribution": {
                "prefix": "attr_",
                "k": 5,
                "ndcg": [0.95, 0.85],
                "relative_change": [0.3, 0.6],
                "importance_weighted": True,
            },
        }
    )
    a = spec.attribution
    assert a == AttributionOptions(
        "attr_",
        5,
        Threshold(0.95, 0.85, "below"),
        Threshold(0.3, 0.6),
        Threshold(3.0, 4.0),
        0.05,
        True,
    )
    assert spec_from_dict(spec.to_dict()) == spec
    import yaml

    assert spec_from_dict(yaml.safe_load(dump_spec(spec))) == spec
    assert "attribution" not in spec_from_dict(base).to_dict()  # the default: as before
    for bad, where in (
        ({"k": 0}, "attribution.k"),
        ({"ndcg": [0.8, 0.9]}, "attribution.ndcg"),
        ({"ndcg": [1.5, 0.9]}, "attribution.ndcg"),
        ({"prefix": "__x"}, "attribution.prefix"),
        ({"prefix": ""}, "attribution.prefix"),
        ({"relative_change": [-1, 1]}, "attribution.relative_change"),
        ({"alpha": 1.5}, "attribution.alpha"),
        ({"beta": 0.1}, "attribution.beta"),
        ({"importance_weighted": "sometimes"}, "attribution.importance_weighted"),
    ):
        with pytest.raises(SpecError, match=where.replace(".", r"\.")):
            spec_from_dict({**base, "attribution": bad})


def test_a_text_attribution_column_is_refused_by_name(cancer: dict) -> None:
    table, names = cancer["table"], cancer["names"]
    current = table(slice(400, 569))
    i = current.schema.get_field_index("shap_" + names[0])
    bad = current.set_column(i, "shap_" + names[0], pa.array(["high"] * current.num_rows))
    with pytest.raises(InputError, match="shap_" + names[0]):
        evaluate(table(slice(200, 400)), bad, cancer["spec"])
    inf = current.set_column(i, "shap_" + names[0], pa.array([math.inf] * current.num_rows))
    with pytest.raises(InputError, match="infinity"):
        evaluate(table(slice(200, 400)), inf, cancer["spec"])


def test_alert_rules_watch_attribution_metrics() -> None:
    from vigil.alerts.rules import parse_rules
    from vigil.errors import ConfigError

    family, ndcg, feature = parse_rules(
        [
            {"name": "a", "metric": "attribution", "status": "warning"},
            {"name": "b", "metric": "attribution.ndcg", "below": {"warning": 0.9}},
            {"name": "c", "metric": "attribution.mean_abs", "columns": ["age"], "above": 1.0},
        ]
    )
    assert family.watches("attribution.ndcg") and family.watches("attribution.mean_abs_change")
    assert not family.watches("drift.psi")
    assert ndcg.metric == "attribution.ndcg" and feature.scope.columns == ("age",)
    with pytest.raises(ConfigError, match=r"attribution\.ndcg"):
        parse_rules([{"name": "d", "metric": "attribution", "above": 1}])
    with pytest.raises(ConfigError, match="leave columns out"):
        parse_rules([{"name": "e", "metric": "attribution.ndcg", "columns": ["a"], "above": 1}])


def test_the_sdk_sends_attributions_as_their_own_column_group() -> None:
    from vigil.client.columns import plain_columns

    recs = [
        {"id": "1", "timestamp": 1.0, "features": {"age": 30}, "attributions": {"age": 0.2}},
        {"id": "2", "timestamp": 2.0, "features": {"age": 50}, "attributions": {"age": -0.4}},
    ]
    columns = plain_columns(recs, "predictions")
    assert columns is not None
    assert columns["features"] == {"age": (30, 50)}
    assert columns["attributions"] == {"age": (0.2, -0.4)}


def test_html_and_terminal_show_the_attributions_escaped() -> None:
    import io

    from rich.console import Console

    from vigil.report.html import render_html
    from vigil.report.terminal import render_terminal

    rng = np.random.default_rng(5)
    name = "<script>alert(1)</script>"
    n = 300
    x = rng.normal(size=(n, 2))
    t = pa.table(
        {name: x[:, 0], "b": x[:, 1], "shap_" + name: 2 * x[:, 0], "shap_b": 0.5 * x[:, 1]}
    )
    spec = spec_from_dict({"columns": {name: {"role": "feature"}, "b": {"role": "feature"}}})
    report = evaluate(t.slice(0, 150), t.slice(150), spec)
    page = render_html(report)
    assert 'id="attribution"' in page and "<script>alert" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    out = io.StringIO()
    render_terminal(report, Console(file=out, width=160))
    assert "Feature attribution (NDCG@2 1" in out.getvalue()


def test_inference_leaves_attribution_columns_out(cancer: dict) -> None:
    from vigil.evaluation import infer_spec

    spec = infer_spec(cancer["table"](slice(200, 400)), target="y", scores=["score"])
    assert set(spec.names) == {*cancer["names"], "score", "y"}
    t = pa.table(
        {"x": [5.0, 6.0], "shap_x": [1.0, 2.0], "__attr__x": [0.1, 0.2], "shap_only": [3.0, 4.0]}
    )
    assert infer_spec(t).names == ("x", "shap_only")  # no column `only`: a feature


def test_equal_importances_weigh_like_the_unweighted_share(cancer: dict) -> None:
    import dataclasses

    from vigil.verdict import judge

    table = cancer["table"]
    x = cancer["x"][400:569].copy()
    for j in range(0, 30, 4):  # 8 of 30 features shift
        x[:, j] += 3 * x[:, j].std()
    report = evaluate(table(slice(200, 400)), table(slice(400, 569), x), cancer["spec"])
    a = report.attribution
    assert a is not None
    even = dataclasses.replace(
        a,
        features={f: dataclasses.replace(v, reference_share=1 / 30) for f, v in a.features.items()},
    )
    weighted_spec = spec_from_dict(
        {**cancer["spec"].to_dict(), "attribution": {"importance_weighted": True}}
    )
    plain = report.check("dataset_drift")
    checks = judge(
        weighted_spec, report.drift, report.quality, report.performance, attribution=even
    )
    weighted = next(c for c in checks if c.name == "dataset_drift")
    assert plain is not None and plain.value == pytest.approx(len(report.drifted_features) / 30)
    assert weighted.value == pytest.approx(plain.value)
    assert weighted.status == plain.status
    # unweighted when asked but no attributions came
    alone = judge(weighted_spec, report.drift, report.quality, report.performance)
    assert next(c for c in alone if c.name == "dataset_drift") == plain
