"""Hostile records against a real server over HTTP: one bad record is rejected on its own (index,
id, field and what was expected) and never fails its batch; record contents do not grow the
stored schema or the /metrics series past `limits.max_extra_columns`."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families
from tests.service.conftest import (
    Live,
    ThreadServer,
    make_settings,
    parquet_bytes,
    records,
    reference_table,
)
from tests.store.conftest import postgres_url  # noqa: F401  (a fixture)

from vigil.config import Limits, load_settings
from vigil.errors import ConfigError
from vigil.monitor.windows import WindowPlan
from vigil.service.app import create_app

SURROGATE = '"\\ud800"'  # the JSON escape of a lone surrogate, as a client sends it
HUGE = "1" + "0" * 400  # an integer beyond the range of a float
LONG = "7" * 5000  # more digits than Python converts to int by default
HOLE = '"@HOSTILE@"'


def _served(tmp_path: Path, db: str, limits: Limits) -> Iterator[Live]:
    settings = make_settings(tmp_path, db=db, limits=limits, windows=WindowPlan(min_rows=10))
    app = create_app(settings, scheduler=False)
    with ThreadServer(app) as url, httpx.Client(base_url=url, timeout=60) as client:
        live = Live(url, client, tmp_path / "vigil.duckdb", app)
        live.setup_model()
        yield live


@pytest.fixture(params=["duckdb", "postgres"])
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Live]:
    """The service over either store, at most 3 unregistered columns per model."""
    db = str(tmp_path / "vigil.duckdb")
    if request.param == "postgres":
        db = request.getfixturevalue("postgres_url")
    yield from _served(tmp_path, db, Limits(max_body=8 * 2**20, max_extra_columns=3))


@pytest.fixture
def duck(tmp_path: Path) -> Iterator[Live]:
    """The service over DuckDB with the default limits."""
    yield from _served(tmp_path, str(tmp_path / "vigil.duckdb"), Limits())


def _batch_text(hostile: dict[str, Any], raw: str, n: int = 20, at: int = 5) -> str:
    """n good prediction records as JSON text, the one at `at` changed by `hostile`, where the
    value or key written "@HOSTILE@" is replaced by `raw` JSON text."""
    batch = records(n)
    record = batch[at]
    for key, value in hostile.items():
        if isinstance(value, dict):
            record[key] = {**(record.get(key) or {}), **value}
        else:
            record[key] = value
    return json.dumps({"records": batch}).replace(HOLE, raw)


PREDICTION_CASES = [
    ("surrogate id", {"id": "@HOSTILE@"}, SURROGATE, "id"),
    ("surrogate feature value", {"features": {"city": "@HOSTILE@"}}, SURROGATE, "features.city"),
    ("surrogate feature name", {"features": {"@HOSTILE@": 1}}, SURROGATE, "features."),
    ("surrogate prediction", {"prediction": "@HOSTILE@"}, SURROGATE, "prediction"),
    ("surrogate segment value", {"segments": {"region": "@HOSTILE@"}}, SURROGATE, "segments"),
    ("surrogate segment name", {"segments": {"@HOSTILE@": "x"}}, SURROGATE, "segments."),
    ("surrogate error", {"error": "@HOSTILE@"}, SURROGATE, "error"),
    ("surrogate in a nested value", {"features": {"age": ["@HOSTILE@"]}}, SURROGATE, "features"),
    ("huge feature", {"features": {"age": "@HOSTILE@"}}, HUGE, "features.age"),
    ("long feature", {"features": {"age": "@HOSTILE@"}}, LONG, "features.age"),
    ("huge text feature", {"features": {"city": "@HOSTILE@"}}, HUGE, "features.city"),
    ("huge score", {"score": "@HOSTILE@"}, HUGE, "score"),
    ("long score", {"score": "@HOSTILE@"}, LONG, "score"),
    ("huge latency", {"latency_ms": "@HOSTILE@"}, HUGE, "latency_ms"),
    ("long latency", {"latency_ms": "@HOSTILE@"}, LONG, "latency_ms"),
    ("huge id", {"id": "@HOSTILE@"}, HUGE, "id"),
    ("huge float", {"features": {"income": "@HOSTILE@"}}, "1e400", "features.income"),
]


@pytest.mark.parametrize(
    ("hostile", "raw", "field"),
    [c[1:] for c in PREDICTION_CASES],
    ids=[c[0] for c in PREDICTION_CASES],
)
def test_one_hostile_prediction_is_rejected_alone(
    duck: Live, hostile: dict[str, Any], raw: str, field: str
) -> None:
    """Failed before: 500 (UnicodeEncodeError, OverflowError, ValueError) for the whole batch."""
    r = duck.client.post(
        "/v1/models/credit/predictions",
        content=_batch_text(hostile, raw),
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["accepted"] == 19
    [rejected] = answer["rejected"]
    assert rejected["index"] == 5
    assert rejected["id"] == (None if hostile.get("id") else "r5")
    assert rejected["errors"][0].startswith(field), rejected["errors"]
    assert "expected" in rejected["errors"][0]


LABEL_CASES = [
    ("surrogate id", {"id": "@HOSTILE@", "label": "1"}, SURROGATE, "id"),
    ("surrogate label", {"id": "r5", "label": "@HOSTILE@"}, SURROGATE, "label"),
    ("huge label", {"id": "r5", "label": "@HOSTILE@"}, HUGE, "label"),
    ("long label", {"id": "r5", "label": "@HOSTILE@"}, LONG, "label"),
    ("surrogate key", {"id": "r5", "label": "1", "@HOSTILE@": 1}, SURROGATE, "record 5"),
]


@pytest.mark.parametrize(
    ("hostile", "raw", "field"), [c[1:] for c in LABEL_CASES], ids=[c[0] for c in LABEL_CASES]
)
def test_one_hostile_label_is_rejected_alone(
    duck: Live, hostile: dict[str, Any], raw: str, field: str
) -> None:
    labels: list[dict[str, Any]] = [{"id": f"r{i}", "label": "1"} for i in range(20)]
    labels[5] = hostile
    body = json.dumps({"records": labels}).replace(HOLE, raw)
    r = duck.client.post(
        "/v1/models/credit/labels", content=body, headers={"content-type": "application/json"}
    )
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["accepted"] == 19
    [rejected] = answer["rejected"]
    assert rejected["index"] == 5
    assert rejected["errors"][0].startswith(field), rejected["errors"]
    assert "expected" in rejected["errors"][0]


def test_a_python_int_beyond_float_range_rejects_its_record_only(duck: Live) -> None:
    """What the SDK sends for `10**400`: failed before with accepted=0 for all 500."""
    batch = records(500)
    batch[123]["features"]["age"] = 10**400
    r = duck.client.post(
        "/v1/models/credit/predictions",
        content=json.dumps({"records": batch}),
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 499
    assert [x["index"] for x in r.json()["rejected"]] == [123]
    reasons = {
        labels["reason"]: v
        for name, labels, v in _metrics(duck)
        if name == "vigil_rejections_total"
    }
    assert reasons == {"out_of_range": 1.0}


# any code point, lone surrogates included (st.text leaves them out by default)
TEXT = st.text(st.characters(exclude_categories=()), max_size=12)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**500), max_value=10**500)
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT
)
JSONISH = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner),
    max_leaves=8,
)
FEATURE_NAMES = st.sampled_from(["age", "income", "city", "extra"]) | TEXT
RECORD = st.fixed_dictionaries(
    {"id": TEXT | st.integers(), "timestamp": st.just(0.0)},
    optional={
        "features": st.dictionaries(FEATURE_NAMES, JSONISH, max_size=4) | JSONISH,
        "prediction": JSONISH,
        "score": JSONISH,
        "latency_ms": JSONISH,
        "error": JSONISH,
        "segments": st.dictionaries(st.sampled_from(["region"]) | TEXT, JSONISH),
        "model_version": JSONISH,
    },
)


def _escaped(text: str) -> str:
    """JSON text whose strings may hold lone surrogates, written as escapes."""
    return json.dumps(text, ensure_ascii=True)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(batch=st.lists(RECORD, min_size=1, max_size=6), kind=st.sampled_from(["p", "l"]))
def test_any_json_batch_is_4xx_or_counted_exactly(
    duck: Live, batch: list[dict[str, Any]], kind: str
) -> None:
    now = time.time()
    for record in batch:
        record["timestamp"] = now
    if kind == "l":
        batch = [{"id": r["id"], "label": r.get("prediction")} for r in batch]
    body = json.dumps({"records": batch}, ensure_ascii=True)
    route = "predictions" if kind == "p" else "labels"
    r = duck.client.post(
        f"/v1/models/credit/{route}", content=body, headers={"content-type": "application/json"}
    )
    assert r.status_code < 500, r.text
    if r.status_code == 200:
        a = r.json()
        counted = a["accepted"] + a["duplicates"] + a["conflicts"]  # pending is of accepted
        assert counted + len(a["rejected"]) == len(batch), a


def _metrics(live: Live) -> list[tuple[str, dict[str, str], float]]:
    text = live.client.get("/metrics").text
    return [
        (s.name, s.labels, s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
    ]


def _invented(start: int, n: int, name: str = "inv") -> list[dict[str, Any]]:
    batch = records(n, start=start)
    for i, record in enumerate(batch):
        record["features"][f"{name}_{start + i:06d}"] = "x"
    return batch


def test_unregistered_columns_are_bounded_and_out_of_metrics(served: Live) -> None:
    """Failed before: every invented name became a column and a vigil_status series."""
    client = served.client
    first = client.post("/v1/models/credit/predictions", json={"records": _invented(0, 10)})
    assert first.status_code == 200, first.text
    answer = first.json()
    assert answer["accepted"] == 3  # the records of the 3 first invented names
    assert [r["index"] for r in answer["rejected"]] == [3, 4, 5, 6, 7, 8, 9]
    assert all(
        r["errors"][0].startswith(f"features.inv_{r['index']:06d}: not a feature of the spec")
        and "limits.max_extra_columns" in r["errors"][0]
        for r in answer["rejected"]
    ), answer["rejected"]
    # a name already kept goes on being accepted; a new one does not
    again = records(2, start=100)
    again[0]["features"]["inv_000001"] = "y"
    again[1]["features"]["inv_999999"] = "y"
    second = client.post("/v1/models/credit/predictions", json={"records": again}).json()
    assert second["accepted"] == 1
    assert [r["index"] for r in second["rejected"]] == [1]

    extras = [c for c in client.get("/v1/models/credit").json()["columns"] if c["role"] == "extra"]
    assert sorted(c["name"] for c in extras) == ["inv_000000", "inv_000001", "inv_000002"]

    plain = client.post("/v1/models/credit/predictions", json={"records": records(50, start=200)})
    assert plain.json()["accepted"] == 50
    assert client.post("/v1/models/credit/evaluate").json()["computed"]
    samples = _metrics(served)
    rejected = [
        v
        for name, labels, v in samples
        if name == "vigil_rejections_total" and labels.get("reason") == "too_many_columns"
    ]
    assert rejected == [8.0]
    invented = [
        (name, labels) for name, labels, _ in samples if labels.get("column", "").startswith("inv_")
    ]
    assert invented == []
    new = [v for name, labels, v in samples if name == "vigil_new_columns"]
    assert new == [3.0]
    # the finding itself is still in the metrics API
    points = client.get(
        "/v1/models/credit/metrics", params={"metric": "schema.new_column", "kind": "tumbling"}
    ).json()["points"]
    assert sorted({p["column"] for p in points}) == ["inv_000000", "inv_000001", "inv_000002"]


def test_thousands_of_invented_names_leave_later_batches_working(served: Live) -> None:
    """Failed before on PostgreSQL: past ~1,500 names every batch got 500 TooManyColumns."""
    client = served.client
    for start in range(0, 2000, 500):
        r = client.post("/v1/models/credit/predictions", json={"records": _invented(start, 500)})
        assert r.status_code == 200, r.text
    plain = client.post("/v1/models/credit/predictions", json={"records": records(50, start=9000)})
    assert plain.status_code == 200, plain.text
    assert plain.json()["accepted"] == 50
    columns = client.get("/v1/models/credit").json()["columns"]
    assert sum(c["role"] == "extra" for c in columns) == 3


def test_a_table_body_past_the_limit_rejects_the_rows_using_the_excess(served: Live) -> None:
    """A Parquet body with 5 unregistered columns where 3 are allowed: rows holding a value
    in the 4th or 5th are rejected, the rest are stored with the first 3."""
    table = reference_table(10).drop_columns(["y"])
    n = table.num_rows
    table = table.append_column("id", pa.array([f"t{i}" for i in range(n)]))
    table = table.append_column("timestamp", pa.array([time.time()] * n))
    for name in ("xa", "xb", "xc"):
        table = table.append_column(name, pa.array(["v"] * n))
    table = table.append_column("xd", pa.array([None, None, "v"] + [None] * (n - 3), pa.string()))
    table = table.append_column("xe", pa.array([None] * 4 + ["v"] + [None] * (n - 5), pa.string()))
    r = served.client.post(
        "/v1/models/credit/predictions",
        content=parquet_bytes(table),
        headers={"content-type": "application/vnd.apache.parquet"},
    )
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["accepted"] == n - 2
    assert [(x["index"], x["id"]) for x in answer["rejected"]] == [(2, "t2"), (4, "t4")]
    assert answer["rejected"][0]["errors"][0].startswith("xd: not a feature of the spec")
    extras = [
        c["name"]
        for c in served.client.get("/v1/models/credit").json()["columns"]
        if c["role"] == "extra"
    ]
    assert extras == ["xa", "xb", "xc"]


def test_max_extra_columns_is_read_from_yaml_and_the_environment(tmp_path: Path) -> None:
    assert load_settings().limits.max_extra_columns == 50
    path = tmp_path / "vigil.yaml"
    path.write_text("limits:\n  max_extra_columns: 7\n")
    assert load_settings(path).limits.max_extra_columns == 7
    env = {"VIGIL_LIMITS_MAX_EXTRA_COLUMNS": "0"}
    assert load_settings(path, env).limits.max_extra_columns == 0
    with pytest.raises(ConfigError, match=r"limits\.max_extra_columns"):
        load_settings(None, {"VIGIL_LIMITS_MAX_EXTRA_COLUMNS": "-1"})
