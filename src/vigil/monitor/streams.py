"""Change detectors on the per-record streams, fed as records are stored.

A stream is the model's per-record error once labels arrive (binary and multiclass: 1 when
the prediction is not the label, else 0; regression: the absolute error), its score, or a
numeric feature. Each configured (stream, detector) reads the rows stored after its cursor in
arrival order (`Store.stream_rows`: the error stream in the order labels arrive), a chunk at
a time, and stores the detections it made as metric points with its state and the new cursor
in one transaction (`Store.save_stream`), so a restart continues where the last commit left
it. The scheduler runs this at the start of every tick (`Monitor.before_tick`), before it
computes windows, so a window computed in a tick carries the detections of its rows
(`window_points`), and alert rules see them.

A detection is the point `detect.<detector>` on column `<stream>` (`error`, or the score's
or the feature's column name) in the tumbling window of the record's timestamp; its value is
the stream position (values fed since the detector started) of the record it fired at; the
latest detection in a window stands for the window. A detector that could not read its
stored state back (another River version, other parameters, another reference) starts fresh:
a warning in the log and a `detect.fresh_start` point, value 0, where it started again.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib.util import find_spec

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vigil.detect import DETECTORS, DetectorConfig, check_params, restore
from vigil.errors import ConfigError
from vigil.monitor.references import read_reference
from vigil.spec import Spec, spec_from_dict
from vigil.spec.values import category_strings
from vigil.store.base import MetricPoint, ModelInfo, Store, StreamCursor

log = logging.getLogger("vigil.monitor")

CHUNK = 10_000  # rows read, fed and committed at a time
ERROR = "error"
SCORE = "score"
# the defaults of bench/detectors.py's table (docs/statistics.md, "Streaming change detectors")
DEFAULT_DETECTOR = {"binary": "adwin", "numeric": "adwin"}
EPOCH = datetime(1970, 1, 1)


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


def reference_moments(
    reference: pa.Table, stream: ResolvedStream, spec: Spec
) -> tuple[float, float]:
    """The stream's mean and σ on the reference set (CUSUM standardises by them)."""
    if stream.column not in reference.column_names:
        raise ConfigError(
            f"the reference has no column {stream.column!r} for stream {stream.stream}"
        )
    rows: dict[str, pa.ChunkedArray] = {"value": reference.column(stream.column)}
    if stream.errors:
        target = spec.single("target")
        if target is None or target.name not in reference.column_names:
            raise ConfigError(
                f"stream {stream.stream}: CUSUM needs the reference's labels (its target "
                "column) for the error's reference mean; use another detector or add them."
            )
        rows["label"] = reference.column(target.name)
    values = stream_values(pa.table(rows), errors=stream.errors, regression=stream.regression)
    values = values[np.isfinite(values)]
    if values.size < 2 or float(np.std(values)) == 0.0:
        raise ConfigError(
            f"stream {stream.stream}: the reference has {values.size} values with σ "
            f"{float(np.std(values)) if values.size else math.nan:g}; CUSUM needs a stream "
            "that varies in the reference. Use another detector."
        )
    return float(np.mean(values)), float(np.std(values, ddof=1))


class StreamDetectors:
    """Runs the configured detectors of every model over the rows stored since last time."""

    def __init__(
        self,
        store: Store,
        streams: Mapping[str, tuple[StreamConfig, ...]],
        *,
        size_of: Callable[[str], int],
        chunk: int = CHUNK,
    ) -> None:
        self.store = store
        self.streams = dict(streams)
        self.size_of = size_of  # model name -> its tumbling windows' size in seconds
        self.chunk = chunk
        self._moments: dict[tuple[int, str, str], tuple[float, float]] = {}
        self._broken: set[tuple[int, str, str, str]] = set()  # logged once per process

    def run(self) -> int:
        """Feed every configured detector what was stored since its cursor; values fed."""
        fed = 0
        for model in self.store.list_models():
            configs = self.streams.get(model.name)
            if not configs:
                continue
            spec = spec_from_dict(model.specs[model.current_version])
            for i, config in enumerate(configs):
                where = f"models.{model.name}.streams[{i}]"
                try:
                    stream = resolve(spec, config, where=where)
                    fed += self._run_stream(model, spec, stream)
                except ConfigError as err:
                    key = (model.id, model.current_version, config.stream, str(err))
                    if key not in self._broken:
                        self._broken.add(key)
                        log.error("stream detector not run: %s", err)
        return fed

    def _moments_of(
        self, model: ModelInfo, spec: Spec, stream: ResolvedStream
    ) -> tuple[float, float]:
        if stream.config.name != "cusum":
            return 0.0, 1.0  # only CUSUM reads the reference's moments
        key = (model.id, model.current_version, stream.stream)
        if key not in self._moments:
            data = self.store.get_reference(model, model.current_version)
            if data is None:
                raise ConfigError(
                    f"stream {stream.stream} of model {model.name}: CUSUM waits for the "
                    f"reference of version {model.current_version}"
                )
            self._moments[key] = reference_moments(read_reference(data), stream, spec)
        return self._moments[key]

    def _run_stream(self, model: ModelInfo, spec: Spec, stream: ResolvedStream) -> int:
        mean, sigma = self._moments_of(model, spec, stream)
        name = stream.config.name
        size = self.size_of(model.name)
        step = timedelta(seconds=size)
        fed = 0
        cursor = self.store.stream_cursor(model, stream.stream, name)
        detector, reason = restore(stream.config, cursor.state, mean=mean, sigma=sigma)
        while True:
            rows = self.store.stream_rows(
                model, stream.column, errors=stream.errors, after=cursor, limit=self.chunk
            )
            if rows.num_rows == 0:
                return fed
            values = stream_values(rows, errors=stream.errors, regression=stream.regression)
            ts = rows.column("ts").to_pylist()
            versions = rows.column("version").to_pylist()
            points: list[MetricPoint] = []

            if reason is not None:
                log.warning(
                    "detector %s on %s of model %s: %s", name, stream.stream, model.name, reason
                )
                points.append(
                    _point(ts[0], versions[0], step, "detect.fresh_start", stream.stream, 0.0)
                )
                reason = None
            update = detector.update
            found: dict[tuple[str, datetime], MetricPoint] = {}
            for i, value in enumerate(values.tolist()):
                if math.isnan(value):
                    continue
                if update(value):
                    p = _point(
                        ts[i],
                        versions[i],
                        step,
                        f"detect.{name}",
                        stream.stream,
                        float(detector.position),
                    )
                    found[(p.version, p.start)] = p  # the latest detection of a window
                    log.info(
                        "detector %s fired on %s of model %s at position %d",
                        name,
                        stream.stream,
                        model.name,
                        detector.position,
                    )
            fed += int(np.count_nonzero(~np.isnan(values)))
            last = rows.num_rows - 1
            after = StreamCursor(
                rows.column("arrived")[last].as_py(),
                str(rows.column("id")[last].as_py()),
                detector.position,
                detector.dumps(),
            )
            points += found.values()
            if not self.store.save_stream(model, stream.stream, name, cursor, after, points):
                log.info(
                    "detector %s on %s of model %s moved by another instance",
                    name,
                    stream.stream,
                    model.name,
                )
                return fed
            cursor = after


def _point(
    ts: datetime, version: object, step: timedelta, metric: str, column: str, value: float
) -> MetricPoint:
    """A point in the tumbling window of `ts` (status none: alert rules judge it)."""
    start = EPOCH + (ts - EPOCH) // step * step
    return MetricPoint(
        str(version), "tumbling", "", start, start + step, metric, column, value, "none"
    )


def window_points(store: Store, model: ModelInfo, points: list[MetricPoint]) -> list[MetricPoint]:
    """The detections stored in the window these points are of, to go with them (so the
    alert rules judging the window see them)."""
    whole = next((p for p in points if p.kind == "tumbling" and p.segment == ""), None)
    if whole is None:
        return []
    return store.detection_points(model, whole.version, whole.start)
