"""Hostile table bodies against a real `vigil serve` process: forged Arrow offsets, string
columns that are not UTF-8, byte-flipped and truncated Arrow and Parquet bodies. Every answer is
below 500 and the process lives on; one client's bad batch fails no other client's batch."""

from __future__ import annotations

import io
import random
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest
from tests.ingest import forged
from tests.service.conftest import (
    Live,
    ServeProcess,
    ThreadServer,
    credit_config,
    make_settings,
    records,
    reference_table,
)
from tests.store import conftest as store_fixtures
from tests.store import records as store_records

from vigil.errors import InputError
from vigil.service.app import create_app
from vigil.service.writer import Writer
from vigil.store import open_store

# the store suite's fixtures: a DuckDB file or a PostgreSQL schema of its own
postgres_url = store_fixtures.postgres_url
store_url = store_fixtures.store_url
ARROW = {"content-type": "application/vnd.apache.arrow.stream"}
PARQUET = {"content-type": "application/vnd.apache.parquet"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    tmp = tmp_path_factory.mktemp("hostile")
    process = ServeProcess(["--config", str(credit_config(tmp))])
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


CSV = {"content-type": "text/csv"}
PREDICTIONS = "/v1/models/credit/predictions"
LABELS = "/v1/models/credit/labels"
REFERENCE = "/v1/models/credit/reference?version=1"


def _csv(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pacsv.write_csv(table, sink)
    return sink.getvalue()


def _seeds() -> list[tuple[str, dict[str, str], bytes]]:
    """Valid bodies of every table format for every route that reads a table."""
    n = 20
    table = pa.table(
        {
            "id": [f"f{i}" for i in range(n)],
            "timestamp": [1_800_000_000.0] * n,  # fixed, so that each seed gives the same bytes
            "model_version": pa.array(["1"] * n).dictionary_encode(),
            "age": [float(i) for i in range(n)],
            "city": pa.array(["a", "b"] * (n // 2)).dictionary_encode(),
            "pred": pa.array(["1", "0"] * (n // 2), pa.large_string()),
            "proba": pa.array([[0.5]] * n),  # a list where a number goes: rejected by row
        }
    )
    labels = _labels([f"f{i}" for i in range(n)])
    reference = reference_table(60)
    out = []
    for path, body in ((PREDICTIONS, table), (LABELS, labels), (REFERENCE, reference)):
        out += [
            (path, ARROW, forged.arrow_stream(body)),
            (path, ARROW, forged.arrow_file(body)),
            (path, PARQUET, forged.parquet(body)),
        ]
        if path != PREDICTIONS:  # CSV holds no lists
            out.append((path, CSV, _csv(body)))
    return out


def _mutants(seed: int, n: int) -> Iterator[tuple[str, dict[str, str], bytes]]:
    """`n` byte-flipped or truncated table bodies of every format and route, seeded."""
    rng = random.Random(seed)
    bodies = _seeds()
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
            method = "PUT" if path == REFERENCE else "POST"
            status = client.request(method, path, content=body, headers=headers).status_code
            answers[status] = answers.get(status, 0) + 1
            assert status < 500, (status, path, body.hex())
    _alive(server)
    assert answers.get(422, 0) > 0  # the mutants reached the decoder, not only the router
    assert answers.get(200, 0) > 0  # and some were still tables, checked row by row


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


def _batch_not_utf8(ids: list[bytes]) -> pa.Table:
    """A prediction batch as validation shapes it, its ids' bytes not UTF-8: what validation
    of a table body now refuses, handed to the writer straight to make the store refuse it."""
    batch = store_records.predictions([str(i) for i in range(len(ids))])
    return batch.set_column(0, "id", forged.not_utf8(ids))


def test_a_group_the_store_refuses_is_retried_one_by_one_and_only_the_guilty_fails(
    store_url: str,
) -> None:
    store = open_store(store_url)
    writer = Writer(store, max_pending=10_000)
    try:
        model = store_records.register(store)
        batches = [
            store_records.predictions(["g1", "g2"]),
            _batch_not_utf8([b"b1", b"b\xff2"]),
            store_records.predictions(["g3"]),
        ]
        futures = [
            writer.submit(model, "prediction", b, [], window_seconds=store_records.HOUR)
            for b in batches
        ]
        writer.start()  # all three are queued before the thread runs: they make one group
        assert futures[0].result(60).accepted == 2
        assert futures[2].result(60).accepted == 1
        with pytest.raises(InputError, match=r"^the store refused this batch: "):
            futures[1].result(60)
        window = store.read_window(model, "v1", store_records.T0, store_records.hours(1))
        assert sorted(window.column("__id").to_pylist()) == ["g1", "g2", "g3"]
    finally:
        writer.stop()
        store.close()


def test_a_store_that_is_gone_is_not_blamed_on_the_data(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "vigil.duckdb"))
    model = store_records.register(store)
    store.close()  # the database is gone under the writer
    writer = Writer(store, max_pending=10_000)
    futures = [
        writer.submit(
            model, "prediction", store_records.predictions([f"g{i}"]), [], window_seconds=60
        )
        for i in range(2)
    ]
    writer.start()
    try:
        for future in futures:
            err = future.exception(60)
            assert err is not None and not isinstance(err, InputError), err
    finally:
        writer.stop()


def test_a_rejected_id_holding_nul_is_quarantined_on_postgres(
    tmp_path: Path, postgres_url: str
) -> None:
    """The rejected record's id goes to the quarantine, which PostgreSQL refused whole."""
    settings = make_settings(tmp_path, db=postgres_url)
    app = create_app(settings, scheduler=False)
    with ThreadServer(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        Live(url, client, tmp_path, app).setup_model()
        now = time.time()
        table = pa.table({"id": ["n1", "n\x002", "n3"], "timestamp": [now] * 3})
        r = client.post(
            "/v1/models/credit/predictions", content=forged.arrow_stream(table), headers=ARROW
        )
        assert r.status_code == 200, r.text
        answer = r.json()
        assert answer["accepted"] == 2
        assert [(x["index"], x["id"]) for x in answer["rejected"]] == [(1, "n\x002")]
        assert "NUL" in answer["rejected"][0]["errors"][0]
        kept = client.get("/v1/models/credit/quarantine").json()
        assert [(x["index"], x["id"]) for x in kept["records"]] == [(1, "n\ufffd2")]


@pytest.mark.parametrize(
    "versions",
    [
        pa.array([["1"], ["1"]]),
        pa.array([[("k", "1")], [("k", "1")]], pa.map_(pa.string(), pa.string())),
        pa.array([{"v": "1"}, {"v": "1"}]),
        pa.array([b"1", b"1"]),
    ],
    ids=["list", "map", "struct", "binary"],
)
def test_a_model_version_column_that_is_not_text_is_rejected_by_record(
    server: ServeProcess, versions: pa.Array
) -> None:
    ids = [f"mv-{versions.type}-{i}" for i in range(2)]
    table = pa.table({"id": ids, "timestamp": [time.time()] * 2, "model_version": versions})
    r = httpx.post(
        server.url + "/v1/models/credit/predictions",
        content=forged.arrow_stream(table),
        headers=ARROW,
        timeout=30,
    )
    assert r.status_code == 200, r.text
    expected = f"model_version: column of {versions.type}, expected text or integers"
    assert [(x["index"], x["id"], x["errors"]) for x in r.json()["rejected"]] == [
        (0, ids[0], [expected]),
        (1, ids[1], [expected]),
    ]


@pytest.mark.parametrize(
    ("fmt", "encode"), [(ARROW, forged.arrow_stream), (PARQUET, forged.parquet)]
)
def test_a_label_table_with_id_twice_is_rejected_by_record(
    server: ServeProcess, fmt: dict[str, str], encode: object
) -> None:
    table = pa.Table.from_arrays(
        [pa.array(["l1", "l2"]), pa.array(["l3", "l4"]), pa.array(["1", "0"])],
        names=["id", "id", "label"],
    )
    r = httpx.post(
        server.url + "/v1/models/credit/labels",
        content=encode(table),  # type: ignore[operator]
        headers=fmt,
        timeout=30,
    )
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["accepted"] == 0
    assert [(x["index"], x["id"], x["errors"]) for x in answer["rejected"]] == [
        (0, "l1", ["id: column names repeated"]),
        (1, "l2", ["id: column names repeated"]),
    ]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b'[{"age": "\\ud800", "city": "a"}]', "lone surrogate ('\\ud800')"),
        (b'[{"\\udfff": 1}]', "lone surrogate ('\\udfff')"),
        (b"[" * 100_000 + b"]" * 100_000, "nests too deeply"),
    ],
    ids=["surrogate value", "surrogate name", "deep"],
)
def test_a_json_reference_that_is_not_a_table_of_text_gets_422(
    server: ServeProcess, body: bytes, says: str
) -> None:
    r = httpx.put(
        server.url + "/v1/models/credit/reference?version=1",
        content=body,
        headers={"content-type": "application/json"},
        timeout=30,
    )
    assert r.status_code == 422, r.text
    assert says in r.json()["error"]["message"]
    _alive(server)


def test_a_small_parquet_body_of_more_rows_than_the_queue_takes_is_refused_unread(
    server: ServeProcess,
) -> None:
    """Repeated values compress to nothing: 50 million of them fit in a few hundred kilobytes
    and take 400 MB once read; the row count in the footer is checked first."""
    table = pa.table({"id": pa.array(np.zeros(1_000_000))})
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    assert len(sink.getvalue()) < 2**16
    r = httpx.post(server.url + PREDICTIONS, content=sink.getvalue(), headers=PARQUET, timeout=60)
    assert r.status_code == 422, r.text
    assert "holds more than 200000 rows" in r.json()["error"]["message"]
    _alive(server)


def test_a_small_compressed_arrow_body_stating_gigabytes_is_refused_undecompressed(
    server: ServeProcess,
) -> None:
    """ZSTD buffers of zeros: 80 MB of values (past limits.max_body, 64 MiB) in kilobytes."""
    table = pa.table({"id": pa.array(np.zeros(10_000_000))})
    sink = io.BytesIO()
    options = ipc.IpcWriteOptions(compression="zstd")
    with ipc.new_stream(sink, table.schema, options=options) as writer:
        writer.write_table(table, max_chunksize=10_000_000)
    assert len(sink.getvalue()) < 2**16
    r = httpx.post(server.url + PREDICTIONS, content=sink.getvalue(), headers=ARROW, timeout=60)
    assert r.status_code == 422, r.text
    assert f"decompresses to more than {64 * 2**20} bytes" in r.json()["error"]["message"]
    _alive(server)


def test_a_small_parquet_body_of_one_long_text_repeated_is_refused_undecoded(
    server: ServeProcess,
) -> None:
    """One 64 KB id repeated on 2,000 rows: 128 MB of text (past limits.max_body) in 4 KB."""
    indices = pa.array(np.zeros(2_000, np.int32))
    ids = pa.DictionaryArray.from_arrays(indices, pa.array(["i" * 65_536]))
    sink = io.BytesIO()
    pq.write_table(pa.table({"id": ids}), sink, store_schema=False, compression="zstd")
    assert len(sink.getvalue()) < 2**16
    r = httpx.post(server.url + PREDICTIONS, content=sink.getvalue(), headers=PARQUET, timeout=60)
    assert r.status_code == 422, r.text
    assert f"text decodes to more than {64 * 2**20} bytes" in r.json()["error"]["message"]
    _alive(server)


def test_a_parquet_footer_that_aborts_pyarrow_metadata_readers_does_not_kill_the_server(
    server: ServeProcess,
) -> None:
    """Mutant 183 of seed 103: reading its column chunk metadata (`RowGroupMetaData.column`)
    aborts the process in pyarrow 26 (an uncaught C++ exception on a level histogram), so
    vigil never reads it; reading the data refuses it with an error instead."""
    *_, (path, headers, body) = _mutants(seed=103, n=184)
    probe = (
        "import io, sys, pyarrow.parquet as pq\n"
        "m = pq.ParquetFile(io.BytesIO(sys.stdin.buffer.read())).metadata\n"
        "[m.row_group(g).column(j) for g in range(m.num_row_groups) for j in range(m.num_columns)]"
    )
    aborted = subprocess.run([sys.executable, "-c", probe], input=body, capture_output=True)
    assert aborted.returncode != 0 and b"histogram" in aborted.stderr  # the body is that hostile
    r = httpx.post(server.url + path, content=body, headers=headers, timeout=30)
    assert r.status_code == 422, r.text
    _alive(server)
