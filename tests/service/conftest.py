"""Servers for the service tests: one in a thread of the test process, one as a real
`vigil serve` process; both on 127.0.0.1 and talked to over real HTTP."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import uvicorn
import yaml

from vigil.config import Limits, Settings, Token, hash_token
from vigil.monitor.windows import WindowPlan
from vigil.service.app import create_app

SPEC: dict[str, Any] = {
    "version": 1,
    "task": "binary",
    "columns": {
        "age": {"role": "feature", "kind": "numeric"},
        "income": {"role": "feature", "kind": "numeric"},
        "city": {"role": "feature", "kind": "categorical"},
        "pred": {"role": "prediction", "kind": "categorical"},
        "proba": {"role": "score", "kind": "numeric"},
        "y": {"role": "target", "kind": "categorical"},
        "region": {"role": "segment", "kind": "categorical"},
    },
}
TOKENS = {"admin": "admin-secret-token", "writer": "write-secret-token", "reader": "read-token-x"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def reference_table(n: int = 3000, seed: int = 1) -> pa.Table:
    rng = np.random.default_rng(seed)
    proba = rng.random(n)
    return pa.table(
        {
            "age": rng.normal(40, 10, n),
            "income": rng.lognormal(10, 0.5, n),
            "city": rng.choice(["a", "b", "c"], n),
            "pred": np.where(proba > 0.5, "1", "0"),
            "proba": proba,
            "y": np.where(rng.random(n) < proba, "1", "0"),
            "region": rng.choice(["north", "south", "east"], n),
        }
    )


def parquet_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def records(
    n: int,
    *,
    start: int = 0,
    shift: float = 0.0,
    seed: int = 2,
    ts: float | None = None,
    prefix: str = "r",
) -> list[dict[str, Any]]:
    """Prediction records like the reference, the age shifted by `shift` years."""
    rng = np.random.default_rng(seed)
    now = time.time() if ts is None else ts
    out = []
    for i in range(start, start + n):
        proba = float(rng.random())
        out.append(
            {
                "id": f"{prefix}{i}",
                "timestamp": now,
                "features": {
                    "age": float(rng.normal(40 + shift, 10)),
                    "income": float(rng.lognormal(10, 0.5)),
                    "city": str(rng.choice(["a", "b", "c"])),
                },
                "prediction": "1" if proba > 0.5 else "0",
                "score": proba,
                "latency_ms": float(rng.exponential(5)),
                "segments": {"region": str(rng.choice(["north", "south", "east"]))},
            }
        )
    return out


@dataclass
class Live:
    """A running service and a client for it."""

    url: str
    client: httpx.Client
    db: Path
    app: Any = None

    def setup_model(self, name: str = "credit", headers: dict[str, str] | None = None) -> None:
        r = self.client.post(
            "/v1/models", json={"name": name, "version": "1", "spec": SPEC}, headers=headers
        )
        assert r.status_code == 201, r.text
        r = self.client.put(
            f"/v1/models/{name}/reference",
            content=parquet_bytes(reference_table()),
            headers={"content-type": "application/vnd.apache.parquet", **(headers or {})},
        )
        assert r.status_code == 200, r.text


class ThreadServer:
    """uvicorn serving an app on a thread of the test process."""

    def __init__(self, app: Any) -> None:
        self.port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(20)


def make_settings(tmp_path: Path, **changes: Any) -> Settings:
    return replace(Settings(db=str(tmp_path / "vigil.duckdb")), **changes)


def token_settings() -> tuple[Token, ...]:
    return (
        Token("admin", hash_token(TOKENS["admin"]), frozenset({"admin"})),
        Token("writer", hash_token(TOKENS["writer"]), frozenset({"write"})),
        Token("reader", hash_token(TOKENS["reader"]), frozenset({"read"})),
        Token("old", hash_token("revoked-token"), frozenset({"admin"}), revoked=True),
    )


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    """The service in a thread, no tokens, a small body limit, the scheduler off."""
    settings = make_settings(
        tmp_path, limits=Limits(max_body=2 * 2**20), windows=WindowPlan(min_rows=10)
    )
    app = create_app(settings, scheduler=False)
    with ThreadServer(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        yield Live(url, client, Path(settings.db), app)


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[Live]:
    """The service in a thread with tokens configured."""
    settings = make_settings(tmp_path, tokens=token_settings())
    app = create_app(settings, scheduler=False)
    with ThreadServer(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        yield Live(url, client, Path(settings.db), app)


class ServeProcess:
    """A real `vigil serve` process."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = io.BytesIO()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from vigil.cli import main; raise SystemExit(main())",
                "serve",
                "--port",
                str(self.port),
                *args,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                out = self.proc.stdout.read().decode() if self.proc.stdout else ""
                raise RuntimeError(f"vigil serve exited with {self.proc.returncode}: {out}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError("vigil serve did not answer /healthz in time")

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(20)
        self.close_pipe()

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        out = self.proc.stdout.read().decode() if self.proc.stdout else ""
        self.close_pipe()
        return out

    def close_pipe(self) -> None:
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def credit_config(folder: Path, **settings: Any) -> Path:
    """A `vigil serve` config in `folder`: the credit model (SPEC, `reference_table()`) on a
    DuckDB file there, hourly windows, no scheduler tick for an hour; `settings` add keys or
    replace them (`limits={...}`, `interval="1s"`, `db=...`)."""
    (folder / "spec.yaml").write_text(yaml.safe_dump(SPEC))
    (folder / "ref.parquet").write_bytes(parquet_bytes(reference_table()))
    config = {
        "db": str(folder / "vigil.duckdb"),
        "interval": "1h",
        "windows": {"size": "1h", "min_rows": 10},
        "models": {"credit": {"version": "1", "spec": "spec.yaml", "reference": "ref.parquet"}},
        **settings,
    }
    path = folder / "vigil.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def serve_credit(folder: Path, **settings: Any) -> ServeProcess:
    """A ready `vigil serve` process on `credit_config(folder, **settings)`."""
    server = ServeProcess(["--config", str(credit_config(folder, **settings))])
    server.wait_ready()
    return server
