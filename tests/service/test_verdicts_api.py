"""The verdict through the service: pending until labels arrive, bands beside the values, and
the same statuses in the metric series and in /metrics."""

from __future__ import annotations

import numpy as np
from tests.service.conftest import Live, records


def points(live: Live, metric: str) -> list[dict]:  # type: ignore[type-arg]
    r = live.client.get("/v1/models/credit/metrics", params={"metric": metric})
    assert r.status_code == 200, r.text
    return list(r.json()["points"])


def scrape(live: Live) -> str:
    r = live.client.get("/metrics")
    assert r.status_code == 200
    return r.text


def test_a_window_is_pending_until_its_labels_come_then_judged_with_a_band(live: Live) -> None:
    live.setup_model()
    sent = records(600)
    assert live.client.post("/v1/models/credit/predictions", json={"records": sent}).is_success
    assert live.client.post("/v1/models/credit/evaluate").is_success

    report = live.client.get("/v1/models/credit/windows/latest").json()
    assert report["status"] == "pending"  # nothing wrong; performance waits for labels
    assert not [c for c in report["checks"] if c["status"] in ("warning", "critical")]
    assert not [c for c in report["checks"] if c["column"] == "y" and c["status"] != "ok"]
    (coverage,) = [p for p in points(live, "performance.label_coverage") if p["kind"] == "tumbling"]
    assert coverage["value"] == 0.0 and coverage["status"] == "pending"
    assert 'metric="performance.label_coverage"' in scrape(live)
    assert "vigil_status{" in scrape(live) and "} -1.0" in scrape(live)

    # labels as the model would earn them: y is 1 with probability `score`
    rng = np.random.default_rng(11)
    labels = [
        {"id": r["id"], "label": "1" if rng.random() < r["score"] else "0"} for r in sent[:400]
    ]
    assert live.client.post("/v1/models/credit/labels", json={"records": labels}).is_success
    assert live.client.post("/v1/models/credit/evaluate").is_success

    (accuracy,) = [p for p in points(live, "performance.accuracy") if p["kind"] == "tumbling"]
    assert accuracy["status"] in ("ok", "warning", "critical")
    assert accuracy["band"] is not None and 0 < accuracy["band"] < 0.1
    expected = np.mean(
        [
            (r["prediction"] == "1") == (lab["label"] == "1")
            for r, lab in zip(sent[:400], labels, strict=True)
        ]
    )
    assert accuracy["value"] == expected
    (coverage,) = [p for p in points(live, "performance.label_coverage") if p["kind"] == "tumbling"]
    assert coverage["value"] == 400 / 600 and coverage["status"] == "ok"
    report = live.client.get("/v1/models/credit/windows/latest").json()
    change = report["performance"]["changes"]["accuracy"]
    assert change["standard_error"] == accuracy["band"]
    (check,) = [c for c in report["checks"] if c["name"] == "performance.accuracy"]
    assert check["status"] == accuracy["status"] and check["metric"] == "performance.accuracy"
    text = scrape(live)
    assert 'vigil_performance_standard_error{metric="accuracy"' in text
