"""Change detectors run once over a report's current set, record by record in time order.

`vigil report` (and `evaluate`) feeds the current set's per-record streams — the score, the
error where labels are present, numeric features the spec names under `streams:` — to the
detectors the service runs on the same streams as records arrive (`vigil.detect`,
`vigil.measure.streams`), in the order of the spec's timestamp column (row order when it has
none: the result says which). Numbers only: a detection is information — where in the set a
detector saw a change — and has no status, as the service's `detect.*` points have none; a
window's drift and performance checks judge whether the set as a whole moved. The service's
windows do not run them (`without_detections`, part of `vigil.measure.multivariate.window_spec`,
the spec its windows are judged with): it runs them incrementally on its streams.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vigil.detect import make_detector
from vigil.detect.registry import ParamValue
from vigil.errors import ConfigError, SpecError
from vigil.measure.streams import (
    ERROR,
    ResolvedStream,
    StreamConfig,
    needs_moments,
    reference_moments,
    resolve,
    stream_values,
)
from vigil.profile import DatasetProfile, NumericProfile
from vigil.spec import Spec
from vigil.spec.model import DEFAULT_STREAMS

_T = TypeVar("_T")
Once = Callable[[Hashable, Callable[[], _T]], _T]
Order = Literal["timestamp", "row"]


@dataclass(frozen=True, slots=True)
class Detection:
    """One change a detector signalled."""

    position: int  # values fed up to this one, from 1 (the service's stream position)
    row: int  # the record's row in the current set as it was given, from 0
    timestamp: str | None  # the record's timestamp (ISO-8601) when the set is in time order
    change_start: int | None  # the position the detector puts the change's start at, if any


@dataclass(frozen=True, slots=True)
class StreamDetections:
    """A detector's run over one stream of the current set."""

    stream: str  # "error", or the score's or the feature's column name
    detector: str
    params: Mapping[str, ParamValue]  # every parameter, defaults included
    library: str  # "river 0.26.1", or "vigil" for CUSUM
    records: int  # values fed (records with a value: labelled ones for the error)
    detections: tuple[Detection, ...]
    reference_mean: float | None = None  # the standardisation, from the reference
    reference_sigma: float | None = None


@dataclass(frozen=True, slots=True)
class DetectionResult:
    """The detectors' runs over the current set, and the streams not run with the reason."""

    order: Order  # "timestamp": sorted by the spec's timestamp column; "row": as given
    timestamp_column: str | None
    streams: tuple[StreamDetections, ...]
    skipped: tuple[tuple[str, str], ...] = ()  # (stream, why it did not run)
    unordered: int = 0  # records without a timestamp, fed last in row order


def without_detections(spec: Spec) -> Spec:
    """The spec the service judges its windows with: no report-side detectors (its stream
    detectors already read every record once, as it arrives)."""
    return spec if spec.streams == () else dataclasses.replace(spec, streams=())


def detect_changes(
    reference: pa.Table | None,
    current: pa.Table,
    spec: Spec,
    *,
    once: Once[Any] | None = None,
    profile: DatasetProfile | None = None,
) -> DetectionResult | None:
    """Run the spec's stream detectors over `current` in time order; None when none ran.

    `reference` gives a numeric stream (and CUSUM on any) its mean and σ; when it is a saved
    `profile` instead, a score's or feature's column profile gives them, and a stream that
    needs them from rows (the regression error, CUSUM on the 0/1 error) is skipped with the
    reason.
    A stream the spec names that it cannot have (`score` without exactly one score column)
    raises SpecError; one the data lacks (no labels for the error) is skipped with the reason.
    The default streams (score and error) are run where they exist, silently skipped where not.
    """
    if spec.streams == ():
        return None
    named = spec.streams is not None
    order, ts_name, unordered = _order(current, spec)
    ts = None if ts_name is None else current.column(ts_name)
    runs: list[StreamDetections] = []
    skipped: list[tuple[str, str]] = []
    for i, entry in enumerate(spec.streams or DEFAULT_STREAMS):
        config = StreamConfig(entry.stream, entry.detector, dict(entry.params))
        try:
            stream = resolve(spec, config, where=f"streams[{i}]")
        except ConfigError as err:
            if named:
                raise SpecError(str(err)) from None
            continue
        why = _absent(stream, current, spec)
        if why is not None:
            if named:
                skipped.append((stream.stream, why))
            continue
        try:
            runs.append(_run(stream, reference, current, spec, order, ts, once, profile))
        except (ConfigError, ImportError) as err:
            skipped.append((stream.stream, str(err).rstrip(".")))
    if not runs and not skipped:
        return None
    return DetectionResult(
        "row" if ts_name is None else "timestamp", ts_name, tuple(runs), tuple(skipped), unordered
    )


def _order(current: pa.Table, spec: Spec) -> tuple[np.ndarray, str | None, int]:
    """Row indices in time order (stable; records without a timestamp last), the column."""
    ts = spec.single("timestamp")
    if ts is None or ts.name not in current.column_names:
        return np.arange(current.num_rows), None, 0
    column = current.column(ts.name)
    # Arrow's sort is stable and puts nulls at the end by default (pyarrow 15 to 26 alike)
    indices = pc.sort_indices(pa.table({"ts": column}), sort_keys=[("ts", "ascending")])
    return np.asarray(indices.to_numpy(), np.int64), ts.name, int(column.null_count)


def _absent(stream: ResolvedStream, current: pa.Table, spec: Spec) -> str | None:
    if stream.column not in current.column_names:
        return f"the current set has no column {stream.column!r}"
    if stream.errors:
        target = spec.single("target")
        if target is None or target.name not in current.column_names:
            return "the current set has no labels"
    return None


def _profile_moments(stream: ResolvedStream, profile: DatasetProfile | None) -> tuple[float, float]:
    """A score's or feature's mean and σ from the reference's profile (the finite values, σ
    with ddof 1, as `reference_moments` reads them from rows)."""
    column = None if profile is None or stream.errors else profile.columns.get(stream.column)
    if not isinstance(column, NumericProfile):
        raise ConfigError(
            f"{stream.config.name} on this stream reads the reference's mean and σ of the "
            "error, and the reference is a saved profile, which keeps no errors: pass the "
            "reference data"
        )
    if column.count < 2 or not column.std > 0:
        raise ConfigError(
            f"the reference profile's {stream.column!r} has {column.count} values with σ "
            f"{column.std:g}: a stream that does not vary in the reference cannot be "
            "standardised"
        )
    return column.mean, column.std


def _run(
    stream: ResolvedStream,
    reference: pa.Table | None,
    current: pa.Table,
    spec: Spec,
    order: np.ndarray,
    ts: pa.ChunkedArray | None,
    once: Once[Any] | None,
    profile: DatasetProfile | None,
) -> StreamDetections:
    mean: float | None = None
    sigma: float | None = None
    if needs_moments(stream) and reference is None:
        mean, sigma = _profile_moments(stream, profile)
    elif needs_moments(stream):
        table = reference

        def moments() -> tuple[float, float]:
            return reference_moments(table, stream, spec)

        key = ("stream-moments", stream.stream, stream.column)
        mean, sigma = moments() if once is None else once(key, moments)
    detector = make_detector(
        stream.config, mean=0.0 if mean is None else mean, sigma=1.0 if sigma is None else sigma
    )
    rows: dict[str, pa.ChunkedArray] = {"value": current.column(stream.column)}
    if stream.errors:
        target = spec.single("target")
        assert target is not None  # _absent checked it
        rows["label"] = current.column(target.name)
    values = stream_values(pa.table(rows), errors=stream.errors, regression=stream.regression)
    found: list[Detection] = []
    update = detector.update
    for i, value in enumerate(values[order].tolist()):
        if math.isnan(value):
            continue
        if update(value):
            row = int(order[i])
            found.append(Detection(detector.position, row, _iso(ts, row), detector.change_start()))
    return StreamDetections(
        ERROR if stream.errors else stream.stream,
        stream.config.name,
        dict(stream.config.params),
        detector.library,
        detector.position,
        tuple(found),
        mean,
        sigma,
    )


def _iso(ts: pa.ChunkedArray | None, row: int) -> str | None:
    if ts is None:
        return None
    value = ts[row].as_py()
    if isinstance(value, datetime | date):
        return value.isoformat()
    return None if value is None else str(value)
