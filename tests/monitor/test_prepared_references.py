"""A prepared reference gives the reports a fresh `evaluate` gives, window after window, whole
and by segment; the cache of prepared versions is bounded and follows the reference."""

from __future__ import annotations

import io
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from vigil.errors import NotEnoughData, SpecError
from vigil.evaluation import PreparedReference, evaluate
from vigil.ingest.layout import layout_for
from vigil.measure.multivariate import window_spec
from vigil.monitor.references import PreparedVersion, ReferenceCache, segment_rows
from vigil.monitor.scheduler import Monitor
from vigil.monitor.windows import WindowPlan, current_table
from vigil.report.json import report_to_json
from vigil.spec import Spec, spec_from_dict
from vigil.store import open_store

BINARY = {
    "version": 1,
    "task": "binary",
    "columns": {
        "id": {"role": "id", "kind": "categorical"},
        "x": {"role": "feature", "kind": "numeric"},
        "amount": {"role": "feature", "kind": "numeric"},
        "city": {"role": "feature", "kind": "categorical"},
        "note": {"role": "feature", "kind": "text"},
        "flag": {"role": "feature", "kind": "boolean"},
        "shop": {"role": "segment", "kind": "categorical"},
        "pred": {"role": "prediction", "kind": "categorical"},
        "proba": {"role": "score", "kind": "numeric"},
        "y": {"role": "target", "kind": "categorical"},
    },
}
MULTICLASS = {
    "version": 1,
    "task": "multiclass",
    "columns": {
        "x": {"role": "feature", "kind": "numeric"},
        "pred": {"role": "prediction", "kind": "categorical"},
        "s_a": {"role": "score", "kind": "numeric", "class": "a"},
        "s_b": {"role": "score", "kind": "numeric", "class": "b"},
        "s_c": {"role": "score", "kind": "numeric", "class": "c"},
        "y": {"role": "target", "kind": "categorical"},
    },
}


def _with_missing(values: np.ndarray, rng: np.random.Generator, share: float) -> list[Any]:
    out: list[Any] = values.tolist()
    for i in np.flatnonzero(rng.uniform(size=len(out)) < share):
        out[int(i)] = None
    return out


def binary_set(
    n: int, seed: int, *, shift: float = 0.0, missing: float = 0.0, labelled: float = 1.0
) -> pa.Table:
    """Rows of the binary model: missing values, an unseen city, repeats, partial labels."""
    rng = np.random.default_rng(seed)
    proba = np.clip(rng.uniform(0, 1, n) + shift / 4, 0, 1)
    cities = ["paris", "lyon", "nice"] + (["brest"] if shift else [])
    y = np.where(rng.uniform(0, 1, n) < proba, "1", "0").astype(object)
    y[rng.uniform(size=n) >= labelled] = None
    x = rng.normal(shift, 1, n)
    if shift:
        x[: n // 10] = x[0]  # a repeated value: duplicate checks and ties
    return pa.table(
        {
            "id": [f"r{seed}-{i}" for i in range(n)],
            "x": _with_missing(x, rng, missing),
            "amount": _with_missing(rng.exponential(100 + 50 * shift, n), rng, missing),
            "city": _with_missing(rng.choice(cities, n), rng, missing),
            "note": _with_missing(rng.choice(["late again", "ok", "fine, thanks"], n), rng, 0.1),
            "flag": _with_missing(rng.uniform(size=n) < 0.3 + shift / 5, rng, missing),
            "shop": _with_missing(
                rng.choice(["a", "b", "c", "d"], n, p=[0.5, 0.3, 0.15, 0.05]), rng, 0.05
            ),
            "pred": np.where(proba >= 0.5, "1", "0").tolist(),
            "proba": proba.tolist(),
            "y": pa.array(y.tolist(), pa.string()),
        }
    )


def multiclass_set(n: int, seed: int, *, shift: float = 0.0) -> pa.Table:
    rng = np.random.default_rng(seed)
    raw = rng.dirichlet([1 + shift, 1, 1], n)
    classes = np.array(["a", "b", "c"])
    return pa.table(
        {
            "x": rng.normal(shift, 1, n),
            "pred": classes[np.argmax(raw, axis=1)].tolist(),
            "s_a": raw[:, 0],
            "s_b": raw[:, 1],
            "s_c": raw[:, 2],
            "y": [str(classes[rng.choice(3, p=p)]) for p in raw],
        }
    )


def same_report(fresh: Any, prepared: Any) -> str:
    """The report JSON of both, without the time each was made; asserted equal."""
    a, b = json.loads(report_to_json(fresh)), json.loads(report_to_json(prepared))
    a.pop("created"), b.pop("created")
    assert a == b
    return json.dumps(a)


def test_a_prepared_reference_gives_the_fresh_report_window_after_window() -> None:
    spec = spec_from_dict(BINARY)
    reference = binary_set(3000, 1, missing=0.02)
    prepared = PreparedReference(reference, spec)
    windows = [
        binary_set(400, 10),
        binary_set(300, 11, shift=1.0, missing=0.2, labelled=0.4),
        binary_set(50, 12, labelled=0.0),  # no label yet
        binary_set(400, 10),  # the first again: the kept pieces are read, not changed
        binary_set(500, 13, shift=0.5, missing=0.5, labelled=0.7),
        pa.concat_tables([binary_set(200, 14)] * 2),  # repeated rows: the reference is hashed
        pa.concat_tables([binary_set(2000, 15)] * 2),  # larger than the reference
    ]
    seen = set()
    for current in windows:
        seen.add(same_report(evaluate(reference, current, spec), evaluate(prepared, current, spec)))
    assert len(seen) == 6  # the windows differ, so the comparison compares something


def test_a_prepared_multiclass_reference_gives_the_fresh_report() -> None:
    spec = spec_from_dict(MULTICLASS)
    reference = multiclass_set(2000, 2)
    prepared = PreparedReference(reference, spec)
    for seed, shift in ((20, 0.0), (21, 2.0), (22, 0.5)):
        current = multiclass_set(300, seed, shift=shift)
        same_report(evaluate(reference, current, spec), evaluate(prepared, current, spec))


def test_a_prepared_version_gives_the_fresh_segment_reports() -> None:
    reference = binary_set(3000, 3, missing=0.05)
    version = PreparedVersion(reference, spec_from_dict(BINARY))
    spec = version.window_spec  # the service's windows: no domain classifier unless asked
    compared = refused = 0
    for seed, shift in ((30, 0.0), (31, 1.0)):
        current = binary_set(600, seed, shift=shift, missing=0.1, labelled=0.5)
        for top in (["a", "b"], ["a"], ["a", "b", "c", "d"]):
            for value in [*top, None]:
                part = segment_rows(current, "shop", top, value)
                try:
                    fresh = evaluate(segment_rows(reference, "shop", top, value), part, spec)
                except NotEnoughData as err:  # `other` with every value in `top`: only missing
                    with pytest.raises(NotEnoughData, match=str(err)[:40]):
                        evaluate(version.segment("shop", top, value), part, spec)
                    refused += 1
                    continue
                same_report(fresh, evaluate(version.segment("shop", top, value), part, spec))
                compared += 1
    assert compared == 18 and refused == 2


def test_a_segment_absent_from_the_reference_raises_as_evaluate_does() -> None:
    spec = spec_from_dict(BINARY)
    version = PreparedVersion(binary_set(500, 4), spec)
    current = binary_set(100, 40)
    with pytest.raises(NotEnoughData) as fresh:
        evaluate(segment_rows(version.table, "shop", [], "zz"), current, spec)
    for _ in range(2):  # kept: the second call raises the same error
        with pytest.raises(NotEnoughData) as prepared:
            version.segment("shop", [], "zz")
        assert str(prepared.value) == str(fresh.value)


def test_a_prepared_reference_refuses_another_spec() -> None:
    spec = spec_from_dict(BINARY)
    reference = binary_set(500, 5)
    prepared = PreparedReference(reference, spec)
    other = spec_from_dict({**BINARY, "drift": {"bins": 7}})
    with pytest.raises(SpecError, match="prepared for another spec"):
        evaluate(prepared, binary_set(100, 50), other)


def _loader(tables: dict[str, pa.Table], calls: list[str], name: str) -> Any:
    def load() -> pa.Table:
        calls.append(name)
        return tables[name]

    return load


def test_the_cache_keeps_the_last_versions_and_follows_a_new_reference() -> None:
    spec: Spec = spec_from_dict(BINARY)
    tables = {v: binary_set(200, i) for i, v in enumerate("abc")}
    calls: list[str] = []
    cache = ReferenceCache(versions=2)
    t0 = datetime(2026, 1, 1)
    first = cache.get(1, "a", t0, spec, _loader(tables, calls, "a"))
    assert cache.get(1, "a", t0, spec, _loader(tables, calls, "a")) is first
    cache.get(1, "b", t0, spec, _loader(tables, calls, "b"))
    cache.get(1, "a", t0, spec, _loader(tables, calls, "a"))  # a is now the most recent
    cache.get(1, "c", t0, spec, _loader(tables, calls, "c"))  # b goes
    assert len(cache) == 2
    cache.get(1, "a", t0, spec, _loader(tables, calls, "a"))
    cache.get(1, "b", t0, spec, _loader(tables, calls, "b"))
    assert calls == ["a", "b", "c", "b"]
    # a reference uploaded again (a new time) or a new spec is prepared again
    later = cache.get(1, "b", t0 + timedelta(seconds=1), spec, _loader(tables, calls, "b"))
    other_spec = spec_from_dict({**BINARY, "drift": {"bins": 7}})
    cache.get(1, "b", t0 + timedelta(seconds=1), other_spec, _loader(tables, calls, "b"))
    assert calls == ["a", "b", "c", "b", "b", "b"] and later.spec == spec
    cache.forget(1)
    assert len(cache) == 0


def test_the_scheduler_prepares_a_replaced_reference_again(tmp_path: Path) -> None:
    """A reference uploaded again (PUT) is the one the next window is judged against."""
    store = open_store(tmp_path / "r.duckdb")
    try:
        spec = spec_from_dict(BINARY)
        model = store.register_model("m", "1", spec.to_dict(), layout_for(spec).stored(), "VARCHAR")
        store.put_reference(model, "1", _parquet(binary_set(800, 6)), 800)
        hour = datetime(2026, 11, 23, 10)
        rows = binary_set(200, 60).drop_columns(["y"])
        stamps = pa.array([hour + timedelta(seconds=i) for i in range(200)], pa.timestamp("us"))
        rows = rows.append_column("timestamp", stamps)
        rows = rows.append_column("model_version", pa.array(["1"] * 200))
        rows = rows.append_column("latency_ms", pa.array(np.ones(200)))
        rows = rows.append_column("error", pa.nulls(200, pa.string()))
        store.write_predictions(model, [rows], [], window_seconds=3600)
        plan = WindowPlan(rolling_seconds=None, min_rows=10)
        monitor = Monitor(store, {}, default_plan=plan, clock=lambda: hour + timedelta(hours=3))
        first = monitor.tick().computed
        assert [r.report.reference.rows for r in first if r.report] == [800]
        store.put_reference(model, "1", _parquet(binary_set(1200, 7)), 1200)
        again = monitor.backfill(model, hour, hour + timedelta(hours=1)).computed
        assert [r.report.reference.rows for r in again if r.report] == [1200]
        reference = PreparedReference(binary_set(1200, 7), window_spec(spec))
        window = current_table(store.read_window(model, "1", hour, hour + timedelta(hours=1)), spec)
        same_report(evaluate(reference, window, window_spec(spec)), again[0].report)
    finally:
        store.close()


def _parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()
