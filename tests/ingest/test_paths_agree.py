"""A batch sent as JSON records and the same batch sent as a flat table are judged alike: the
same rows are rejected and the accepted tables hold the same values with the same types.

Each column of a generated batch has one type (as a column of a Parquet file has), drawn from
valid and invalid choices for the spec column it fills. NaN is left out: in a table it is a
missing value (pandas' way), in JSON it is not a number and rejected. Floats are left out of
extra columns: JSON keeps `json.dumps` text (`3.0`), Arrow its own (`3`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from vigil.ingest.tables import validate_label_table, validate_prediction_table

from .layouts import BINARY, EPOCH, NOW, RULES, VERSIONS, assert_consistent, checked, checked_labels

INT64 = st.integers(-(2**63), 2**63 - 1)
FINITE = st.floats(allow_nan=False, allow_infinity=False)
TEXT = st.text(max_size=6)
ODD_TEXT = st.sampled_from(["a\x00b", "\x00"])
inside = st.datetimes(  # within the accepted span: lateness behind, max_future ahead
    min_value=NOW - timedelta(days=29, hours=23), max_value=NOW + timedelta(minutes=59)
)
outside = st.one_of(
    st.datetimes(min_value=datetime(1990, 1, 1), max_value=NOW - timedelta(days=30, seconds=1)),
    st.datetimes(min_value=NOW + timedelta(hours=1, seconds=1), max_value=datetime(2200, 1, 1)),
)
LOW, HIGH = ((t - EPOCH) / timedelta(seconds=1) for t in (NOW - timedelta(days=29), NOW))


def epoch(unit: float) -> Any:
    return lambda t: (t - EPOCH) / timedelta(seconds=1) * unit


def floats_in(unit: float) -> st.SearchStrategy[float]:
    """Epoch times in this unit with every digit a float holds, not only whole microseconds."""
    return st.integers(0, 2**52).map(lambda k: (LOW + (HIGH - LOW) * k / 2**52) * unit)


# Each field: (valid column types, invalid column types); a column type is a pair of
# strategies, (good values, bad values that still fit the type) or (values, None).
Column = tuple[st.SearchStrategy[Any], st.SearchStrategy[Any] | None]
FIELDS: dict[str, tuple[list[Column], list[Column]]] = {
    "id": (
        [
            (st.text(min_size=1, max_size=4), st.sampled_from(["", "x" * 257, "a\x00"])),
            (INT64, None),
        ],
        [(FINITE, None), (st.booleans(), None)],
    ),
    "timestamp": (
        [
            (inside.map(lambda t: t.isoformat() + "Z"), outside.map(datetime.isoformat)),
            (inside.map(lambda t: t.isoformat(timespec="milliseconds") + "+00:00"), None),
            (inside.map(datetime.isoformat), st.sampled_from(["soon", "2026-13-01", ""])),
            (floats_in(1), outside.map(epoch(1))),
            (floats_in(1e3), None),
            (inside.map(lambda t: int(epoch(1000)(t))), st.sampled_from([10**17, -(10**17)])),
            (floats_in(1e6), st.sampled_from([float("inf"), 1e18])),
        ],
        [(st.booleans(), None)],
    ),
    "model_version": (
        [(st.sampled_from(["v1", "v2"]), st.sampled_from(["v9", ""]))],
        [(st.integers(0, 3), None)],
    ),
    "latency_ms": (
        [
            (st.floats(0, 1e9), st.sampled_from([-1.0, float("inf")])),
            (st.integers(0, 10**12), None),
        ],
        [(TEXT, None)],
    ),
    "error": ([(TEXT, ODD_TEXT)], [(FINITE, None)]),
    "age": (
        [(FINITE, st.sampled_from([float("inf"), -float("inf")])), (INT64, None)],
        [(TEXT, None), (st.booleans(), None)],
    ),
    "city": ([(TEXT, ODD_TEXT), (INT64, None), (st.booleans(), None)], [(FINITE, None)]),
    "vip": ([(st.booleans(), None)], [(st.integers(0, 1), None), (TEXT, None)]),
    "note": ([(TEXT, ODD_TEXT)], [(FINITE, None)]),
    "signup": (
        [(inside.map(datetime.isoformat), st.just("later")), (floats_in(1), None)],
        [(st.booleans(), None)],
    ),
    "pred": ([(TEXT, ODD_TEXT), (st.integers(0, 3), None), (st.booleans(), None)], []),
    "proba": (
        [(st.floats(0, 1), st.just(float("inf"))), (st.integers(0, 1), None)],
        [(TEXT, None)],
    ),
    "region": ([(st.sampled_from(["north", "south"]), ODD_TEXT), (st.integers(0, 3), None)], []),
    "zz": ([(TEXT, ODD_TEXT), (INT64, None), (st.booleans(), None)], []),  # not in the spec
}
FEATURES = ("age", "city", "vip", "note", "signup", "zz")


@st.composite
def batches(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Flat rows: every column present, each of one type, with nulls and bad values here and
    there, and at most two columns of a type their field does not take."""
    n = draw(st.integers(1, 8))
    broken = draw(st.sets(st.sampled_from(sorted(FIELDS)), max_size=2))
    columns = {}
    for name, (valid, invalid) in FIELDS.items():
        good, bad = draw(st.sampled_from(invalid if name in broken and invalid else valid))
        # a column of nulls only, now and then (but rarely all ids or times: nothing passes)
        shares = ["none", "none", "some", "some", "all"][: 4 if name in ("id", "timestamp") else 5]
        share = draw(st.sampled_from(shares))
        kinds = ["good"] * 8 + (["bad"] if bad is not None else []) + ["null"] * (share == "some")
        values = []
        for _ in range(n):
            kind = "null" if share == "all" else draw(st.sampled_from(kinds))
            values.append(None if kind == "null" else draw(bad if kind == "bad" else good))
        columns[name] = values
    return [{name: columns[name][i] for name in columns} for i in range(n)]


def as_record(row: dict[str, Any], *, drop_nulls: bool) -> dict[str, Any]:
    record = {
        "id": row["id"],
        "timestamp": row["timestamp"],
        "model_version": row["model_version"],
        "features": {name: row[name] for name in FEATURES},
        "prediction": row["pred"],
        "score": row["proba"],
        "latency_ms": row["latency_ms"],
        "error": row["error"],
        "segments": {"region": row["region"]},
    }
    if drop_nulls:  # a field left out and a field sent as null mean the same
        record = {k: v for k, v in record.items() if v is not None}
        record["features"] = {k: v for k, v in record["features"].items() if v is not None}
    return record


@given(batches(), st.booleans())
@settings(max_examples=50, deadline=None)
def test_json_records_and_a_flat_table_are_judged_alike(
    rows: list[dict[str, Any]], drop_nulls: bool
) -> None:
    as_json = checked([as_record(row, drop_nulls=drop_nulls) for row in rows])
    table = pa.Table.from_pylist(rows)
    as_table = validate_prediction_table(table, BINARY, VERSIONS, "v1", RULES)
    assert_consistent(as_table, len(rows), "prediction")

    assert [r.index for r in as_json.rejected] == [r.index for r in as_table.rejected]
    for by_json, by_table in zip(as_json.rejected, as_table.rejected, strict=True):
        if by_json.id is not None:  # a usable id is reported the same way
            assert by_table.id == by_json.id
    for name in as_json.table.column_names:
        json_column, table_column = as_json.table.column(name), as_table.table.column(name)
        assert json_column.type == table_column.type, name
        assert json_column.to_pylist() == table_column.to_pylist(), name
    assert as_json.extras == [n for n in as_table.extras if n in as_json.table.column_names]
    # a table may name an extra column no row fills; JSON never sees its name
    for name in set(as_table.table.column_names) - set(as_json.table.column_names):
        assert name in as_table.extras
        assert all(v is None for v in as_table.table.column(name).to_pylist())


@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "id": st.one_of(st.none(), st.sampled_from(["a", "b", "", "a\x00"])),
                "label": st.one_of(st.none(), TEXT, ODD_TEXT),
                "timestamp": st.one_of(st.none(), st.just("x"), inside.map(datetime.isoformat)),
            }
        ),
        min_size=1,
        max_size=8,
    )
)
@settings(max_examples=50, deadline=None)
def test_labels_are_judged_alike_as_json_and_as_a_table(rows: list[dict[str, Any]]) -> None:
    as_json = checked_labels(rows)
    table = pa.table(
        {
            "id": pa.array([r["id"] for r in rows], pa.string()),
            "label": pa.array([r["label"] for r in rows], pa.string()),
            "timestamp": pa.array([r["timestamp"] for r in rows], pa.string()),
        }
    )
    as_table = validate_label_table(table, BINARY, RULES)
    assert_consistent(as_table, len(rows), "label")
    assert [r.index for r in as_json.rejected] == [r.index for r in as_table.rejected]
    assert as_json.table.equals(as_table.table)
