"""Champion / challenger: two versions of one model judged side by side on their labelled rows.

A challenger is a version that gets the same traffic as the champion (shadow traffic: each
request logged under both versions, with its own prediction id and a shared request key such
as `request_id`). `compare` reads both versions' labelled rows in a time span and gives the
bootstrap confidence interval of metric(challenger) − metric(champion):

- with `pair_by`, the rows are paired by that column's value (a key present, and labelled, on
  both sides; a key repeated within one version counts once, its first row) and resampled as
  pairs (`scipy.stats.bootstrap(paired=True)`), so the request-to-request variation that both
  versions share cancels out;
- without, each version's rows are resampled on their own (an unpaired bootstrap).

The challenger is "better" only when the interval excludes 0 on the metric's good side
(higher for `roc_auc`, lower for `log_loss`) and there are at least `min_pairs` pairs (without
`pair_by`: labelled rows on the smaller side); otherwise "not better", or "not enough pairs".
The bootstrap is seeded, so the same rows give the same answer. It is the percentile
interval: BCa's jackknife would cost one metric computation per row.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray
from scipy import stats

from vigil.errors import SpecError
from vigil.measure.performance import (
    HIGHER_IS_BETTER,
    Labelled,
    class_labels,
    labelled_rows,
    reference_classes,
)
from vigil.spec import Spec, spec_from_dict
from vigil.stats import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    f1_score,
    log_loss,
    mean_absolute_error,
    multiclass_brier_score_loss,
    r2_score,
    roc_auc_score,
    roc_auc_score_ovr,
    root_mean_squared_error,
)
from vigil.store.base import ModelInfo

Verdict = Literal["better", "not better", "not enough pairs"]
# the metrics a challenger can be judged on, and the tasks each applies to
COMPARE_METRICS: dict[str, tuple[str, ...]] = {
    "accuracy": ("binary", "multiclass"),
    "f1": ("binary",),
    "f1_macro": ("binary", "multiclass"),
    "roc_auc": ("binary", "multiclass"),
    "pr_auc": ("binary",),
    "log_loss": ("binary", "multiclass"),
    "brier": ("binary", "multiclass"),
    "mae": ("regression",),
    "rmse": ("regression",),
    "r2": ("regression",),
}
_NEEDS_SCORES = frozenset({"roc_auc", "pr_auc", "log_loss", "brier"})


class WindowRows(Protocol):
    """What `compare` reads from the store."""

    def read_window(
        self, model: ModelInfo, version: str, start: datetime, end: datetime
    ) -> pa.Table: ...


@dataclass(frozen=True, slots=True)
class Comparison:
    """The challenger against the champion on one metric over one span."""

    model: str
    champion: str
    challenger: str
    metric: str
    since: datetime
    until: datetime
    pair_by: str | None
    pairs: int  # paired rows; unpaired: labelled rows of the smaller side
    champion_rows: int  # labelled rows judged
    challenger_rows: int
    champion_value: float | None
    challenger_value: float | None
    difference: float | None  # challenger − champion
    low: float | None  # the confidence interval of the difference
    high: float | None
    confidence: float
    higher_is_better: bool
    min_pairs: int
    verdict: Verdict
    reason: str

    def as_json(self) -> dict[str, Any]:
        """The comparison as the API and the action evidence show it."""
        return {
            "model": self.model,
            "champion": self.champion,
            "challenger": self.challenger,
            "metric": self.metric,
            "since": self.since.isoformat() + "Z",
            "until": self.until.isoformat() + "Z",
            "pair_by": self.pair_by,
            "pairs": self.pairs,
            "champion_rows": self.champion_rows,
            "challenger_rows": self.challenger_rows,
            "champion_value": self.champion_value,
            "challenger_value": self.challenger_value,
            "difference": self.difference,
            "low": self.low,
            "high": self.high,
            "confidence": self.confidence,
            "higher_is_better": self.higher_is_better,
            "min_pairs": self.min_pairs,
            "verdict": self.verdict,
            "reason": self.reason,
        }


def compare(
    store: WindowRows,
    model: ModelInfo,
    champion: str,
    challenger: str,
    metric: str,
    since: datetime,
    until: datetime,
    pair_by: str | None = None,
    *,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    min_pairs: int = 500,
    seed: int = 0,
) -> Comparison:
    """Whether `challenger` beats `champion` on `metric` over the rows in [since, until).

    Raises SpecError when the comparison cannot be made as asked: an unknown version or
    `pair_by` column, a metric the task or the spec's columns do not give.
    """
    if metric not in COMPARE_METRICS:
        raise SpecError(
            f"challenger metric {metric!r} is not one vigil compares; use one of "
            f"{', '.join(sorted(COMPARE_METRICS))}."
        )
    if champion == challenger:
        raise SpecError(
            f"model {model.name!r}: the champion and the challenger are both "
            f"version {champion!r}; name two versions."
        )
    if pair_by is not None and model.column(pair_by) is None:
        names = ", ".join(c.name for c in model.columns)
        raise SpecError(
            f"model {model.name!r} has no column {pair_by!r} to pair rows by; its columns: {names}."
        )
    spec_a, table_a = _labelled(store, model, champion, metric, since, until)
    spec_b, table_b = _labelled(store, model, challenger, metric, since, until)
    task = spec_a.task
    assert task is not None  # _labelled refused a spec without one
    if spec_b.task != task:
        raise SpecError(
            f"model {model.name!r}: version {champion!r} is a {task} model and version "
            f"{challenger!r} a {spec_b.task} one; they cannot be compared."
        )
    labels: tuple[str, ...] = ()
    if task != "regression":
        labels = class_labels(spec_a, table_a, known=reference_classes(spec_b, table_b))
    if pair_by is not None:
        left, right = _pairs(table_a.column(pair_by), table_b.column(pair_by))
        table_a, table_b = table_a.take(left), table_b.take(right)
    rows_a = _encoded(spec_a, table_a, labels, champion)
    rows_b = _encoded(spec_b, table_b, labels, challenger)
    measure = _metric(metric, len(labels))
    n_a, n_b = _size(rows_a), _size(rows_b)
    pairs = n_a if pair_by is not None else min(n_a, n_b)
    higher = HIGHER_IS_BETTER[metric]
    value_a, value_b = _try(measure, rows_a), _try(measure, rows_b)
    difference: float | None = None
    low: float | None = None
    high: float | None = None
    verdict: Verdict = "not enough pairs"
    reason = (
        f"{pairs} {'pairs' if pair_by else 'labelled rows'}: too few to compute {metric} on "
        f"both versions; wait for more labelled rows."
    )
    if value_a is not None and value_b is not None and pairs >= 2:
        low, high = _interval(
            measure,
            rows_a,
            rows_b,
            paired=pair_by is not None,
            n_resamples=n_resamples,
            confidence=confidence,
            seed=seed,
        )
        difference = value_b - value_a
        verdict, reason = _verdict(
            metric,
            higher,
            difference,
            low,
            high,
            pairs,
            min_pairs,
            confidence,
            paired=pair_by is not None,
        )
    return Comparison(
        model=model.name,
        champion=champion,
        challenger=challenger,
        metric=metric,
        since=since,
        until=until,
        pair_by=pair_by,
        pairs=pairs,
        champion_rows=n_a,
        challenger_rows=n_b,
        champion_value=value_a,
        challenger_value=value_b,
        difference=difference,
        low=low,
        high=high,
        confidence=confidence,
        higher_is_better=higher,
        min_pairs=min_pairs,
        verdict=verdict,
        reason=reason,
    )


def _verdict(
    metric: str,
    higher: bool,
    difference: float,
    low: float | None,
    high: float | None,
    pairs: int,
    min_pairs: int,
    confidence: float,
    *,
    paired: bool,
) -> tuple[Verdict, str]:
    what = "pairs" if paired else "labelled rows on the smaller side"
    if low is None or high is None:
        return "not enough pairs", (
            f"{metric} could not be computed on every resample of {pairs} {what} (a class "
            f"missing from some); wait for more labelled rows."
        )
    interval = f"{metric} {difference:+.4g}, {confidence:.0%} CI {low:+.4g} to {high:+.4g}"
    if pairs < min_pairs:
        return "not enough pairs", f"{pairs} {what}, fewer than min_pairs {min_pairs} ({interval})."
    better = low > 0 if higher else high < 0
    if better:
        return "better", f"the challenger is better: {interval}, over {pairs} {what}."
    return "not better", f"the interval does not exclude no improvement: {interval}."


def _interval(
    measure: Callable[[Labelled], float],
    rows_a: Labelled,
    rows_b: Labelled,
    *,
    paired: bool,
    n_resamples: int,
    confidence: float,
    seed: int,
) -> tuple[float | None, float | None]:
    """The percentile bootstrap interval of measure(b) − measure(a); None when the metric
    failed on a resample (a class missing from it)."""

    def paired_difference(idx: NDArray[np.float64]) -> float:
        i = idx.astype(np.int64)
        return _safe(measure, _take(rows_b, i)) - _safe(measure, _take(rows_a, i))

    def unpaired_difference(ia: NDArray[np.float64], ib: NDArray[np.float64]) -> float:
        return _safe(measure, _take(rows_b, ib.astype(np.int64))) - _safe(
            measure, _take(rows_a, ia.astype(np.int64))
        )

    rng = np.random.default_rng(seed)
    with warnings.catch_warnings():
        # a statistic that is the same on every resample (identical versions) is a valid
        # zero-width interval; scipy warns about it
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        if paired:
            result = stats.bootstrap(
                (np.arange(_size(rows_a)),),
                paired_difference,
                paired=True,
                vectorized=False,
                n_resamples=n_resamples,
                confidence_level=confidence,
                method="percentile",
                rng=rng,
            )
        else:
            result = stats.bootstrap(
                (np.arange(_size(rows_a)), np.arange(_size(rows_b))),
                unpaired_difference,
                paired=False,
                vectorized=False,
                n_resamples=n_resamples,
                confidence_level=confidence,
                method="percentile",
                rng=rng,
            )
    low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
    if not (math.isfinite(low) and math.isfinite(high)):
        return None, None
    return low, high


def _labelled(
    store: WindowRows,
    model: ModelInfo,
    version: str,
    metric: str,
    since: datetime,
    until: datetime,
) -> tuple[Spec, pa.Table]:
    """A version's spec and its rows in [since, until) that carry every input of the metric,
    by the spec's column names."""
    if version not in model.specs:
        raise SpecError(
            f"model {model.name!r} has no version {version!r}; versions: {', '.join(model.specs)}."
        )
    spec = spec_from_dict(model.specs[version], source=f"model {model.name} v{version}")
    target = spec.single("target")
    if target is None or model.label_storage is None or spec.task is None:
        raise SpecError(
            f"model {model.name!r} v{version} has no target column (or no task): a challenger "
            f"is judged on labelled rows."
        )
    if spec.task not in COMPARE_METRICS[metric]:
        raise SpecError(
            f"challenger metric {metric!r} does not apply to a {spec.task} model; use one of "
            f"{', '.join(m for m, tasks in COMPARE_METRICS.items() if spec.task in tasks)}."
        )
    scores = spec.with_role("score")
    prediction = spec.single("prediction")
    if metric in _NEEDS_SCORES and not scores:
        raise SpecError(
            f"challenger metric {metric!r} needs a score column; model "
            f"{model.name!r} v{version}'s spec has none."
        )
    if (
        metric not in _NEEDS_SCORES
        and prediction is None
        and not (scores and spec.task != "regression")
    ):
        raise SpecError(
            f"challenger metric {metric!r} needs a prediction column; model "
            f"{model.name!r} v{version}'s spec has none."
        )
    window = store.read_window(model, version, since, until)
    window = window.rename_columns(
        [target.name if n == "__label" else n for n in window.column_names]
    )
    needed = [target.name, *(c.name for c in scores)]
    if prediction is not None:
        needed.append(prediction.name)
    keep = pa.array(np.ones(window.num_rows, dtype=bool))
    for name in needed:
        if name not in window.column_names:
            continue
        column = window.column(name)
        valid = pc.is_valid(column)
        if pa.types.is_floating(column.type):
            valid = pc.and_(valid, pc.invert(pc.is_nan(column.fill_null(0.0))))
        keep = pc.and_(keep, valid)
    return spec, window.filter(keep)


def _pairs(left: pa.ChunkedArray, right: pa.ChunkedArray) -> tuple[pa.Array, pa.Array]:
    """Row positions of the keys present on both sides, in the left side's order; a key
    repeated within one side counts once, at its first row."""
    right_first: dict[str, int] = {}
    for j, key in enumerate(right.cast(pa.string()).to_pylist()):
        if key is not None and key not in right_first:
            right_first[key] = j
    seen: set[str] = set()
    li: list[int] = []
    ri: list[int] = []
    for i, key in enumerate(left.cast(pa.string()).to_pylist()):
        if key is None or key in seen or key not in right_first:
            continue
        seen.add(key)
        li.append(i)
        ri.append(right_first[key])
    return pa.array(li, pa.int64()), pa.array(ri, pa.int64())


def _encoded(spec: Spec, table: pa.Table, labels: tuple[str, ...], version: str) -> Labelled:
    rows = labelled_rows(spec, table, labels)
    if rows is None or rows.y_true.size != table.num_rows:
        raise SpecError(  # every input was checked present above; a spec changed under us
            f"version {version!r}: the labelled rows could not be encoded for the comparison."
        )
    return rows


def _size(rows: Labelled) -> int:
    return int(rows.y_true.size)


def _take(rows: Labelled, idx: NDArray[np.int64]) -> Labelled:
    return Labelled(
        rows.y_true[idx],
        None if rows.y_pred is None else rows.y_pred[idx],
        None if rows.proba is None else rows.proba[idx],
    )


def _try(measure: Callable[[Labelled], float], rows: Labelled) -> float | None:
    value = _safe(measure, rows)
    return value if math.isfinite(value) else None


def _safe(measure: Callable[[Labelled], float], rows: Labelled) -> float:
    try:
        return float(measure(rows))
    except ValueError:  # a class missing, no rows: the metric is not defined here
        return math.nan


def _metric(name: str, n_classes: int) -> Callable[[Labelled], float]:
    """The metric as a function of encoded rows."""

    def scores(rows: Labelled) -> NDArray[np.float64]:
        if rows.proba is None:
            raise ValueError("no scores")
        return rows.proba

    def predicted(rows: Labelled) -> NDArray[Any]:
        if rows.y_pred is None:
            raise ValueError("no predictions")
        return rows.y_pred

    def y(rows: Labelled) -> NDArray[np.int64]:
        return np.asarray(rows.y_true, dtype=np.int64)

    def yf(rows: Labelled) -> NDArray[np.float64]:
        return np.asarray(rows.y_true, dtype=np.float64)

    k = max(n_classes, 2)
    table: dict[str, Callable[[Labelled], float]] = {
        "accuracy": lambda r: accuracy_score(y(r), predicted(r)),
        "f1": lambda r: f1_score(y(r), predicted(r), n_classes=2),
        "f1_macro": lambda r: f1_score(y(r), predicted(r), n_classes=k, average="macro"),
        "roc_auc": lambda r: (
            roc_auc_score(y(r), scores(r))
            if scores(r).ndim == 1
            else roc_auc_score_ovr(y(r), scores(r))
        ),
        "pr_auc": lambda r: average_precision_score(y(r), scores(r)),
        "log_loss": lambda r: log_loss(y(r), scores(r), n_classes=k),
        "brier": lambda r: (
            brier_score_loss(y(r), scores(r))
            if scores(r).ndim == 1
            else multiclass_brier_score_loss(y(r), scores(r))
        ),
        "mae": lambda r: mean_absolute_error(yf(r), np.asarray(predicted(r), np.float64)),
        "rmse": lambda r: root_mean_squared_error(yf(r), np.asarray(predicted(r), np.float64)),
        "r2": lambda r: r2_score(yf(r), np.asarray(predicted(r), np.float64)),
    }
    return table[name]
