"""Shared fixtures: seeded data sets in the shape a model's logs have."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest


def model_logs(n: int, *, seed: int, shift: float = 0.0) -> pa.Table:
    """Features of mixed kinds, a binary target, a score and a predicted label.

    `shift` moves two numeric features and one categorical's shares, and the score with them.
    """
    rng = np.random.default_rng(seed)
    x1 = rng.normal(shift, 1.0, n)
    x2 = rng.lognormal(0.0 + shift / 2, 0.5, n)
    x3 = rng.uniform(0, 10, n)
    count = rng.poisson(3.0, n).astype(np.int64)
    p_colour = [0.5, 0.3, 0.2] if shift == 0 else [0.2, 0.3, 0.5]
    colour = rng.choice(["red", "green", "blue"], n, p=p_colour)
    size = rng.choice(["s", "m", "l", "xl"], n, p=[0.1, 0.4, 0.4, 0.1])
    latent = rng.normal(0, 1, n)
    target = (latent + 0.5 * rng.normal(0, 1, n) > 0.5).astype(np.int64)
    logit = 1.5 * latent + 0.8 * x1 + (colour == "blue") - 0.7
    score = 1 / (1 + np.exp(-logit))
    x3_with_gaps = x3.copy()
    x3_with_gaps[rng.random(n) < 0.01] = np.nan
    return pa.table(
        {
            "x1": x1,
            "x2": x2,
            "x3": x3_with_gaps,
            "count": count,
            "colour": colour,
            "size": size,
            "target": target,
            "score": score,
            "prediction": (score >= 0.5).astype(np.int64),
        }
    )


@pytest.fixture
def logs() -> tuple[pa.Table, pa.Table]:
    return model_logs(5000, seed=1), model_logs(5000, seed=2)
