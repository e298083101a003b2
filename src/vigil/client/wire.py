"""What the SDK puts on the wire and reads back: column batches, JSON records, Arrow, answers.

Everything here runs on the sender thread (frames are converted to Arrow on the caller's
thread, as a snapshot). Imports nothing else of vigil; pyarrow only when a frame is logged.
"""

from __future__ import annotations

import datetime as dt
import decimal
import email.utils
import inspect
import json
import math
import operator
import os
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from vigil.client.transport import httpx

ARROW_STREAM = "application/vnd.apache.arrow.stream"
JSON = "application/json"
COLUMNS = "application/vnd.vigil.columns+json"
COLUMNS_ARROW = "application/vnd.vigil.columns+arrow"
Kind = Literal["predictions", "labels"]


@dataclass(frozen=True, slots=True)
class Answer:
    """What a 2xx answer says became of a batch; the four counts add up to its size."""

    accepted: int
    duplicates: int
    conflicts: int
    rejected: int
    reasons: tuple[str, ...]  # one line per rejected record, or about an odd answer


def complete_record(
    record: Mapping[str, Any], kind: Kind, version: str | None, logged_at: float, fresh_id: str
) -> dict[str, Any]:
    """The record with the fields the SDK fills in: id (`fresh_id`), timestamp (when it was
    logged), version. A label needs the id of its prediction, so a label without one is refused.
    """
    out = dict(record)
    if out.get("id") is None:
        if kind == "labels":
            raise ValueError("a label needs the id of its prediction; it has no 'id'")
        out["id"] = fresh_id
    if out.get("timestamp") is None:
        out["timestamp"] = logged_at
    if version is not None and kind == "predictions" and out.get("model_version") is None:
        out["model_version"] = str(version)
    return out


def new_ids(n: int) -> list[str]:
    """`n` random version-4 UUIDs as 32 hex digits, like `uuid.uuid4().hex`, ten times faster
    for a batch (one urandom call)."""
    raw = bytearray(os.urandom(16 * n))
    raw[6::16] = bytes(b & 0x0F | 0x40 for b in raw[6::16])  # the version: 4
    raw[8::16] = bytes(b & 0x3F | 0x80 for b in raw[8::16])  # the variant: RFC 4122
    digits = raw.hex()
    return [digits[i : i + 32] for i in range(0, 32 * n, 32)]


def encode_record(record: Mapping[str, Any]) -> bytes:
    """One record as JSON; a NaN is sent as null (the server's missing value), infinity refused."""
    try:
        return _ENCODER.encode(record).encode()
    except ValueError:  # NaN somewhere; pandas and numpy use it for "missing"
        return _ENCODER.encode(_nan_to_none(record, 0)).encode()


def json_body(parts: list[bytes]) -> bytes:
    """A JSON batch from records encoded one by one (so one bad record spoils only itself)."""
    return b'{"records":[' + b",".join(parts) + b"]}"


def _json_default(value: Any) -> Any:
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, decimal.Decimal):
        return float(value)
    item = getattr(value, "item", None)
    if callable(item):  # numpy (and torch) scalars and one-element arrays
        return item()
    raise TypeError(f"{type(value).__name__} {value!r:.80} is not a JSON value")


# One encoder, made once: json.dumps with options would build a new one per record.
_ENCODER = json.JSONEncoder(
    allow_nan=False, ensure_ascii=False, separators=(",", ":"), default=_json_default
)


def _nan_to_none(value: Any, depth: int) -> Any:
    if depth > 4:  # records are flat; deeper nesting is refused by the server anyway
        return value
    if isinstance(value, float) or callable(getattr(value, "item", None)):
        number = value if isinstance(value, float) else _json_default(value)
        return None if isinstance(number, float) and math.isnan(number) else number
    if isinstance(value, Mapping):
        return {k: _nan_to_none(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_nan_to_none(v, depth + 1) for v in value]
    return value


def to_arrow(frame: Any) -> Any:
    """A pandas or polars frame, or an Arrow table or record batch, as an Arrow table."""
    import pyarrow as pa

    if isinstance(frame, pa.Table):
        return frame
    if isinstance(frame, pa.RecordBatch):
        return pa.Table.from_batches([frame])
    module = type(frame).__module__
    if module.startswith("polars"):
        return frame.to_arrow()
    if module.startswith("pandas"):
        return pa.Table.from_pandas(frame, preserve_index=False)
    raise TypeError(
        "log_* takes a record dict, a list of them, or a pandas/polars/Arrow frame; "
        f"got {type(frame).__name__}."
    )


def complete_frame(table: Any, kind: Kind, version: str | None, logged_at: float) -> Any:
    """Add the id, timestamp (and model_version) columns a frame lacks, as for records."""
    import pyarrow as pa

    names, n = table.column_names, table.num_rows
    if "id" not in names:
        if kind == "labels":
            raise ValueError("a label frame needs an 'id' column: the ids of its predictions")
        table = table.append_column("id", pa.array(new_ids(n), pa.string()))
    if "timestamp" not in names:
        table = table.append_column("timestamp", pa.repeat(pa.scalar(logged_at), n))
    if version is not None and kind == "predictions" and "model_version" not in names:
        table = table.append_column("model_version", pa.repeat(pa.scalar(str(version)), n))
    return table


def arrow_body(table: Any) -> bytes:
    """A table as an Arrow IPC stream."""
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def read_answer(response: httpx.Response, size: int, what: str) -> Answer | None:
    """The counts of a 2xx answer, or None when the body is not vigil's ingest answer.

    The answer is `{"accepted", "duplicates", "conflicts", "rejected": [...]}` with whole,
    non-negative counts that add up to `size` (the server counts a label waiting for its
    prediction among the accepted). Anything else (a proxy's HTML page, a list, counts of
    another batch) says nothing about this batch: the caller treats it as a network failure.
    """
    try:
        body = response.json()
    except Exception:  # not JSON at all
        return None
    if not isinstance(body, dict):
        return None
    counts = [body.get(name, 0) for name in ("accepted", "duplicates", "conflicts")]
    rejected = body.get("rejected")
    if (
        "accepted" not in body
        or not isinstance(rejected, list)
        or not all(type(n) is int and n >= 0 for n in counts)
        or not all(isinstance(r, Mapping) for r in rejected)
        or sum(counts) + len(rejected) != size
    ):
        return None
    reasons = tuple(
        f"{what}: record {r.get('index')} (id {r.get('id')}) rejected: "
        + "; ".join(str(e) for e in r.get("errors") or ["no reason given"])
        for r in rejected
    )
    return Answer(counts[0], counts[1], counts[2], len(rejected), reasons)


def unread_answer(response: httpx.Response, what: str) -> str:
    """Why a 2xx answer was not taken as the batch's outcome: its status and the body's start."""
    try:
        text = response.text[:120]
    except Exception:  # an undecodable charset: show the bytes
        text = repr(response.content[:120])
    return f"{what}: HTTP {response.status_code} without vigil's ingest answer: {text!r}"


def retry_after(response: httpx.Response) -> float | None:
    """The Retry-After header in seconds (a number or an HTTP date), if the answer gave one."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    except Exception:  # any header we cannot read is as if there were none
        return None


def error_message(response: httpx.Response) -> str:
    """The message of a vigil error answer, or the start of the body."""
    try:
        return str(response.json()["error"]["message"])
    except Exception:  # not vigil's error shape
        return response.text[:200]


def call_features(
    signature: inspect.Signature, skip_self: bool, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> dict[str, Any]:
    """The features of one call: the first argument if it is a mapping, else all by name."""
    first = 1 if skip_self else 0
    if len(args) > first and isinstance(args[first], Mapping):
        return dict(args[first])
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError:  # the call itself fails the same way; keep what was passed by name
        return dict(kwargs)
    bound.apply_defaults()
    features: dict[str, Any] = {}
    for i, (name, value) in enumerate(bound.arguments.items()):
        kind = signature.parameters[name].kind
        if i == 0 and skip_self:
            continue
        if kind is inspect.Parameter.VAR_KEYWORD:
            features.update(value)
        else:
            features[name] = value
    return features


def call_id(
    id_from: str | Callable[[Any], Any], features: dict[str, Any]
) -> tuple[str | None, str]:
    """The id of one call's record, or None and why not.

    A name takes that feature out of `features` (it is the record's id, not a model input);
    a function is given the features and they are left as they are.
    """
    if isinstance(id_from, str):
        if id_from not in features:
            return None, f"{id_from!r} is not among the call's features"
        value = features.pop(id_from)
        what = f"{id_from!r} is"
    else:
        try:
            value = id_from(features)
        except Exception as err:  # the user's function: any failure leaves a random id
            return None, f"failed: {err!r}"
        what = "returned"
    if isinstance(value, str) and value:
        return value, ""
    if not isinstance(value, (bool, float, str)) and hasattr(type(value), "__index__"):
        try:  # int, and numpy's integers
            return str(operator.index(value)), ""
        except TypeError:
            pass
    shown = "null" if value is None else "''" if value == "" else f"a {type(value).__name__}"
    return None, f"{what} {shown}, expected a non-empty string or an integer"


def call_record(
    features: dict[str, Any], result: Any, latency_ms: float, error: str | None
) -> dict[str, Any]:
    """The prediction record of one call of a monitored function.

    A result mapping with "prediction"/"score", or a (prediction, score) pair, is split.
    """
    record: dict[str, Any] = {"features": features, "prediction": None, "error": error}
    if error is None:
        if isinstance(result, Mapping) and ("prediction" in result or "score" in result):
            record["prediction"] = result.get("prediction")
            if "score" in result:
                record["score"] = result["score"]
        elif isinstance(result, tuple) and len(result) == 2:
            record["prediction"], record["score"] = result
        else:
            record["prediction"] = result
    record["latency_ms"] = latency_ms
    return record
