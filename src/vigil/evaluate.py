"""`evaluate(reference, current, spec)`: the one computation path of vigil.

The CLI report, the CI gate and (later) the service's windows all call this function, so they
can never disagree. It reads both sets column by column, converts and sorts each column once,
measures drift and quality from that, computes performance where labels exist, and turns the
findings into checks.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import pyarrow as pa

from vigil.drift import Measurement, decide, measure_categorical, measure_numeric, unevaluated
from vigil.errors import InputError, NotEnoughData, SpecError
from vigil.io import Dataset, read_dataset
from vigil.performance import (
    PerformanceResult,
    SetPerformance,
    class_labels,
    labelled_rows,
    set_performance,
)
from vigil.profile import (
    CategoricalProfile,
    DatasetProfile,
    NumericProfile,
    is_profile_file,
    load_profile,
    reference_numeric_profile,
)
from vigil.quality import (
    ColumnQuality,
    QualityResult,
    SchemaChange,
    TypeChange,
    categorical_quality,
    duplicate_ids,
    duplicate_rows,
    numeric_quality,
    unchecked,
    with_vocabulary,
)
from vigil.report.checks import build_checks
from vigil.report.model import Report, SetSummary
from vigil.sample import NumericSample, category_profile, numeric_sample, token_profile
from vigil.spec import CATEGORY_KINDS, NUMERIC_KINDS, ColumnSpec, Spec, infer_spec, load_spec

Progress = Callable[[int, int], None]  # (columns done, columns in all)


@dataclass(frozen=True, slots=True)
class _Reference:
    """The reference as raw rows or as a saved profile."""

    table: pa.Table | None
    profile: DatasetProfile | None
    source: str

    @property
    def rows(self) -> int:
        if self.profile is not None:
            return self.profile.rows
        assert self.table is not None
        return int(self.table.num_rows)

    @property
    def column_names(self) -> list[str]:
        if self.profile is not None:
            return list(self.profile.columns)
        assert self.table is not None
        return list(self.table.column_names)


def evaluate(
    reference: Any,
    current: Any,
    spec: Spec | str | Path | None = None,
    *,
    on_progress: Progress | None = None,
    workers: int | None = None,
) -> Report:
    """Compare a current set with a reference: drift, data quality, performance and checks.

    `reference` and `current` are file paths (Parquet, CSV, JSON Lines, Arrow IPC; a glob or
    a folder), pandas or polars DataFrames, or Arrow tables; `reference` may also be a profile
    saved by `vigil profile`. Without a spec one is inferred from the reference (docs/spec.md).
    """
    ref = _read_reference(reference)
    cur = read_current(current)
    if isinstance(spec, (str, Path)):
        spec = load_spec(spec)
    notes: list[str] = []
    if spec is None:
        spec = _default_spec(ref, notes)
    _check_spec_columns(spec, ref)
    if ref.rows == 0:
        raise NotEnoughData(
            f"the reference {ref.source} has no rows; point --reference at the "
            f"data the model was trained or validated on."
        )
    if cur.table.num_rows == 0:
        raise NotEnoughData(
            f"the current set {cur.source} has no rows; nothing to compare. "
            f"Check the file or the window you exported."
        )

    present = set(cur.table.column_names)
    schema = _schema(spec, ref, cur.table)
    columns = [c for c in spec.columns if c.name in present]
    missing = [c for c in spec.columns if c.name not in present]

    total = len(columns)
    done = 0
    results: dict[str, tuple[Measurement | None, ColumnQuality]] = {}

    def job(col: ColumnSpec) -> tuple[str, Measurement | None, ColumnQuality]:
        return (col.name, *_column(col, ref, cur, spec))

    n_workers = workers or min(4, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=n_workers) as pool:
        duplicates = pool.submit(duplicate_rows, cur.table)
        performance_job = pool.submit(_performance, spec, ref, cur.table)
        for name, measured, checked in pool.map(job, columns):
            results[name] = (measured, checked)
            done += 1
            if on_progress is not None:
                on_progress(done, total)

    reason = "absent from the current set"
    measurements = [
        results[c.name][0] if c.name in results else unevaluated(c, reason)
        for c in spec.drift_columns
    ]
    drift = decide([m for m in measurements if m is not None], spec.drift)  # None: not measured
    quality_columns = {c.name: results[c.name][1] for c in columns}
    quality_columns.update({c.name: unchecked(c, reason) for c in missing})
    id_col = spec.single("id")
    quality = QualityResult(
        columns=quality_columns,
        schema=schema,
        reference_rows=ref.rows,
        current_rows=cur.table.num_rows,
        duplicate_rows=(dups := duplicates.result()),
        duplicate_row_share=dups / cur.table.num_rows,
        duplicate_ids=(
            duplicate_ids(cur.table.column(id_col.name))
            if id_col is not None and id_col.name in present
            else None
        ),
    )
    performance = performance_job.result()
    if ref.profile is not None:
        notes.append(
            "The reference is a saved profile: KS (and its p-value) and Wasserstein "
            "are approximations from its histograms (bounds in docs/profile-format.md); "
            "every other measure is exact."
        )
    return Report(
        reference=SetSummary(ref.rows, ref.source, ref.profile is not None),
        current=SetSummary(cur.table.num_rows, cur.source, False),
        drift=drift,
        quality=quality,
        performance=performance,
        checks=build_checks(spec, drift, quality, performance),
        notes=tuple(notes),
        spec=spec.to_dict(),
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        vigil_version=_version(),
    )


def _version() -> str:
    try:
        return version("vigil-monitor")
    except PackageNotFoundError:
        return "unknown"


def _read_reference(source: Any) -> _Reference:
    if isinstance(source, DatasetProfile):
        return _Reference(None, source, source.source)
    if isinstance(source, (str, Path)) and Path(source).is_file() and is_profile_file(source):
        return _Reference(None, load_profile(source), str(source))
    data = read_dataset(source)
    return _Reference(data.table, None, data.source)


def read_current(source: Any) -> Dataset:
    """The current set; a profile is refused with what to pass instead."""
    if isinstance(source, (str, Path)) and Path(source).is_file() and is_profile_file(source):
        raise InputError(
            f"{source!r} is a profile; the current set must be data (a file or a "
            f"frame). Profiles are for the reference."
        )
    return read_dataset(source)


def _default_spec(ref: _Reference, notes: list[str]) -> Spec:
    if ref.profile is not None:
        from vigil.spec import spec_from_dict

        return spec_from_dict(ref.profile.spec, source=f"the spec inside {ref.source}")
    assert ref.table is not None
    spec = infer_spec(ref.table)
    skipped = [n for n in ref.table.column_names if n not in spec.names]
    if skipped:
        notes.append(f"Columns of types vigil cannot judge were left out: {', '.join(skipped)}.")
    notes.append(
        "No spec was given: it was inferred from the reference (rules in docs/spec.md); "
        "write it out with `vigil init` to review and pin it."
    )
    return spec


def _check_spec_columns(spec: Spec, ref: _Reference) -> None:
    have = ref.column_names
    absent = [n for n in spec.names if n not in have]
    if absent:
        raise SpecError(
            f"the spec names {', '.join(map(repr, absent))}, which the reference "
            f"{ref.source} does not have; its columns are {', '.join(have)}."
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
    if ref.table is not None:
        for name in spec.names:
            if name in present:
                r, c = ref.table.schema.field(name).type, current.schema.field(name).type
                if _family(r) != _family(c) and not pa.types.is_null(c):
                    changes.append(TypeChange(name, str(r), str(c)))
    return SchemaChange(
        missing_columns=tuple(n for n in spec.names if n not in present),
        new_columns=tuple(n for n in current.column_names if n not in known),
        type_changes=tuple(changes),
    )


def _column(
    col: ColumnSpec,
    ref: _Reference,
    cur: Dataset,
    spec: Spec,
) -> tuple[Measurement | None, ColumnQuality]:
    """Drift measurement (None for roles whose drift is not measured) and quality of a column."""
    measured_roles = ("feature", "prediction", "score", "target")
    current = cur.table.column(col.name)
    mismatches = cur.type_mismatches.get(col.name, 0)
    try:
        if col.kind in NUMERIC_KINDS:
            ref_side: NumericSample | NumericProfile
            if ref.profile is not None:
                ref_side = _profile_column(ref, col, NumericProfile)
            else:
                assert ref.table is not None
                ref_side = numeric_sample(ref.table.column(col.name), col.kind)
            cur_side = numeric_sample(current, col.kind)
            if mismatches:
                cur_side = NumericSample(
                    cur_side.values,
                    cur_side.rows,
                    cur_side.missing,
                    cur_side.infinite,
                    cur_side.type_mismatches + mismatches,
                )
            measured = (
                measure_numeric(
                    col, ref_side, cur_side, n_bins=spec.drift.n_bins, extras=_extras(col, spec)
                )
                if col.role in measured_roles
                else None
            )
            quality = numeric_quality(col, ref_side, cur_side)
            if col.kind == "text" and ref.table is not None:
                quality = with_vocabulary(
                    quality, token_profile(ref.table.column(col.name)), token_profile(current)
                )
            return measured, quality
        if col.kind in CATEGORY_KINDS:
            if ref.profile is not None:
                ref_counts = _profile_column(ref, col, CategoricalProfile)
            else:
                assert ref.table is not None
                ref_counts = category_profile(ref.table.column(col.name))
            cur_counts = category_profile(current)
            measured = (
                measure_categorical(col, ref_counts, cur_counts)
                if col.role in measured_roles
                else None
            )
            return measured, categorical_quality(
                col, ref_counts, cur_counts, type_mismatches=mismatches
            )
        reason = f"kind {col.kind!r} is not measured"
    except (ValueError, pa.ArrowException) as err:
        reason = f"could not be evaluated: {err}"
    measured = unevaluated(col, reason) if col.role in measured_roles else None
    return measured, unchecked(col, reason)


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


def _extras(col: ColumnSpec, spec: Spec) -> Sequence[str]:
    names = list(spec.drift.extra_metrics)
    if col.effective_method in ("anderson", "cvm", "energy") and col.effective_method not in names:
        names.append(col.effective_method)
    return names


def _labels(spec: Spec, *tables: pa.Table) -> tuple[str, ...]:
    return class_labels(spec, *tables) if spec.task not in (None, "regression") else ()


def _set_performance(spec: Spec, table: pa.Table, labels: tuple[str, ...]) -> SetPerformance | None:
    rows = labelled_rows(spec, table, labels)
    return set_performance(spec, rows, labels) if rows is not None else None


def _performance(spec: Spec, ref: _Reference, current: pa.Table) -> PerformanceResult | None:
    target = spec.single("target")
    if target is None or spec.task is None:
        return None
    labels = _labels(spec, current, *([ref.table] if ref.table is not None else []))
    reference_perf: SetPerformance | None = None
    if ref.table is not None:
        reference_perf = _set_performance(spec, ref.table, labels)
    elif ref.profile is not None and ref.profile.performance:
        stored = dict(ref.profile.performance)
        n = int(stored.pop("rows", 0))
        reference_perf = SetPerformance(n, dict(stored), {}, None)
    current_perf = _set_performance(spec, current, labels)
    if reference_perf is None and current_perf is None:
        return None
    return PerformanceResult(
        task=spec.task, target=target.name, reference=reference_perf, current=current_perf
    )


def profile_dataset(
    data: Any, spec: Spec | str | Path | None = None, *, on_progress: Progress | None = None
) -> DatasetProfile:
    """Summarise a reference set into a profile that can stand in for it as `reference`.

    Columns whose drift is measured get a full profile (docs/profile-format.md); the
    reference's performance metrics are kept so later reports still compare against them.
    """
    dataset = read_current(data)
    table = dataset.table
    if isinstance(spec, (str, Path)):
        spec = load_spec(spec)
    if spec is None:
        spec = infer_spec(table)
    ref = _Reference(table, None, dataset.source)
    _check_spec_columns(spec, ref)
    if table.num_rows == 0:
        raise NotEnoughData(f"{dataset.source} has no rows; a profile needs data.")
    columns: dict[str, NumericProfile | CategoricalProfile] = {}
    chosen = [c for c in spec.columns if c.kind in NUMERIC_KINDS | CATEGORY_KINDS]

    def job(col: ColumnSpec) -> tuple[str, NumericProfile | CategoricalProfile]:
        column = table.column(col.name)
        if col.kind in NUMERIC_KINDS:
            s = numeric_sample(column, col.kind)
            if s.values.size == 0:
                raise NotEnoughData(
                    f"column {col.name!r} of {dataset.source} has no finite "
                    f"value, so it cannot be a reference; drop it from the spec."
                )
            return col.name, reference_numeric_profile(
                s.values, missing=s.missing, infinite=s.infinite
            )
        return col.name, category_profile(column)

    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        for i, (name, prof) in enumerate(pool.map(job, chosen), start=1):
            columns[name] = prof
            if on_progress is not None:
                on_progress(i, len(chosen))
    performance: dict[str, float] = {}
    own = _set_performance(spec, table, _labels(spec, table))
    if own is not None:
        performance = {k: v for k, v in own.metrics.items() if v is not None}
        performance["rows"] = float(own.rows)
    return DatasetProfile(
        rows=table.num_rows,
        columns=columns,
        spec=spec.to_dict(),
        performance=performance,
        source=dataset.source,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
