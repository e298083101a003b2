"""The demo's credit-scoring applicants, its model's score and the outcomes, at any point of the
story between the period the model was validated on and the downturn.

`inputs` moves the applicants: incomes fall, debt ratios and late payments rise, more loans are
for debt consolidation, a new online channel brings a region the model never saw, employment
data goes missing more often, and 60% of the applicants are borderline — debt ratios that put
the model's score near the middle, where it is least sure. The model's score moves with them,
and its ROC AUC falls from about 0.75 to about 0.69 with no change in how defaults follow
the inputs (a covariate shift: performance estimated from the scores alone sees it).
`skill_loss` makes defaults depend on something the model never saw (the downturn, a concept
shift that no estimate from the scores can see), so its skill falls further: ROC AUC about
0.63 at 1 (tests/demo/test_demo_parts.py measures each).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from vigil.evaluation import evaluate, infer_spec
from vigil.report import write_html, write_json
from vigil.report.model import Report
from vigil.spec import Spec, dump_spec

PURPOSES = ("car", "home_improvement", "debt_consolidation", "education", "medical", "other")
REGIONS = ("north", "south", "east", "west", "online")
HOUSING = ("rent", "own", "mortgage")
_PURPOSE_BEFORE = np.array([0.22, 0.18, 0.25, 0.12, 0.10, 0.13])
_PURPOSE_AFTER = np.array([0.15, 0.15, 0.40, 0.10, 0.10, 0.10])
_REGION_BEFORE = np.array([0.25, 0.25, 0.25, 0.25, 0.0])
_REGION_AFTER = np.array([0.22, 0.22, 0.22, 0.22, 0.12])
# Of the downturn's applicants, this share is borderline: the model's score near the middle.
BORDERLINE_SHARE = 0.6
TARGET, PREDICTION, SCORE, ID = (
    "default",
    "predicted_default",
    "default_probability",
    "application_id",
)


def credit_data(
    rows: int,
    *,
    seed: int | Sequence[int],
    inputs: float = 0.0,
    skill_loss: float = 0.0,
    id_prefix: str = "R",
) -> pa.Table:
    """Applications with the model's score, its decision and the outcome.

    `inputs` (0: as validated, 1: the downturn's applicants) and `skill_loss` (0: the model
    sees every driver of default, 1: the downturn's hidden driver at full strength) are
    interpolated linearly; ids are `id_prefix` and a running number.
    """
    rng = np.random.default_rng(seed)
    age = np.clip(rng.normal(41, 11, rows), 18, 90).round()
    income = rng.lognormal(np.log(52_000) - 0.25 * inputs, 0.45, rows)
    debt_ratio = rng.beta(2.0 + 0.2 * inputs, 6.0 - 1.0 * inputs, rows)
    credit_lines = rng.poisson(4.0, rows)
    late_payments = rng.poisson(0.6 + 0.3 * inputs, rows)
    months_employed = rng.gamma(2.0, 30.0, rows).round()
    months_employed[rng.random(rows) < 0.01 + 0.07 * inputs] = np.nan
    purpose_p = _PURPOSE_BEFORE + (_PURPOSE_AFTER - _PURPOSE_BEFORE) * inputs
    purpose = rng.choice(PURPOSES, rows, p=purpose_p / purpose_p.sum())
    region_p = _REGION_BEFORE + (_REGION_AFTER - _REGION_BEFORE) * inputs
    region = rng.choice(REGIONS, rows, p=region_p / region_p.sum())
    housing = rng.choice(HOUSING, rows, p=[0.40, 0.25, 0.35])
    has_cosigner = rng.random(rows) < 0.12

    # The model: a logistic score of what it was trained on.
    logit = -1.9 + 1.4 * (
        -0.9 * (np.log(income) - np.log(52_000))
        + 3.0 * (debt_ratio - 0.25)
        + 0.45 * late_payments
        - 0.015 * (age - 41)
        - 0.5 * has_cosigner
        + 0.25 * (purpose == "debt_consolidation")
    )
    # The world: the same relationship, plus the downturn's driver the model cannot see.
    hidden = rng.normal(0.0, 2.0, rows)
    chance = rng.random(rows)
    # The downturn's borderline applicants: debt ratios that put the model's score near the
    # middle, where it is least sure. Drawn after the rest, so the validated period's rows do
    # not change; their outcomes follow the model's own relationship (a covariate shift).
    borderline = rng.random(rows) < BORDERLINE_SHARE * inputs
    near_middle = rng.normal(0.0, 0.35, rows)
    debt_ratio = np.where(
        borderline, np.clip(debt_ratio + (near_middle - logit) / (1.4 * 3.0), 0.0, 0.99), debt_ratio
    )
    logit = -1.9 + 1.4 * (
        -0.9 * (np.log(income) - np.log(52_000))
        + 3.0 * (debt_ratio - 0.25)
        + 0.45 * late_payments
        - 0.015 * (age - 41)
        - 0.5 * has_cosigner
        + 0.25 * (purpose == "debt_consolidation")
    )
    score = 1.0 / (1.0 + np.exp(-logit))
    true_logit = logit + skill_loss * hidden
    default = (chance < 1.0 / (1.0 + np.exp(-true_logit))).astype(np.int64)
    decision = (score >= 0.3).astype(np.int64)
    return pa.table(
        {
            ID: [f"{id_prefix}{i:07d}" for i in range(rows)],
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
            TARGET: default,
            PREDICTION: decision,
            SCORE: score,
        }
    )


def credit_spec(reference: pa.Table) -> Spec:
    """The spec `vigil init` infers for the demo's reference, with its roles named."""
    return infer_spec(reference, target=TARGET, prediction=PREDICTION, scores=[SCORE], id_column=ID)


REPORT_FILES = ("report.html", "report.json")


def write_reference(out_dir: Path, reference: pa.Table, spec: Spec) -> tuple[Path, Path]:
    """`reference.parquet` and `spec.yaml`: what the demo's service registers its model from,
    and what a user would pass to `vigil report --reference ... --spec ...`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    data, spec_file = out_dir / "reference.parquet", out_dir / "spec.yaml"
    pq.write_table(reference, data)
    spec_file.write_text(dump_spec(spec), encoding="utf-8")
    return data, spec_file


def write_table(path: Path, table: pa.Table) -> Path:
    """One Parquet file of the demo's data (`current.parquet`, `labels.parquet`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    return path


def write_report(
    out_dir: Path, reference: pa.Table, current: pa.Table, spec: Spec
) -> tuple[Report, list[Path]]:
    """Evaluate the current period against the reference and write `REPORT_FILES`: what
    `vigil report --html report.html --json report.json` writes for the same files."""
    report = evaluate(reference, current, spec)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / name for name in REPORT_FILES]
    write_html(report, paths[0])
    write_json(report, paths[1])
    return report, paths
