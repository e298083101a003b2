"""A month of hourly windows replayed through the store and the monitor: the issue's case.

With fixed relative drops, 13 of 144 unchanged hourly windows of about 500 rows (ROC AUC
0.75) were flagged on roc_auc. Every window here is judged by the monitor as in `vigil serve`
and its metric points carry the verdict; unchanged windows stay quiet, a real loss of skill
in the last day is flagged.
"""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from vigil.ingest.layout import layout_for
from vigil.monitor.scheduler import Monitor
from vigil.monitor.windows import WindowPlan
from vigil.spec import spec_from_dict
from vigil.store import open_store

SPEC = {
    "version": 1,
    "task": "binary",
    "columns": {
        "x": {"role": "feature", "kind": "numeric"},
        "pred": {"role": "prediction", "kind": "categorical"},
        "proba": {"role": "score", "kind": "numeric"},
        "y": {"role": "target", "kind": "categorical"},
    },
}
START = datetime(2026, 10, 1)
HOURS = 144


def scored(n: int, rng: np.random.Generator, *, noise: float = 1.25) -> dict[str, np.ndarray]:
    """A model whose scores see the outcome's driver through noise: ROC AUC about 0.75 at
    the default noise, about 0.65 at noise 2.5."""
    x = rng.normal(0, 1, n)
    y = rng.random(n) < 1 / (1 + np.exp(-3 * (x - 0.3)))
    signal = x + rng.normal(0, noise, n)
    proba = 1 / (1 + np.exp(-2 * (signal - 0.3)))
    return {"x": x, "y": y, "proba": proba}


@pytest.mark.slow
def test_a_replayed_month_is_quiet_until_the_model_loses_its_skill(tmp_path: Path) -> None:
    store = open_store(tmp_path / "replay.duckdb")
    spec = spec_from_dict(SPEC)
    model = store.register_model("m", "1", spec.to_dict(), layout_for(spec).stored(), "VARCHAR")
    rng = np.random.default_rng(7)
    ref = scored(20_000, rng)
    reference = pa.table(
        {
            "x": ref["x"],
            "pred": np.where(ref["proba"] >= 0.5, "1", "0"),
            "proba": ref["proba"],
            "y": np.where(ref["y"], "1", "0"),
        }
    )
    sink = io.BytesIO()
    pq.write_table(reference, sink)
    store.put_reference(model, "1", sink.getvalue(), reference.num_rows)
    worse_from = HOURS - 24
    for hour in range(HOURS):
        n = int(rng.integers(450, 550))
        rows = scored(n, rng, noise=1.25 if hour < worse_from else 2.5)
        start = START + timedelta(hours=hour)
        ids = [f"h{hour}-{i}" for i in range(n)]
        times = pa.array(
            [start + timedelta(seconds=int(s)) for s in rng.integers(0, 3600, n)],
            pa.timestamp("us"),
        )
        batch = pa.table(
            {
                "id": ids,
                "timestamp": times,
                "model_version": ["1"] * n,
                "latency_ms": rng.exponential(10, n),
                "error": pa.nulls(n, pa.string()),
                "x": rows["x"],
                "pred": np.where(rows["proba"] >= 0.5, "1", "0"),
                "proba": rows["proba"],
            }
        )
        labels = pa.table({"id": ids, "label": np.where(rows["y"], "1", "0"), "timestamp": times})
        store.write_predictions(model, [batch], [], window_seconds=3600)
        store.write_labels(model, [labels], [], window_seconds=3600)

    now = START + timedelta(hours=HOURS + 1)
    monitor = Monitor(
        store, {}, default_plan=WindowPlan(rolling_seconds=None, min_rows=10), clock=lambda: now
    )
    summary = monitor.tick()
    assert summary.failed == [] and len(summary.computed) == HOURS
    points = store.read_points(
        model,
        metric="performance.roc_auc",
        column="",
        segment="",
        version="1",
        kind="tumbling",
        since=None,
        until=None,
        limit=1000,
    )
    assert len(points) == HOURS
    assert all(p.band is not None and p.band > 0 for p in points)  # the noise beside each value
    before = [p for p in points if p.start < START + timedelta(hours=worse_from)]
    after = [p for p in points if p.start >= START + timedelta(hours=worse_from)]
    assert np.mean([p.value for p in before]) == pytest.approx(0.75, abs=0.02)
    flagged_before = [p for p in before if p.status in ("warning", "critical")]
    assert len(flagged_before) <= 0.05 * len(before), [(p.start, p.value) for p in flagged_before]
    assert not [p for p in before if p.status == "critical"]
    flagged_after = [p for p in after if p.status in ("warning", "critical")]
    assert len(flagged_after) >= 0.8 * len(after), [(p.start, p.value, p.status) for p in after]
    store.close()
