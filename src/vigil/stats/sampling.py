"""Is a count beyond what sampling explains? One-sided tests for the data-quality checks.

Each answers "if the current set were drawn like the reference, how likely is a count at least
this large?" A small p-value says the count is not sampling noise; the checks built on these
also need the share itself to be large enough to matter (vigil.verdict).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
from scipy import special

from vigil.stats.result import TestResult


def _log_choose(n: float | np.ndarray, k: float | np.ndarray) -> float | np.ndarray:
    return special.gammaln(n + 1) - special.gammaln(k + 1) - special.gammaln(n - k + 1)  # type: ignore[no-any-return]


def _counts(name: str, **values: int) -> None:
    for key, value in values.items():
        if not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"{name} needs non-negative integer counts; got {key}={value!r}.")


def share_increase_test(
    reference_count: int, reference_n: int, current_count: int, current_n: int
) -> TestResult:
    """One-sided Fisher exact test that the current share is larger than the reference's.

    The statistic is the increase current_count/current_n − reference_count/reference_n; the
    p-value is P(X ≥ current_count) for X hypergeometric: the chance that, of all the counted
    rows of both sets, at least this many fall in the current set when its rows are a random
    part of the pooled rows.

    References: Fisher (1935), *The logic of inductive inference*;
    `scipy.stats.fisher_exact(table, alternative="greater")`.

    >>> r = share_increase_test(5, 100, 15, 100)
    >>> round(r.statistic, 2), round(r.p_value, 4)
    (0.1, 0.0159)
    """
    _counts(
        "share_increase_test",
        reference_count=reference_count,
        reference_n=reference_n,
        current_count=current_count,
        current_n=current_n,
    )
    if reference_count > reference_n or current_count > current_n:
        raise ValueError(
            f"share_increase_test needs counts within their sizes; got {reference_count} of "
            f"{reference_n} and {current_count} of {current_n}."
        )
    if reference_n == 0 or current_n == 0:
        return TestResult(0.0, 1.0)
    increase = current_count / current_n - reference_count / reference_n
    total, hits = reference_n + current_n, reference_count + current_count
    if current_count == 0:
        return TestResult(increase, 1.0)
    x = np.arange(current_count, min(hits, current_n) + 1, dtype=np.float64)
    log_pmf = np.asarray(
        _log_choose(float(hits), x)
        + _log_choose(float(total - hits), current_n - x)
        - _log_choose(float(total), float(current_n)),
        dtype=np.float64,
    )
    # log Σ exp, shifted by the largest term (scipy's `logsumexp` costs 0.2 ms a call in
    # array-API dispatch, more than the rest of a window's column)
    top = float(log_pmf.max())
    p_value = math.exp(top) * float(np.sum(np.exp(log_pmf - top)))
    return TestResult(increase, min(1.0, p_value))


def beyond_range_test(reference_n: int, current_n: int, beyond: int) -> TestResult:
    """How surprising `beyond` current values outside the reference's [min, max] are.

    If both sets are drawn from one continuous distribution, every ordering of the pooled
    values is equally likely, and the number K of current values below the reference's
    minimum or above its maximum has P(K ≥ k) = C(N − k, n)/C(N, n) · (N + (n − 1)·k)/(N − k),
    with n reference and N pooled values (derived by counting orderings; E[K] is
    2·m/(n + 1) for m current values). With ties the test is conservative. The statistic is the
    share K/m.

    >>> r = beyond_range_test(100, 100, 2)
    >>> round(r.statistic, 2), round(r.p_value, 3)
    (0.02, 0.5)
    >>> round(beyond_range_test(100, 100, 10).p_value, 4)
    0.0048
    """
    _counts("beyond_range_test", reference_n=reference_n, current_n=current_n, beyond=beyond)
    if beyond > current_n:
        raise ValueError(
            f"beyond_range_test: {beyond} values beyond the range of {current_n} current values."
        )
    if current_n == 0:
        return TestResult(0.0, 1.0)
    share = beyond / current_n
    if reference_n < 2 or beyond == 0:  # one reference value spans no range: no evidence
        return TestResult(share, 1.0)
    n, total, k = float(reference_n), float(reference_n + current_n), float(beyond)
    log_ratio = (
        special.gammaln(total - k + 1)
        - special.gammaln(total - k - n + 1)
        - special.gammaln(total + 1)
        + special.gammaln(total - n + 1)
    )
    p_value = math.exp(float(log_ratio)) * (total + (n - 1) * k) / (total - k)
    return TestResult(share, float(min(1.0, max(0.0, p_value))))


def excess_count_test(count: int, n: int, expected_share: float) -> TestResult:
    """One-sided binomial test of `count` successes in `n` against a share `expected_share`.

    The p-value is P(X ≥ count) for X ~ Binomial(n, expected_share); the statistic is the
    observed share count/n.

    >>> r = excess_count_test(8, 100, 0.02)
    >>> round(r.statistic, 2), round(r.p_value, 4)
    (0.08, 0.0009)
    """
    _counts("excess_count_test", count=count, n=n)
    if count > n or not 0.0 <= expected_share <= 1.0:
        raise ValueError(
            f"excess_count_test needs 0 <= count <= n and a share in [0, 1]; got {count} of {n} "
            f"against {expected_share}."
        )
    if n == 0:
        return TestResult(0.0, 1.0)
    if count == 0:
        return TestResult(0.0, 1.0)
    p_value = float(special.bdtrc(count - 1, n, expected_share))
    return TestResult(count / n, min(1.0, max(0.0, p_value)))


def constant_chance(shares: Iterable[float], n: int) -> float:
    """The chance that n draws from categories with these shares all land in one category.

    Σ pᵥⁿ: how likely a current set of n rows is to hold a single value by chance alone.

    >>> round(constant_chance([0.5, 0.5], 3), 4)
    0.25
    """
    if n < 1:
        raise ValueError(f"constant_chance needs at least one draw; got n={n}.")
    p = np.array(shares if isinstance(shares, np.ndarray) else list(shares), dtype=np.float64)
    if p.size == 0 or np.any(p < 0):
        raise ValueError("constant_chance needs non-negative shares.")
    p = p[p > 0]
    return float(min(1.0, np.sum(np.exp(n * np.log(p)))))
