"""The tests of one report, corrected together for testing many hypotheses at once.

A report tests every drift-checked column and every quality check of every column. Each
test's p-value is small by chance now and then; with a hundred tests at 5% about five would
fire on data that did not change. All of them are adjusted as one family with
Benjamini–Hochberg (`drift.correction`), which on unchanged data keeps the chance of any
finding at all at `alpha` — so the verdict layer can read "adjusted p < alpha" as "beyond
sampling noise" for drift and quality alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from vigil.measure.drift import ColumnDrift, DriftResult
from vigil.measure.quality import QualityResult
from vigil.spec import DriftOptions
from vigil.stats import adjust_p_values


def adjust_together(
    drift: Sequence[ColumnDrift], quality: QualityResult, options: DriftOptions
) -> tuple[DriftResult, QualityResult]:
    """The drift columns and the quality result with every p-value adjusted as one family."""
    tested = [c for c in drift if c.error is None and c.p_value is not None]
    raw: list[float] = [c.p_value for c in tested]  # type: ignore[misc]
    checks = [(name, check) for name, q in quality.columns.items() for check in q.p_values]
    raw += [quality.columns[name].p_values[check] for name, check in checks]
    if quality.duplicate_rows_p_value is not None:
        raw.append(quality.duplicate_rows_p_value)
    adjusted = iter(adjust_p_values(raw, options.correction))
    drift_p = {c.column: next(adjusted) for c in tested}
    by_column: dict[str, dict[str, float]] = {name: {} for name in quality.columns}
    for name, check in checks:
        by_column[name][check] = next(adjusted)
    duplicates = next(adjusted) if quality.duplicate_rows_p_value is not None else None
    drift_result = DriftResult(
        columns={c.column: replace(c, p_value_adjusted=drift_p.get(c.column)) for c in drift},
        alpha=options.alpha,
        correction=options.correction,
    )
    quality_result = replace(
        quality,
        columns={
            name: replace(q, p_values_adjusted=by_column[name])
            for name, q in quality.columns.items()
        },
        duplicate_rows_p_value_adjusted=duplicates,
    )
    return drift_result, quality_result
