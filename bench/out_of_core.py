"""Out-of-core reports (issue 12): `vigil report --engine stream` on sets larger than memory.

Generates a reference and a current Parquet set (8 numeric and 4 categorical columns, a binary
target, a score and a prediction; the current shifts 3 numeric and 1 categorical column),
written row group by row group so the generator never holds a set in memory. Then runs, one
process each, and records wall time and the child's peak resident memory (ru_maxrss from
os.wait4):

- `vigil report --engine stream` (optionally under an address-space limit, `--limit-gib`);
- `vigil report` (the in-memory engine) on the sizes given in `--memory-rows`;
- a floor: plain pyarrow + numpy reading the same files batch by batch and counting the same
  histograms (deciles of the reference's first batch for each numeric column, and value
  counts of each categorical one) — the least any batch-wise report can do.

    python bench/out_of_core.py --rows 1000000 --memory-rows 1000000
    python bench/out_of_core.py --rows 20000000 --memory-rows 5000000 --limit-gib 3

Results go to bench/RESULTS.md ("Out-of-core reports (issue 12)") by hand.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

CHUNK = 500_000
NUMERIC = 8
CATEGORIES = (("cat_0", 3), ("cat_1", 12), ("cat_2", 50), ("cat_3", 400))
SHIFTED = ("num_0", "num_3", "num_6", "cat_1")


def chunk(rows: int, rng: np.random.Generator, current: bool) -> pa.Table:
    """One row group of a set; the current shifts the columns in SHIFTED."""
    columns: dict[str, pa.Array] = {}
    latent = rng.normal(0.0, 1.0, rows)
    for i in range(NUMERIC):
        name = f"num_{i}"
        shift = 0.3 if current and name in SHIFTED else 0.0
        if i % 3 == 0:
            values = rng.normal(shift, 1.0, rows) + 0.3 * latent
        elif i % 3 == 1:
            values = rng.lognormal(shift, 0.6, rows)
        else:
            values = rng.uniform(shift, 10.0 + shift, rows)
        if i == 2:
            values[rng.random(rows) < 0.01] = np.nan
        columns[name] = pa.array(values)
    for name, k in CATEGORIES:
        shares = 1.0 / np.arange(1, k + 1) ** 1.1
        if current and name in SHIFTED:
            shares = shares[::-1]
        codes = rng.choice(k, rows, p=shares / shares.sum())
        labels = np.array([f"{name}_{j}" for j in range(k)])
        columns[name] = pa.array(labels[codes])
    target = (latent + 0.7 * rng.normal(0.0, 1.0, rows) > 0.4).astype(np.int64)
    score = 1.0 / (1.0 + np.exp(-(1.4 * latent - 0.5)))
    columns["target"] = pa.array(target)
    columns["score"] = pa.array(score)
    columns["prediction"] = pa.array((score >= 0.5).astype(np.int64))
    return pa.table(columns)


def generate(path: Path, rows: int, seed: int, current: bool) -> None:
    """Write `rows` rows to `path` one row group at a time."""
    if path.exists() and pq.ParquetFile(path).metadata.num_rows == rows:
        return
    rng = np.random.default_rng(seed)
    writer = None
    try:
        for start in range(0, rows, CHUNK):
            table = chunk(min(CHUNK, rows - start), rng, current)
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema)
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()


FLOOR = """
import sys
import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
reference, current = sys.argv[1], sys.argv[2]
numeric = [f"num_{i}" for i in range(8)]
categorical = ["cat_0", "cat_1", "cat_2", "cat_3"]
first = next(pq.ParquetFile(reference).iter_batches(batch_size=65536))
levels = np.arange(1, 10) / 10
edges = {
    n: np.unique(np.nanquantile(first.column(n).to_numpy(zero_copy_only=False), levels))
    for n in numeric
}
for path in (reference, current):
    counts = {n: np.zeros(edges[n].size + 1, dtype=np.int64) for n in numeric}
    cats = {n: {} for n in categorical}
    for batch in pq.ParquetFile(path).iter_batches(batch_size=65536):
        for n in numeric:
            v = batch.column(n).to_numpy(zero_copy_only=False)
            v = v[np.isfinite(v)]
            counts[n] += np.bincount(np.searchsorted(edges[n], v), minlength=edges[n].size + 1)
        for n in categorical:
            vc = pc.value_counts(batch.column(n))
            for value, k in zip(vc.field("values").to_pylist(), vc.field("counts").to_pylist()):
                cats[n][value] = cats[n].get(value, 0) + k
print(sum(int(c.sum()) for c in counts.values()))
"""


def run(command: list[str], limit_bytes: int | None) -> dict[str, object]:
    """Run a child; its wall time, its own peak RSS, and its exit code."""

    def limit() -> None:
        if limit_bytes is not None:
            resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))

    started = time.perf_counter()
    proc = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=limit,  # the child sets its own limit, nothing else
    )
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    stdout = proc.stdout.read() if proc.stdout else ""
    stderr = proc.stderr.read() if proc.stderr else ""
    code = os.waitstatus_to_exitcode(status)
    return {
        "seconds": round(seconds, 2),
        "peak_mib": round(usage.ru_maxrss / 1024),
        "exit": code,
        "last_line": (stdout.strip().splitlines() or stderr.strip().splitlines() or [""])[-1],
    }


def vigil(reference: Path, current: Path, engine: str, batch_rows: int) -> list[str]:
    command = [str(Path(sys.executable).parent / "vigil"), "report", "--reference", str(reference)]
    command += ["--current", str(current), "--target", "target", "--prediction", "prediction"]
    command += ["--score", "score", "--quiet", "--engine", engine]
    return [*command, "--batch-rows", str(batch_rows)] if engine == "stream" else command


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--memory-rows", type=int, nargs="*", default=[1_000_000])
    parser.add_argument("--batch-rows", type=int, default=65_536)
    parser.add_argument("--limit-gib", type=float, help="address-space limit of the stream run")
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "vigil-ooc")
    args = parser.parse_args()
    args.data.mkdir(parents=True, exist_ok=True)
    limit = None if args.limit_gib is None else int(args.limit_gib * 2**30)
    results = []
    for rows in sorted(set(args.rows) | set(args.memory_rows)):
        reference = args.data / f"reference-{rows}.parquet"
        current = args.data / f"current-{rows}.parquet"
        generate(reference, rows, seed=1, current=False)
        generate(current, rows, seed=2, current=True)
        in_memory = sum(
            pq.ParquetFile(p).schema_arrow.empty_table().nbytes + _arrow_bytes(p)
            for p in (reference, current)
        )
        entry: dict[str, object] = {"rows": rows, "arrow_mib": round(in_memory / 2**20)}
        if rows in args.rows:
            entry["stream"] = run(vigil(reference, current, "stream", args.batch_rows), limit)
            entry["floor"] = run([sys.executable, "-c", FLOOR, str(reference), str(current)], None)
        if rows in args.memory_rows:
            entry["memory"] = run(vigil(reference, current, "memory", args.batch_rows), None)
        print(json.dumps(entry), flush=True)
        results.append(entry)


def _arrow_bytes(path: Path) -> int:
    """The decoded size of a Parquet file's columns, as Arrow would hold them."""
    meta = pq.ParquetFile(path).metadata
    return sum(
        meta.row_group(g).column(c).total_uncompressed_size
        for g in range(meta.num_row_groups)
        for c in range(meta.num_columns)
    )


if __name__ == "__main__":
    main()
