"""Performance estimation before labels: DLE's fit and per-window cost, vigil against NannyML.

Both fit on the first `--reference` rows of NannyML's car-price example (`regression_synthetic`,
read from the NannyML wheel that scripts/test-data downloads) and estimate `--windows` windows
of `--window` analysis rows, with LightGBM's default hyperparameters and the same inputs
(every column but timestamp, target and prediction). NannyML runs as a subprocess of the
Python given by `--nannyml-python` (a throwaway venv: nannyml is never a vigil dependency);
without it only vigil is timed. Each side reports the median of `--repeat` fits and the median
per-window estimate, and the largest difference between the two sides' MAE estimates.

    python3 -m venv /tmp/nm-dle
    /tmp/nm-dle/bin/pip install nannyml==0.13.1 statsmodels 'pandas<3'
    .venv/bin/python bench/estimation.py --nannyml-python /tmp/nm-dle/bin/python
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.published import WHEEL, nannyml_analysis, nannyml_reference  # noqa: E402

from vigil.measure.dle import estimate_dle  # noqa: E402
from vigil.spec import ColumnSpec, Spec  # noqa: E402

FEATURES = {
    "id": "numeric",
    "car_age": "numeric",
    "km_driven": "numeric",
    "price_new": "numeric",
    "accident_count": "numeric",
    "door_count": "numeric",
    "fuel": "categorical",
    "transmission": "categorical",
}

# Run by the NannyML venv's Python: the same rows, fit and per-window estimates, timed.
NANNYML = """
import io, json, statistics, sys, time, zipfile
import pandas as pd
import nannyml as nml
wheel, n_ref, size, windows, repeat = sys.argv[1], *map(int, sys.argv[2:6])
def read(name):
    with zipfile.ZipFile(wheel) as z:
        return pd.read_csv(io.BytesIO(z.read(f"nannyml/datasets/data/{name}")))
ref = read("regression_synthetic_reference.csv").head(n_ref)
ana = read("regression_synthetic_analysis.csv")
features = [c for c in ref.columns if c not in ("timestamp", "y_true", "y_pred")]
fits, per_window, mae = [], [], []
for _ in range(repeat):
    dle = nml.DLE(feature_column_names=features, y_pred="y_pred", y_true="y_true",
                  metrics=["mae", "rmse", "mape"], chunk_size=size)
    start = time.perf_counter(); dle.fit(ref.copy()); fits.append(time.perf_counter() - start)
for i in range(windows):
    window = ana.iloc[i * size:(i + 1) * size].copy()
    start = time.perf_counter(); result = dle.estimate(window)
    per_window.append(time.perf_counter() - start)
    mae.append(float(result.filter(period="analysis").to_df()[("mae", "value")].iloc[0]))
print(json.dumps({"version": nml.__version__, "fit": statistics.median(fits),
                  "window": statistics.median(per_window), "mae": mae}))
"""


def main() -> None:
    """Time both sides and print one JSON line per side and a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=int, default=50_000)
    parser.add_argument("--window", type=int, default=5000)
    parser.add_argument("--windows", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--nannyml-python", type=Path, default=None)
    parser.add_argument("--nannyml-threads", type=int, default=1)
    args = parser.parse_args()
    sides = {"vigil": vigil(args)}
    if args.nannyml_python is not None:
        command = [str(args.nannyml_python), "-c", NANNYML, str(WHEEL)]
        command += [str(v) for v in (args.reference, args.window, args.windows, args.repeat)]
        # like for like: vigil fits with one LightGBM thread; NannyML's LightGBM takes OpenMP's
        # default unless told (`--nannyml-threads 0` leaves it so)
        env = {**os.environ, "NML_DISABLE_USAGE_LOGGING": "1"}
        if args.nannyml_threads:
            env["OMP_NUM_THREADS"] = str(args.nannyml_threads)
        out = subprocess.run(command, check=True, capture_output=True, text=True, env=env).stdout
        sides["nannyml"] = json.loads(out.strip().splitlines()[-1])
    for name, side in sides.items():
        print(json.dumps({"side": name, **side}))
    print(f"\n{platform.machine()}, Python {platform.python_version()}")
    print("| side | version | fit s (median) | per-window estimate ms (median) |")
    print("| --- | --- | ---: | ---: |")
    for name, side in sides.items():
        print(f"| {name} | {side['version']} | {side['fit']:.2f} | {1000 * side['window']:.1f} |")
    if "nannyml" in sides:
        gaps = [
            abs(a - b) / b
            for a, b in zip(sides["vigil"]["mae"], sides["nannyml"]["mae"], strict=True)
        ]
        print(f"\nlargest relative difference of the windows' MAE estimates: {max(gaps):.2e}")


def vigil(args: argparse.Namespace) -> dict[str, Any]:
    """vigil's median fit time and per-window estimate time on the same rows."""
    import lightgbm

    reference = nannyml_reference("regression")[0].slice(0, args.reference)
    analysis = nannyml_analysis("regression").drop_columns(["y_true"])
    columns = [ColumnSpec(n, "feature", k) for n, k in FEATURES.items()]  # type: ignore[arg-type]
    columns += [ColumnSpec("y_true", "target"), ColumnSpec("y_pred", "prediction")]
    spec = Spec(tuple(columns), "regression")
    kept: dict[Hashable, Any] = {}

    def memo(key: Hashable, compute: Callable[[], Any]) -> Any:
        if key not in kept:
            kept[key] = compute()
        return kept[key]

    fits = []
    first = analysis.slice(0, args.window)
    for _ in range(args.repeat):
        kept.clear()
        start = time.perf_counter()
        estimate_dle(spec, reference, first, memo)
        fits.append(time.perf_counter() - start)
    per_window, mae = [], []
    for i in range(args.windows):
        window = analysis.slice(i * args.window, args.window)
        start = time.perf_counter()
        result = estimate_dle(spec, reference, window, memo)
        per_window.append(time.perf_counter() - start)
        mae.append(result.estimates["mae"].value)
    # the fit includes one window's estimate, as NannyML's fit estimates the reference
    return {
        "version": f"vigil (LightGBM {lightgbm.__version__})",
        "fit": statistics.median(fits),
        "window": statistics.median(per_window),
        "mae": mae,
    }


if __name__ == "__main__":
    main()
