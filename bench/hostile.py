"""Hostile requests against a real `vigil serve`: how it answers, whether it lives, its memory.

Starts `vigil serve` (DuckDB in a temporary folder, the credit model registered with its
reference), sends `--requests` requests from tests/service/hostile.py's seeded generator over
every route from `--concurrency` threads, and tallies the answers by status and by how each
request was spoiled. It samples the server's resident memory (VmRSS) after every 500
requests, and once more after the run, when the process has been quiet for a few seconds.
The run fails if any answer is >= 500 other than 503 with Retry-After, or the process died.

    .venv/bin/python bench/hostile.py --requests 10000 --concurrency 4

Writes bench/hostile_results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))

from tests.service.conftest import credit_config, free_port  # noqa: E402
from tests.service.hostile import Generator  # noqa: E402


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start(folder: Path, max_body: str) -> tuple[subprocess.Popen[bytes], str]:
    config = credit_config(folder, interval="5s", limits={"max_body": max_body})
    port = free_port()
    log = (folder / "serve.log").open("wb")
    proc = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/vigil"),
            "serve",
            "--config",
            str(config),
            "--port",
            str(port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"vigil serve exited: {(folder / 'serve.log').read_text()}")
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit("vigil serve did not answer /healthz within 60 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--big-body", type=int, default=50 * 2**20, help="oversized bodies")
    parser.add_argument("--max-body", default="16MiB", help="the server's limits.max_body")
    parser.add_argument("--out", type=Path, default=BENCH / "hostile_results.json")
    args = parser.parse_args()

    generator = Generator(args.seed, big_body=args.big_body)
    requests = generator.requests(args.requests)  # made one at a time: some are 50 MB
    statuses: Counter[int] = Counter()
    by_kind: dict[str, Counter[int]] = {}
    bad: list[dict[str, Any]] = []
    errors: Counter[str] = Counter()
    lock = threading.Lock()
    rss: list[tuple[int, float]] = []
    with tempfile.TemporaryDirectory(prefix="vigil-hostile-") as tmp:
        folder = Path(tmp)
        proc, url = start(folder, args.max_body)
        baseline = rss_mib(proc.pid)
        sent = [0]
        started = time.monotonic()

        def next_request() -> Any:
            with lock:
                return next(requests, None)

        def worker() -> None:
            with httpx.Client(base_url=url, timeout=120) as client:
                while (req := next_request()) is not None:
                    try:
                        r = client.request(
                            req.method, req.path, headers=req.headers, content=req.body
                        )
                        status = r.status_code
                        retry = r.headers.get("retry-after")
                        text = r.text[:300]
                    except httpx.HTTPError as err:
                        status, retry, text = 0, None, type(err).__name__
                    with lock:
                        sent[0] += 1
                        statuses[status] += 1
                        by_kind.setdefault(req.kind, Counter())[status] += 1
                        if status == 0:
                            errors[text] += 1
                        if status >= 500 and not (status == 503 and retry):
                            bad.append(
                                {
                                    "kind": req.kind,
                                    "path": req.path[:200],
                                    "status": status,
                                    "answer": text,
                                }
                            )
                        if sent[0] % 500 == 0 and proc.poll() is None:
                            rss.append((sent[0], round(rss_mib(proc.pid), 1)))

        threads = [threading.Thread(target=worker) for _ in range(args.concurrency)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        seconds = time.monotonic() - started
        alive = proc.poll() is None
        exit_code = proc.returncode
        time.sleep(5)
        after = rss_mib(proc.pid) if alive else float("nan")
        healthz = httpx.get(url + "/healthz", timeout=5).status_code if alive else None
        if alive:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
        log_text = (folder / "serve.log").read_text(errors="replace")
        log_tail = log_text[-3000:]

    result = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{os.cpu_count()} cores, {platform.machine()}, "
        f"Python {platform.python_version()}",
        "command": " ".join(["python", "bench/hostile.py", *sys.argv[1:]]),
        "requests": args.requests,
        "seconds": round(seconds, 1),
        "statuses": dict(sorted(statuses.items())),
        "by_kind": {k: dict(sorted(v.items())) for k, v in sorted(by_kind.items())},
        "bad_answers": len(bad),
        "bad_examples": bad[:20],
        "transport_errors": dict(errors),
        "process_alive": alive,
        "exit_code": exit_code,
        "healthz_after": healthz,
        "rss_mib": {"start": round(baseline, 1), "samples": rss, "after_quiet": round(after, 1)},
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "by_kind"}, indent=2))
    if not alive:
        print(log_tail)
    if bad or not alive:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
