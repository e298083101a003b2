"""Mergeable summaries of a set's rows, so that a report needs no table in memory.

`vigil report --engine stream` (and the Spark engine) read a set as record batches and fold
each batch into a summary; summaries of different parts merge, and `evaluate_summary` turns a
reference profile and a current summary into the report `evaluate` gives:

- a reference without a profile takes two passes: `ReferenceSketch` (pass 1: a quantile
  sketch per numeric column, the counts per category column) gives the bin edges and fences
  (`ReferenceSketch.layout`), and a `Summary` on that layout (pass 2) gives the reference's
  `DatasetProfile` (`reference_profile`);
- a current set is one pass: `Summary.empty(reference_profile, spec)`, `add` each batch,
  `merge` the parts.

What is exact and what approximate is in docs/profile-format.md ("Sets larger than memory").
Memory: a numeric column holds two histograms (the spec's bins and 1000 fine bins) and a KLL
sketch (a few KB); a category column one count per distinct value, at most `max_categories` (a
column with more is refused: it is an id or free text, not a category).

The bytes of `to_bytes` are a small explicit format (a header line with the format version,
then one JSON document; arrays as JSON lists, sketches in base64); `from_bytes` refuses
anything else with an `InputError`. Nothing is unpickled.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as paipc
from numpy.typing import NDArray

from vigil.errors import InputError, NotEnoughData, SpecError
from vigil.evaluation import (
    _profile_notes,
    _profile_schema,
    _Reference,
    _schema,
    _version,
    gathered,
    infer_spec,
    performance_result,
    performance_to_store,
    profile_roles_refused,
    role_arguments,
    stored_performance,
)
from vigil.measure.batches import DEFAULT_BATCH_ROWS, read_batches
from vigil.measure.columns import (
    boolean_column,
    category_profile,
    numeric_array,
)
from vigil.measure.drift import ColumnDrift, DriftResult, measure_categorical, measure_numeric
from vigil.measure.drift import unevaluated as unevaluated_drift
from vigil.measure.performance import (
    BOOTSTRAP_DRAWS,
    ConfusionMatrix,
    PerformanceResult,
    SetPerformance,
    class_labels,
)
from vigil.measure.quality import (
    ColumnQuality,
    CurrentNumeric,
    QualityResult,
    categorical_quality,
    numeric_quality,
    unchecked,
)
from vigil.measure.significance import adjust_together
from vigil.profile import (
    CategoricalProfile,
    DatasetProfile,
    NumericProfile,
    is_profile_file,
    load_profile,
    merge_categorical,
    merge_numeric,
    merge_sketches,
    numeric_profile,
    sketch_of,
    sketch_quantiles,
)
from vigil.profile.file import column_document, column_from_document
from vigil.profile.numeric import N_FINE_BINS, QUANTILE_LEVELS, iqr_fences
from vigil.profile.quantiles import sketch_count
from vigil.report.model import Report, SetSummary
from vigil.spec import (
    CATEGORY_KINDS,
    DRIFT_ROLES,
    NUMERIC_KINDS,
    ColumnSpec,
    Spec,
    load_spec,
    spec_from_dict,
)
from vigil.spec.values import category_strings
from vigil.stats import (
    binomial_standard_error,
    precision_recall_f1,
)
from vigil.verdict import judge

FORMAT_VERSION = 1
_MAGIC = {"summary": b"vigil-summary", "sketch": b"vigil-reference-sketch"}
# The reference's edges come from this sketch: about 0.3 % rank error (k = 200: 1.3 %).
REFERENCE_SKETCH_K = 1024
# Distinct values a category column may hold in a summary; more is an id or free text.
MAX_CATEGORIES = 100_000
EPS = float(np.finfo(np.float64).eps)  # log loss clips as vigil.stats.log_loss does
_FROM_SCORES = "\x00score:"
# Binary scores are counted on this many equal bins of [0, 1] for the ROC and PR AUC (two
# scores in one bin count as tied: the AUC's error bound is half the tied pairs' share).
SCORE_BINS = 10_000
CALIBRATION_BINS = 10  # as vigil.stats.expected_calibration_error
_CALIBRATION_EDGES = np.linspace(0.0, 1.0, CALIBRATION_BINS + 1)[
    1:-1
]  # a binary prediction read from the score: "\x00score:1" positive

Batch: TypeAlias = pa.RecordBatch | pa.Table
Layout: TypeAlias = Mapping[str, NumericProfile | CategoricalProfile]


# --- reading a batch ---------------------------------------------------------------------------


def _table(batch: Batch) -> pa.Table:
    if isinstance(batch, pa.RecordBatch):
        return pa.Table.from_batches([batch])
    if isinstance(batch, pa.Table):
        return batch
    raise InputError(
        f"a summary adds Arrow record batches or tables; got a {type(batch).__name__}."
    )


@dataclass(frozen=True, slots=True)
class _Numbers:
    values: NDArray[np.float64]  # finite, sorted
    missing: int
    infinite: int
    mismatches: int


def _numbers(column: pa.ChunkedArray, kind: str) -> _Numbers:
    """The column's finite values sorted, as `numeric_sample` reads them."""
    values, mismatches = numeric_array(column, kind)  # type: ignore[arg-type]
    nan = np.isnan(values)
    finite = values[~nan]
    inf = np.isinf(finite)
    n_inf = int(inf.sum())
    if n_inf:
        finite = finite[~inf]
    return _Numbers(np.sort(finite), int(nan.sum()), n_inf, mismatches)


def _categories(column: pa.ChunkedArray, kind: str) -> tuple[CategoricalProfile, int]:
    """The column's category counts as the current set's are read, and its unreadable cells."""
    mismatches = 0
    if kind == "boolean":
        booleans, mismatches = boolean_column(column)
        column = (
            booleans
            if booleans is not None
            else pa.chunked_array([pa.nulls(len(column), pa.bool_())])
        )
    return category_profile(column), mismatches


def _merged_counts(
    a: CategoricalProfile, b: CategoricalProfile, name: str, limit: int
) -> CategoricalProfile:
    merged = merge_categorical(a, b)
    if len(merged.counts) > limit:
        raise InputError(
            f"column {name!r} holds more than {limit:,} distinct values, too many to count "
            "per category in bounded memory: it looks like an id or free text. Give it the "
            "kind text or the role id in the spec, or drop it from the spec."
        )
    return merged


def _schema_of(table: pa.Table, previous: pa.Schema | None) -> pa.Schema:
    schema = table.schema.remove_metadata()
    if previous is None:
        return schema
    missing = [n for n in previous.names if n not in schema.names]
    if missing:
        raise InputError(
            f"a batch lacks the column {missing[0]!r} that earlier batches of the set had; "
            "every part of a set needs the same columns."
        )
    return previous


def _spec_columns(spec: Spec, table: pa.Table) -> list[ColumnSpec]:
    return [c for c in spec.columns if c.name in table.column_names and _is_profiled(spec, c.name)]


# An id column holds one value a row: its values are not counted in bounded memory (the
# in-memory report checks only its missing share and its duplicates).
ID_NOT_COUNTED = "an id column's values are not counted in a summary (one a row)"


# --- pass 1 over a reference ---------------------------------------------------------------------


@dataclass(slots=True)
class _Sketched:
    """Pass 1's view of one numeric column."""

    sketch: bytes
    missing: int = 0
    infinite: int = 0
    mismatches: int = 0


class ReferenceSketch:
    """Pass 1 over a reference that has no profile: per numeric column a KLL sketch plus its
    missing, infinite and unreadable counts; per category column its counts. Mergeable.

    `layout()` gives what pass 2 builds on: per column an empty profile carrying the bin
    edges (the spec's `drift.bins`), the 1000 fine edges and the outlier fences, read from the
    sketch's quantiles (within its rank error, about 0.3 %: docs/profile-format.md).
    """

    def __init__(
        self,
        spec: Spec,
        numeric: dict[str, _Sketched],
        categories: dict[str, CategoricalProfile],
        rows: int,
        schema: pa.Schema | None,
        max_categories: int = MAX_CATEGORIES,
    ) -> None:
        self.spec = spec
        self.numeric = numeric
        self.categories = categories
        self.rows = rows
        self.schema = schema
        self.max_categories = max_categories

    @classmethod
    def empty(cls, spec: Spec, *, max_categories: int = MAX_CATEGORIES) -> ReferenceSketch:
        """The sketch of no rows yet."""
        return cls(spec, {}, {}, 0, None, max_categories)

    def add(self, batch: Batch, *, type_mismatches: Mapping[str, int] | None = None) -> None:
        """Fold the rows of one batch in, each column read as its kind in the spec;
        `type_mismatches` adds cells a reader could not read (left missing), per column."""
        table = _table(batch)
        self.schema = _schema_of(table, self.schema)
        absent = [n for n in self.spec.names if n not in table.column_names]
        if absent:
            raise SpecError(
                f"the spec names {', '.join(map(repr, absent))}, which the reference does not "
                f"have; its columns are {', '.join(table.column_names) or '(none)'}. Add the "
                "column to the reference, or drop it from the spec."
            )
        for col in _spec_columns(self.spec, table):
            column = table.column(col.name)
            if col.kind in NUMERIC_KINDS:
                read = _numbers(column, col.kind)
                found = self.numeric.get(col.name)
                sketch = sketch_of(read.values, k=REFERENCE_SKETCH_K)
                if found is None:
                    found = self.numeric[col.name] = _Sketched(sketch)
                else:
                    found.sketch = merge_sketches(found.sketch, sketch)
                found.missing += read.missing
                found.infinite += read.infinite
                found.mismatches += read.mismatches + int((type_mismatches or {}).get(col.name, 0))
            else:
                counts, _ = _categories(column, col.kind)
                before = self.categories.get(col.name)
                self.categories[col.name] = (
                    counts
                    if before is None
                    else _merged_counts(before, counts, col.name, self.max_categories)
                )
        self.rows += table.num_rows

    def merge(self, other: ReferenceSketch) -> ReferenceSketch:
        """The sketch of both parts' rows (a new object; neither part changes)."""
        if self.spec != other.spec:
            raise InputError("reference sketches of different specs do not merge.")
        numeric = {
            n: _Sketched(s.sketch, s.missing, s.infinite, s.mismatches)
            for n, s in self.numeric.items()
        }
        for name, s in other.numeric.items():
            if name in numeric:
                mine = numeric[name]
                mine.sketch = merge_sketches(mine.sketch, s.sketch)
                mine.missing += s.missing
                mine.infinite += s.infinite
                mine.mismatches += s.mismatches
            else:
                numeric[name] = _Sketched(s.sketch, s.missing, s.infinite, s.mismatches)
        categories = dict(self.categories)
        for name, counts in other.categories.items():
            before = categories.get(name)
            categories[name] = (
                counts
                if before is None
                else _merged_counts(before, counts, name, self.max_categories)
            )
        schema = self.schema if self.schema is not None else other.schema
        return ReferenceSketch(
            self.spec, numeric, categories, self.rows + other.rows, schema, self.max_categories
        )

    def layout(self) -> dict[str, NumericProfile | CategoricalProfile]:
        """Per column an empty profile on the reference's edges and fences (what pass 2 needs).

        Raises NotEnoughData when the reference has no rows or a spec column no usable value,
        as `conform_reference` does for rows.
        """
        if self.rows == 0:
            raise NotEnoughData(
                "the reference has no rows; a reference is the data the model was trained or "
                "validated on, and later sets are compared with it."
            )
        out: dict[str, NumericProfile | CategoricalProfile] = {}
        n_bins = self.spec.drift.n_bins
        for name, s in self.numeric.items():
            if sketch_count(s.sketch) == 0:
                raise NotEnoughData(
                    f"the reference: column {name!r} has no usable value ({s.infinite} "
                    f"infinite, {s.missing - s.mismatches} missing); later sets are compared "
                    "with the reference, so every column of the spec needs values in it."
                )
            out[name] = _empty_numeric(s.sketch, n_bins)
        for name, counts in self.categories.items():
            if counts.count == 0:
                raise NotEnoughData(
                    f"the reference: column {name!r} has no usable value (all missing); "
                    "later sets are compared with the reference, so every column of the "
                    "spec needs values in it."
                )
            out[name] = CategoricalProfile(0, 0, {})
        return out

    def to_bytes(self) -> bytes:
        """The sketch in vigil's summary format (`from_bytes` reads it back)."""
        document = {
            "spec": self.spec.to_dict(),
            "rows": self.rows,
            "max_categories": self.max_categories,
            "schema": _schema_text(self.schema),
            "numeric": {
                n: {
                    "sketch": base64.b64encode(s.sketch).decode("ascii"),
                    "missing": s.missing,
                    "infinite": s.infinite,
                    "mismatches": s.mismatches,
                }
                for n, s in self.numeric.items()
            },
            "categories": {n: column_document(c) for n, c in self.categories.items()},
        }
        return _encode("sketch", document)

    @classmethod
    def from_bytes(cls, data: bytes) -> ReferenceSketch:
        """A sketch from `to_bytes`; anything else raises an InputError saying what is wrong."""
        document = _decode("sketch", data)
        where = "the reference sketch"
        try:
            spec = spec_from_dict(_get(document, "spec", dict, where), source=where)
            numeric = {}
            for name, entry in _get(document, "numeric", dict, where).items():
                entry = _as(entry, dict, f"{where}: column {name!r}")
                sketch = _sketch(_get(entry, "sketch", str, where), f"column {name!r}")
                numeric[name] = _Sketched(
                    sketch,
                    _whole(entry, "missing", where),
                    _whole(entry, "infinite", where),
                    _whole(entry, "mismatches", where),
                )
            categories = {
                name: _category_column(entry, f"{where}: column {name!r}")
                for name, entry in _get(document, "categories", dict, where).items()
            }
            return cls(
                spec,
                numeric,
                categories,
                _whole(document, "rows", where),
                _schema_from(_get(document, "schema", str, where)),
                _whole(document, "max_categories", where),
            )
        except (ValueError, TypeError, KeyError, SpecError) as err:
            raise _damaged(where, err) from None


def _empty_numeric(sketch: bytes, n_bins: int) -> NumericProfile:
    """An empty profile whose edges and fences are the sketch's quantiles."""
    levels = np.arange(1, n_bins) / n_bins
    fine_levels = np.arange(1, N_FINE_BINS) / N_FINE_BINS
    edges = np.unique(sketch_quantiles(sketch, levels))
    fine = np.unique(sketch_quantiles(sketch, fine_levels))
    q1, q3 = sketch_quantiles(sketch, [0.25, 0.75]).tolist()
    empty = sketch_of(np.empty(0))
    return NumericProfile(
        count=0,
        missing=0,
        infinite=0,
        min=math.nan,
        max=math.nan,
        mean=math.nan,
        m2=0.0,
        edges=edges,
        counts=np.zeros(edges.size + 1, dtype=np.int64),
        fine_edges=fine,
        fine_counts=np.zeros(fine.size + 1, dtype=np.int64),
        fine_offsets=np.zeros(fine.size + 1),
        quantiles=dict.fromkeys(QUANTILE_LEVELS, math.nan),
        sketch=empty,
        fences=iqr_fences(q1, q3),
        outliers=0,
    )


# --- mergeable moments and performance ------------------------------------------------------------


@dataclass(slots=True)
class _Moments:
    """Count, mean and sum of squared deviations of a stream of numbers (Chan et al.)."""

    n: int = 0
    mean: float = 0.0
    m2: float = 0.0

    def add(self, values: NDArray[np.float64]) -> None:
        if values.size:
            mean = float(np.mean(values))
            self.merge_in(_Moments(int(values.size), mean, float(np.sum(np.square(values - mean)))))

    def merge_in(self, other: _Moments) -> None:
        if other.n == 0:
            return
        if self.n == 0:
            self.n, self.mean, self.m2 = other.n, other.mean, other.m2
            return
        n = self.n + other.n
        delta = other.mean - self.mean
        self.mean += delta * (other.n / n)
        self.m2 += other.m2 + delta * delta * (self.n / n) * other.n
        self.n = n

    def copy(self) -> _Moments:
        return _Moments(self.n, self.mean, self.m2)

    @property
    def standard_error(self) -> float:
        """s/√n of the mean, as `vigil.stats.mean_standard_error` (0 for one value)."""
        if self.n < 2:
            return 0.0
        return math.sqrt(self.m2 / (self.n - 1)) / math.sqrt(self.n)

    def to_list(self) -> list[float]:
        return [self.n, self.mean, self.m2]

    @classmethod
    def from_list(cls, value: Any, where: str) -> _Moments:
        if (
            not isinstance(value, list)
            or len(value) != 3
            or not isinstance(value[0], int)
            or isinstance(value[0], bool)
            or value[0] < 0
            or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in value[1:])
            or value[2] < 0
        ):
            raise ValueError(f"{where} is not [count, mean, m2]")
        return cls(value[0], float(value[1]), float(value[2]))


@dataclass(slots=True)
class _CoMoments:
    """Count, means and the matrix of summed cross-deviations of a stream of vectors: the
    multivariate form of `_Moments` (Chan et al.), for the delta-method error of R²."""

    n: int = 0
    mean: NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))
    m2: NDArray[np.float64] = field(default_factory=lambda: np.zeros((0, 0)))

    def add(self, rows: NDArray[np.float64]) -> None:
        if rows.shape[0]:
            mean = rows.mean(axis=0)
            centred = rows - mean
            self.merge_in(_CoMoments(int(rows.shape[0]), mean, centred.T @ centred))

    def merge_in(self, other: _CoMoments) -> None:
        if other.n == 0:
            return
        if self.n == 0:
            self.n, self.mean, self.m2 = other.n, other.mean.copy(), other.m2.copy()
            return
        n = self.n + other.n
        delta = other.mean - self.mean
        self.m2 = self.m2 + other.m2 + np.outer(delta, delta) * (self.n / n) * other.n
        self.mean = self.mean + delta * (other.n / n)
        self.n = n

    def copy(self) -> _CoMoments:
        return _CoMoments(self.n, self.mean.copy(), self.m2.copy())

    def to_list(self) -> list[Any]:
        return [self.n, self.mean.tolist(), self.m2.tolist()]

    @classmethod
    def from_list(cls, value: Any, where: str) -> _CoMoments:
        try:
            n, mean, m2 = value
            means = np.array(mean, dtype=np.float64)
            sums = np.array(m2, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"{where} is not [count, means, matrix]") from None
        d = means.size
        if d == 0 and sums.size == 0:
            sums = np.zeros((0, 0))
        if (
            not isinstance(n, int)
            or isinstance(n, bool)
            or n < 0
            or means.shape != (d,)
            or sums.shape != (d, d)
            or not (np.all(np.isfinite(means)) and np.all(np.isfinite(sums)))
        ):
            raise ValueError(f"{where} is not [count, means, matrix]")
        return cls(n, means, sums)


def _r2_standard_error(moments: _CoMoments) -> float | None:
    """The delta-method standard error of R² = 1 − A/B (A the mean squared residual, B the
    mean squared deviation of y) from the co-moments of (y, y², r²).

    R²'s influence per row is −(r² − A)/B + A/B² · ((y − ȳ)² − B), whose variance follows
    from the co-moments: (y − ȳ)² = y² − 2ȳy + ȳ². The in-memory path bootstraps it.
    """
    n = moments.n
    if n < 3:
        return None
    cov = moments.m2 / (n - 1)
    y_bar = float(moments.mean[0])
    a = float(moments.mean[2])
    b = float(moments.m2[0, 0]) / n
    if b <= 0:
        return None
    # the influence as a linear combination of (y, y², r²): weights w
    w = np.array([-2.0 * y_bar * a / b**2, a / b**2, -1.0 / b])
    variance = float(w @ cov @ w) / n
    return math.sqrt(max(variance, 0.0))


def _merged_moments(parts: Iterable[_Moments]) -> _Moments:
    total = _Moments()
    for part in parts:
        total.merge_in(part)
    return total


# What each per-row loss is kept under, per true class (the positive class of a binary task is
# known only once every class is seen): the loss if that class were the positive one, and if
# it were the negative one.
_BINARY_LOSSES = ("log_loss_pos", "log_loss_neg", "brier_pos", "brier_neg")


@dataclass(slots=True)
class _Performance:
    """Mergeable accumulators of a set's labelled rows: a confusion of (true, predicted)
    strings, per-row losses by true class, and regression sums."""

    rows: int = 0  # labelled rows kept (regression), as labelled_rows keeps them
    classes: set[str] = field(default_factory=set)  # target and prediction values seen
    # (true, predicted, a score is missing) -> rows; predicted may be _FROM_SCORES + "0"/"1"
    pairs: dict[tuple[str, str, bool], int] = field(default_factory=dict)
    losses: dict[str, dict[str, _Moments]] = field(default_factory=dict)  # class -> name -> sums
    bad_scores: int = 0  # kept rows whose scores are not probabilities in [0, 1]
    scored_rows: int = 0  # multiclass: kept rows with every score
    regression: dict[str, _Moments] = field(default_factory=dict)
    not_finite: int = 0  # regression rows with an infinite target or prediction
    r2: _CoMoments = field(default_factory=_CoMoments)  # regression: of (y, y², r²)
    # binary scores per true class: counts on SCORE_BINS equal bins of [0, 1], and on the 10
    # calibration bins their counts and sums of scores
    histograms: dict[str, NDArray[np.int64]] = field(default_factory=dict)
    calibration_counts: dict[str, NDArray[np.int64]] = field(default_factory=dict)
    calibration_sums: dict[str, NDArray[np.float64]] = field(default_factory=dict)

    def merge(self, other: _Performance) -> _Performance:
        out = _Performance(
            self.rows + other.rows,
            self.classes | other.classes,
            dict(self.pairs),
            {c: {k: m.copy() for k, m in d.items()} for c, d in self.losses.items()},
            self.bad_scores + other.bad_scores,
            self.scored_rows + other.scored_rows,
            {k: m.copy() for k, m in self.regression.items()},
            self.not_finite + other.not_finite,
            _merged_co(self.r2, other.r2),
            _added(self.histograms, other.histograms),
            _added(self.calibration_counts, other.calibration_counts),
            _added(self.calibration_sums, other.calibration_sums),
        )
        for key, n in other.pairs.items():
            out.pairs[key] = out.pairs.get(key, 0) + n
        for cls_, sums in other.losses.items():
            mine = out.losses.setdefault(cls_, {})
            for name, m in sums.items():
                mine.setdefault(name, _Moments()).merge_in(m)
        for name, m in other.regression.items():
            out.regression.setdefault(name, _Moments()).merge_in(m)
        return out

    def to_document(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "classes": sorted(self.classes),
            "pairs": [[t, p, nan, n] for (t, p, nan), n in sorted(self.pairs.items())],
            "losses": {
                c: {k: m.to_list() for k, m in d.items()} for c, d in sorted(self.losses.items())
            },
            "bad_scores": self.bad_scores,
            "scored_rows": self.scored_rows,
            "regression": {k: m.to_list() for k, m in self.regression.items()},
            "not_finite": self.not_finite,
            "r2": self.r2.to_list(),
            "histograms": {
                c: [[int(i), int(h[i])] for i in np.flatnonzero(h)]
                for c, h in sorted(self.histograms.items())
            },
            "calibration_counts": {
                c: [int(v) for v in h] for c, h in sorted(self.calibration_counts.items())
            },
            "calibration_sums": {
                c: [float(v) for v in h] for c, h in sorted(self.calibration_sums.items())
            },
        }

    @classmethod
    def from_document(cls, document: Any, where: str) -> _Performance:
        d = _as(document, dict, where)
        classes = _get(d, "classes", list, where)
        if not all(isinstance(c, str) for c in classes):
            raise ValueError(f"{where}: 'classes' holds something other than strings")
        pairs: dict[tuple[str, str, bool], int] = {}
        for entry in _get(d, "pairs", list, where):
            if (
                not isinstance(entry, list)
                or len(entry) != 4
                or not isinstance(entry[0], str)
                or not isinstance(entry[1], str)
                or not isinstance(entry[2], bool)
                or not isinstance(entry[3], int)
                or isinstance(entry[3], bool)
                or entry[3] < 1
            ):
                raise ValueError(f"{where}: a confusion entry is not [true, predicted, flag, n]")
            pairs[(entry[0], entry[1], entry[2])] = entry[3]
        losses = {
            str(c): {
                str(k): _Moments.from_list(v, f"{where}: losses")
                for k, v in _as(sums, dict, where).items()
            }
            for c, sums in _get(d, "losses", dict, where).items()
        }
        regression = {
            str(k): _Moments.from_list(v, f"{where}: {k}")
            for k, v in _get(d, "regression", dict, where).items()
        }
        return cls(
            _whole(d, "rows", where),
            set(classes),
            pairs,
            losses,
            _whole(d, "bad_scores", where),
            _whole(d, "scored_rows", where),
            regression,
            _whole(d, "not_finite", where),
            _CoMoments.from_list(d.get("r2"), f"{where}: r2"),
            {
                str(c): _sparse_counts(v, SCORE_BINS, f"{where}: histogram {c!r}")
                for c, v in _get(d, "histograms", dict, where).items()
            },
            {
                str(c): _dense(v, CALIBRATION_BINS, True, f"{where}: calibration {c!r}")
                for c, v in _get(d, "calibration_counts", dict, where).items()
            },
            {
                str(c): _dense(v, CALIBRATION_BINS, False, f"{where}: calibration {c!r}")
                for c, v in _get(d, "calibration_sums", dict, where).items()
            },
        )


def _merged_co(a: _CoMoments, b: _CoMoments) -> _CoMoments:
    out = a.copy()
    out.merge_in(b)
    return out


def _added(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out = {k: v.copy() for k, v in a.items()}
    for k, v in b.items():
        out[k] = out[k] + v if k in out else v.copy()
    return out


def _sparse_counts(value: Any, size: int, where: str) -> NDArray[np.int64]:
    counts = np.zeros(size, dtype=np.int64)
    for entry in _as(value, list, where):
        if (
            not isinstance(entry, list)
            or len(entry) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in entry)
            or not 0 <= entry[0] < size
            or entry[1] < 1
        ):
            raise ValueError(f"{where} holds an entry that is not [bin, count]")
        counts[entry[0]] = entry[1]
    return counts


def _dense(value: Any, size: int, whole: bool, where: str) -> NDArray[Any]:
    values = _as(value, list, where)
    kinds = (int,) if whole else (int, float)
    if len(values) != size or not all(
        isinstance(v, kinds) and not isinstance(v, bool) and math.isfinite(v) and v >= 0
        for v in values
    ):
        raise ValueError(f"{where} is not {size} numbers >= 0")
    return np.array(values, dtype=np.int64 if whole else np.float64)


def _add_performance(perf: _Performance, spec: Spec, table: pa.Table) -> None:
    """Fold one batch's labelled rows into the accumulators (as `labelled_rows` keeps them)."""
    target = spec.single("target")
    if target is None or spec.task is None or target.name not in table.column_names:
        return
    prediction = spec.single("prediction")
    has_pred = prediction is not None and prediction.name in table.column_names
    scores = [c for c in spec.with_role("score") if c.name in table.column_names]
    if spec.task == "regression":
        y = numeric_array(table.column(target.name), "numeric")[0]
        if not has_pred or prediction is None:
            keep = ~np.isnan(y)
            perf.rows += int(np.count_nonzero(keep))
            return
        yp = numeric_array(table.column(prediction.name), "numeric")[0]
        keep = ~(np.isnan(y) | np.isnan(yp))
        y, yp = y[keep], yp[keep]
        perf.rows += int(y.size)
        finite = np.isfinite(y) & np.isfinite(yp)
        perf.not_finite += int(y.size - np.count_nonzero(finite))
        y, yp = y[finite], yp[finite]
        residual = yp - y
        absolute = np.abs(residual)
        squared = np.square(residual)
        sums = perf.regression
        for name, values in (
            ("abs", absolute),
            ("squared", squared),
            ("ape", absolute / np.maximum(np.abs(y), EPS)),
            ("error", residual),
            ("y", y),
        ):
            sums.setdefault(name, _Moments()).add(values)
        perf.r2.add(np.column_stack([y, np.square(y), squared]))
        return
    # classification: the target and prediction as codes into their category strings
    true, true_names = _coded(table.column(target.name))
    perf.classes.update(true_names)
    keep = true >= 0
    predicted: NDArray[np.int64] | None = None
    predicted_names: list[str] = []
    if has_pred and prediction is not None:
        predicted, predicted_names = _coded(table.column(prediction.name))
        perf.classes.update(predicted_names)
        keep &= predicted >= 0
    score_missing = np.zeros(true.size, dtype=bool)
    binary_score: NDArray[np.float64] | None = None
    if scores and spec.task == "binary":
        binary_score = numeric_array(table.column(scores[0].name), "numeric")[0]
        score_missing = np.isnan(binary_score)
        keep &= ~score_missing
        if predicted is None:
            predicted = (binary_score >= 0.5).astype(np.int64)
            predicted_names = [_FROM_SCORES + "0", _FROM_SCORES + "1"]
    matrix: NDArray[np.float64] | None = None
    classes: list[str] = []
    if scores and spec.task == "multiclass" and all(c.score_class is not None for c in scores):
        ordered = sorted(scores, key=lambda c: str(c.score_class))
        classes = [str(c.score_class) for c in ordered]
        matrix = np.column_stack(
            [numeric_array(table.column(c.name), "numeric")[0] for c in ordered]
        )
        score_missing = np.asarray(np.isnan(matrix).any(axis=1), dtype=bool)
        if predicted is None:
            chosen = np.argmax(np.where(np.isnan(matrix), -np.inf, matrix), axis=1)
            predicted, predicted_names = chosen.astype(np.int64), classes
    # (true, predicted, a score missing) counted at once; no prediction is "" (the rows are
    # still labelled rows)
    width = len(predicted_names) + 1
    guess = np.full(true.size, width - 1, dtype=np.int64) if predicted is None else predicted
    keys = (true[keep] * width + guess[keep]) * 2 + score_missing[keep]
    found, counts = np.unique(keys, return_counts=True)
    names = [*predicted_names, ""]
    for key, n in zip(found.tolist(), counts.tolist(), strict=True):
        pair = (true_names[key // 2 // width], names[key // 2 % width], bool(key % 2))
        perf.pairs[pair] = perf.pairs.get(pair, 0) + n
    if binary_score is not None:
        p = binary_score[keep]
        t = true[keep]
        valid = (p >= 0.0) & (p <= 1.0)
        perf.bad_scores += int(np.count_nonzero(~valid))
        clipped = np.clip(p, EPS, 1.0 - EPS)
        for code in np.unique(t).tolist():
            cls_ = true_names[code]
            here = t == code
            mine, c = p[here], clipped[here]
            inside = mine[valid[here]]
            _add_counts(perf.histograms, cls_, _score_bins(inside), SCORE_BINS)
            calibration = np.searchsorted(_CALIBRATION_EDGES, inside, side="right")
            _add_counts(perf.calibration_counts, cls_, calibration, CALIBRATION_BINS)
            sums_of = np.bincount(calibration, weights=inside, minlength=CALIBRATION_BINS)
            before = perf.calibration_sums.get(cls_)
            summed = sums_of.astype(np.float64)
            perf.calibration_sums[cls_] = summed if before is None else before + summed
            sums = perf.losses.setdefault(cls_, {})
            for name, values in (
                ("log_loss_pos", -np.log(c)),
                ("log_loss_neg", -np.log(1.0 - c)),
                ("brier_pos", np.square(mine - 1.0)),
                ("brier_neg", np.square(mine)),
            ):
                sums.setdefault(name, _Moments()).add(values)
    if matrix is not None:
        rows = keep & ~score_missing
        m = matrix[rows]
        t = true[rows]
        perf.scored_rows += int(m.shape[0])
        perf.bad_scores += int(np.count_nonzero(~((m >= 0.0) & (m <= 1.0)).all(axis=1)))
        position = {c: i for i, c in enumerate(classes)}
        for code in np.unique(t).tolist():
            cls_ = true_names[code]
            if cls_ not in position:
                continue  # a class without a score column: no multiclass scores at the end
            part = m[t == code]
            p_true = part[:, position[cls_]]
            clipped = np.clip(p_true, EPS, 1.0 - EPS)
            brier = np.sum(np.square(part), axis=1) - np.square(p_true) + np.square(1.0 - p_true)
            sums = perf.losses.setdefault(cls_, {})
            sums.setdefault("log_loss", _Moments()).add(-np.log(clipped))
            sums.setdefault("brier", _Moments()).add(brier)


def _coded(column: pa.ChunkedArray) -> tuple[NDArray[np.int64], list[str]]:
    """The column's values as codes into its distinct category strings (-1: missing), as
    `category_codes` reads them: 1.0 and 1 are one class, NaN is missing."""
    encoded = pc.dictionary_encode(category_strings(column).combine_chunks())
    names: list[str] = encoded.dictionary.to_pylist()
    codes = np.asarray(
        pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False), dtype=np.int64
    )
    return codes, names


def _score_bins(p: NDArray[np.float64]) -> NDArray[np.intp]:
    return np.minimum((p * SCORE_BINS).astype(np.intp), SCORE_BINS - 1)


def _add_counts(
    into: dict[str, NDArray[np.int64]], key: str, bins: NDArray[np.intp], size: int
) -> None:
    counts = np.bincount(bins, minlength=size).astype(np.int64)
    before = into.get(key)
    into[key] = counts if before is None else before + counts


def _labels(spec: Spec, perf: _Performance) -> tuple[str, ...]:
    """`class_labels` from the classes a summary saw."""
    return class_labels(spec, known=frozenset(perf.classes))


def _f1_standard_error(cm: NDArray[np.int64], average: str) -> float | None:
    """The delta-method standard error of F1 ("binary") or macro F1 from a confusion matrix.

    The in-memory path bootstraps it from the rows; a summary keeps only the matrix, whose
    cells are multinomial: Var ≈ (g'diag(p)g − (g'p)²) / n, with p the cells' shares and g the
    gradient of F1 in them. Binary F1 = 2a / (2a + b + c) (a true positives, b false
    positives, c false negatives); macro F1 = mean over classes of 2 d_k / (r_k + c_k).
    """
    n = int(cm.sum())
    if n < 2:
        return None
    p = cm.astype(np.float64) / n
    gradient = np.zeros_like(p)
    if average == "binary":
        a, b, c = p[1, 1], p[0, 1], p[1, 0]
        denominator = 2 * a + b + c
        if denominator == 0:
            return None
        gradient[1, 1] = 2 * (b + c) / denominator**2
        gradient[0, 1] = gradient[1, 0] = -2 * a / denominator**2
    else:
        k = p.shape[0]
        diagonal = np.diagonal(p)
        spread = p.sum(axis=1) + p.sum(axis=0)  # r_k + c_k
        safe = np.where(spread > 0, spread, 1.0)
        direct = np.where(spread > 0, 2.0 / safe, 0.0)
        through = np.where(spread > 0, -2.0 * diagonal / safe**2, 0.0)
        gradient = (through[:, None] + through[None, :]) / k
        gradient[np.diag_indices(k)] += direct / k
    weighted = gradient.ravel()
    shares = p.ravel()
    variance = (
        float(np.dot(weighted * weighted, shares)) - float(np.dot(weighted, shares)) ** 2
    ) / n
    return math.sqrt(max(variance, 0.0))


def _set_performance(spec: Spec, perf: _Performance) -> SetPerformance | None:
    """A set's performance from its accumulators, as `set_performance` computes it from rows."""
    target = spec.single("target")
    if target is None or spec.task is None:
        return None
    metrics: dict[str, float | None] = {}
    errors: dict[str, str] = {}
    se: dict[str, float] = {}
    if spec.task == "regression":
        n = perf.rows
        if n == 0:
            return SetPerformance(
                0, {}, {"rows": "no row carries both a target and a prediction"}, None
            )
        if not perf.regression:  # no batch held the prediction column
            return SetPerformance(n, {}, {"prediction": "no prediction column"}, None)
        if perf.not_finite:
            reason = (
                f"{perf.not_finite} labelled rows hold an infinite target or prediction; drop "
                "them or fix the values first"
            )
            for name in ("mae", "rmse", "mape", "r2", "mean_error"):
                metrics[name], errors[name] = None, reason
            return SetPerformance(n, metrics, errors, None, {})
        s = perf.regression
        mae, squared, ape, error, y = (s[k] for k in ("abs", "squared", "ape", "error", "y"))
        metrics["mae"] = mae.mean
        metrics["rmse"] = math.sqrt(squared.mean)
        metrics["mape"] = ape.mean
        if n < 2:
            metrics["r2"] = None
            errors["r2"] = "r2_score needs at least 2 rows"
        else:
            residual = squared.mean * n
            total = y.m2
            if total == 0.0:
                metrics["r2"] = 1.0 if residual == 0.0 else 0.0
            else:
                metrics["r2"] = 1.0 - residual / total
        metrics["mean_error"] = error.mean
        se["mae"] = mae.standard_error
        r2_error = _r2_standard_error(perf.r2)
        if r2_error is not None:
            se["r2"] = r2_error
        rmse = metrics["rmse"]
        if rmse:  # delta method: SE(√m) = SE(m) / (2√m)
            se["rmse"] = squared.standard_error / (2.0 * rmse)
        return SetPerformance(n, metrics, errors, None, se)
    labels = _labels(spec, perf)
    k = len(labels)
    position = {label: i for i, label in enumerate(labels)}
    scores = [c for c in spec.with_role("score")]
    multiclass_scores = (
        spec.task == "multiclass"
        and bool(scores)
        and all(c.score_class is not None for c in scores)
        and all(label in {c.score_class for c in scores} for label in labels)
    )
    has_pred = any(p != "" for (_, p, _) in perf.pairs)
    rows: dict[tuple[str, str], int] = {}
    for (t, p, nan), count in perf.pairs.items():
        if nan and multiclass_scores:
            continue  # labelled_rows drops rows missing a score when it reads the scores
        if p.startswith(_FROM_SCORES):
            p = labels[int(p[len(_FROM_SCORES) :])] if k == 2 else labels[min(int(p[-1]), k - 1)]
        elif p != "" and not multiclass_scores and spec.single("prediction") is None:
            p = ""  # an argmax prediction where labelled_rows would read no scores
        rows[(t, p)] = rows.get((t, p), 0) + count
    n = sum(rows.values())
    if n == 0:
        return SetPerformance(
            0, {}, {"rows": "no row carries both a target and a prediction"}, None
        )
    confusion = None
    if has_pred and all(p != "" for (_, p) in rows):
        cm = np.zeros((k, k), dtype=np.int64)
        for (t, p), count in rows.items():
            cm[position[t], position[p]] += count
        confusion = ConfusionMatrix(labels, tuple(tuple(int(v) for v in row) for row in cm))
        accuracy = float(np.trace(cm) / n)
        metrics["accuracy"] = accuracy
        se["accuracy"] = binomial_standard_error(accuracy, n)
        if spec.task == "binary" and k == 2:
            p_, r_, f_ = precision_recall_f1(cm, average="binary")
            metrics.update(precision=p_, recall=r_, f1=f_)
            negatives, positives = int(cm[0].sum()), int(cm[1].sum())
            metrics["fpr"] = float(cm[0, 1] / negatives) if negatives else 0.0
            metrics["fnr"] = float(cm[1, 0] / positives) if positives else 0.0
            f1_se = _f1_standard_error(cm, "binary")
            if f1_se is not None:
                se["f1"] = f1_se
        else:
            for average in ("macro", "micro", "weighted"):
                p_, r_, f_ = precision_recall_f1(cm, average=average)
                metrics.update(
                    {f"precision_{average}": p_, f"recall_{average}": r_, f"f1_{average}": f_}
                )
            f1_se = _f1_standard_error(cm, "macro")
            if f1_se is not None:
                se["f1_macro"] = f1_se
    binary_scores = spec.task == "binary" and bool(scores) and k == 2
    if binary_scores:
        positive = labels[1]
        parts = {name: _Moments() for name in ("log_loss", "brier")}
        for cls_, sums in perf.losses.items():
            role = "pos" if cls_ == positive else "neg"
            for name in parts:
                found = sums.get(f"{name}_{role}")
                if found is not None:
                    parts[name].merge_in(found)
        if perf.bad_scores:
            # ROC and PR AUC take any finite score, but a summary bins them on [0, 1]
            _not_measured_from_summary(metrics, errors, ("roc_auc", "pr_auc"))
            reason = _bad_scores(perf.bad_scores)
            for name in ("log_loss", "brier", "ece"):
                metrics[name], errors[name] = None, reason
        else:
            _binned_score_metrics(perf, labels, metrics, errors, se)
            for name, m in parts.items():
                metrics[name] = m.mean
                se[name] = m.standard_error
    elif multiclass_scores:
        parts = {
            name: _merged_moments(sums[name] for sums in perf.losses.values() if name in sums)
            for name in ("log_loss", "brier")
        }
        _not_measured_from_summary(metrics, errors, ("roc_auc", "ece"))
        if perf.bad_scores:
            reason = _bad_scores(perf.bad_scores)
            for name in ("log_loss", "brier"):
                metrics[name], errors[name] = None, reason
        else:
            metrics["log_loss"] = parts["log_loss"].mean
            metrics["brier"] = parts["brier"].mean
            se["log_loss"] = parts["log_loss"].standard_error
    return SetPerformance(n, metrics, errors, confusion, se)


def _binned_score_metrics(
    perf: _Performance,
    labels: tuple[str, ...],
    metrics: dict[str, float | None],
    errors: dict[str, str],
    se: dict[str, float],
) -> None:
    """ROC AUC (with DeLong's standard error) and PR AUC from the binned scores, and the
    exact expected calibration error from the calibration bins."""
    negative, positive = labels
    empty = np.zeros(SCORE_BINS, dtype=np.int64)
    pos = perf.histograms.get(positive, empty).astype(np.float64)
    neg = perf.histograms.get(negative, empty).astype(np.float64)
    m, n = float(pos.sum()), float(neg.sum())
    zeros = np.zeros(CALIBRATION_BINS)
    positives_in = perf.calibration_counts.get(positive, zeros)
    score_sums = perf.calibration_sums.get(positive, zeros) + perf.calibration_sums.get(
        negative, zeros
    )
    if m + n:
        metrics["ece"] = float(np.sum(np.abs(positives_in - score_sums)) / (m + n))
    if m == 0 or n == 0:
        reason = (
            f"ROC AUC needs both classes in y_true; got {int(m)} positives and {int(n)} negatives"
        )
        metrics["roc_auc"], errors["roc_auc"] = None, reason
    else:
        neg_below = np.cumsum(neg) - neg
        v10 = (neg_below + 0.5 * neg) / n  # each positive's placement, per bin
        auc = float(np.dot(pos, v10) / m)
        metrics["roc_auc"] = auc
        if m >= 2 and n >= 2:
            pos_below = np.cumsum(pos) - pos
            v01 = 1.0 - (pos_below + 0.5 * pos) / m
            var10 = float(np.dot(pos, np.square(v10 - auc)) / (m - 1))
            var01 = float(np.dot(neg, np.square(v01 - auc)) / (n - 1))
            se["roc_auc"] = math.sqrt(max(var10 / m + var01 / n, 0.0))
    if m == 0:
        metrics["pr_auc"], errors["pr_auc"] = None, "average precision needs a positive"
    else:
        metrics["pr_auc"] = _binned_average_precision(pos, neg)
        se["pr_auc"] = _binned_bootstrap_error(pos, neg)


def _binned_average_precision(pos: NDArray[np.float64], neg: NDArray[np.float64]) -> float:
    """Average precision with each bin a threshold (scores in one bin tied)."""
    at_or_above_pos = np.cumsum(pos[::-1])[::-1]
    at_or_above_neg = np.cumsum(neg[::-1])[::-1]
    moved = pos > 0
    precision = at_or_above_pos[moved] / (at_or_above_pos[moved] + at_or_above_neg[moved])
    return float(np.dot(pos[moved], precision) / pos.sum())


def _binned_bootstrap_error(pos: NDArray[np.float64], neg: NDArray[np.float64]) -> float:
    """The standard error of the binned average precision from a seeded bootstrap of the two
    histograms (each class resampled at its size: multinomial draws over its bins), as the
    in-memory path bootstraps its rows (`BOOTSTRAP_DRAWS` draws)."""
    rng = np.random.default_rng(0)
    m, n = int(pos.sum()), int(neg.sum())
    values = []
    for _ in range(BOOTSTRAP_DRAWS):
        p = rng.multinomial(m, pos / m).astype(np.float64)
        q = rng.multinomial(n, neg / n).astype(np.float64) if n else neg
        values.append(_binned_average_precision(p, q))
    return float(np.std(values, ddof=1))


def score_ties(perf: _Performance, labels: tuple[str, ...]) -> float:
    """The share of (positive, negative) pairs whose scores share a bin: the binned ROC AUC
    is within half of it of the exact one."""
    if len(labels) != 2:
        return 0.0
    negative, positive = labels
    pos, neg = perf.histograms.get(positive), perf.histograms.get(negative)
    if pos is None or neg is None or not pos.sum() or not neg.sum():
        return 0.0
    return float(np.dot(pos.astype(np.float64), neg) / (float(pos.sum()) * float(neg.sum())))


NOT_FROM_SUMMARY = "not measured from a summary: it needs every row's score"


def _not_measured_from_summary(
    metrics: dict[str, float | None], errors: dict[str, str], names: tuple[str, ...]
) -> None:
    for name in names:
        metrics[name] = None
        errors[name] = NOT_FROM_SUMMARY


def _bad_scores(n: int) -> str:
    return (
        f"{n} labelled rows hold scores outside [0, 1]: pass predicted probabilities "
        "(not logits or scores) and drop rows without one"
    )


# --- the summary of a set ------------------------------------------------------------------------


def _ranges(col: ColumnSpec, like: NumericProfile) -> list[tuple[float, float]]:
    """The ranges whose outside values the quality checks count: the reference's [min, max]
    (when `like` is a reference profile) and the spec's bounds, open ends as ∓inf."""
    out = []
    if like.count:
        out.append((like.min, like.max))
    if col.bounds is not None:
        low, high = col.bounds
        out.append(
            (-math.inf if low is None else float(low), math.inf if high is None else float(high))
        )
    return out


def _outside(values: NDArray[np.float64], low: float, high: float) -> int:
    return int(
        np.searchsorted(values, low, side="left")
        + values.size
        - np.searchsorted(values, high, side="right")
    )


class Summary:
    """The mergeable summary of a set of rows, built on a reference's layout.

    Per column a `NumericProfile` / `CategoricalProfile` on the reference's edges and fences,
    plus what the checks need beyond it: unreadable cells, values outside the reference's
    [min, max] and the spec's bounds; the rows; the schema of the batches; and mergeable
    performance accumulators (a confusion of the classes, per-row loss sums, regression sums)
    when the target is present. `merge` is associative and commutative (up to float rounding
    of the moments and the sketches' randomness).
    """

    def __init__(
        self,
        spec: Spec,
        columns: dict[str, NumericProfile | CategoricalProfile],
        *,
        rows: int = 0,
        schema: pa.Schema | None = None,
        mismatches: dict[str, int] | None = None,
        outside: dict[str, dict[tuple[float, float], int]] | None = None,
        performance: _Performance | None = None,
        max_categories: int = MAX_CATEGORIES,
    ) -> None:
        self.spec = spec
        self.columns = columns
        self.rows = rows
        self.schema = schema
        self.mismatches = dict(mismatches or {})
        self.outside = {n: dict(r) for n, r in (outside or {}).items()}
        self.performance = performance if performance is not None else _Performance()
        self.max_categories = max_categories

    @classmethod
    def empty(
        cls,
        like: Layout | DatasetProfile,
        spec: Spec,
        *,
        max_categories: int = MAX_CATEGORIES,
    ) -> Summary:
        """The summary of no rows yet, on the edges of `like`: a reference profile (for a
        current set) or `ReferenceSketch.layout()` (pass 2 over a reference)."""
        profiles = like.columns if isinstance(like, DatasetProfile) else like
        columns: dict[str, NumericProfile | CategoricalProfile] = {}
        outside: dict[str, dict[tuple[float, float], int]] = {}
        absent = [
            c.name for c in spec.columns if _is_profiled(spec, c.name) and c.name not in profiles
        ]
        if absent:
            raise SpecError(
                f"the spec names {', '.join(map(repr, absent))}, which the reference profile "
                f"does not have; its columns are {', '.join(profiles) or '(none)'}. Rebuild "
                "the profile with this spec (`vigil profile DATA --spec SPEC -o FILE`)."
            )
        for col in spec.columns:
            if not _is_profiled(spec, col.name):
                continue
            if col.kind in NUMERIC_KINDS:
                base = profiles[col.name]
                if not isinstance(base, NumericProfile):
                    raise SpecError(_kind_refused(col, base))
                columns[col.name] = numeric_profile(
                    np.empty(0), missing=0, infinite=0, like=base, assume_sorted=True
                )
                outside[col.name] = dict.fromkeys(_ranges(col, base), 0)
            elif col.kind in CATEGORY_KINDS:
                base = profiles[col.name]
                if not isinstance(base, CategoricalProfile):
                    raise SpecError(_kind_refused(col, base))
                columns[col.name] = CategoricalProfile(0, 0, {})
        return cls(spec, columns, outside=outside, max_categories=max_categories)

    @property
    def present(self) -> list[str]:
        """The spec's columns the set has (all of them before any batch)."""
        if self.schema is None:
            return list(self.spec.names)
        return [n for n in self.spec.names if n in self.schema.names]

    def add(self, batch: Batch, *, type_mismatches: Mapping[str, int] | None = None) -> None:
        """Fold the rows of one batch in, each column read as its kind in the spec.

        `type_mismatches` adds cells a reader could not read (and left missing) per column,
        as `Dataset.type_mismatches` does for a table.
        """
        table = _table(batch)
        self.schema = _schema_of(table, self.schema)
        for col in _spec_columns(self.spec, table):
            column = table.column(col.name)
            found = self.columns[col.name]
            if isinstance(found, NumericProfile):
                read = _numbers(column, col.kind)
                part = numeric_profile(
                    read.values,
                    missing=read.missing,
                    infinite=read.infinite,
                    like=found,
                    assume_sorted=True,
                )
                self.columns[col.name] = merge_numeric(found, part)
                counted = self.outside.setdefault(col.name, {})
                for low, high in counted:
                    counted[(low, high)] += _outside(read.values, low, high)
                bad = read.mismatches
            else:
                counts, bad = _categories(column, col.kind)
                self.columns[col.name] = _merged_counts(
                    found, counts, col.name, self.max_categories
                )
            if bad:
                self.mismatches[col.name] = self.mismatches.get(col.name, 0) + bad
        for name, n in (type_mismatches or {}).items():
            if n:
                self.mismatches[name] = self.mismatches.get(name, 0) + int(n)
        _add_performance(self.performance, self.spec, table)
        self.rows += table.num_rows

    def merge(self, other: Summary) -> Summary:
        """The summary of both parts' rows (a new object; neither part changes)."""
        if self.spec != other.spec:
            raise InputError("summaries of different specs do not merge.")
        if self.schema is not None and other.schema is not None:
            lacking = [n for n in self.schema.names if n not in other.schema.names]
            lacking += [n for n in other.schema.names if n not in self.schema.names]
            if lacking:
                raise InputError(
                    f"summaries of parts with different columns do not merge ({lacking[0]!r} "
                    "is in one part only); every part of a set needs the same columns."
                )
        columns: dict[str, NumericProfile | CategoricalProfile] = {}
        for name, mine in self.columns.items():
            theirs = other.columns.get(name)
            if theirs is None:
                raise InputError(
                    f"the summaries do not both hold column {name!r}; they do not merge."
                )
            try:
                if isinstance(mine, NumericProfile) and isinstance(theirs, NumericProfile):
                    columns[name] = merge_numeric(mine, theirs)
                elif isinstance(mine, CategoricalProfile) and isinstance(
                    theirs, CategoricalProfile
                ):
                    columns[name] = _merged_counts(mine, theirs, name, self.max_categories)
                else:
                    raise ValueError(f"column {name!r} is numeric in one summary only")
            except ValueError as err:
                raise InputError(
                    f"the summaries were not built like the same reference, so they do not "
                    f"merge: {err}"
                ) from None
        outside: dict[str, dict[tuple[float, float], int]] = {}
        for name, counted in self.outside.items():
            theirs_counted = other.outside.get(name, {})
            if set(counted) != set(theirs_counted):
                raise InputError(
                    f"the summaries counted column {name!r} against different ranges (built "
                    "like different references); they do not merge."
                )
            outside[name] = {r: n + theirs_counted[r] for r, n in counted.items()}
        mismatches = dict(self.mismatches)
        for name, n in other.mismatches.items():
            mismatches[name] = mismatches.get(name, 0) + n
        return Summary(
            self.spec,
            columns,
            rows=self.rows + other.rows,
            schema=self.schema if self.schema is not None else other.schema,
            mismatches=mismatches,
            outside=outside,
            performance=self.performance.merge(other.performance),
            max_categories=self.max_categories,
        )

    def to_bytes(self) -> bytes:
        """The summary in vigil's summary format (`from_bytes` reads it back)."""
        document = {
            "spec": self.spec.to_dict(),
            "rows": self.rows,
            "max_categories": self.max_categories,
            "schema": _schema_text(self.schema),
            "columns": {n: column_document(c) for n, c in self.columns.items()},
            "mismatches": self.mismatches,
            "outside": {
                n: [[_float_text(lo), _float_text(hi), k] for (lo, hi), k in r.items()]
                for n, r in self.outside.items()
            },
            "performance": self.performance.to_document(),
        }
        return _encode("summary", document)

    @classmethod
    def from_bytes(cls, data: bytes) -> Summary:
        """A summary from `to_bytes`; anything else raises an InputError saying what is wrong."""
        document = _decode("summary", data)
        where = "the summary"
        try:
            spec = spec_from_dict(_get(document, "spec", dict, where), source=where)
            columns = {
                name: column_from_document(entry, f"column {name!r}")
                for name, entry in _get(document, "columns", dict, where).items()
            }
            outside: dict[str, dict[tuple[float, float], int]] = {}
            for name, entries in _get(document, "outside", dict, where).items():
                counted = {}
                for entry in _as(entries, list, f"{where}: outside {name!r}"):
                    if not isinstance(entry, list) or len(entry) != 3:
                        raise ValueError(
                            f"outside {name!r} holds an entry that is not [low, high, n]"
                        )
                    n = entry[2]
                    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
                        raise ValueError(
                            f"outside {name!r} holds a count that is not a whole number"
                        )
                    counted[(_float_from(entry[0]), _float_from(entry[1]))] = n
                outside[str(name)] = counted
            found = _get(document, "mismatches", dict, where)
            mismatches = {str(n): _whole(found, n, where) for n in found}
            summary = cls(
                spec,
                columns,
                rows=_whole(document, "rows", where),
                schema=_schema_from(_get(document, "schema", str, where)),
                mismatches=mismatches,
                outside=outside,
                performance=_Performance.from_document(
                    document.get("performance"), f"{where}: performance"
                ),
                max_categories=_whole(document, "max_categories", where),
            )
        except (ValueError, TypeError, KeyError, InputError, SpecError) as err:
            raise _damaged(where, err) from None
        summary._check()
        return summary

    def _check(self) -> None:
        """Refuse a decoded summary whose parts disagree with each other or with its spec."""
        for col in self.spec.columns:
            found = self.columns.get(col.name)
            if _is_profiled(self.spec, col.name) and found is None:
                raise InputError(
                    f"the summary is damaged: it holds no column {col.name!r} of its spec."
                )
            expected = NumericProfile if col.kind in NUMERIC_KINDS else CategoricalProfile
            if found is not None and not isinstance(found, expected):
                raise InputError(
                    f"the summary is damaged: column {col.name!r} is not {expected.__name__}."
                )
        for name, profile in self.columns.items():
            rows = (
                profile.count + profile.missing + profile.infinite
                if isinstance(profile, NumericProfile)
                else profile.count + profile.missing
            )
            if name in self.present and rows != self.rows:
                raise InputError(
                    f"the summary is damaged: column {name!r} counts {rows} rows, not {self.rows}."
                )


def _kind_refused(col: ColumnSpec, found: NumericProfile | CategoricalProfile) -> str:
    return (
        f"the reference profile holds {col.name!r} as {type(found).__name__}, but the spec "
        f"says it is {col.kind}; rebuild the profile with this spec."
    )


# --- from summaries to a profile and a report ----------------------------------------------------

SKETCH_NOTE = (
    "The reference was read in batches (two passes): its bin edges, fine edges and outlier "
    "fences are quantiles of a KLL sketch (rank error about 0.3 %), and its quantiles are "
    "estimates from sketches; every count on those edges is exact."
)
NO_TARGET_NOTE = (
    "The reference profile has no target, so it keeps no performance baseline: the model's "
    "performance cannot be judged against it, and no role option brings it back. Rebuild the "
    "profile with --target, --prediction and --score (or --spec)."
)


def reference_profile(
    sketch: ReferenceSketch, summary: Summary, spec: Spec, *, source: str
) -> DatasetProfile:
    """The reference's `DatasetProfile` from pass 1 (`sketch`, for the layout) and pass 2
    (`summary`: `Summary.empty(sketch.layout(), spec)` fed the same rows)."""
    if summary.spec != spec or sketch.spec != spec:
        raise SpecError("the sketch and summary of the reference were built with another spec.")
    if summary.rows == 0:
        raise NotEnoughData(
            f"the reference {source} has no rows; a reference is the data the model was "
            "trained or validated on, and later sets are compared with it."
        )
    if summary.rows != sketch.rows:
        raise InputError(
            f"the two passes over the reference {source} read {sketch.rows} and {summary.rows} "
            "rows; did the data change between them? Read it again."
        )
    notes = [SKETCH_NOTE]
    if spec.single("target") is None:
        notes.append(NO_TARGET_NOTE)
    performance: dict[str, float] = {}
    own = _set_performance(spec, summary.performance)
    if own is not None:
        performance = performance_to_store(own)
    return DatasetProfile(
        rows=summary.rows,
        columns=dict(summary.columns),
        spec=spec.to_dict(),
        performance=performance,
        source=source,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        bins=spec.drift.n_bins,
        schema=b"" if summary.schema is None else summary.schema.serialize().to_pybytes(),
        type_mismatches={n: k for n, k in summary.mismatches.items() if n in spec.names and k},
        notes=tuple(notes),
    )


def _column(
    col: ColumnSpec, reference: DatasetProfile, current: Summary, spec: Spec
) -> tuple[ColumnDrift | None, ColumnQuality]:
    """Drift and quality of one column from the two summaries (as evaluation._column)."""
    measured = col.role in DRIFT_ROLES
    ref_side = reference.columns[col.name]
    cur_side = current.columns[col.name]
    mismatches = current.mismatches.get(col.name, 0)
    try:
        if col.kind in NUMERIC_KINDS:
            if not isinstance(ref_side, NumericProfile) or not isinstance(cur_side, NumericProfile):
                raise ValueError(
                    f"the reference profile holds {col.name!r} as {type(ref_side).__name__}, "
                    f"but the spec says it is {col.kind}; rebuild the profile with this spec"
                )
            drift = (
                measure_numeric(
                    col,
                    ref_side,
                    cur_side,
                    n_bins=spec.drift.n_bins,
                    extras=spec.drift.extra_metrics,
                )
                if measured
                else None
            )
            quality = numeric_quality(
                col,
                ref_side,
                CurrentNumeric(
                    cur_side,
                    cur_side.count + cur_side.missing + cur_side.infinite,
                    mismatches,
                    current.outside.get(col.name, {}),
                ),
                reference_mismatches=reference.type_mismatches.get(col.name, 0),
            )
            return drift, quality
        if not isinstance(ref_side, CategoricalProfile) or not isinstance(
            cur_side, CategoricalProfile
        ):
            raise ValueError(
                f"the reference profile holds {col.name!r} as {type(ref_side).__name__}, but "
                f"the spec says it is {col.kind}; rebuild the profile with this spec"
            )
        drift = measure_categorical(col, ref_side, cur_side) if measured else None
        return drift, categorical_quality(col, ref_side, cur_side, type_mismatches=mismatches)
    except (ValueError, pa.ArrowException) as err:
        reason = f"could not be evaluated: {err}"
    return (unevaluated_drift(col, reason) if measured else None), unchecked(col, reason)


def _same_layout(reference: DatasetProfile, current: Summary) -> None:
    """Refuse a summary built like another reference (its edges or fences differ)."""
    for name, mine in current.columns.items():
        ref = reference.columns.get(name)
        if isinstance(mine, NumericProfile) and isinstance(ref, NumericProfile):
            same = (
                np.array_equal(mine.edges, ref.edges)
                and np.array_equal(mine.fine_edges, ref.fine_edges)
                and mine.fences == ref.fences
            )
            ranges = set(current.outside.get(name, {}))
            if not same or (ref.count and (ref.min, ref.max) not in ranges):
                raise InputError(
                    "the current summary was not built like the reference profile "
                    f"{reference.source} (column {name!r} has other bin edges or ranges); "
                    "build it with Summary.empty(reference_profile, spec)."
                )


def _summary_exactness(spec: Spec, drift: DriftResult, ties: float | None) -> str:
    """What a report from summaries computes exactly, what approximately, and what not."""
    approximate = sorted({m for c in drift.columns.values() for m in c.approximate})
    parts = []
    if approximate:
        parts.append(
            f"{', '.join(approximate)} are approximations from histograms (bounds in "
            "docs/profile-format.md)"
        )
    parts.append("the current median is read from a quantile sketch")
    if spec.task in ("binary", "multiclass"):
        parts.append(
            "the standard error of F1 is the delta method's from the confusion matrix (the "
            "in-memory report bootstraps it)"
        )
    if ties is not None:
        parts.append(
            f"ROC AUC and PR AUC are read from the scores counted on {SCORE_BINS:,} equal bins "
            f"of [0, 1] (the ROC AUC within ±{ties / 2:.2g} of the exact one; the PR AUC's "
            "standard error is a bootstrap of the bins)"
        )
    if spec.task == "regression":
        parts.append(
            "the standard error of R² is the delta method's (the in-memory report bootstraps it)"
        )
    lacking = ["duplicate rows and duplicate ids (they need every row)"]
    if spec.with_role("id"):
        lacking.append("the id column's missing share (ids are not counted, one a row)")
    if any(c.kind in NUMERIC_KINDS for c in spec.columns):
        lacking.append("the chance test of a numeric column that turns constant")
    if any(c.kind == "text" for c in spec.columns):
        lacking.append("text columns' vocabulary (unseen words)")
    if spec.task == "multiclass" and spec.with_role("score"):
        lacking.append("the one-vs-rest ROC AUC and the top-label calibration error")
    lacking.append(
        "multivariate drift, attribution drift, fairness, performance estimated without "
        "labels and the stream detectors"
    )
    return (
        "The current set was read in batches into a summary: "
        + "; ".join(parts)
        + ". Not measured from a summary: "
        + "; ".join(lacking)
        + ". Every other measure is the one the rows give."
    )


def evaluate_summary(
    reference: DatasetProfile,
    current: Summary,
    spec: Spec,
    *,
    source: str,
    reference_is_profile: bool = True,
) -> Report:
    """The report `evaluate(reference, current_rows, spec)` gives, from a reference profile and
    a summary of the current set built like it (`Summary.empty(reference, spec)`).

    The histogram and category measures, the quality shares and the performance from the
    confusion matrix and loss sums are the ones the rows give; KS and Wasserstein are the
    profile approximations `evaluate` uses against a profile; the report's notes say what is
    approximate and what is not measured without rows. `reference_is_profile` says whether the
    reference was a saved profile (False: rows summarised for this report), as the report's
    header shows.
    """
    if current.spec != spec:
        raise SpecError("the current summary was built with another spec; build it with this one.")
    if current.rows == 0:
        raise NotEnoughData(
            f"the current set {source} has no rows; nothing to compare. Check the file or the "
            "window you exported."
        )
    ref = _Reference(None, reference, reference.source, _profile_schema(reference))
    absent = [n for n in spec.names if n not in reference.columns and _is_profiled(spec, n)]
    if absent:
        raise SpecError(
            f"the spec names {', '.join(map(repr, absent))}, which the reference "
            f"{reference.source} does not have; rebuild the profile with this spec "
            "(`vigil profile DATA --spec SPEC -o FILE`)."
        )
    _same_layout(reference, current)
    notes = _profile_notes(reference, spec)
    present = set(current.present)
    assert current.schema is not None  # a summary with rows has seen a batch
    schema = _schema(spec, ref, current.schema.empty_table())
    columns = [c for c in spec.columns if c.name in present]
    missing = [c for c in spec.columns if c.name not in present]
    results = {}
    for col in columns:
        if col.name in current.columns:
            results[col.name] = _column(col, reference, current, spec)
        else:
            reason = ID_NOT_COUNTED if col.role == "id" else f"kind {col.kind!r} is not measured"
            results[col.name] = (
                unevaluated_drift(col, reason) if col.role in DRIFT_ROLES else None,
                unchecked(col, reason),
            )
    measured_columns, quality_columns = gathered(spec, results, missing)
    drift, quality = adjust_together(
        measured_columns,
        QualityResult(
            columns=quality_columns,
            schema=schema,
            reference_rows=reference.rows,
            current_rows=current.rows,
            duplicate_rows=0,
            duplicate_row_share=0.0,
            duplicate_ids=None,
        ),
        spec.drift,
    )
    performance = _performance(spec, reference, current)
    binned = (
        spec.task == "binary"
        and performance is not None
        and performance.current is not None
        and performance.current.metrics.get("roc_auc") is not None
    )
    labels = _labels(spec, current.performance)
    notes.append(
        _summary_exactness(spec, drift, score_ties(current.performance, labels) if binned else None)
    )
    # What a summary cannot measure gets no check, rather than a false "ok" (duplicate rows)
    # or a "not computable" warning (a metric that needs every row's score).
    unmeasured = {"duplicate_rows"}
    if performance is not None and performance.current is not None:
        unmeasured |= {
            f"performance.{name}"
            for name, why in performance.current.errors.items()
            if why == NOT_FROM_SUMMARY
        }
    checks = tuple(c for c in judge(spec, drift, quality, performance) if c.name not in unmeasured)
    return Report(
        reference=SetSummary(reference.rows, reference.source, reference_is_profile),
        current=SetSummary(current.rows, source, False),
        drift=drift,
        quality=quality,
        performance=performance,
        checks=checks,
        notes=tuple(notes),
        spec=spec.to_dict(),
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        vigil_version=_version(),
    )


def _is_profiled(spec: Spec, name: str) -> bool:
    """True for the columns a summary counts: numeric and category kinds, but not ids."""
    column = spec.column(name)
    return column.kind in NUMERIC_KINDS | CATEGORY_KINDS and column.role != "id"


def _performance(
    spec: Spec, reference: DatasetProfile, current: Summary
) -> PerformanceResult | None:
    target = spec.single("target")
    if target is None or spec.task is None:
        return None
    reference_perf = stored_performance(reference.performance) if reference.performance else None
    current_perf = _set_performance(spec, current.performance)
    return performance_result(spec, reference_perf, current_perf, current.rows)


# --- the byte format -----------------------------------------------------------------------------


def _encode(kind: str, document: dict[str, Any]) -> bytes:
    body = json.dumps(document, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return _MAGIC[kind] + f" {FORMAT_VERSION}\n".encode("ascii") + body.encode("utf-8")


def _decode(kind: str, data: bytes) -> dict[str, Any]:
    what = "summary" if kind == "summary" else "reference sketch"
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise InputError(f"a {what} is read from bytes; got a {type(data).__name__}.")
    raw = bytes(data)
    head, newline, body = raw.partition(b"\n")
    magic = _MAGIC[kind]
    if not newline or not head.startswith(magic + b" "):
        raise InputError(
            f"these {len(raw)} bytes are not a vigil {what} (they do not start with "
            f"{magic.decode()!r}); pass the bytes of {what}.to_bytes()."
        )
    version = head[len(magic) + 1 :]
    if version != str(FORMAT_VERSION).encode("ascii"):
        raise InputError(
            f"the vigil {what} has format version {version.decode('ascii', 'replace')[:20]!r}; "
            f"this vigil reads version {FORMAT_VERSION}. Build it with the same vigil version."
        )
    try:
        document = json.loads(body.decode("utf-8"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError) as err:
        raise InputError(f"the vigil {what} is damaged or truncated ({err}).") from None
    if not isinstance(document, dict):
        raise InputError(f"the vigil {what} is damaged: its body is not a JSON object.")
    return document


def _refuse_constant(token: str) -> Any:
    raise ValueError(f"bare {token} is not JSON")


def _damaged(where: str, err: BaseException) -> InputError:
    text = str(err).rstrip(".")
    if text.startswith(f"{where} is damaged"):
        return InputError(text + ".")
    return InputError(f"{where} is damaged: {text}.")


def _get(document: dict[str, Any], key: str, kind: type[Any], where: str) -> Any:
    if key not in document:
        raise ValueError(f"{where} has no {key!r}")
    return _as(document[key], kind, f"{where}: {key!r}")


def _as(value: Any, kind: type[Any], where: str) -> Any:
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ValueError(f"{where} is not {'an object' if kind is dict else kind.__name__}")
    return value


def _whole(document: dict[str, Any], key: str, where: str) -> int:
    value = _get(document, key, int, where)
    if value < 0:
        raise ValueError(f"{where}: {key!r} is {value}, not a whole number >= 0")
    return int(value)


def _sketch(text: str, where: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except binascii.Error:
        raise ValueError(f"{where}: the sketch is not base64") from None
    try:
        sketch_count(raw)
    except Exception:  # datasketches raises RuntimeError/ValueError on damaged bytes
        raise ValueError(f"{where}: the sketch is damaged") from None
    return raw


def _category_column(entry: Any, where: str) -> CategoricalProfile:
    column = column_from_document(entry, where)
    if not isinstance(column, CategoricalProfile):
        raise ValueError(f"{where} is not a category column")
    return column


def _schema_text(schema: pa.Schema | None) -> str:
    if schema is None:
        return ""
    return base64.b64encode(schema.serialize().to_pybytes()).decode("ascii")


def _schema_from(text: str) -> pa.Schema | None:
    if not text:
        return None
    try:
        return paipc.read_schema(pa.py_buffer(base64.b64decode(text, validate=True)))
    except (binascii.Error, pa.ArrowInvalid, OSError):
        raise ValueError("its schema is damaged") from None


def _float_text(value: float) -> float | str:
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def _float_from(value: Any) -> float:
    if value == "Infinity":
        return math.inf
    if value == "-Infinity":
        return -math.inf
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    raise ValueError(f"{value!r} is not a number")


# --- the stream engine ---------------------------------------------------------------------------


def evaluate_stream(
    reference: Any,
    current: str | Path,
    spec: Spec | str | Path | None = None,
    *,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    target: str | None = None,
    prediction: str | None = None,
    scores: Sequence[str] = (),
    id_column: str | None = None,
    timestamp: str | None = None,
    segments: Iterable[str] = (),
    on_progress: Callable[[int, int], None] | None = None,
) -> Report:
    """`evaluate` for sets larger than memory: both read as record batches of at most
    `batch_rows` rows (`vigil.measure.batches`), never as one table.

    `reference` is a path (file, glob or folder) or a profile (`DatasetProfile`, or a file
    saved by `vigil profile`); a reference given as data is read twice (a quantile sketch for
    its bin edges, then its summary on them). `current` is a path. Without a spec, one is
    inferred from the reference's first batch with the role arguments, as `infer_spec` does.
    Peak memory is about a few batches plus the summaries (docs/profile-format.md).
    `on_progress(rows read, rows to read)` is called after each batch (the total is the rows
    read so far when the files do not say).
    """
    roles = role_arguments(
        spec,
        target=target,
        prediction=prediction,
        scores=scores,
        id_column=id_column,
        timestamp=timestamp,
        segments=segments,
    )
    if isinstance(current, (str, Path)) and Path(current).is_file() and is_profile_file(current):
        raise InputError(
            f"{str(current)!r} is a profile; the current set must be data (a file or a "
            "folder). Profiles are for the reference."
        )
    if isinstance(spec, (str, Path)):
        spec = load_spec(spec)
    cur = read_batches(current, batch_rows=batch_rows)
    profile: DatasetProfile | None = None
    if isinstance(reference, DatasetProfile):
        profile = reference
    elif (
        isinstance(reference, (str, Path))
        and Path(reference).is_file()
        and is_profile_file(reference)
    ):
        profile = load_profile(reference)
    notes: list[str] = []
    ref = None if profile is not None else read_batches(reference, batch_rows=batch_rows)
    totals = [cur.rows] + ([] if ref is None else [ref.rows, ref.rows])
    total = sum(t for t in totals if t is not None) if None not in totals else None
    done = 0

    def read(batch_rows_read: int) -> None:
        nonlocal done
        done += batch_rows_read
        if on_progress is not None:
            on_progress(done, total if total is not None else done)

    if profile is not None:
        if spec is None:
            if any(roles.values()):
                raise profile_roles_refused(profile.source)
            spec = spec_from_dict(profile.spec, source=f"the spec inside {profile.source}")
    else:
        assert ref is not None
        if spec is None:
            passes = iter(ref)
            first = next(passes, None)
            passes.close()  # type: ignore[attr-defined]
            if first is None:
                raise NotEnoughData(f"the reference {ref.source} has no rows; nothing to compare.")
            head = pa.Table.from_batches([first.batch])
            spec = infer_spec(head, **roles)  # type: ignore[arg-type]
            skipped = [n for n in head.column_names if n not in spec.names]
            if skipped:
                notes.append(
                    f"Columns of types vigil cannot judge were left out: {', '.join(skipped)}."
                )
            notes.append(
                f"No spec was given: it was inferred from the reference's first "
                f"{head.num_rows:,} rows (rules in docs/spec.md); write it out with `vigil "
                "init` to review and pin it."
            )
        sketch = ReferenceSketch.empty(spec)
        for part in ref:
            sketch.add(part.batch, type_mismatches=part.type_mismatches)
            read(part.batch.num_rows)
        layout = sketch.layout()
        summary = Summary.empty(layout, spec)
        for part in ref:
            summary.add(part.batch, type_mismatches=part.type_mismatches)
            read(part.batch.num_rows)
        profile = reference_profile(sketch, summary, spec, source=ref.source)
    current_summary = Summary.empty(profile, spec)
    for part in cur:
        current_summary.add(part.batch, type_mismatches=part.type_mismatches)
        read(part.batch.num_rows)
    report = evaluate_summary(
        profile, current_summary, spec, source=cur.source, reference_is_profile=ref is None
    )
    return replace(report, notes=(*notes, *report.notes))
