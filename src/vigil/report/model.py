"""The report: what one evaluation of a current set against a reference found.

Plain frozen data. The measuring modules define their parts (`vigil.measure.drift.DriftResult`,
`vigil.measure.quality.QualityResult`, `vigil.measure.performance.PerformanceResult`: numbers
only); `vigil.verdict` adds the checks, the one list of judgements that a CI gate, the metric
points and the alert rules read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vigil.measure.attribution import AttributionResult
from vigil.measure.detections import DetectionResult
from vigil.measure.drift import DriftResult
from vigil.measure.estimation import EstimationResult
from vigil.measure.fairness import FairnessResult
from vigil.measure.multivariate import MultivariateResult
from vigil.measure.performance import PerformanceResult
from vigil.measure.quality import QualityResult
from vigil.verdict import STATUS_ORDER, Check, Status, worst

__all__ = ["STATUS_ORDER", "Check", "Report", "SetSummary", "Status"]


@dataclass(frozen=True, slots=True)
class SetSummary:
    """Where a set came from and how big it was."""

    rows: int
    source: str  # file name, or "pandas DataFrame" / "Arrow table" for in-memory data
    is_profile: bool  # True when the set was a saved profile rather than raw rows


@dataclass(frozen=True, slots=True)
class Report:
    """Everything `evaluate` found; rendered by `vigil.report.{terminal,json,html}`."""

    reference: SetSummary
    current: SetSummary
    drift: DriftResult
    quality: QualityResult
    performance: PerformanceResult | None  # None when the spec has no target
    checks: tuple[Check, ...]
    notes: tuple[str, ...]  # caveats a reader must see, e.g. which measures are approximate
    spec: dict[str, Any]  # the effective spec as plain data (what was inferred or loaded)
    created: str  # ISO-8601 UTC
    vigil_version: str
    attribution: AttributionResult | None = None  # None when a set carries no attributions
    fairness: FairnessResult | None = None  # None when the spec protects no attribute
    # performance estimated before the labels (CBPE, DLE); None when not estimated
    estimated: EstimationResult | None = None
    multivariate: MultivariateResult | None = None  # None: not asked for, or not measurable
    # the stream detectors over the current set in time order; None when none ran. No
    # status: a detection is information (vigil.measure.detections)
    detections: DetectionResult | None = None

    @property
    def status(self) -> Status:
        """The worst status among the checks ("ok" when there are none)."""
        return worst(c.status for c in self.checks)

    def check(self, name: str, column: str | None = None) -> Check | None:
        """The check of this name (and column), or None."""
        for c in self.checks:
            if c.name == name and c.column == column:
                return c
        return None

    def drift_status(self, column: str) -> Status | None:
        """The drift status of a column; None when its drift was not judged."""
        found = self.check("drift", column)
        return None if found is None else found.status

    @property
    def drifted_features(self) -> tuple[str, ...]:
        """Features whose drift check is not ok, in the drift table's order."""
        return tuple(
            c.column
            for c in self.drift.columns.values()
            if c.role == "feature" and self.drift_status(c.column) not in (None, "ok")
        )

    @property
    def evaluated_features(self) -> int:
        """Features whose drift was measured."""
        return sum(c.role == "feature" and c.error is None for c in self.drift.columns.values())

    def sorted_by_status(self, checks: tuple[Check, ...] | None = None) -> list[Check]:
        """Checks worst first (a stable sort: same-status checks keep their order)."""
        return sorted(
            self.checks if checks is None else checks, key=lambda c: -STATUS_ORDER[c.status]
        )
