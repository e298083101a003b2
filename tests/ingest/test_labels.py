"""Label records `{id, label, timestamp?}` as JSON and as flat tables."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pyarrow as pa
import pytest

from vigil.ingest.decode import decode_json
from vigil.ingest.layout import layout_for
from vigil.ingest.tables import validate_label_table
from vigil.ingest.validate import Rejection, Validated, validate_labels
from vigil.spec import spec_from_dict

from .layouts import BINARY, RULES, SEEN, assert_consistent, checked_labels


def _layout(kind: str) -> Any:
    return layout_for(
        spec_from_dict(
            {
                "version": 1,
                "columns": {"x": {"role": "feature"}, "y": {"role": "target", "kind": kind}},
            }
        )
    )


NUMERIC, BOOLEAN = _layout("numeric"), _layout("boolean")
LABEL_SCHEMA = pa.schema(
    [("id", pa.string()), ("label", pa.string()), ("timestamp", pa.timestamp("us"))]
)


def test_labels_with_and_without_a_time_are_accepted() -> None:
    out = checked_labels(
        [
            {"id": "a", "label": "1", "timestamp": "2026-11-23T10:30:00+01:00"},
            {"id": "b", "label": "0"},
            {"id": 3, "label": 0, "timestamp": None},
            {"id": "d", "label": True, "timestamp": 1795426200},
        ]
    )
    assert out.rejected == []
    assert out.extras == []
    assert out.table.schema == LABEL_SCHEMA
    assert out.table.to_pylist() == [
        {"id": "a", "label": "1", "timestamp": SEEN},
        {"id": "b", "label": "0", "timestamp": None},
        {"id": "3", "label": "0", "timestamp": None},
        {"id": "d", "label": "true", "timestamp": SEEN},
    ]


def test_a_label_long_after_its_prediction_is_accepted_but_not_one_from_the_future() -> None:
    out = checked_labels(
        [
            {"id": "old", "label": "1", "timestamp": "2020-01-01T00:00:00Z"},
            {"id": "future", "label": "1", "timestamp": "2026-11-23T11:00:01Z"},
        ]
    )
    assert [(r.index, r.id) for r in out.rejected] == [(1, "future")]
    assert "more than 1:00:00 ahead of the server's clock" in out.rejected[0].errors[0]
    assert out.table.to_pylist() == [{"id": "old", "label": "1", "timestamp": datetime(2020, 1, 1)}]


BAD_LABELS: list[tuple[str, Any, Any, str]] = [
    ("missing label", BINARY, {"id": "r1"}, "label: missing; send the true value"),
    ("null label", BINARY, {"id": "r1", "label": None}, "label: null; send the true value"),
    (
        "float label, categorical",
        BINARY,
        {"id": "r1", "label": 0.5},
        "label: got a number, expected a string, an integer or null",
    ),
    (
        "text label, numeric",
        NUMERIC,
        {"id": "r1", "label": "3.5"},
        "label: got a string, expected a number or null",
    ),
    ("inf label", NUMERIC, {"id": "r1", "label": float("inf")}, "label: inf is not finite"),
    (
        "number label, boolean",
        BOOLEAN,
        {"id": "r1", "label": 1},
        "label: got a number, expected true, false or null",
    ),
    ("object label", BINARY, {"id": "r1", "label": {"v": 1}}, "label: got an object"),
    ("NUL label", BINARY, {"id": "r1", "label": "a\x00"}, "label: contains a NUL character"),
    ("missing id", BINARY, {"label": "1"}, "id: missing"),
    ("boolean id", BINARY, {"id": False, "label": "1"}, "id: got a boolean"),
    ("float id", BINARY, {"id": 1.0, "label": "1"}, "id: got a number"),
    ("empty id", BINARY, {"id": "", "label": "1"}, "id: must be 1 to 256 characters"),
    ("bad time", BINARY, {"id": "r1", "label": "1", "timestamp": "x"}, "timestamp: 'x' is not"),
    (
        "unknown field",
        BINARY,
        {"id": "r1", "label": "1", "score": 0.5, "prediction": "1"},
        "prediction, score: unknown field(s); expected only id, label, timestamp",
    ),
    ("not an object", BINARY, ["r1", "1"], "record 1: got an array, expected an object"),
]


@pytest.mark.parametrize(
    ("layout", "bad", "says"), [c[1:] for c in BAD_LABELS], ids=[c[0] for c in BAD_LABELS]
)
def test_a_bad_label_is_rejected_with_its_field_and_the_rest_is_accepted(
    layout: Any, bad: Any, says: str
) -> None:
    good_value: Any = {"BOOLEAN": True, "DOUBLE": 1.0, "VARCHAR": "1"}[layout.target[1]]
    out = checked_labels(
        [{"id": "r0", "label": good_value}, bad, {"id": "r2", "label": good_value}], layout
    )
    assert [r.index for r in out.rejected] == [1]
    reasons = out.rejected[0].errors
    assert reasons[0].startswith(says), reasons
    # a record that is not an object is also missing its label
    assert len(reasons) == (1 if isinstance(bad, dict) else 2), reasons
    expected_id = bad.get("id") if isinstance(bad, dict) and bad.get("id") == "r1" else None
    assert out.rejected[0].id == expected_id
    assert out.table.column("id").to_pylist() == ["r0", "r2"]
    assert out.table.column("label").to_pylist() == [good_value, good_value]
    assert (
        out.table.schema.field("label").type
        == {
            "BOOLEAN": pa.bool_(),
            "DOUBLE": pa.float64(),
            "VARCHAR": pa.string(),
        }[layout.target[1]]
    )


def test_repeated_keys_and_literals_in_raw_json_labels() -> None:
    body = (
        b'{"records": [{"id": "a", "label": 1}, {"id": "b", "label": 1, "label": 0}, '
        b'{"id": "c", "label": NaN}]}'
    )
    out = checked_labels(decode_json(body), NUMERIC)
    assert [(r.index, r.errors) for r in out.rejected] == [
        (1, ("record 1: repeats the key(s) label",)),
        (2, ("label: NaN is not a number; send null for a missing value",)),
    ]
    assert json.loads(out.quarantined[0].payload) == {"id": "b", "label": 0}
    assert out.table.column("id").to_pylist() == ["a"]


def test_a_layout_without_a_target_takes_no_labels() -> None:
    layout = layout_for(spec_from_dict({"version": 1, "columns": {"x": {"role": "feature"}}}))
    with pytest.raises(ValueError, match="needs a layout with a target column"):
        validate_labels([{"id": "a", "label": 1}], layout, RULES)


# --- flat tables --------------------------------------------------------------------------


def checked_label_table(columns: dict[str, Any], layout: Any = BINARY) -> Validated:
    table = pa.table(columns)
    out = validate_label_table(table, layout, RULES)
    assert_consistent(out, table.num_rows, "label")
    return out


def test_a_label_table_is_accepted_in_the_stored_shape() -> None:
    out = checked_label_table(
        {"id": pa.array([1, 2], pa.int64()), "label": ["1", "0"], "timestamp": [SEEN, None]}
    )
    assert out.rejected == []
    assert out.table.schema == LABEL_SCHEMA
    assert out.table.to_pylist() == [
        {"id": "1", "label": "1", "timestamp": SEEN},
        {"id": "2", "label": "0", "timestamp": None},
    ]


def test_a_label_table_without_a_time_column_has_null_times() -> None:
    out = checked_label_table({"id": ["a"], "label": pa.array([2.5])}, NUMERIC)
    assert out.table.to_pylist() == [{"id": "a", "label": 2.5, "timestamp": None}]


def test_bad_label_rows_are_rejected_by_row() -> None:
    out = checked_label_table(
        {
            "id": ["a", None, "c", "d", "e"],
            "label": [1.5, 2.0, None, float("inf"), float("nan")],
            "timestamp": ["2026-11-23T09:00:00Z", None, None, None, "2026-11-24T00:00:00Z"],
        },
        NUMERIC,
    )
    assert [(r.index, r.errors) for r in out.rejected] == [
        (1, ("id: missing; every record needs a unique id",)),
        (2, ("label: null; send the true value",)),
        (3, ("label: not finite; send null for a missing value",)),
        (4, ("label: null; send the true value", "timestamp: ahead of the server's clock")),
    ]
    assert out.table.to_pylist() == [
        {"id": "a", "label": 1.5, "timestamp": datetime(2026, 11, 23, 9)}
    ]


def test_a_label_table_without_label_or_id_rejects_every_row() -> None:
    out = checked_label_table({"id": ["a", "b"], "y": ["1", "0"]})
    assert [r.errors for r in out.rejected] == [("label: missing column",)] * 2
    out = checked_label_table({"label": ["1", "0"]})
    assert [r.errors for r in out.rejected] == [("id: missing column; every row needs an id",)] * 2


def test_labels_agree_as_json_and_as_a_table() -> None:
    records = [
        {"id": "a", "label": "1", "timestamp": "2026-11-23T09:30:00Z"},
        {"id": "b", "label": None, "timestamp": None},
        {"id": "c", "label": "0", "timestamp": "2026-11-24T09:30:00Z"},
        {"id": None, "label": "0", "timestamp": None},
        {"id": "e", "label": "x\x00", "timestamp": None},
        {"id": "f", "label": "1", "timestamp": "2001-01-01T00:00:00"},
    ]
    as_json = checked_labels(records)
    as_table = checked_label_table(
        {k: [r[k] for r in records] for k in ("id", "label", "timestamp")}
    )
    assert (
        [r.index for r in as_json.rejected] == [r.index for r in as_table.rejected] == [1, 2, 3, 4]
    )
    assert as_json.table.equals(as_table.table)


def test_label_rejections_are_quarantined_as_labels() -> None:
    out = checked_labels([{"id": "a"}, {"id": "b", "label": "1"}])
    assert out.rejected == [
        Rejection(0, "a", ("label: missing; send the true value (null is not a label)",))
    ]
    assert out.quarantined[0].kind == "label"
    assert json.loads(out.quarantined[0].payload) == {"id": "a"}
