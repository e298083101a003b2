"""Two weeks of a credit model's traffic for the dashboard's tests, posted over HTTP.

Window size 6 h. For 8 days the inputs look like the reference; from day 8 (`CHANGE_DAY`) the
income falls, the hostile-named feature moves, and the outcome stops following the score (the
model's skill drops). Labels come two days late: each day posts that day's predictions, then the
labels of two days before, then asks for the model's due windows to be computed, so alerts open
in the order they would have. Version "2", a challenger, takes a third of the traffic from day 4.
Column names and a category are hostile on purpose: the pages must show them as text.
"""

from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

HOSTILE = '<img src=x onerror="alert(1)">'  # a numeric feature's name; it drifts on day 8
SLASHED = "a/b?c#d&e"  # a categorical feature's name
SCRIPT_CATEGORY = "<script>alert(2)</script>"
DAYS = 14
CHANGE_DAY = 8
PER_WINDOW = 300  # predictions per 6-hour window
SPEC: dict[str, Any] = {
    "version": 1,
    "task": "binary",
    "columns": {
        "income": {"role": "feature", "kind": "numeric"},
        "age": {"role": "feature", "kind": "numeric"},
        HOSTILE: {"role": "feature", "kind": "numeric"},
        SLASHED: {"role": "feature", "kind": "categorical"},
        "pred": {"role": "prediction", "kind": "categorical"},
        "proba": {"role": "score", "kind": "numeric"},
        "y": {"role": "target", "kind": "categorical"},
        # protected: the fairness page and card have data (the regions are treated alike)
        "region": {"role": "segment", "kind": "categorical", "protected": True},
    },
    # the domain classifier is off in service windows unless the spec turns it on
    "multivariate": {"domain_classifier": True},
}
CONFIG: dict[str, Any] = {
    "windows": {"size": "6h", "rolling": "off", "min_rows": 20, "segments": ["region"]},
}


def _rows(rng: np.random.Generator, n: int, *, changed: bool) -> dict[str, np.ndarray]:
    income = rng.lognormal(10.8 - (0.5 if changed else 0.0), 0.4, n)
    age = rng.normal(41, 11, n)
    hostile = rng.normal(3.0 if changed else 0.0, 1.0, n)
    slashed = rng.choice(["x", "y", SCRIPT_CATEGORY], n, p=[0.5, 0.3, 0.2])
    region = rng.choice(["north", "south"], n)
    logit = -0.2 - 1.5 * (np.log(income) - 10.8) + 0.03 * (age - 41)
    proba = 1.0 / (1.0 + np.exp(-logit))
    truth = logit if not changed else rng.normal(0.0, 1.0, n)  # the world stops following it
    y = rng.random(n) < 1.0 / (1.0 + np.exp(-truth))
    return {
        "income": income,
        "age": age,
        HOSTILE: hostile,
        SLASHED: slashed,
        "region": region,
        "proba": proba,
        "pred": np.where(proba >= 0.5, "1", "0"),
        "y": np.where(y, "1", "0"),
    }


def reference_parquet(seed: int = 1) -> bytes:
    """The validation period: 4,000 rows like the first week."""
    rows = _rows(np.random.default_rng(seed), 4000, changed=False)
    sink = io.BytesIO()
    pq.write_table(pa.table(rows), sink)
    return sink.getvalue()


def start_of_replay(now: datetime | None = None) -> datetime:
    """The replay's first window start: `DAYS` whole days before today's midnight (UTC)."""
    now = now or datetime.now(timezone.utc).replace(tzinfo=None)
    return now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=DAYS)


def replay(client: httpx.Client, model: str, *, start: datetime, seed: int = 3) -> None:
    """Register `model`, give it its reference and post two weeks of traffic (see above)."""
    for version in ("2", "1"):  # "1", registered last, is the current version (the champion)
        r = client.post("/v1/models", json={"name": model, "version": version, "spec": SPEC})
        assert r.status_code in (200, 201), r.text
        r = client.put(
            f"/v1/models/{model}/reference",
            params={"version": version},
            content=reference_parquet(),
            headers={"content-type": "application/vnd.apache.parquet"},
        )
        assert r.status_code == 200, r.text
    rng = np.random.default_rng(seed)
    outcomes: list[list[dict[str, Any]]] = []
    for day in range(DAYS):
        records: list[dict[str, Any]] = []
        labels: list[dict[str, Any]] = []
        for w in range(4):
            base = start + timedelta(days=day, hours=6 * w)
            rows = _rows(rng, PER_WINDOW, changed=day >= CHANGE_DAY)
            for i in range(PER_WINDOW):
                ident = f"{model}-{day}-{w}-{i}"
                ts = base + timedelta(seconds=int(i * 21_600 / PER_WINDOW))
                version = "2" if day >= 4 and i % 3 == 0 else "1"
                records.append(
                    {
                        "id": ident,
                        "timestamp": ts.isoformat() + "Z",
                        "model_version": version,
                        "features": {
                            name: (str(rows[name][i]) if name == SLASHED else float(rows[name][i]))
                            for name in ("income", "age", HOSTILE, SLASHED)
                        },
                        "prediction": str(rows["pred"][i]),
                        "score": float(rows["proba"][i]),
                        "latency_ms": float(rng.gamma(2.0, 6.0)),
                        "segments": {"region": str(rows["region"][i])},
                    }
                )
                labels.append({"id": ident, "label": str(rows["y"][i])})
        r = client.post(f"/v1/models/{model}/predictions", json={"records": records})
        assert r.status_code == 200 and not r.json().get("rejected"), r.text[:500]
        outcomes.append(labels)
        if day >= 2:
            r = client.post(f"/v1/models/{model}/labels", json={"records": outcomes[day - 2]})
            assert r.status_code == 200, r.text[:500]
        r = client.post(f"/v1/models/{model}/evaluate")
        assert r.status_code == 200, r.text[:500]
