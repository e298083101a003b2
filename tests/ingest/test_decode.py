"""Request bodies to records or tables: content types, strict JSON, Parquet/Arrow/CSV."""

from __future__ import annotations

import io
import json

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest
from tests.ingest import forged

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


@pytest.mark.parametrize("encode", [forged.arrow_stream, forged.arrow_file], ids=["stream", "file"])
def test_offsets_past_their_buffer_are_an_input_error_naming_the_column(encode: object) -> None:
    body = forged.patched_offsets(encode(forged.offsets_table(1.7e9)))  # type: ignore[operator]
    with pytest.raises(InputError, match=r"column 'id' is malformed: .*out of bounds"):
        decode_table(body, "arrow")


@pytest.mark.parametrize(
    ("fmt", "encode"),
    [("arrow", forged.arrow_stream), ("arrow", forged.arrow_file), ("parquet", forged.parquet)],
    ids=["stream", "file", "parquet"],
)
def test_string_columns_that_are_not_utf8_are_an_input_error_naming_the_column(
    fmt: str, encode: object
) -> None:
    table = pa.table({"id": ["a", "b"], "city": forged.not_utf8([b"ok", b"\xff\xfe"])})
    with pytest.raises(InputError, match=r"column 'city' is malformed: .*UTF8"):
        decode_table(encode(table), fmt)  # type: ignore[operator,arg-type]


def test_dictionary_indices_past_the_dictionary_are_an_input_error() -> None:
    table = pa.table({"id": ["x", "y", "z"], "city": forged.dictionary_past_its_end(3)})
    with pytest.raises(InputError, match=r"column 'city' is malformed: .*out of bounds"):
        decode_table(forged.arrow_stream(table), "arrow")


@pytest.mark.parametrize(
    ("fmt", "encode"),
    [("arrow", forged.arrow_stream), ("arrow", forged.arrow_file), ("parquet", forged.parquet)],
    ids=["stream", "file", "parquet"],
)
def test_a_body_holding_more_rows_than_allowed_is_refused(fmt: str, encode: object) -> None:
    batch = pa.record_batch({"x": pa.array([0.0] * 400)})
    table = pa.Table.from_batches([batch] * 3)  # three batches (row groups) of 400
    body = encode(table)  # type: ignore[operator]
    assert decode_table(body, fmt, max_rows=1200).num_rows == 1200  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"holds more than 1199 rows \(limits.max_pending"):
        decode_table(body, fmt, max_rows=1199)  # type: ignore[arg-type]


def _compressed(table: pa.Table, *, file: bool) -> bytes:
    sink = io.BytesIO()
    options = ipc.IpcWriteOptions(compression="zstd")
    opener = ipc.new_file if file else ipc.new_stream
    with opener(sink, table.schema, options=options) as writer:
        writer.write_table(table)
    return sink.getvalue()


@pytest.mark.parametrize("file", [False, True], ids=["stream", "file"])
def test_compressed_arrow_that_decompresses_past_the_bound_is_refused_unread(file: bool) -> None:
    n = 1_000_000
    body = _compressed(pa.table({"x": pa.array(np.zeros(n))}), file=file)
    assert len(body) < 2**16  # megabytes of values in kilobytes
    assert decode_table(body, "arrow", max_decoded=8 * n + 2**16).num_rows == n
    with pytest.raises(InputError, match=r"decompresses to more than 4000000 bytes"):
        decode_table(body, "arrow", max_decoded=4 * n)


def _repeated(n: int, size: int) -> pa.Table:
    """`n` rows of one `size`-byte value, dictionary-coded: tiny in a body, large decoded."""
    indices = pa.array(np.zeros(n, np.int32))
    return pa.table({"note": pa.DictionaryArray.from_arrays(indices, pa.array(["a" * size]))})


@pytest.mark.parametrize("fmt", ["arrow", "parquet", "parquet without its arrow schema"])
def test_dictionary_coded_text_that_decodes_past_the_bound_is_refused(fmt: str) -> None:
    table = _repeated(2_000, 10_000)  # 20 MB of text
    if fmt == "arrow":
        body = forged.arrow_stream(table)
    else:
        sink = io.BytesIO()
        pq.write_table(table, sink, store_schema=fmt == "parquet")
        body = sink.getvalue()
    assert len(body) < 2**16
    kind = fmt.split()[0]
    with pytest.raises(InputError, match=r"text decodes to more than 1000000 bytes .*'note'"):
        decode_table(body, kind, max_decoded=1_000_000)  # type: ignore[arg-type]
    read = decode_table(body, kind, max_decoded=21_000_000)  # type: ignore[arg-type]
    assert read.num_rows == 2_000
    plain = decode_table(body, kind)  # type: ignore[arg-type]
    assert read.schema == plain.schema  # the bound changes what is refused, not what is read


def test_uncompressed_arrow_within_the_bound_is_read() -> None:
    table = pa.table({"x": [1.0, 2.0], "s": ["a", "bc"]})
    for body in (forged.arrow_stream(table), forged.arrow_file(table)):
        assert decode_table(body, "arrow", max_decoded=len(body)).equals(table)
        with pytest.raises(InputError, match="decompresses to more than 10 bytes"):
            decode_table(body, "arrow", max_decoded=10)


def test_a_parquet_body_of_many_repeated_numbers_past_the_bound_is_refused_unread() -> None:
    n = 1_000
    table = pa.table({f"c{i}": pa.array(np.zeros(n)) for i in range(200)})  # 1.6 MB of zeros
    body = forged.parquet(table)
    assert len(body) < 2**18
    assert decode_table(body, "parquet", max_decoded=8 * 200 * n).num_rows == n
    with pytest.raises(InputError, match=r"holds 1000 rows of 1600 bytes of fixed-width values"):
        decode_table(body, "parquet", max_decoded=8 * 200 * n - 1)


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
