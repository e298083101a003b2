"""A seeded generator of hostile requests over every route of `vigil serve`.

Each request starts from a valid one (a batch of predictions or labels in JSON, Parquet, Arrow
IPC or CSV; a spec; a reference; a query) and is spoiled in one or more ways: truncated,
byte-flipped, bytes inserted, a value swapped for a lone surrogate, NUL, a number beyond any
float, an integer of 5,000 digits, NaN, a string of a megabyte or nesting thousands deep; keys
renamed or repeated; the wrong content type or none; hostile path and query parameters; bodies
beyond the size limit. The suite sends a few hundred (tests/service/test_hostile_requests.py);
bench/hostile.py sends tens of thousands to a real process and watches its memory.
"""

from __future__ import annotations

import io
import json
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
from tests.service.conftest import SPEC

MODEL = "credit"  # registered with tests.service.conftest.SPEC
CONTENT = {
    "json": "application/json",
    "parquet": "application/vnd.apache.parquet",
    "arrow": "application/vnd.apache.arrow.stream",
    "csv": "text/csv",
}
WRONG_TYPES = ("image/png", "text/plain", "application/xml", "multipart/form-data", "", "a/b;c")


def _hostile_texts() -> list[str]:
    """Raw JSON texts (not Python values): what a client may put where a value goes."""
    return [
        '"\\ud800"',
        '"a\\udfffb"',
        '"\\u0000"',
        '"x\\u0000y"',
        "1" + "0" * 400,
        "-1" + "0" * 400,
        "7" * 5000,
        "1e400",
        "-1e400",
        "NaN",
        "Infinity",
        "-Infinity",
        "1.5e-400",
        '"' + "z" * 1_000_000 + '"',
        "[" * 5000 + "]" * 5000,
        '{"a":' * 3000 + "1" + "}" * 3000,
        "{}",
        "[]",
        "true",
        "null",
        '""',
        '"\\t\\n\\r"',
        "9223372036854775808",
        "-9223372036854775809",
        '"2026-02-30T25:61:00Z"',
        '"0001-01-01T00:00:00+14:00"',
        '"9999-12-31T23:59:59-14:00"',
        '"\\u202e\\u0000<script>alert(1)</script>"',
    ]


HOSTILE_TEXTS = _hostile_texts()
HOSTILE_NAMES = ["\ud800", "a/b", "..", "%00", "x" * 5000, " ", "né", "<b>", "m?x=1", "\x00"]
HOSTILE_QUERY = [
    "\x00",
    "-1",
    "0",
    "99999999999999999999999999",
    "1e400",
    "nan",
    "9999-99-99",
    "x" * 20_000,
    "\ud800",
    "2026-11-23T10:00:00+99:00",
    "[]",
    "true",
]


@dataclass(frozen=True, slots=True)
class HostileRequest:
    """One request to send: what it is, and what was done to it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes | None
    kind: str  # how it was made hostile, for the tally


def _q(text: str) -> str:
    """Percent-encoded, lone surrogates as the (invalid) UTF-8 bytes a careless client sends."""
    return quote(text, safe="", errors="surrogatepass")


def valid_records(n: int, rng: random.Random, *, now: float) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        proba = rng.random()
        out.append(
            {
                "id": f"h{rng.getrandbits(48):x}-{i}",
                "timestamp": now - rng.random() * 60,
                "features": {
                    "age": rng.gauss(40, 10),
                    "income": rng.lognormvariate(10, 0.5),
                    "city": rng.choice("abc"),
                },
                "prediction": "1" if proba > 0.5 else "0",
                "score": proba,
                "latency_ms": rng.expovariate(0.2),
                "segments": {"region": rng.choice(["north", "south", "east"])},
            }
        )
    return out


def flat_table(records: list[dict[str, Any]]) -> pa.Table:
    return pa.table(
        {
            "id": [r["id"] for r in records],
            "timestamp": [r["timestamp"] for r in records],
            "age": [r["features"]["age"] for r in records],
            "income": [r["features"]["income"] for r in records],
            "city": [r["features"]["city"] for r in records],
            "pred": [r["prediction"] for r in records],
            "proba": [r["score"] for r in records],
            "region": [r["segments"]["region"] for r in records],
        }
    )


def encode(table: pa.Table, fmt: str) -> bytes:
    sink = io.BytesIO()
    if fmt == "parquet":
        pq.write_table(table, sink)
    elif fmt == "arrow":
        with ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
    else:
        pacsv.write_csv(table, sink)
    return sink.getvalue()


def _json_with(doc: Any, rng: random.Random) -> bytes:
    """`doc` as JSON text with one leaf, key or record replaced by a hostile text."""
    marker = f"@@hostile{rng.getrandbits(32)}@@"
    target = doc
    path: list[Any] = []
    while isinstance(target, (dict, list)) and target and rng.random() < 0.85:
        key = rng.choice(list(target)) if isinstance(target, dict) else rng.randrange(len(target))
        path.append(key)
        target = target[key]
    hostile = rng.choice(HOSTILE_TEXTS)
    if not path:
        return hostile.encode()
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    last = path[-1]
    if isinstance(parent, dict) and rng.random() < 0.3:  # the key itself is hostile
        value = parent.pop(last)
        parent[marker] = value
        text = json.dumps(doc)
        key = rng.choice(['"\\ud800"', '"\\u0000"', '"' + "k" * 100_000 + '"', '"__id"'])
        return text.replace(f'"{marker}"', key).encode()
    parent[last] = marker
    return json.dumps(doc).replace(f'"{marker}"', hostile).encode()


def _spoil_bytes(body: bytes, rng: random.Random) -> tuple[bytes, str]:
    how = rng.choice(["truncate", "flip", "insert", "zero", "duplicate"])
    data = bytearray(body)
    if how == "truncate" and data:
        return bytes(data[: rng.randrange(len(data))]), how
    if how == "flip" and data:
        for _ in range(rng.randint(1, 8)):
            i = rng.randrange(len(data))
            data[i] ^= 1 << rng.randrange(8)
        return bytes(data), how
    if how == "insert":
        i = rng.randrange(len(data) + 1)
        return bytes(data[:i]) + rng.randbytes(rng.randint(1, 64)) + bytes(data[i:]), how
    if how == "zero" and data:
        i = rng.randrange(len(data))
        j = min(len(data), i + rng.randint(1, 256))
        data[i:j] = bytes(j - i)
        return bytes(data), how
    return bytes(data) + bytes(data), "duplicate"


class Generator:
    """Hostile requests, seeded: the same seed gives the same requests."""

    def __init__(self, seed: int, *, big_body: int = 3 * 2**20) -> None:
        self.rng = random.Random(seed)
        self.big_body = big_body
        self.now = time.time()

    def _batch(self) -> list[dict[str, Any]]:
        return valid_records(self.rng.randint(1, 40), self.rng, now=self.now)

    def _ingest_body(self, labels: bool) -> tuple[str, bytes, str]:
        records = self._batch()
        if labels:
            records = [
                {"id": r["id"], "label": self.rng.choice("01"), "timestamp": r["timestamp"]}
                for r in records
            ]
        fmt = self.rng.choice(["json", "json", "parquet", "arrow", "csv"])
        if fmt == "json":
            if self.rng.random() < 0.7:
                return fmt, _json_with({"records": records}, self.rng), "structured"
            return (fmt, *_spoil_bytes(json.dumps({"records": records}).encode(), self.rng))
        table = pa.Table.from_pylist(records) if labels else flat_table(records)
        if fmt != "csv" and self.rng.random() < 0.25:  # a well-formed table, a hostile column
            table = self._odd_column(table)
            return fmt, encode(table, fmt), "odd-column"
        return (fmt, *_spoil_bytes(encode(table, fmt), self.rng))

    def _odd_column(self, table: pa.Table) -> pa.Table:
        n = table.num_rows
        name = self.rng.choice([*table.column_names, "id", "model_version", "timestamp", "\x00"])
        column = self.rng.choice(
            [
                pa.array([[1, 2]] * n),
                pa.array([{"a": 1}] * n),
                pa.array([b"\xff\xfe"] * n, pa.binary()),
                pa.array([None] * n, pa.null()),
                pa.array([2**63 - 1] * n, pa.int64()),
                pa.array(["x"] * n).dictionary_encode(),
                pa.array([1.5] * n, pa.float32()),
                pa.array([0] * n, pa.timestamp("ns")),
                pa.array([True] * n),
            ]
        )
        if name in table.column_names:
            return table.set_column(table.column_names.index(name), name, column)
        return table.append_column(name, column)

    def _path(self, template: str) -> str:
        model = MODEL
        if self.rng.random() < 0.1:
            model = _q(self.rng.choice(HOSTILE_NAMES))
        return template.replace("{model}", model)

    def requests(self, n: int) -> Iterator[HostileRequest]:
        makers = [
            self._predictions,
            self._predictions,
            self._predictions,
            self._labels,
            self._labels,
            self._reference,
            self._register,
            self._query,
            self._query,
            self._wrong_type,
            self._oversized,
        ]
        for _ in range(n):
            yield self.rng.choice(makers)()

    def _predictions(self) -> HostileRequest:
        fmt, body, how = self._ingest_body(labels=False)
        path = self._path("/v1/models/{model}/predictions")
        return HostileRequest("POST", path, {"content-type": CONTENT[fmt]}, body, f"{fmt}-{how}")

    def _labels(self) -> HostileRequest:
        fmt, body, how = self._ingest_body(labels=True)
        path = self._path("/v1/models/{model}/labels")
        return HostileRequest("POST", path, {"content-type": CONTENT[fmt]}, body, f"{fmt}-{how}")

    def _reference(self) -> HostileRequest:
        records = valid_records(self.rng.randint(1, 60), self.rng, now=self.now)
        table = flat_table(records).drop_columns(["id", "timestamp"])
        table = table.append_column("y", pa.array([self.rng.choice("01") for _ in records]))
        fmt = self.rng.choice(["json", "parquet", "arrow", "csv"])
        if fmt == "json":
            body = _json_with(table.to_pylist(), self.rng)
            how = "structured"
        else:
            if fmt != "csv" and self.rng.random() < 0.3:
                table = self._odd_column(table)
            body, how = _spoil_bytes(encode(table, fmt), self.rng)
        path = self._path("/v1/models/{model}/reference")
        if self.rng.random() < 0.2:
            path += "?version=" + _q(self.rng.choice(HOSTILE_QUERY))
        return HostileRequest("PUT", path, {"content-type": CONTENT[fmt]}, body, f"ref-{how}")

    def _register(self) -> HostileRequest:
        name = f"h{self.rng.randrange(20)}"  # one of a few models, registered again and again
        doc: dict[str, Any] = {"name": name, "version": "1", "spec": json.loads(json.dumps(SPEC))}
        if self.rng.random() < 0.15:
            body = json.dumps(doc).encode()
            body = body.replace(
                b'"columns": {', b'"columns": {' + b'"\\ud800": {"role": "feature"}, '
            )
            return HostileRequest("POST", "/v1/models", CONTENT_JSON, body, "spec-surrogate")
        if self.rng.random() < 0.1:
            deep = "[" * 100_000 + "]" * 100_000
            body = json.dumps(doc).replace('"version": 1', f'"version": {deep}', 1).encode()
            return HostileRequest("POST", "/v1/models", CONTENT_JSON, body, "spec-deep")
        return HostileRequest(
            "POST", "/v1/models", CONTENT_JSON, _json_with(doc, self.rng), "spec-structured"
        )

    def _query(self) -> HostileRequest:
        path, names = self.rng.choice(QUERY_ROUTES)
        query = "&".join(
            f"{_q(name)}={_q(self.rng.choice(HOSTILE_QUERY))}"
            for name in self.rng.sample(names, self.rng.randint(1, len(names)))
        )
        method = "POST" if path.endswith("/evaluate") else "GET"
        return HostileRequest(method, f"{self._path(path)}?{query}", {}, None, "query")

    def _wrong_type(self) -> HostileRequest:
        _, body, _ = self._ingest_body(labels=False)
        path = self._path(self.rng.choice(BODY_ROUTES))
        ctype = self.rng.choice([*WRONG_TYPES, *CONTENT.values()])
        method = "PUT" if path.endswith("/reference") else "POST"
        return HostileRequest(method, path, {"content-type": ctype}, body, "content-type")

    def _oversized(self) -> HostileRequest:
        path = self._path(self.rng.choice(BODY_ROUTES))
        method = "PUT" if path.endswith("/reference") else "POST"
        body = b'{"records": [' + b'{"id": "x", "timestamp": 0},' * (self.big_body // 28) + b"{}]}"
        return HostileRequest(method, path, CONTENT_JSON, body, "oversized")


CONTENT_JSON = {"content-type": "application/json"}
BODY_ROUTES = [
    "/v1/models/{model}/predictions",
    "/v1/models/{model}/labels",
    "/v1/models/{model}/reference",
    "/v1/models",
]
QUERY_ROUTES = [
    (
        "/v1/models/{model}/metrics",
        ["metric", "column", "segment", "version", "kind", "since", "until", "limit"],
    ),
    ("/v1/models/{model}/windows", ["failed", "version", "kind", "since", "until", "limit"]),
    ("/v1/models/{model}/windows/latest", ["version"]),
    ("/v1/models/{model}/quarantine", ["limit", "since"]),
    ("/v1/models/{model}/evaluate", ["retry_failed"]),
    ("/v1/models/{model}", ["x"]),
    ("/v1/models", ["x"]),
    ("/metrics", ["name[]"]),
]
