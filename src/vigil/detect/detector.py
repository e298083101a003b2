"""One running detector: ``update(x) -> bool``, and its state to bytes and back.

A detector is River's object (or our ``Cusum``) behind one small class. A numeric stream is
fed standardised, z = (x − mean) / σ with the reference's mean and σ, to every detector:
Page-Hinkley's threshold and ADWIN's bound are in the stream's units, so on raw values one
setting fits no two columns (on scikit-learn's breast-cancer features, unshifted, Page-Hinkley
at its default fired on every shuffled stream of a column whose σ is above about 2, and ADWIN
missed class changes in columns whose σ is about 0.02). A 0/1 stream is fed as it is.
Its state is an
envelope — one JSON line naming the detector, its parameters, the reference's mean and σ and
the library that wrote it — then the payload: River's object pickled, CUSUM's sums as JSON.
A River pickle is read back only by the River version that wrote it; on any mismatch
(another River, other parameters or reference, River gone) ``restore`` starts the detector
fresh and says why, and the caller logs it and records it as a point. The bytes come from
vigil's own store only: unpickling them trusts the store as much as the database itself.
"""

from __future__ import annotations

import importlib
import json
import math
import pickle
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from vigil.detect.cusum import Cusum, CusumParams
from vigil.detect.registry import STREAMS_EXTRA, ParamValue, StreamKind, detector_kind

ENVELOPE = 2  # 2: numeric streams standardised for every detector (1: CUSUM only)


class _Updating(Protocol):
    def update(self, x: float) -> bool: ...


@dataclass(frozen=True, slots=True)
class DetectorConfig:
    """A detector by name with its full parameters, for a stream of a kind."""

    name: str
    params: Mapping[str, ParamValue]
    stream: StreamKind


class Detector:
    """A change detector fed one value at a time; ``position`` counts the values fed."""

    __slots__ = ("_impl", "_scale", "config", "library", "mean", "position", "sigma")

    def __init__(self, config: DetectorConfig, *, mean: float, sigma: float) -> None:
        self.config = config
        self.mean = mean
        self.sigma = sigma
        self.position = 0
        # River's detectors read z on a numeric stream (CUSUM standardises by itself)
        self._scale: tuple[float, float] | None = None
        kind = detector_kind(config.name, where="detector")
        if config.stream not in kind.inputs:
            raise ValueError(
                f"detector {config.name} reads {' or '.join(kind.inputs)} streams; "
                f"got a {config.stream} stream. For a stream of any value use adwin, "
                "page_hinkley or cusum."
            )
        if kind.river_class is None:
            cusum = CusumParams(
                mean=mean, sigma=sigma, k=float(config.params["k"]), h=float(config.params["h"])
            )
            self._impl: Any = Cusum(cusum)
            self.library = "vigil"
        else:
            river = _river(config.name)
            module, _, cls = kind.river_class.rpartition(".")
            self._impl = getattr(importlib.import_module(f"river.{module}"), cls)(**config.params)
            self.library = f"river {river.__version__}"
            if config.stream == "numeric":
                if not (math.isfinite(mean) and math.isfinite(sigma) and sigma > 0):
                    raise ValueError(
                        f"detector {config.name} standardises a numeric stream by the "
                        f"reference's mean and σ; got mean {mean}, σ {sigma}"
                    )
                self._scale = (mean, 1.0 / sigma)

    def update(self, x: float) -> bool:
        """Feed one value; True when the detector signals a change at this value."""
        self.position += 1
        if isinstance(self._impl, Cusum):
            return self._impl.update(x)
        if self._scale is not None:
            x = (x - self._scale[0]) * self._scale[1]
        self._impl.update(x)
        return bool(self._impl.drift_detected)

    def change_start(self) -> int | None:
        """Where the detector puts the start of the change it just signalled, as a position,
        when it says: ADWIN's cut (the values it keeps after a detection are those since the
        cut, to its buckets' resolution). None for the others."""
        width = getattr(self._impl, "width", None) if self.config.name == "adwin" else None
        return None if width is None else max(1, self.position - int(width) + 1)

    def dumps(self) -> bytes:
        """The envelope line and the payload; ``restore`` reads it back."""
        payload = self._impl.dumps() if isinstance(self._impl, Cusum) else pickle.dumps(self._impl)
        return _header(self.config, self.mean, self.sigma, self.library, self.position) + payload


def _header(
    config: DetectorConfig, mean: float, sigma: float, library: str, position: int
) -> bytes:
    head = {
        "envelope": ENVELOPE,
        "detector": config.name,
        "params": dict(config.params),
        "stream": config.stream,
        "mean": mean,
        "sigma": sigma,
        "library": library,
        "position": position,
    }
    return json.dumps(head, sort_keys=True).encode() + b"\n"


def _river(name: str) -> Any:
    try:
        return importlib.import_module("river")
    except ImportError:
        raise ImportError(
            f"detector {name} is River's; River is not installed: {STREAMS_EXTRA}. "
            "Without it only cusum runs."
        ) from None


def make_detector(config: DetectorConfig, *, mean: float = 0.0, sigma: float = 1.0) -> Detector:
    """A fresh detector; ``mean`` and ``sigma`` are the reference's (CUSUM reads them)."""
    return Detector(config, mean=mean, sigma=sigma)


def restore(
    config: DetectorConfig, state: bytes | None, *, mean: float = 0.0, sigma: float = 1.0
) -> tuple[Detector, str | None]:
    """The detector ``state`` holds, or a fresh one and the reason it could not be used."""
    fresh = Detector(config, mean=mean, sigma=sigma)
    if state is None:
        return fresh, None
    line, _, payload = state.partition(b"\n")
    try:
        head = json.loads(line)
    except ValueError:
        return fresh, "the stored state is not a detector envelope"
    expected = json.loads(_header(config, mean, sigma, fresh.library, 0))
    for key in ("envelope", "detector", "params", "stream", "mean", "sigma", "library"):
        if head.get(key) != expected[key]:
            return fresh, (
                f"the stored state has {key} {head.get(key)!r}, this run {expected[key]!r}: "
                "the detector starts fresh"
            )
    try:
        if isinstance(fresh._impl, Cusum):
            fresh._impl.loads(payload)
        else:
            fresh._impl = pickle.loads(payload)
    except Exception as error:  # any unreadable payload: start fresh, never crash the tick
        return fresh, f"the stored state could not be read ({type(error).__name__}): started fresh"
    fresh.position = int(head.get("position", 0))
    return fresh, None
