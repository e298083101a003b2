"""Hostile table bodies against a real `vigil serve` process: forged Arrow offsets, string
columns that are not UTF-8, byte-flipped and truncated Arrow and Parquet bodies. Every answer is
below 500 and the process lives on; one client's bad batch fails no other client's batch."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator

import httpx
import pyarrow as pa
import pytest
import yaml
from tests.ingest import forged
from tests.service.conftest import SPEC, ServeProcess, parquet_bytes, records, reference_table

ARROW = {"content-type": "application/vnd.apache.arrow.stream"}
PARQUET = {"content-type": "application/vnd.apache.parquet"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    tmp = tmp_path_factory.mktemp("hostile")
    (tmp / "spec.yaml").write_text(yaml.safe_dump(SPEC))
    (tmp / "ref.parquet").write_bytes(parquet_bytes(reference_table()))
    config = {
        "db": str(tmp / "vigil.duckdb"),
        "interval": "1h",
        "models": {"credit": {"version": "1", "spec": "spec.yaml", "reference": "ref.parquet"}},
    }
    (tmp / "vigil.yaml").write_text(yaml.safe_dump(config))
    process = ServeProcess(["--config", str(tmp / "vigil.yaml")])
    try:
        process.wait_ready()
        yield process
    finally:
        process.stop()


def _alive(server: ServeProcess) -> None:
    assert server.proc.poll() is None, f"vigil serve died with {server.proc.returncode}"
    assert httpx.get(server.url + "/healthz", timeout=10).status_code == 200


def _labels(ids: list[str]) -> pa.Table:
    return pa.table({"id": ids, "label": ["1"] * len(ids)})


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/models/credit/predictions"),
        ("POST", "/v1/models/credit/labels"),
        ("PUT", "/v1/models/credit/reference?version=1"),
    ],
)
def test_an_arrow_stream_with_forged_offsets_gets_422_and_the_server_lives(
    server: ServeProcess, method: str, path: str
) -> None:
    body = forged.patched_offsets(forged.arrow_stream(forged.offsets_table(time.time())))
    assert len(body) < 600
    r = httpx.request(method, server.url + path, content=body, headers=ARROW, timeout=30)
    _alive(server)
    assert r.status_code == 422, r.text
    assert "column 'id' is malformed" in r.json()["error"]["message"]


@pytest.mark.parametrize("column", ["id", "timestamp", "model_version", "city"])
@pytest.mark.parametrize(
    ("fmt", "encode"), [(ARROW, forged.arrow_stream), (PARQUET, forged.parquet)]
)
def test_a_table_whose_text_is_not_utf8_gets_422_naming_the_column(
    server: ServeProcess, column: str, fmt: dict[str, str], encode: object
) -> None:
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    columns: dict[str, object] = {
        "id": ["u1", "u2"],
        "timestamp": [now, now],
        "model_version": ["1", "1"],
        "city": ["a", "b"],
    }
    columns[column] = forged.not_utf8([b"a", b"\xc3\x28"])
    body = encode(pa.table(columns))  # type: ignore[operator]
    r = httpx.post(
        server.url + "/v1/models/credit/predictions", content=body, headers=fmt, timeout=30
    )
    assert r.status_code == 422, r.text
    assert f"column {column!r} is malformed" in r.json()["error"]["message"]
    _alive(server)


def _mutants(seed: int, n: int) -> Iterator[tuple[str, dict[str, str], bytes]]:
    """`n` byte-flipped or truncated Arrow stream, Arrow file and Parquet bodies, seeded."""
    rng = random.Random(seed)
    table = pa.table(
        {
            "id": [f"f{i}" for i in range(20)],
            "timestamp": [time.time()] * 20,
            "age": [float(i) for i in range(20)],
            "city": pa.array(["a", "b"] * 10).dictionary_encode(),
            "pred": ["1", "0"] * 10,
        }
    )
    labels = _labels([f"f{i}" for i in range(20)])
    bodies = [
        ("/v1/models/credit/predictions", ARROW, forged.arrow_stream(table)),
        ("/v1/models/credit/predictions", ARROW, forged.arrow_file(table)),
        ("/v1/models/credit/predictions", PARQUET, forged.parquet(table)),
        ("/v1/models/credit/labels", ARROW, forged.arrow_stream(labels)),
        ("/v1/models/credit/labels", PARQUET, forged.parquet(labels)),
    ]
    for _ in range(n):
        path, headers, body = rng.choice(bodies)
        data = bytearray(body)
        if rng.random() < 0.25:
            data = data[: rng.randrange(1, len(data))]
        else:
            for _ in range(rng.randint(1, 8)):
                data[rng.randrange(len(data))] = rng.randrange(256)
        yield path, headers, bytes(data)


def test_byte_flipped_and_truncated_tables_never_get_5xx_nor_kill_the_server(
    server: ServeProcess,
) -> None:
    answers: dict[int, int] = {}
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for path, headers, body in _mutants(seed=8, n=300):
            status = client.post(path, content=body, headers=headers).status_code
            answers[status] = answers.get(status, 0) + 1
            assert status < 500, (status, path, body.hex())
    _alive(server)
    assert answers.get(422, 0) > 0  # the mutants reached the decoder, not only the router


def test_bad_batches_beside_valid_ones_fail_alone(server: ServeProcess) -> None:
    """The issue's case: 10 batches with text that is not UTF-8 beside 20 valid JSON batches."""
    now = time.time()
    bad = pa.table(
        {"id": forged.not_utf8([b"x\xff%d" % i for i in range(50)]), "timestamp": [now] * 50}
    )
    answers: list[tuple[str, int, dict[str, object]]] = []
    lock = threading.Lock()

    def send(kind: str, i: int) -> None:
        with httpx.Client(base_url=server.url, timeout=120) as client:
            if kind == "valid":
                batch = records(2000, prefix=f"ok{i}-", ts=now, seed=i)
                r = client.post("/v1/models/credit/predictions", json={"records": batch})
            else:
                r = client.post(
                    "/v1/models/credit/predictions",
                    content=forged.arrow_stream(bad),
                    headers=ARROW,
                )
        with lock:
            answers.append((kind, r.status_code, r.json()))

    threads = [threading.Thread(target=send, args=("valid", i)) for i in range(20)]
    threads += [threading.Thread(target=send, args=("bad", i)) for i in range(10)]
    random.Random(3).shuffle(threads)
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    valid = [(s, a) for kind, s, a in answers if kind == "valid"]
    assert [s for s, _ in valid] == [200] * 20, valid
    assert sum(int(a["accepted"]) for _, a in valid) == 40_000  # type: ignore[call-overload]
    assert [s for kind, s, _ in answers if kind == "bad"] == [422] * 10
    _alive(server)
