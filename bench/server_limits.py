"""A real `vigil serve` under slowloris and under concurrent large JSON bodies (issue 8, items 5
and 6). Compare two checkouts by pointing `--python` at each one's interpreter.

    python bench/server_limits.py slowloris [--python PY] [--connections 600] [--seconds 45]
    python bench/server_limits.py rss [--python PY] [--bodies 3] [--mb 30] [--inflight 64MiB]
    python bench/server_limits.py register [--columns 3000] [--db postgresql://...]

slowloris: opens N connections that each send a request line and then one header byte per
second, never ending the headers; every second times a /healthz request on a fresh connection;
at the end counts how many slow connections the server still holds.

rss: registers a model and sends `--bodies` JSON bodies of about `--mb` MB at once (each from
its own thread), while sampling the server's peak resident memory (VmHWM of /proc/PID/status);
prints the peak and each body's answer status.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

SPEC = {
    "columns": {
        **{f"f{i}": {"role": "feature", "kind": "numeric"} for i in range(25)},
        "pred": {"role": "prediction", "kind": "categorical"},
    }
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Server:
    def __init__(self, python: str, workdir: Path, limits: dict[str, Any]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = workdir / "vigil.yaml"
        body = {
            "db": str(workdir / "vigil.duckdb"),
            "interval": "1h",
            "alerts": {"evaluate_after": "off"},
        }
        if limits:
            body["limits"] = limits  # type: ignore[assignment]
        config.write_text(json.dumps(body))  # JSON is YAML
        self.proc = subprocess.Popen(
            [
                python,
                "-c",
                "from vigil.cli import main; raise SystemExit(main())",
                "serve",
                "--port",
                str(self.port),
                "--config",
                str(config),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("vigil serve did not start")

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> int:
        self.proc.terminate()
        try:
            return self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


def slowloris(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(args.python, Path(tmp), {})
        socks = []
        refused = 0
        for _ in range(args.connections):
            try:
                s = socket.create_connection(("127.0.0.1", server.port), timeout=5)
                s.sendall(b"GET /v1/models HTTP/1.1\r\n")
                socks.append(s)
            except OSError:
                refused += 1
        health: list[float] = []
        failures = 0
        started = time.monotonic()
        while time.monotonic() - started < args.seconds:
            for s in socks:
                with contextlib.suppress(OSError):
                    s.sendall(b"x")
            t = time.perf_counter()
            try:
                ok = httpx.get(server.url + "/healthz", timeout=5).status_code == 200
            except httpx.HTTPError:
                ok = False
            health.append(time.perf_counter() - t)
            failures += not ok
            time.sleep(max(0.0, 1 - (time.perf_counter() - t)))
        held = sum(_held(s) for s in socks)
        for s in socks:
            s.close()
        code = server.stop()
    health.sort()
    return {
        "connections": args.connections,
        "seconds": args.seconds,
        "refused_at_connect": refused,
        "still_held_at_end": held,
        "healthz_failures": failures,
        "healthz_max_s": round(health[-1], 3) if health else None,
        "healthz_median_s": round(health[len(health) // 2], 4) if health else None,
        "exit_code_on_sigterm": code,
    }


def _held(s: socket.socket) -> bool:
    """True when the server keeps the connection open (an answer read, then not closed)."""
    s.setblocking(False)
    try:
        while s.recv(65536):
            pass
        return False  # closed by the server
    except BlockingIOError:
        return True
    except OSError:
        return False  # reset by the server


def body_of(mb: int, start: int) -> bytes:
    one = len(json.dumps(_record(0)).encode())
    n = mb * 10**6 // (one + 2)
    return json.dumps({"records": [_record(start + i) for i in range(n)]}).encode()


def _record(i: int) -> dict[str, Any]:
    return {
        "id": f"r{i}",
        "timestamp": time.time(),
        "features": {f"f{k}": (i * 7 + k) % 1000 / 10 for k in range(25)},
        "prediction": "1" if i % 2 else "0",
    }


def rss(args: argparse.Namespace) -> dict[str, Any]:
    bodies = [body_of(args.mb, b * 10**7) for b in range(args.bodies)]
    with tempfile.TemporaryDirectory() as tmp:
        limits = {"max_body": "64MiB"}
        if args.inflight:
            limits["max_inflight_bytes"] = args.inflight
        server = Server(args.python, Path(tmp), limits)
        r = httpx.post(
            server.url + "/v1/models",
            json={"name": "m", "version": "1", "spec": SPEC},
            timeout=60,
        )
        r.raise_for_status()
        base = server.peak_rss_mb()
        statuses: list[Any] = [None] * len(bodies)

        def send(i: int) -> None:
            try:
                r = httpx.post(
                    server.url + "/v1/models/m/predictions",
                    content=bodies[i],
                    headers={"content-type": "application/json"},
                    timeout=600,
                )
                statuses[i] = r.status_code
            except httpx.HTTPError as err:
                statuses[i] = type(err).__name__

        threads = [threading.Thread(target=send, args=(i,)) for i in range(len(bodies))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        peak = server.peak_rss_mb()
        code = server.stop()
    return {
        "bodies": args.bodies,
        "max_inflight_bytes": args.inflight or "default",
        "body_mb": round(len(bodies[0]) / 1e6, 1),
        "rss_before_mb": round(base),
        "peak_rss_mb": round(peak),
        "statuses": statuses,
        "exit_code_on_sigterm": code,
    }


def register(args: argparse.Namespace) -> dict[str, Any]:
    """Seconds `register_model` holds the store's write lock for a `--columns`-column spec
    (a new model), then for a new version adding as many columns again. Runs in this process
    with this checkout's store (point `--python` elsewhere by running that interpreter)."""
    from vigil.store import open_store

    out: dict[str, Any] = {"columns": args.columns}
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(args.db or f"{tmp}/v.duckdb")
        first = [(f"f{i}", "feature", "DOUBLE") for i in range(args.columns)]
        t = time.perf_counter()
        store.register_model("wide", "1", {"columns": {}}, first, None)
        out["new_model_s"] = round(time.perf_counter() - t, 3)
        more = first + [(f"g{i}", "feature", "DOUBLE") for i in range(args.columns)]
        t = time.perf_counter()
        store.register_model("wide", "2", {"columns": {}}, more, None)
        out["new_version_adding_columns_s"] = round(time.perf_counter() - t, 3)
        out["store"] = store.url_for_display
        store.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("mode", choices=["slowloris", "rss", "register"])
    parser.add_argument("--python", default=sys.executable, help="the server's interpreter")
    parser.add_argument("--connections", type=int, default=600)
    parser.add_argument("--seconds", type=int, default=45)
    parser.add_argument("--bodies", type=int, default=3)
    parser.add_argument("--mb", type=int, default=30)
    parser.add_argument("--inflight", help="limits.max_inflight_bytes of the server, e.g. 64MiB")
    parser.add_argument("--columns", type=int, default=3000)
    parser.add_argument("--db", help="register: a store URL (default a temporary DuckDB file)")
    args = parser.parse_args()
    modes = {"slowloris": slowloris, "rss": rss, "register": register}
    result = modes[args.mode](args)
    result["python"] = args.python
    result["cwd"] = os.getcwd()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
