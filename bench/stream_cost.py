"""What the stream detectors cost in the service: values per second through them (read from
the store, fed, state and cursor committed), and the store's write rate with them running
beside the writes against without.

    python bench/stream_cost.py --rows 200000

One DuckDB file in a temporary folder; the model has 25 numeric features, a prediction and
a score. `fed/s` times `StreamDetectors.run` over rows already stored (chunks of 10,000);
`ingest` writes `--rows` predictions in batches of 2,000 (the writer's own path,
`Store.write_predictions`) while, with detectors on, a thread runs them in a loop as the
scheduler would, each pass reading what was stored since.
"""

from __future__ import annotations

import argparse
import io
import tempfile
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from vigil.ingest.layout import layout_for
from vigil.monitor.streams import StreamConfig, StreamDetectors
from vigil.spec import spec_from_dict
from vigil.store import open_store

FEATURES = [f"f{i}" for i in range(25)]
SPEC = {
    "version": 1,
    "task": "regression",
    "columns": {
        **{f: {"role": "feature", "kind": "numeric"} for f in FEATURES},
        "yhat": {"role": "prediction", "kind": "numeric"},
        "y": {"role": "target", "kind": "numeric"},
    },
}
STREAMS = {
    "adwin on one feature": (StreamConfig("f0", "adwin", {}),),
    "cusum on one feature": (StreamConfig("f0", "cusum", {}),),
    "adwin on 5 other features": tuple(StreamConfig(f, "adwin", {}) for f in FEATURES[1:6]),
}
BATCH = 2000


def batch(first: int, n: int) -> pa.Table:
    rng = np.random.default_rng(first)
    start = datetime(2026, 12, 1)
    return pa.table(
        {
            "id": [f"r{i:09d}" for i in range(first, first + n)],
            "timestamp": pa.array(
                [start + timedelta(seconds=i // 10) for i in range(first, first + n)],
                pa.timestamp("us"),
            ),
            "model_version": ["1"] * n,
            "latency_ms": rng.exponential(10, n),
            "error": pa.nulls(n, pa.string()),
            **{f: rng.normal(0, 1, n) for f in FEATURES},
            "yhat": rng.normal(0, 1, n),
        }
    )


def setup(folder: Path, name: str):  # type: ignore[no-untyped-def]
    store = open_store(str(folder / f"{name}.duckdb"))
    spec = spec_from_dict(SPEC)
    model = store.register_model("m", "1", spec.to_dict(), layout_for(spec).stored(), "DOUBLE")
    ref = (
        batch(10**8, 5000)
        .select([*FEATURES, "yhat"])
        .append_column("y", pa.array(np.random.default_rng(0).normal(0, 1, 5000)))
    )
    sink = io.BytesIO()
    pq.write_table(ref, sink)
    store.put_reference(model, "1", sink.getvalue(), 5000)
    return store, model


def ingest(folder: Path, rows: int, streams: tuple[StreamConfig, ...] | None) -> tuple[float, int]:
    store, model = setup(folder, f"ingest-{streams is not None}")
    stop = threading.Event()
    fed = [0]

    def loop() -> None:
        runner = StreamDetectors(store, {"m": streams or ()}, size_of=lambda _: 3600)
        while not stop.is_set():
            fed[0] += runner.run()
            time.sleep(0.05)

    thread = threading.Thread(target=loop)
    if streams is not None:
        thread.start()
    tables = [batch(i, BATCH) for i in range(0, rows, BATCH)]
    t = time.perf_counter()
    for table in tables:
        store.write_predictions(model, [table], [], window_seconds=3600)
    elapsed = time.perf_counter() - t
    stop.set()
    if streams is not None:
        thread.join()
    store.close()
    return rows / elapsed, fed[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        store, model = setup(folder, "fed")
        for i in range(0, args.rows, BATCH):
            store.write_predictions(model, [batch(i, BATCH)], [], window_seconds=3600)
        print(f"# {args.rows:,} stored predictions, 25 features; DuckDB")
        print("| detectors | values fed | seconds | values/s |")
        print("| --- | ---: | ---: | ---: |")
        for label, streams in STREAMS.items():
            runner = StreamDetectors(store, {"m": streams}, size_of=lambda _: 3600)
            t = time.perf_counter()
            fed = runner.run()
            elapsed = time.perf_counter() - t
            print(f"| {label} | {fed:,} | {elapsed:.2f} | {fed / elapsed:,.0f} |")
        store.close()
        print()
        print("| ingest (write_predictions, batches of 2,000) | rows/s | values fed meanwhile |")
        print("| --- | ---: | ---: |")
        off, _ = ingest(folder, args.rows, None)
        print(f"| detectors off | {off:,.0f} | 0 |")
        on, fed = ingest(folder, args.rows, STREAMS["adwin on 5 other features"])
        print(f"| adwin on 5 features, run in a loop beside | {on:,.0f} | {fed:,} |")


if __name__ == "__main__":
    main()
