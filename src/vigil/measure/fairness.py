"""Fairness between the groups of each protected attribute: rates, gaps and their noise.

Numbers only; `vigil.verdict` judges them. Per protected attribute (a segment column with
`protected: true`), each group's selection rate (share of rows predicted the positive class),
and on its labelled rows its TPR (share of actual positives predicted positive) and FPR
(share of actual negatives predicted positive). From them, as fairlearn defines them:

- `demographic_parity_difference`: highest selection rate − lowest;
- `demographic_parity_ratio` and `disparate_impact`: lowest selection rate / highest (the
  four-fifths rule reads the latter against 0.8);
- `equal_opportunity_difference`: highest TPR − lowest;
- `equalized_odds_difference`: the larger of the TPR and the FPR differences.

Each with the standard error and p-value of `vigil.stats.fairness` at the attaining pair's
sizes (equalized odds: that of the larger gap, its p-value doubled for the two gaps it chose
from). Only groups of at least `fairness.min_group_size` (rows; actual positives for the TPR;
actual negatives for the FPR) take part; smaller ones are reported, not compared. Rows whose
attribute or prediction is missing are left out (their count is reported).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from vigil.measure.columns import category_codes, numeric_array
from vigil.spec import Spec
from vigil.spec.values import distinct_categories
from vigil.stats import Disparity, rate_difference, rate_ratio


@dataclass(frozen=True, slots=True)
class GroupRates:
    """One group of a protected attribute in one set."""

    group: str
    rows: int  # rows with a prediction
    selected: int  # of them, predicted the positive class
    positives: int  # labelled rows whose actual class is the positive one
    true_positives: int
    negatives: int  # labelled rows of another class
    false_positives: int

    @property
    def selection_rate(self) -> float | None:
        """Share of the group's rows predicted positive."""
        return self.selected / self.rows if self.rows else None

    @property
    def tpr(self) -> float | None:
        """Share of the group's actual positives predicted positive."""
        return self.true_positives / self.positives if self.positives else None

    @property
    def fpr(self) -> float | None:
        """Share of the group's actual negatives predicted positive."""
        return self.false_positives / self.negatives if self.negatives else None


@dataclass(frozen=True, slots=True)
class FairnessMeasure:
    """One measure of one attribute: its value and noise, or why it is not measured."""

    name: str
    value: float | None
    standard_error: float | None = None
    p_value: float | None = None  # rates equal: adjusted for the pairs (and gaps) chosen from
    low_group: str | None = None  # the group with the lowest rate of the attaining pair
    high_group: str | None = None
    groups: int = 0  # groups large enough to take part
    reason: str | None = None  # why value is None


@dataclass(frozen=True, slots=True)
class AttributeFairness:
    """A protected attribute's groups and measures in one set."""

    column: str
    groups: tuple[GroupRates, ...]  # sorted by group name
    measures: dict[str, FairnessMeasure]
    missing: int  # rows left out: attribute or prediction missing


@dataclass(frozen=True, slots=True)
class FairnessResult:
    """Every protected attribute's fairness in the current set."""

    positive_class: str | None
    min_group_size: int
    labelled_rows: int  # rows with a prediction and a label (the label-based measures' rows)
    attributes: tuple[AttributeFairness, ...]
    reason: str | None = None  # why nothing is measured (a regression model, no prediction)

    def attribute(self, column: str) -> AttributeFairness | None:
        """The attribute called `column`, or None."""
        return next((a for a in self.attributes if a.column == column), None)


def _measure(
    name: str, gap: Disparity | None, names: list[str], groups: int, why: str
) -> FairnessMeasure:
    if gap is None:
        return FairnessMeasure(name, None, groups=groups, reason=why)
    return FairnessMeasure(
        name,
        gap.value,
        gap.standard_error,
        gap.p_value,
        names[gap.low],
        names[gap.high],
        groups,
    )


def _gap(
    successes: NDArray[np.int64], totals: NDArray[np.int64], minimum: int, ratio: bool
) -> tuple[Disparity | None, list[int]]:
    """The gap over the groups with at least `minimum` in `totals` (None under two)."""
    keep = [i for i in range(totals.size) if totals[i] >= minimum]
    if len(keep) < 2:
        return None, keep
    idx = np.array(keep, dtype=np.int64)
    gap = (rate_ratio if ratio else rate_difference)(successes[idx], totals[idx])
    return Disparity(
        gap.value, gap.standard_error, gap.p_value, keep[gap.low], keep[gap.high]
    ), keep


def _attribute(
    column: str,
    groups: NDArray[np.int64],
    names: list[str],
    selected: NDArray[np.bool_],
    actual: NDArray[np.int64],
    minimum: int,
) -> AttributeFairness:
    """`groups`: each row's group index (-1 missing); `actual`: 1 positive, 0 negative,
    -1 unlabelled; `selected`: predicted positive (rows without a prediction already gone)."""
    ok = groups >= 0
    g, sel, act = groups[ok], selected[ok], actual[ok]
    k = len(names)
    rows = np.bincount(g, minlength=k).astype(np.int64)
    chosen = np.bincount(g, weights=sel, minlength=k).astype(np.int64)
    pos, neg = act == 1, act == 0
    positives = np.bincount(g[pos], minlength=k).astype(np.int64)
    true_pos = np.bincount(g[pos], weights=sel[pos], minlength=k).astype(np.int64)
    negatives = np.bincount(g[neg], minlength=k).astype(np.int64)
    false_pos = np.bincount(g[neg], weights=sel[neg], minlength=k).astype(np.int64)
    rates = tuple(
        GroupRates(
            names[i],
            int(rows[i]),
            int(chosen[i]),
            int(positives[i]),
            int(true_pos[i]),
            int(negatives[i]),
            int(false_pos[i]),
        )
        for i in range(k)
    )
    few = f"fewer than two groups have {minimum:,} "
    dp, kept = _gap(chosen, rows, minimum, ratio=False)
    di, _ = _gap(chosen, rows, minimum, ratio=True)
    tpr, kept_pos = _gap(true_pos, positives, minimum, ratio=False)
    fpr, _ = _gap(false_pos, negatives, minimum, ratio=False)
    measures = {
        "demographic_parity_difference": _measure(
            "demographic_parity_difference", dp, names, len(kept), few + "rows"
        ),
        "demographic_parity_ratio": _measure(
            "demographic_parity_ratio", di, names, len(kept), few + "rows"
        ),
        "disparate_impact": _measure("disparate_impact", di, names, len(kept), few + "rows"),
        "equal_opportunity_difference": _measure(
            "equal_opportunity_difference",
            tpr,
            names,
            len(kept_pos),
            few + "labelled actual positives",
        ),
    }
    if tpr is None or fpr is None:
        odds = FairnessMeasure(
            "equalized_odds_difference",
            None,
            groups=len(kept_pos),
            reason=few + "labelled actual positives and negatives",
        )
    else:
        larger = tpr if tpr.value >= fpr.value else fpr
        odds = _measure(
            "equalized_odds_difference",
            Disparity(
                larger.value,
                larger.standard_error,
                min(1.0, 2.0 * larger.p_value),
                larger.low,
                larger.high,
            ),
            names,
            len(kept_pos),
            "",
        )
    measures["equalized_odds_difference"] = odds
    return AttributeFairness(column, rates, measures, int((~ok).sum()) + 0)


def positive_class(spec: Spec, labels: tuple[str, ...]) -> tuple[str | None, str | None]:
    """The class the fairness measures treat as selected, or None and why not."""
    named = spec.fairness.positive_class
    if spec.task not in ("binary", "multiclass"):
        return None, (
            f"fairness is measured for classifiers; this model's task is {spec.task or 'unset'}."
        )
    if named is None:
        if spec.task == "multiclass":
            return None, (
                "a multiclass model's fairness needs the class to compare (one vs rest); set "
                "`fairness.positive_class` in the spec."
            )
        if not labels:
            return None, "no class is seen in the target or the predictions yet."
        return labels[-1], None
    if labels and named not in labels:
        return None, (
            f"fairness.positive_class {named!r} is none of the classes seen ({', '.join(labels)})."
        )
    return named, None


def measure_fairness(spec: Spec, table: pa.Table, labels: tuple[str, ...]) -> FairnessResult | None:
    """Every protected attribute's fairness in `table`; None when the spec protects none.

    `labels` are the task's classes (as `vigil.measure.performance.class_labels` gives them).
    """
    protected = spec.protected
    if not protected:
        return None
    f = spec.fairness
    positive, why = positive_class(spec, labels)
    prediction = spec.single("prediction")
    if why is None and (prediction is None or prediction.name not in table.column_names):
        why = "fairness compares the groups' predictions; the set has no prediction column."
    if positive is None or why is not None or prediction is None:
        return FairnessResult(positive, f.min_group_size, 0, (), why)
    pred = category_codes(table.column(prediction.name), (positive,))
    has_pred = _not_missing(table.column(prediction.name))
    selected = pred == 0
    target = spec.single("target")
    actual = np.full(table.num_rows, -1, dtype=np.int64)
    if target is not None and target.name in table.column_names:
        y = table.column(target.name)
        actual = np.where(
            _not_missing(y), (category_codes(y, (positive,)) == 0).astype(np.int64), -1
        )
    actual = np.where(has_pred, actual, -1)
    attributes = []
    for col in protected:
        if col.name not in table.column_names:
            continue
        column = table.column(col.name)
        names = sorted(distinct_categories(column))
        codes = category_codes(column, tuple(names))
        codes = np.where(has_pred, codes, -1)
        attributes.append(_attribute(col.name, codes, names, selected, actual, f.min_group_size))
    labelled = int(((actual >= 0) & has_pred).sum())
    return FairnessResult(positive, f.min_group_size, labelled, tuple(attributes))


def _not_missing(column: pa.ChunkedArray) -> NDArray[np.bool_]:
    """True where a value is present (not null; a float column's NaN counts as missing)."""
    if pa.types.is_floating(column.type):
        values = numeric_array(column, "numeric")[0]
        return np.asarray(~np.isnan(values))
    return np.asarray(column.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
