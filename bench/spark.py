"""The Spark engine against the in-memory report on the same files, and time against partitions.

Writes (once, seeded, chunk by chunk: never the whole set in memory) a reference and a
current set of `--rows` rows each in the shape of bench/generate.py (20 numeric and 5
categorical columns, target, score, prediction; the same shifts) into Parquet files of small
row groups, so Spark can split them into as many partitions as asked. Then, in one run:

1. `vigil report` in memory, `--engine stream` when this vigil has it, and `--engine spark
   --spark-master local[2]`, each a fresh process on the same files and spec;
2. the current set's pass alone on local Spark against a saved reference profile, with the
   file split into about 2, 8, 32 and 128 partitions (`spark.sql.files.maxPartitionBytes`).

    .venv/bin/python bench/spark.py --rows 5000000 --partitions 2 8 32 128

Results go to bench/spark_results.json; bench/RESULTS.md ("Spark (issue 12)") reads them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).parent))
from generate import CHUNK, chunk

HERE = Path(__file__).parent
ROW_GROUP = 32_768
VIGIL = [sys.executable, "-m", "vigil.cli"]


def write(rows: int, current: bool, path: Path, seed: int = 12) -> None:
    """bench/generate.py's rows, written a million at a time in row groups of 32,768."""
    if path.exists() and pq.ParquetFile(path).metadata.num_rows == rows:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = None
    done = part = 0
    while done < rows:
        n = min(CHUNK, rows - done)
        table = chunk(n, np.random.default_rng([seed, int(current), part]), current)
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema, compression="snappy")
        writer.write_table(table, row_group_size=ROW_GROUP)
        done, part = done + n, part + 1
    assert writer is not None
    writer.close()


def timed(command: list[str], label: str) -> dict[str, Any]:
    """A command's wall time, exit code and peak RSS (`wait4`: the process's own, with the
    largest of the children it waited for; Spark's JVM is the driver's child)."""
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        child = subprocess.Popen(command, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    result = {
        "label": label,
        "command": " ".join(command),
        "seconds": round(seconds, 2),
        "exit": child.returncode,
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
        "last_line": (stdout.strip().splitlines() or [""])[-1][:300],
    }
    if child.returncode != 0:
        result["stderr"] = stderr[-2000:]
    print(f"  {label}: {result['seconds']} s (exit {child.returncode})", flush=True)
    return result


SWEEP = """
import json, os, sys, time
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
from pyspark.sql import SparkSession
import vigil.spark
from vigil.profile import load_profile
from vigil.spec import load_spec

profile, spec, current, results = sys.argv[1:5]
wanted = [int(n) for n in sys.argv[5:]]
size = os.path.getsize(current)
session = (
    SparkSession.builder.master("local[2]").appName("vigil-bench")
    .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
    .config("spark.sql.session.timeZone", "UTC").config("spark.driver.memory", "4g")
    .config("spark.sql.files.openCostInBytes", "0").getOrCreate()
)
session.sparkContext.setLogLevel("ERROR")
reference, spec = load_profile(profile), load_spec(spec)
found = []
for n in [wanted[0]] + wanted:  # the first run warms the JVM and the workers; not recorded
    session.conf.set("spark.sql.files.maxPartitionBytes", str(max(1, size // n + 1)))
    df = session.read.parquet(current)
    partitions = df.rdd.getNumPartitions()
    started = time.perf_counter()
    report = vigil.spark.evaluate(reference, df, spec)
    found.append({"asked": n, "partitions": partitions,
                  "seconds": round(time.perf_counter() - started, 2), "status": report.status})
found = found[1:]
for f in found:
    print(f)
json.dump(found, open(results, "w"))
session.stop()
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--partitions", type=int, nargs="+", default=[2, 8, 32, 128])
    parser.add_argument("--data", type=Path, default=HERE / "data" / "spark")
    parser.add_argument("--out", type=Path, default=HERE / "spark_results.json")
    parser.add_argument("--skip-engines", action="store_true", help="only the partition sweep")
    args = parser.parse_args()

    folder = args.data / str(args.rows)
    reference, current = folder / "reference.parquet", folder / "current.parquet"
    print(f"writing {args.rows:,} + {args.rows:,} rows to {folder}", flush=True)
    write(args.rows, False, reference)
    write(args.rows, True, current)
    spec = folder / "spec.yaml"
    sample = folder / "sample.parquet"
    if not spec.exists():
        pq.write_table(pq.ParquetFile(reference).read_row_group(0), sample)
        subprocess.run(
            [
                *VIGIL,
                "init",
                "--reference",
                str(sample),
                "--target",
                "target",
                "--score",
                "score",
                "--prediction",
                "prediction",
                "-o",
                str(spec),
            ],
            check=True,
        )
    runs: list[dict[str, Any]] = []
    help_text = subprocess.run([*VIGIL, "report", "--help"], capture_output=True, text=True)
    engines = ["memory", "spark"] + (["stream"] if "stream" in help_text.stdout else [])
    with tempfile.TemporaryDirectory() as tmp:
        common = ["--reference", str(reference), "--current", str(current), "--spec", str(spec)]
        if not args.skip_engines:
            for engine in engines:
                extra = ["--spark-master", "local[2]"] if engine == "spark" else []
                runs.append(
                    timed(
                        [
                            *VIGIL,
                            "report",
                            "--engine",
                            engine,
                            *extra,
                            *common,
                            "--quiet",
                            "--json",
                            f"{tmp}/{engine}.json",
                        ],
                        f"vigil report --engine {engine}",
                    )
                )
                if runs[-1]["exit"] == 0:
                    doc = json.loads(Path(f"{tmp}/{engine}.json").read_text(encoding="utf-8"))
                    runs[-1]["status"] = doc["status"]
                    runs[-1]["drifted"] = sorted(
                        c["column"]
                        for c in doc["checks"]
                        if c["name"] == "drift" and c["status"] in ("warning", "critical")
                    )
        profile = folder / "reference.profile.json"
        if not profile.exists():
            timed(
                [*VIGIL, "profile", str(reference), "--spec", str(spec), "-o", str(profile)],
                "vigil profile (the sweep's reference)",
            )
        sweep_out = Path(tmp) / "sweep.json"
        script = Path(tmp) / "sweep.py"
        script.write_text(SWEEP, encoding="utf-8")
        runs.append(
            timed(
                [
                    sys.executable,
                    str(script),
                    str(profile),
                    str(spec),
                    str(current),
                    str(sweep_out),
                    *map(str, args.partitions),
                ],
                "partition sweep (one session)",
            )
        )
        sweep = json.loads(sweep_out.read_text()) if sweep_out.exists() else []
    result = {
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "rows": args.rows,
        "machine": f"{os.cpu_count()} cores, {platform.platform()}, "
        f"Python {platform.python_version()}",
        "runs": runs,
        "sweep": sweep,
    }
    text = json.dumps(result, indent=2) + "\n"
    # no machine paths in the committed results: the interpreter, the data and temp folders
    for path, name in ((sys.executable, "python"), (str(args.data), "<data>"), (tmp, "<tmp>")):
        text = text.replace(path, name)
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
