"""The Python SDK: log predictions and labels from a prediction service, never in its way.

The caller's thread only counts and appends to a bounded queue; one daemon thread sends
batches. Whatever the server does (answers, refuses, hangs, is not there) `log_*` returns at
once and never raises. Every logged record is in exactly one count of `stats()`:

    logged == queued + in_flight + accepted + duplicates + conflicts + rejected
              + dropped_overflow + dropped_network + dropped_invalid + dropped_closed

Only network errors, 2xx answers that are not the ingest answer, and 429/502/503/504 are
retried (with backoff, honouring Retry-After); other answers are final. Modules: `client`
(this facade and the decorator), `queue` (the queue and the counts), `sender` (the thread),
`wire` (columns, JSON, Arrow, answers). The SDK imports nothing else of vigil, and nothing
heavy: pyarrow only when a frame is logged.
"""

from __future__ import annotations

import atexit
import functools
import inspect
import math
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

from vigil.client.queue import ClientStats, RecordQueue
from vigil.client.sender import MAX_BATCH_SIZE, Options, Sender
from vigil.client.wire import Kind, call_features, call_id, call_record, to_arrow

__all__ = ["Client", "ClientStats"]

F = TypeVar("F", bound=Callable[..., Any])


class Client:
    """Buffered, never-blocking sender of predictions and labels to a vigil service.

    Parameters are described in docs/sdk.md; a bad option raises ValueError here, and nothing
    the client does afterwards raises into the caller's code.
    """

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        batch_size: int = 500,
        max_batch_size: int | None = None,
        flush_interval: float = 1.0,
        max_queue: int = 100_000,
        timeout: float = 5.0,
        max_retries: int = 5,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        sample_rate: float = 1.0,
        close_timeout: float = 5.0,
        seed: int | None = None,
    ) -> None:
        largest = _largest_batch(_count("batch_size", batch_size, 1), max_batch_size)
        options = Options(
            url=_checked_url(url),
            token=_checked_token(token),
            batch_size=batch_size,
            max_batch_size=largest,
            flush_interval=_seconds("flush_interval", flush_interval, positive=True),
            max_queue=_count("max_queue", max_queue, 1),
            timeout=_seconds("timeout", timeout, positive=True),
            max_retries=_count("max_retries", max_retries, 0),
            backoff=_seconds("backoff", backoff),
            max_backoff=_seconds("max_backoff", max_backoff),
            sample_rate=_rate(sample_rate),
            close_timeout=_seconds("close_timeout", close_timeout),
            seed=_seed(seed),
        )
        if max_backoff < backoff:
            raise ValueError(
                f"max_backoff ({max_backoff}) is below backoff ({backoff}); "
                "max_backoff caps the wait between attempts, so make it at least backoff."
            )
        self._options = options
        self._queue = RecordQueue(
            batch_size=batch_size,
            max_batch_size=largest,
            max_queue=max_queue,
            sample_rate=sample_rate,
            seed=seed,
        )
        self._put = self._queue.put
        self._sender = Sender(options, self._queue)
        # The exit hook holds the sender, not the client, so an unclosed client can still be
        # collected; when it is, the finalizer has its thread send what is queued and stop, and
        # at interpreter exit the hook still waits for that (within close_timeout).
        self._exit_hook = self._sender.close_at_exit
        atexit.register(self._exit_hook)
        weakref.finalize(self, self._sender.orphan).atexit = False

    def log_predictions(
        self, model: str, frame_or_records: Any, *, version: str | None = None
    ) -> None:
        """Queue predictions: a record dict, a list of them, or a pandas/polars/Arrow frame.

        Returns at once and never raises. A record missing `id` or `timestamp` gets a random id
        and the time of this call; `version` fills `model_version` where the record has none.
        Record dicts are not copied: do not change one after logging it.
        """
        try:
            if type(frame_or_records) is dict:  # the common case, kept short
                self._put(model, "predictions", frame_or_records, version)
            else:
                self._log(model, "predictions", frame_or_records, version)
        except Exception as err:  # the SDK never raises into the caller's code
            self._queue.count_invalid(1, f"predictions for {model!r}: {err!r}")

    def log_labels(self, model: str, frame_or_records: Any) -> None:
        """Queue labels `{"id", "label", "timestamp"?}`: a dict, a list of them, or a frame.

        A label needs the id of its prediction; one without is counted as dropped_invalid.
        """
        try:
            if type(frame_or_records) is dict:
                self._put(model, "labels", frame_or_records, None)
            else:
                self._log(model, "labels", frame_or_records, None)
        except Exception as err:
            self._queue.count_invalid(1, f"labels for {model!r}: {err!r}")

    def _log(self, model: str, kind: Kind, data: Any, version: str | None) -> None:
        try:
            if isinstance(data, Mapping):
                self._put(model, kind, data, version)
            elif isinstance(data, (list, tuple)):
                self._queue.put_many(model, kind, data, version)
            else:
                # A snapshot on the caller's thread (pandas copies): the caller may change the
                # frame afterwards. Ids and the Arrow encoding are made on the sender thread.
                self._queue.put_frame(model, kind, to_arrow(data), version)
        except Exception as err:
            self._queue.count_invalid(_rows(data), f"{kind} for {model!r}: {err}")

    def monitor(
        self,
        *,
        model: str,
        version: str | None = None,
        id_from: str | Callable[[Any], Any] | None = None,
    ) -> Callable[[F], F]:
        """Decorate a predict function (plain or async) to log each call as a prediction.

        Features are the first argument when it is a mapping, else the arguments by name; a
        returned mapping with "prediction"/"score" or a (prediction, score) pair is split.
        An exception is logged (`error`, prediction null) and re-raised unchanged.
        `id_from` names the feature that holds the record's id (it is then not sent as a
        feature), or is a function of the features that returns the id; anything else is a
        ValueError here, at decoration.
        """
        is_name = isinstance(id_from, str) and bool(id_from)
        if id_from is not None and not callable(id_from) and not is_name:
            raise ValueError(
                "id_from must be a feature name (a non-empty string) or a function of the "
                f"features that returns the id; got {id_from!r}."
            )

        def decorate(fn: F) -> F:
            try:
                signature: inspect.Signature | None = inspect.signature(fn)
            except (TypeError, ValueError):  # some builtins have none: features by name only
                signature = None
            names = list(signature.parameters) if signature else []
            call = _Monitored(
                model, version, id_from, signature, bool(names) and names[0] in ("self", "cls")
            )

            if inspect.iscoroutinefunction(fn):

                @functools.wraps(fn)
                async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                    started = time.perf_counter()
                    try:
                        result = await fn(*args, **kwargs)
                    except Exception as err:
                        self._record_call(call, args, kwargs, None, started, err)
                        raise
                    self._record_call(call, args, kwargs, result, started, None)
                    return result

                return async_wrapper  # type: ignore[return-value]

            @functools.wraps(fn)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                started = time.perf_counter()
                try:
                    result = fn(*args, **kwargs)
                except Exception as err:
                    self._record_call(call, args, kwargs, None, started, err)
                    raise
                self._record_call(call, args, kwargs, result, started, None)
                return result

            return wrapper  # type: ignore[return-value]

        return decorate

    def _record_call(
        self,
        call: _Monitored,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        result: Any,
        started: float,
        err: Exception | None,
    ) -> None:
        latency_ms = (time.perf_counter() - started) * 1000.0
        try:
            if not self._queue.keep():  # sampled out: build nothing
                return
            if call.signature is None:
                features = dict(kwargs)
            else:
                features = call_features(call.signature, call.skip_self, args, kwargs)
            error = None if err is None else f"{type(err).__name__}: {err}".removesuffix(": ")
            record_id, why_not = (
                (None, "") if call.id_from is None else call_id(call.id_from, features)
            )
            record = call_record(features, result, latency_ms, error)
            if record_id is not None:
                record["id"] = record_id
            elif why_not:  # keep the record for drift; the sender gives it a random id
                self._queue.note(
                    f"predictions for {call.model!r}: id_from {why_not}; the record has a random id"
                )
            self._put(call.model, "predictions", record, call.version, sampled=True)
        except Exception as bad:  # a monitoring failure must not break the prediction
            self._queue.count_invalid(1, f"predictions for {call.model!r}: {bad!r}")

    def stats(self) -> ClientStats:
        """Where every record logged so far is; the counts are read together, so they add up."""
        return self._queue.stats()

    def last_errors(self) -> list[str]:
        """The last 20 reasons records were rejected or dropped, newest last."""
        return self._queue.last_errors()

    def flush(self, timeout: float | None = None) -> bool:
        """Send what is queued now; wait until nothing is queued or in flight.

        Returns False if `timeout` seconds passed first (None waits as long as retries last).
        """
        return self._queue.wait_empty(timeout, self._sender.is_alive)

    def close(self, timeout: float | None = None) -> None:
        """Send what is queued within `timeout` seconds (default close_timeout), then stop.

        Keeps its deadline even if the server hangs. What is left is counted as dropped_closed,
        and so are later `log_*` calls. Calling it again does nothing.
        """
        atexit.unregister(self._exit_hook)
        budget = self._options.close_timeout if timeout is None else max(0.0, timeout)
        self._sender.close(budget)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True, slots=True)
class _Monitored:
    """What `Client.monitor` was told about one decorated function."""

    model: str
    version: str | None
    id_from: str | Callable[[Any], Any] | None
    signature: inspect.Signature | None
    skip_self: bool  # a method: its first argument is not a feature


def _rows(data: Any) -> int:
    shape = getattr(data, "shape", None)
    if isinstance(shape, tuple) and shape and isinstance(shape[0], int):
        return max(1, shape[0])
    return 1


def _checked_url(url: Any) -> str:
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"url must be the service's http(s) address, like 'http://vigil.internal:8000'; "
            f"got {url!r}."
        )
    return str(url).rstrip("/")


def _checked_token(token: Any) -> str | None:
    if token is None:
        return None
    if not isinstance(token, str) or not token or not token.isascii() or not token.isprintable():
        raise ValueError(
            "token must be a non-empty printable ASCII string (or None for no Authorization "
            f"header); got {token!r:.20}."
        )
    return token


def _count(name: str, value: Any, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ValueError(f"{name} must be a whole number of at least {least}; got {value!r}.")
    return value


def _largest_batch(batch_size: int, value: Any) -> int:
    if value is None:
        return max(batch_size, MAX_BATCH_SIZE)
    largest = _count("max_batch_size", value, 1)
    if largest < batch_size:
        raise ValueError(
            f"max_batch_size ({largest}) is below batch_size ({batch_size}); batch_size is the "
            "smallest full batch and max_batch_size the largest, so make it at least batch_size."
        )
    return largest


def _seconds(name: str, value: Any, *, positive: bool = False) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (positive and value == 0):
        bound = "above 0" if positive else "0 or more"
        raise ValueError(f"{name} must be a number of seconds {bound}; got {value!r}.")
    return float(value)


def _rate(value: Any) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or not 0 < value <= 1:
        raise ValueError(
            f"sample_rate must be in (0, 1], the share of records kept; got {value!r}."
        )
    return float(value)


def _seed(value: Any) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise ValueError(f"seed must be an integer or None; got {value!r}.")
    return value
