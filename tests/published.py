"""Data sets nobody here generated: scikit-learn's bundled sets and NannyML's published examples.

NannyML's example sets ship inside its wheel, which `scripts/test-data` downloads (no install);
they are read here straight from the zip. Each loader returns an Arrow table and the roles
the data's documentation gives its columns.
"""

from __future__ import annotations

import io
import zipfile
from functools import cache
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv

WHEEL = Path(__file__).resolve().parent.parent / ".cache/test-data/nannyml-0.13.1-py3-none-any.whl"
MC_SCORES = [
    "y_pred_proba_prepaid_card",
    "y_pred_proba_highstreet_card",
    "y_pred_proba_upmarket_card",
]
# name -> (reference file, analysis file, analysis targets file, roles)
NANNYML: dict[str, tuple[str, str, str, dict[str, Any]]] = {
    "car_loan": (
        "synthetic_car_loan_reference.csv",
        "synthetic_car_loan_analysis.csv",
        "synthetic_car_loan_analysis_target.csv",
        {
            "target": "repaid",
            "prediction": "y_pred",
            "scores": ["y_pred_proba"],
            "id_column": "id",
            "timestamp": "timestamp",
        },
    ),
    "work_from_home": (  # binary: NannyML's "synthetic binary classification" set
        "synthetic_sample_reference.csv",
        "synthetic_sample_analysis.csv",
        "synthetic_sample_analysis_gt.csv",
        {
            "target": "work_home_actual",
            "prediction": "y_pred",
            "scores": ["y_pred_proba"],
            "id_column": "id",
            "timestamp": "timestamp",
        },
    ),
    "card_offer": (  # multiclass: which credit card to offer
        "mc_reference.csv",
        "mc_analysis.csv",
        "mc_analysis_gt.csv",
        {
            "target": "y_true",
            "prediction": "y_pred",
            "scores": MC_SCORES,
            "id_column": "id",
            "timestamp": "timestamp",
        },
    ),
    "regression": (
        "regression_synthetic_reference.csv",
        "regression_synthetic_analysis.csv",
        "regression_synthetic_analysis_targets.csv",
        {"target": "y_true", "prediction": "y_pred", "id_column": "id", "timestamp": "timestamp"},
    ),
}


@cache
def _read(name: str) -> pa.Table:
    if not WHEEL.exists():
        raise FileNotFoundError(
            f"{WHEEL} is missing: run scripts/test-data (scripts/test runs it) to download "
            "NannyML's wheel, whose example data these tests read."
        )
    with zipfile.ZipFile(WHEEL) as wheel:
        data = wheel.read(f"nannyml/datasets/data/{name}")
    return pacsv.read_csv(io.BytesIO(data))


def nannyml_reference(name: str) -> tuple[pa.Table, dict[str, Any]]:
    """A NannyML example's reference set (labelled) and its roles."""
    reference, _, _, roles = NANNYML[name]
    return _read(reference), roles


def nannyml_analysis(name: str) -> pa.Table:
    """A NannyML example's analysis set with its targets joined back, in id order."""
    _, analysis, targets, _ = NANNYML[name]
    return _read(analysis).join(_read(targets), "id").sort_by("id")


def sklearn_set(name: str) -> pa.Table:
    """One of scikit-learn's bundled sets (no download) as a table with a `target` column."""
    from sklearn import datasets

    bunch = getattr(datasets, f"load_{name}")(as_frame=True)
    return pa.Table.from_pandas(bunch.frame, preserve_index=False)
