"""Seeded benchmark data: a reference and a current set in Parquet, with known shifts.

20 numeric columns (normal, lognormal, uniform, integer counts; ~1% missing in four), 5
categorical columns (cardinalities 3, 8, 20, 50, 200), a binary target, the model's score and
its predicted label. The current set shifts exactly 5 numeric and 2 categorical columns; the
score moves with them; the target's base rate does not. Each claimed shift is measured here
(KS or Jensen–Shannon) and written to truth.json.

    python bench/generate.py --rows 100000 1000000 5000000
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from scipy import stats
from scipy.spatial.distance import jensenshannon

CHUNK = 1_000_000
CARDINALITIES = (3, 8, 20, 50, 200)
SHIFTED_NUMERIC = ("num_00", "num_06", "num_11", "num_15", "num_18")
SHIFTED_CATEGORICAL = ("cat_1", "cat_3")
WITH_MISSING = ("num_02", "num_07", "num_12", "num_16")
DATA = Path(__file__).parent / "data"


def zipf_shares(k: int) -> np.ndarray:
    shares = 1.0 / np.arange(1, k + 1) ** 1.1
    return shares / shares.sum()


def chunk(rows: int, rng: np.random.Generator, current: bool) -> pa.Table:
    cols: dict[str, pa.Array] = {}
    numeric: dict[str, np.ndarray] = {}
    for i in range(20):
        name = f"num_{i:02d}"
        shifted = current and name in SHIFTED_NUMERIC
        if i < 5:  # normal; num_00 moves its mean by half a standard deviation
            x = rng.normal(0.5 if shifted else 0.0, 1.0, rows)
        elif i < 10:  # lognormal; num_06 grows by 60%
            x = rng.lognormal(0.0, 0.75, rows) * (1.6 if shifted else 1.0)
        elif i < 15:  # uniform; num_11 slides by a fifth of its range
            x = rng.uniform(20.0 if shifted else 0.0, 120.0 if shifted else 100.0, rows)
        elif i < 18:  # Poisson counts; num_15's rate rises from 3 to 4.2
            x = rng.poisson(4.2 if shifted else 3.0, rows).astype(np.int64)
        else:  # overdispersed counts; num_18's mean rises by half
            mean = 30.0 if shifted else 20.0
            x = rng.negative_binomial(5, 5 / (5 + mean), rows).astype(np.int64)
        numeric[name] = x
        mask = rng.random(rows) < 0.01 if name in WITH_MISSING else None
        cols[name] = pa.array(x, mask=mask)
    for j, k in enumerate(CARDINALITIES):
        name = f"cat_{j}"
        shares = zipf_shares(k)
        if current and name in SHIFTED_CATEGORICAL:
            shares = shares[::-1]  # the rare categories become the common ones
        codes = rng.choice(k, rows, p=shares).astype(np.int32)
        labels = pa.array([f"{name}_v{v:03d}" for v in range(k)])
        cols[name] = pa.DictionaryArray.from_arrays(pa.array(codes), labels).cast(pa.string())
    # The world: the outcome depends on unshifted inputs and noise, so its base rate holds.
    truth = 0.9 * numeric["num_01"] + 0.6 * np.log(numeric["num_07"]) + rng.normal(0, 1, rows)
    target = (truth > 1.0).astype(np.int64)
    # The model: a logistic score that also leans on inputs that shift in production.
    logit = (
        1.1 * numeric["num_01"]
        + 0.7 * np.log(numeric["num_07"])
        + 1.4 * numeric["num_00"]
        + 0.9 * np.log(numeric["num_06"])
        - 1.8
    )
    score = 1.0 / (1.0 + np.exp(-logit))
    cols["target"] = pa.array(target)
    cols["score"] = pa.array(score)
    cols["prediction"] = pa.array((score >= 0.5).astype(np.int64))
    return pa.table(cols)


def write(rows: int, current: bool, path: Path, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = None
    done = 0
    part = 0
    while done < rows:
        n = min(CHUNK, rows - done)
        table = chunk(n, np.random.default_rng([seed, int(current), part]), current)
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema, compression="snappy")
        writer.write_table(table, row_group_size=256_000)
        done += n
        part += 1
    assert writer is not None
    writer.close()


def check(folder: Path) -> dict[str, object]:
    """Measure every column's change between the sets; the claimed shifts must be real."""
    ref = pq.read_table(folder / "reference.parquet")
    cur = pq.read_table(folder / "current.parquet")
    report: dict[str, float] = {}
    for name in ref.column_names:
        r, c = ref.column(name), cur.column(name)
        if name.startswith("cat_"):
            rc = dict(zip(*[x.to_pylist() for x in r.value_counts().flatten()], strict=True))
            cc = dict(zip(*[x.to_pylist() for x in c.value_counts().flatten()], strict=True))
            keys = sorted(set(rc) | set(cc))
            p = np.array([rc.get(k, 0) for k in keys], float)
            q = np.array([cc.get(k, 0) for k in keys], float)
            report[name] = float(jensenshannon(p / p.sum(), q / q.sum(), base=2))
        else:
            rv = r.to_numpy(zero_copy_only=False).astype(float)
            cv = c.to_numpy(zero_copy_only=False).astype(float)
            report[name] = float(stats.ks_2samp(rv[~np.isnan(rv)], cv[~np.isnan(cv)]).statistic)
    shifted = set(SHIFTED_NUMERIC) | set(SHIFTED_CATEGORICAL) | {"score", "prediction"}
    for name, value in report.items():
        mark = "shifted" if name in shifted else ""
        print(f"  {name:11s} {'JS' if name.startswith('cat_') else 'KS'} {value:.4f} {mark}")
    for name in SHIFTED_NUMERIC + SHIFTED_CATEGORICAL + ("score",):
        assert report[name] >= 0.15, f"{name} shifts by only {report[name]:.3f}"
    base_rates = [
        float(pq.read_table(folder / f, columns=["target"]).column(0).to_numpy().mean())
        for f in ("reference.parquet", "current.parquet")
    ]
    positive = [
        float(pq.read_table(folder / f, columns=["prediction"]).column(0).to_numpy().mean())
        for f in ("reference.parquet", "current.parquet")
    ]
    print(
        f"  target base rate {base_rates[0]:.3f} -> {base_rates[1]:.3f}; "
        f"predicted positive {positive[0]:.3f} -> {positive[1]:.3f}"
    )
    return {
        "shifted_features": sorted(SHIFTED_NUMERIC + SHIFTED_CATEGORICAL),
        "prediction_columns": ["score", "prediction"],
        "measured": {k: round(v, 5) for k, v in report.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000, 5_000_000])
    parser.add_argument("--seed", type=int, default=20261122)
    args = parser.parse_args()
    for rows in args.rows:
        folder = DATA / str(rows)
        print(f"{rows} rows -> {folder}")
        write(rows, False, folder / "reference.parquet", args.seed)
        write(rows, True, folder / "current.parquet", args.seed)
        truth = check(folder)
        (folder / "truth.json").write_text(json.dumps(truth, indent=2) + "\n")


if __name__ == "__main__":
    main()
