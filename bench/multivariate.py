"""Per-window cost of the multivariate measures, vigil against NannyML 0.13.1.

50 features (40 correlated numeric, 10 categorical) × 10,000 reference rows; windows of 1,000
and 10,000 rows drawn like the reference. For vigil: the reference's fit (once per model
version, kept by the prepared reference), then per window the reconstruction error with the
anomaly share, and the domain classifier; and a whole `evaluate` of a window with the
multivariate measures off, on without the classifier, and on with it. For NannyML: its
DataReconstructionDriftCalculator and DomainClassifierCalculator, fit on the reference and
calculating one window as one chunk, in a throwaway virtual environment given by --nannyml
(`python3 -m venv /tmp/nm-mv && /tmp/nm-mv/bin/pip install nannyml==0.13.1 statsmodels
'pandas<3'`), run as a subprocess. Median of --repeat runs; one BLAS thread, as the
service's scheduler runs.

    .venv/bin/python bench/multivariate.py --nannyml /tmp/nm-mv/bin/python
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import subprocess
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from threadpoolctl import threadpool_limits

FEATURES = 50
CATEGORICAL = 10
REFERENCE_ROWS = 10_000
WINDOWS = (1_000, 10_000)


def dataset(rows: int, seed: int) -> pa.Table:
    """Correlated numeric features (a fixed mixing of 10 factors) and categorical ones."""
    mixing = np.random.default_rng(0).normal(size=(10, FEATURES - CATEGORICAL))
    rng = np.random.default_rng(seed)
    numeric = rng.normal(size=(rows, 10)) @ mixing + rng.normal(size=(rows, FEATURES - CATEGORICAL))
    columns: dict[str, object] = {f"x{i}": numeric[:, i] for i in range(numeric.shape[1])}
    for j in range(CATEGORICAL):
        columns[f"c{j}"] = rng.choice(
            ["a", "b", "c", "d", "e"], rows, p=[0.4, 0.3, 0.15, 0.1, 0.05]
        )
    return pa.table(columns)


def median_seconds(run: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def vigil_costs(repeat: int) -> dict[str, float]:
    from vigil import infer_spec
    from vigil.evaluation import PreparedReference, evaluate
    from vigil.measure import multivariate as mv

    reference = dataset(REFERENCE_ROWS, 1)
    spec = infer_spec(reference)
    columns = mv.multivariate_columns(spec)
    out = {"fit": median_seconds(lambda: mv.fit_multivariate(reference, columns, spec), repeat)}
    fit = mv.fit_multivariate(reference, columns, spec)
    no_classifier = dataclasses.replace(
        spec, multivariate=dataclasses.replace(spec.multivariate, domain_classifier=False)
    )
    off = dataclasses.replace(
        spec, multivariate=dataclasses.replace(spec.multivariate, enabled=False)
    )
    prepared = {
        name: PreparedReference(reference, s)
        for name, s in (("off", off), ("pca", no_classifier), ("all", spec))
    }
    for warm in prepared.values():  # the reference's fit and sorted columns kept
        evaluate(warm, dataset(500, 9))
    names = [e.name for e in fit.encodings]
    for rows in WINDOWS:
        window = dataset(rows, 2)
        out[f"reconstruction+anomaly {rows}"] = median_seconds(
            lambda w=window: mv.measure_multivariate(
                fit, w, no_classifier, reference_rows=REFERENCE_ROWS
            ),
            repeat,
        )
        encoded = mv.encode(window, fit.encodings)
        out[f"domain classifier {rows}"] = median_seconds(
            lambda e=encoded: mv.domain_classifier(
                fit.sample, e, names, cap=spec.multivariate.reference_cap
            ),
            repeat,
        )
        for name, p in prepared.items():
            out[f"evaluate {name} {rows}"] = median_seconds(
                lambda p=p, w=window: evaluate(p, w), repeat
            )
    return out


NANNYML_SCRIPT = textwrap.dedent(
    """
    import json, statistics, sys, time
    import pandas as pd
    import nannyml as nml
    from threadpoolctl import threadpool_limits
    reference = pd.read_parquet(sys.argv[1])
    windows = {int(k): pd.read_parquet(v) for k, v in json.loads(sys.argv[2]).items()}
    repeat = int(sys.argv[3])
    features = list(reference.columns)
    out = {}
    def median(run):
        times = []
        for _ in range(repeat):
            start = time.perf_counter(); run(); times.append(time.perf_counter() - start)
        return statistics.median(times)
    with threadpool_limits(1):
        for rows, window in windows.items():
            dr = nml.DataReconstructionDriftCalculator(column_names=features, chunk_size=rows)
            out[f"reconstruction fit {rows}"] = median(lambda: dr.fit(reference))
            out[f"reconstruction {rows}"] = median(lambda: dr.calculate(window))
            dc = nml.DomainClassifierCalculator(feature_column_names=features, chunk_size=rows)
            out[f"domain classifier fit {rows}"] = median(lambda: dc.fit(reference))
            out[f"domain classifier {rows}"] = median(lambda: dc.calculate(window))
    print(json.dumps(out))
    """
)


def nannyml_costs(python: str, repeat: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        pq.write_table(dataset(REFERENCE_ROWS, 1), folder / "reference.parquet")
        paths = {}
        for rows in WINDOWS:
            paths[str(rows)] = str(folder / f"window{rows}.parquet")
            pq.write_table(dataset(rows, 2), paths[str(rows)])
        (folder / "run.py").write_text(NANNYML_SCRIPT)
        done = subprocess.run(
            [
                python,
                str(folder / "run.py"),
                str(folder / "reference.parquet"),
                json.dumps(paths),
                str(repeat),
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=3600,
        )
        if done.returncode != 0:
            raise RuntimeError(f"NannyML's run failed: {done.stderr[-2000:]}")
        found: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
        return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--nannyml", help="the Python of a virtual environment with nannyml")
    args = parser.parse_args()
    with threadpool_limits(1):
        results = {"vigil": vigil_costs(args.repeat)}
    if args.nannyml:
        results["nannyml"] = nannyml_costs(args.nannyml, args.repeat)
    for tool, costs in results.items():
        for name, seconds in costs.items():
            print(f"{tool:8} {name:34} {seconds * 1000:10.1f} ms")
    path = Path(__file__).with_name("multivariate_results.json")
    path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
