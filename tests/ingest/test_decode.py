"""Request bodies to records or tables: content types, strict JSON, Parquet/Arrow/CSV."""

from __future__ import annotations

import io
import json

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest

from vigil.errors import InputError
from vigil.ingest.decode import DUPLICATE, Unreadable, body_format, decode_json, decode_table
from vigil.json_value import NonFinite


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        ("application/json", "json"),
        ("application/json; charset=utf-8", "json"),
        ("Application/JSON ;charset=UTF-8", "json"),
        ("  application/json  ", "json"),
        ("application/vnd.apache.parquet", "parquet"),
        ("application/x-parquet", "parquet"),
        ("application/parquet", "parquet"),
        ("application/vnd.apache.arrow.stream", "arrow"),
        ("application/vnd.apache.arrow.file; q=1", "arrow"),
        ("application/x-arrow", "arrow"),
        ("text/csv", "csv"),
        ("text/csv; charset=utf-8; header=present", "csv"),
        ("text/plain", None),
        ("application/xml", None),
        ("application/json-seq", None),
        ("json", None),
        ("", None),
        (None, None),
    ],
)
def test_body_format_reads_the_media_type_and_ignores_parameters(
    content_type: str | None, expected: str | None
) -> None:
    assert body_format(content_type) == expected


# --- JSON ---------------------------------------------------------------------------------


def test_the_records_list_is_returned_as_sent() -> None:
    records = [{"id": "a", "features": {"x": 1.5, "é": "ü"}}, {"id": 2, "score": None}]
    assert decode_json(json.dumps({"records": records}).encode()) == records
    assert decode_json(json.dumps({"labels": records}).encode(), key="labels") == records


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"", "the body is empty"),
        (b"  \n\t", "the body is empty"),
        (b"[]", 'must be a JSON object {"records": [...]}'),
        (b'"records"', 'must be a JSON object {"records": [...]}'),
        (b'{"rows": []}', 'must be a JSON object {"records": [...]}'),
        (b'{"records": {"id": "a"}}', '"records" must be a list of objects; got an object'),
        (b'{"records": "a"}', '"records" must be a list of objects; got a string'),
        (b'{"records": null}', '"records" must be a list of objects; got null'),
        (b'{"records": [}', "the body is not valid JSON: Expecting value at line 1 column 14"),
        (b'{"records": []', "the body is not valid JSON"),
        (b"{'records': []}", "the body is not valid JSON"),
        (b'{"records": []} []', "the body is not valid JSON: Extra data"),
        (b'{"records": [], "records": []}', "the body repeats the key(s) records"),
        (b'{"a": 1, "records": [], "a": 2}', "the body repeats the key(s) a"),
        (b'{"records": ["\xff"]}', "the body is not UTF-8 text: invalid start byte at byte 14"),
    ],
)
def test_a_body_that_is_not_a_records_object_is_an_input_error(body: bytes, says: str) -> None:
    with pytest.raises(InputError) as caught:
        decode_json(body)
    assert says in str(caught.value)


def test_non_standard_literals_become_markers_not_floats() -> None:
    (record,) = decode_json(b'{"records": [{"a": NaN, "b": Infinity, "c": -Infinity, "d": 1}]}')
    assert all(type(record[k]) is NonFinite for k in "abc")
    assert [record[k] for k in "abc"] == ["NaN", "Infinity", "-Infinity"]
    assert record["d"] == 1


def test_repeated_keys_inside_records_are_marked_where_they_occur() -> None:
    body = b'{"records": [{"id": "a", "f": {"x": 1, "y": 2, "x": 3, "y": 4}}, {"id": "b"}]}'
    first, second = decode_json(body)
    assert first["f"][DUPLICATE] == ["x", "y"]
    assert first["f"]["x"] == 3  # the parser keeps the last; validation rejects the record
    assert DUPLICATE not in first
    assert second == {"id": "b"}


def test_key_like_text_inside_strings_does_not_hide_a_repeated_key() -> None:
    body = b'{"records": [{"id": "a\\":", "f": {"x": 1, "x": 2}}]}'
    (record,) = decode_json(body)
    assert record["id"] == 'a":'
    assert DUPLICATE in record["f"]


def test_integers_past_64_bits_stay_integers_and_past_a_double_mark_their_record() -> None:
    body = b'{"records": [{"a": 123456789012345678901234567890}, {"b": 1e400}]}'
    record, beyond = decode_json(body)
    assert record["a"] == 123456789012345678901234567890
    assert isinstance(beyond, Unreadable) and beyond.record == {"b": float("inf")}


def test_deep_nesting_is_refused_without_recursion_error() -> None:
    # 10,000 levels: past orjson's limit and CPython's recursion limit alike
    for body in (b"[" * 10_000, b'{"records": [' + b'{"a":' * 10_000):
        with pytest.raises(InputError, match="the JSON nests too deeply"):
            decode_json(body)


# --- tables -------------------------------------------------------------------------------

TABLE = pa.table(
    {
        "id": ["a", "b", "c"],
        "timestamp": ["2026-11-23T09:00:00Z", "2026-11-23T09:01:00Z", None],
        "age": [1.5, None, 3.0],
        "city": ["Lyon", "Paris", "Köln"],
    }
)


def _parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def _stream(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue())


def _file(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue())


def _csv(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pacsv.write_csv(table, sink)
    return sink.getvalue()


@pytest.mark.parametrize(
    ("fmt", "encode"),
    [("parquet", _parquet), ("arrow", _stream), ("arrow", _file)],
    ids=["parquet", "arrow stream", "arrow file"],
)
def test_binary_formats_read_back_the_table(fmt: str, encode: object) -> None:
    assert decode_table(encode(TABLE), fmt).equals(TABLE)  # type: ignore[operator]


def test_csv_reads_back_the_values_with_inferred_types() -> None:
    out = decode_table(_csv(TABLE), "csv")
    assert out.column_names == TABLE.column_names
    assert out.column("id").to_pylist() == ["a", "b", "c"]
    assert out.column("age").to_pylist() == [1.5, None, 3.0]
    assert out.column("city").to_pylist() == ["Lyon", "Paris", "Köln"]
    assert pa.types.is_timestamp(out.column("timestamp").type)


GARBAGE = b"this is not a table at all, \x00\x01\x02 honestly"


@pytest.mark.parametrize("fmt", ["parquet", "arrow"])
def test_garbage_is_an_input_error_naming_the_format(fmt: str) -> None:
    with pytest.raises(InputError, match=rf"^the body is not readable as {fmt}: "):
        decode_table(GARBAGE, fmt)


@pytest.mark.parametrize(
    "body",
    [
        b"a,b\n1,2,3\n",
        b"pr\xe9nom,age\nRen\xe9,4\n",  # Latin-1, header and values
        b"pr\xe9nom,age\nRene,4\n",  # Latin-1 in the header only
    ],
    ids=["ragged", "latin-1", "latin-1 header"],
)
def test_unreadable_csv_is_an_input_error_naming_the_format(body: bytes) -> None:
    with pytest.raises(InputError, match=r"^the body is not readable as csv: "):
        decode_table(body, "csv")


def test_csv_values_that_are_not_utf8_are_read_as_bytes_for_validation_to_reject() -> None:
    out = decode_table(b"id,name\na,Ren\xe9\nb,Rene\n", "csv")
    assert out.schema.field("name").type == pa.binary()
    assert out.column("name").to_pylist() == [b"Ren\xe9", b"Rene"]


@pytest.mark.parametrize("fmt", ["parquet", "arrow", "csv"])
def test_an_empty_body_is_an_input_error(fmt: str) -> None:
    with pytest.raises(InputError, match=f"the {fmt} body is empty"):
        decode_table(b"", fmt)


def test_a_truncated_parquet_body_is_an_input_error() -> None:
    body = _parquet(TABLE)
    with pytest.raises(InputError, match="not readable as parquet"):
        decode_table(body[: len(body) // 2], "parquet")


def test_json_is_not_read_as_a_table() -> None:
    with pytest.raises(InputError, match="bodies in json are read as records"):
        decode_table(b'{"records": []}', "json")


HOSTILE_VALUES = [
    ('{"id": "\\ud800"}', "id: '\\\\ud800' holds a lone surrogate; expected valid Unicode"),
    ('{"features": {"\\udc00x": 1}}', "features.\\udc00x: the field name"),
    ('{"features": {"a": [1, {"b": "\\ud800"}]}}', "features.a[1].b: '\\\\ud800' holds"),
    ('{"score": 1' + "0" * 400 + "}", "score: a number of 401 digits is beyond the range"),
    ('{"score": -' + "9" * 5000 + "}", "score: a number of 5000 digits is beyond the range"),
    ('{"latency_ms": 1e400}', "latency_ms: a number beyond the range of a 64-bit float"),
    ('{"\\ud800": 1}', "record 1: the field name '\\\\ud800' holds a lone surrogate"),
    ('"\\ud800"', "record 1: '\\\\ud800' holds a lone surrogate"),
]


@pytest.mark.parametrize(("record", "reason"), HOSTILE_VALUES)
def test_a_value_no_column_takes_marks_its_record_alone(record: str, reason: str) -> None:
    """Failed before: a lone surrogate reached Arrow (UnicodeEncodeError), 5,000 digits made
    json.loads raise ValueError and 10**400 made float() raise OverflowError: a 500."""
    body = f'{{"records": [{{"id": "a"}}, {record}, {{"id": "c", "score": 1e308}}]}}'
    first, bad, last = decode_json(body.encode())
    assert first == {"id": "a"} and last == {"id": "c", "score": 1e308}
    assert isinstance(bad, Unreadable)
    assert bad.reason.startswith(reason), bad.reason
    assert bad.reason.isascii() or "±" in bad.reason  # surrogates are shown as escapes
    bad.reason.encode("utf-8")


def test_an_unreadable_record_keeps_its_plain_id() -> None:
    [bad] = decode_json(b'{"records": [{"id": "r9", "error": "\\ud800"}]}')
    assert isinstance(bad, Unreadable)
    assert (bad.id, bad.reason.split(":")[0]) == ("r9", "error")
