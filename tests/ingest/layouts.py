"""The specs, clock and checks the ingest tests share.

`checked` runs a validation and asserts what holds for every batch whatever its content: each
rejection is quarantined with the same index, id and reasons and a JSON payload, and the
accepted table holds the other rows.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa

from vigil.ingest.layout import Layout, layout_for
from vigil.ingest.validate import (
    MAX_PAYLOAD_KEPT,
    TimeRules,
    Validated,
    validate_labels,
    validate_predictions,
)
from vigil.spec import spec_from_dict

NOW = datetime(2026, 11, 23, 10, 0)  # naive UTC, the server's clock in every test
EPOCH = datetime(1970, 1, 1)
RULES = TimeRules(now=NOW, lateness=timedelta(days=30), max_future=timedelta(hours=1))
VERSIONS = ("v1", "v2")

BINARY = layout_for(
    spec_from_dict(
        {
            "version": 1,
            "task": "binary",
            "columns": {
                "age": {"role": "feature", "kind": "numeric"},
                "city": {"role": "feature", "kind": "categorical"},
                "vip": {"role": "feature", "kind": "boolean"},
                "note": {"role": "feature", "kind": "text"},
                "signup": {"role": "feature", "kind": "datetime"},
                "pred": {"role": "prediction", "kind": "categorical"},
                "proba": {"role": "score", "kind": "numeric"},
                "y": {"role": "target", "kind": "categorical"},
                "region": {"role": "segment", "kind": "categorical"},
            },
        }
    )
)
MULTICLASS = layout_for(
    spec_from_dict(
        {
            "version": 1,
            "task": "multiclass",
            "columns": {
                "x": {"role": "feature", "kind": "numeric"},
                "pred": {"role": "prediction", "kind": "categorical"},
                "p_a": {"role": "score", "kind": "numeric", "class": "a"},
                "p_b": {"role": "score", "kind": "numeric", "class": "b"},
                "y": {"role": "target", "kind": "categorical"},
            },
        }
    )
)

# The accepted prediction table of BINARY, column by column, in order.
BINARY_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("timestamp", pa.timestamp("us")),
        ("model_version", pa.string()),
        ("latency_ms", pa.float64()),
        ("error", pa.string()),
        ("age", pa.float64()),
        ("city", pa.string()),
        ("vip", pa.bool_()),
        ("note", pa.string()),
        ("signup", pa.timestamp("us")),
        ("pred", pa.string()),
        ("proba", pa.float64()),
        ("region", pa.string()),
    ]
)
SEEN = datetime(2026, 11, 23, 9, 30)  # the time of a good record


def good(i: int, **changes: Any) -> dict[str, Any]:
    """A prediction record of BINARY that passes, with top-level fields replaced."""
    record: dict[str, Any] = {
        "id": f"r{i}",
        "timestamp": "2026-11-23T09:30:00Z",
        "model_version": "v2",
        "features": {
            "age": 41,
            "city": "Lyon",
            "vip": True,
            "note": "ok",
            "signup": "2020-01-02T03:04:05",
        },
        "prediction": "1",
        "score": 0.83,
        "latency_ms": 12.5,
        "error": None,
        "segments": {"region": "south"},
    }
    record.update(changes)
    return record


def good_row(i: int) -> dict[str, Any]:
    """The accepted row of `good(i)`."""
    return {
        "id": f"r{i}",
        "timestamp": SEEN,
        "model_version": "v2",
        "latency_ms": 12.5,
        "error": None,
        "age": 41.0,
        "city": "Lyon",
        "vip": True,
        "note": "ok",
        "signup": datetime(2020, 1, 2, 3, 4, 5),
        "pred": "1",
        "proba": 0.83,
        "region": "south",
    }


def with_feature(i: int, name: str, value: Any) -> dict[str, Any]:
    """`good(i)` with one feature set (or added)."""
    record = good(i)
    record["features"] = {**record["features"], name: value}
    return record


def assert_consistent(out: Validated, n: int, kind: str) -> None:
    """What holds of every validated batch of n records."""
    assert [(q.index, q.record_id, q.errors) for q in out.quarantined] == [
        (r.index, r.id, r.errors) for r in out.rejected
    ]
    assert all(q.kind == kind for q in out.quarantined)
    for q in out.quarantined:
        assert len(q.payload) <= MAX_PAYLOAD_KEPT
        if len(q.payload) < MAX_PAYLOAD_KEPT:
            json.loads(q.payload)  # JSON text, whatever the record held
    assert all(r.errors for r in out.rejected)
    indices = [r.index for r in out.rejected]
    assert indices == sorted(set(indices))
    assert all(0 <= i < n for i in indices)
    assert out.table.num_rows == n - len(out.rejected)


def checked(records: list[Any], layout: Layout = BINARY, *, rules: TimeRules = RULES) -> Validated:
    """Validate prediction records and check what holds for every batch."""
    out = validate_predictions(records, layout, VERSIONS, "v1", rules)
    assert_consistent(out, len(records), "prediction")
    return out


def checked_labels(records: list[Any], layout: Layout = BINARY) -> Validated:
    """Validate label records and check what holds for every batch."""
    out = validate_labels(records, layout, RULES)
    assert_consistent(out, len(records), "label")
    return out
