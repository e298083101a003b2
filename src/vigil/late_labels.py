"""`evaluate_labels(previous, reference, current)`: a report brought up to date with late labels.

Labels arrive after the predictions they belong to, so a window of the service is judged first
without them and again each time a batch of them comes in. Labels change the target column
only, but through it more than performance: the label coverage, the target's drift and
quality, the duplicate-row check (the target is one of the columns a row is hashed on) and —
because a report's p-values are adjusted as one family (`vigil.measure.significance`) — every
adjusted p-value, so every verdict. The feature columns' own measurements do not change: they
are in the previous report, unadjusted beside adjusted. So this re-measures the target, the
duplicates, the performance and the fairness measures, takes every other column's
unadjusted measurement from the previous report, and redoes the family and the verdict. The
result is the report `evaluate` gives on the same data (tests/test_late_labels.py holds it to
that, field by field), at the cost of the target column rather than of every column.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from vigil.evaluation import (
    MULTIVARIATE_NOTE,
    PreparedReference,
    _check_reference_classes,
    _column,
    _duplicates,
    _labels,
    _performance,
    _profile_exactness,
    _profile_notes,
    _schema,
    _version,
    read_current,
)
from vigil.measure.cbpe import with_realized
from vigil.measure.detections import detect_changes
from vigil.measure.drift import ColumnDrift, unevaluated
from vigil.measure.estimation import estimate
from vigil.measure.fairness import measure_fairness
from vigil.measure.quality import ColumnQuality, QualityResult, unchecked
from vigil.measure.significance import adjust_together
from vigil.report.model import Report, SetSummary
from vigil.verdict import judge

ABSENT = "absent from the current set"  # as `evaluate` says it


def evaluate_labels(previous: Report, reference: PreparedReference, current: Any) -> Report:
    """The report `evaluate(reference, current, reference.spec)` gives, from `previous`.

    `previous` is a report `evaluate` gave against the same prepared reference for the same
    rows, with other labels (fewer, more, or changed): only the target column of `current`
    may differ from the set `previous` judged. Whether it does is not checked beyond its
    shape (spec, row counts, columns present); a window whose rows changed is evaluated
    whole. Raises ValueError when `previous` does not fit, and what `evaluate` raises for the
    labels (e.g. a class the reference's scores do not know).
    """
    spec = reference.spec
    ref = reference.reference
    cur = read_current(current)
    table = cur.table
    present = set(table.column_names)
    target = spec.single("target")
    target_name = None if target is None else target.name
    missing = [c.name for c in spec.columns if c.name not in present]
    if (
        previous.spec != spec.to_dict()
        or previous.current.rows != table.num_rows
        or previous.reference.rows != ref.rows
        or [n for n in previous.quality.schema.missing_columns if n != target_name]
        != [n for n in missing if n != target_name]
    ):
        raise ValueError(
            "the previous report is not one of these rows against this reference and spec "
            f"({previous.current.rows} rows then, {table.num_rows} now); evaluate the set whole."
        )
    labels = _labels(spec, table, ref)
    if ref.table is not None and spec.task == "multiclass":
        _check_reference_classes(spec, ref, labels)

    target_drift: ColumnDrift | None = None
    target_quality: ColumnQuality | None = None
    if target is not None:
        if target.name in present:
            target_drift, target_quality = _column(target, ref, cur, spec)
        else:
            target_drift, target_quality = unevaluated(target, ABSENT), unchecked(target, ABSENT)

    drift_columns = [
        target_drift
        if c.name == target_name and target_drift is not None
        # adjust_together replaces the adjusted p-value; the raw one is the column's own
        else previous.drift.columns[c.name]
        for c in spec.drift_columns
    ]
    quality_columns = {
        c.name: (
            target_quality
            if c.name == target_name and target_quality is not None
            else previous.quality.columns[c.name]
        )
        for c in [
            *(c for c in spec.columns if c.name in present),
            *(c for c in spec.columns if c.name not in present),
        ]
    }
    before = previous.quality
    if target is not None:  # the target is one of the columns a row is hashed on
        hashed = [
            c.name
            for c in spec.columns
            if c.name in present and (ref.profile is not None or c.name in ref.column_names)
        ]
        n_dups, share, ref_share, test = _duplicates(ref, table, hashed)
        increase = share - ref_share if test is None else test[0]
        p_value = None if test is None else test[1]
    else:
        n_dups, share = before.duplicate_rows, before.duplicate_row_share
        ref_share, increase = before.reference_duplicate_row_share, before.duplicate_row_increase
        p_value = before.duplicate_rows_p_value
    drift, quality = adjust_together(
        drift_columns,
        QualityResult(
            columns=quality_columns,
            schema=_schema(spec, ref, table),
            reference_rows=ref.rows,
            current_rows=table.num_rows,
            duplicate_rows=n_dups,
            duplicate_row_share=share,
            duplicate_ids=before.duplicate_ids,  # ids are not labels
            reference_duplicate_row_share=ref_share,
            duplicate_row_increase=increase,
            duplicate_rows_p_value=p_value,
        ),
        spec.drift,
    )
    performance = _performance(spec, ref, table, labels)
    # fairness is measured again whole: its label-free part is a few group counts of the
    # window, cheaper to redo than to carry, and a new class among the labels can move the
    # positive class it reads
    fairness = measure_fairness(spec, table, labels)
    estimated = previous.estimated
    if (
        estimated is not None
        and estimated.method == "cbpe"
        and estimated.confusion is not None
        and estimated.confusion.labels == labels
    ):  # the estimate reads no label: carried, its realized values refreshed
        estimated = with_realized(estimated, spec, table, labels)
    else:
        estimated = estimate(spec, ref.table, table, ref.once)
    notes: list[str] = []
    if ref.profile is not None:
        notes += _profile_notes(ref.profile, spec)
        notes.append(_profile_exactness(spec, drift))
    # the multivariate measures read features only (never the target): carried as they were
    notes += [n for n in previous.notes if n.startswith(MULTIVARIATE_NOTE)]
    return Report(
        reference=SetSummary(ref.rows, ref.source, ref.profile is not None),
        current=SetSummary(table.num_rows, cur.source, False),
        drift=drift,
        quality=quality,
        performance=performance,
        checks=judge(
            spec,
            drift,
            quality,
            performance,
            attribution=previous.attribution,
            fairness=fairness,
            estimated=estimated,
            multivariate=previous.multivariate,
        ),
        notes=tuple(notes),
        spec=previous.spec,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        vigil_version=_version(),
        attribution=previous.attribution,  # attributions are not labels: carried
        fairness=fairness,
        estimated=estimated,
        multivariate=previous.multivariate,
        # run again whole: the error stream reads the labels, and the others cost one pass
        detections=detect_changes(ref.table, table, spec, once=ref.once, profile=ref.profile),
    )
