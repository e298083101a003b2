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

from vigil.measure.attribution import AttributionResult, FeatureAttribution
from vigil.measure.detections import Detection, DetectionResult, StreamDetections
from vigil.measure.drift import ColumnDrift, Distribution, DriftResult
from vigil.measure.estimation import Estimate, EstimatedConfusion, EstimationResult
from vigil.measure.fairness import (
    AttributeFairness,
    FairnessMeasure,
    FairnessResult,
    GroupRates,
)
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
        "estimated": _estimated(report.estimated),
        "checks": report.checks,
        "notes": list(report.notes),
        "spec": report.spec,
    }
    if report.attribution is not None:  # an optional key: reports without attributions as before
        document["attribution"] = _attribution(report)
    if report.fairness is not None:  # an optional key: reports without it keep their shape
        document["fairness"] = _fairness_document(report.fairness)
    if report.multivariate is not None:  # an optional key: absent when not measured
        document["multivariate"] = _multivariate_document(report.multivariate)
    if report.detections is not None:  # an optional key: absent when no detector ran
        document["detections"] = _detections_document(report.detections)
    return document


def _detections_document(d: DetectionResult) -> dict[str, Any]:
    return {
        "order": d.order,
        "timestamp_column": d.timestamp_column,
        "unordered": d.unordered,
        "streams": [
            {
                **{f.name: getattr(s, f.name) for f in dataclasses.fields(s)},
                "params": dict(s.params),
            }
            for s in d.streams
        ],
        "skipped": [{"stream": stream, "reason": why} for stream, why in d.skipped],
    }


def _read_detections(d: dict[str, Any]) -> DetectionResult:
    return DetectionResult(
        order=d["order"],
        timestamp_column=d["timestamp_column"],
        streams=tuple(
            StreamDetections(
                stream=s["stream"],
                detector=s["detector"],
                params=dict(s["params"]),
                library=s["library"],
                records=s["records"],
                detections=tuple(Detection(**x) for x in s["detections"]),
                reference_mean=s["reference_mean"],
                reference_sigma=s["reference_sigma"],
            )
            for s in d["streams"]
        ),
        skipped=tuple((x["stream"], x["reason"]) for x in d["skipped"]),
        unordered=d["unordered"],
    )


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


def _attribution(report: Report) -> dict[str, Any]:
    a = report.attribution
    assert a is not None
    ndcg = report.check("attribution.ndcg")
    weighted = report.spec.get("attribution", {}).get("importance_weighted", False)
    return {
        "status": ndcg.status if ndcg is not None else "ok",
        "ndcg": a.ndcg,
        "k": a.k,
        "band": {"mean": a.band_mean, "sd": a.band_sd, "rows": a.band_rows},
        "rows": {"reference": a.reference_rows, "current": a.current_rows},
        "importance_weighted_drift_share": bool(weighted),
        "features": {
            name: {
                field.name: getattr(f, field.name)
                for field in dataclasses.fields(FeatureAttribution)
                if field.name != "feature"
            }
            for name, f in a.features.items()
        },
    }


_GROUP_COUNTS = tuple(f.name for f in dataclasses.fields(GroupRates) if f.name != "group")
_MEASURE_FIELDS = tuple(f.name for f in dataclasses.fields(FairnessMeasure) if f.name != "name")


def _fairness_document(f: FairnessResult) -> dict[str, Any]:
    """Each attribute's groups (counts and rates) and measures, keyed by name."""
    return {
        "positive_class": f.positive_class,
        "min_group_size": f.min_group_size,
        "labelled_rows": f.labelled_rows,
        "reason": f.reason,
        "attributes": {
            a.column: {
                "missing": a.missing,
                "groups": {
                    g.group: {
                        **{name: getattr(g, name) for name in _GROUP_COUNTS},
                        "selection_rate": g.selection_rate,
                        "tpr": g.tpr,
                        "fpr": g.fpr,
                    }
                    for g in a.groups
                },
                "measures": {
                    name: {field: getattr(m, field) for field in _MEASURE_FIELDS}
                    for name, m in a.measures.items()
                },
            }
            for a in f.attributes
        },
    }


def _estimated(e: EstimationResult | None) -> dict[str, Any] | None:
    """Performance estimated before labels (docs/report-schema.md, `estimated`)."""
    if e is None:
        return None
    return {
        "method": e.method,
        "rows": e.rows,
        "calibrated": e.calibrated,
        "estimates": {
            name: {
                "value": found.value,
                "standard_error": found.standard_error,
                "realized": found.realized,
                "reference": None if found.change is None else found.change.reference,
                "change_standard_error": (
                    None if found.change is None else found.change.standard_error
                ),
                "relative_worsening": None if found.change is None else found.change.relative,
                "standard_errors_worse": None if found.change is None else found.change.z,
                "higher_is_better": None if found.change is None else found.change.higher_is_better,
                "bounded": None if found.change is None else found.change.bounded,
            }
            for name, found in e.estimates.items()
        },
        "confusion_matrix": (
            None
            if e.confusion is None
            else {"labels": list(e.confusion.labels), "matrix": e.confusion.matrix}
        ),
        "errors": e.errors,
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
        attribution=_read_attribution(doc.get("attribution")),
        fairness=_fairness(doc["fairness"]) if doc.get("fairness") is not None else None,
        estimated=_read_estimated(doc.get("estimated")),
        multivariate=_multivariate(doc["multivariate"]) if "multivariate" in doc else None,
        detections=_read_detections(doc["detections"]) if "detections" in doc else None,
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


def _read_attribution(a: dict[str, Any] | None) -> AttributionResult | None:
    if a is None:
        return None
    return AttributionResult(
        features={
            name: _flat(FeatureAttribution, name, f, feature=name)
            for name, f in a["features"].items()
        },
        ndcg=a["ndcg"],
        k=a["k"],
        band_mean=a["band"]["mean"],
        band_sd=a["band"]["sd"],
        band_rows=a["band"]["rows"],
        reference_rows=a["rows"]["reference"],
        current_rows=a["rows"]["current"],
    )


def _fairness(f: dict[str, Any]) -> FairnessResult:
    attributes = tuple(
        AttributeFairness(
            column,
            tuple(
                GroupRates(group, *(g[name] for name in _GROUP_COUNTS))
                for group, g in a["groups"].items()
            ),
            {
                name: FairnessMeasure(name, **{k: m[k] for k in _MEASURE_FIELDS})
                for name, m in a["measures"].items()
            },
            a["missing"],
        )
        for column, a in f["attributes"].items()
    )
    return FairnessResult(
        f["positive_class"], f["min_group_size"], f["labelled_rows"], attributes, f["reason"]
    )


def _read_estimated(e: dict[str, Any] | None) -> EstimationResult | None:
    if e is None:
        return None
    estimates = {}
    for name, found in e["estimates"].items():
        change = None
        if found["reference"] is not None:
            change = MetricChange(
                name,
                found["reference"],
                math.nan if found["value"] is None else found["value"],
                found["change_standard_error"],
                found.get("higher_is_better", True) is not False,
                found.get("bounded", True) is not False,
            )
        value = math.nan if found["value"] is None else found["value"]
        estimates[name] = Estimate(name, value, found["standard_error"], change, found["realized"])
    matrix = e["confusion_matrix"]
    confusion = None
    if matrix is not None:
        confusion = EstimatedConfusion(
            tuple(matrix["labels"]), tuple(tuple(row) for row in matrix["matrix"])
        )
    return EstimationResult(
        e["method"], estimates, e["rows"], e["calibrated"], confusion, dict(e["errors"])
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
