"""The JSON report: a documented, versioned schema (docs/report-schema.md).

Strict JSON: NaN and infinities become null, so any JSON parser reads it. orjson writes the
report's dataclasses as they are (fields in order, tuples as lists, numpy scalars as numbers,
NaN as null) without copying them into dicts first: the service writes one report per window
it computes, so this is on its hot path (bench/RESULTS.md). `report_to_dict` reads that JSON
back, so the dict and the text never disagree.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

from vigil.report.model import Report

REPORT_SCHEMA_VERSION = 2

_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
_FIELDS: dict[type, tuple[str, ...]] = {}  # a column dataclass's fields but `column`, per type


def _by_column(columns: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Each column's fields, keyed by name (so without its own `column` field); the values
    are left for orjson to write."""
    out = {}
    for name, value in columns.items():
        kind = type(value)
        names = _FIELDS.get(kind)
        if names is None:
            names = tuple(f.name for f in dataclasses.fields(kind) if f.name != "column")
            _FIELDS[kind] = names
        out[name] = {field: getattr(value, field) for field in names}
    return out


def _document(report: Report) -> dict[str, Any]:
    """The report in schema version 2, its parts still dataclasses where orjson writes them."""
    d = report.drift
    q = report.quality
    drift_status: dict[str | None, str] = {}  # `Report.drift_status`, for every column at once
    for check in report.checks:
        if check.name == "drift":
            drift_status.setdefault(check.column, check.status)
    drift_columns = _by_column(d.columns)
    for name, entry in drift_columns.items():
        entry["status"] = drift_status.get(name)  # None: not evaluated
        entry["drifted"] = entry["status"] in ("warning", "critical")
    quality_columns = _by_column(q.columns)
    dataset = report.check("dataset_drift")
    performance = None
    p = report.performance
    if p is not None:
        performance = {
            "task": p.task,
            "target": p.target,
            "label_coverage": p.label_coverage,
            "current_rows": p.current_rows,
            "changes": {
                name: {
                    "reference": c.reference,
                    "current": c.current,
                    "standard_error": c.standard_error,
                    "relative_worsening": c.relative,
                    "standard_errors_worse": c.z,
                    "higher_is_better": c.higher_is_better,
                }
                for name, c in p.changes.items()
            },
            "reference": p.reference.metrics if p.reference else None,
            "current": p.current.metrics if p.current else None,
            "rows": {
                "reference": p.reference.rows if p.reference else None,
                "current": p.current.rows if p.current else None,
            },
            "errors": {
                "reference": p.reference.errors if p.reference else {},
                "current": p.current.errors if p.current else {},
            },
            "confusion_matrix": {
                "labels": _labels(p),
                "reference": _matrix(p.reference.confusion if p.reference else None),
                "current": _matrix(p.current.confusion if p.current else None),
            },
        }
    document = {
        "vigil_report_version": REPORT_SCHEMA_VERSION,
        "vigil_version": report.vigil_version,
        "created": report.created,
        "status": report.status,
        "reference": report.reference,
        "current": report.current,
        "drift": {
            "share_drifted": dataset.value if dataset is not None else 0.0,
            "status": dataset.status if dataset is not None else "ok",
            "dataset_drifted": dataset is not None and dataset.status in ("warning", "critical"),
            "n_features": report.evaluated_features,
            "n_drifted": len(report.drifted_features),
            "alpha": d.alpha,
            "correction": d.correction,
            "columns": drift_columns,
        },
        "quality": {
            "rows": {"reference": q.reference_rows, "current": q.current_rows},
            "duplicate_rows": q.duplicate_rows,
            "duplicate_row_share": q.duplicate_row_share,
            "reference_duplicate_row_share": q.reference_duplicate_row_share,
            "duplicate_row_increase": q.duplicate_row_increase,
            "duplicate_rows_p_value": q.duplicate_rows_p_value,
            "duplicate_rows_p_value_adjusted": q.duplicate_rows_p_value_adjusted,
            "duplicate_ids": q.duplicate_ids,
            "schema": q.schema,
            "columns": quality_columns,
        },
        "performance": performance,
        "checks": report.checks,
        "notes": list(report.notes),
        "spec": report.spec,
    }
    return document


def report_to_dict(report: Report) -> dict[str, Any]:
    """The report as plain JSON-ready data in schema version 2."""
    document: dict[str, Any] = orjson.loads(report_to_json(report, indent=False))
    return document


def _labels(p: Any) -> list[str] | None:
    for side in (p.current, p.reference):
        if side is not None and side.confusion is not None:
            return list(side.confusion.labels)
    return None


def _matrix(confusion: Any) -> list[list[int]] | None:
    return None if confusion is None else [list(row) for row in confusion.matrix]


def report_to_json(report: Report, *, indent: bool = True) -> str:
    """The report as a JSON document (strict: no NaN); compact without `indent`."""
    option = orjson.OPT_INDENT_2 if indent else 0
    return orjson.dumps(_document(report), option=_OPTIONS | option).decode()


def write_json(report: Report, path: str | Path) -> None:
    """Write the JSON report to `path`."""
    Path(path).write_text(report_to_json(report) + "\n", encoding="utf-8")
