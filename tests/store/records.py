"""Builders of the batches a store is written with, in the shape ingest validation makes them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa

from vigil.store import SqlStore
from vigil.store.base import MetricPoint, ModelInfo, Storage, WindowKey

T0 = datetime(2024, 5, 1)  # window starts are multiples of the hour from here
HOUR = 3600
COLUMNS: list[tuple[str, str, Storage]] = [
    ("x", "feature", "DOUBLE"),
    ("colour", "feature", "VARCHAR"),
    ("flag", "feature", "BOOLEAN"),
    ("seen", "feature", "TIMESTAMP"),
    ("score", "score", "DOUBLE"),
]
SPEC: dict[str, Any] = {"version": 1, "task": "binary", "columns": {"x": {"role": "feature"}}}
PREDICTION_FIELDS = {
    "id": pa.string(),
    "timestamp": pa.timestamp("us"),
    "model_version": pa.string(),
    "latency_ms": pa.float64(),
    "error": pa.string(),
}
TYPES = {"DOUBLE": pa.float64(), "VARCHAR": pa.string(), "BOOLEAN": pa.bool_()}


def register(
    store: SqlStore,
    name: str = "churn",
    *,
    version: str = "v1",
    columns: Sequence[tuple[str, str, Storage]] = COLUMNS,
    label: Storage | None = "DOUBLE",
) -> ModelInfo:
    """Register a model with the usual columns (or those given)."""
    return store.register_model(name, version, SPEC, list(columns), label)


def predictions(
    ids: Sequence[str],
    *,
    at: datetime | Sequence[datetime] = T0,
    version: str = "v1",
    x: Sequence[float | None] | None = None,
    **columns: Sequence[Any],
) -> pa.Table:
    """A validated prediction batch: the fixed fields, `x` (the index by default), and more."""
    n = len(ids)
    times = [at] * n if isinstance(at, datetime) else list(at)
    data: dict[str, pa.Array] = {
        "id": pa.array(ids, pa.string()),
        "timestamp": pa.array(times, pa.timestamp("us")),
        "model_version": pa.array([version] * n, pa.string()),
        "latency_ms": pa.array([1.5] * n, pa.float64()),
        "error": pa.array([None] * n, pa.string()),
        "x": pa.array(list(range(n)) if x is None else x, pa.float64()),
    }
    for name, values in columns.items():
        data[name] = pa.array(values)
    return pa.table(data)


def labels(ids: Sequence[str], values: Sequence[float], *, at: datetime = T0) -> pa.Table:
    """A validated label batch."""
    return pa.table(
        {
            "id": pa.array(ids, pa.string()),
            "label": pa.array(values, pa.float64()),
            "timestamp": pa.array([at] * len(ids), pa.timestamp("us")),
        }
    )


def write(store: SqlStore, model: ModelInfo, *batches: pa.Table) -> list[tuple[int, int, int]]:
    """Write prediction batches in one call; (accepted, duplicates, conflicts) of each."""
    results = store.write_predictions(model, batches, [], window_seconds=HOUR)
    return [(r.accepted, r.duplicates, r.conflicts) for r in results]


def hours(n: int) -> datetime:
    """The start of the n-th hourly window after T0."""
    return T0 + timedelta(seconds=n * HOUR)


def finish(
    store: SqlStore,
    model: ModelInfo,
    key: WindowKey,
    points: Sequence[MetricPoint] = (),
    *,
    report: str | None = None,
) -> int:
    """Claim a window, store these results, and release it; the generation computed."""
    generation = store.claim_window(model, key, "worker", lease_seconds=60)
    assert generation is not None, f"{key} could not be claimed"
    store.finish_window(
        model,
        key,
        owner="worker",
        generation=generation,
        rows=1,
        labelled=0,
        report=report,
        points=points,
    )
    return generation
