"""How far each column moved between the reference and the current set: numbers only.

Every method of the registry (`vigil.spec.methods.DRIFT_METHODS`) that applies to a column's
kind is computed by its kernel — on the two sorted samples, or on counts over the reference's
quantile bins or categories — and the p-values of the columns' tests are adjusted for testing
many columns (Benjamini–Hochberg by default). Whether that is drift is decided in
`vigil.verdict`, from the spec's thresholds.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from vigil.measure.columns import NumericSample
from vigil.profile import CategoricalProfile, NumericProfile, aligned_counts, numeric_profile
from vigil.spec import ColumnSpec, Kind, Role, drift_method, methods_for
from vigil.spec.methods import KIND_TESTS, CountPair, DriftMethod, Measure
from vigil.stats import SamplePair, bin_counts, quantile_edges


@dataclass(frozen=True, slots=True)
class Distribution:
    """What a chart of one column draws: the share of each set per bin or category."""

    labels: tuple[str, ...]  # bin labels, or category names (with "(other)" last when truncated)
    reference: tuple[float, ...]  # shares of the reference's counted rows per label
    current: tuple[float, ...]
    edges: tuple[float, ...] | None  # numeric: len(labels) + 1 finite edges; None for categories


@dataclass(frozen=True, slots=True)
class ColumnDrift:
    """How far one column moved: every measure, and the deciding method's numbers."""

    column: str
    kind: Kind
    role: Role
    method: str  # the measure that decides, e.g. "ks", "js", "psi"
    statistic: float | None  # the method's value; None when the column could not be evaluated
    p_value: float | None  # the deciding test's raw p-value; None where no test applies
    p_value_adjusted: float | None  # after the correction across columns
    test: str | None  # the deciding test: "ks", "chi2", "z", or a p-value method's own name
    threshold: float  # the spec's warning level of the method
    critical_threshold: float  # the spec's critical level
    metrics: dict[str, float | None]  # every measure computed for the column, by name
    approximate: tuple[str, ...]  # names in `metrics` computed from profiles, so approximate
    error: str | None  # why the column could not be evaluated; None when it was
    distribution: Distribution | None


@dataclass(frozen=True, slots=True)
class DriftResult:
    """Drift measurements of every column whose drift is measured."""

    columns: dict[str, ColumnDrift]
    alpha: float | None  # significance level; None when the verdict uses the effect size alone
    correction: str  # "bh" or "none"


CHART_CATEGORIES = 20  # categories drawn before the rest are summed into "(other)"


def unevaluated(column: ColumnSpec, reason: str) -> ColumnDrift:
    """A column that could not be measured, with the reason a person can act on."""
    limits = column.thresholds()
    return ColumnDrift(
        column.name,
        column.kind,
        column.role,
        column.effective_method,
        None,
        None,
        None,
        None,
        limits.warning,
        limits.critical,
        {},
        (),
        reason,
        None,
    )


def _record(metrics: dict[str, float | None], method: DriftMethod, value: Measure | None) -> None:
    metrics[method.name] = None if value is None else value.statistic
    if method.decides_by == "p_value" or method.name in KIND_TESTS.values():
        metrics[f"{method.name}_p_value"] = None if value is None else value.p_value


def _measured(
    column: ColumnSpec,
    metrics: dict[str, float | None],
    approximate: tuple[str, ...],
    distribution: Distribution,
) -> ColumnDrift:
    """The column's record from its measures: the deciding method's statistic and test."""
    method = drift_method(column.name, column.effective_method)
    limits = column.thresholds()
    test = method.name if method.decides_by == "p_value" else column.test
    statistic = metrics.get(method.name)
    p_value = metrics.get(f"{test}_p_value")
    error = None
    if statistic is None and method.decides_by == "statistic":
        error = f"{method.name} is not defined for this column (is the reference constant?)"
    elif p_value is None and method.decides_by == "p_value":
        error = f"{method.name} could not be computed for this column"
    return ColumnDrift(
        column=column.name,
        kind=column.kind,
        role=column.role,
        method=method.name,
        statistic=None if error else statistic,
        p_value=None if error else p_value,
        p_value_adjusted=None,
        test=None if error else test,
        threshold=limits.warning,
        critical_threshold=limits.critical,
        metrics=metrics,
        approximate=approximate,
        error=error,
        distribution=distribution,
    )


def measure_numeric(
    column: ColumnSpec,
    reference: NumericSample | NumericProfile,
    current: NumericSample | NumericProfile,
    *,
    n_bins: int,
    extras: Sequence[str] = (),
) -> ColumnDrift:
    """Every numeric measure of one column: exact from raw data; from a reference profile the
    sample methods use their approximate kernels (docs/profile-format.md gives the bounds).

    The current set may be a profile too (`vigil.summaries`), built like the reference
    profile (on its edges): the count measures are then exact and the sample measures are
    the same approximations as from its rows."""
    raw = isinstance(reference, NumericSample)
    n_ref = reference.values.size if isinstance(reference, NumericSample) else reference.count
    if n_ref == 0:
        return unevaluated(column, "the reference has no finite value in this column")
    if isinstance(current, NumericProfile):
        if isinstance(reference, NumericSample):
            raise ValueError(
                "a current profile is measured against a reference profile on the same edges; "
                "profile the reference first"
            )
        return _measure_profiles(column, reference, current, extras)
    cur = current.values
    if cur.size == 0:
        return unevaluated(
            column,
            "the current set has no finite value in this column "
            f"({current.missing} missing, {current.infinite} infinite)",
        )
    requested = tuple(extras)
    if column.effective_method not in requested:
        requested += (column.effective_method,)
    metrics: dict[str, float | None] = {}
    approximate: list[str] = []
    if isinstance(reference, NumericSample):
        ref = reference.values
        pair: SamplePair | None = SamplePair(reference.sorted, cur)
        edges, ref_counts = reference.sorted.kept(
            ("bins", n_bins), lambda: _reference_bins(ref, n_bins)
        )
        lo, hi = float(min(ref[0], cur[0])), float(max(ref[-1], cur[-1]))
        profiles = None
    else:
        if reference.edges.size + 1 != reference.counts.size:
            raise ValueError("reference profile edges and counts disagree")
        pair = None
        edges, ref_counts = reference.edges, reference.counts
        profiles = (
            reference,
            numeric_profile(
                cur,
                missing=current.missing,
                infinite=current.infinite,
                like=reference,
                assume_sorted=True,
            ),
        )
        lo, hi = float(min(reference.min, cur[0])), float(max(reference.max, cur[-1]))
    cur_counts = bin_counts(cur, edges, assume_sorted=True)
    counts = CountPair(ref_counts, cur_counts)
    for method in methods_for(column.kind, requested):
        value: Measure | None = None
        if method.input == "counts":
            value = method.kernel(counts)
        elif pair is not None:
            value = method.kernel(pair)
        elif profiles is not None and method.approximate is not None:
            value = method.approximate(*profiles)
            approximate.append(method.name)
        _record(metrics, method, value)
    if not raw:
        approximate += [f"{name}_p_value" for name in approximate if f"{name}_p_value" in metrics]
    labels, ref_shares, inner = (
        reference.sorted.kept(("chart", n_bins), lambda: _chart(edges, ref_counts))
        if isinstance(reference, NumericSample)
        else _chart(edges, ref_counts)
    )
    distribution = Distribution(labels, ref_shares, _shares(cur_counts), (lo, *inner, hi))
    return _measured(column, metrics, tuple(approximate), distribution)


def _measure_profiles(
    column: ColumnSpec,
    reference: NumericProfile,
    current: NumericProfile,
    extras: Sequence[str],
) -> ColumnDrift:
    """`measure_numeric` of a current profile against the reference profile it was built like."""
    if current.count == 0:
        return unevaluated(
            column,
            "the current set has no finite value in this column "
            f"({current.missing} missing, {current.infinite} infinite)",
        )
    if not np.array_equal(reference.edges, current.edges):
        raise ValueError(
            "the current profile was not built on the reference's bin edges; build it like "
            "the reference profile"
        )
    requested = tuple(extras)
    if column.effective_method not in requested:
        requested += (column.effective_method,)
    metrics: dict[str, float | None] = {}
    approximate: list[str] = []
    counts = CountPair(reference.counts, current.counts)
    for method in methods_for(column.kind, requested):
        value: Measure | None = None
        if method.input == "counts":
            value = method.kernel(counts)
        elif method.approximate is not None:
            value = method.approximate(reference, current)
            approximate.append(method.name)
        _record(metrics, method, value)
    approximate += [f"{name}_p_value" for name in approximate if f"{name}_p_value" in metrics]
    labels, ref_shares, inner = _chart(reference.edges, reference.counts)
    lo, hi = min(reference.min, current.min), max(reference.max, current.max)
    distribution = Distribution(labels, ref_shares, _shares(current.counts), (lo, *inner, hi))
    return _measured(column, metrics, tuple(approximate), distribution)


def measure_categorical(
    column: ColumnSpec, reference: CategoricalProfile, current: CategoricalProfile
) -> ColumnDrift:
    """Every category measure of one column from the two sets' category counts (exact)."""
    if reference.count == 0:
        return unevaluated(column, "the reference has no value in this column")
    if current.count == 0:
        return unevaluated(
            column, f"the current set has no value in this column ({current.missing} missing)"
        )
    categories, ref, cur = aligned_counts(reference, current)
    counts = CountPair(ref, cur, tuple(categories))
    metrics: dict[str, float | None] = {}
    for method in methods_for(column.kind):
        _record(metrics, method, method.kernel(counts))
    shown = list(categories[:CHART_CATEGORIES])
    ref_shares, cur_shares = _shares(ref), _shares(cur)
    if len(categories) > CHART_CATEGORIES:
        shown.append("(other)")
        ref_shares = (*ref_shares[:CHART_CATEGORIES], sum(ref_shares[CHART_CATEGORIES:]))
        cur_shares = (*cur_shares[:CHART_CATEGORIES], sum(cur_shares[CHART_CATEGORIES:]))
    distribution = Distribution(tuple(shown), ref_shares, cur_shares, None)
    return _measured(column, metrics, (), distribution)


def _reference_bins(
    sorted_reference: NDArray[np.float64], n_bins: int
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """The reference's quantile edges and its counts on them (read-only: they are kept)."""
    edges = quantile_edges(sorted_reference, n_bins)
    counts = bin_counts(sorted_reference, edges, assume_sorted=True)
    edges.flags.writeable = False
    counts.flags.writeable = False
    return edges, counts


def _chart(
    edges: NDArray[np.float64], ref_counts: NDArray[np.int64]
) -> tuple[tuple[str, ...], tuple[float, ...], tuple[float, ...]]:
    """The reference's side of a numeric column's chart: bin labels, its shares, inner edges
    (kept with a reference's sorted sample: they are the same for every window)."""
    return _bin_labels(edges), _shares(ref_counts), tuple(float(e) for e in edges)


def _shares(counts: NDArray[np.int64]) -> tuple[float, ...]:
    total = int(counts.sum())
    return tuple(float(c) / total for c in counts) if total else tuple(0.0 for _ in counts)


def _bin_labels(edges: NDArray[np.float64]) -> tuple[str, ...]:
    if edges.size == 0:
        return ("all",)
    e = [f"{float(x):.4g}" for x in edges]
    return (f"≤ {e[0]}", *(f"({a}, {b}]" for a, b in itertools.pairwise(e)), f"> {e[-1]}")
