"""Two `vigil serve` processes on one PostgreSQL: each id stored once, each window claimed once."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from vigil.store import open_store

from .records import T0, hours, predictions, register, write

WORKER = Path(__file__).with_name("worker.py")


def run_together(folder: Path, jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Start one process per job, let them all go at once, and collect what they print."""
    procs = []
    for job in jobs:
        argument = json.dumps({**job, "folder": str(folder)})
        procs.append(
            subprocess.Popen(
                [sys.executable, str(WORKER), argument],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    deadline = time.monotonic() + 60
    while not all((folder / f"ready-{job['name']}").exists() for job in jobs):
        assert all(p.poll() is None for p in procs), [p.communicate() for p in procs]
        assert time.monotonic() < deadline, "workers did not start"
        time.sleep(0.01)
    (folder / "go").touch()
    outcomes = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        outcomes.append(json.loads(out))
    return outcomes


def test_two_processes_store_each_id_once(postgres_url: str, tmp_path: Path) -> None:
    rng = random.Random(7)
    # worker a sends ids 0..799, b sends 200..999; in the overlap, b contradicts a on ids
    # divisible by 50; each also resends 100 of its own rows (none of those it contradicts)
    sent_a = [[i, float(i)] for i in range(800)]
    sent_b = [[i, -1.0 if i % 50 == 0 and i < 800 else float(i)] for i in range(200, 1000)]
    jobs = []
    for name, rows in (("a", sent_a), ("b", sent_b)):
        rows = rows + rng.sample([r for r in rows if r[0] % 50], 100)
        rng.shuffle(rows)
        jobs.append({"name": name, "mode": "write", "url": postgres_url, "batches": chunks(rows)})
    a, b = run_together(tmp_path, jobs)
    assert a["model_id"] == b["model_id"]  # both registered the one model
    for outcome, rows in ((a, sent_a), (b, sent_b)):
        assert sum(map(sum, outcome["results"])) == len(rows) + 100
    totals = [sum(r[k] for o in (a, b) for r in o["results"]) for k in range(3)]
    assert totals == [1000, 2 * 100 + 600 - 12, 12]  # accepted, duplicates, conflicts
    store = open_store(postgres_url)
    try:
        model = store.get_model("shared")
        assert model is not None and [m.name for m in store.list_models()] == ["shared"]
        window = store.read_window(model, "v1", T0, hours(1))
        stored = dict(zip(window["__id"].to_pylist(), window["x"].to_pylist(), strict=True))
        assert window.num_rows == len(stored) == 1000
        assert all(x == int(i[3:]) for i, x in stored.items() if int(i[3:]) % 50 or x != -1.0)
    finally:
        store.close()


def chunks(rows: list[list[float]], size: int = 40) -> list[list[list[float]]]:
    return [rows[i : i + size] for i in range(0, len(rows), size)]


def test_processes_claiming_one_window_exactly_one_gets_it(
    postgres_url: str, tmp_path: Path
) -> None:
    store = open_store(postgres_url)
    try:
        model = register(store, "shared")
        write(store, model, predictions(["a", "b"]))
    finally:
        store.close()
    jobs = [{"name": f"w{i}", "mode": "claim", "url": postgres_url} for i in range(3)]
    outcomes = run_together(tmp_path, jobs)
    assert sorted(o["generation"] is not None for o in outcomes) == [False, False, True]
