"""A separate process writing to or claiming from a shared store, for the concurrency tests.

Run as `python worker.py '<job as JSON>'`; it opens the store, says it is ready (a file), waits
for the `go` file so that every worker starts at once, does its job and prints the outcome.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa

from vigil.store import open_store
from vigil.store.base import WindowKey

T0 = datetime(2024, 5, 1)
MODEL = "shared"


def batch(rows: list[list[float]]) -> pa.Table:
    """A prediction batch of (id number, x) rows, all in the first hour."""
    n = len(rows)
    return pa.table(
        {
            "id": pa.array([f"id-{int(i)}" for i, _ in rows], pa.string()),
            "timestamp": pa.array([T0 + timedelta(seconds=int(i)) for i, _ in rows]),
            "model_version": pa.array(["v1"] * n, pa.string()),
            "latency_ms": pa.array([None] * n, pa.float64()),
            "error": pa.array([None] * n, pa.string()),
            "x": pa.array([x for _, x in rows], pa.float64()),
        }
    )


def run(job: dict[str, Any]) -> dict[str, Any]:
    """Do the job once every worker is ready; what happened, as plain data."""
    store = open_store(job["url"])
    try:
        folder = Path(job["folder"])
        (folder / f"ready-{job['name']}").touch()
        while not (folder / "go").exists():
            time.sleep(0.002)
        if job["mode"] == "claim":
            model = store.get_model(MODEL)
            assert model is not None
            key = WindowKey("v1", "tumbling", T0, T0 + timedelta(hours=1))
            return {"generation": store.claim_window(model, key, job["name"], lease_seconds=60)}
        model = store.register_model(MODEL, "v1", {}, [("x", "feature", "DOUBLE")], None)
        results = []
        for rows in job["batches"]:
            (done,) = store.write_predictions(model, [batch(rows)], [], window_seconds=3600)
            results.append([done.accepted, done.duplicates, done.conflicts])
        return {"model_id": model.id, "results": results}
    finally:
        store.close()


if __name__ == "__main__":
    print(json.dumps(run(json.loads(sys.argv[1]))))
