"""`vigil demo`: a seeded credit-scoring scenario, reported as a user would report their own.

The reference is the period the model was validated on. In the production period an economic
downturn changes the applicants: incomes fall, debt ratios rise, more loans are for debt
consolidation, a new online channel brings a region the model never saw, and employment data
goes missing more often. The model's scores move with the inputs, and because defaults now
also depend on something the model never saw (the downturn), its accuracy falls.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from vigil.evaluation import evaluate, infer_spec
from vigil.report import write_html, write_json
from vigil.report.model import Report
from vigil.spec import dump_spec

PURPOSES = ("car", "home_improvement", "debt_consolidation", "education", "medical", "other")
REGIONS = ("north", "south", "east", "west")
HOUSING = ("rent", "own", "mortgage")


def credit_data(rows: int, *, seed: int, production: bool) -> pa.Table:
    """One period of applications with the model's score, its decision and the outcome."""
    rng = np.random.default_rng([seed, int(production)])
    age = np.clip(rng.normal(41, 11, rows), 18, 90).round()
    income = rng.lognormal(np.log(52_000) - (0.25 if production else 0.0), 0.45, rows)
    debt_ratio = rng.beta(2.2 if production else 2.0, 5.0 if production else 6.0, rows)
    credit_lines = rng.poisson(4.0, rows)
    late_payments = rng.poisson(0.9 if production else 0.6, rows)
    months_employed = rng.gamma(2.0, 30.0, rows).round()
    months_employed[rng.random(rows) < (0.08 if production else 0.01)] = np.nan
    purpose_p = (
        [0.15, 0.15, 0.40, 0.10, 0.10, 0.10] if production else [0.22, 0.18, 0.25, 0.12, 0.10, 0.13]
    )
    purpose = rng.choice(PURPOSES, rows, p=purpose_p)
    regions = REGIONS + (("online",) if production else ())
    region_p = [0.22, 0.22, 0.22, 0.22, 0.12] if production else [0.25] * 4
    region = rng.choice(regions, rows, p=region_p)
    housing = rng.choice(HOUSING, rows, p=[0.40, 0.25, 0.35])
    has_cosigner = rng.random(rows) < 0.12

    # The model: a logistic score of what it was trained on.
    logit = (
        -1.6
        - 0.9 * (np.log(income) - np.log(52_000))
        + 3.0 * (debt_ratio - 0.25)
        + 0.45 * late_payments
        - 0.015 * (age - 41)
        - 0.5 * has_cosigner
        + 0.25 * (purpose == "debt_consolidation")
    )
    score = 1.0 / (1.0 + np.exp(-logit))
    # The world: the same relationship, plus in production a downturn the model cannot see.
    true_logit = logit + (rng.normal(0.9, 0.8, rows) if production else 0.0)
    default = (rng.random(rows) < 1.0 / (1.0 + np.exp(-true_logit))).astype(np.int64)
    decision = (score >= 0.3).astype(np.int64)
    return pa.table(
        {
            "application_id": [f"{'P' if production else 'R'}{i:07d}" for i in range(rows)],
            "age": age,
            "income": income.round(2),
            "debt_ratio": debt_ratio,
            "credit_lines": credit_lines,
            "late_payments": late_payments,
            "months_employed": months_employed,
            "purpose": purpose,
            "region": region,
            "housing": housing,
            "has_cosigner": has_cosigner,
            "default": default,
            "predicted_default": decision,
            "default_probability": score,
        }
    )


DEMO_FILES = ("reference.parquet", "current.parquet", "spec.yaml", "report.html", "report.json")


def run_demo(out_dir: Path, *, rows: int = 20_000, seed: int = 7) -> tuple[Report, list[Path]]:
    """Write both periods and their spec into out_dir, evaluate, and write the reports there.

    The files are those a user's own run would have (`DEMO_FILES`), so every command of the
    README can be tried on them: `vigil report --reference reference.parquet --current
    current.parquet --spec spec.yaml`.
    """
    reference = credit_data(rows, seed=seed, production=False)
    current = credit_data(rows, seed=seed, production=True)
    spec = infer_spec(
        reference,
        target="default",
        prediction="predicted_default",
        scores=["default_probability"],
        id_column="application_id",
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / name for name in DEMO_FILES]
    pq.write_table(reference, paths[0])
    pq.write_table(current, paths[1])
    paths[2].write_text(dump_spec(spec), encoding="utf-8")
    report = evaluate(paths[0], paths[1], spec)
    write_html(report, paths[3])
    write_json(report, paths[4])
    return report, paths
