"""Performance estimated before labels through a real service: points stored and served, and
exposed on /metrics with sane labels."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families
from tests.service.conftest import Live, records


def test_a_window_without_labels_gets_estimated_points_and_metrics(live: Live) -> None:
    live.setup_model()
    sent = records(600)
    assert live.client.post("/v1/models/credit/predictions", json={"records": sent}).is_success
    live.client.post("/v1/models/credit/evaluate")
    report = live.client.get("/v1/models/credit/windows/latest").json()
    estimated = report["estimated"]
    assert estimated["method"] == "cbpe" and estimated["rows"] == 600
    assert estimated["estimates"]["roc_auc"]["realized"] is None  # no label yet
    auc = estimated["estimates"]["roc_auc"]["value"]
    assert 0.5 < auc <= 1.0
    points = live.client.get(
        "/v1/models/credit/metrics", params={"metric": "estimated.roc_auc", "kind": "tumbling"}
    ).json()["points"]
    assert [p["value"] for p in points] == [auc]
    assert points[0]["status"] in ("ok", "warning", "critical")
    assert points[0]["band"] is not None and points[0]["band"] > 0

    families = {f.name: f for f in text_string_to_metric_families(live.client.get("/metrics").text)}
    samples = families["vigil_estimated_performance"].samples
    by_metric = {s.labels["metric"]: s for s in samples}
    assert set(by_metric) >= {"roc_auc", "accuracy", "f1", "precision", "recall", "specificity"}
    assert by_metric["roc_auc"].labels == {"model": "credit", "version": "1", "metric": "roc_auc"}
    assert by_metric["roc_auc"].value == auc
    bands = families["vigil_estimated_performance_standard_error"].samples
    assert {s.labels["metric"] for s in bands} == set(by_metric)
