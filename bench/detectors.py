"""The change detectors' evaluation harness: delay, missed changes and false alarms.

Synthetic streams with known change points — abrupt, gradual (a linear ramp over ``w``
records) and recurring (A → B → A) mean shifts of a N(0, 1) stream and error-rate jumps of a
0/1 error stream —, long stable streams (100,000 records, no change) to count false alarms,
and one published generator: SEA (Street & Kim, KDD 2001) through River's
``datasets.synth.SEA``, its threshold moving from variant 0 to variant 3 with 10 % label
noise, watched through the errors of a model that learned variant 0's rule.

For each detector and setting, over ``--runs`` seeded runs per cell: the mean and p90
detection delay (records from the change to the first detection within the horizon), the
changes missed (no detection within the horizon) and false alarms per 10,000 stable records,
beside a dummy detector that fires every N records at a random phase, N chosen so that its
false-alarm rate is the detector's: a delay shorter than the dummy's is the detector's work,
not its trigger-happiness.

    python bench/detectors.py               # the table of bench/RESULTS.md (a few minutes)
    python bench/detectors.py --runs 3 --stable 20000 --jobs 1   # a quick look
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import platform
import random
import sys
import time
import zlib
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial

import numpy as np

from vigil.detect import DetectorConfig, check_params, make_detector

PRE = 2_000  # stable records before a change
MEAN_HORIZON = 3_000
ERROR_PRE = 5_000
ERROR_HORIZON = 5_000
RAMP = 1_000
ERROR_RATE = 0.05


@dataclass(frozen=True)
class Scenario:
    name: str
    stream: str  # "numeric" or "binary"
    changes: tuple[int, ...]  # change points (record index of the first changed record)
    horizon: int
    make: Callable[[np.random.Generator], np.ndarray]
    stable: bool = False


def _mean_abrupt(shift: float, rng: np.random.Generator) -> np.ndarray:
    x = rng.normal(size=PRE + MEAN_HORIZON)
    x[PRE:] += shift
    return x


def _mean_ramp(shift: float, rng: np.random.Generator) -> np.ndarray:
    x = rng.normal(size=PRE + MEAN_HORIZON)
    x[PRE:] += shift * np.minimum(1.0, np.arange(1, MEAN_HORIZON + 1) / RAMP)
    return x


def _mean_recurring(rng: np.random.Generator) -> np.ndarray:
    x = rng.normal(size=PRE + 1_500 + MEAN_HORIZON)
    x[PRE : PRE + 1_500] += 1.0
    return x


def _error_abrupt(after: float, rng: np.random.Generator) -> np.ndarray:
    p = np.full(ERROR_PRE + ERROR_HORIZON, ERROR_RATE)
    p[ERROR_PRE:] = after
    return (rng.random(p.size) < p).astype(float)


def _error_ramp(after: float, rng: np.random.Generator) -> np.ndarray:
    p = np.full(ERROR_PRE + ERROR_HORIZON, ERROR_RATE)
    ramp = np.minimum(1.0, np.arange(1, ERROR_HORIZON + 1) / RAMP)
    p[ERROR_PRE:] = ERROR_RATE + (after - ERROR_RATE) * ramp
    return (rng.random(p.size) < p).astype(float)


def _sea(rng: np.random.Generator) -> np.ndarray:
    from river.datasets import synth

    seed = int(rng.integers(2**31))
    before = synth.SEA(variant=0, noise=0.1, seed=seed)
    after = synth.SEA(variant=3, noise=0.1, seed=seed + 1)
    errors = np.empty(ERROR_PRE + ERROR_HORIZON)
    for i, (x, y) in enumerate(before.take(ERROR_PRE)):
        errors[i] = float((x[0] + x[1] > 8) != y)
    for i, (x, y) in enumerate(after.take(ERROR_HORIZON)):
        errors[ERROR_PRE + i] = float((x[0] + x[1] > 8) != y)
    return errors


def _stable(stream: str, n: int, rng: np.random.Generator) -> np.ndarray:
    if stream == "numeric":
        return rng.normal(size=n)
    return (rng.random(n) < ERROR_RATE).astype(float)


def scenarios(stable: int) -> list[Scenario]:
    mean = [
        Scenario(f"mean abrupt {s:g}σ", "numeric", (PRE,), MEAN_HORIZON, partial(_mean_abrupt, s))
        for s in (0.25, 0.5, 1.0, 2.0)
    ]
    mean += [
        Scenario(
            f"mean ramp 1σ over {RAMP}", "numeric", (PRE,), MEAN_HORIZON, partial(_mean_ramp, 1.0)
        ),
        Scenario("mean recurring 0→1σ→0", "numeric", (PRE, PRE + 1_500), 1_500, _mean_recurring),
        Scenario(
            f"stable N(0,1) {stable:,}", "numeric", (), 0, partial(_stable, "numeric", stable), True
        ),
    ]
    errors = [
        Scenario(
            f"error 0.05→{a:g}", "binary", (ERROR_PRE,), ERROR_HORIZON, partial(_error_abrupt, a)
        )
        for a in (0.08, 0.10, 0.20)
    ]
    errors += [
        Scenario(
            f"error ramp 0.05→0.2 over {RAMP}",
            "binary",
            (ERROR_PRE,),
            ERROR_HORIZON,
            partial(_error_ramp, 0.20),
        ),
        Scenario("SEA 0→3, noise 0.1 (published)", "binary", (ERROR_PRE,), ERROR_HORIZON, _sea),
        Scenario(
            f"stable error 0.05 {stable:,}",
            "binary",
            (),
            0,
            partial(_stable, "binary", stable),
            True,
        ),
    ]
    return mean + errors


# (label, detector, parameters, streams it runs on)
SETTINGS: list[tuple[str, str, dict[str, object], tuple[str, ...]]] = [
    ("adwin δ=0.002", "adwin", {"delta": 0.002}, ("numeric", "binary")),
    ("adwin δ=0.0002", "adwin", {"delta": 0.0002}, ("numeric", "binary")),
    ("page_hinkley λ=50", "page_hinkley", {"threshold": 50.0}, ("numeric", "binary")),
    ("page_hinkley λ=100", "page_hinkley", {"threshold": 100.0}, ("numeric",)),
    ("page_hinkley λ=10", "page_hinkley", {"threshold": 10.0}, ("binary",)),
    ("kswin α=0.005", "kswin", {"alpha": 0.005}, ("numeric",)),
    ("kswin α=0.0001", "kswin", {"alpha": 0.0001}, ("numeric",)),
    ("cusum k=0.5 h=5", "cusum", {"k": 0.5, "h": 5.0}, ("numeric", "binary")),
    ("cusum k=0.5 h=8", "cusum", {"k": 0.5, "h": 8.0}, ("numeric", "binary")),
    ("cusum k=0.5 h=12", "cusum", {"k": 0.5, "h": 12.0}, ("numeric",)),
    ("cusum k=0.25 h=12", "cusum", {"k": 0.25, "h": 12.0}, ("numeric",)),
    ("cusum k=0.5 h=25", "cusum", {"k": 0.5, "h": 25.0}, ("binary",)),
    ("ddm", "ddm", {}, ("binary",)),
    ("eddm", "eddm", {}, ("binary",)),
    ("hddm_a", "hddm_a", {}, ("binary",)),
    ("hddm_w", "hddm_w", {}, ("binary",)),
]
# KSWIN runs a two-sample KS test per record (about 2 ms each here): its cells are shorter —
# 500 records before the change, a 1,000-record horizon, stable streams of 1,000 — and it
# runs the abrupt 1σ shift only.
SLOW = {"kswin": (500, 1_000, 1_000)}


def detections(detector: str, params: dict[str, object], stream: str, x: np.ndarray) -> list[int]:
    """Indices at which the detector fired (0-based record index)."""
    config = DetectorConfig(detector, check_params(detector, params, where="bench"), stream)  # type: ignore[arg-type]
    if stream == "numeric":
        mean, sigma = 0.0, 1.0
    else:
        mean, sigma = ERROR_RATE, math.sqrt(ERROR_RATE * (1 - ERROR_RATE))
    d = make_detector(config, mean=mean, sigma=sigma)
    update = d.update
    return [i for i, v in enumerate(x.tolist()) if update(v)]


@dataclass
class Cell:
    delays: list[int]
    missed: int
    changes: int
    false_alarms: int
    stable_records: int


def run_cell(args: tuple[str, str, dict[str, object], Scenario, int, int]) -> tuple[str, str, Cell]:
    label, detector, params, scenario, runs, seed = args
    cell = Cell([], 0, 0, 0, 0)
    slow = SLOW.get(detector)
    changes, horizon = scenario.changes, scenario.horizon
    for r in range(runs):
        rng = np.random.default_rng([seed, r, zlib.crc32(scenario.name.encode())])
        x = scenario.make(rng)
        if slow is not None:
            pre, horizon, stable = slow
            if scenario.stable:
                x = x[:stable]
            else:
                x = x[changes[0] - pre : changes[0] + horizon]
                changes = (pre,)
        fired = detections(detector, params, scenario.stream, x)
        if scenario.stable:
            cell.false_alarms += len(fired)
            cell.stable_records += x.size
            continue
        first = changes[0]
        cell.false_alarms += sum(1 for i in fired if i < first)
        cell.stable_records += first
        bounds = [*changes, x.size]
        for k, change in enumerate(changes):
            end = min(change + horizon, bounds[k + 1])
            hit = next((i for i in fired if change <= i < end), None)
            cell.changes += 1
            if hit is None:
                cell.missed += 1
            else:
                cell.delays.append(hit - change + 1)
    return label, scenario.name, cell


def dummy_delays(
    period: float, scenario: Scenario, runs: int, seed: int
) -> tuple[float, float, int]:
    """Mean and p90 delay and misses of a detector firing every ``period`` records."""
    rng = random.Random(seed)
    delays, missed = [], 0
    for _ in range(runs):
        for change in scenario.changes:
            phase = rng.uniform(0, period)
            # the first firing at or after the change: firings at phase + j * period
            j = math.ceil((change - phase) / period)
            delay = int(phase + j * period - change) + 1
            if delay <= scenario.horizon:
                delays.append(delay)
            else:
                missed += 1
    if not delays:
        return math.nan, math.nan, missed
    return float(np.mean(delays)), float(np.percentile(delays, 90)), missed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--stable", type=int, default=100_000)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    cells = scenarios(args.stable)
    work = [
        (label, det, params, sc, args.runs, args.seed)
        for label, det, params, streams in SETTINGS
        for sc in cells
        if sc.stream in streams and (det not in SLOW or "abrupt 1σ" in sc.name or sc.stable)
    ]
    work.sort(key=lambda w: w[1] in ("hddm_a", "hddm_w", "kswin"), reverse=True)
    with ProcessPoolExecutor(args.jobs) as pool:
        results = list(pool.map(run_cell, work, chunksize=1))
    table: dict[str, dict[str, Cell]] = {}
    for label, name, cell in results:
        table.setdefault(label, {})[name] = cell
    print(
        f"# vigil bench detectors: {args.runs} runs per cell, seed {args.seed}, "
        f"stable streams of {args.stable:,} records (kswin: {SLOW['kswin'][2]:,})"
    )
    print(
        f"# {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"jobs {args.jobs}; {time.perf_counter() - start:.0f} s"
    )
    print()
    for kind, title in (
        ("numeric", "Mean shifts of a N(0, 1) stream"),
        ("binary", "Error-rate changes of a 0/1 error stream"),
    ):
        print(f"## {title}")
        print()
        print(
            "| detector | stream | FA / 10k stable | mean delay | p90 delay | missed "
            "| dummy every N | dummy mean | dummy p90 | dummy missed |"
        )
        print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for label, det, _, streams in SETTINGS:
            if kind not in streams or label not in table:
                continue
            rows = {sc.name: sc for sc in cells if sc.stream == kind}
            stable = [c for n, c in table[label].items() if rows.get(n) is not None]
            fa = sum(c.false_alarms for c in stable)
            n_stable = sum(c.stable_records for c in stable)
            rate = fa / n_stable * 10_000
            period = n_stable / fa if fa else math.inf
            for name, cell in table[label].items():
                sc = rows.get(name)
                if sc is None or sc.stable:
                    continue
                mean = f"{np.mean(cell.delays):.0f}" if cell.delays else "—"
                p90 = f"{np.percentile(cell.delays, 90):.0f}" if cell.delays else "—"
                if math.isfinite(period):
                    if det in SLOW:
                        sc = dataclasses.replace(sc, changes=(SLOW[det][0],), horizon=SLOW[det][1])
                    dm, dp, dmiss = dummy_delays(period, sc, args.runs, args.seed)
                    dummy = (
                        f"{period:,.0f} | {dm:.0f} | {dp:.0f} | {dmiss}/{cell.changes}"
                        if math.isfinite(dm)
                        else f"{period:,.0f} | — | — | {dmiss}/{cell.changes}"
                    )
                else:
                    dummy = f"never | — | — | {cell.changes}/{cell.changes}"
                print(
                    f"| {label} | {name} | {rate:.2f} | {mean} | {p90} | "
                    f"{cell.missed}/{cell.changes} | {dummy} |"
                )
        print()
    print(
        "FA / 10k stable: false alarms per 10,000 records without a change, over the stable "
        "stream and every run's stretch before its change; delays in records, from the first "
        "changed record (a ramp's start) to the first detection; missed: no detection within "
        f"the horizon ({MEAN_HORIZON:,} records for mean shifts, 1,500 for each change of the "
        f"recurring stream, {ERROR_HORIZON:,} for error streams)."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
