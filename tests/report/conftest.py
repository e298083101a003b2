"""Reports in the shapes the HTML page has to lay out: a realistic binary model, a wide set
with long names, a multiclass model, and one whose performance is pending (no labels yet)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from vigil.demo.data import credit_data
from vigil.evaluation import evaluate, infer_spec
from vigil.report.model import Report

HOSTILE = "<script>alert(1)</script>"
CREDIT_ROLES = {
    "target": "default",
    "prediction": "predicted_default",
    "scores": ["default_probability"],
    "id_column": "application_id",
}
CLASSES = ("highstreet_card", "prepaid_card_for_international_travel", "virtual_card", "名前")


@pytest.fixture(scope="session")
def credit_report() -> Report:
    """The demo's credit model, its validated period against the downturn, on in-memory Arrow
    tables: drift, an id column, a binary target."""
    reference = credit_data(4000, seed=[7, 0])
    current = credit_data(4000, seed=[7, 1], inputs=1.0, skill_loss=1.0, id_prefix="P")
    return evaluate(reference, current, infer_spec(reference, **CREDIT_ROLES))  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def pending_report() -> Report:
    """The credit model before any label came back: the current set has no target column."""
    reference = credit_data(3000, seed=[8, 0])
    current = credit_data(3000, seed=[8, 1], inputs=1.0, id_prefix="P").drop_columns(["default"])
    return evaluate(reference, current, infer_spec(reference, **CREDIT_ROLES))  # type: ignore[arg-type]


def wide_table(n: int, *, seed: int, shift: float) -> pa.Table:
    """65 feature columns with long names, large and tiny magnitudes, many long categories,
    and a regression target."""
    rng = np.random.default_rng(seed)
    columns: dict[str, object] = {}
    for i in range(40):
        scale = 10.0 ** (i % 8 - 3)  # 0.001 … 10,000
        name = f"sensor_{i:02d}_reading_of_the_upstream_pipeline_stage_in_engineering_units"
        columns[name] = rng.normal(11_740 * scale * (1 + shift * (i % 3 == 0)), 2_000 * scale, n)
    long_categories = [
        f"merchant category number {k} with a fairly long description" for k in range(30)
    ]
    for i in range(22):
        weights = np.linspace(1, 3, 30) ** (2 + i % 3)
        if shift:
            weights = weights[::-1] if i % 4 == 0 else weights
        weights = weights / weights.sum()
        name = f"categorical_attribute_{i:02d}_without_any_spaces_in_its_name_at_all"
        columns[name] = rng.choice(long_categories, n, p=weights)
    columns[HOSTILE] = rng.normal(shift, 1, n)
    # a sensor that went silent: its drift cannot be measured, and the page says why
    columns["sensor_offline_in_the_current_window"] = np.full(n, np.nan) if shift else rng.random(n)
    columns["flag"] = rng.random(n) < (0.3 + shift / 10)
    target = rng.normal(100, 20, n)
    columns["y"] = target
    columns["y_hat"] = target + rng.normal(shift * 5, 10 + shift * 10, n)
    return pa.table(columns)


@pytest.fixture(scope="session")
def wide_report() -> Report:
    reference = wide_table(2000, seed=1, shift=0.0)
    current = wide_table(2000, seed=2, shift=1.0)
    return evaluate(reference, current, infer_spec(reference, target="y", prediction="y_hat"))


def multiclass_table(n: int, *, seed: int, noise: float) -> pa.Table:
    rng = np.random.default_rng(seed)
    labels = np.array(CLASSES)
    y = rng.integers(0, len(CLASSES), n)
    logits = np.eye(len(CLASSES))[y] * 2.0 + rng.normal(0, noise, (n, len(CLASSES)))
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    columns: dict[str, object] = {
        "amount": rng.lognormal(3 + noise / 4, 1, n),
        "channel": rng.choice(["web", "app", "branch"], n),
        "card_type": labels[y],
        "predicted_card_type": labels[proba.argmax(axis=1)],
    }
    for k, label in enumerate(CLASSES):
        columns[f"p_{label}"] = proba[:, k]
    return pa.table(columns)


@pytest.fixture(scope="session")
def multiclass_report() -> Report:
    reference = multiclass_table(3000, seed=3, noise=1.0)
    current = multiclass_table(3000, seed=4, noise=2.0)
    spec = infer_spec(
        reference,
        target="card_type",
        prediction="predicted_card_type",
        scores=[f"p_{label}" for label in CLASSES],
    )
    return evaluate(reference, current, spec)
