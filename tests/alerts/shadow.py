"""A model with a champion and a challenger version logging the same requests (shadow
traffic) into a real store, for the challenger and action tests."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa

from vigil.store import SqlStore
from vigil.store.base import ModelInfo, Storage

T0 = datetime(2026, 11, 2, 0, 0)
SPEC: dict[str, Any] = {
    "version": 1,
    "task": "binary",
    "columns": {
        "request_id": {"role": "feature", "kind": "categorical"},
        "pred": {"role": "prediction", "kind": "categorical"},
        "proba": {"role": "score", "kind": "numeric"},
        "y": {"role": "target", "kind": "categorical"},
    },
}
COLUMNS: list[tuple[str, str, Storage]] = [
    ("request_id", "feature", "VARCHAR"),
    ("pred", "prediction", "VARCHAR"),
    ("proba", "score", "DOUBLE"),
]


def register(store: SqlStore, name: str = "credit") -> ModelInfo:
    store.register_model(name, "1", SPEC, COLUMNS, "VARCHAR")
    return store.register_model(name, "2", SPEC, COLUMNS, "VARCHAR")


def log_version(
    store: SqlStore,
    model: ModelInfo,
    version: str,
    requests: list[str],
    proba: np.ndarray,
    truth: np.ndarray,
    *,
    labelled: np.ndarray | None = None,
) -> None:
    """Log one version's predictions of `requests` and the labels of those `labelled`."""
    n = len(requests)
    ids = [f"v{version}-{r}" for r in requests]
    times = [T0 + timedelta(seconds=i) for i in range(n)]
    table = pa.table(
        {
            "id": pa.array(ids, pa.string()),
            "timestamp": pa.array(times, pa.timestamp("us")),
            "model_version": pa.array([version] * n, pa.string()),
            "latency_ms": pa.array([1.0] * n, pa.float64()),
            "error": pa.array([None] * n, pa.string()),
            "request_id": pa.array(requests, pa.string()),
            "pred": pa.array(["1" if p >= 0.5 else "0" for p in proba], pa.string()),
            "proba": pa.array(proba, pa.float64()),
        }
    )
    store.write_predictions(model, [table], [], window_seconds=3600)
    keep = np.ones(n, dtype=bool) if labelled is None else labelled
    label_ids = [i for i, k in zip(ids, keep, strict=True) if k]
    labels = pa.table(
        {
            "id": pa.array(label_ids, pa.string()),
            "label": pa.array([str(int(t)) for t, k in zip(truth, keep, strict=True) if k]),
            "timestamp": pa.array([T0] * len(label_ids), pa.timestamp("us")),
        }
    )
    store.write_labels(model, [labels], [], window_seconds=3600)


def shadow(
    store: SqlStore, model: ModelInfo, n: int, *, gain: float, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`n` requests scored by both versions; the challenger's scores carry `gain` more signal.
    Returns the truth and both versions' scores."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 2, n)
    noise = rng.normal(0, 1, n)
    champion = 1 / (1 + np.exp(-(0.8 * (2 * truth - 1) + noise)))
    challenger = 1 / (1 + np.exp(-((0.8 + gain) * (2 * truth - 1) + noise)))
    requests = [f"q{i}" for i in range(n)]
    log_version(store, model, "1", requests, champion, truth)
    log_version(store, model, "2", requests, challenger, truth)
    return truth, champion, challenger
