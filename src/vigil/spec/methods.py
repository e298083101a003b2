"""The drift-method registry: a method is its input, its kernel and its default threshold.

`vigil.measure.drift` computes every method that applies to a column's kind by calling its
kernel on the column's input — two sorted samples (`SamplePair`) or two count vectors on the
reference's bins or categories (`CountPair`) — so a new method is one entry here plus one
kernel in `vigil.stats`. Sample methods may also name an `approximate` kernel that works from
a saved reference profile (docs/profile-format.md); without one they are not computed against
a profile.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from vigil.errors import SpecError
from vigil.profile import (
    NumericProfile,
    approximate_ks,
    approximate_ks_p_value,
    approximate_wasserstein,
)
from vigil.spec.types import CATEGORY_KINDS, NUMERIC_KINDS, Kind, Threshold
from vigil.stats import (
    HistogramMeasures,
    SamplePair,
    anderson_darling_test,
    chi2_test,
    cramer_von_mises_test,
    energy_distance,
    histogram_measures,
    proportions_z_test,
)

MethodInput = Literal["samples", "counts"]


@dataclass(frozen=True, slots=True)
class Measure:
    """What a kernel gives: a statistic, and a p-value when the method is a test."""

    statistic: float | None  # None: not defined for this input (e.g. a constant reference)
    p_value: float | None = None


@dataclass(frozen=True, slots=True)
class CountPair:
    """Counts of the two sets on the same bins or categories (`labels` names categories)."""

    reference: NDArray[np.int64]
    current: NDArray[np.int64]
    labels: tuple[str, ...] | None = None  # None for numeric bins
    # the four histogram measures, computed together on first use (one check of the counts)
    _measures: list[HistogramMeasures] = field(
        default_factory=list, init=False, repr=False, compare=False
    )

    @property
    def measures(self) -> HistogramMeasures:
        """PSI, Jensen–Shannon, Hellinger and KL of the pair (`stats.histogram_measures`)."""
        if not self._measures:
            self._measures.append(histogram_measures(self.reference, self.current))
        return self._measures[0]


@dataclass(frozen=True, slots=True)
class DriftMethod:
    """A measure that can decide a column's drift verdict."""

    name: str
    input: MethodInput
    kinds: frozenset[str]  # column kinds it applies to
    kernel: Callable[..., Measure]  # SamplePair or CountPair -> Measure
    decides_by: Literal["statistic", "p_value"]  # statistic >= threshold, or p-value < threshold
    default: Threshold | None  # None: the spec must give one (the statistic has the column's units)
    bounded: bool  # the statistic lies in [0, 1]
    on_request: bool  # computed only when the spec asks (slower, or units-dependent)
    description: str
    # from a reference profile and the current set's profile on its edges (sample methods)
    approximate: Callable[[NumericProfile, NumericProfile], Measure] | None = None


# --- kernels: adapters from the stats functions to `Measure` ---------------------------------


def _ks(pair: SamplePair) -> Measure:
    result = pair.ecdf.ks
    return Measure(result.statistic, result.p_value)


def _ks_of_profiles(reference: NumericProfile, current: NumericProfile) -> Measure:
    statistic = approximate_ks(reference, current).value
    return Measure(statistic, approximate_ks_p_value(statistic, reference.count, current.count))


def _normalised(distance: float, std: float) -> Measure:
    if std > 0:
        return Measure(distance / std)
    return Measure(0.0 if distance == 0 else None)  # a constant reference has no scale


def _wasserstein(pair: SamplePair) -> Measure:
    return Measure(pair.ecdf.wasserstein)


def _wasserstein_of_profiles(reference: NumericProfile, current: NumericProfile) -> Measure:
    return Measure(approximate_wasserstein(reference, current).value)


def _wasserstein_norm(pair: SamplePair) -> Measure:
    return _normalised(pair.ecdf.wasserstein, pair.reference_std)


def _wasserstein_norm_of_profiles(reference: NumericProfile, current: NumericProfile) -> Measure:
    std = reference.std if reference.count > 1 else 0.0
    return _normalised(approximate_wasserstein(reference, current).value, std)


def _energy(pair: SamplePair) -> Measure:
    return Measure(energy_distance(pair.reference, pair.current, assume_sorted=True))


def _anderson(pair: SamplePair) -> Measure:
    if pair.reference.size < 2 or pair.current.size < 2:
        return Measure(None, None)  # the k-sample test needs two values a side
    result = anderson_darling_test(pair.reference, pair.current)
    return Measure(result.statistic, result.p_value)


def _cvm(pair: SamplePair) -> Measure:
    if pair.reference.size < 2 or pair.current.size < 2:
        return Measure(None, None)
    result = cramer_von_mises_test(pair.reference, pair.current)
    return Measure(result.statistic, result.p_value)


def _psi(counts: CountPair) -> Measure:
    return Measure(counts.measures.psi)


def _js(counts: CountPair) -> Measure:
    return Measure(counts.measures.jensen_shannon)


def _hellinger(counts: CountPair) -> Measure:
    return Measure(counts.measures.hellinger)


def _kl(counts: CountPair) -> Measure:
    return Measure(counts.measures.kl)


def _chi2(counts: CountPair) -> Measure:
    result = chi2_test(counts.reference, counts.current)
    return Measure(result.statistic, result.p_value)


def _z(counts: CountPair) -> Measure:
    labels = counts.labels or ()
    i = labels.index("true") if "true" in labels else None
    ref_true = int(counts.reference[i]) if i is not None else 0
    cur_true = int(counts.current[i]) if i is not None else 0
    result = proportions_z_test(
        ref_true, int(counts.reference.sum()), cur_true, int(counts.current.sum())
    )
    return Measure(result.statistic, result.p_value)


# --- the registry ------------------------------------------------------------------------------

_ANY = NUMERIC_KINDS | CATEGORY_KINDS
_BY_P = Threshold(0.05, 0.001, "below")
DRIFT_METHODS: dict[str, DriftMethod] = {
    "ks": DriftMethod(
        "ks", "samples", NUMERIC_KINDS, _ks, "statistic", Threshold(0.1, 0.2), True, False,
        "Kolmogorov–Smirnov statistic: largest gap between the two CDFs", _ks_of_profiles,
    ),
    "wasserstein_norm": DriftMethod(
        "wasserstein_norm", "samples", NUMERIC_KINDS, _wasserstein_norm, "statistic",
        Threshold(0.1, 0.2), False, False,
        "Wasserstein distance / reference standard deviation", _wasserstein_norm_of_profiles,
    ),
    "wasserstein": DriftMethod(
        "wasserstein", "samples", NUMERIC_KINDS, _wasserstein, "statistic", None, False, False,
        "Wasserstein (earth mover's) distance, in the column's units", _wasserstein_of_profiles,
    ),
    "energy": DriftMethod(
        "energy", "samples", NUMERIC_KINDS, _energy, "statistic", None, False, True,
        "energy distance, in the column's units",
    ),
    "anderson": DriftMethod(
        "anderson", "samples", NUMERIC_KINDS, _anderson, "p_value", _BY_P, True, True,
        "Anderson–Darling k-sample test p-value (capped to [0.001, 0.25])",
    ),
    "cvm": DriftMethod(
        "cvm", "samples", NUMERIC_KINDS, _cvm, "p_value", _BY_P, True, True,
        "Cramér–von Mises two-sample test p-value",
    ),
    "psi": DriftMethod(
        "psi", "counts", _ANY, _psi, "statistic", Threshold(0.1, 0.25), False, False,
        "population stability index on reference quantile bins or categories",
    ),
    "js": DriftMethod(
        "js", "counts", _ANY, _js, "statistic", Threshold(0.1, 0.2), True, False,
        "Jensen–Shannon distance, base 2",
    ),
    "hellinger": DriftMethod(
        "hellinger", "counts", _ANY, _hellinger, "statistic", Threshold(0.1, 0.2), True, False,
        "Hellinger distance",
    ),
    "kl": DriftMethod(
        "kl", "counts", _ANY, _kl, "statistic", Threshold(0.1, 0.25), False, False,
        "Kullback–Leibler divergence KL(current ‖ reference), nats",
    ),
    "chi2": DriftMethod(
        "chi2", "counts", CATEGORY_KINDS, _chi2, "p_value", _BY_P, True, False,
        "chi-square test of the 2×K contingency table, p-value",
    ),
    "z": DriftMethod(
        "z", "counts", frozenset({"boolean"}), _z, "p_value", _BY_P, True, False,
        "two-proportion z-test p-value of the share of true",
    ),
}  # fmt: skip

# The automatic method of each kind, and the significance test that goes with a statistic
# method (the reasons are in docs/statistics.md).
DEFAULT_METHODS: dict[str, str] = {
    "numeric": "ks",
    "datetime": "ks",
    "text": "ks",
    "categorical": "js",
    "boolean": "js",
}
KIND_TESTS: dict[str, str] = {
    "numeric": "ks",
    "datetime": "ks",
    "text": "ks",
    "categorical": "chi2",
    "boolean": "z",
}
ON_REQUEST = tuple(sorted(name for name, m in DRIFT_METHODS.items() if m.on_request))


def drift_method(column: str, name: str) -> DriftMethod:
    """The registry entry for `name`, or a SpecError naming the column and the choices."""
    if name not in DRIFT_METHODS:
        raise SpecError(
            f"column {column!r}: unknown drift method {name!r}; "
            f"use one of {', '.join(sorted(DRIFT_METHODS))}."
        )
    return DRIFT_METHODS[name]


def methods_for(kind: Kind, requested: tuple[str, ...] = ()) -> tuple[DriftMethod, ...]:
    """The methods measured on a column of this kind: the default set plus those requested."""
    return tuple(
        m
        for m in DRIFT_METHODS.values()
        if kind in m.kinds and (not m.on_request or m.name in requested)
    )
