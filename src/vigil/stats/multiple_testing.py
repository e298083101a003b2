"""Adjusted p-values for testing many hypotheses at once."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np


def adjust_p_values(p_values: Sequence[float], correction: Literal["bh", "none"]) -> list[float]:
    """Benjamini–Hochberg adjusted p-values (or the raw ones with `correction="none"`).

    The adjusted value of the i-th smallest of m p-values is min over j ≥ i of m·p₍ⱼ₎ / j,
    capped at 1: rejecting every hypothesis whose adjusted p-value is below alpha keeps the
    expected share of false discoveries among the rejections at alpha (for independent or
    positively dependent tests), and under the global null the chance of any rejection too.

    References: Benjamini & Hochberg (1995), *Controlling the false discovery rate*, JRSS B
    57(1); `scipy.stats.false_discovery_control(p, method="bh")`.

    >>> [round(p, 4) for p in adjust_p_values([0.01, 0.04, 0.03, 0.5], "bh")]
    [0.04, 0.0533, 0.0533, 0.5]
    """
    if correction == "none" or len(p_values) == 0:
        return [float(p) for p in p_values]
    if correction != "bh":
        raise ValueError(f"adjust_p_values knows 'bh' and 'none'; got {correction!r}.")
    p = np.asarray(p_values, dtype=np.float64)
    if p.ndim != 1 or np.any(np.isnan(p)) or np.any((p < 0) | (p > 1)):
        raise ValueError(f"adjust_p_values needs p-values in [0, 1]; got {list(p_values)}.")
    m = p.size
    order = np.argsort(p, kind="stable")
    scaled = p[order] * m / np.arange(1, m + 1)
    adjusted = np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)
    out = np.empty(m)
    out[order] = adjusted
    return [float(x) for x in out]
