"""JSON prediction records against a layout: each bad record is rejected on its own, with the
field and what was expected, and the rest of the batch is accepted exactly."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from vigil.errors import InputError
from vigil.ingest.decode import decode_json
from vigil.ingest.layout import layout_for
from vigil.ingest.validate import (
    MAX_PAYLOAD_KEPT,
    MAX_TEXT_LENGTH,
    Rejection,
    TimeRules,
    _columns_at_once,
    _record_by_record,
    iso_time,
    parse_time,
    validate_predictions,
)
from vigil.spec import spec_from_dict

from .layouts import (
    BINARY,
    BINARY_SCHEMA,
    EPOCH,
    MULTICLASS,
    NOW,
    RULES,
    SEEN,
    VERSIONS,
    checked,
    checked_labels,
    good,
    good_row,
    with_feature,
)


def _without(key: str) -> dict[str, Any]:
    record = good(1)
    del record[key]
    return record


# (case, the bad record at index 1, the field its one reason starts with, what it must say)
BAD_RECORDS: list[tuple[str, Any, str, str]] = [
    ("missing id", _without("id"), "id", "missing; every record needs a unique id"),
    ("null id", good(1, id=None), "id", "missing"),
    ("boolean id", good(1, id=True), "id", "got a boolean, expected a string or an integer"),
    ("float id", good(1, id=1.5), "id", "got a number, expected a string or an integer"),
    ("object id", good(1, id={"a": 1}), "id", "got an object, expected a string or an integer"),
    ("array id", good(1, id=["r1"]), "id", "got an array, expected a string or an integer"),
    ("empty id", good(1, id=""), "id", "must be 1 to 256 characters without NUL"),
    ("long id", good(1, id="x" * 257), "id", "must be 1 to 256 characters without NUL"),
    ("NUL in id", good(1, id="r\x001"), "id", "must be 1 to 256 characters without NUL"),
    ("missing time", _without("timestamp"), "timestamp", "missing; every record needs a time"),
    ("null time", good(1, timestamp=None), "timestamp", "missing; every record needs a time"),
    ("text time", good(1, timestamp="yesterday"), "timestamp", "'yesterday' is not an ISO-8601"),
    ("bad date", good(1, timestamp="2026-13-01T00:00:00Z"), "timestamp", "is not an ISO-8601"),
    ("boolean time", good(1, timestamp=True), "timestamp", "got a boolean, expected a number"),
    ("object time", good(1, timestamp={}), "timestamp", "got an object, expected a number"),
    ("huge epoch", good(1, timestamp=1e17), "timestamp", "too large for epoch seconds"),
    (
        "far future",
        good(1, timestamp="2026-11-23T11:00:01Z"),
        "timestamp",
        "2026-11-23T11:00:01Z is more than 1:00:00 ahead of the server's clock",
    ),
    (
        "too late",
        good(1, timestamp="2026-10-24T09:59:59Z"),
        "timestamp",
        "older than the lateness horizon (30d, limits.lateness); its windows are closed",
    ),
    ("unknown version", good(1, model_version="v9"), "model_version", "'v9' is not registered"),
    ("number version", good(1, model_version=2), "model_version", "'2' is not registered"),
    (
        "features not an object",
        good(1, features=[1, 2]),
        "features",
        "got an array, expected an object of name: value",
    ),
    ("features a string", good(1, features="age=4"), "features", "got a string, expected an obj"),
    (
        "string for numeric",
        with_feature(1, "age", "41"),
        "features.age",
        "got a string, expected a number or null",
    ),
    ("boolean for numeric", with_feature(1, "age", True), "features.age", "got a boolean"),
    (
        "float for categorical",
        with_feature(1, "city", 1.5),
        "features.city",
        "got a number, expected a string, an integer or null",
    ),
    (
        "number for boolean",
        with_feature(1, "vip", 1),
        "features.vip",
        "got a number, expected true, false or null",
    ),
    ("string for boolean", with_feature(1, "vip", "true"), "features.vip", "got a string"),
    ("object feature", with_feature(1, "age", {"v": 1}), "features.age", "got an object"),
    ("array feature", with_feature(1, "city", ["Lyon"]), "features.city", "got an array"),
    ("nested extra", with_feature(1, "zz", {"a": [1]}), "features.zz", "got an object, expected a"),
    (
        "array extra",
        with_feature(1, "zz", [1, 2]),
        "features.zz",
        "got an array, expected a scalar",
    ),
    ("bad datetime", with_feature(1, "signup", "soon"), "features.signup", "'soon' is not an ISO"),
    ("NUL in text", with_feature(1, "note", "a\x00b"), "features.note", "contains a NUL character"),
    ("NUL in extra", with_feature(1, "zz", "a\x00b"), "features.zz", "contains a NUL character"),
    (
        "text too long",
        with_feature(1, "note", "x" * (MAX_TEXT_LENGTH + 1)),
        "features.note",
        f"{MAX_TEXT_LENGTH + 1} characters, more than {MAX_TEXT_LENGTH}",
    ),
    ("inf feature", with_feature(1, "age", float("inf")), "features.age", "inf is not finite"),
    ("nan feature", with_feature(1, "age", float("nan")), "features.age", "nan is not finite"),
    ("NUL in error", good(1, error="boom\x00"), "error", "contains a NUL character"),
    ("number error", good(1, error=1.5), "error", "got a number, expected a string"),
    (
        "unknown field",
        good(1, extra_field=1),
        "extra_field",
        "unknown field(s); expected only id, timestamp, model_version, features, prediction, "
        "score, latency_ms, error, segments",
    ),
    (
        "unknown segment",
        good(1, segments={"country": "fr"}),
        "segments.country",
        "not a segment column of the spec; segment columns: region",
    ),
    ("segments an array", good(1, segments=["south"]), "segments", "got an array, expected an"),
    ("float segment", good(1, segments={"region": 1.5}), "segments.region", "got a number"),
    (
        "score as classes, binary model",
        good(1, score={"1": 0.8}),
        "score.1",
        "not a class with a score column",
    ),
    ("string score", good(1, score="0.8"), "score", "got a string, expected a number or null"),
    ("infinite score", good(1, score=float("-inf")), "score", "-inf is not finite"),
    ("float prediction", good(1, prediction=0.5), "prediction", "got a number, expected a string"),
    (
        "negative latency",
        good(1, latency_ms=-1),
        "latency_ms",
        "-1.0 is negative; expected milliseconds >= 0",
    ),
    ("string latency", good(1, latency_ms="5ms"), "latency_ms", "got a string, expected a number"),
]


@pytest.mark.parametrize(
    ("bad", "field", "says"), [c[1:] for c in BAD_RECORDS], ids=[c[0] for c in BAD_RECORDS]
)
def test_a_bad_record_is_rejected_with_its_field_and_the_rest_is_accepted(
    bad: dict[str, Any], field: str, says: str
) -> None:
    out = checked([good(0), bad, good(2)])
    assert len(out.rejected) == 1
    rejection = out.rejected[0]
    assert rejection.index == 1
    assert rejection.id == ("r1" if bad.get("id") == "r1" else None)  # only a usable id is kept
    assert len(rejection.errors) == 1, rejection.errors
    reason = rejection.errors[0]
    assert reason.startswith(f"{field}: "), reason
    assert says in reason, reason
    assert out.table.schema.names[: len(BINARY_SCHEMA)] == BINARY_SCHEMA.names
    assert out.table.select(BINARY_SCHEMA.names).schema == BINARY_SCHEMA
    assert out.table.select(BINARY_SCHEMA.names).to_pylist() == [good_row(0), good_row(2)]
    assert out.quarantined[0].payload == json.dumps(bad)[:MAX_PAYLOAD_KEPT], "the record as sent"


def test_a_record_that_is_not_an_object_is_rejected_without_an_id() -> None:
    out = checked([good(0), "r1", None, [good(3)], good(4)])
    assert out.rejected == [
        Rejection(1, None, ("record 1: got a string, expected an object",)),
        Rejection(2, None, ("record 2: got null, expected an object",)),
        Rejection(3, None, ("record 3: got an array, expected an object",)),
    ]
    assert out.table.column("id").to_pylist() == ["r0", "r4"]
    assert [json.loads(q.payload) for q in out.quarantined] == ["r1", None, [good(3)]]


def test_every_reason_of_a_record_is_given_at_once() -> None:
    bad = good(1, id=True, timestamp="soon", features={"age": "x", "vip": 2}, latency_ms=-3)
    (rejection,) = checked([bad]).rejected
    fields = [reason.split(":")[0] for reason in rejection.errors]
    assert sorted(fields) == ["features.age", "features.vip", "id", "latency_ms", "timestamp"]


def test_an_integer_id_is_kept_as_text() -> None:
    out = checked([good(0, id=7), good(1, id=-(2**70))])
    assert out.rejected == []
    assert out.table.column("id").to_pylist() == ["7", str(-(2**70))]
    assert out.table.schema.field("id").type == pa.string()


def test_ids_of_256_characters_are_the_longest_taken() -> None:
    out = checked([good(0, id="x" * 256), good(1, id="é" * 256), good(2, id="é" * 257)])
    assert [r.index for r in out.rejected] == [2]
    assert out.table.column("id").to_pylist() == ["x" * 256, "é" * 256]


# The same instant, 2026-11-23 09:30:15.25 UTC, written every way the API takes.
INSTANT = datetime(2026, 11, 23, 9, 30, 15, 250000)
SECONDS = (INSTANT - EPOCH) // timedelta(microseconds=1) / 1e6
SAME_INSTANT = [
    "2026-11-23T09:30:15.250Z",
    "2026-11-23T09:30:15.250000+00:00",
    "2026-11-23T10:30:15.250+01:00",
    "2026-11-23T04:30:15.250-05:00",
    "2026-11-24T01:00:15.250+15:30",
    "2026-11-23T09:30:15.250",
    "2026-11-23 09:30:15.250",
    SECONDS,
    int(SECONDS * 1000),
    float(SECONDS * 1000),
    int(SECONDS * 1_000_000),
]


@pytest.mark.parametrize("written", SAME_INSTANT, ids=repr)
def test_every_time_format_decodes_to_the_same_naive_utc_instant(written: object) -> None:
    out = checked([good(0, timestamp=written)])
    assert out.rejected == []
    assert out.table.column("timestamp").to_pylist() == [INSTANT]
    assert parse_time(written, "timestamp") == INSTANT


@pytest.mark.parametrize("written", ["0001-01-01T00:30+01:00", "9999-12-31T23:59-01:00"])
def test_an_iso_time_whose_utc_instant_leaves_the_calendar_is_rejected_not_a_crash(
    written: str,
) -> None:
    out = checked([good(0, timestamp=written), good(1)])
    assert [(r.index, r.errors) for r in out.rejected] == [
        (0, (f"timestamp: {written!r} is outside the years 1-9999 in UTC; send e.g. "
             "'2026-11-23T10:00:00Z' or epoch seconds",)),
    ]  # fmt: skip
    with pytest.raises(ValueError, match="outside the years 1-9999 in UTC"):
        iso_time(written)


def test_epoch_units_are_told_apart_by_size() -> None:
    instant = datetime(2026, 11, 23, 9, 0)
    seconds = int((instant - EPOCH).total_seconds())
    out = checked([good(i, timestamp=seconds * 1000**i) for i in range(3)])
    assert out.table.column("timestamp").to_pylist() == [instant] * 3


def test_the_time_limits_are_inclusive() -> None:
    edge = RULES.now + RULES.max_future
    late = RULES.now - RULES.lateness
    out = checked(
        [
            good(0, timestamp=edge.isoformat()),
            good(1, timestamp=(edge + timedelta(microseconds=1)).isoformat()),
            good(2, timestamp=late.isoformat()),
            good(3, timestamp=(late - timedelta(microseconds=1)).isoformat()),
        ]
    )
    assert [r.index for r in out.rejected] == [1, 3]
    assert "ahead of the server's clock" in out.rejected[0].errors[0]
    assert "lateness horizon (30d, limits.lateness)" in out.rejected[1].errors[0]
    assert out.table.column("timestamp").to_pylist() == [edge, late]


@pytest.mark.parametrize(
    ("lateness", "shown", "sent"),
    [
        (timedelta(hours=6), "6h", "2026-11-23T03:59:00Z"),
        (timedelta(days=2), "2d", "2026-11-21T09:59:00Z"),
        (timedelta(minutes=90), "90m", "2026-11-23T08:29:00Z"),
        (timedelta(seconds=45), "45s", "2026-11-23T09:59:14Z"),
        (timedelta(seconds=1.5), "0:00:01.500000", "2026-11-23T09:59:58Z"),
    ],
)
def test_the_lateness_message_names_the_setting_that_lets_older_records_in(
    lateness: timedelta, shown: str, sent: str
) -> None:
    rules = TimeRules(now=NOW, lateness=lateness, max_future=timedelta(minutes=5))
    out = checked([good(0, timestamp=sent)], rules=rules)
    (reason,) = out.rejected[0].errors
    assert reason == (
        f"timestamp: {sent} is older than the lateness horizon ({shown}, limits.lateness); its "
        "windows are closed. To take older records, raise limits.lateness in the service "
        "config (docs/config.md) and restart the service"
    )
    assert "backfill" not in reason, "vigil backfill recomputes windows; it takes no records"


def test_a_missing_model_version_is_the_default_one() -> None:
    out = checked([good(0, model_version=None), _without("model_version"), good(2)])
    assert out.table.column("model_version").to_pylist() == ["v1", "v1", "v2"]


def test_missing_features_are_nulls_not_rejections() -> None:
    bare = {"id": "r1", "timestamp": 1795424400}
    out = checked([good(0), bare, good(2, features={}), good(3, features=None)])
    assert out.rejected == []
    assert out.table.schema == BINARY_SCHEMA
    rows = out.table.to_pylist()
    for row in rows[1:]:
        assert [row[n] for n in ("age", "city", "vip", "note", "signup")] == [None] * 5
    assert rows[1] == {
        **{name: None for name in BINARY_SCHEMA.names},
        "id": "r1",
        "timestamp": datetime(2026, 11, 23, 9, 0),
        "model_version": "v1",
    }
    assert rows[2]["proba"] == rows[3]["proba"] == 0.83


def test_unknown_features_are_kept_as_text_columns_and_listed() -> None:
    out = checked(
        [
            with_feature(0, "zz", "a"),
            good(1),
            with_feature(2, "zz", 5),
            with_feature(3, "flag", False),
            with_feature(4, "zz", None),
            with_feature(5, "ratio", 0.5),
        ]
    )
    assert out.rejected == []
    assert out.extras == ["zz", "flag", "ratio"]  # in the order first sent
    assert out.table.schema.names == [*BINARY_SCHEMA.names, "zz", "flag", "ratio"]
    for name in out.extras:
        assert out.table.schema.field(name).type == pa.string()
    assert out.table.column("zz").to_pylist() == ["a", None, "5", None, None, None]
    assert out.table.column("flag").to_pylist() == [None, None, None, "false", None, None]
    assert out.table.column("ratio").to_pylist() == [None, None, None, None, None, "0.5"]


def test_no_extras_gives_no_extra_columns() -> None:
    out = checked([good(0), with_feature(1, "zz", None)])
    assert out.extras == []
    assert out.table.schema == BINARY_SCHEMA


SQL = "x'; DROP TABLE p_1; --"
ODD_NAMES = [SQL, "âge 年齢", 'y"); DELETE FROM models; --', "🚀", "a.b", "  ", "select"]


def test_unicode_and_sql_looking_names_and_values_pass_through_untouched() -> None:
    layout = layout_for(
        spec_from_dict(
            {
                "version": 1,
                "columns": {
                    SQL: {"role": "feature", "kind": "numeric"},
                    "âge 年齢": {"role": "feature", "kind": "categorical"},
                    "région": {"role": "segment", "kind": "categorical"},
                },
            }
        )
    )
    features = {SQL: 1.5, "âge 年齢": "値 ☃ '; --", **{n: n for n in ODD_NAMES[2:]}}
    body = json.dumps(
        {
            "records": [
                {
                    "id": "✓ é 🚀",
                    "timestamp": "2026-11-23T09:30:00Z",
                    "features": features,
                    "segments": {"région": "Île-de-France"},
                },
            ]
        },
        ensure_ascii=False,
    ).encode()
    out = checked(decode_json(body), layout)
    assert out.rejected == []
    assert out.extras == ODD_NAMES[2:]
    (row,) = out.table.to_pylist()
    assert row["id"] == "✓ é 🚀"
    assert row[SQL] == 1.5
    assert row["âge 年齢"] == "値 ☃ '; --"
    assert row["région"] == "Île-de-France"
    for name in ODD_NAMES[2:]:
        assert row[name] == name


@pytest.mark.parametrize(
    "name",
    ["id", "timestamp", "model_version", "latency_ms", "error", "pred", "proba", "region", "y"],
)
def test_a_feature_named_like_another_field_is_rejected_not_merged(name: str) -> None:
    # kept as an extra, it would replace that column for every record of the batch
    out = checked([with_feature(0, name, "v"), good(1)])
    assert [(r.index, r.id) for r in out.rejected] == [(0, "r0")]
    (reason,) = out.rejected[0].errors
    assert reason.startswith(f"features.{name}: not a feature of the spec but the name of")
    assert out.extras == []
    assert out.table.to_pylist() == [good_row(1)]


def test_a_feature_named_like_the_spec_id_or_time_column_is_rejected() -> None:
    layout = layout_for(
        spec_from_dict(
            {
                "version": 1,
                "columns": {
                    "x": {"role": "feature"},
                    "rid": {"role": "id"},
                    "at": {"role": "timestamp"},
                },
            }
        )
    )
    base = {"id": "a", "timestamp": SEEN.isoformat()}
    out = checked(
        [{**base, "features": {"rid": "b"}}, {**base, "features": {"at": 1}}, base], layout
    )
    assert [r.index for r in out.rejected] == [0, 1]
    assert out.extras == []


def test_multiclass_scores_are_objects_of_class_probability() -> None:
    def record(i: int, score: Any) -> dict[str, Any]:
        return {"id": f"r{i}", "timestamp": SEEN.isoformat(), "score": score, "prediction": "a"}

    out = checked(
        [
            record(0, {"a": 0.25, "b": 0.75}),
            record(1, 0.5),
            record(2, {"a": 0.5, "c": 0.5}),
            record(3, {"a": "high"}),
            record(4, {"b": 1}),
            record(5, "0.5"),
        ],
        MULTICLASS,
    )
    assert [(r.index, r.errors) for r in out.rejected] == [
        (1, ("score: got a number, expected an object of class: probability",)),
        (2, ("score.c: not a class with a score column; classes: a, b",)),
        (3, ("score.a: got a string, expected a number or null",)),
        (5, ("score: got a string, expected an object of class: probability",)),
    ]
    assert out.table.select(["id", "p_a", "p_b"]).to_pylist() == [
        {"id": "r0", "p_a": 0.25, "p_b": 0.75},
        {"id": "r4", "p_a": None, "p_b": 1.0},
    ]


def test_a_model_without_a_prediction_column_rejects_a_prediction() -> None:
    layout = layout_for(spec_from_dict({"version": 1, "columns": {"x": {"role": "feature"}}}))
    out = checked(
        [
            {"id": "a", "timestamp": SEEN.isoformat(), "features": {"x": 1}},
            {"id": "b", "timestamp": SEEN.isoformat(), "prediction": "1"},
            {"id": "c", "timestamp": SEEN.isoformat(), "score": 0.5},
        ],
        layout,
    )
    assert [(r.index, r.errors) for r in out.rejected] == [
        (1, ("prediction: the model's spec has no prediction column",)),
        (2, ("score: the model's spec has no score column",)),
    ]
    assert out.table.column_names == [
        "id",
        "timestamp",
        "model_version",
        "latency_ms",
        "error",
        "x",
    ]


def test_values_of_every_accepted_kind_convert() -> None:
    out = checked(
        [
            good(0, features={"age": -0.5, "city": 12, "vip": False, "signup": 1577934245}),
            good(1, features={"city": True, "age": 10**20}, prediction=0, segments={"region": 7}),
        ]
    )
    assert out.rejected == []
    rows = out.table.to_pylist()
    assert [r["age"] for r in rows] == [-0.5, 1e20]
    assert [r["city"] for r in rows] == ["12", "true"]
    assert [r["vip"] for r in rows] == [False, None]
    assert [r["signup"] for r in rows] == [datetime(2020, 1, 2, 3, 4, 5), None]
    assert [r["pred"] for r in rows] == ["1", "0"]
    assert [r["region"] for r in rows] == ["south", "7"]


def test_an_empty_batch_gives_an_empty_table_of_the_layout() -> None:
    out = checked([])
    assert out.table.schema == BINARY_SCHEMA
    assert out.table.num_rows == 0


# --- from raw JSON bytes: the literals and repeated keys the standard parser lets through ---


def _body(*records: str) -> bytes:
    return ('{"records": [' + ", ".join(records) + "]}").encode()


GOOD = '{"id": "%s", "timestamp": "2026-11-23T09:30:00Z", "features": {%s}}'


def test_nan_and_infinity_literals_are_rejected_per_record() -> None:
    body = _body(
        GOOD % ("r0", '"age": 1'),
        GOOD % ("r1", '"age": NaN'),
        GOOD % ("r2", '"age": Infinity'),
        GOOD % ("r3", '"age": -Infinity'),
        GOOD % ("r4", '"zz": NaN'),
        GOOD % ("r5", '"city": NaN'),
        GOOD % ("r6", '"vip": Infinity'),
        '{"id": "r7", "timestamp": "2026-11-23T09:30:00Z", "score": NaN}',
        '{"id": "r8", "timestamp": NaN}',
        '{"id": NaN, "timestamp": "2026-11-23T09:30:00Z"}',
        '{"id": "r10", "timestamp": "2026-11-23T09:30:00Z", "latency_ms": Infinity}',
        GOOD % ("r11", '"age": 2'),
    )
    out = checked(decode_json(body))
    assert [(r.index, r.id, r.errors) for r in out.rejected] == [
        (1, "r1", ("features.age: NaN is not a number; send null for a missing value",)),
        (2, "r2", ("features.age: Infinity is not a number; send null for a missing value",)),
        (3, "r3", ("features.age: -Infinity is not a number; send null for a missing value",)),
        (4, "r4", ("features.zz: NaN is not a number; send null for a missing value",)),
        (5, "r5", ("features.city: got NaN (not JSON), expected a string, an integer or null",)),
        (6, "r6", ("features.vip: got Infinity (not JSON), expected true, false or null",)),
        (7, "r7", ("score: NaN is not a number; send null for a missing value",)),
        (8, "r8", ("timestamp: NaN is not a number; send null for a missing value",)),
        (9, None, ("id: got NaN (not JSON), expected a string or an integer",)),
        (10, "r10", ("latency_ms: Infinity is not a number; send null for a missing value",)),
    ]
    assert out.table.column("id").to_pylist() == ["r0", "r11"]
    assert out.table.column("age").to_pylist() == [1.0, 2.0]
    assert out.extras == []  # the NaN extra was rejected, so no column was made for it


def test_repeated_keys_inside_one_record_reject_that_record_only() -> None:
    body = _body(
        GOOD % ("r0", '"age": 1'),
        GOOD % ("r1", '"age": 1, "age": 2'),
        '{"id": "r2", "timestamp": "2026-11-23T09:30:00Z", "segments": {"region": "a", '
        '"region": "b"}}',
        '{"id": "r3", "timestamp": "2026-11-23T09:30:00Z", "score": {"a": 1, "a": 2}}',
        '{"id": "x", "id": "r4", "timestamp": "2026-11-23T09:30:00Z"}',
        GOOD % ("r5", '"city": "Lyon"'),
    )
    out = checked(decode_json(body))
    assert [(r.index, r.id, r.errors) for r in out.rejected] == [
        (1, "r1", ("features: repeats the key(s) age",)),
        (2, "r2", ("segments: repeats the key(s) region",)),
        (3, "r3", ("score: repeats the key(s) a",)),
        (4, "r4", ("record 4: repeats the key(s) id",)),
    ]
    assert out.table.column("id").to_pylist() == ["r0", "r5"]
    # the payload is the record as JSON, without the parser's marker
    assert json.loads(out.quarantined[0].payload)["features"] == {"age": 2}
    assert json.loads(out.quarantined[3].payload) == {
        "id": "r4",
        "timestamp": "2026-11-23T09:30:00Z",
    }


def test_quarantined_records_keep_their_payload_as_json_text() -> None:
    records = [good(0), good(1, id=True), with_feature(2, "age", "x"), good(3)]
    out = checked(records)
    assert [q.index for q in out.quarantined] == [1, 2]
    assert [q.record_id for q in out.quarantined] == [None, "r2"]
    assert [json.loads(q.payload) for q in out.quarantined] == [records[1], records[2]]


def test_a_huge_rejected_record_is_kept_truncated() -> None:
    record = with_feature(1, "note", "x" * 100_000)
    (kept,) = checked([record]).quarantined
    assert len(kept.payload) == 8192
    assert kept.payload.startswith('{"id": "r1"')


def test_a_value_nested_as_deep_as_the_parser_reads_is_rejected_not_a_crash() -> None:
    for depth in (50, 1000):
        nested = "[" * depth + "]" * depth
        body = _body(GOOD % ("r0", '"age": 1'), GOOD % ("r1", f'"zz": {nested}'))
        out = checked(decode_json(body))
        assert [(r.index, r.errors) for r in out.rejected] == [
            (1, ("features.zz: got an array, expected a scalar",))
        ]
        assert out.table.column("id").to_pylist() == ["r0"]


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 10_000,
        b'{"records": ' + b"[" * 10_000 + b"]" * 10_000 + b"}",
        b'{"records": [{"id": "a", "features": '
        + b'{"a": ' * 10_000
        + b"1"
        + b"}" * 10_001
        + b"]}",
    ],
    ids=["arrays", "records", "objects"],
)
def test_json_nested_ten_thousand_deep_is_an_input_error(body: bytes) -> None:
    with pytest.raises(InputError, match="nests too deeply"):
        decode_json(body)


def test_unreadable_records_are_rejected_with_their_reason() -> None:
    """A record decode_json could not make readable is rejected alone, for both kinds."""
    body = json.dumps({"records": [good(0), good(1, error="@"), good(2)]})
    records = decode_json(body.replace('"@"', '"\\ud800"').encode())
    out = checked(records)
    assert out.table.num_rows == 2
    [rejection] = out.rejected
    assert (rejection.index, rejection.id) == (1, "r1")
    assert rejection.errors[0].startswith("error: '\\\\ud800' holds a lone surrogate")
    labels = decode_json(b'{"records": [{"id": "a", "label": "1"}, {"id": "b", "label": 1e999}]}')
    out = checked_labels(labels)
    assert out.table.num_rows == 1
    assert [(r.index, r.id) for r in out.rejected] == [(1, "b")]
    assert out.rejected[0].errors[0].startswith("label: a number beyond the range")


def _value() -> st.SearchStrategy[Any]:
    return (
        st.none()
        | st.booleans()
        | st.integers(-(2**70), 2**70)
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.sampled_from(["Lyon", "", "x\x00", "1", "2026-11-23T09:00:00Z", "🚀"])
        | st.lists(st.integers(), max_size=1)
    )


SECONDS = (NOW - EPOCH).total_seconds()
TIMES = (
    st.floats(SECONDS - 40 * 86400, SECONDS + 7200)
    | st.integers(int(SECONDS) - 40 * 86400, int(SECONDS) + 7200)
    | st.just("2026-11-23T09:30:00Z")
    | st.just(1e13)
    | st.none()
)
FIELD_CHANGES = st.fixed_dictionaries(
    {},
    optional={
        "id": st.text(max_size=3) | st.integers() | st.none() | st.just("r\x00"),
        "timestamp": TIMES,
        "model_version": st.sampled_from([None, "v1", "v2", "v9", 2]),
        "latency_ms": st.none() | st.floats(-5, 50) | st.integers(-3, 9) | st.booleans(),
        "error": st.none() | st.text(max_size=3) | st.integers(),
        "prediction": _value(),
        "score": _value() | st.just({"a": 0.5}),
        "segments": st.none() | st.just({"region": "n"}) | st.just({"zone": "n"}),
        "extra": st.just(1),
    },
)
FEATURE_CHANGES = st.dictionaries(
    st.sampled_from(["age", "city", "vip", "note", "signup", "zz", "pred"]), _value(), max_size=3
)
# changes a record passes with: most batches of these go the column path
VALID_FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "id": st.text(min_size=1, max_size=3).filter(lambda t: "\x00" not in t),
        "timestamp": st.floats(SECONDS - 29 * 86400, SECONDS + 3000)
        | st.integers(int(SECONDS) - 29 * 86400, int(SECONDS) + 3000),
        "model_version": st.sampled_from([None, "v1", "v2"]),
        "latency_ms": st.none() | st.floats(0, 50) | st.integers(0, 9),
        "error": st.none() | st.text(max_size=3).filter(lambda t: "\x00" not in t),
        "prediction": st.none() | st.sampled_from(["0", "1", "yes"]),
        "score": st.none() | st.floats(0, 1) | st.integers(0, 1),
        "segments": st.none() | st.just({"region": "n"}) | st.just({}),
    },
)
VALID_FEATURES = st.fixed_dictionaries(
    {},
    optional={
        "age": st.none() | st.floats(-1e300, 1e300) | st.integers(-(2**70), 2**70),
        "city": st.none() | st.text(max_size=3).filter(lambda t: "\x00" not in t),
        "vip": st.none() | st.booleans(),
        "signup": st.none() | st.just("2020-01-02T03:04:05") | st.just(1.5e9),
    },
)
CHANGES = st.tuples(VALID_FIELDS, VALID_FEATURES) | st.tuples(FIELD_CHANGES, FEATURE_CHANGES)


@settings(max_examples=300, deadline=None)
@given(
    changes=st.lists(CHANGES, min_size=1, max_size=5),
    drop_features=st.booleans(),
)
def test_the_column_path_and_the_record_walk_agree(
    changes: list[tuple[dict[str, Any], dict[str, Any]]], drop_features: bool
) -> None:
    """validate_predictions takes a batch column by column when every record passes; the
    answer must be what the record-by-record walk gives, for any batch."""
    batch = []
    for i, (fields, features) in enumerate(changes):
        record = good(i, **fields)
        record["features"] = {**record["features"], **features}
        if drop_features:
            del record["features"]
        batch.append(record)
    whole = _columns_at_once(batch, BINARY, VERSIONS, "v1", RULES)
    event("column path" if whole is not None else "record walk")
    fast = validate_predictions(batch, BINARY, VERSIONS, "v1", RULES)
    slow = _record_by_record(batch, BINARY, VERSIONS, "v1", RULES)
    assert fast.table.equals(slow.table, check_metadata=True)
    assert fast.rejected == slow.rejected
    assert fast.quarantined == slow.quarantined
    assert fast.extras == slow.extras


def test_a_batch_that_passes_is_taken_column_by_column() -> None:
    """The walk is not needed for a clean batch (the ingest benchmark's case)."""
    batch = [good(i, timestamp=(NOW - EPOCH).total_seconds() - i) for i in range(50)]
    whole = _columns_at_once(batch, BINARY, VERSIONS, "v1", RULES)
    assert whole is not None
    assert whole.table.equals(_record_by_record(batch, BINARY, VERSIONS, "v1", RULES).table)
    assert _columns_at_once([*batch, good(50, id=None)], BINARY, VERSIONS, "v1", RULES) is None
