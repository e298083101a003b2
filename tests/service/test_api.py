"""The HTTP API over real HTTP, against the app served on a thread."""

from __future__ import annotations

import io
import json
import time

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.ipc as ipc
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.service.conftest import SPEC, TOKENS, Live, records, reference_table


def _arrow(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    with ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def _flat(recs: list[dict]) -> pa.Table:
    rows = []
    for r in recs:
        row = {
            k: v for k, v in r.items() if k not in ("features", "segments", "prediction", "score")
        }
        row |= r["features"] | r["segments"]
        row["pred"] = r["prediction"]
        row["proba"] = r["score"]
        rows.append(row)
    return pa.Table.from_pylist(rows)


def _metrics(live: Live) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = live.client.get("/metrics").text
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def test_register_list_and_get_models(live: Live) -> None:
    live.setup_model()
    models = live.client.get("/v1/models").json()
    assert [m["name"] for m in models] == ["credit"]
    one = live.client.get("/v1/models/credit").json()
    assert one["references"] == {"1": 3000}
    assert {c["name"] for c in one["columns"]} == {
        "age",
        "income",
        "city",
        "pred",
        "proba",
        "region",
    }


def test_unknown_model_is_404_naming_the_registered_ones(live: Live) -> None:
    live.setup_model()
    r = live.client.post("/v1/models/nope/predictions", json={"records": records(1)})
    assert r.status_code == 404
    assert "'nope'" in r.json()["error"]["message"] and "credit" in r.json()["error"]["message"]


def test_ingest_evaluate_and_query_end_to_end(live: Live) -> None:
    live.setup_model()
    sent = records(600, shift=15)
    r = live.client.post("/v1/models/credit/predictions", json={"records": sent})
    assert r.status_code == 200
    assert r.json() == {
        "accepted": 600,
        "duplicates": 0,
        "conflicts": 0,
        "conflict_ids": [],
        "pending": 0,
        "rejected": [],
    }
    labels = [{"id": f"r{i}", "label": "1"} for i in range(200)]
    assert (
        live.client.post("/v1/models/credit/labels", json={"records": labels}).json()["accepted"]
        == 200
    )
    done = live.client.post("/v1/models/credit/evaluate").json()
    kinds = sorted(w["kind"] for w in done["computed"])
    assert kinds == ["rolling", "tumbling"]
    assert all(w["rows"] == 600 and w["labelled"] == 200 for w in done["computed"])

    report = live.client.get("/v1/models/credit/windows/latest").json()
    assert report["vigil_report_version"] == 2
    assert report["current"]["rows"] == 600
    assert report["drift"]["columns"]["age"]["drifted"] is True
    assert report["drift"]["columns"]["city"]["drifted"] is False
    assert report["performance"]["rows"]["current"] == 200

    points = live.client.get(
        "/v1/models/credit/metrics", params={"metric": "ops.count", "kind": "tumbling"}
    ).json()["points"]
    assert [p["value"] for p in points] == [600.0]
    labelled = live.client.get(
        "/v1/models/credit/metrics", params={"metric": "ops.labelled_share", "kind": "tumbling"}
    ).json()["points"]
    assert labelled[0]["value"] == pytest.approx(200 / 600)
    latency = live.client.get(
        "/v1/models/credit/metrics", params={"metric": "ops.latency_p99_ms", "kind": "tumbling"}
    ).json()["points"][0]["value"]
    expected = np.percentile([s["latency_ms"] for s in sent], 99)
    assert latency == pytest.approx(expected)

    scraped = _metrics(live)
    age_drift = [
        v
        for (name, labels), v in scraped.items()
        if name == "vigil_drift" and ("column", "age") in labels
    ]
    assert age_drift, "the latest window's drift of age is exposed"
    key = (
        "vigil_records_total",
        (("kind", "prediction"), ("model", "credit"), ("outcome", "accepted")),
    )
    assert scraped[key] == 600
    status = [
        v
        for (name, labels), v in scraped.items()
        if name == "vigil_status" and ("column", "age") in labels
    ]
    assert max(status) >= 1.0


def test_segments_get_their_own_points(live: Live, tmp_path) -> None:
    from dataclasses import replace

    state = live.app.state.vigil
    state.monitor.default_plan = replace(
        state.monitor.default_plan, segments=("region",), top_segments=2
    )
    live.setup_model()
    live.client.post("/v1/models/credit/predictions", json={"records": records(900)})
    live.client.post("/v1/models/credit/evaluate")
    points = live.client.get(
        "/v1/models/credit/metrics",
        params={
            "metric": "quality.missing_share",
            "column": "age",
            "kind": "tumbling",
            "segment": "region=other",
        },
    ).json()["points"]
    assert len(points) == 1
    segs = {
        p["segment"]
        for seg in ("region=north", "region=south", "region=east", "region=other")
        for p in live.client.get(
            "/v1/models/credit/metrics",
            params={"metric": "ops.count", "segment": seg, "kind": "tumbling"},
        ).json()["points"]
    }
    assert segs == set()  # ops figures are for the whole window only
    counts = [
        seg
        for seg in ("region=north", "region=south", "region=east")
        if live.client.get(
            "/v1/models/credit/metrics", params={"metric": "drift.share_drifted", "segment": seg}
        ).json()["points"]
    ]
    assert len(counts) == 2  # the top two values; the third is in "other"


def test_resending_a_batch_does_not_double_count(live: Live) -> None:
    live.setup_model()
    batch = records(50)
    first = live.client.post("/v1/models/credit/predictions", json={"records": batch}).json()
    again = live.client.post("/v1/models/credit/predictions", json={"records": batch}).json()
    assert (first["accepted"], again["accepted"], again["duplicates"]) == (50, 0, 50)
    changed = [dict(batch[0], latency_ms=999.0), *batch[1:3]]
    third = live.client.post("/v1/models/credit/predictions", json={"records": changed}).json()
    assert (third["accepted"], third["duplicates"], third["conflicts"]) == (0, 2, 1)
    assert third["conflict_ids"] == ["r0"]
    live.client.post("/v1/models/credit/evaluate")
    count = live.client.get(
        "/v1/models/credit/metrics", params={"metric": "ops.count", "kind": "tumbling"}
    ).json()
    assert count["points"][0]["value"] == 50


def test_bad_records_are_rejected_one_by_one_and_quarantined(live: Live) -> None:
    live.setup_model()
    good = records(3)
    bad = [
        {"id": "b1", "timestamp": time.time(), "features": {"age": "old"}},
        {"timestamp": time.time(), "features": {}},
        {"id": "b3", "timestamp": time.time() + 86400 * 365, "features": {}},
        {"id": "b4", "timestamp": time.time() - 86400 * 400, "features": {}},
        {"id": "b5", "timestamp": time.time(), "features": {"age": {"nested": 1}}},
    ]
    r = live.client.post("/v1/models/credit/predictions", json={"records": good + bad})
    body = r.json()
    assert r.status_code == 200
    assert body["accepted"] == 3
    assert [x["index"] for x in body["rejected"]] == [3, 4, 5, 6, 7]
    messages = [x["errors"][0] for x in body["rejected"]]
    assert messages[0].startswith("features.age: got a string, expected a number")
    assert messages[1].startswith("id: missing")
    assert "ahead of the server" in messages[2]
    assert "lateness horizon" in messages[3]
    assert "got an object" in messages[4]
    kept = live.client.get("/v1/models/credit/quarantine").json()["records"]
    assert sorted(k["index"] for k in kept) == [3, 4, 5, 6, 7]
    assert json.loads(next(k for k in kept if k["id"] == "b1")["payload"])["features"] == {
        "age": "old"
    }
    scraped = _metrics(live)
    late = (
        "vigil_rejections_total",
        (("kind", "prediction"), ("model", "credit"), ("reason", "late_timestamp")),
    )
    assert scraped[late] == 1


def test_nan_and_duplicate_keys_in_the_json_text(live: Live) -> None:
    live.setup_model()
    now = time.time()
    body = (
        '{"records": [{"id": "n1", "timestamp": NOW, "features": {"age": NaN}},'
        ' {"id": "n2", "timestamp": NOW, "features": {"age": 1, "age": 2}},'
        ' {"id": "n3", "timestamp": NOW, "features": {"age": 3}}]}'
    ).replace("NOW", repr(now))
    r = live.client.post(
        "/v1/models/credit/predictions", content=body, headers={"content-type": "application/json"}
    )
    assert r.status_code == 200
    assert r.json()["accepted"] == 1
    errors = {x["id"]: x["errors"][0] for x in r.json()["rejected"]}
    assert "NaN is not a number" in errors["n1"]
    assert "repeats the key(s) age" in errors["n2"]
    top = live.client.post(
        "/v1/models/credit/predictions",
        content=b'{"records": [], "records": []}',
        headers={"content-type": "application/json"},
    )
    assert top.status_code == 422 and "repeats the key" in top.json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "ctype", "status", "words"),
    [
        (b"{not json", "application/json", 422, "not valid JSON"),
        (b'{"records": []}', "application/json", 422, "empty"),
        (b'{"rows": []}', "application/json", 422, '{"records"'),
        (b"[" * 100_000, "application/json", 422, "nests"),
        (b"\xff\xfe", "application/json", 422, "UTF-8"),
        (b"a,b", "text/plain", 415, "content type"),
        (b"garbage", "application/vnd.apache.parquet", 422, "parquet"),
    ],
)
def test_malformed_bodies_get_a_clear_4xx(live: Live, body, ctype, status, words) -> None:
    live.setup_model()
    r = live.client.post(
        "/v1/models/credit/predictions", content=body, headers={"content-type": ctype}
    )
    assert r.status_code == status
    assert words in r.json()["error"]["message"]
    assert live.client.get("/healthz").status_code == 200


def test_a_body_over_the_limit_is_413_and_the_service_goes_on(live: Live) -> None:
    live.setup_model()
    big = b'{"records": [' + b" " * (3 * 2**20) + b"]}"
    r = live.client.post(
        "/v1/models/credit/predictions", content=big, headers={"content-type": "application/json"}
    )
    assert r.status_code == 413
    assert "limit" in r.json()["error"]["message"]
    ok = live.client.post("/v1/models/credit/predictions", json={"records": records(2)})
    assert ok.json()["accepted"] == 2


def test_table_bodies_parquet_arrow_and_csv(live: Live) -> None:
    live.setup_model()
    recs = records(30)
    table = _flat(recs)
    for offset, (ctype, encode) in enumerate(
        [("application/vnd.apache.arrow.stream", _arrow), ("text/csv", _csv)]
    ):
        shifted = table.set_column(0, "id", pa.array([f"t{offset}-{i}" for i in range(30)]))
        r = live.client.post(
            "/v1/models/credit/predictions",
            content=encode(shifted),
            headers={"content-type": ctype},
        )
        assert r.status_code == 200, r.text
        assert r.json()["accepted"] == 30, r.json()
    live.client.post("/v1/models/credit/evaluate")
    report = live.client.get("/v1/models/credit/windows/latest").json()
    assert report["current"]["rows"] == 60


def _csv(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pacsv.write_csv(table, sink)
    return sink.getvalue()


def test_labels_before_and_after_their_predictions(live: Live) -> None:
    live.setup_model()
    early = live.client.post(
        "/v1/models/credit/labels",
        json={"records": [{"id": "r0", "label": "1"}, {"id": "r1", "label": "0"}]},
    ).json()
    assert early["pending"] == 2
    live.client.post("/v1/models/credit/predictions", json={"records": records(10)})
    first = live.client.post("/v1/models/credit/evaluate").json()["computed"]
    assert {w["labelled"] for w in first} == {2}
    late = live.client.post(
        "/v1/models/credit/labels", json={"records": [{"id": "r5", "label": "1"}]}
    ).json()
    assert late["pending"] == 0
    again = live.client.post("/v1/models/credit/evaluate").json()["computed"]
    assert {w["labelled"] for w in again} == {3}, "a late label recomputes its window"
    nothing = live.client.post("/v1/models/credit/evaluate").json()["computed"]
    assert nothing == [], "no news, no work"


def test_unknown_extra_features_are_kept_and_reported_as_schema_drift(live: Live) -> None:
    live.setup_model()
    recs = records(40)
    for r in recs:
        r["features"]["x'; DROP TABLE models; --"] = "v"
    assert (
        live.client.post("/v1/models/credit/predictions", json={"records": recs}).json()["accepted"]
        == 40
    )
    live.client.post("/v1/models/credit/evaluate")
    report = live.client.get("/v1/models/credit/windows/latest").json()
    assert "x'; DROP TABLE models; --" in report["quality"]["schema"]["new_columns"]
    assert live.client.get("/v1/models").status_code == 200


def test_reference_in_csv_json_and_bad_ones(live: Live) -> None:
    live.client.post("/v1/models", json={"name": "m", "version": "1", "spec": SPEC})
    ref = reference_table(50)
    r = live.client.put(
        "/v1/models/m/reference", content=_csv(ref), headers={"content-type": "text/csv"}
    )
    assert r.status_code == 200 and r.json()["rows"] == 50
    r = live.client.put("/v1/models/m/reference", json=ref.to_pylist())
    assert r.status_code == 200 and r.json()["rows"] == 50
    r = live.client.put("/v1/models/m/reference", json=[{"age": 1}])
    assert r.status_code == 422 and "income" in r.json()["error"]["message"]
    r = live.client.put("/v1/models/m/reference?version=9", json=ref.to_pylist())
    assert r.status_code == 404 and "version" in r.json()["error"]["message"]


def test_registering_a_bad_spec_or_a_changed_column_kind(live: Live) -> None:
    r = live.client.post(
        "/v1/models",
        json={
            "name": "m",
            "version": "1",
            "spec": {"version": 1, "columns": {"a": {"role": "wat"}}},
        },
    )
    assert r.status_code == 422
    live.client.post("/v1/models", json={"name": "m", "version": "1", "spec": SPEC})
    changed = json.loads(json.dumps(SPEC))
    changed["columns"]["age"]["kind"] = "categorical"
    r = live.client.post("/v1/models", json={"name": "m", "version": "2", "spec": changed})
    assert r.status_code == 409 and "age" in r.json()["error"]["message"]


def test_auth_scopes_and_revocation(secured: Live) -> None:
    c = secured.client
    admin = {"authorization": f"Bearer {TOKENS['admin']}"}
    writer = {"authorization": f"Bearer {TOKENS['writer']}"}
    reader = {"authorization": f"Bearer {TOKENS['reader']}"}
    assert c.get("/v1/models").status_code == 401
    assert c.get("/v1/models", headers={"authorization": "Bearer nope"}).status_code == 401
    r = c.get("/v1/models", headers={"authorization": "Bearer revoked-token"})
    assert r.status_code == 401 and "revoked" in r.json()["error"]["message"]
    assert c.get("/v1/models", headers=reader).status_code == 200
    r = c.post("/v1/models", json={"name": "m", "version": "1", "spec": SPEC}, headers=writer)
    assert r.status_code == 403 and "admin" in r.json()["error"]["message"]
    secured.setup_model(headers=admin)
    assert (
        c.post(
            "/v1/models/credit/predictions", json={"records": records(3)}, headers=reader
        ).status_code
        == 403
    )
    assert (
        c.post(
            "/v1/models/credit/predictions", json={"records": records(3)}, headers=writer
        ).json()["accepted"]
        == 3
    )
    assert c.get("/metrics").status_code == 401
    scraped = c.get("/metrics", headers=reader).text
    assert c.get("/healthz").status_code == 200
    for secret in TOKENS.values():
        assert secret not in scraped
        assert secret not in c.get("/openapi.json").text


def test_openapi_is_served(live: Live) -> None:
    doc = live.client.get("/openapi.json").json()
    assert "/v1/models/{model}/predictions" in doc["paths"]
    body = doc["paths"]["/v1/models/{model}/predictions"]["post"]["requestBody"]["content"]
    assert {"application/json", "application/vnd.apache.parquet", "text/csv"} <= set(body)


def test_a_failing_store_answers_503_with_retry_after_and_the_service_goes_on(live: Live) -> None:
    live.setup_model()
    state = live.app.state.vigil
    real = state.store.write_predictions

    def broken(*args: object, **kwargs: object) -> object:
        from vigil.errors import StoreError

        raise StoreError("disk full")

    state.store.write_predictions = broken
    try:
        r = live.client.post("/v1/models/credit/predictions", json={"records": records(5)})
    finally:
        state.store.write_predictions = real
    assert r.status_code == 503 and r.headers["retry-after"] == "1"
    assert "disk full" in r.json()["error"]["message"]
    ok = live.client.post("/v1/models/credit/predictions", json={"records": records(5)})
    assert ok.json()["accepted"] == 5
