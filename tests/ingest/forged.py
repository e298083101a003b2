"""Forged table bodies, built byte by byte as an attacker would: offsets past their buffer,
string columns whose bytes are not UTF-8, dictionary indices past their dictionary."""

from __future__ import annotations

import io
import struct

import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq


def arrow_stream(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    with ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def arrow_file(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    with ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def patched_offsets(body: bytes) -> bytes:
    """The body with the string offsets [0, 1, 3, 6] turned into [0, 1, 3, 2000000000]."""
    before = struct.pack("<4i", 0, 1, 3, 6)
    at = body.find(before)
    assert at >= 0 and body.find(before, at + 1) < 0, "the offsets occur exactly once"
    return body[:at] + struct.pack("<4i", 0, 1, 3, 2_000_000_000) + body[at + 16 :]


def offsets_table(ts: float) -> pa.Table:
    """Three predictions whose ids "a", "bb", "ccc" have the offsets [0, 1, 3, 6]."""
    return pa.table({"id": ["a", "bb", "ccc"], "timestamp": [ts] * 3, "age": [30.0, 40.0, 50.0]})


def not_utf8(values: list[bytes]) -> pa.Array:
    """A string array holding these bytes as they are (Arrow checks nothing when building it)."""
    offsets = [0]
    for value in values:
        offsets.append(offsets[-1] + len(value))
    return pa.Array.from_buffers(
        pa.string(),
        len(values),
        [
            None,
            pa.py_buffer(struct.pack(f"<{len(offsets)}i", *offsets)),
            pa.py_buffer(b"".join(values)),
        ],
    )


def dictionary_past_its_end(n: int) -> pa.Array:
    """A dictionary column whose last index points past its two-entry dictionary."""
    indices = pa.array([0, 1] * (n // 2) + [7] * (n % 2 or 1), pa.int32())
    return pa.DictionaryArray.from_buffers(
        pa.dictionary(pa.int32(), pa.string()),
        len(indices),
        indices.buffers(),
        pa.array(["a", "b"]),
    )
