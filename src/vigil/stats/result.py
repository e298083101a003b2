"""The result of a two-sample hypothesis test: a statistic and its p-value."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TestResult:
    """A test statistic and the p-value of observing it if both samples share one distribution.

    What the statistic means (and its range) depends on the test; the p-value is always in
    [0, 1], and a small one is evidence that the two samples differ.

    >>> TestResult(statistic=0.5, p_value=0.03)
    TestResult(statistic=0.5, p_value=0.03)
    """

    # Not a test case: keeps pytest from trying to collect this class where it is imported.
    __test__ = False

    statistic: float
    p_value: float
