"""The SDK caller's per-call time while its sender thread encodes and sends, against `vigil serve`.

    .venv/bin/python bench/sdk_latency.py [--calls 100000] [--work-us 20] [--body columns|json]

A prediction service logs one record per request between its own work: this loop does
`--work-us` µs of pure-Python work, then times one `log_predictions` call, so the sender
thread's encoding competes with the caller for the GIL as in a service. Calls during which the
garbage collector ran are counted apart (the gc module's callbacks mark them), since a
collection pauses every thread whatever the SDK does. `--body columns` is the SDK's own choice:
this process has pyarrow loaded (for the reference file), so columnar Arrow bodies; `--body
json` makes the client send JSON records (as before columnar bodies) for a side-by-side
figure. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import sys
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from service import machine, serving  # noqa: E402
from service_load import FEATURES, JSON_SEED, MODEL, reference_table, synth  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def run(url: str, args: argparse.Namespace) -> dict[str, Any]:
    from vigil import Client

    data = synth(JSON_SEED, args.calls, shift=0.3)
    feats = [data[name].tolist() for name in FEATURES]
    preds, scores = data["pred"].tolist(), data["proba"].tolist()
    now = time.time()
    records = [
        {
            "features": {name: feats[j][i] for j, name in enumerate(FEATURES)},
            "prediction": preds[i],
            "score": scores[i],
            "latency_ms": 1.0,
            "timestamp": now - (i % 600),
        }
        for i in range(args.calls)
    ]
    del feats, data
    gc.collect()
    gc.freeze()
    collecting: list[int] = []  # perf_counter_ns at each gc start and stop

    def mark(phase: str, info: dict[str, Any]) -> None:
        collecting.append(time.perf_counter_ns())

    client = Client(url, batch_size=args.batch, max_queue=args.calls)
    if args.body == "json":
        client._sender._columns = False  # as before columnar bodies existed
    log = client.log_predictions
    clock = time.perf_counter_ns
    spent = [0] * args.calls
    starts = [0] * args.calls
    work = args.work_us * 1000
    gc.callbacks.append(mark)
    began = time.perf_counter()
    for i, record in enumerate(records):
        end = clock() + work
        while clock() < end:  # the service's own work, holding the GIL as Python code does
            pass
        t0 = clock()
        log(MODEL, record)
        starts[i], spent[i] = t0, clock() - t0
    calling_s = time.perf_counter() - began
    gc.callbacks.remove(mark)
    flushed = client.flush(timeout=120)
    drained_s = time.perf_counter() - began
    client.close()
    stats = client.stats()
    spans = list(zip(collecting[::2], collecting[1::2], strict=False))
    in_gc = [any(a < t + d and t < b for a, b in spans) for t, d in zip(starts, spent, strict=True)]
    micros = [d / 1000 for d in spent]
    clean = [m for m, g in zip(micros, in_gc, strict=True) if not g]
    return {
        "body": args.body,
        "pyarrow_loaded": "pyarrow" in sys.modules,
        "calls": args.calls,
        "batch_size": args.batch,
        "work_us": args.work_us,
        "calling_s": round(calling_s, 3),
        "median_us": percentile(micros, 50),
        "p99_us": percentile(micros, 99),
        "p999_us": percentile(micros, 99.9),
        "max_us": max(micros),
        "over_1ms": sum(m > 1000 for m in micros),
        "calls_during_gc": sum(in_gc),
        "p999_us_gc_aside": percentile(clean, 99.9),
        "max_us_gc_aside": max(clean),
        "over_1ms_gc_aside": sum(m > 1000 for m in clean),
        "flushed": flushed,
        "drained_s": round(drained_s, 3),
        "accepted": stats.accepted,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--work-us", type=float, default=20.0, help="caller's work per call")
    parser.add_argument("--batch", type=int, default=1000, help="the client's batch_size")
    parser.add_argument("--body", choices=("columns", "json"), default="columns")
    parser.add_argument("--reference-rows", type=int, default=20_000)
    args = parser.parse_args()
    sink = io.BytesIO()
    pq.write_table(reference_table(args.reference_rows), sink)
    with serving(sink.getvalue()) as server:
        result = run(server.url, args)
    result["machine"] = machine()
    result["command"] = " ".join(["python", "bench/sdk_latency.py", *sys.argv[1:]])
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
