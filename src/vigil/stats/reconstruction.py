"""PCA reconstruction error: how far rows lie from the reference's principal subspace.

NannyML's "data reconstruction drift" (docs/statistics.md, "Multivariate drift"): the
reference's columns are standardized, a PCA keeps enough components for a share of their
variance, and a row's reconstruction error is the Euclidean distance, in standardized units,
between the row and its projection back from those components. A change in how the columns
move together moves rows off the subspace even when every column's own distribution stays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.stats import betabinom


@dataclass(frozen=True, slots=True)
class PCAFit:
    """Standardization and principal axes fitted on the reference's rows."""

    mean: NDArray[np.float64]  # per column
    scale: NDArray[np.float64]  # per column; 1 for a constant column (as scikit-learn does)
    components: NDArray[np.float64]  # (kept components, columns), orthonormal rows
    explained: float  # share of the standardized variance the kept components hold


def fit_pca(x: NDArray[np.float64], *, variance: float = 0.65) -> PCAFit:
    """Standardize the columns of `x` and keep the fewest components holding `variance`.

    `x` is (rows, columns), finite. The standard deviation is the population one (ddof 0)
    and a constant column keeps scale 1, as scikit-learn's `StandardScaler` does; the axes
    are the right singular vectors of the centred, scaled matrix (scikit-learn's `PCA` with a
    float `n_components` keeps the same number: the first whose cumulative share exceeds it).

    >>> rng = np.random.default_rng(0)
    >>> fit_pca(rng.normal(size=(200, 3)), variance=0.99).components.shape
    (3, 3)
    """
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 1:
        raise ValueError(f"fit_pca needs a 2-D array of at least 2 rows; got shape {x.shape}.")
    if not 0 < variance <= 1:
        raise ValueError(f"fit_pca needs 0 < variance <= 1; got {variance}.")
    if not np.all(np.isfinite(x)):
        raise ValueError("fit_pca needs finite values; impute missing ones first.")
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    z = (x - mean) / scale
    if z.shape[0] >= z.shape[1]:
        # many more rows than columns (a reference): the eigenvectors of the columns' Gram
        # matrix are the right singular vectors, at a matrix product's cost instead of an
        # SVD of the whole table (scikit-learn's "covariance_eigh" solver)
        values, vectors = np.linalg.eigh(z.T @ z)
        order = np.argsort(values)[::-1]
        eig = np.clip(values[order], 0.0, None)
        vt = vectors[:, order].T
    else:
        _, singular, vt = np.linalg.svd(z, full_matrices=False)
        eig = singular**2
    total = float(eig.sum())
    if total == 0.0:  # every column constant: no axis to keep; every row reconstructs itself
        return PCAFit(mean, scale, np.zeros((0, x.shape[1])), 1.0)
    ratio = np.cumsum(eig) / total
    k = int(np.searchsorted(ratio, variance, side="right")) + 1
    k = min(k, vt.shape[0])
    # a sign convention (largest loading positive) so a fit is one answer, not one of 2^k
    comps = vt[:k]
    signs = np.sign(comps[np.arange(k), np.argmax(np.abs(comps), axis=1)])
    return PCAFit(mean, scale, comps * signs[:, None], float(ratio[k - 1]))


def reconstruction_errors(fit: PCAFit, x: NDArray[np.float64]) -> NDArray[np.float64]:
    """Each row's Euclidean distance to its reconstruction, in the fit's standardized units.

    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(100, 2))
    >>> bool(np.allclose(reconstruction_errors(fit_pca(x, variance=1.0), x), 0))
    True
    """
    if x.ndim != 2 or x.shape[1] != fit.mean.size:
        raise ValueError(
            f"reconstruction_errors needs rows of {fit.mean.size} columns, as fitted; got "
            f"shape {x.shape}."
        )
    z = (x - fit.mean) / fit.scale
    projected = z @ fit.components.T
    residual = z - projected @ fit.components
    errors: NDArray[np.float64] = np.sqrt(np.einsum("ij,ij->i", residual, residual))
    return errors


def fold_numbers(rows: int, *, folds: int = 5, seed: int = 0) -> NDArray[np.int64]:
    """A fold number per row: a seeded permutation dealt round-robin (`cross_fitted_errors`)."""
    fold = np.empty(rows, dtype=np.int64)
    fold[np.random.default_rng(seed).permutation(rows)] = np.arange(rows) % folds
    return fold


def fit_variance(errors: NDArray[np.float64], fold: NDArray[np.int64]) -> float:
    """The variance a window's mean error owes to which rows the PCA was fitted on.

    Each fold's mean cross-fitted error varies by its rows' sampling noise (s²/its rows) and
    by its fit's own subspace; the spread of the fold means beyond the sampling part is the
    fit's share (0 when sampling explains it all). A window is scored by one fit, so this
    variance does not shrink with the window's size: it matters for small or wide references.
    """
    folds = int(fold.max()) + 1 if fold.size else 0
    if folds < 2:
        return 0.0
    means = np.array([errors[fold == k].mean() for k in range(folds)])
    sizes = np.array([np.sum(fold == k) for k in range(folds)])
    sampling = float(np.mean(errors.var(ddof=1) / sizes))
    return max(float(means.var(ddof=1)) - sampling, 0.0)


def cross_fitted_errors(
    x: NDArray[np.float64], *, variance: float = 0.65, folds: int = 5, seed: int = 0
) -> NDArray[np.float64]:
    """Each row's reconstruction error under a fit that did not see it (k-fold).

    A row's error under a PCA fitted on it is too small: the fit bent towards it, by about
    components / rows of the error, which is large for a small or wide reference. New rows do
    not get that discount, so a reference's in-sample errors would make every window look
    worse. Each fold's rows are scored by a fit on the other folds (rows dealt to folds by a
    seeded permutation); with fewer than 2 rows per fold the in-sample errors are returned.

    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(500, 6))
    >>> inside = reconstruction_errors(fit_pca(x, variance=0.65), x).mean()
    >>> bool(cross_fitted_errors(x, variance=0.65).mean() > inside)
    True
    """
    n = x.shape[0]
    if n < 2 * folds:
        return reconstruction_errors(fit_pca(x, variance=variance), x)
    fold = fold_numbers(n, folds=folds, seed=seed)
    return errors_by_fold(fold_fits(x, variance=variance, folds=folds, seed=seed), x, fold)


def fold_fits(
    x: NDArray[np.float64], *, variance: float = 0.65, folds: int = 5, seed: int = 0
) -> tuple[PCAFit, ...]:
    """The fits of `cross_fitted_errors`: fold k's is fitted on every other fold's rows."""
    fold = fold_numbers(x.shape[0], folds=folds, seed=seed)
    return tuple(fit_pca(x[fold != k], variance=variance) for k in range(folds))


def errors_by_fold(
    fits: tuple[PCAFit, ...], x: NDArray[np.float64], fold: NDArray[np.int64]
) -> NDArray[np.float64]:
    """Each row's error under the fit of its fold."""
    out = np.empty(x.shape[0], dtype=np.float64)
    for k, fit in enumerate(fits):
        held = fold == k
        if held.any():
            out[held] = reconstruction_errors(fit, x[held])
    return out


def mean_error_band(
    errors: NDArray[np.float64], rows: int, *, width: float = 3.0
) -> tuple[float, float, float]:
    """The reference's mean error and the band its chunks of `rows` rows stay within.

    A chunk of m rows drawn like the reference has a mean error with standard error s/√m,
    s the per-row errors' standard deviation: (mean, lower, upper) is the mean ± `width`
    such errors — NannyML's band from reference chunks, at any window size without chunking.

    >>> m, lo, hi = mean_error_band(np.array([1.0, 2.0, 3.0, 2.0]), 4)
    >>> m, round(hi - m, 4)
    (2.0, 1.2247)
    """
    if errors.size < 2 or rows < 1:
        raise ValueError(
            f"mean_error_band needs at least 2 reference errors and 1 row; got "
            f"{errors.size} and {rows}."
        )
    mean = float(errors.mean())
    half = width * float(errors.std(ddof=1)) / math.sqrt(rows)
    return mean, mean - half, mean + half


def exceedance_test(
    exceeding: int, rows: int, *, reference_above: int, reference_rows: int
) -> float:
    """P-value of `exceeding` or more of `rows` new rows above a threshold that
    `reference_above` of `reference_rows` reference rows exceed (the threshold one of them).

    Distribution-free for exchangeable rows: a new row exceeds the reference's
    (r + 1)-th largest value with a probability P ~ Beta(r + 1, n − r), so the count is
    beta-binomial — wider than a binomial at P's mean, since the threshold is itself a sample
    quantile (a 99.9th percentile of 1,000 rows is its largest value).

    >>> round(exceedance_test(5, 1000, reference_above=10, reference_rows=10_000), 3)
    0.009
    """
    if rows < 1 or not 0 <= exceeding <= rows:
        raise ValueError(
            f"exceedance_test needs 0 <= exceeding <= rows >= 1; got {exceeding}, {rows}."
        )
    if not 0 <= reference_above < reference_rows:
        raise ValueError(
            f"exceedance_test needs 0 <= reference_above < reference_rows; got "
            f"{reference_above}, {reference_rows}."
        )
    a, b = reference_above + 1, reference_rows - reference_above
    return float(betabinom.sf(exceeding - 1, rows, a, b))
