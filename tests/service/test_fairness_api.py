"""Fairness through the service: a window's measures stored as points with their bands and
statuses, served by the metrics API, /metrics and the window's report."""

from __future__ import annotations

from typing import Any

from tests.service.conftest import SPEC, Live, parquet_bytes, records, reference_table

FAIR_SPEC: dict[str, Any] = {
    **SPEC,
    "columns": {**SPEC["columns"], "region": {"role": "segment", "protected": True}},
    "fairness": {"min_group_size": 50},
}


def test_a_window_that_selects_one_region_less_is_judged_unfair_and_served(live: Live) -> None:
    r = live.client.post("/v1/models", json={"name": "credit", "version": "1", "spec": FAIR_SPEC})
    assert r.status_code == 201, r.text
    r = live.client.put(
        "/v1/models/credit/reference",
        content=parquet_bytes(reference_table()),
        headers={"content-type": "application/vnd.apache.parquet"},
    )
    assert r.status_code == 200, r.text
    sent = records(900)
    for record in sent:  # the model stops selecting the south
        if record["segments"]["region"] == "south":
            record["prediction"] = "0"
    assert live.client.post("/v1/models/credit/predictions", json={"records": sent}).is_success
    assert live.client.post("/v1/models/credit/evaluate").is_success

    r = live.client.get("/v1/models/credit/metrics", params={"metric": "fairness.disparate_impact"})
    assert r.status_code == 200, r.text
    (point,) = [
        p for p in r.json()["points"] if p["kind"] == "tumbling" and p.get("segment", "") == ""
    ]
    assert point["column"] == "region" and point["status"] == "critical"
    assert point["value"] == 0.0 and point["band"] is not None

    report = live.client.get("/v1/models/credit/windows/latest").json()
    groups = report["fairness"]["attributes"]["region"]["groups"]
    assert groups["south"]["selection_rate"] == 0.0
    rows = {name: g["rows"] for name, g in groups.items()}
    assert sum(rows.values()) == 900
    # no labels yet: the label-based measures wait
    (eo,) = [
        c
        for c in report["checks"]
        if c["name"] == "fairness.equal_opportunity_difference" and c["column"] == "region"
    ]
    assert eo["status"] == "pending"

    text = live.client.get("/metrics").text
    assert 'vigil_fairness{attribute="region",measure="disparate_impact"' in text
    assert 'vigil_fairness_standard_error{attribute="region",measure="disparate_impact"' in text
    assert 'vigil_status{column="region",metric="fairness.disparate_impact"' in text
