"""Columnar JSON bodies (the SDK's fast body) over real HTTP: stored like records, bad ones 4xx."""

from __future__ import annotations

import json
import random
import struct
from typing import Any

import pyarrow as pa
import pytest
from tests.service.conftest import Live, records

from vigil.client import Client
from vigil.ingest.columnar import COLUMNS_ARROW, COLUMNS_JSON

PATH = "/v1/models/credit/predictions"


def columnar(batch: list[dict[str, Any]]) -> dict[str, Any]:
    """Records as the columnar body: one list per field, feature and segment."""
    out: dict[str, Any] = {"columns": {}, "features": {}, "segments": {}}
    for name in batch[0]:
        if name in ("features", "segments"):
            for inner in batch[0][name]:
                out[name][inner] = [r[name][inner] for r in batch]
        else:
            out["columns"][name] = [r[name] for r in batch]
    return out


def post(live: Live, body: Any, path: str = PATH) -> Any:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return live.client.post(path, content=content, headers={"content-type": COLUMNS_JSON})


def test_a_columnar_body_stores_what_the_same_records_store(live: Live) -> None:
    live.setup_model()
    batch = records(50)
    r = post(live, columnar(batch))
    assert r.status_code == 200, r.text
    assert (r.json()["accepted"], r.json()["rejected"]) == (50, [])
    again = live.client.post(PATH, json={"records": batch})
    assert again.status_code == 200, again.text
    answer = again.json()
    assert (answer["duplicates"], answer["conflicts"]) == (50, 0), "same content, same ids"


def test_bad_records_in_a_columnar_body_are_rejected_one_by_one(live: Live) -> None:
    live.setup_model()
    batch = records(5)
    batch[1]["latency_ms"] = -3.0
    batch[3]["id"] = ""
    r = post(live, columnar(batch))
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["accepted"] == 3
    rejected = {x["index"]: " ".join(x["errors"]) for x in answer["rejected"]}
    assert sorted(rejected) == [1, 3]
    assert "latency_ms" in rejected[1] and "negative" in rejected[1]
    assert rejected[3].startswith("id:")


def test_labels_as_columns_are_accepted(live: Live) -> None:
    live.setup_model()
    body = {"columns": {"id": ["a", "b"], "label": ["1", "0"]}}
    r = post(live, body, "/v1/models/credit/labels")
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 2


def _good() -> dict[str, Any]:
    return columnar(records(3))


def _with(group: str, name: str, values: Any) -> dict[str, Any]:
    body = _good()
    body[group][name] = values
    return body


HOSTILE: dict[str, bytes | dict[str, Any] | list[Any]] = {
    "ragged": _with("features", "age", [1.0]),
    "mixed-types": _with("features", "age", [1.0, "x", 2.0]),
    "bool-and-int": _with("features", "age", [True, 1, 2]),
    "nested-list": _with("features", "age", [[1.0], [2.0], [3.0]]),
    "nested-object": _with("segments", "region", [{"a": 1}, None, None]),
    "beyond-int64": _with("features", "age", [2**63, 1, 2]),
    "unknown-field": _with("columns", "weight", [1, 2, 3]),
    "columns-not-object": {"columns": [1, 2, 3]},
    "column-not-list": {"columns": {"id": "abc"}},
    "no-columns-key": {"features": {"age": [1.0]}},
    "no-columns": {"columns": {}},
    "empty-columns": {"columns": {"id": []}},
    "not-an-object": [1, 2],
    "empty": b"",
    "truncated": json.dumps(_good()).encode()[:-7],
    "surrogate": json.dumps(_with("features", "city", ["\ud800", "a", "b"])).encode(),
    "huge-int": json.dumps(_good()).encode().replace(b'"age": [', b'"age": [1' + b"0" * 400 + b","),
    "long-int": json.dumps(_good()).encode().replace(b'"age": [', b'"age": [' + b"7" * 5000 + b","),
    "nan": json.dumps(_good()).encode().replace(b'"age": [', b'"age": [NaN,', 1),
    "bad-utf8": json.dumps(_good()).encode().replace(b'"r0"', b'"r\xff"', 1),
    "deep": b'{"columns": {"id": ' + b"[" * 100_000 + b"]" * 100_000 + b"}}",
    "repeated-key": json.dumps(_good())
    .encode()
    .replace(b'"columns": {', b'"columns": {"id": [1],'),
    "repeated-with-a-space-before-the-colon": (
        json.dumps(_good(), separators=(",", ":"))
        .encode()
        .replace(b'"columns":{', b'"columns" :{"id":[1,2,3],', 1)
    ),
    "repeated-with-colon-text": (
        json.dumps(_with("columns", "error", ['a":b', None, None]))
        .encode()
        .replace(b'"features": {', b'"features": {"age": [1, 2, 3],')
    ),
}


@pytest.mark.parametrize("body", list(HOSTILE.values()), ids=list(HOSTILE))
def test_a_malformed_columnar_body_gets_a_422_naming_what_is_wrong(live: Live, body: Any) -> None:
    live.setup_model()
    r = post(live, body)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["message"]
    assert live.client.get("/healthz").status_code == 200


def test_a_label_body_with_features_is_refused(live: Live) -> None:
    live.setup_model()
    body = {"columns": {"id": ["a"], "label": ["1"]}, "features": {"age": [1.0]}}
    r = post(live, body, "/v1/models/credit/labels")
    assert r.status_code == 422, r.text
    assert "columns" in r.json()["error"]["message"]


def test_the_sdk_sends_columns_that_the_service_stores_and_rejects_one_by_one(live: Live) -> None:
    live.setup_model()
    batch = records(250, prefix="sdk")
    batch[7]["latency_ms"] = -1.0
    client = Client(live.url, batch_size=100, flush_interval=0.05, seed=1)
    client.log_predictions("credit", batch)
    assert client.flush(30)
    client.close()
    s = client.stats()
    assert (s.accepted, s.rejected, s.dropped_network, s.dropped_invalid) == (249, 1, 0, 0)
    assert any("record 7 (id sdk7) rejected: latency_ms" in e for e in client.last_errors()), (
        client.last_errors()
    )
    again = live.client.post(PATH, json={"records": batch[:100]})
    assert again.json()["duplicates"] == 99, "stored as the records would be"
    assert not any("takes no" in e for e in client.last_errors()), "sent as columns"


def arrow_columns(columns: dict[str, Any]) -> bytes:
    """A columnar body as the SDK's Arrow stream: fields named group:name."""
    arrays = {f"{g}:{n}": pa.array(v) for g, named in columns.items() for n, v in named.items()}
    table = pa.table(arrays)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def post_arrow(live: Live, body: bytes, path: str = PATH) -> Any:
    return live.client.post(path, content=body, headers={"content-type": COLUMNS_ARROW})


def test_a_columnar_arrow_body_stores_what_the_same_records_store(live: Live) -> None:
    live.setup_model()
    batch = records(40)
    batch[2]["latency_ms"] = -1.0
    r = post_arrow(live, arrow_columns(columnar(batch)))
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 39
    assert [x["index"] for x in r.json()["rejected"]] == [2]
    again = live.client.post(PATH, json={"records": batch})
    assert (again.json()["duplicates"], again.json()["conflicts"]) == (39, 0)


def _patched_offsets() -> bytes:
    body = arrow_columns({"columns": {"id": ["a", "bb", "ccc"], "timestamp": [1.0, 2.0, 3.0]}})
    offsets = struct.pack("<4i", 0, 1, 3, 6)
    assert offsets in body
    return body.replace(offsets, struct.pack("<4i", 0, 1, 3, 2_000_000_000))


ARROW_HOSTILE = {
    "empty": b"",
    "not-arrow": b"<html>hello</html>",
    "truncated": arrow_columns(_good())[:-40],
    "patched-offsets": _patched_offsets(),
    "unprefixed-name": arrow_columns({"": {"id": ["a"]}}).replace(b":id", b"id\x00", 1),
    "unknown-group": arrow_columns({"extras": {"x": [1.0]}, "columns": {"id": ["a"]}}),
    "unknown-field": arrow_columns({"columns": {"id": ["a"], "weight": [1.0]}}),
    "nested-type": arrow_columns({"columns": {"id": ["a"]}, "features": {"age": [[1.0]]}}),
    "binary-type": arrow_columns({"columns": {"id": [b"a"]}}),
}


@pytest.mark.parametrize("body", list(ARROW_HOSTILE.values()), ids=list(ARROW_HOSTILE))
def test_a_malformed_columnar_arrow_body_gets_a_422(live: Live, body: bytes) -> None:
    live.setup_model()
    r = post_arrow(live, body)
    assert r.status_code == 422, r.text
    assert live.client.get("/healthz").status_code == 200


def test_byte_flipped_columnar_arrow_bodies_never_get_a_5xx(live: Live) -> None:
    live.setup_model()
    good = arrow_columns(_good())
    rng = random.Random(8)
    statuses = set()
    for _ in range(60):
        body = bytearray(good)
        for _ in range(rng.randint(1, 4)):
            body[rng.randrange(len(body))] = rng.randrange(256)
        r = post_arrow(live, bytes(body))
        statuses.add(r.status_code)
        assert r.status_code < 500, r.text
    assert live.client.get("/healthz").status_code == 200
    assert statuses <= {200, 422}
