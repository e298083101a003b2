"""Drift of each column between the reference and the current set, and of the dataset.

A column's verdict combines an effect size with a significance test: the method's statistic
must reach its threshold *and* the column's test must stay significant after the correction
for testing many columns (Benjamini–Hochberg by default). On a million rows a p-value alone
calls almost every column drifted; an effect threshold alone is noisy on a hundred rows.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.stats import false_discovery_control

from vigil.profile import (
    CategoricalProfile,
    NumericProfile,
    aligned_counts,
    approximate_ks,
    approximate_ks_p_value,
    approximate_wasserstein,
    numeric_profile,
)
from vigil.sample import NumericSample
from vigil.spec import DRIFT_METHODS, ColumnSpec, DriftOptions, Kind, Role, Status, drift_method
from vigil.stats import (
    anderson_darling_test,
    bin_counts,
    chi2_test,
    compare_ecdfs,
    cramer_von_mises_test,
    energy_distance,
    hellinger_distance,
    jensen_shannon_distance,
    kl_divergence,
    proportions_z_test,
    psi,
    quantile_edges,
)


@dataclass(frozen=True, slots=True)
class Distribution:
    """What a chart of one column draws: the share of each set per bin or category."""

    labels: tuple[str, ...]  # bin labels, or category names (with "(other)" last when truncated)
    reference: tuple[float, ...]  # shares of the reference's counted rows per label
    current: tuple[float, ...]
    edges: tuple[float, ...] | None  # numeric: len(labels) + 1 finite edges; None for categories


@dataclass(frozen=True, slots=True)
class ColumnDrift:
    """How far one column moved, and whether that counts as drift."""

    column: str
    kind: Kind
    role: Role
    method: str  # the measure that decides, e.g. "ks", "js", "psi"
    statistic: float | None  # the method's value; None when the column could not be evaluated
    p_value: float | None  # the significance test's raw p-value; None where no test applies
    p_value_adjusted: float | None  # after the correction across columns
    test: str | None  # the significance test: "ks", "chi2", "z", or None
    threshold: float  # statistic at or above this (and a significant test) is drift: "warning"
    critical_threshold: float  # at or above this it is "critical"
    drifted: bool
    status: Status
    metrics: dict[str, float | None]  # every measure computed for the column, by name
    approximate: tuple[str, ...]  # names in `metrics` computed from profiles, so approximate
    error: str | None  # why the column could not be evaluated; None when it was
    distribution: Distribution | None


@dataclass(frozen=True, slots=True)
class DriftResult:
    """Drift of every evaluated column and the dataset verdict over the features."""

    columns: dict[str, ColumnDrift]
    n_features: int  # feature columns evaluated (prediction, score and target are not counted)
    n_drifted: int  # of those, how many drifted
    share_drifted: float
    dataset_threshold: float  # the dataset drifts when share_drifted >= this
    dataset_drifted: bool
    alpha: float | None  # significance level; None when the verdict uses the effect size alone
    correction: str  # "bh" or "none"


# --- measuring ------------------------------------------------------------------------------

CHART_CATEGORIES = 20  # categories drawn before the rest are summed into "(other)"


@dataclass(frozen=True, slots=True)
class Measurement:
    """Every measure of one column, before the verdict (which needs all columns' p-values)."""

    column: ColumnSpec
    metrics: dict[str, float | None]
    test: str | None
    p_value: float | None
    approximate: tuple[str, ...]
    distribution: Distribution | None
    error: str | None


def unevaluated(column: ColumnSpec, reason: str) -> Measurement:
    """A column that could not be measured, with the reason a person can act on."""
    return Measurement(column, {}, None, None, (), None, reason)


def _histogram_metrics(ref: NDArray[np.int64], cur: NDArray[np.int64]) -> dict[str, float | None]:
    return {
        "psi": psi(ref, cur),
        "js": jensen_shannon_distance(ref, cur),
        "hellinger": hellinger_distance(ref, cur),
        "kl": kl_divergence(ref, cur),
    }


def _numeric_extras(
    names: Iterable[str],
    ref: NDArray[np.float64],
    cur: NDArray[np.float64],
) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    if ref.size < 2 or cur.size < 2:  # the k-sample tests need two values a side
        for name in names:
            out[name] = None
            if name != "energy":
                out[f"{name}_p_value"] = None
        names = ["energy"] if "energy" in names else []
    for name in names:
        if name == "anderson":
            if ref.size < 2 or cur.size < 2 or ref[0] == ref[-1] == cur[0] == cur[-1]:
                out["anderson"], out["anderson_p_value"] = None, None
            else:
                r = anderson_darling_test(ref, cur)
                out["anderson"], out["anderson_p_value"] = r.statistic, r.p_value
        elif name == "cvm":
            r = cramer_von_mises_test(ref, cur)
            out["cvm"], out["cvm_p_value"] = r.statistic, r.p_value
        elif name == "energy":
            out["energy"] = energy_distance(ref, cur, assume_sorted=True)
    return out


def measure_numeric(
    column: ColumnSpec,
    reference: NumericSample | NumericProfile,
    current: NumericSample,
    *,
    n_bins: int,
    extras: Iterable[str] = (),
) -> Measurement:
    """All numeric measures of one column: exact from raw data, approximate KS and Wasserstein
    when the reference is a profile (docs/profile-format.md gives the bounds)."""
    n_ref = reference.values.size if isinstance(reference, NumericSample) else reference.count
    if n_ref == 0:
        return unevaluated(column, "the reference has no finite value in this column")
    if current.values.size == 0:
        return unevaluated(
            column,
            "the current set has no finite value in this column "
            f"({current.missing} missing, {current.infinite} infinite)",
        )
    cur = current.values
    metrics: dict[str, float | None]
    approximate: tuple[str, ...] = ()
    if isinstance(reference, NumericSample):
        ref = reference.values
        ecdf = compare_ecdfs(ref, cur, assume_sorted=True)
        ks, wasserstein = ecdf.ks, ecdf.wasserstein
        edges = quantile_edges(ref, n_bins)
        ref_counts = bin_counts(ref, edges, assume_sorted=True)
        ref_std = float(np.std(ref, ddof=1)) if ref.size > 1 else 0.0
        ks_stat, ks_p = ks.statistic, ks.p_value
        lo, hi = float(min(ref[0], cur[0])), float(max(ref[-1], cur[-1]))
        extra = _numeric_extras(extras, ref, cur)
    else:
        if reference.edges.size + 1 != reference.counts.size:
            raise ValueError("reference profile edges and counts disagree")
        cur_profile = numeric_profile(
            cur,
            missing=current.missing,
            infinite=current.infinite,
            like=reference,
            assume_sorted=True,
        )
        edges = reference.edges
        ref_counts = reference.counts
        ks_approx = approximate_ks(reference, cur_profile)
        ks_stat = ks_approx.value
        ks_p = approximate_ks_p_value(ks_stat, reference.count, cur.size)
        wasserstein = approximate_wasserstein(reference, cur_profile).value
        ref_std = reference.std if reference.count > 1 else 0.0
        lo, hi = float(min(reference.min, cur[0])), float(max(reference.max, cur[-1]))
        approximate = ("ks", "ks_p_value", "wasserstein", "wasserstein_norm")
        extra = {}
        for name in extras:  # need the raw reference
            extra[name] = None
            if name != "energy":
                extra[f"{name}_p_value"] = None
    cur_counts = bin_counts(cur, edges, assume_sorted=True)
    metrics = {
        "ks": ks_stat,
        "ks_p_value": ks_p,
        **_histogram_metrics(ref_counts, cur_counts),
        "wasserstein": wasserstein,
        "wasserstein_norm": (
            wasserstein / ref_std if ref_std > 0 else (0.0 if wasserstein == 0 else None)
        ),
        **extra,
    }
    labels = _bin_labels(edges)
    bounds = (lo, *(float(e) for e in edges), hi)
    distribution = Distribution(labels, _shares(ref_counts), _shares(cur_counts), bounds)
    return Measurement(column, metrics, "ks", ks_p, approximate, distribution, None)


def measure_categorical(
    column: ColumnSpec, reference: CategoricalProfile, current: CategoricalProfile
) -> Measurement:
    """All category measures of one column from the two sets' category counts (always exact)."""
    if reference.count == 0:
        return unevaluated(column, "the reference has no value in this column")
    if current.count == 0:
        return unevaluated(
            column, f"the current set has no value in this column ({current.missing} missing)"
        )
    categories, ref, cur = aligned_counts(reference, current)
    chi2 = chi2_test(ref, cur)
    metrics: dict[str, float | None] = {
        "chi2": chi2.statistic,
        "chi2_p_value": chi2.p_value,
        **_histogram_metrics(ref, cur),
    }
    test, p_value = "chi2", chi2.p_value
    if column.kind == "boolean":
        z = proportions_z_test(
            reference.counts.get("true", 0),
            reference.count,
            current.counts.get("true", 0),
            current.count,
        )
        metrics["z"], metrics["z_p_value"] = z.statistic, z.p_value
        test, p_value = "z", z.p_value
    shown = list(categories[:CHART_CATEGORIES])
    ref_shares, cur_shares = _shares(ref), _shares(cur)
    if len(categories) > CHART_CATEGORIES:
        shown.append("(other)")
        ref_shares = (*ref_shares[:CHART_CATEGORIES], sum(ref_shares[CHART_CATEGORIES:]))
        cur_shares = (*cur_shares[:CHART_CATEGORIES], sum(cur_shares[CHART_CATEGORIES:]))
    distribution = Distribution(tuple(shown), ref_shares, cur_shares, None)
    return Measurement(column, metrics, test, p_value, (), distribution, None)


def _shares(counts: NDArray[np.int64]) -> tuple[float, ...]:
    total = int(counts.sum())
    return tuple(float(c) / total for c in counts) if total else tuple(0.0 for _ in counts)


def _bin_labels(edges: NDArray[np.float64]) -> tuple[str, ...]:
    if edges.size == 0:
        return ("all",)
    e = [f"{float(x):.4g}" for x in edges]
    return (f"≤ {e[0]}", *(f"({a}, {b}]" for a, b in itertools.pairwise(e)), f"> {e[-1]}")


# --- deciding -------------------------------------------------------------------------------


def adjust_p_values(p_values: Sequence[float], correction: str) -> list[float]:
    """Benjamini–Hochberg adjusted p-values (Benjamini & Hochberg 1995), or the raw ones."""
    if correction == "none" or not p_values:
        return list(p_values)
    return [float(p) for p in false_discovery_control(np.asarray(p_values), method="bh")]


def decide(measurements: Sequence[Measurement], options: DriftOptions) -> DriftResult:
    """Verdicts for every column and the dataset, from the measurements of all columns."""
    tested = [m for m in measurements if m.error is None and m.p_value is not None]
    adjusted = dict(
        zip(
            (m.column.name for m in tested),
            adjust_p_values([_test_p(m) for m in tested], options.correction),
            strict=True,
        )
    )
    columns: dict[str, ColumnDrift] = {}
    for m in measurements:
        columns[m.column.name] = _verdict(m, adjusted.get(m.column.name), options)
    features = [c for c in columns.values() if c.role == "feature" and c.error is None]
    n_drifted = sum(c.drifted for c in features)
    share = n_drifted / len(features) if features else 0.0
    return DriftResult(
        columns=columns,
        n_features=len(features),
        n_drifted=n_drifted,
        share_drifted=share,
        dataset_threshold=options.dataset_share,
        dataset_drifted=bool(features) and share >= options.dataset_share,
        alpha=options.alpha,
        correction=options.correction,
    )


def _test_p(m: Measurement) -> float:
    """The p-value that enters the correction: the deciding test's own for p-value methods."""
    method = DRIFT_METHODS[m.column.effective_method]
    if method.decides_by == "p_value":
        p = m.metrics.get(f"{method.name}_p_value")
        if p is not None:
            return p
    assert m.p_value is not None  # guaranteed by the caller's filter
    return m.p_value


def _verdict(m: Measurement, p_adjusted: float | None, options: DriftOptions) -> ColumnDrift:
    col = m.column
    method = drift_method(col.name, col.effective_method)
    limits = col.thresholds()
    statistic, p_raw, test, error = m.metrics.get(method.name), m.p_value, m.test, m.error
    status: Status = "ok"
    if error is not None:
        statistic = p_raw = p_adjusted = test = None
    elif method.decides_by == "p_value":
        p_raw, test = m.metrics.get(f"{method.name}_p_value"), method.name
        if p_raw is None or p_adjusted is None:
            error = f"{method.name} could not be computed for this column"
        elif p_adjusted < limits.critical:
            status = "critical"
        elif p_adjusted < limits.warning:
            status = "warning"
    elif statistic is None:
        error = f"{method.name} is not defined for this column (is the reference constant?)"
    else:
        significant = options.alpha is None or (
            p_adjusted is not None and p_adjusted < options.alpha
        )
        if significant and statistic >= limits.critical:
            status = "critical"
        elif significant and statistic >= limits.warning:
            status = "warning"
    return ColumnDrift(
        column=col.name,
        kind=col.kind,
        role=col.role,
        method=method.name,
        statistic=statistic,
        p_value=p_raw,
        p_value_adjusted=p_adjusted,
        test=test,
        threshold=limits.warning,
        critical_threshold=limits.critical,
        drifted=status != "ok",
        status=status,
        metrics=m.metrics,
        approximate=m.approximate,
        error=error,
        distribution=m.distribution,
    )
