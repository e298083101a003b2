"""`evaluate(reference, current, spec)`: the one computation path of vigil.

The CLI report, the CI gate and the service's windows all call this function, so they can
never disagree. It reads both sets column by column, converts and sorts each column once,
measures drift, quality and performance (`vigil.measure`: numbers, p-values, standard
errors), and hands the measurements to `vigil.verdict`, which alone decides the statuses.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.ipc as paipc

from vigil.errors import InputError, NotEnoughData, SpecError
from vigil.measure.attribution import (
    AttributionResult,
    attribution_columns,
    attribution_matrix,
    band_rows,
    is_attribution_column,
    measure_attribution,
    null_band,
    reference_attributions,
)
from vigil.measure.columns import (
    NumericSample,
    boolean_column,
    category_profile,
    numeric_sample,
    token_profile,
)
from vigil.measure.detections import DetectionResult, detect_changes
from vigil.measure.drift import (
    ColumnDrift,
    DriftResult,
    measure_categorical,
    measure_numeric,
    unevaluated,
)
from vigil.measure.estimation import estimate
from vigil.measure.fairness import measure_fairness
from vigil.measure.multivariate import (
    MultivariateResult,
    fitted,
    is_multivariate_on,
    measure_multivariate,
    multivariate_columns,
)
from vigil.measure.performance import (
    PerformanceResult,
    SetPerformance,
    check_score_classes,
    class_labels,
    compare,
    labelled_rows,
    reference_classes,
    set_performance,
)
from vigil.measure.quality import (
    ColumnQuality,
    QualityResult,
    SchemaChange,
    TypeChange,
    categorical_quality,
    duplicate_count,
    duplicate_ids,
    duplicate_rows_test,
    has_unique_column,
    numeric_quality,
    row_hashes,
    unchecked,
    with_vocabulary,
)
from vigil.measure.reading import Dataset, read_dataset
from vigil.measure.reference import conform_reference
from vigil.measure.significance import adjust_together
from vigil.profile import (
    CategoricalProfile,
    DatasetProfile,
    NumericProfile,
    is_profile_file,
    load_profile,
    reference_numeric_profile,
)
from vigil.report.model import Report, SetSummary
from vigil.spec import (
    CATEGORY_KINDS,
    DRIFT_ROLES,
    NUMERIC_KINDS,
    ColumnSpec,
    Spec,
    load_spec,
    spec_from_dict,
    spec_of_table,
)
from vigil.verdict import judge

Progress = Callable[[int, int], None]  # (columns done, columns in all)
_T = TypeVar("_T")
_A = TypeVar("_A")

NO_ROLES_NOTE = (
    "The reference profile was built without a spec or roles: every column was profiled as "
    "a feature (the first date or time column as the timestamp)."
)
NO_TARGET_NOTE = (
    "The reference profile has no target, so it keeps no performance baseline: the model's "
    "performance cannot be judged against it, and no role option brings it back. Rebuild the "
    "profile with --target, --prediction and --score (or --spec)."
)


class _Memo:
    """What `evaluate` reads of one prepared reference, each piece computed once.

    A piece is computed outside the lock (two threads may both compute one the first time:
    the same value, one of them kept); a piece that raises is not kept, so the next call
    raises the same way.
    """

    def __init__(self) -> None:
        self._values: dict[Hashable, Any] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable, compute: Callable[[], _T]) -> _T:
        with self._lock:
            if key in self._values:
                found: _T = self._values[key]
                return found
        value = compute()
        with self._lock:
            kept: _T = self._values.setdefault(key, value)
        return kept


def _read_only(value: _T) -> _T:
    """`value` with the numpy arrays it holds (itself, or fields of a dataclass) read-only."""
    if isinstance(value, np.ndarray):
        value.flags.writeable = False
    elif hasattr(value, "__dataclass_fields__"):
        for name in value.__dataclass_fields__:
            field_value = getattr(value, name)
            if isinstance(field_value, np.ndarray):
                field_value.flags.writeable = False
    return value


@dataclass(frozen=True, slots=True)
class _Reference:
    """The reference as rows (conformed to the spec once it is known) or as a saved profile."""

    data: Dataset | None
    profile: DatasetProfile | None
    source: str
    schema: pa.Schema | None = None  # the types the rows were read with, before conforming
    memo: _Memo | None = None  # prepared (`PreparedReference`): what is read of it, kept

    def once(self, key: Hashable, compute: Callable[[], _T]) -> _T:
        """`compute()`, kept for the next evaluation when the reference is prepared (its
        numpy arrays made read-only then: a measure that wrote into a kept array would change
        every later report)."""
        if self.memo is None:
            return compute()
        return self.memo.get(key, lambda: _read_only(compute()))

    @property
    def table(self) -> pa.Table | None:
        return None if self.data is None else self.data.table

    @property
    def rows(self) -> int:
        if self.profile is not None:
            return self.profile.rows
        assert self.data is not None
        return int(self.data.table.num_rows)

    @property
    def column_names(self) -> list[str]:
        if self.profile is not None:
            return list(self.profile.columns)
        assert self.data is not None
        return list(self.data.table.column_names)


class PreparedReference:
    """A reference conformed to a spec once, for many `evaluate` calls against it.

    `evaluate(prepared, current, spec)` gives the report `evaluate(reference, current, spec)`
    gives, but what it reads of the reference — each column's sorted numbers, category and
    word counts, the class labels, the performance on its labelled rows, its row hashes — is
    computed at the first evaluation that needs it and kept in this object. The service
    prepares each model version's reference once and judges every window and segment against
    it (`vigil.monitor.references`). Preparing raises what `evaluate` would raise for the
    reference (a column that cannot be read as its kind, no rows).

    It holds the conformed table and the kept pieces (about 17 bytes per numeric cell more
    than the table: the sorted values, their prefix integral and search index, read by the
    window's lookups — `vigil.stats.SortedSample`): drop it to free them.
    """

    def __init__(self, reference: Any, spec: Spec) -> None:
        read = _read_reference(reference)
        conformed = _conformed(read, spec)
        self.spec = spec
        self.reference = _Reference(
            conformed.data, conformed.profile, conformed.source, conformed.schema, _Memo()
        )
        self.warm = False  # an evaluation has read (and kept) what it needs of the reference

    @property
    def rows(self) -> int:
        """Rows of the reference."""
        return self.reference.rows


def infer_spec(
    data: Any,
    *,
    target: str | None = None,
    prediction: str | None = None,
    scores: Sequence[str] = (),
    id_column: str | None = None,
    timestamp: str | None = None,
    segments: Iterable[str] = (),
) -> Spec:
    """A spec for a reference set (a path, a pandas or polars DataFrame, an Arrow table).

    The columns named get those roles, every other column is a feature; kinds and the task
    follow the rules in docs/spec.md. Multiclass score columns are matched to their classes
    by name and checked against the predictions.
    """
    dataset = read_dataset(data)
    spec = spec_of_table(
        dataset.table,
        target=target,
        prediction=prediction,
        scores=scores,
        id_column=id_column,
        timestamp=timestamp,
        segments=segments,
    )
    if spec.task == "multiclass":
        labels = class_labels(spec, dataset.table)
        check_score_classes(spec, dataset.table, labels, dataset.source)
    return spec


def evaluate(
    reference: Any,
    current: Any,
    spec: Spec | str | Path | None = None,
    *,
    target: str | None = None,
    prediction: str | None = None,
    scores: Sequence[str] = (),
    id_column: str | None = None,
    timestamp: str | None = None,
    segments: Iterable[str] = (),
    on_progress: Progress | None = None,
    workers: int | None = None,
) -> Report:
    """Compare a current set with a reference: drift, data quality, performance and checks.

    `reference` and `current` are file paths (Parquet, CSV, JSON Lines, Arrow IPC; a glob or
    a folder), pandas or polars DataFrames, or Arrow tables; `reference` may also be a profile
    saved by `vigil profile`. Without a spec one is inferred from the reference with the roles
    given (`target=`, `prediction=`, `scores=`, `id_column=`, `timestamp=`, `segments=`), as
    `infer_spec` does; with a spec, the role arguments are refused. The reference is then
    conformed to the spec as the service conforms an uploaded one (`conform_reference`): a
    column that cannot be read as its kind, or has no value, is refused with its name.
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
    cur = read_current(current)
    if isinstance(spec, (str, Path)):
        spec = load_spec(spec)
    notes: list[str] = []
    if isinstance(reference, PreparedReference):
        if spec is not None and spec != reference.spec:
            raise SpecError(
                "the reference was prepared for another spec; prepare it with this one "
                "(`PreparedReference(reference, spec)`), or pass the reference itself."
            )
        spec = reference.spec
        ref = reference.reference
    else:
        ref = _read_reference(reference)
        if spec is None:
            spec = _default_spec(ref, notes, roles)
        ref = _conformed(ref, spec)
    if ref.profile is not None:
        notes += _profile_notes(ref.profile, spec)
    if cur.table.num_rows == 0:
        raise NotEnoughData(
            f"the current set {cur.source} has no rows; nothing to compare. "
            f"Check the file or the window you exported."
        )
    labels = _labels(spec, cur.table, ref)
    if ref.table is not None and spec.task == "multiclass":
        _check_reference_classes(spec, ref, labels)

    present = set(cur.table.column_names)
    schema = _schema(spec, ref, cur.table)
    columns = [c for c in spec.columns if c.name in present]
    missing = [c for c in spec.columns if c.name not in present]

    total = len(columns)
    done = 0
    results: dict[str, tuple[ColumnDrift | None, ColumnQuality]] = {}

    def job(col: ColumnSpec) -> tuple[str, ColumnDrift | None, ColumnQuality]:
        return (col.name, *_column(col, ref, cur, spec))

    ref_names = set(ref.column_names)
    hashed = [c.name for c in columns if ref.profile is not None or c.name in ref_names]
    # the first evaluation against a prepared reference sorts its columns: threads pay there
    warm = isinstance(reference, PreparedReference) and reference.warm
    n_workers = workers or _workers(warm, cur.table.num_rows)
    with ThreadPoolExecutor(max_workers=n_workers) if n_workers > 1 else _Inline() as pool:
        duplicates = pool.submit(_duplicates, ref, cur.table, hashed)
        performance_job = pool.submit(_performance, spec, ref, cur.table, labels)
        attribution_job = pool.submit(_attribution, spec, ref, cur)
        fairness_job = pool.submit(measure_fairness, spec, cur.table, labels)
        estimated_job = pool.submit(estimate, spec, ref.table, cur.table, ref.once)
        multivariate_job = pool.submit(_multivariate, spec, ref, cur.table)
        detections_job = pool.submit(_detections, spec, ref, cur.table)
        for name, measured, checked in pool.map(job, columns):
            results[name] = (measured, checked)
            done += 1
            if on_progress is not None:
                on_progress(done, total)

    measured_columns, quality_columns = gathered(spec, results, missing)
    id_col = spec.single("id")
    n_dups, share, ref_share, test = duplicates.result()
    if isinstance(reference, PreparedReference):
        reference.warm = True
    drift, quality = adjust_together(
        measured_columns,
        QualityResult(
            columns=quality_columns,
            schema=schema,
            reference_rows=ref.rows,
            current_rows=cur.table.num_rows,
            duplicate_rows=n_dups,
            duplicate_row_share=share,
            duplicate_ids=(
                duplicate_ids(cur.table.column(id_col.name))
                if id_col is not None and id_col.name in present
                else None
            ),
            reference_duplicate_row_share=ref_share,
            duplicate_row_increase=share - ref_share if test is None else test[0],
            duplicate_rows_p_value=None if test is None else test[1],
        ),
        spec.drift,
    )
    performance = performance_job.result()
    attribution = attribution_job.result()
    fairness = fairness_job.result()
    estimated = estimated_job.result()
    multivariate, multivariate_note = multivariate_job.result()
    if ref.profile is not None:
        notes.append(_profile_exactness(spec, drift))
    if multivariate_note is not None:
        notes.append(multivariate_note)
    return Report(
        reference=SetSummary(ref.rows, ref.source, ref.profile is not None),
        current=SetSummary(cur.table.num_rows, cur.source, False),
        drift=drift,
        quality=quality,
        performance=performance,
        checks=judge(
            spec,
            drift,
            quality,
            performance,
            attribution=attribution,
            fairness=fairness,
            estimated=estimated,
            multivariate=multivariate,
        ),
        notes=tuple(notes),
        spec=spec.to_dict(),
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        vigil_version=_version(),
        attribution=attribution,
        fairness=fairness,
        estimated=estimated,
        multivariate=multivariate,
        detections=detections_job.result(),
    )


def gathered(
    spec: Spec,
    results: Mapping[str, tuple[ColumnDrift | None, ColumnQuality]],
    missing: Iterable[ColumnSpec],
) -> tuple[list[ColumnDrift], dict[str, ColumnQuality]]:
    """The drift of every drift column in the spec's order and the quality of every column,
    from the measured columns' `results`; `missing` columns (absent from the current set)
    are unevaluated and unchecked with that reason."""
    reason = "absent from the current set"
    measured: list[ColumnDrift] = []
    for c in spec.drift_columns:
        if c.name in results:
            found = results[c.name][0]
            if found is not None:
                measured.append(found)
        else:
            measured.append(unevaluated(c, reason))
    quality = {name: checked for name, (_, checked) in results.items()}
    quality.update({c.name: unchecked(c, reason) for c in missing})
    return measured, quality


def role_arguments(
    spec: object,
    *,
    target: str | None,
    prediction: str | None,
    scores: Sequence[str],
    id_column: str | None,
    timestamp: str | None,
    segments: Iterable[str],
) -> dict[str, Any]:
    """The role arguments of `evaluate` (and the stream engine) as `infer_spec` takes them;
    a SpecError when a spec is given too (it already says which column is which)."""
    roles = {
        "target": target,
        "prediction": prediction,
        "scores": tuple(scores),
        "id_column": id_column,
        "timestamp": timestamp,
        "segments": tuple(segments),
    }
    given = [name for name, value in roles.items() if value]
    if spec is not None and given:
        raise SpecError(
            f"give either a spec or the role arguments ({', '.join(given)}), not both: the "
            "spec already says which column is which."
        )
    return roles


def _detections(spec: Spec, ref: _Reference, current: pa.Table) -> DetectionResult | None:
    """The stream detectors over the current set in time order (None: none ran)."""
    return detect_changes(ref.table, current, spec, once=ref.once, profile=ref.profile)


MULTIVARIATE_NOTE = "Multivariate drift"  # how its notes start (late labels carry them)


def _multivariate(
    spec: Spec, ref: _Reference, current: pa.Table
) -> tuple[MultivariateResult | None, str | None]:
    """The multivariate measures when the spec asks and the sets allow, or why not (a note;
    None when the spec does not ask)."""
    if not is_multivariate_on(spec):
        return None, None
    table = ref.table
    if table is None:
        return None, (
            f"{MULTIVARIATE_NOTE} is not measured against a saved profile: it needs the "
            "reference's rows. Pass the reference data instead of its profile."
        )
    names = [c.name for c in multivariate_columns(spec)]
    absent = [n for n in names if n not in current.column_names]
    if absent:
        return None, (
            f"{MULTIVARIATE_NOTE} is not measured: the current set lacks "
            f"{', '.join(map(repr, absent))}."
        )
    try:
        fit = fitted(ref.once, table, spec)
        return measure_multivariate(fit, current, spec, reference_rows=ref.rows), None
    except (ValueError, pa.ArrowException) as err:
        return None, f"{MULTIVARIATE_NOTE} could not be measured: {str(err).rstrip('.')}."


# Below this many current rows, against a prepared reference already read once (its columns
# sorted), the columns are measured on the calling thread: each column is then many small
# numpy calls that hold the GIL, so threads only add their hand-offs (a 500-row window against
# 1M prepared rows: about 25 ms on two threads, 17 ms on one; bench/RESULTS.md). Larger sets,
# and a first evaluation that sorts the reference, work on arrays big enough for numpy to
# release the GIL, and the pool pays.
INLINE_ROWS = 20_000


def _workers(warm: bool, rows: int) -> int:
    if warm and rows < INLINE_ROWS:
        return 1
    return min(4, os.cpu_count() or 1)


class _Inline:
    """The executor interface on the calling thread (one worker: no thread at all)."""

    def __enter__(self) -> _Inline:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def submit(self, fn: Callable[..., _T], /, *args: Any) -> Future[_T]:
        done: Future[_T] = Future()
        try:
            done.set_result(fn(*args))
        except BaseException as err:  # raised by .result(), as a pool's future would
            done.set_exception(err)
        return done

    def map(self, fn: Callable[[_A], _T], items: Iterable[_A]) -> Iterator[_T]:
        return map(fn, items)


@cache
def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version  # 50 ms: once, when needed

    try:
        return version("vigil-monitor")
    except PackageNotFoundError:
        return "unknown"


def _read_reference(source: Any) -> _Reference:
    if isinstance(source, DatasetProfile):
        return _Reference(None, source, source.source, _profile_schema(source))
    if isinstance(source, (str, Path)) and Path(source).is_file() and is_profile_file(source):
        profile = load_profile(source)
        return _Reference(None, profile, str(source), _profile_schema(profile))
    data = read_dataset(source)
    return _Reference(data, None, data.source, data.table.schema)


def _profile_schema(profile: DatasetProfile) -> pa.Schema | None:
    """The column types of the data a profile was built from; None when it does not say."""
    if not profile.schema:
        return None
    try:
        return paipc.read_schema(pa.py_buffer(profile.schema))
    except (pa.ArrowInvalid, OSError):
        raise InputError(
            f"profile {profile.source!r} holds a damaged schema; rebuild it with "
            f"`vigil profile DATA -o FILE`."
        ) from None


def read_current(source: Any) -> Dataset:
    """The current set; a profile is refused with what to pass instead."""
    if isinstance(source, (str, Path)) and Path(source).is_file() and is_profile_file(source):
        raise InputError(
            f"{source!r} is a profile; the current set must be data (a file or a "
            f"frame). Profiles are for the reference."
        )
    return read_dataset(source)


def _default_spec(ref: _Reference, notes: list[str], roles: dict[str, Any]) -> Spec:
    if ref.profile is not None:
        if any(roles.values()):
            # Re-roling a profile's columns would change nothing it measured (drift is
            # measured alike for every role) and cannot bring back what it did not keep: the
            # reference's performance needs its labelled rows.
            raise profile_roles_refused(ref.source)
        return spec_from_dict(ref.profile.spec, source=f"the spec inside {ref.source}")
    assert ref.table is not None
    spec = spec_of_table(ref.table, **roles)
    skipped = [n for n in ref.table.column_names if n not in spec.names]
    if skipped:
        notes.append(f"Columns of types vigil cannot judge were left out: {', '.join(skipped)}.")
    notes.append(
        "No spec was given: it was inferred from the reference (rules in docs/spec.md); "
        "write it out with `vigil init` to review and pin it."
    )
    return spec


def profile_roles_refused(source: str) -> SpecError:
    """The error for role options given with a profile as the reference."""
    return SpecError(
        f"{source} is a profile and carries its own spec; drop the role options (target, "
        "scores, ...). A profile built without a target keeps no performance baseline, and "
        "roles given now cannot recover it: rebuild the profile with the roles "
        "(`vigil profile DATA --target ... -o FILE`)."
    )


def _conformed(ref: _Reference, spec: Spec) -> _Reference:
    """The reference's rows conformed to the spec (`conform_reference`: the one check every
    path makes), or a profile checked to hold the spec's columns."""
    if ref.data is not None:
        data = conform_reference(ref.data, spec)
        return _Reference(data, None, ref.source, ref.data.table.schema)
    have = ref.column_names
    absent = [n for n in spec.names if n not in have]
    if absent:
        raise SpecError(
            f"the spec names {', '.join(map(repr, absent))}, which the reference "
            f"{ref.source} does not have; its columns are {', '.join(have)}. Rebuild the "
            f"profile with this spec (`vigil profile DATA --spec SPEC -o FILE`)."
        )
    if ref.rows == 0:
        raise NotEnoughData(f"the reference {ref.source} has no rows; rebuild it from data.")
    return ref


def _profile_notes(profile: DatasetProfile, spec: Spec) -> list[str]:
    """The notes a profile carries, and where the spec asks for what the profile lacks."""
    notes = list(profile.notes)
    if spec.drift.n_bins != profile.bins:
        notes.append(
            f"The spec asks for {spec.drift.n_bins} histogram bins (drift.bins) but the "
            f"reference profile was built with {profile.bins}: PSI, Jensen-Shannon and the "
            f"other histogram measures use the profile's bins. Rebuild the profile with this "
            f"spec to change them."
        )
    return notes


def _profile_exactness(spec: Spec, drift: DriftResult) -> str:
    """What a report against a profile computes exactly, and what it cannot."""
    approximate = sorted({m for c in drift.columns.values() for m in c.approximate})
    lacking = ["duplicate rows have no reference share to compare with"]
    if any(c.kind in NUMERIC_KINDS for c in spec.columns):
        lacking.append(
            "a numeric, datetime or text column that turns constant is flagged without its "
            "chance test (it needs the reference's values)"
        )
    if any(c.bounds is not None for c in spec.columns):
        lacking.append("shares outside the spec's bounds are judged without the reference's share")
    if any(c.kind == "text" for c in spec.columns):
        lacking.append("text columns' vocabulary (unseen words) is not checked")
    return (
        "The reference is a saved profile: "
        + (
            f"{', '.join(approximate)} are approximations from its histograms (bounds in "
            "docs/profile-format.md); "
            if approximate
            else ""
        )
        + "without its rows, "
        + "; ".join(lacking)
        + ". Every other measure is the one the raw reference gives"
        + (
            " (the p-values are corrected together with the approximate ones)."
            if approximate
            else "."
        )
    )


def _family(t: pa.DataType) -> str:
    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "number"
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return "string"
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        return "datetime"
    return str(t)


def _schema(spec: Spec, ref: _Reference, current: pa.Table) -> SchemaChange:
    present = set(current.column_names)
    known = set(spec.names) | set(ref.column_names)
    changes = []
    if ref.schema is not None:  # the types as read, not as conformed to the spec
        read = set(ref.schema.names)
        known |= read
        for name in spec.names:
            if name in present and name in read:
                r, c = ref.schema.field(name).type, current.schema.field(name).type
                if _family(r) != _family(c) and not pa.types.is_null(c):
                    changes.append(TypeChange(name, str(r), str(c)))
    return SchemaChange(
        missing_columns=tuple(n for n in spec.names if n not in present),
        new_columns=tuple(
            n for n in current.column_names if n not in known and not is_attribution_column(n, spec)
        ),
        type_changes=tuple(changes),
    )


def _with_mismatches(sample: NumericSample, mismatches: int) -> NumericSample:
    """A sample with the cells its file's reader could not read as numbers counted in."""
    if not mismatches:
        return sample
    return NumericSample(
        sample.values,
        sample.rows,
        sample.missing,
        sample.infinite,
        sample.type_mismatches + mismatches,
    )


def _column(
    col: ColumnSpec,
    ref: _Reference,
    cur: Dataset,
    spec: Spec,
) -> tuple[ColumnDrift | None, ColumnQuality]:
    """Drift measurement (None for roles whose drift is not measured) and quality of a column."""
    current = cur.table.column(col.name)
    mismatches = cur.type_mismatches.get(col.name, 0)
    measured = col.role in DRIFT_ROLES
    try:
        if col.kind in NUMERIC_KINDS:
            ref_side: NumericSample | NumericProfile
            if ref.profile is not None:
                ref_side = _profile_column(ref, col, NumericProfile)
            else:
                assert ref.data is not None
                data = ref.data
                ref_side = ref.once(
                    ("numeric", col.name, col.kind),
                    lambda: _with_mismatches(
                        numeric_sample(data.table.column(col.name), col.kind),
                        data.type_mismatches.get(col.name, 0),
                    ),
                )
            cur_side = _with_mismatches(numeric_sample(current, col.kind), mismatches)
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
            unreadable = ref.profile.type_mismatches.get(col.name, 0) if ref.profile else 0
            quality = numeric_quality(col, ref_side, cur_side, reference_mismatches=unreadable)
            ref_text = ref.table
            if col.kind == "text" and ref_text is not None:
                ref_tokens = ref.once(
                    ("tokens", col.name), lambda: token_profile(ref_text.column(col.name))
                )
                quality = with_vocabulary(quality, ref_tokens, token_profile(current))
            return drift, quality
        if col.kind in CATEGORY_KINDS:
            if ref.profile is not None:
                ref_counts = _profile_column(ref, col, CategoricalProfile)
            else:
                table = ref.table
                assert table is not None
                ref_counts = ref.once(
                    ("categories", col.name), lambda: category_profile(table.column(col.name))
                )
            if col.kind == "boolean":  # read as the reference was: true/false, 1/0
                booleans, unreadable = boolean_column(current)
                mismatches += unreadable
                current = (
                    booleans
                    if booleans is not None
                    else pa.chunked_array([pa.nulls(len(current), pa.bool_())])
                )
            cur_counts = category_profile(current)
            drift = measure_categorical(col, ref_counts, cur_counts) if measured else None
            return drift, categorical_quality(
                col, ref_counts, cur_counts, type_mismatches=mismatches
            )
        reason = f"kind {col.kind!r} is not measured"
    except (ValueError, pa.ArrowException) as err:
        reason = f"could not be evaluated: {err}"
    return (unevaluated(col, reason) if measured else None), unchecked(col, reason)


def _profile_column(ref: _Reference, col: ColumnSpec, expected: type[Any]) -> Any:
    assert ref.profile is not None
    profile = ref.profile.columns[col.name]
    if not isinstance(profile, expected):
        raise ValueError(
            f"the reference profile holds {col.name!r} as "
            f"{type(profile).__name__}, but the spec says it is {col.kind}; "
            f"rebuild the profile with this spec"
        )
    return profile


def _duplicates(
    ref: _Reference, current: pa.Table, names: list[str]
) -> tuple[int, float, float, tuple[float, float] | None]:
    """Duplicate rows of the current set over the spec's columns both sets have: the count,
    the share, the reference's share at the same size, and (increase, p-value) of the test —
    the reference is hashed only when the current set has duplicates at all."""
    if has_unique_column(current, names):  # rows differing in one column are never equal
        return 0, 0.0, 0.0, None
    hashes = row_hashes(current, names)
    count = duplicate_count(hashes)
    share = count / current.num_rows if current.num_rows else 0.0
    table = ref.table
    if count == 0 or table is None:
        return count, share, 0.0, None
    ref_hashes = ref.once(("hashes", tuple(names)), lambda: row_hashes(table, names))
    ref_share, test = duplicate_rows_test(ref_hashes, hashes)
    return count, share, ref_share, (test.statistic, test.p_value)


def _labels(spec: Spec, current: pa.Table, ref: _Reference) -> tuple[str, ...]:
    """The classes of the task in either set (none for regression)."""
    if spec.task in (None, "regression"):
        return ()
    table = ref.table
    if table is None:
        return class_labels(spec, current)
    known = ref.once(("classes",), lambda: reference_classes(spec, table))
    return class_labels(spec, current, known=known)


def _check_reference_classes(spec: Spec, ref: _Reference, labels: tuple[str, ...]) -> None:
    """`check_score_classes` on the reference, its outcome kept when it is prepared."""
    table = ref.table
    assert table is not None

    def outcome() -> SpecError | None:
        try:
            check_score_classes(spec, table, labels, f"the reference {ref.source}")
        except SpecError as err:
            return err
        return None

    refused = ref.once(("score_classes", labels), outcome)
    if refused is not None:
        raise refused


def _attribution(spec: Spec, ref: _Reference, cur: Dataset) -> AttributionResult | None:
    """Attribution drift when both sets carry some feature's attributions; None otherwise."""
    table = ref.table
    current_columns = attribution_columns(cur.table, spec)
    if table is None or not current_columns:
        return None
    ref_columns = ref.once(("attribution_columns",), lambda: attribution_columns(table, spec))
    shared = {f: c for f, c in ref_columns.items() if f in current_columns}
    if not shared:
        return None
    kept = ref.once(
        ("attributions", tuple(shared.items())),
        lambda: reference_attributions(table, shared, f"the reference {ref.source}"),
    )
    if kept is None:
        return None
    values = attribution_matrix(
        cur.table, [current_columns[f] for f in kept.features], f"the current set {cur.source}"
    )
    if values.shape[0] < 2:
        return None
    rows, k = band_rows(values.shape[0]), min(spec.attribution.k, len(kept.features))
    band = ref.once(("attribution_band", kept.features, rows, k), lambda: null_band(kept, rows, k))
    return measure_attribution(kept, values, band, k=k)


def _set_performance(spec: Spec, table: pa.Table, labels: tuple[str, ...]) -> SetPerformance | None:
    rows = labelled_rows(spec, table, labels)
    return set_performance(spec, rows, labels) if rows is not None else None


def _performance(
    spec: Spec, ref: _Reference, current: pa.Table, labels: tuple[str, ...]
) -> PerformanceResult | None:
    target = spec.single("target")
    if target is None or spec.task is None:
        return None
    reference_perf: SetPerformance | None = None
    table = ref.table
    if table is not None:
        reference_perf = ref.once(
            ("performance", labels), lambda: _set_performance(spec, table, labels)
        )
    elif ref.profile is not None and ref.profile.performance:
        reference_perf = stored_performance(ref.profile.performance)
    current_perf = _set_performance(spec, current, labels)
    return performance_result(spec, reference_perf, current_perf, current.num_rows)


def performance_result(
    spec: Spec,
    reference: SetPerformance | None,
    current: SetPerformance | None,
    current_rows: int,
) -> PerformanceResult:
    """The two sets' performance side by side with its changes (a current set without a
    labelled row has none); the spec has a target and a task."""
    target, task = spec.single("target"), spec.task
    assert target is not None and task is not None
    if current is not None and current.rows == 0:
        current = None
    changes = (
        compare(task, reference, current) if reference is not None and current is not None else {}
    )
    return PerformanceResult(
        task=task,
        target=target.name,
        reference=reference,
        current=current,
        current_rows=current_rows,
        changes=changes,
    )


def stored_performance(stored: dict[str, float]) -> SetPerformance:
    """A reference's performance as a profile keeps it (`performance_to_store`)."""
    metrics: dict[str, float | None] = {}
    errors: dict[str, float] = {}
    rows = 0
    for key, value in stored.items():
        if key == "rows":
            rows = int(value)
        elif key.startswith("se."):
            errors[key[len("se.") :]] = float(value)
        else:
            metrics[key] = value
    return SetPerformance(rows, metrics, {}, None, errors)


def performance_to_store(perf: SetPerformance) -> dict[str, float]:
    """A set's performance as a profile keeps it: metrics, labelled rows, standard errors."""
    out = {k: v for k, v in perf.metrics.items() if v is not None}
    out["rows"] = float(perf.rows)
    out.update({f"se.{k}": v for k, v in perf.standard_errors.items()})
    return out


def profile_dataset(
    data: Any, spec: Spec | str | Path | None = None, *, on_progress: Progress | None = None
) -> DatasetProfile:
    """Summarise a reference set into a profile that can stand in for it as `reference`.

    The data is conformed to the spec as every reference is (`conform_reference`). Numeric
    columns get the spec's `drift.bins` histogram bins, fine bins, quantiles, a sketch and
    their outlier count (docs/profile-format.md); the reference's performance is kept so
    later reports still compare against it. A profile without a target keeps no performance
    baseline, and says so in its notes (a report against it repeats them).
    """
    raw = read_current(data)
    notes: list[str] = []
    if isinstance(spec, (str, Path)):
        spec = load_spec(spec)
    if spec is None:
        spec = spec_of_table(raw.table)
        notes.append(NO_ROLES_NOTE)
    if spec.single("target") is None:
        notes.append(NO_TARGET_NOTE)
    dataset = conform_reference(raw, spec)
    table = dataset.table
    columns: dict[str, NumericProfile | CategoricalProfile] = {}
    chosen = [c for c in spec.columns if c.kind in NUMERIC_KINDS | CATEGORY_KINDS]

    def job(col: ColumnSpec) -> tuple[str, NumericProfile | CategoricalProfile]:
        column = table.column(col.name)
        if col.kind in NUMERIC_KINDS:
            s = numeric_sample(column, col.kind)
            return col.name, reference_numeric_profile(
                s.values, missing=s.missing, infinite=s.infinite, n_bins=spec.drift.n_bins
            )
        return col.name, category_profile(column)

    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        for i, (name, prof) in enumerate(pool.map(job, chosen), start=1):
            columns[name] = prof
            if on_progress is not None:
                on_progress(i, len(chosen))
    performance: dict[str, float] = {}
    own = _set_performance(spec, table, _labels(spec, table, _Reference(None, None, "")))
    if own is not None:
        performance = performance_to_store(own)
    return DatasetProfile(
        rows=table.num_rows,
        columns=columns,
        spec=spec.to_dict(),
        performance=performance,
        source=dataset.source,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        bins=spec.drift.n_bins,
        schema=raw.table.schema.remove_metadata().serialize().to_pybytes(),
        type_mismatches={n: k for n, k in dataset.type_mismatches.items() if n in spec.names},
        notes=tuple(notes),
    )
