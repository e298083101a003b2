"""What the SDK puts on the wire: JSON record batches and Arrow IPC frames, and what it reads
back from an answer. Kept apart from the queue logic of `vigil.client`."""

from __future__ import annotations

import inspect
import io
import json
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import httpx

ARROW_STREAM = "application/vnd.apache.arrow.stream"
Kind = Literal["predictions", "labels"]


def json_body(records: Sequence[dict[str, Any]]) -> bytes:
    """A JSON batch; NaN and infinities are refused (they are not JSON)."""
    return json.dumps({"records": list(records)}, default=str, allow_nan=False).encode()


def with_id_and_time(record: dict[str, Any]) -> dict[str, Any]:
    """The record with an id and a timestamp, generated when it has none."""
    if "id" in record and "timestamp" in record:
        return record
    return {"id": uuid.uuid4().hex, "timestamp": time.time(), **record}


def arrow_body(table: Any) -> bytes:
    """A table as an Arrow IPC stream."""
    import pyarrow.ipc as ipc

    sink = io.BytesIO()
    with ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def to_arrow(frame: Any) -> Any:
    """A pandas or polars frame (or an Arrow table) as an Arrow table."""
    import pyarrow as pa

    if isinstance(frame, pa.Table):
        return frame
    if hasattr(frame, "to_arrow"):  # polars
        return frame.to_arrow()
    if hasattr(frame, "to_dict") and hasattr(frame, "columns"):  # pandas
        return pa.Table.from_pandas(frame, preserve_index=False)
    raise TypeError(
        f"log_* takes a record dict, a list of them, or a pandas/polars/Arrow frame; "
        f"got {type(frame).__name__}."
    )


def complete_frame(table: Any, kind: Kind, version: str | None) -> Any:
    """Add the id and timestamp (and model_version) columns a frame lacks."""
    import pyarrow as pa

    n = table.num_rows
    if "id" not in table.column_names:
        table = table.append_column("id", pa.array([uuid.uuid4().hex for _ in range(n)]))
    if "timestamp" not in table.column_names and kind == "predictions":
        table = table.append_column("timestamp", pa.array([time.time()] * n, pa.float64()))
    if version is not None and "model_version" not in table.column_names:
        table = table.append_column("model_version", pa.array([version] * n, pa.string()))
    return table


def retry_after(response: httpx.Response) -> float | None:
    """The Retry-After header in seconds, if the answer gave one."""
    value = response.headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def error_message(response: httpx.Response) -> str:
    """The message of a vigil error answer, or the start of the body."""
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return response.text[:200]


def call_record(
    signature: inspect.Signature,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    result: Any,
    latency_ms: float,
    error: str | None,
    id_from: Callable[[Any], Any] | None,
) -> dict[str, Any]:
    """The prediction record of one call of a monitored function.

    Features are the first argument when it is a mapping, else the bound arguments; a result
    mapping with "prediction"/"score", or a (prediction, score) pair, is split.
    """
    if args and isinstance(args[0], Mapping) and not kwargs:
        features = dict(args[0])
    else:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        features = dict(bound.arguments)
    record: dict[str, Any] = {
        "features": features,
        "latency_ms": latency_ms,
        "error": error,
        "prediction": None,
    }
    if isinstance(result, Mapping) and ("prediction" in result or "score" in result):
        record["prediction"] = result.get("prediction")
        if "score" in result:
            record["score"] = result["score"]
    elif isinstance(result, tuple) and len(result) == 2:
        record["prediction"], record["score"] = result
    elif error is None:
        record["prediction"] = result
    if id_from is not None:
        record["id"] = str(id_from(features))
    return record
