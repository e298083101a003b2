"""The report: what one evaluation of a current set against a reference found.

Plain frozen data. The computing modules define their own parts (`vigil.drift.ColumnDrift`,
`vigil.quality.ColumnQuality`, `vigil.performance.PerformanceResult`); this module composes them and
adds the checks, the one list a CI gate or an alert rule reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from vigil.drift import DriftResult
from vigil.performance import PerformanceResult
from vigil.quality import QualityResult

Status = Literal["ok", "warning", "critical"]
STATUS_ORDER: dict[str, int] = {"ok": 0, "warning": 1, "critical": 2}


@dataclass(frozen=True, slots=True)
class Check:
    """One pass/fail judgement: a measured value against a threshold."""

    name: str  # e.g. "drift", "dataset_drift", "missing_share", "performance.roc_auc"
    column: str | None  # None for dataset-level checks
    status: Status
    value: float | None
    threshold: float | None  # the threshold that decided the status (warning or critical)
    message: str  # one sentence a person can act on


@dataclass(frozen=True, slots=True)
class SetSummary:
    """Where a set came from and how big it was."""

    rows: int
    source: str  # file name, or "<DataFrame>" / "<Arrow table>" for in-memory data
    is_profile: bool  # True when the set was a saved profile rather than raw rows


@dataclass(frozen=True, slots=True)
class Report:
    """Everything `evaluate` found; rendered by `vigil.report.{terminal,json,html}`."""

    reference: SetSummary
    current: SetSummary
    drift: DriftResult
    quality: QualityResult
    performance: PerformanceResult | None  # None when no set carries the target
    checks: tuple[Check, ...]
    notes: tuple[str, ...]  # caveats a reader must see, e.g. which measures are approximate
    spec: dict[str, Any]  # the effective spec as plain data (what was inferred or loaded)
    created: str  # ISO-8601 UTC
    vigil_version: str

    @property
    def status(self) -> Status:
        """The worst status among the checks ("ok" when there are none)."""
        worst: Status = "ok"
        for check in self.checks:
            if STATUS_ORDER[check.status] > STATUS_ORDER[worst]:
                worst = check.status
        return worst
