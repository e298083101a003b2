"""The per-record streams of a model and their values: the error, the score, a feature.

A stream is the model's per-record error once labels arrive (binary and multiclass: 1 when
the prediction is not the label, else 0; regression: the absolute error), its score (the one
score column; a multiclass spec has one per class, so its score stream is a class's score
column named as the stream), or a numeric feature. The service's detectors
(`vigil.monitor.streams`) and a report's (`vigil.measure.detections`) read them through these
functions, so both compute a stream the same way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.util import find_spec

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vigil.detect import DETECTORS, DetectorConfig, check_params
from vigil.errors import ConfigError
from vigil.spec import Spec
from vigil.spec.values import category_strings

ERROR = "error"
SCORE = "score"
# the defaults of bench/detectors.py's table (docs/statistics.md, "Streaming change detectors")
DEFAULT_DETECTOR = {"binary": "adwin", "numeric": "adwin"}


@dataclass(frozen=True, slots=True)
class StreamConfig:
    """One detector on one stream of a model: `error`, `score` or a feature's name."""

    stream: str
    detector: str | None  # None: the default for the stream's kind
    params: Mapping[str, object]


@dataclass(frozen=True, slots=True)
class ResolvedStream:
    """A stream as the spec makes it: the column read, whether errors, the detector."""

    stream: str  # the points' column: "error", or the score's or feature's name
    column: str  # the stored column read: the prediction for errors
    errors: bool
    regression: bool
    config: DetectorConfig


def resolve(spec: Spec, stream: StreamConfig, *, where: str) -> ResolvedStream:
    """The stream of `spec` that `stream` names, with its detector; ConfigError otherwise."""
    regression = spec.task == "regression"
    if stream.stream == ERROR:
        prediction, target = spec.single("prediction"), spec.single("target")
        if prediction is None or target is None:
            raise ConfigError(
                f"{where}: the error stream needs a prediction and a target column in the "
                "spec; add them, or watch the score or a feature."
            )
        column, errors, kind = prediction.name, True, "numeric" if regression else "binary"
    elif stream.stream == SCORE:
        scores = spec.with_role("score")
        if len(scores) != 1:
            raise ConfigError(
                f"{where}: the score stream needs exactly one score column in the spec; "
                f"it has {len(scores)}. Name the column itself as the stream."
            )
        column, errors, kind = scores[0].name, False, "numeric"
    else:
        names = [c.name for c in spec.columns if c.kind == "numeric"]
        if stream.stream not in names:
            raise ConfigError(
                f"{where}: stream {stream.stream!r} is not `error`, `score` or a numeric "
                f"column of the spec; numeric columns: {', '.join(names) or 'none'}."
            )
        column, errors, kind = stream.stream, False, "numeric"
    # without River (the streams extra) the default is the one detector of our own
    name = stream.detector or (DEFAULT_DETECTOR[kind] if find_spec("river") else "cusum")
    try:
        params = check_params(name, stream.params, where=where)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    if kind not in DETECTORS[name].inputs:
        raise ConfigError(
            f"{where}: {name} reads {' or '.join(DETECTORS[name].inputs)} streams and "
            f"{stream.stream!r} is {kind}; use adwin, page_hinkley or cusum."
        )
    config = DetectorConfig(name, params, kind)  # type: ignore[arg-type]
    return ResolvedStream(ERROR if errors else column, column, errors, regression, config)


def stream_values(rows: pa.Table, *, errors: bool, regression: bool) -> np.ndarray:
    """The stream's values of `rows` as floats, NaN where the record has none."""
    value = rows.column("value")
    if not errors:
        return np.asarray(pc.cast(value, pa.float64()).to_numpy(zero_copy_only=False), float)
    label = rows.column("label")
    if regression:
        diff = pc.abs(pc.subtract(pc.cast(value, pa.float64()), pc.cast(label, pa.float64())))
        return np.asarray(diff.to_numpy(zero_copy_only=False), float)
    wrong = pc.not_equal(category_strings(value), category_strings(label))
    return np.asarray(pc.cast(wrong, pa.float64()).to_numpy(zero_copy_only=False), float)


def needs_moments(stream: ResolvedStream) -> bool:
    """True when the stream's detector reads the reference's mean and σ: every numeric stream
    (fed standardised, `vigil.detect.detector`) and CUSUM on any stream."""
    return stream.config.stream == "numeric" or stream.config.name == "cusum"


def reference_moments(
    reference: pa.Table, stream: ResolvedStream, spec: Spec
) -> tuple[float, float]:
    """The stream's mean and σ on the reference set: a numeric stream is standardised by
    them, and CUSUM reads them on any stream."""
    if stream.column not in reference.column_names:
        raise ConfigError(
            f"the reference has no column {stream.column!r} for stream {stream.stream}"
        )
    rows: dict[str, pa.ChunkedArray] = {"value": reference.column(stream.column)}
    if stream.errors:
        target = spec.single("target")
        if target is None or target.name not in reference.column_names:
            raise ConfigError(
                f"stream {stream.stream}: its detector needs the error's mean and σ on the "
                "reference, and the reference has no labels (its target column); add them."
            )
        rows["label"] = reference.column(target.name)
    values = stream_values(pa.table(rows), errors=stream.errors, regression=stream.regression)
    values = values[np.isfinite(values)]
    if values.size < 2 or float(np.std(values)) == 0.0:
        raise ConfigError(
            f"stream {stream.stream}: the reference has {values.size} values with σ "
            f"{float(np.std(values)) if values.size else math.nan:g}: a stream that does not "
            "vary in the reference cannot be standardised; watch another stream."
        )
    return float(np.mean(values)), float(np.std(values, ddof=1))
