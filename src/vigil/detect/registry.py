"""The change detectors a stream may use: one dict literal, their parameters and inputs.

Every detector but CUSUM is River's (``pip install 'vigil-monitor[streams]'``); the
defaults below were chosen from the harness's table (bench/detectors.py, bench/RESULTS.md,
docs/statistics.md "Streaming change detectors"), not taken from River where they differ.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

StreamKind = Literal["numeric", "binary"]
DetectorName = Literal["adwin", "page_hinkley", "kswin", "ddm", "eddm", "hddm_a", "hddm_w", "cusum"]
ParamValue = float | int | str

STREAMS_EXTRA = "pip install 'vigil-monitor[streams]'"


@dataclass(frozen=True, slots=True)
class DetectorKind:
    """What one detector is: River's class (None for ours), its inputs, its parameters."""

    river_class: str | None  # "drift.ADWIN": an attribute path under the river package
    inputs: tuple[StreamKind, ...]
    params: Mapping[str, type]  # the parameters a config may set, and their type
    defaults: Mapping[str, ParamValue] = field(default_factory=dict)


DETECTORS: dict[str, DetectorKind] = {
    "adwin": DetectorKind(
        "drift.ADWIN",
        ("numeric", "binary"),
        {
            "delta": float,
            "clock": int,
            "max_buckets": int,
            "min_window_length": int,
            "grace_period": int,
        },
        {"delta": 0.002},
    ),
    "page_hinkley": DetectorKind(
        "drift.PageHinkley",
        ("numeric", "binary"),
        {"min_instances": int, "delta": float, "threshold": float, "alpha": float, "mode": str},
        {"min_instances": 30, "delta": 0.005, "threshold": 50.0},
    ),
    "kswin": DetectorKind(
        "drift.KSWIN",
        ("numeric",),
        {"alpha": float, "window_size": int, "stat_size": int, "seed": int},
        {"alpha": 0.005, "window_size": 100, "stat_size": 30, "seed": 0},
    ),
    "ddm": DetectorKind(
        "drift.binary.DDM",
        ("binary",),
        {"warm_start": int, "warning_threshold": float, "drift_threshold": float},
        {"warm_start": 30, "drift_threshold": 3.0},
    ),
    "eddm": DetectorKind(
        "drift.binary.EDDM",
        ("binary",),
        {"warm_start": int, "alpha": float, "beta": float},
        {"warm_start": 30, "alpha": 0.95, "beta": 0.9},
    ),
    "hddm_a": DetectorKind(
        "drift.binary.HDDMA",
        ("binary",),
        {"drift_confidence": float, "warning_confidence": float, "two_sided_test": bool},
        {"drift_confidence": 0.001},
    ),
    "hddm_w": DetectorKind(
        "drift.binary.HDDMW",
        ("binary",),
        {
            "drift_confidence": float,
            "warning_confidence": float,
            "lambda_val": float,
            "two_sided_test": bool,
        },
        {"drift_confidence": 0.001, "lambda_val": 0.05},
    ),
    "cusum": DetectorKind(
        None, ("numeric", "binary"), {"k": float, "h": float}, {"k": 0.5, "h": 12.0}
    ),
}


def detector_kind(name: str, *, where: str) -> DetectorKind:
    """The registry entry of ``name``; unknown names list the known ones."""
    if name not in DETECTORS:
        raise ValueError(
            f"{where}: unknown detector {name!r}; use one of {', '.join(sorted(DETECTORS))}."
        )
    return DETECTORS[name]


def check_params(name: str, params: Mapping[str, object], *, where: str) -> dict[str, ParamValue]:
    """The detector's defaults overlaid with ``params``, each checked for name and type."""
    kind = detector_kind(name, where=where)
    checked: dict[str, ParamValue] = dict(kind.defaults)
    for key, value in params.items():
        if key not in kind.params:
            known = ", ".join(sorted(kind.params))
            raise ValueError(f"{where}: {name} has no parameter {key!r}; it takes {known}.")
        expected = kind.params[key]
        if expected is float and isinstance(value, int | float) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise ValueError(f"{where}: {name}.{key} must be a finite number; got {value!r}.")
            checked[key] = float(value)
        elif (expected is int and isinstance(value, int) and not isinstance(value, bool)) or (
            (expected is bool and isinstance(value, bool))
            or (expected is str and isinstance(value, str))
        ):
            checked[key] = value
        else:
            raise ValueError(f"{where}: {name}.{key} must be {expected.__name__}; got {value!r}.")
    return checked
