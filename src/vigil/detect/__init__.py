"""Streaming change detectors on per-record streams (errors, scores, features).

``Detector`` wraps River's ADWIN, Page-Hinkley, KSWIN, DDM, EDDM, HDDM_A and HDDM_W (the
``streams`` extra) and vigil's own two-sided CUSUM behind ``update(x) -> bool``, with its
state to bytes (``Detector.dumps``) and back (``restore``). ``DETECTORS`` lists them.
Numbers and a bool only: what a detection means for a model is the service's business.
"""

from __future__ import annotations

from vigil.detect.cusum import Cusum, CusumParams
from vigil.detect.detector import Detector, DetectorConfig, make_detector, restore
from vigil.detect.registry import DETECTORS, STREAMS_EXTRA, check_params, detector_kind

__all__ = [
    "DETECTORS",
    "STREAMS_EXTRA",
    "Cusum",
    "CusumParams",
    "Detector",
    "DetectorConfig",
    "check_params",
    "detector_kind",
    "make_detector",
    "restore",
]
