"""Attributions through a real service: records carrying `attributions` (JSON records, the
SDK's columnar body), stored beside the features, measured in the window against the uploaded
reference's `shap_*` columns, served as points and on /metrics; and hostile attributions, each
rejecting its own record with the field named."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pyarrow as pa
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.service.conftest import (
    SPEC,
    Live,
    ThreadServer,
    make_settings,
    parquet_bytes,
    records,
    reference_table,
)

from vigil.config import Limits
from vigil.monitor.windows import WindowPlan
from vigil.service.app import create_app

ATTRIBUTED = {**SPEC, "attribution": {"receive": True}}
# the attributions of a made-up linear model of age and income: exact linear SHAP values
WEIGHTS = {"age": 0.05, "income": 2e-5}
MEANS = {"age": 40.0, "income": float(np.exp(10 + 0.5**2 / 2))}


def _phi(features: dict[str, Any]) -> dict[str, float]:
    out = {f: w * (features[f] - MEANS[f]) for f, w in WEIGHTS.items()}
    out["city"] = 0.01 if features["city"] == "a" else -0.005
    return out


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Live]:
    settings = make_settings(
        tmp_path, limits=Limits(max_body=8 * 2**20), windows=WindowPlan(min_rows=10)
    )
    app = create_app(settings, scheduler=False)
    with ThreadServer(app) as url, httpx.Client(base_url=url, timeout=60) as client:
        live = Live(url, client, tmp_path / "vigil.duckdb", app)
        r = client.post("/v1/models", json={"name": "credit", "version": "1", "spec": ATTRIBUTED})
        assert r.status_code == 201, r.text
        ref = reference_table()
        rows = ref.to_pylist()
        phis = [_phi(row) for row in rows]
        for f in ("age", "income", "city"):
            ref = ref.append_column(f"shap_{f}", pa.array([p[f] for p in phis], pa.float64()))
        r = client.put(
            "/v1/models/credit/reference",
            content=parquet_bytes(ref),
            headers={"content-type": "application/vnd.apache.parquet"},
        )
        assert r.status_code == 200, r.text
        yield live


def _with_attributions(batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for record in batch:
        record["attributions"] = _phi(record["features"])
    return batch


def test_records_with_attributions_become_window_points_and_metrics(service: Live) -> None:
    r = service.client.post(
        "/v1/models/credit/predictions", json={"records": _with_attributions(records(600))}
    )
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 600
    service.client.post("/v1/models/credit/evaluate")

    def points(metric: str, column: str | None = None) -> list[dict[str, Any]]:
        params = {"metric": metric, "kind": "tumbling", **({"column": column} if column else {})}
        got = service.client.get("/v1/models/credit/metrics", params=params)
        assert got.status_code == 200, got.text
        found: list[dict[str, Any]] = got.json()["points"]
        return found

    ndcg = points("attribution.ndcg")
    assert len(ndcg) == 1 and ndcg[0]["status"] == "ok" and ndcg[0]["value"] > 0.9
    age = points("attribution.mean_abs", "age")
    expected = np.mean([abs(_phi(r["features"])["age"]) for r in records(600)])
    assert age[0]["value"] == pytest.approx(expected)
    assert points("attribution.mean_abs_change", "income")[0]["status"] == "ok"
    samples = {
        (s.name, s.labels.get("column"), s.labels.get("measure")): s.value
        for family in text_string_to_metric_families(service.client.get("/metrics").text)
        for s in family.samples
        if s.name == "vigil_attribution"
    }
    assert samples[("vigil_attribution", "", "ndcg")] == pytest.approx(ndcg[0]["value"])
    assert samples[("vigil_attribution", "age", "mean_abs")] == pytest.approx(expected)
    assert {c for _, c, _ in samples} == {"", "age", "income", "city"}


def test_the_sdk_columnar_body_carries_attributions(service: Live) -> None:
    batch = _with_attributions(records(50, prefix="c"))
    body = {
        "columns": {
            "id": [r["id"] for r in batch],
            "timestamp": [r["timestamp"] for r in batch],
            "prediction": [r["prediction"] for r in batch],
            "score": [r["score"] for r in batch],
        },
        "features": {f: [r["features"][f] for r in batch] for f in ("age", "income", "city")},
        "segments": {"region": [r["segments"]["region"] for r in batch]},
        "attributions": {f: [r["attributions"][f] for r in batch] for f in ("age", "income")},
    }
    r = service.client.post(
        "/v1/models/credit/predictions",
        content=json.dumps(body),
        headers={"content-type": "application/vnd.vigil.columns+json"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 50
    body["attributions"] = {"nope": [1.0] * 50}
    body["columns"]["id"] = [f"d{i}" for i in range(50)]
    r = service.client.post(
        "/v1/models/credit/predictions",
        content=json.dumps(body),
        headers={"content-type": "application/vnd.vigil.columns+json"},
    )
    assert r.json()["accepted"] == 0, r.text
    assert "attributions.nope: not a feature of the spec" in r.text


HOSTILE = [
    ("a string", {"age": "high"}, "attributions.age: got a string, expected a number"),
    ("NaN", "NaN", "attributions.age: NaN is not a number"),
    ("an unknown feature", {"weight": 1.0}, "attributions: 'weight' not feature(s) of the spec"),
    ("a script name", {"<script>x</script>": 1.0}, "not feature(s) of the spec"),
    ("a nested object", {"age": {"x": 1}}, "attributions.age: got an object, expected a number"),
    ("not an object", [1, 2], "attributions: got an array, expected an object"),
    ("a huge object", {f"f{i}": 1.0 for i in range(20_000)}, "and 19995 more not feature(s)"),
    ("infinity", "Infinity", "attributions.age: Infinity is not a number"),
]


@pytest.mark.parametrize(("case", "value", "reason"), HOSTILE, ids=[c[0] for c in HOSTILE])
def test_hostile_attributions_reject_their_record_alone(
    service: Live, case: str, value: Any, reason: str
) -> None:
    batch = _with_attributions(records(20, prefix=case.replace(" ", "-")))
    batch[5]["attributions"] = "@HOLE@" if isinstance(value, str) else value
    text = json.dumps({"records": batch})
    if isinstance(value, str):
        text = text.replace('"@HOLE@"', '{"age": ' + value + "}")
    r = service.client.post(
        "/v1/models/credit/predictions",
        content=text,
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["accepted"] == 19, body
    [rejected] = body["rejected"]
    assert rejected["index"] == 5
    assert any(reason in e for e in rejected["errors"]), rejected["errors"]
    assert len(r.text) < 20_000  # one reason for the huge object, not one per name


def test_a_model_without_receive_refuses_attributions_by_name(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, windows=WindowPlan(min_rows=10))
    app = create_app(settings, scheduler=False)
    with ThreadServer(app) as url, httpx.Client(base_url=url, timeout=60) as client:
        live = Live(url, client, tmp_path / "vigil.duckdb", app)
        live.setup_model()
        batch = _with_attributions(records(10))
        r = client.post("/v1/models/credit/predictions", json={"records": batch})
        assert r.json()["accepted"] == 0
        assert "attribution: {receive: true}" in r.text
        table = pa.Table.from_pylist(
            [{"id": "t1", "timestamp": batch[0]["timestamp"], "__attr__age": 0.3}]
        )
        r = client.post(
            "/v1/models/credit/predictions",
            content=parquet_bytes(table),
            headers={"content-type": "application/vnd.apache.parquet"},
        )
        assert r.json()["accepted"] == 0 and "attributions.age" in r.text


def test_the_dashboard_shows_the_attribution_card_and_charts(service: Live) -> None:
    before = service.client.get("/models/credit")
    assert before.status_code == 200 and 'data-card="attribution"' not in before.text
    batch = _with_attributions(records(400))
    for r in batch:  # income's attributions grow fivefold: its importance moves
        r["attributions"]["income"] *= 5
    service.client.post("/v1/models/credit/predictions", json={"records": batch})
    service.client.post("/v1/models/credit/evaluate")
    page = service.client.get("/models/credit")
    assert page.status_code == 200
    assert 'data-card="attribution"' in page.text
    assert "importance moved: income" in page.text
    drift = service.client.get("/models/credit/drift")
    assert drift.status_code == 200
    start = drift.text.index('id="attribution-importance">') + len('id="attribution-importance">')
    chart = json.loads(drift.text[start : drift.text.index("</script>", start)])
    assert {line["name"] for line in chart["lines"]} == {"age", "income", "city"}
    start = drift.text.index('id="attribution-ndcg">') + len('id="attribution-ndcg">')
    ndcg = json.loads(drift.text[start : drift.text.index("</script>", start)])
    assert [t["value"] for t in ndcg["thresholds"]] == [0.9, 0.8]
    # the drift page's section and the overview's card give one status: income's change
    card = page.text[page.text.index('data-card="attribution"') :]
    status = card[card.index('data-status="') + 13 :].split('"')[0]
    assert status in ("warning", "critical")
    section = drift.text[drift.text.index('<section id="attribution">') :]
    assert f'<h2>Feature attribution <span class="status {status}">' in section


def test_late_labels_keep_the_window_attribution_points(service: Live) -> None:
    batch = _with_attributions(records(300, prefix="l"))
    service.client.post("/v1/models/credit/predictions", json={"records": batch})
    service.client.post("/v1/models/credit/evaluate")

    def ndcg() -> list[dict[str, Any]]:
        got = service.client.get(
            "/v1/models/credit/metrics", params={"metric": "attribution.ndcg", "kind": "tumbling"}
        )
        points: list[dict[str, Any]] = got.json()["points"]
        return points

    before = ndcg()
    labels = [{"id": r["id"], "label": "1" if r["score"] > 0.5 else "0"} for r in batch]
    r = service.client.post("/v1/models/credit/labels", json={"records": labels})
    assert r.status_code == 200, r.text
    service.client.post("/v1/models/credit/evaluate")
    after = ndcg()
    assert len(after) == 1 and after[0]["value"] == before[0]["value"]
    assert after[0]["status"] == before[0]["status"]
    coverage = service.client.get(
        "/v1/models/credit/metrics",
        params={"metric": "performance.label_coverage", "kind": "tumbling"},
    ).json()["points"]
    assert coverage[-1]["value"] == 1.0  # the labels were taken: the window was recomputed
