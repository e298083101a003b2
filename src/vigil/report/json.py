"""The JSON report: a documented, versioned schema (docs/report-schema.md).

Strict JSON: NaN and infinities become null, so any JSON parser reads it. orjson writes the
report's dataclasses as they are (fields in order, tuples as lists, numpy scalars as numbers,
NaN as null) without copying them into dicts first: the service writes one report per window
it computes, so this is on its hot path (bench/RESULTS.md). `report_to_dict` reads that JSON
back, so the dict and the text never disagree.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

from vigil.measure.drift import ColumnDrift, Distribution, DriftResult
from vigil.measure.multivariate import (
    AnomalyShare,
    DomainClassifier,
    MultivariateResult,
    ReconstructionError,
)
from vigil.measure.performance import (
    BOUNDED_BY_ONE,
    ConfusionMatrix,
    MetricChange,
    PerformanceResult,
    SetPerformance,
)
from vigil.measure.quality import ColumnQuality, QualityResult, SchemaChange, TypeChange
from vigil.report.model import Report, SetSummary
from vigil.verdict import Check

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
    if report.multivariate is not None:  # an optional key: absent when not measured
        document["multivariate"] = _multivariate_document(report.multivariate)
    return document


def _multivariate_document(m: MultivariateResult) -> dict[str, Any]:
    r = m.reconstruction
    return {
        "columns": m.columns,
        "reference_rows": m.reference_rows,
        "current_rows": m.current_rows,
        "reconstruction": {
            **{f.name: getattr(r, f.name) for f in dataclasses.fields(r)},
            "relative_increase": r.relative_increase,
            "standard_errors_above": r.standard_errors,
        },
        "anomaly": m.anomaly,
        "domain": None
        if m.domain is None
        else {
            **{f.name: getattr(m.domain, f.name) for f in dataclasses.fields(m.domain)},
            "top_features": [{"column": c, "share": v} for c, v in m.domain.top_features],
        },
        "notes": m.notes,
    }


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


# -- reading ---------------------------------------------------------------------------------


def read_report(text: str | bytes) -> Report:
    """The Report a JSON document of schema version 2 holds (what the service stores per
    window), so the HTML page can be rendered from it.

    What the JSON leaves out is left out here too, and no renderer reads it: each set's own
    standard errors (`SetPerformance.standard_errors`, empty here); a metric change's
    `bounded` is the metric's (`BOUNDED_BY_ONE`). A float field JSON wrote as null (NaN,
    infinity) reads back as NaN. A ValueError says what is not a report.
    """
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError as err:
        raise ValueError(f"the report is not JSON: {err}") from None
    version = doc.get("vigil_report_version") if isinstance(doc, dict) else None
    if version != REPORT_SCHEMA_VERSION:
        raise ValueError(
            f"the report has schema version {version!r}; this vigil reads version "
            f"{REPORT_SCHEMA_VERSION}. Compute the window again (vigil backfill) to store it anew."
        )
    try:
        return _report(doc)
    except (KeyError, TypeError, AttributeError) as err:
        raise ValueError(
            f"the report lacks or misshapes {err!s}; it was not written by vigil."
        ) from None


def _report(doc: dict[str, Any]) -> Report:
    drift = doc["drift"]
    perf = doc["performance"]
    return Report(
        reference=_summary(doc["reference"]),
        current=_summary(doc["current"]),
        drift=DriftResult(
            {name: _column_drift(name, c) for name, c in drift["columns"].items()},
            drift["alpha"],
            drift["correction"],
        ),
        quality=_quality(doc["quality"]),
        performance=None if perf is None else _performance(perf),
        checks=tuple(Check(**c) for c in doc["checks"]),
        notes=tuple(doc["notes"]),
        spec=doc["spec"],
        created=doc["created"],
        vigil_version=doc["vigil_version"],
        multivariate=_multivariate(doc["multivariate"]) if "multivariate" in doc else None,
    )


def _nan(value: float | None) -> float:
    return math.nan if value is None else value


def _multivariate(m: dict[str, Any]) -> MultivariateResult:
    r, a, d = m["reconstruction"], m["anomaly"], m["domain"]
    return MultivariateResult(
        columns=tuple(m["columns"]),
        reference_rows=m["reference_rows"],
        current_rows=m["current_rows"],
        reconstruction=ReconstructionError(
            value=_nan(r["value"]),
            reference=_nan(r["reference"]),
            lower=_nan(r["lower"]),
            upper=_nan(r["upper"]),
            standard_error=_nan(r["standard_error"]),
            components=r["components"],
            explained_variance=_nan(r["explained_variance"]),
            sampling_error=_nan(r.get("sampling_error")),
            skewness=_nan(r.get("skewness", 0.0)),
        ),
        anomaly=AnomalyShare(
            value=_nan(a["value"]),
            rows=a["rows"],
            threshold=_nan(a["threshold"]),
            reference=_nan(a["reference"]),
            p_value=_nan(a["p_value"]),
        ),
        domain=None
        if d is None
        else DomainClassifier(
            auc=_nan(d["auc"]),
            standard_error=_nan(d["standard_error"]),
            p_value=_nan(d["p_value"]),
            reference_rows=d["reference_rows"],
            current_rows=d["current_rows"],
            top_features=tuple((t["column"], t["share"]) for t in d["top_features"]),
        ),
        notes=tuple(m["notes"]),
    )


def _summary(d: dict[str, Any]) -> SetSummary:
    return SetSummary(d["rows"], d["source"], d["is_profile"])


def _flat(kind: type, name: str, entry: dict[str, Any], **given: Any) -> Any:
    """A column dataclass from its JSON entry: lists become tuples, a null float NaN."""
    values: dict[str, Any] = {}
    for f in dataclasses.fields(kind):
        if f.name == "column":
            values[f.name] = name
        elif f.name in given:
            values[f.name] = given[f.name]
        else:
            value = entry[f.name]
            if isinstance(value, list):
                value = tuple(value)
            elif value is None and f.type == "float":
                value = math.nan
            values[f.name] = value
    return kind(**values)


def _column_drift(name: str, entry: dict[str, Any]) -> ColumnDrift:
    d = entry["distribution"]
    distribution = None
    if d is not None:
        distribution = Distribution(
            tuple(d["labels"]),
            tuple(math.nan if v is None else v for v in d["reference"]),
            tuple(math.nan if v is None else v for v in d["current"]),
            None if d["edges"] is None else tuple(d["edges"]),
        )
    column: ColumnDrift = _flat(ColumnDrift, name, entry, distribution=distribution)
    return column


def _quality(q: dict[str, Any]) -> QualityResult:
    schema = q["schema"]
    return QualityResult(
        {name: _flat(ColumnQuality, name, c) for name, c in q["columns"].items()},
        SchemaChange(
            tuple(schema["missing_columns"]),
            tuple(schema["new_columns"]),
            tuple(TypeChange(**t) for t in schema["type_changes"]),
        ),
        q["rows"]["reference"],
        q["rows"]["current"],
        q["duplicate_rows"],
        q["duplicate_row_share"],
        q["duplicate_ids"],
        q["reference_duplicate_row_share"],
        q["duplicate_row_increase"],
        q["duplicate_rows_p_value"],
        q["duplicate_rows_p_value_adjusted"],
    )


def _performance(p: dict[str, Any]) -> PerformanceResult:
    matrices = p["confusion_matrix"]

    def side(which: str) -> SetPerformance | None:
        if p[which] is None:
            return None
        matrix = matrices[which]
        confusion = None
        if matrix is not None:
            rows = tuple(tuple(row) for row in matrix)
            confusion = ConfusionMatrix(tuple(matrices["labels"]), rows)
        return SetPerformance(p["rows"][which], p[which], p["errors"][which], confusion)

    changes = {
        name: MetricChange(
            name,
            math.nan if c["reference"] is None else c["reference"],
            math.nan if c["current"] is None else c["current"],
            c["standard_error"],
            c["higher_is_better"],
            name in BOUNDED_BY_ONE,
        )
        for name, c in p["changes"].items()
    }
    return PerformanceResult(
        p["task"], p["target"], side("reference"), side("current"), p["current_rows"], changes
    )
