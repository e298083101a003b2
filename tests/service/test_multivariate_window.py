"""Multivariate drift through a real service: a window's points stored, served by the metrics
API, exposed on /metrics with bounded labels, and watchable by an alert rule."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families
from tests.service.conftest import SPEC, Live, parquet_bytes, records, reference_table

from vigil.alerts.metrics import column_metrics, dataset_metrics


def test_a_window_stores_and_serves_the_multivariate_points(live: Live) -> None:
    spec = {**SPEC, "multivariate": {"domain_classifier": True}}  # off in windows by default
    r = live.client.post("/v1/models", json={"name": "credit", "version": "1", "spec": spec})
    assert r.status_code in (200, 201), r.text
    r = live.client.put(
        "/v1/models/credit/reference",
        params={"version": "1"},
        content=parquet_bytes(reference_table()),
        headers={"content-type": "application/vnd.apache.parquet"},
    )
    assert r.status_code == 200, r.text
    sent = records(600, shift=15)  # age moved by one and a half standard deviations
    assert live.client.post("/v1/models/credit/predictions", json={"records": sent}).status_code
    live.client.post("/v1/models/credit/evaluate").raise_for_status()

    def latest(metric: str) -> dict:
        points = live.client.get(
            "/v1/models/credit/metrics", params={"metric": metric, "kind": "tumbling"}
        ).json()["points"]
        assert len(points) == 1, metric
        return points[0]

    auc = latest("multivariate.domain_auc")
    assert auc["value"] > 0.65 and auc["status"] == "critical"
    error = latest("multivariate.reconstruction_error")
    upper = latest("multivariate.reconstruction_upper")["value"]
    assert error["value"] > upper and error["status"] != "ok"
    assert latest("multivariate.anomaly_share")["status"] in ("ok", "warning", "critical")
    report = live.client.get("/v1/models/credit/windows/latest").json()
    top = report["multivariate"]["domain"]["top_features"]
    assert top[0]["column"] == "age"

    families = {
        f.name: f.samples for f in text_string_to_metric_families(live.client.get("/metrics").text)
    }
    measures = {
        (s.labels["measure"], s.labels["column"])
        for s in families["vigil_multivariate"]
        if s.labels["model"] == "credit"
    }
    assert {("reconstruction_error", ""), ("domain_auc", ""), ("anomaly_share", "")} <= measures
    assert ("feature_gain", "age") in measures
    assert {c for _, c in measures} <= {"", "age", "income", "city"}  # spec columns only
    status = {
        s.labels["metric"]: s.value
        for s in families["vigil_status"]
        if s.labels["model"] == "credit" and s.labels["metric"].startswith("multivariate.")
    }
    assert status["multivariate.domain_auc"] == 2.0


def test_alert_rules_may_watch_the_multivariate_metrics() -> None:
    for name in ("reconstruction_error", "anomaly_share", "domain_auc"):
        assert f"multivariate.{name}" in dataset_metrics()
    assert "multivariate.feature_gain" in column_metrics()


def test_the_domain_classifier_is_off_in_windows_unless_the_spec_turns_it_on(live: Live) -> None:
    live.setup_model()  # the shared spec says nothing of it
    live.client.post("/v1/models/credit/predictions", json={"records": records(300, shift=15)})
    live.client.post("/v1/models/credit/evaluate").raise_for_status()
    report = live.client.get("/v1/models/credit/windows/latest").json()
    assert report["multivariate"]["domain"] is None
    assert report["multivariate"]["reconstruction"]["value"] > 0
    names = {c["name"] for c in report["checks"]}
    assert "multivariate.reconstruction_error" in names
    assert "multivariate.domain_auc" not in names
