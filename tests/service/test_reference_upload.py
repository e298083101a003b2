"""Reference sets in the service, over real HTTP: a spec with a timestamp role computes its
windows, and `vigil.evaluation`, the reference upload and `vigil serve --config` accept and
refuse the same reference files, for the same reason."""

from __future__ import annotations

import io
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest
import yaml
from tests.service.conftest import Live, ServeProcess, ThreadServer, make_settings, parquet_bytes

from vigil.config import Limits
from vigil.errors import VigilError
from vigil.evaluation import evaluate
from vigil.service.app import create_app

PARQUET = {"content-type": "application/vnd.apache.parquet"}
SPEC: dict[str, Any] = {
    "version": 1,
    "task": "binary",
    "columns": {
        "scored_at": {"role": "timestamp", "kind": "datetime"},
        "x": {"role": "feature", "kind": "numeric"},
        "born": {"role": "feature", "kind": "datetime"},
        "city": {"role": "feature", "kind": "categorical"},
        "y": {"role": "target", "kind": "categorical"},
    },
}
N = 400


def reference(n: int = N, seed: int = 1) -> pd.DataFrame:
    """Times with a zone and nanoseconds, a float 0/1 target: what pandas users have."""
    rng = np.random.default_rng(seed)
    born = pd.Timestamp("1960-01-01", tz="Europe/Paris") + pd.to_timedelta(
        rng.integers(0, 15_000, n), unit="D"
    )
    return pd.DataFrame(
        {
            "scored_at": pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC").as_unit("ns"),
            "x": rng.normal(size=n),
            "born": pd.DatetimeIndex(born).as_unit("ns") + pd.Timedelta(nanoseconds=3),
            "city": rng.choice(["a", "b", "c"], n),
            "y": (rng.random(n) < 0.4).astype(float),
        }
    )


def predictions(n: int, seed: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    now = time.time()
    born = pd.Timestamp("1960-01-01", tz="UTC") + pd.to_timedelta(
        rng.integers(0, 15_000, n), unit="D"
    )
    return [
        {
            "id": f"p{seed}-{i}",
            "timestamp": now,
            "features": {
                "x": float(rng.normal()),
                "born": born[i].isoformat(),
                "city": str(rng.choice(["a", "b", "c"])),
            },
        }
        for i in range(n)
    ]


def test_a_spec_with_a_timestamp_role_computes_its_windows(live: Live) -> None:
    r = live.client.post("/v1/models", json={"name": "m", "version": "1", "spec": SPEC})
    assert r.status_code == 201, r.text
    body = parquet_bytes(pa.Table.from_pandas(reference(), preserve_index=False))
    r = live.client.put("/v1/models/m/reference", content=body, headers=PARQUET)
    assert r.status_code == 200, r.text
    sent = predictions(300, seed=2)
    r = live.client.post("/v1/models/m/predictions", json={"records": sent})
    assert r.json()["accepted"] == 300, r.text
    labels = [{"id": rec["id"], "label": int(i % 3 == 0)} for i, rec in enumerate(sent)]
    assert live.client.post("/v1/models/m/labels", json={"records": labels}).status_code == 200
    done = live.client.post("/v1/models/m/evaluate").json()
    assert done["failed"] == []
    assert sorted(w["kind"] for w in done["computed"]) == ["rolling", "tumbling"]
    report = live.client.get("/v1/models/m/windows/latest").json()
    born = report["drift"]["columns"]["born"]
    assert born.get("error") is None and born["drifted"] is False
    checks = [c for c in report["checks"] if c.get("column") == "scored_at"]
    assert checks and all(c["status"] == "ok" for c in checks), checks
    assert report["performance"]["rows"]["current"] == 300
    assert report["performance"]["rows"]["reference"] == N


# --- one answer on every path -------------------------------------------------------------------


def _variant(name: str) -> pd.DataFrame:
    df = reference(200, seed=5)
    if name == "float 0/1 target":
        return df
    if name == "int target":
        return df.assign(y=df["y"].astype(int))
    if name == "string target":
        return df.assign(y=df["y"].astype(int).astype(str))
    if name == "bool target":
        return df.assign(y=df["y"] > 0)
    if name == "naive datetime column":
        return df.assign(born=df["born"].dt.tz_localize(None), scored_at=df["scored_at"].dt.date)
    if name == "a column of nulls":
        return df.assign(x=None)
    if name == "a column that cannot be cast":
        return df.assign(x=[f"n{i}" for i in range(len(df))])
    if name == "a spec column the table lacks":
        return df.drop(columns=["city"])
    if name == "no rows":
        return df.iloc[:0]
    raise AssertionError(name)


# variant -> None (accepted), or the words of the refusal
VARIANTS: dict[str, str | None] = {
    "float 0/1 target": None,
    "int target": None,
    "string target": None,
    "bool target": None,
    "naive datetime column": None,
    "a column of nulls": "column 'x' has no usable value",
    "a column that cannot be cast": "column 'x' holds text such as",
    "a spec column the table lacks": "the spec names 'city'",
    "no rows": "has no rows",
}


def _reason(words: str, message: str) -> None:
    assert words in message, message
    assert "\n" not in message.strip(), "one line"


def test_evaluate_the_upload_and_serve_accept_and_refuse_the_same_references(
    live: Live, tmp_path: Path
) -> None:
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(SPEC))
    current = reference(200, seed=6)
    for i, (name, refusal) in enumerate(VARIANTS.items()):
        path = tmp_path / f"ref{i}.parquet"
        pq.write_table(pa.Table.from_pandas(_variant(name), preserve_index=False), path)
        # vigil.evaluation, as `vigil report --spec` runs it
        try:
            evaluate(path, current, tmp_path / "spec.yaml")
            batch = None
        except VigilError as err:
            batch = str(err)
        # the upload
        model = f"m{i}"
        r = live.client.post("/v1/models", json={"name": model, "version": "1", "spec": SPEC})
        assert r.status_code == 201, r.text
        r = live.client.put(
            f"/v1/models/{model}/reference", content=path.read_bytes(), headers=PARQUET
        )
        if refusal is None:
            assert batch is None, (name, batch)
            assert r.status_code == 200, (name, r.text)
            assert r.json()["rows"] == 200
        else:
            assert batch is not None, name
            _reason(refusal, batch)
            assert r.status_code == 422, (name, r.text)
            _reason(refusal, r.json()["error"]["message"])
            # the same sentence, but for the name of the set
            assert r.json()["error"]["message"] == batch.replace(str(path), "upload")


def _config(tmp_path: Path, names: list[str]) -> Path:
    """A service config with one model per reference variant."""
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(SPEC))
    models = {}
    for i, name in enumerate(names):
        table = pa.Table.from_pandas(_variant(name), preserve_index=False)
        pq.write_table(table, tmp_path / f"r{i}.parquet")
        models[f"m{i}"] = {"version": "1", "spec": "spec.yaml", "reference": f"r{i}.parquet"}
    config = {"db": str(tmp_path / "vigil.duckdb"), "interval": "1h", "models": models}
    (tmp_path / "vigil.yaml").write_text(yaml.safe_dump(config))
    return tmp_path / "vigil.yaml"


def test_serve_with_the_accepted_references_in_its_config_starts(tmp_path: Path) -> None:
    accepted = [name for name, refusal in VARIANTS.items() if refusal is None]
    server = ServeProcess(["--config", str(_config(tmp_path, accepted))])
    try:
        server.wait_ready()
        for i in range(len(accepted)):
            got = httpx.get(f"{server.url}/v1/models/m{i}", timeout=10).json()
            assert got["references"] == {"1": 200}, accepted[i]
    finally:
        log = server.stop()
    assert "Traceback" not in log


@pytest.mark.parametrize("name", [name for name, refusal in VARIANTS.items() if refusal])
def test_serve_with_a_refused_reference_in_its_config_exits_2_with_one_line(
    name: str, tmp_path: Path
) -> None:
    config = _config(tmp_path, [name])
    done = subprocess.run(
        [sys.executable, "-m", "vigil.cli", "serve", "--port", "0", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: model 'm0' of the config:"), lines
    _reason(VARIANTS[name] or "", lines[0])
    assert "serving" not in done.stdout


# --- hostile bodies get a clear 4xx, never a 500 ------------------------------------------------


def _ipc(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    with ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def test_hostile_reference_bodies_get_a_clear_4xx(live: Live) -> None:
    r = live.client.post("/v1/models", json={"name": "m", "version": "1", "spec": SPEC})
    assert r.status_code == 201
    good = pa.Table.from_pandas(reference(50), preserve_index=False)
    whole = parquet_bytes(good)
    union = pa.UnionArray.from_sparse(
        pa.array([0, 1] * 25, pa.int8()),
        [pa.array(np.arange(50)), pa.array([str(i) for i in range(50)])],
    )
    cases: list[tuple[bytes | None, Any, dict[str, str], int, str]] = [
        (whole[: len(whole) // 2], None, PARQUET, 422, "not readable as parquet"),
        (b"PAR1" + b"\x00" * 64 + b"PAR1", None, PARQUET, 422, "not readable as parquet"),
        (whole, None, {"content-type": "image/png"}, 415, "Parquet, Arrow IPC, CSV or JSON"),
        (parquet_bytes(good.slice(0, 0)), None, PARQUET, 422, "has no rows"),
        (None, [], {}, 422, "has no rows"),
        (None, {"rows": 3}, {}, 422, "a list of row objects"),
        (None, [{"x": 1.0}, {"x": "a"}], {}, 422, "do not form a table"),
        (None, [{"x": 2**63}], {}, 422, "beyond 64 bits"),
        (None, [{"x": 10**400}], {}, 422, "beyond 64 bits"),
        (b"\xff\xfe\x00garbage\n\x01", None, {"content-type": "text/csv"}, 422, "as csv"),
        (
            _ipc(good.append_column("odd", union)),
            None,
            {"content-type": "application/vnd.apache.arrow.stream"},
            422,
            "cannot be stored as Parquet",
        ),
        (
            _ipc(good.set_column(3, "city", pa.array([{"a": 1}] * 50))),
            None,
            {"content-type": "application/vnd.apache.arrow.stream"},
            422,
            "column 'city' holds struct<a: int64> values",
        ),
        (parquet_bytes(good.drop_columns(["born"])), None, PARQUET, 422, "the spec names 'born'"),
    ]
    for content, json_body, headers, status, words in cases:
        if json_body is not None:
            r = live.client.put("/v1/models/m/reference", json=json_body)
        else:
            r = live.client.put("/v1/models/m/reference", content=content, headers=headers)
        assert r.status_code == status, (words, r.status_code, r.text)
        assert words in r.json()["error"]["message"], (words, r.text)
    assert live.client.get("/v1/models/m").json()["references"] == {}
    r = live.client.put("/v1/models/m/reference", content=whole, headers=PARQUET)
    assert r.status_code == 200, r.text


def test_a_reference_that_would_decode_past_its_limit_is_refused_before_it_is_read(
    tmp_path: Path,
) -> None:
    """A few-kilobyte Parquet file can hold gigabytes of repeated values: the upload is
    measured by its footer and its dictionary-coded text against `max_reference_bytes`."""
    settings = make_settings(tmp_path, limits=Limits(max_reference_bytes=16 * 2**20))
    with (
        ThreadServer(create_app(settings, scheduler=False)) as url,
        httpx.Client(base_url=url, timeout=60) as client,
    ):
        assert (
            client.post("/v1/models", json={"name": "m", "version": "1", "spec": SPEC}).status_code
            == 201
        )
        zeros = parquet_bytes(pa.table({"x": np.zeros(4_000_000)}))  # 32 MB of float64
        wide_text = parquet_bytes(pa.table({"city": pa.array(["c" * 65_536] * 400)}))  # 26 MB
        arrow_zeros = io.BytesIO()
        with ipc.new_stream(
            arrow_zeros,
            pa.schema([("x", pa.float64())]),
            options=ipc.IpcWriteOptions(compression="zstd"),
        ) as writer:
            writer.write_table(pa.table({"x": np.zeros(4_000_000)}))
        cases = [
            (zeros, PARQUET, "4000000 rows of 8 bytes of fixed-width values"),
            (wide_text, PARQUET, "text decodes to more than 16777216 bytes"),
            (
                arrow_zeros.getvalue(),
                {"content-type": "application/vnd.apache.arrow.stream"},
                "decompresses to more than 16777216 bytes",
            ),
        ]
        for body, headers, words in cases:
            assert len(body) < 2**20, len(body)  # small on the wire
            r = client.put("/v1/models/m/reference", content=body, headers=headers)
            assert r.status_code == 422, r.text
            message = r.json()["error"]["message"]
            assert words in message and "limits.max_reference_bytes" in message, message
        assert client.get("/v1/models/m").json()["references"] == {}
        good = pa.Table.from_pandas(reference(N), preserve_index=False)
        r = client.put("/v1/models/m/reference", content=parquet_bytes(good), headers=PARQUET)
        assert r.status_code == 200, r.text
        assert r.json()["rows"] == N
