"""The driver's side: Spark jobs that return summaries, merged and judged by `evaluate_summary`.

A reference DataFrame takes two passes (`ReferenceSketch`, whose quantiles give the bin
edges, then a `Summary` on those edges) and becomes a `DatasetProfile`, whole and per segment;
a saved profile is used as it is. The current DataFrame takes one pass, grouped by window
and segment. Only the summaries travel to the driver: a few kilobytes per column, per group
and per partition (per group alone when windows are asked for: Spark merges them by key
first).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union, cast

import pyarrow as pa

from vigil.errors import NotEnoughData, SpecError, VigilError
from vigil.profile import DatasetProfile, is_profile_file, load_profile
from vigil.report.model import Report
from vigil.spark.partitions import (
    ERRORS,
    OTHER,
    SCHEMA,
    SPARK_SCHEMA,
    WHOLE,
    Accumulator,
    Key,
    Layout,
    Plan,
    merge,
    summarise,
)
from vigil.spark.session import quiet_pandas_warning, spark_errors
from vigil.spec import Spec, load_spec, spec_from_dict
from vigil.summaries import ReferenceSketch, Summary, evaluate_summary, reference_profile
from vigil.units import parse_duration

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

ReferenceInput = Union["DataFrame", DatasetProfile, str, Path]
TOP_SEGMENTS = 10  # segment values judged on their own; the rest is `other`, as the service does
DATAFRAME = "<Spark DataFrame>"
MERGE_ON_DRIVER = 8  # partitions whose summaries the driver merges; past it, the executors


@dataclass(frozen=True, slots=True)
class WindowReport:
    """One window's report, whole (`segment` "") or of one segment ("shop=a", "shop=other").

    `report` is None when the group could not be judged, and `reason` says why (too few
    rows, no reference rows in that segment).
    """

    start: datetime
    end: datetime
    segment: str
    rows: int
    report: Report | None
    reason: str | None = None

    @property
    def status(self) -> str:
        """The report's status, or `pending` when it could not be judged."""
        return "pending" if self.report is None else self.report.status


@dataclass(slots=True)
class _Reference:
    whole: DatasetProfile
    source: str
    segments: dict[tuple[str, str], DatasetProfile] = field(default_factory=dict)
    refused: dict[tuple[str, str], str] = field(default_factory=dict)  # why a segment has none
    tops: dict[str, tuple[str, ...]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    per_segment: bool = True  # False: a saved profile, which judges every segment whole


def evaluate(
    reference: ReferenceInput,
    current: DataFrame,
    spec: Spec | str | Path | None = None,
    *,
    sources: tuple[str, str] = (DATAFRAME, DATAFRAME),
) -> Report:
    """Compare a current Spark DataFrame with a reference, summarised on the executors.

    `reference` is a Spark DataFrame, a `DatasetProfile` or a profile file saved by `vigil
    profile`; `spec` a `Spec` or a YAML path (needed unless the reference is a profile, which
    carries its own). `sources` names the two sets in the report. The report is the one
    `vigil.summaries.evaluate_summary` gives for the same rows; its notes say what is exact,
    what approximate, and that it ran on Spark.
    """
    spec = _spec(reference, spec)
    ref = _reference(reference, spec, sources[0], segments=(), current=current)
    found, _ = _current_summaries(current, Plan("summary", spec, {(WHOLE, WHOLE): ref.whole}))
    summary = found.get((None, WHOLE, WHOLE))
    if summary is None or summary[1] == 0:
        raise NotEnoughData(
            f"the current set {sources[1]} has no rows; nothing to compare. Check the files "
            f"or the filter that made the DataFrame."
        )
    report = evaluate_summary(
        ref.whole, summary[0], spec, source=sources[1], reference_is_profile=not ref.per_segment
    )
    return _with_notes(report, [*ref.notes, _spark_note(current)])


def profile(
    reference: DataFrame, spec: Spec | str | Path, *, source: str = DATAFRAME
) -> DatasetProfile:
    """The reference profile of a Spark DataFrame, built in two passes on the executors
    (its bin edges from the merged quantile sketches, then every count on those edges):
    save it with `vigil.profile.save_profile` and pass it as the reference later."""
    spec = _spec(reference, spec)
    return _reference(reference, spec, source, segments=(), current=reference).whole


def evaluate_windows(
    reference: ReferenceInput,
    current: DataFrame,
    spec: Spec | str | Path | None = None,
    *,
    every: str | timedelta,
    segments: bool = True,
    top_segments: int = TOP_SEGMENTS,
    sources: tuple[str, str] = (DATAFRAME, DATAFRAME),
) -> list[WindowReport]:
    """Every window's report (and each segment's, when the spec names segments and
    `segments` is true) from ONE pass over the current DataFrame.

    Windows are `every` long (`"1d"`, `"6h"`, a `timedelta`), aligned on the epoch in UTC,
    read from the spec's timestamp column. Segments follow the service: the `top_segments`
    most frequent values of each segment column (of the reference; of the current set when
    the reference is a profile) are judged on their own, every other value and a missing
    one together as `other`. A reference DataFrame gives each segment its own reference
    (its rows of that segment); a saved profile has none, so segments are judged against
    the whole profile. Sorted by window start, the whole window first.
    """
    spec = _spec(reference, spec)
    every_us = _micros(every)
    timestamp = spec.single("timestamp")
    if timestamp is None:
        raise SpecError(
            "windows need a timestamp column; give one `role: timestamp` in the spec (or "
            "--timestamp with `vigil init`)."
        )
    columns = tuple(c.name for c in spec.with_role("segment")) if segments else ()
    if top_segments < 1:
        raise ValueError(f"top_segments must be at least 1; got {top_segments}.")
    ref = _reference(
        reference, spec, sources[0], segments=columns, current=current, top=top_segments
    )
    layouts: dict[tuple[str, str], Layout] = {(WHOLE, WHOLE): ref.whole, **ref.segments}
    plan = Plan(
        "summary", spec, layouts, every_us=every_us, timestamp=timestamp.name, tops=ref.tops
    )
    found, untimed = _current_summaries(current, plan)
    if not any(rows for _, rows in found.values()):
        raise NotEnoughData(
            f"the current set {sources[1]} has no rows with a timestamp; nothing to compare."
        )
    notes = [*ref.notes, _spark_note(current)]
    if untimed:
        notes.append(f"{untimed} current rows have no {timestamp.name!r} and are in no window.")
    results = []
    for (window, segment, value), (summary, rows) in sorted(
        found.items(), key=lambda kv: (kv[0][0] or 0, kv[0][1] != WHOLE, kv[0][1], kv[0][2])
    ):
        assert window is not None
        start = datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(microseconds=window)
        label = "" if segment == WHOLE else f"{segment}={value}"
        reference_of = (
            ref.whole
            if segment == WHOLE or not ref.per_segment
            else ref.segments.get((segment, value))
        )
        if reference_of is None:
            reason = ref.refused.get(
                (segment, value), f"the reference has no rows in the segment {label}"
            )
            results.append(
                WindowReport(
                    start, start + timedelta(microseconds=every_us), label, rows, None, reason
                )
            )
            continue
        try:
            report = evaluate_summary(
                reference_of,
                summary,
                spec,
                source=sources[1],
                reference_is_profile=not ref.per_segment,
            )
        except VigilError as err:  # too few rows, a column without values
            results.append(
                WindowReport(
                    start, start + timedelta(microseconds=every_us), label, rows, None, str(err)
                )
            )
            continue
        results.append(
            WindowReport(
                start,
                start + timedelta(microseconds=every_us),
                label,
                rows,
                _with_notes(report, notes),
            )
        )
    return results


def _spec(reference: ReferenceInput, spec: Spec | str | Path | None) -> Spec:
    if isinstance(spec, (str, Path)):
        return load_spec(spec)
    if spec is not None:
        return spec
    profile = _profile_of(reference)
    if profile is None:
        raise SpecError(
            "the Spark engine needs a spec (a YAML file from `vigil init`, or a `Spec`) when "
            "the reference is a DataFrame: it does not infer one from rows on the driver. "
            "Run `vigil init --reference SAMPLE` on a sample and pass the spec."
        )
    return spec_from_dict(profile.spec, source=f"the spec inside {profile.source}")


def _profile_of(reference: ReferenceInput) -> DatasetProfile | None:
    if isinstance(reference, DatasetProfile):
        return reference
    if isinstance(reference, (str, Path)):
        if not (Path(reference).is_file() and is_profile_file(reference)):
            raise SpecError(
                f"{reference} is not a profile saved by `vigil profile`; pass a Spark "
                f"DataFrame (`vigil.spark.read_files`) or a profile file."
            )
        return load_profile(reference)
    return None


def _reference(
    reference: ReferenceInput,
    spec: Spec,
    source: str,
    *,
    segments: Sequence[str],
    current: DataFrame,
    top: int = TOP_SEGMENTS,
) -> _Reference:
    profile = _profile_of(reference)
    if profile is not None:
        absent = [n for n in spec.names if n not in profile.columns]
        if absent:
            raise SpecError(
                f"the spec names {', '.join(map(repr, absent))}, which the reference profile "
                f"{profile.source} does not hold; rebuild it with this spec."
            )
        ref = _Reference(profile, profile.source, per_segment=False)
        ref.tops = _top_values(current, segments, top)
        if ref.tops:
            ref.notes.append(
                "The reference is a saved profile, which keeps no rows per segment: each "
                "segment is judged against the whole reference."
            )
        return ref
    df = cast("DataFrame", reference)
    _check_columns(df, spec, "reference", source)
    tops = _top_values(df, segments, top)
    sketch_plan = Plan("sketch", spec, tops=tops)
    sketches, _ = _run(df, sketch_plan)
    whole = sketches.get((None, WHOLE, WHOLE))
    if whole is None or whole[1] == 0:
        raise NotEnoughData(f"the reference {source} has no rows; give a reference with rows.")
    assert isinstance(whole[0], ReferenceSketch)
    layouts: dict[tuple[str, str], Layout] = {(WHOLE, WHOLE): whole[0].layout()}
    refused: dict[tuple[str, str], str] = {}
    for (_, segment, value), (sketch, _rows) in sketches.items():
        assert isinstance(sketch, ReferenceSketch)
        if segment == WHOLE:
            continue
        try:  # a segment whose rows leave a column without a value has no reference
            layouts[(segment, value)] = sketch.layout()
        except VigilError as err:
            refused[(segment, value)] = _segment_refusal(segment, value, err)
    summaries, _ = _run(df, Plan("summary", spec, layouts, tops=tops))
    ref = _Reference(
        whole=_profile(sketches, summaries, (WHOLE, WHOLE), spec, source),
        source=source,
        tops=tops,
        refused=refused,
    )
    for key in layouts:
        if key == (WHOLE, WHOLE):
            continue
        try:
            ref.segments[key] = _profile(
                sketches, summaries, key, spec, f"{source} ({key[0]}={key[1]})"
            )
        except VigilError as err:
            ref.refused[key] = _segment_refusal(*key, err)
    return ref


def _segment_refusal(segment: str, value: str, err: VigilError) -> str:
    return f"not judged: the reference rows of {segment}={value} cannot be a reference ({err})"


def _profile(
    sketches: Mapping[Key, tuple[Accumulator, int]],
    summaries: Mapping[Key, tuple[Accumulator, int]],
    key: tuple[str, str],
    spec: Spec,
    source: str,
) -> DatasetProfile:
    sketch, summary = sketches[(None, *key)][0], summaries[(None, *key)][0]
    assert isinstance(sketch, ReferenceSketch) and isinstance(summary, Summary)
    return reference_profile(sketch, summary, spec, source=source)


def _current_summaries(
    current: DataFrame, plan: Plan
) -> tuple[dict[Key, tuple[Summary, int]], int]:
    _check_columns(current, plan.spec, "current", DATAFRAME, required=False)
    found, untimed = _run(current, plan)
    out: dict[Key, tuple[Summary, int]] = {}
    for key, (acc, rows) in found.items():
        assert isinstance(acc, Summary)
        out[key] = (acc, rows)
    return out, untimed


def _run(df: DataFrame, plan: Plan) -> tuple[dict[Key, tuple[Accumulator, int]], int]:
    """One Spark job: each partition summarised per group key, the small rows merged by key.

    With windows, or more than `MERGE_ON_DRIVER` partitions, Spark shuffles the rows by key
    and merges each key's summaries on the executors, so the driver receives one summary
    per key; else the driver merges the partitions' few summaries itself.
    """
    stage = plan.stage
    with spark_errors("counting partitions"):
        shuffle = plan.every_us is not None or df.rdd.getNumPartitions() > MERGE_ON_DRIVER

    def per_partition(batches: Any) -> Any:
        return summarise(batches, plan)

    def per_key(batches: Any) -> Any:
        return merge(batches, stage)

    with spark_errors(f"summarising the rows ({stage})"), quiet_pandas_warning():
        out = df.mapInArrow(per_partition, SPARK_SCHEMA)
        if shuffle:
            out = out.repartition("window", "segment", "value").mapInArrow(per_key, SPARK_SCHEMA)
        collected = out.collect()
    table = pa.Table.from_pylist(
        [{**row.asDict(), "summary": _bytes(row["summary"])} for row in collected], schema=SCHEMA
    )
    merged = next(merge(table.to_batches(), stage)) if table.num_rows else None
    if merged is None:
        return {}, 0
    kind: type[Accumulator] = ReferenceSketch if stage == "sketch" else Summary
    found: dict[Key, tuple[Accumulator, int]] = {}
    untimed = 0
    for row in merged.to_pylist():
        if row["error"] is not None:
            name, _, message = row["error"].partition(": ")
            raise ERRORS.get(name, VigilError)(message)
        if row["summary"] is None:
            untimed += row["untimed"] or 0
            continue
        found[(row["window"], row["segment"], row["value"])] = (
            kind.from_bytes(row["summary"]),
            row["rows"],
        )
    return found, untimed


def _bytes(value: Any) -> bytes | None:
    return None if value is None else bytes(value)


def _check_columns(
    df: DataFrame, spec: Spec, which: str, source: str, *, required: bool = True
) -> None:
    """A reference must hold every spec column (as `conform_reference` asks); a current set
    lacking one is judged without it, as `evaluate` judges it (a schema change)."""
    have = set(df.columns)
    absent = [n for n in spec.names if n not in have]
    if absent and required:
        raise SpecError(
            f"the spec names {', '.join(map(repr, absent))}, which the {which} set {source} "
            f"does not have; its columns are {', '.join(df.columns)}. Fix the spec or the data."
        )
    if len(have) != len(df.columns):
        twice = sorted({n for n in df.columns if df.columns.count(n) > 1})
        raise SpecError(
            f"the {which} set {source} has the column {twice[0]!r} more than once; give every "
            f"column its own name."
        )


def _top_values(df: DataFrame, columns: Sequence[str], top: int) -> dict[str, tuple[str, ...]]:
    """Each segment column's `top` most frequent values (as category strings), counted by
    Spark: only the counts reach the driver."""
    from pyspark.sql import functions as F

    from vigil.spec.values import category_strings

    tops: dict[str, tuple[str, ...]] = {}
    for column in columns:
        if column not in df.columns:
            continue
        with spark_errors(f"counting the values of {column!r}"):
            counted = (
                df.groupBy(column)
                .count()
                .where(F.col(column).isNotNull())
                .orderBy(F.desc("count"))
                .limit(top * 4 + 8)  # floats 1.0 and 1 are one category: room to fold them
                .collect()
            )
        values = pa.chunked_array([pa.array([row[0] for row in counted])])
        counts: dict[str, int] = {}
        for name, row in zip(category_strings(values).to_pylist(), counted, strict=True):
            if name is not None:
                counts[name] = counts.get(name, 0) + int(row["count"])
        ranked = sorted(counts.items(), key=lambda nc: (-nc[1], nc[0]))
        tops[column] = tuple(name for name, _ in ranked[:top] if name != OTHER)
    return tops


def _micros(every: str | timedelta) -> int:
    seconds = (
        every.total_seconds()
        if isinstance(every, timedelta)
        else parse_duration(every, "the window length (--window)")
    )
    micros = round(seconds * 1_000_000)
    if micros <= 0:
        raise SpecError(f"the window length must be positive; got {every!r}.")
    return micros


def _spark_note(current: DataFrame) -> str:
    session = current.sparkSession
    try:
        master = session.conf.get("spark.master")
    except Exception:  # Spark Connect hides it
        master = "unknown"
    with spark_errors("counting partitions"):
        partitions = current.rdd.getNumPartitions()
    return (
        f"Computed on Spark (master {master}, {partitions} partitions of the current set): "
        "each partition's rows were summarised where they lie and only the summaries were "
        "merged on the driver."
    )


def _with_notes(report: Report, notes: list[str]) -> Report:
    return replace(report, notes=(*report.notes, *(n for n in notes if n not in report.notes)))
