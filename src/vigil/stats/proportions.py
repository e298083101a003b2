"""Two-proportion z-test, e.g. for a boolean column or a classifier's positive rate."""

from __future__ import annotations

import math
import operator

from scipy import special

from vigil.stats.result import TestResult


def proportions_z_test(
    reference_successes: int, reference_n: int, current_successes: int, current_n: int
) -> TestResult:
    """Pooled two-proportion z-test, two-sided; the statistic is z (current minus reference).

    z = (x₂/n₂ − x₁/n₁) / √(p̂ (1 − p̂) (1/n₁ + 1/n₂)) with the pooled share p̂ = (x₁ + x₂) /
    (n₁ + n₂), and the p-value is 2 · Φ(−|z|). z² is Pearson's chi-squared statistic of the
    2 × 2 table without continuity correction. When p̂ is 0 or 1 both sets agree perfectly:
    z = 0 and p = 1.

    References: Agresti (2013), *Categorical Data Analysis*, 3rd ed., §3.1;
    `scipy.stats.chi2_contingency(table, correction=False)` (z² equals its statistic).

    >>> result = proportions_z_test(50, 100, 70, 100)
    >>> round(result.statistic, 4), round(result.p_value, 4)
    (2.8868, 0.0039)
    >>> proportions_z_test(0, 10, 0, 20)
    TestResult(statistic=0.0, p_value=1.0)
    """
    counts = {
        "reference_successes": reference_successes,
        "reference_n": reference_n,
        "current_successes": current_successes,
        "current_n": current_n,
    }
    try:
        x_ref, n_ref, x_cur, n_cur = (operator.index(value) for value in counts.values())
    except TypeError:
        raise ValueError(f"proportions_z_test needs integer counts; got {counts}.") from None
    if n_ref < 1 or n_cur < 1 or not (0 <= x_ref <= n_ref and 0 <= x_cur <= n_cur):
        raise ValueError(
            "proportions_z_test needs n >= 1 and 0 <= successes <= n on each side; got "
            f"{x_ref} of {n_ref} (reference) and {x_cur} of {n_cur} (current)."
        )
    pooled = (x_ref + x_cur) / (n_ref + n_cur)
    if pooled in (0.0, 1.0):
        return TestResult(0.0, 1.0)
    standard_error = math.sqrt(pooled * (1.0 - pooled) * (1.0 / n_ref + 1.0 / n_cur))
    z = (x_cur / n_cur - x_ref / n_ref) / standard_error
    # 2·Φ(−|z|) stays accurate far into the tail, unlike 1 − Φ(|z|).
    p_value = min(1.0, 2.0 * float(special.ndtr(-abs(z))))
    return TestResult(z, p_value)
