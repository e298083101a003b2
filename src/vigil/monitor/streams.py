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
from datetime import datetime, timedelta

import numpy as np

from vigil.detect import restore
from vigil.errors import ConfigError
from vigil.measure.streams import (
    ResolvedStream,
    StreamConfig,
    needs_moments,
    reference_moments,
    resolve,
    stream_values,
)
from vigil.monitor.references import read_reference
from vigil.spec import Spec, spec_from_dict
from vigil.store.base import MetricPoint, ModelInfo, Store, StreamCursor

log = logging.getLogger("vigil.monitor")

CHUNK = 10_000  # rows read, fed and committed at a time
EPOCH = datetime(1970, 1, 1)


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
        if not needs_moments(stream):
            return 0.0, 1.0  # a 0/1 stream is fed as it is, to any detector but CUSUM
        key = (model.id, model.current_version, stream.stream)
        if key not in self._moments:
            data = self.store.get_reference(model, model.current_version)
            if data is None:
                raise ConfigError(
                    f"stream {stream.stream} of model {model.name}: its detector waits for the "
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
