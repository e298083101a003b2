"""Two-sided tabular CUSUM on a stream standardised by the reference's mean and σ.

Page (1954), in the tabular form of Montgomery, *Introduction to Statistical Quality
Control*, §9.1: with ``z = (x - mean) / sigma``,

    S⁺ ← max(0, S⁺ + z - k)        S⁻ ← max(0, S⁻ - z - k)

and a change is signalled when either sum passes ``h``; both sums then start again from 0.
``k`` (the allowance) and ``h`` (the decision interval) are in σ units: ``k`` is half the
shift the chart is tuned for, ``h`` sets how long a stable stream runs between false alarms.
River has no CUSUM, so this one is written here; tests/detect/test_cusum.py checks it
against a plain re-statement of the recursion and with Hypothesis properties.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CusumParams:
    """The reference's mean and σ of the stream, and the allowance and interval in σ."""

    mean: float
    sigma: float
    k: float = 0.5
    h: float = 12.0

    def __post_init__(self) -> None:
        for name in ("mean", "sigma", "k", "h"):
            value = getattr(self, name)
            if not math.isfinite(value):
                raise ValueError(f"cusum: {name} must be a finite number; got {value!r}.")
        if self.sigma <= 0:
            raise ValueError(
                f"cusum: sigma must be > 0; got {self.sigma!r}. A stream that never varies in "
                "the reference cannot be standardised: watch another stream."
            )
        if self.k < 0 or self.h <= 0:
            raise ValueError(f"cusum: needs k >= 0 and h > 0; got k={self.k!r}, h={self.h!r}.")


class Cusum:
    """Two-sided tabular CUSUM; ``update`` says whether this value completed a change.

    >>> detector = Cusum(CusumParams(mean=0.0, sigma=1.0, k=0.5, h=4.0))
    >>> [detector.update(x) for x in [0.1, -0.2, 0.0]]
    [False, False, False]
    >>> [detector.update(3.0) for _ in range(2)]
    [False, True]
    >>> detector.upper, detector.lower
    (0.0, 0.0)
    """

    __slots__ = ("lower", "params", "upper")

    def __init__(self, params: CusumParams) -> None:
        self.params = params
        self.upper = 0.0
        self.lower = 0.0

    def update(self, x: float) -> bool:
        """Feed one value; True when either sum passes h (both are then reset)."""
        p = self.params
        z = (x - p.mean) / p.sigma
        self.upper = max(0.0, self.upper + z - p.k)
        self.lower = max(0.0, self.lower - z - p.k)
        if self.upper > p.h or self.lower > p.h:
            self.upper = self.lower = 0.0
            return True
        return False

    def dumps(self) -> bytes:
        """The two sums as JSON (the parameters are stored beside them by the caller)."""
        return json.dumps({"upper": self.upper, "lower": self.lower}).encode()

    def loads(self, payload: bytes) -> None:
        """Set the two sums from ``dumps``'s bytes."""
        data = json.loads(payload)
        upper, lower = float(data["upper"]), float(data["lower"])
        if not (math.isfinite(upper) and math.isfinite(lower) and upper >= 0 and lower >= 0):
            raise ValueError(f"cusum: stored sums must be finite and >= 0; got {data!r}.")
        self.upper, self.lower = upper, lower
