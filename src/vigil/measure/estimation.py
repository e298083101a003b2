"""Performance estimated before the labels arrive: what CBPE and DLE give.

Labels come days or weeks after the predictions, so a window's realized performance is
unknown until then. Two estimators read a window without its labels, from models of the
reference's labelled rows (docs/statistics.md, "Performance before labels"):

- CBPE (`vigil.measure.cbpe`, binary and multiclass classification): the scores, calibrated
  on the reference when it shows they are not, are taken as the probability each row is of
  its class; the expected confusion matrix, and every metric that follows from it, is the
  window's estimate.
- DLE (`vigil.measure.dle`, regression): a model of each row's absolute and squared error,
  fitted on the reference's features and predictions, estimates MAE, RMSE and MAPE.

Both assume no concept shift: how the label depends on the inputs is the reference's. They
are blind to a change of that relation alone. Numbers only; `vigil.verdict` judges them.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field, replace
from typing import Any, Literal, TypeVar

import pyarrow as pa

from vigil.measure.performance import MetricChange
from vigil.spec import Spec

_T = TypeVar("_T")

# The reference's memo: `once(key, compute)` is `compute()`, kept for the next window when the
# reference is prepared (`vigil.evaluation.PreparedReference`), so a fit happens once per
# model version.
Once = Callable[[Hashable, Callable[[], _T]], _T]

Method = Literal["cbpe", "dle"]


@dataclass(frozen=True, slots=True)
class Estimate:
    """One metric estimated on the current set, beside the reference and, later, the truth."""

    metric: str  # a name of `vigil.measure.performance`: "roc_auc", "accuracy", "mae", ...
    value: float  # the estimate for the current set
    standard_error: float | None  # the estimate's sampling noise at the current set's size
    # the estimate against the reference's realized value, judged as performance is
    # (`vigil.verdict.change_status`); None when the reference's value is unknown
    change: MetricChange | None
    realized: float | None = None  # the current set's value on its labelled rows, when any


@dataclass(frozen=True, slots=True)
class EstimatedConfusion:
    """The expected confusion matrix of the current set: rows are true classes (fractional
    counts, summing to the set's rows)."""

    labels: tuple[str, ...]
    matrix: tuple[tuple[float, ...], ...]


@dataclass(frozen=True, slots=True)
class EstimationResult:
    """Every metric one estimator gave for the current set."""

    method: Method
    estimates: dict[str, Estimate]
    rows: int  # current rows the estimate read (rows with a score, or with every feature)
    calibrated: bool = False  # CBPE: the scores were recalibrated on the reference
    confusion: EstimatedConfusion | None = None  # CBPE only
    errors: dict[str, str] = field(default_factory=dict)  # metric -> why it was not estimated


def is_estimable(spec: Spec) -> bool:
    """Whether the spec asks for (or, on auto, allows) a performance estimate: a task with a
    target and, for classification, score columns."""
    options = spec.estimation
    if options.enabled is False or spec.task is None or spec.single("target") is None:
        return False
    if spec.task == "regression":
        return spec.single("prediction") is not None
    return bool(spec.with_role("score"))


def estimate(
    spec: Spec, reference: pa.Table | None, current: pa.Table, once: Once[Any]
) -> EstimationResult | None:
    """The performance of `current` estimated without its labels, by the task's estimator:
    CBPE for binary and multiclass classification, DLE for regression. None when the spec
    does not allow it or the reference is a profile (the fit needs its labelled rows)."""
    if reference is None or not is_estimable(spec):
        return None
    if spec.task in ("binary", "multiclass"):
        from vigil.measure.cbpe import estimate_cbpe

        result = estimate_cbpe(spec, reference, current, once)
        return None if not result.estimates and not result.errors else result
    from vigil.measure.dle import estimate_dle

    found = estimate_dle(spec, reference, current, once)
    asked = spec.estimation.metrics
    if asked:  # the metrics the spec asks for, as CBPE gives them
        found = replace(
            found,
            estimates={k: v for k, v in found.estimates.items() if k in asked},
            errors={k: v for k, v in found.errors.items() if k in asked},
        )
    return None if not found.estimates and not found.errors else found
