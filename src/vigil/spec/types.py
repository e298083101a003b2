"""The words of a spec: column roles, kinds, tasks, and the one threshold type.

A `Threshold` is data (two levels and a direction); the one place that reads a value against
it and decides a status is `vigil.verdict`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, get_args

Role = Literal["feature", "target", "prediction", "score", "id", "timestamp", "segment"]
Kind = Literal["numeric", "categorical", "boolean", "datetime", "text"]
Task = Literal["binary", "multiclass", "regression"]
Correction = Literal["bh", "none"]
Direction = Literal["above", "below"]
# fairness measures between the groups of a protected attribute (vigil.measure.fairness)
FairnessMeasure = Literal[
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "disparate_impact",
    "equal_opportunity_difference",
    "equalized_odds_difference",
]
FAIRNESS_MEASURES: tuple[str, ...] = get_args(FairnessMeasure)
# the measures that read labels (the rest read predictions alone), and the ratios (lower is
# less fair; the rest are differences, higher is less fair)
LABELLED_FAIRNESS = frozenset({"equal_opportunity_difference", "equalized_odds_difference"})
RATIO_FAIRNESS = frozenset({"demographic_parity_ratio", "disparate_impact"})

ROLES: tuple[str, ...] = get_args(Role)
KINDS: tuple[str, ...] = get_args(Kind)

# Kinds measured on numbers (datetime as epoch seconds, text as its length in characters)
# and kinds measured on category counts.
NUMERIC_KINDS = frozenset({"numeric", "datetime", "text"})
CATEGORY_KINDS = frozenset({"categorical", "boolean"})
# Roles whose drift is measured (the rest — id, timestamp, segment — are only checked).
DRIFT_ROLES = frozenset({"feature", "prediction", "score", "target"})


@dataclass(frozen=True, slots=True)
class Threshold:
    """A warning and a critical level for one value.

    `direction="above"`: a value at or above a level reaches it (a distance, a share).
    `direction="below"`: a value below a level reaches it (a p-value).

    >>> Threshold(0.1, 0.2)
    Threshold(warning=0.1, critical=0.2, direction='above')
    >>> Threshold(0.2, 0.1)
    Traceback (most recent call last):
    ...
    ValueError: the critical level 0.1 must be at or above the warning level 0.2.
    """

    warning: float
    critical: float
    direction: Direction = "above"

    def __post_init__(self) -> None:
        if not (math.isfinite(self.warning) and math.isfinite(self.critical)):
            raise ValueError(
                f"threshold levels must be finite numbers; got {self.warning}, {self.critical}."
            )
        above = self.direction == "above"
        if (self.critical < self.warning) if above else (self.critical > self.warning):
            side = "above" if above else "below"
            raise ValueError(
                f"the critical level {self.critical} must be at or {side} the warning "
                f"level {self.warning}."
            )
