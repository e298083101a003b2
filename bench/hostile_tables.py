"""Byte-flipped and truncated table bodies against a real `vigil serve` process, at length.

The suite sends 300 of them (tests/service/test_hostile_tables.py); this sends as many as
asked, 1,000 per seed, with the same generator: Arrow stream, Arrow file, Parquet and CSV
bodies on predictions, labels and the reference upload. It prints the answers by status, the
ones at 500 or more, whether the process lived, and its resident memory before and after.

    .venv/bin/python bench/hostile_tables.py --requests 10000
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.service import test_hostile_tables as hostile
from tests.service.conftest import (
    ServeProcess,
    credit_config,
)


def _rss_mb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS"):
            return int(line.split()[1]) // 1024
    return -1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000, help="a multiple of 1,000")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp())
    server = ServeProcess(["--config", str(credit_config(tmp))])
    server.wait_ready()
    before = _rss_mb(server.proc.pid)
    answers: collections.Counter[int] = collections.Counter()
    failures = []
    start = time.monotonic()
    with httpx.Client(base_url=server.url, timeout=60) as client:
        for seed in range(100, 100 + args.requests // 1000):
            for path, headers, body in hostile._mutants(seed=seed, n=1000):
                method = "PUT" if path == hostile.REFERENCE else "POST"
                status = client.request(method, path, content=body, headers=headers).status_code
                answers[status] += 1
                if status >= 500:
                    failures.append((status, path, headers["content-type"], body.hex()[:120]))
    alive = server.proc.poll() is None
    after = _rss_mb(server.proc.pid) if alive else -1
    print(
        f"requests={sum(answers.values())} by status={dict(sorted(answers.items()))} "
        f">=500={len(failures)} alive={alive} rss_mb before={before} after={after} "
        f"seconds={time.monotonic() - start:.0f}"
    )
    for failure in failures[:10]:
        print(failure)
    server.stop()


if __name__ == "__main__":
    main()
