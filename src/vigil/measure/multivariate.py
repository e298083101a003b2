"""Multivariate drift: changes in how the features move together (numbers only).

Three measures of the current set against the reference, over the spec's features (or the
columns `multivariate.columns` names), docs/statistics.md "Multivariate drift":

- PCA reconstruction error (`vigil.stats.reconstruction`): the mean distance of the current
  rows from the reference's principal subspace, with the band the reference's own chunks of
  the same size stay within.
- Input anomaly share: the share of current rows whose error is beyond the reference's
  `anomaly_quantile` (99.9th percentile), with a one-sided binomial test against the
  reference's own share above it.
- Domain classifier: the cross-validated ROC AUC of a LightGBM classifier telling reference
  rows from current rows (0.5: indistinguishable), with its null standard error and the
  features that separate the sets most. Needs the `ml` extra.

Encoding, fitted on the reference only (so every window is encoded the same way): a numeric
column (datetime as epoch seconds, text as its length) as is, infinities as missing; a
categorical or boolean column as its category's share of the reference's rows (frequency
encoding: one dimension per column whatever the number of categories, and a category's
rarity is what a shift of the mix moves). A category the reference never had is 0 — rarer
than any category it had. Missing cells are imputed for the PCA (numeric: the reference's
median; categorical: the share of its most frequent category); the domain classifier sees
them as missing (LightGBM splits on missingness), so a shift in missingness separates too.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from vigil.measure.columns import boolean_column, category_codes, nan_as_null, numeric_array
from vigil.measure.detections import without_detections
from vigil.spec import CATEGORY_KINDS, NUMERIC_KINDS, ColumnSpec, Spec
from vigil.spec.values import category_strings
from vigil.stats.classification import roc_auc_score
from vigil.stats.reconstruction import (
    PCAFit,
    errors_by_fold,
    exceedance_test,
    fit_pca,
    fit_variance,
    fold_fits,
    fold_numbers,
    reconstruction_errors,
)

_T = TypeVar("_T")
Once = Callable[[Hashable, Callable[[], _T]], _T]

FOLDS = 5  # stratified folds of the domain classifier
MIN_DOMAIN_ROWS = 50  # rows each side below which the domain classifier is not run
SEED = 0
# Rows of the reference the PCA, its cross-fitted errors and the anomaly threshold are taken
# from (a seeded sample beyond it; the encodings read every row). 200,000 rows fix 25
# components' directions and the 99.9th percentile well; a 1M-row reference's fit costs a
# fifth of what it would (bench/RESULTS.md, the 1M table's note).
FIT_ROWS = 200_000
TOP_FEATURES = 5
# LightGBM's settings: small trees and few rounds — the question is whether the sets can be
# told apart at all, not the best classifier; one thread, as the service measures windows
# on the scheduler's thread.
LGBM_PARAMS: dict[str, Any] = {
    "n_estimators": 50,
    "num_leaves": 15,
    "learning_rate": 0.1,
    "min_child_samples": 20,
    "subsample_freq": 0,
    "n_jobs": 1,
    "random_state": SEED,
    "verbose": -1,
    "deterministic": True,
}
NO_LIGHTGBM = (
    "the domain classifier needs LightGBM: install the `ml` extra "
    "(pip install 'vigil-monitor[ml]'), or set multivariate.domain_classifier: false"
)


@dataclass(frozen=True, slots=True)
class Encoding:
    """How one column becomes one number per row (fitted on the reference)."""

    name: str
    kind: str
    fill: float  # numeric: the reference's median; categorical: its most frequent share
    labels: tuple[str, ...] = ()  # categorical: the reference's categories
    shares: tuple[float, ...] = ()  # their shares of the reference's rows


@dataclass(frozen=True, slots=True)
class MultivariateFit:
    """What the measures read of the reference, fitted once per prepared reference."""

    encodings: tuple[Encoding, ...]
    pca: PCAFit
    errors: NDArray[np.float64]  # the reference rows' errors, each under a fit without it
    fit_variance: float  # of a mean error, owed to the rows the PCA was fitted on
    fold_fits: tuple[PCAFit, ...]  # the fits the reference's errors were taken under
    anomaly_threshold: float  # the errors' `anomaly_quantile` quantile
    reference_anomaly_share: float  # the reference's own share above it
    sample: NDArray[np.float64]  # encoded rows (missing as NaN) for the domain classifier


@dataclass(frozen=True, slots=True)
class ReconstructionError:
    """The current set's mean reconstruction error beside the reference's band."""

    value: float  # mean error of the current rows
    reference: float  # mean error of the reference rows
    lower: float  # the band: reference mean ± width standard errors at the current size
    upper: float
    standard_error: float  # of current − reference: both sets' sampling noise and the fit's
    components: int  # principal components kept
    explained_variance: float  # share of the standardized variance they hold
    sampling_error: float = math.nan  # s/√m: the current mean's own noise (NannyML's)
    skewness: float = 0.0  # of current − reference under no change (the band's correction)

    def level(self, k: float) -> float:
        """The error k standard errors above the reference's, skewness corrected."""
        return self.reference + self.standard_error * (k + self.skewness * (k * k - 1) / 6)

    @property
    def relative_increase(self) -> float:
        """(current − reference) / reference; 0 when the reference error is 0."""
        return (self.value - self.reference) / self.reference if self.reference > 0 else 0.0

    @property
    def standard_errors(self) -> float:
        """How many standard errors the current mean lies above the reference's."""
        if self.standard_error > 0:
            return (self.value - self.reference) / self.standard_error
        return 0.0 if self.value == self.reference else math.inf


@dataclass(frozen=True, slots=True)
class AnomalyShare:
    """Current rows beyond the reference's error quantile."""

    value: float  # share of current rows with an error above the threshold
    rows: int  # current rows above it
    threshold: float  # the reference errors' quantile
    reference: float  # the reference's own share above it (≈ 1 − quantile)
    p_value: float  # one-sided binomial test of the count against the reference's share


@dataclass(frozen=True, slots=True)
class DomainClassifier:
    """How well a classifier tells the reference's rows from the current set's."""

    auc: float  # mean cross-validated ROC AUC over the folds
    standard_error: float  # of the AUC when the sets do not differ (Mann–Whitney null)
    p_value: float  # one-sided, of an AUC this far above 0.5 by chance
    reference_rows: int  # rows each side the classifier read (after the caps)
    current_rows: int
    top_features: tuple[tuple[str, float], ...]  # (column, share of the gain), largest first


@dataclass(frozen=True, slots=True)
class MultivariateResult:
    """The multivariate measures of one current set."""

    columns: tuple[str, ...]
    reference_rows: int
    current_rows: int
    reconstruction: ReconstructionError
    anomaly: AnomalyShare
    domain: DomainClassifier | None  # None: not asked for, too few rows, or no LightGBM
    notes: tuple[str, ...] = field(default=())  # why a measure was not computed


def multivariate_columns(spec: Spec) -> tuple[ColumnSpec, ...]:
    """The columns the multivariate measures read: the option's list, or every feature."""
    o = spec.multivariate
    kinds = NUMERIC_KINDS | CATEGORY_KINDS
    if o.columns:
        return tuple(spec.column(name) for name in o.columns)
    return tuple(c for c in spec.with_role("feature") if c.kind in kinds)


def is_multivariate_on(spec: Spec) -> bool:
    """Whether the spec asks for the measures (by default: two features or more)."""
    enabled = spec.multivariate.enabled
    if enabled is None:
        return len(multivariate_columns(spec)) >= 2
    return enabled


def _readable(column: pa.ChunkedArray, col: ColumnSpec) -> pa.ChunkedArray:
    if col.kind == "boolean":  # read as the reference was: true/false, 1/0
        booleans, _ = boolean_column(column)
        return booleans if booleans is not None else pa.chunked_array([pa.nulls(len(column))])
    return column


def fit_encoding(column: pa.ChunkedArray, col: ColumnSpec) -> Encoding:
    """The encoding of one reference column (docstring of this module)."""
    if col.kind in NUMERIC_KINDS:
        values, _ = numeric_array(column, col.kind)
        finite = values[np.isfinite(values)]
        fill = float(np.median(finite)) if finite.size else 0.0
        return Encoding(col.name, col.kind, fill)
    column = nan_as_null(_readable(column, col))
    rows = len(column)
    present = column.drop_null()
    if len(present) == 0:
        return Encoding(col.name, col.kind, 0.0)
    vc = pc.value_counts(present)
    names = category_strings(pa.chunked_array([vc.field("values")])).to_pylist()
    counts: dict[str, int] = {}
    for name, n in zip(names, vc.field("counts").to_pylist(), strict=True):
        counts[name] = counts.get(name, 0) + n
    labels = tuple(sorted(counts))
    shares = tuple(counts[label] / rows for label in labels)
    return Encoding(col.name, col.kind, max(shares), labels, shares)


def encode(table: pa.Table, encodings: tuple[Encoding, ...]) -> NDArray[np.float64]:
    """The table's rows as numbers, one column per encoding, missing as NaN."""
    out = np.empty((table.num_rows, len(encodings)), dtype=np.float64)
    for j, e in enumerate(encodings):
        column = table.column(e.name)
        if e.kind in NUMERIC_KINDS:
            values, _ = numeric_array(column, e.kind)  # type: ignore[arg-type]
            out[:, j] = np.where(np.isfinite(values), values, np.nan)
            continue
        if e.kind == "boolean":
            booleans, _ = boolean_column(column)
            column = booleans if booleans is not None else pa.chunked_array([pa.nulls(len(column))])
        column = nan_as_null(column)
        codes = category_codes(column, e.labels)
        lookup = np.array([*e.shares, 0.0])  # -1: a category the reference never had
        values = lookup[codes]
        missing = np.asarray(pc.is_null(column).to_numpy(zero_copy_only=False), dtype=bool)
        values[missing] = np.nan
        out[:, j] = values
    return out


def impute(x: NDArray[np.float64], encodings: tuple[Encoding, ...]) -> NDArray[np.float64]:
    """Missing cells replaced by each column's fill value (a new array)."""
    fills = np.array([e.fill for e in encodings])
    filled: NDArray[np.float64] = np.where(np.isnan(x), fills, x)
    return filled


def fit_multivariate(
    reference: pa.Table, columns: tuple[ColumnSpec, ...], spec: Spec
) -> MultivariateFit:
    """Encodings, PCA and error quantile of the reference (raises ValueError when it cannot)."""
    o = spec.multivariate
    if reference.num_rows < 2:
        raise ValueError(f"the reference has {reference.num_rows} rows; at least 2 are needed")
    encodings = tuple(fit_encoding(reference.column(c.name), c) for c in columns)
    if reference.num_rows > FIT_ROWS:  # a seeded sample stands for a large reference
        picked = np.sort(np.random.default_rng(SEED).choice(reference.num_rows, FIT_ROWS, False))
        reference = reference.take(pa.array(picked))
    encoded = encode(reference, encodings)
    filled = impute(encoded, encodings)
    pca = fit_pca(filled, variance=o.variance)
    # out-of-sample, as a window's rows are: in-sample errors would make every window worse
    fits: tuple[PCAFit, ...] = ()
    if filled.shape[0] >= 2 * FOLDS:
        fits = fold_fits(filled, variance=o.variance, folds=FOLDS, seed=SEED)
        errors = errors_by_fold(fits, filled, fold_numbers(filled.shape[0], folds=FOLDS, seed=SEED))
    else:  # too few rows to hold any out
        errors = reconstruction_errors(pca, filled)
    between = fit_variance(errors, fold_numbers(errors.size, folds=FOLDS, seed=SEED))
    threshold = float(np.quantile(errors, o.anomaly_quantile))
    rng = np.random.default_rng(SEED)
    n = encoded.shape[0]
    keep = np.sort(rng.choice(n, o.reference_cap, replace=False)) if n > o.reference_cap else None
    sample = encoded if keep is None else encoded[keep]
    return MultivariateFit(
        encodings=encodings,
        pca=pca,
        errors=errors,
        fit_variance=between,
        fold_fits=fits,
        anomaly_threshold=threshold,
        reference_anomaly_share=float(np.mean(errors > threshold)),
        sample=sample,
    )


def measure_multivariate(
    fit: MultivariateFit, current: pa.Table, spec: Spec, *, reference_rows: int
) -> MultivariateResult:
    """The three measures of `current` against a fitted reference."""
    o = spec.multivariate
    encoded = encode(current, fit.encodings)
    errors = reconstruction_errors(fit.pca, impute(encoded, fit.encodings))
    m = errors.size
    # the window's mean against the reference's: both sets' sampling noise and the fit's own
    s2, n = float(fit.errors.var(ddof=1)), fit.errors.size
    sampling = math.sqrt(s2 / m)
    se = math.sqrt(s2 / m + s2 / n + fit.fit_variance)
    mean = float(fit.errors.mean())
    # errors are right-skewed (a distance), so is a small window's mean: the band's ends are
    # Cornish–Fisher quantiles, k + γ(k² − 1)/6, γ the difference's skewness
    gamma = _skewness(fit.errors) / math.sqrt(m) * (sampling / se) ** 3 if se > 0 else 0.0
    w = o.standard_errors.warning
    reconstruction = ReconstructionError(
        value=float(errors.mean()),
        reference=mean,
        lower=mean + se * (-w + gamma * (w * w - 1) / 6),
        upper=mean + se * (w + gamma * (w * w - 1) / 6),
        standard_error=se,
        components=int(fit.pca.components.shape[0]),
        explained_variance=fit.pca.explained,
        sampling_error=sampling,
        skewness=gamma,
    )
    # a row is anomalous by the errors of the fits the reference's rows were scored with (each
    # window row under one fold's fit, dealt seeded), so both sides are scored alike
    scored = errors
    if fit.fold_fits:
        folds = fold_numbers(m, folds=len(fit.fold_fits), seed=SEED)
        scored = errors_by_fold(fit.fold_fits, impute(encoded, fit.encodings), folds)
    above = int(np.sum(scored > fit.anomaly_threshold))
    anomaly = AnomalyShare(
        value=above / m,
        rows=above,
        threshold=fit.anomaly_threshold,
        reference=fit.reference_anomaly_share,
        p_value=exceedance_test(
            above, m, reference_above=round(fit.reference_anomaly_share * n), reference_rows=n
        ),
    )
    notes: list[str] = []
    domain: DomainClassifier | None = None
    if o.domain_classifier is not False:  # None: on (the service's windows resolve it off)
        if not has_lightgbm():
            notes.append(f"Domain classifier not computed: {NO_LIGHTGBM}.")
        elif min(m, fit.sample.shape[0]) < MIN_DOMAIN_ROWS:
            notes.append(
                f"Domain classifier not computed: it needs {MIN_DOMAIN_ROWS} rows on each "
                f"side; the current set has {m}."
            )
        else:
            domain = domain_classifier(
                fit.sample, encoded, [e.name for e in fit.encodings], cap=o.reference_cap
            )
    return MultivariateResult(
        columns=tuple(e.name for e in fit.encodings),
        reference_rows=reference_rows,
        current_rows=m,
        reconstruction=reconstruction,
        anomaly=anomaly,
        domain=domain,
        notes=tuple(notes),
    )


def _skewness(x: NDArray[np.float64]) -> float:
    sd = float(x.std())
    return float(np.mean(((x - x.mean()) / sd) ** 3)) if sd > 0 else 0.0


def has_lightgbm() -> bool:
    """Whether the `ml` extra (LightGBM) is installed."""
    return importlib.util.find_spec("lightgbm") is not None


def stratified_folds(labels: NDArray[np.int64], folds: int, seed: int) -> NDArray[np.int64]:
    """A fold number per row: each class's rows shuffled (seeded) and dealt round-robin."""
    rng = np.random.default_rng(seed)
    fold = np.empty(labels.size, dtype=np.int64)
    for value in (0, 1):
        where = np.flatnonzero(labels == value)
        fold[rng.permutation(where)] = np.arange(where.size) % folds
    return fold


def null_auc_standard_error(positives: int, negatives: int) -> float:
    """Standard error of the ROC AUC when both classes' scores share one distribution.

    The Mann–Whitney U statistic's null variance, scaled to the AUC (Hanley & McNeil 1982):
    √((n₁ + n₂ + 1) / (12 n₁ n₂)); ties only shrink it.

    >>> round(null_auc_standard_error(1000, 1000), 5)
    0.00913
    """
    return math.sqrt((positives + negatives + 1) / (12.0 * positives * negatives))


def domain_classifier(
    reference: NDArray[np.float64],
    current: NDArray[np.float64],
    names: list[str],
    *,
    cap: int,
    folds: int = FOLDS,
    seed: int = SEED,
) -> DomainClassifier:
    """Cross-validated ROC AUC of LightGBM telling `current` rows (1) from `reference` (0).

    Each side is capped at `cap` rows (seeded subsample); the folds are stratified; the AUC is
    the mean of the folds' AUCs, its null standard error the square root of the folds' mean
    Mann–Whitney variance (not divided by the folds: their AUCs are strongly correlated), and
    the features' gain is summed over the folds.
    """
    import lightgbm  # the `ml` extra; the caller checked it is there

    rng = np.random.default_rng(seed)
    if current.shape[0] > cap:
        current = current[np.sort(rng.choice(current.shape[0], cap, replace=False))]
    x = np.vstack([reference, current])
    y = np.concatenate(
        [np.zeros(reference.shape[0], np.int64), np.ones(current.shape[0], np.int64)]
    )
    fold = stratified_folds(y, folds, seed)
    aucs, variances = [], []
    gain = np.zeros(x.shape[1])
    for k in range(folds):
        test = fold == k
        model = lightgbm.LGBMClassifier(importance_type="gain", **LGBM_PARAMS)
        model.fit(x[~test], y[~test])
        scores = np.asarray(model.predict_proba(x[test]), dtype=np.float64)[:, 1]
        aucs.append(roc_auc_score(y[test], scores))
        n1, n0 = int(y[test].sum()), int((1 - y[test]).sum())
        variances.append(null_auc_standard_error(n1, n0) ** 2)
        gain += np.asarray(model.feature_importances_, dtype=np.float64)
    auc = float(np.mean(aucs))
    # the folds' models share most of their training rows, so their AUCs move together: one
    # fold's null standard error (the bound for fully correlated folds), not it over √k
    se = math.sqrt(float(np.mean(variances)))
    total = float(gain.sum())
    order = np.argsort(-gain, kind="stable")[:TOP_FEATURES]
    top = tuple((names[i], float(gain[i] / total)) for i in order if total > 0 and gain[i] > 0)
    from scipy.stats import norm

    return DomainClassifier(
        auc=auc,
        standard_error=se,
        p_value=float(norm.sf((auc - 0.5) / se)),
        reference_rows=int(reference.shape[0]),
        current_rows=int(current.shape[0]),
        top_features=top,
    )


def window_spec(spec: Spec) -> Spec:
    """The spec the service judges its windows with: the domain classifier, on by default in
    a batch report, off unless the spec turns it on (`domain_classifier: true`); and no
    report-side stream detectors (`vigil.measure.detections.without_detections`: the service
    runs its own on the streams, as records arrive)."""
    spec = without_detections(spec)
    if spec.multivariate.domain_classifier is not None:
        return spec
    options = dataclasses.replace(spec.multivariate, domain_classifier=False)
    return dataclasses.replace(spec, multivariate=options)


def fitted(once: Once[MultivariateFit], reference: pa.Table, spec: Spec) -> MultivariateFit:
    """The reference's fit through its memo (fitted once per prepared reference)."""
    columns = multivariate_columns(spec)
    key = ("multivariate", tuple(c.name for c in columns), spec.multivariate)
    return once(key, lambda: fit_multivariate(reference, columns, spec))
