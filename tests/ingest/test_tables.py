"""Flat prediction tables (Parquet, Arrow, CSV bodies) against a layout, column by column."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from vigil.ingest.layout import layout_for
from vigil.ingest.tables import validate_label_table, validate_prediction_table
from vigil.ingest.validate import MAX_TEXT_LENGTH, Validated
from vigil.spec import spec_from_dict

from .layouts import BINARY, BINARY_SCHEMA, EPOCH, RULES, SEEN, VERSIONS, assert_consistent

ISO = "2026-11-23T09:30:00Z"


def checked_table(columns: dict[str, Any] | pa.Table, layout: Any = BINARY) -> Validated:
    table = columns if isinstance(columns, pa.Table) else pa.table(columns)
    out = validate_prediction_table(table, layout, VERSIONS, "v1", RULES)
    assert_consistent(out, table.num_rows, "prediction")
    return out


def rows(n: int, **columns: Any) -> dict[str, Any]:
    """n rows with ids r0.. and a good time, plus the given columns."""
    return {"id": [f"r{i}" for i in range(n)], "timestamp": [ISO] * n, **columns}


def reasons(out: Validated) -> list[tuple[int, tuple[str, ...]]]:
    return [(r.index, r.errors) for r in out.rejected]


def test_a_full_table_is_accepted_in_the_stored_shape() -> None:
    out = checked_table(
        {
            "id": pa.array([1, 2], pa.int64()),
            "timestamp": [ISO, "2026-11-23T10:30:00+01:00"],
            "model_version": ["v2", None],
            "latency_ms": pa.array([3, 4], pa.int32()),
            "error": [None, "timeout"],
            "age": pa.array([41, 7], pa.int64()),
            "city": pa.array(["Lyon", "Paris"]).dictionary_encode(),
            "vip": [True, None],
            "note": pa.array([12, 13], pa.int8()),
            "signup": ["2020-01-02T03:04:05", None],
            "pred": [True, False],
            "proba": pa.array([0.25, 0.5], pa.float32()),
            "region": ["south", "north"],
        }
    )
    assert out.rejected == []
    assert out.extras == []
    assert out.table.schema == BINARY_SCHEMA
    assert out.table.to_pylist() == [
        {
            "id": "1",
            "timestamp": SEEN,
            "model_version": "v2",
            "latency_ms": 3.0,
            "error": None,
            "age": 41.0,
            "city": "Lyon",
            "vip": True,
            "note": "12",
            "signup": datetime(2020, 1, 2, 3, 4, 5),
            "pred": "true",
            "proba": 0.25,
            "region": "south",
        },
        {
            "id": "2",
            "timestamp": SEEN,
            "model_version": "v1",
            "latency_ms": 4.0,
            "error": "timeout",
            "age": 7.0,
            "city": "Paris",
            "vip": None,
            "note": "13",
            "signup": None,
            "pred": "false",
            "proba": 0.5,
            "region": "north",
        },
    ]


# --- ids and times --------------------------------------------------------------------------


def test_an_integer_id_column_is_cast_to_text() -> None:
    out = checked_table({"id": pa.array([7, -(2**63)], pa.int64()), "timestamp": [ISO, ISO]})
    assert out.table.column("id").to_pylist() == ["7", str(-(2**63))]
    assert out.table.schema.field("id").type == pa.string()


@pytest.mark.parametrize(
    "ids",
    [pa.array([1.0, 2.0]), pa.array([True, False]), pa.array([None, None], pa.null())],
    ids=["double", "bool", "null"],
)
def test_an_id_column_of_another_type_rejects_every_row(ids: pa.Array) -> None:
    out = checked_table({"id": ids, "timestamp": [ISO, ISO]})
    assert [r.index for r in out.rejected] == [0, 1]
    assert out.rejected[0].errors == (f"id: column of {ids.type}, expected text",)
    assert out.table.num_rows == 0


def test_bad_ids_reject_their_rows_only() -> None:
    out = checked_table(
        {"id": ["ok", None, "", "x" * 257, "a\x00b", "é" * 256], "timestamp": [ISO] * 6}
    )
    assert reasons(out) == [
        (1, ("id: missing; every record needs a unique id",)),
        (2, ("id: must be 1 to 256 characters",)),
        (3, ("id: must be 1 to 256 characters",)),
        (4, ("id: contains a NUL character",)),
    ]
    assert out.table.column("id").to_pylist() == ["ok", "é" * 256]


def test_missing_id_and_time_columns_reject_every_row() -> None:
    out = checked_table({"age": [1.0, 2.0]})
    assert reasons(out) == [
        (
            i,
            (
                "id: missing column; every row needs an id",
                "timestamp: missing column; every row needs a time",
            ),
        )
        for i in range(2)
    ]
    assert checked_table({"id": ["a"]}).rejected[0].errors == (
        "timestamp: missing column; every row needs a time",
    )
    assert checked_table({"timestamp": [ISO]}).rejected[0].errors == (
        "id: missing column; every row needs an id",
    )


def test_an_aware_time_column_becomes_naive_utc() -> None:
    plus_one = timezone(timedelta(hours=1))
    local = [datetime(2026, 11, 23, 10, 30, tzinfo=plus_one), None]
    for column in (
        pa.array(local, pa.timestamp("ms", tz="+01:00")),
        pa.array(local, pa.timestamp("ns", tz="UTC")),
        pa.array(local, pa.timestamp("s", tz="-05:00")),
    ):
        out = checked_table({"id": ["a", "b"], "timestamp": column})
        assert out.table.column("timestamp").to_pylist() == [SEEN]
        assert out.table.schema.field("timestamp").type == pa.timestamp("us")
        assert reasons(out) == [(1, ("timestamp: missing; every row needs a time",))]


def test_nanosecond_times_are_cut_to_microseconds() -> None:
    column = pa.array(np.array(["2026-11-23T09:30:00.123456789"], dtype="datetime64[ns]"))
    out = checked_table({"id": ["a"], "timestamp": column})
    assert out.table.column("timestamp").to_pylist() == [SEEN.replace(microsecond=123456)]


def test_numeric_epoch_columns_decode_by_size() -> None:
    instant = datetime(2026, 11, 23, 9, 30, 15, 250000)
    micros = (instant - EPOCH) // timedelta(microseconds=1)
    for column in (
        pa.array([micros / 1e6]),
        pa.array([micros // 1000], pa.int64()),
        pa.array([micros / 1000], pa.float64()),
        pa.array([micros], pa.int64()),
        pa.array([micros], pa.uint64()),
    ):
        out = checked_table({"id": ["a"], "timestamp": column})
        assert out.table.column("timestamp").to_pylist() == [instant], column.type
    whole = int((SEEN - EPOCH).total_seconds())
    out = checked_table({"id": ["s", "ms"], "timestamp": pa.array([whole, whole * 1000])})
    assert out.table.column("timestamp").to_pylist() == [SEEN, SEEN]


def test_numeric_times_out_of_range_reject_their_rows() -> None:
    out = checked_table(
        {
            "id": ["ok", "huge", "inf", "nan", "int huge"],
            "timestamp": [1795426200.0, 1e17, float("inf"), float("nan"), None],
        }
    )
    assert reasons(out) == [
        (1, ("timestamp: too large for an epoch time",)),
        (2, ("timestamp: not finite",)),
        (3, ("timestamp: missing; every row needs a time",)),
        (4, ("timestamp: missing; every row needs a time",)),
    ]
    big = checked_table({"id": ["a", "b"], "timestamp": pa.array([2**60, 1795426200], pa.int64())})
    assert reasons(big) == [(0, ("timestamp: too large for an epoch time",))]
    assert big.table.column("timestamp").to_pylist() == [SEEN]


def test_text_time_columns_are_parsed_and_bad_rows_named() -> None:
    out = checked_table(
        {
            "id": list("abcdefg"),
            "timestamp": [
                ISO,
                "2026-11-23T10:30:00+01:00",
                "2026-11-23T09:30:00",
                "soon",
                "2026-11-23T11:00:01Z",
                "2026-10-01T00:00:00Z",
                "0001-01-01T00:30+01:00",
            ],
        }
    )
    assert out.table.column("timestamp").to_pylist() == [SEEN] * 3
    assert [r.index for r in out.rejected] == [3, 4, 5, 6]
    assert out.rejected[0].errors[0].startswith("timestamp: 'soon' is not an ISO-8601 time")
    assert out.rejected[1].errors == (
        "timestamp: more than 1:00:00 ahead of the server's clock; send UTC times",
    )
    assert out.rejected[2].errors == (
        "timestamp: older than the lateness horizon (30d, limits.lateness); its windows are "
        "closed. To take older records, raise limits.lateness in the service config "
        "(docs/config.md) and restart the service",
    )
    assert (
        out.rejected[3]
        .errors[0]
        .startswith("timestamp: '0001-01-01T00:30+01:00' is outside the years 1-9999 in UTC")
    )


def test_the_spec_timestamp_column_stands_in_for_timestamp() -> None:
    layout = layout_for(
        spec_from_dict(
            {"version": 1, "columns": {"x": {"role": "feature"}, "at": {"role": "timestamp"}}}
        )
    )
    out = checked_table({"id": ["a"], "at": [ISO], "x": [1.0]}, layout)
    assert out.rejected == []
    assert out.extras == []
    assert out.table.column_names == [
        "id",
        "timestamp",
        "model_version",
        "latency_ms",
        "error",
        "x",
    ]
    assert out.table.column("timestamp").to_pylist() == [SEEN]


# --- values ---------------------------------------------------------------------------------


def test_text_in_a_numeric_column_rejects_only_the_rows_that_hold_it() -> None:
    out = checked_table(rows(4, age=["1.5", "x", None, "3"]))
    assert reasons(out) == [
        (0, ("age: got a string, expected a number or null",)),
        (1, ("age: got a string, expected a number or null",)),
        (3, ("age: got a string, expected a number or null",)),
    ]
    assert out.table.column("id").to_pylist() == ["r2"]
    assert out.table.schema.field("age").type == pa.float64()


@pytest.mark.parametrize(
    ("name", "column", "expected"),
    [
        ("age", pa.array([True, None]), "age: got a boolean, expected a number or null"),
        ("vip", pa.array([1, None]), "vip: got a number, expected true, false or null"),
        (
            "city",
            pa.array([1.5, None]),
            "city: got a number, expected a string, an integer or null",
        ),
        ("age", pa.array([[1], None]), "age: got an array, expected a number or null"),
        ("signup", pa.array(["later", None]), "signup: 'later' is not an ISO-8601 time"),
    ],
)
def test_a_column_of_the_wrong_type_rejects_its_non_null_rows(
    name: str, column: pa.Array, expected: str
) -> None:
    out = checked_table(rows(2, **{name: column}))
    assert [r.index for r in out.rejected] == [0]
    (reason,) = out.rejected[0].errors
    assert reason.startswith(expected), reason
    assert out.table.column(name).to_pylist() == [None]


def test_nan_in_float_columns_is_missing_and_infinities_are_rejected() -> None:
    nan, inf = float("nan"), float("inf")
    out = checked_table(
        rows(
            4,
            age=[nan, 1.0, -inf, 2.0],
            proba=pa.array([0.5, nan, 0.5, 0.5], pa.float32()),
            latency_ms=[nan, 3.0, 4.0, inf],
        )
    )
    assert reasons(out) == [
        (2, ("age: not finite; send null for a missing value",)),
        (3, ("latency_ms: not finite; send null for a missing value",)),
    ]
    assert out.table.column("age").to_pylist() == [None, 1.0]
    assert out.table.column("age").null_count == 1
    assert out.table.column("proba").to_pylist() == [0.5, None]
    assert out.table.column("latency_ms").to_pylist() == [None, 3.0]


def test_integers_past_two_to_the_53_become_the_nearest_double() -> None:
    out = checked_table(rows(2, age=pa.array([2**60 + 1, 1], pa.int64()), latency_ms=[2**62, 0]))
    assert out.rejected == []
    assert out.table.column("age").to_pylist() == [float(2**60), 1.0]
    assert out.table.column("latency_ms").to_pylist() == [float(2**62), 0.0]


def test_fixed_fields_are_checked_by_row() -> None:
    out = checked_table(
        rows(4, model_version=["v1", "v9", None, "v2"], latency_ms=[1.0, 2.0, -0.5, None])
    )
    assert reasons(out) == [
        (1, ("model_version: not registered; registered: v1, v2",)),
        (2, ("latency_ms: negative; expected milliseconds >= 0",)),
    ]
    assert out.table.column("model_version").to_pylist() == ["v1", "v2"]
    assert out.table.column("latency_ms").to_pylist() == [1.0, None]


def test_text_with_nul_or_too_long_is_rejected_in_spec_and_extra_columns() -> None:
    long = "x" * (MAX_TEXT_LENGTH + 1)
    out = checked_table(
        rows(
            5,
            note=["ok", "a\x00b", long, None, "x" * MAX_TEXT_LENGTH],
            error=[None, None, None, "e\x00", None],
            zz=["z", None, None, None, "\x00"],
        )
    )
    assert reasons(out) == [
        (1, ("note: contains a NUL character",)),
        (2, (f"note: more than {MAX_TEXT_LENGTH} characters",)),
        (3, ("error: contains a NUL character",)),
        (4, ("zz: contains a NUL character",)),
    ]
    assert out.table.column("zz").to_pylist() == ["z"]


def test_repeated_column_names_reject_every_row() -> None:
    table = pa.Table.from_arrays(
        [pa.array(["a", "b"]), pa.array([ISO, ISO]), pa.array([1.0, 2.0]), pa.array([3.0, 4.0])],
        names=["id", "timestamp", "age", "age"],
    )
    out = checked_table(table)
    assert reasons(out) == [
        (0, ("age: column names repeated",)),
        (1, ("age: column names repeated",)),
    ]


# --- extras ---------------------------------------------------------------------------------


def test_unknown_columns_are_kept_as_text_and_listed() -> None:
    out = checked_table(
        rows(
            3,
            zz=pa.array([1, None, 3], pa.int64()),
            flag=[True, False, None],
            word=["a", "b", None],
            y=["0", "1", "0"],  # the target: labels arrive on their own route
        )
    )
    assert out.rejected == []
    assert out.extras == ["zz", "flag", "word"]
    assert out.table.column_names == [*BINARY_SCHEMA.names[:5], "zz", "flag", "word"]
    assert out.table.column("zz").to_pylist() == ["1", None, "3"]
    assert out.table.column("flag").to_pylist() == ["true", "false", None]
    for name in out.extras:
        assert out.table.schema.field(name).type == pa.string()


def test_nested_extra_columns_reject_the_rows_that_hold_a_value() -> None:
    out = checked_table(
        rows(
            3,
            lst=pa.array([[1], None, None], pa.list_(pa.int64())),
            st=pa.array([None, {"x": 1}, None], pa.struct([("x", pa.int64())])),
        )
    )
    assert reasons(out) == [
        (0, ("lst: nested values; expected a scalar",)),
        (1, ("st: nested values; expected a scalar",)),
    ]
    assert out.extras == []
    assert out.table.column_names == BINARY_SCHEMA.names[:5]
    assert out.table.column("id").to_pylist() == ["r2"]


def test_extra_bytes_that_are_not_utf8_reject_their_rows() -> None:
    out = checked_table(rows(3, zz=pa.array([b"Ren\xc3\xa9", b"Ren\xe9", None], pa.binary())))
    assert reasons(out) == [(1, ("zz: not UTF-8 text (a column of binary)",))]
    assert out.table.column("zz").to_pylist() == ["René", None]


def test_odd_names_pass_through_untouched() -> None:
    sql = "x'; DROP TABLE p_1; --"
    layout = layout_for(spec_from_dict({"version": 1, "columns": {sql: {"role": "feature"}}}))
    out = checked_table(rows(1, **{sql: [1.5], "âge 年齢": ["値 ☃"], '"); --': [2]}), layout)
    assert out.rejected == []
    assert out.extras == ["âge 年齢", '"); --']
    assert out.table.to_pylist() == [
        {
            **dict.fromkeys(["latency_ms", "error"]),
            "id": "r0",
            "timestamp": SEEN,
            "model_version": "v1",
            sql: 1.5,
            "âge 年齢": "値 ☃",
            '"); --': "2",
        }
    ]


def test_quarantined_rows_carry_the_row_as_json() -> None:
    out = checked_table(rows(2, age=[1.0, float("inf")], note=["a", "b"]))
    (kept,) = out.quarantined
    assert (kept.index, kept.record_id) == (1, "r1")
    assert json.loads(kept.payload) == {
        "id": "r1",
        "timestamp": ISO,
        "age": float("inf"),
        "note": "b",
    }


# --- odd Arrow types in the fixed columns ---------------------------------------------------

TEXT_KINDS = {
    "large_string": pa.array(["v2", None], pa.large_string()),
    "string_view": pa.array(["v2", None], pa.string_view()),
    "dictionary": pa.array(["v2", None]).dictionary_encode(),
    "large dictionary": pa.array(["v2", None], pa.large_string()).dictionary_encode(),
}


@pytest.mark.parametrize("column", ["id", "model_version"])
@pytest.mark.parametrize("kind", sorted(TEXT_KINDS))
def test_text_in_another_arrow_layout_is_read_as_text(column: str, kind: str) -> None:
    values = TEXT_KINDS[kind]
    if column == "id":
        values = pa.array(
            ["a", "b"], values.type.value_type if "dictionary" in kind else values.type
        )
        if "dictionary" in kind:
            values = values.dictionary_encode()
    out = checked_table(rows(2, **{column: values}))
    assert out.rejected == []
    assert out.table.schema.field(column).type == pa.string()
    expected = {"id": ["a", "b"], "model_version": ["v2", "v1"]}[column]
    assert out.table.column(column).to_pylist() == expected


ODD_VERSIONS = {
    "list": pa.array([["v1"], None]),
    "map": pa.array([[("a", "v1")], None], pa.map_(pa.string(), pa.string())),
    "struct": pa.array([{"a": "v1"}, None]),
    "binary": pa.array([b"v1", None]),
    "binary not utf-8": pa.array([b"\xff", None]),
    "nested null": pa.array([[None], None], pa.list_(pa.null())),
    "double": pa.array([1.0, None]),
    "date": pa.array([0, None], pa.date32()),
}


@pytest.mark.parametrize("kind", sorted(ODD_VERSIONS))
def test_a_model_version_column_that_is_not_text_rejects_its_non_null_rows(kind: str) -> None:
    values = ODD_VERSIONS[kind]
    out = checked_table(rows(2, model_version=values))
    assert reasons(out) == [
        (0, (f"model_version: column of {values.type}, expected text or integers",))
    ]
    assert out.table.column("model_version").to_pylist() == ["v1"]  # the null row: the default


def test_integer_and_boolean_versions_are_text_as_in_json() -> None:
    out = checked_table(rows(2, model_version=pa.array([2, None], pa.int8())))
    assert reasons(out) == [(0, ("model_version: not registered; registered: v1, v2",))]
    out = validate_prediction_table(pa.table(rows(1, model_version=[7])), BINARY, ["7"], "7", RULES)
    assert out.rejected == [] and out.table.column("model_version").to_pylist() == ["7"]


@pytest.mark.parametrize("twice", ["id", "label", "timestamp"])
def test_a_label_table_repeating_a_column_rejects_every_row(twice: str) -> None:
    columns = {
        "id": pa.array(["a", "b"]),
        "label": pa.array(["1", "0"]),
        "timestamp": pa.array([ISO, ISO]),
    }
    names = [*columns, twice]
    table = pa.Table.from_arrays([*columns.values(), columns[twice]], names=names)
    out = validate_label_table(table, BINARY, RULES)
    assert reasons(out) == [(i, (f"{twice}: column names repeated",)) for i in (0, 1)]
    assert [r.id for r in out.rejected] == ["a", "b"]
    assert out.table.num_rows == 0


ODD_ARRAYS = {
    "list": pa.array([["a"], None]),
    "large_list": pa.array([["a"], None], pa.large_list(pa.string())),
    "fixed_size_list": pa.array([[1, 2], None], pa.list_(pa.int64(), 2)),
    "list_view": pa.array([["a"], None], pa.list_view(pa.string())),
    "map": pa.array([[("a", "b")], None], pa.map_(pa.string(), pa.string())),
    "struct": pa.array([{"a": 1}, None]),
    "empty struct": pa.array([{}, {}], pa.struct([])),
    "dense union": pa.UnionArray.from_dense(
        pa.array([0, 1], pa.int8()),
        pa.array([0, 0], pa.int32()),
        [pa.array(["a"]), pa.array([1.0])],
    ),
    "binary": pa.array([b"a", None]),
    "binary_view": pa.array([b"a", b"\xff"], pa.binary_view()),
    "fixed_size_binary": pa.array([b"ab", None], pa.binary(2)),
    "dictionary of bytes": pa.array([b"\xff", b"ok"]).dictionary_encode(),
    "run-end encoded": pa.RunEndEncodedArray.from_arrays([2], ["a"]),
    "null": pa.nulls(2),
    "nested null": pa.array([[None], None], pa.list_(pa.null())),
    "float16": pa.array(np.array([1, 2], np.float16)),
    "decimal256": pa.array([1, 2], pa.decimal256(40, 0)),
    "interval": pa.array([pa.MonthDayNano([1, 2, 3]), None], pa.month_day_nano_interval()),
    "duration": pa.array([1, None], pa.duration("s")),
    "time": pa.array([1, None], pa.time32("s")),
    "seconds past year 9999": pa.array([2**62, -(2**62)], pa.timestamp("s")),
    "uint64": pa.array([2**64 - 1, 0], pa.uint64()),
}
FIXED = [
    "id",
    "timestamp",
    "model_version",
    "latency_ms",
    "error",
    "age",
    "city",
    "vip",
    "note",
    "signup",
    "pred",
    "proba",
    "region",
    "an extra",
]


@pytest.mark.parametrize("column", FIXED)
@pytest.mark.parametrize("kind", sorted(ODD_ARRAYS))
def test_any_arrow_type_in_any_column_is_accepted_or_rejected_by_row(
    column: str, kind: str
) -> None:
    columns: dict[str, Any] = {"id": ["r0", "r1"], "timestamp": [ISO, ISO]}
    columns[column] = ODD_ARRAYS[kind]
    table = pa.table(columns)
    table.validate(full=True)  # what decode_table lets through
    out = checked_table(table)
    out.table.validate(full=True)
    for rejection in out.rejected:
        assert all(e.split(":")[0] in FIXED for e in rejection.errors), rejection


@pytest.mark.parametrize("kind", sorted(ODD_ARRAYS))
def test_any_arrow_type_in_a_label_column_is_accepted_or_rejected_by_row(kind: str) -> None:
    for column in ("id", "label", "timestamp"):
        columns: dict[str, Any] = {"id": ["a", "b"], "label": ["1", "0"], column: ODD_ARRAYS[kind]}
        out = validate_label_table(pa.table(columns), BINARY, RULES)
        assert len(out.rejected) + out.table.num_rows == 2
        out.table.validate(full=True)


def test_times_outside_the_years_1_to_9999_reject_their_rows() -> None:
    times = pa.array([2**62, -(2**47), 1_700_000_000_000, None], pa.timestamp("ms"))
    columns = {"id": ["a", "b", "c", "d"], "label": ["1"] * 4, "timestamp": times}
    out = validate_label_table(pa.table(columns), BINARY, RULES)
    assert reasons(out) == [
        (0, ("timestamp: outside the years 1 to 9999",)),
        (1, ("timestamp: outside the years 1 to 9999",)),
    ]
    assert out.table.column("id").to_pylist() == ["c", "d"]
    assert json.loads(out.quarantined[0].payload)["id"] == "a"
