"""Specs as YAML files: read (validated, with the keys at fault named), build, write.

The file's shape is checked by the pydantic models of `vigil.spec.schema`, imported only when
a spec is read (pydantic costs a noticeable share of a short run's start-up). Every default is
the dataclass default in `vigil.spec.model`: a key the file leaves out takes it from there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from vigil.errors import SpecError
from vigil.spec.model import (
    MULTIVARIATE_LEVELS,
    QUALITY_CHECKS,
    SPEC_VERSION,
    AttributionOptions,
    ColumnSpec,
    DriftOptions,
    EstimationOptions,
    FairnessOptions,
    MultivariateOptions,
    PerformanceOptions,
    QualityOptions,
    Spec,
    StreamOptions,
)
from vigil.spec.types import Kind, Role, Task, Threshold


def _given(model: Any) -> dict[str, Any]:
    """The keys a section of the file sets (null included), with their values."""
    return {name: getattr(model, name) for name in model.model_fields_set}


def _threshold(value: Any, where: str, direction: str = "above") -> Threshold:
    warning, critical = value
    try:
        return Threshold(float(warning), float(critical), direction)  # type: ignore[arg-type]
    except ValueError as err:
        raise SpecError(f"{where} is [warning, critical]: {err}") from None


def spec_from_dict(data: Mapping[str, Any], *, source: str = "spec") -> Spec:
    """Build a Spec from plain data in the YAML shape (docs/spec.md)."""
    from vigil.spec.schema import DriftOverride, SpecFile, parse

    parsed: SpecFile = parse(data, source)
    version = parsed.version if parsed.version is not None else SPEC_VERSION
    if version != SPEC_VERSION:
        raise SpecError(
            f"{source}: spec version {version} is not supported; this vigil reads version "
            f"{SPEC_VERSION}."
        )
    columns = []
    for name, c in parsed.columns.items():
        kind: Kind = c.kind or default_kind(c.role, parsed.task)
        o = c.drift or DriftOverride()
        columns.append(
            ColumnSpec(
                name=name,
                role=c.role,
                kind=kind,
                method=o.method,
                threshold=o.threshold,
                critical=o.critical,
                bounds=c.bounds,
                score_class=None if c.class_ is None else str(c.class_),
                protected=bool(c.protected),
            )
        )

    drift = _given(parsed.drift)
    if "bins" in drift:
        drift["n_bins"] = drift.pop("bins")
    if "extra_metrics" in drift:
        drift["extra_metrics"] = tuple(drift["extra_metrics"] or ())
    if drift.get("correction", "") is None:
        del drift["correction"]
    share = drift.get("dataset_share")
    if share is None:
        drift.pop("dataset_share", None)
    elif isinstance(share, (int, float)):  # one number: the critical level, warning at half
        drift["dataset_share"] = _threshold((share / 2, share), f"{source}: drift.dataset_share")
    else:
        drift["dataset_share"] = _threshold(share, f"{source}: drift.dataset_share")

    quality = _given(parsed.quality)
    for key in QUALITY_CHECKS:
        if key in quality:
            if quality[key] is None:
                del quality[key]
            else:
                quality[key] = _threshold(quality[key], f"{source}: quality.{key}")

    performance = {k: v for k, v in _given(parsed.performance).items() if v is not None}
    if "standard_errors" in performance:
        performance["standard_errors"] = _threshold(
            performance["standard_errors"], f"{source}: performance.standard_errors"
        )
    attribution = {
        k: v for k, v in _given(parsed.attribution).items() if v is not None or k == "alpha"
    }
    if "ndcg" in attribution:
        attribution["ndcg"] = _threshold(
            attribution["ndcg"], f"{source}: attribution.ndcg", "below"
        )
    for key in ("relative_change", "standard_errors"):
        if key in attribution:
            attribution[key] = _threshold(attribution[key], f"{source}: attribution.{key}")
    fairness = _given(parsed.fairness)
    for key, direction in (("difference", "above"), ("ratio", "below")):
        if fairness.get(key, "") is None:
            del fairness[key]
        elif key in fairness:
            fairness[key] = _threshold(fairness[key], f"{source}: fairness.{key}", direction)
    if "measures" in fairness:
        fairness["measures"] = tuple(fairness["measures"] or ())
    for key in ("min_group_size",):
        if fairness.get(key, "") is None:
            del fairness[key]
    positive = fairness.get("positive_class")
    if isinstance(positive, bool):  # YAML's true/false: the class as the target writes it
        fairness["positive_class"] = str(positive).lower()
    elif positive is not None:
        fairness["positive_class"] = str(positive)
    estimation = {k: v for k, v in _given(parsed.estimation).items() if v is not None}
    if "enabled" in _given(parsed.estimation):  # null: auto
        estimation["enabled"] = parsed.estimation.enabled
    if "metrics" in estimation:
        estimation["metrics"] = tuple(estimation["metrics"])
    if "standard_errors" in estimation:
        estimation["standard_errors"] = _threshold(
            estimation["standard_errors"], f"{source}: estimation.standard_errors"
        )
    multivariate = _given(parsed.multivariate)
    if "columns" in multivariate:
        multivariate["columns"] = tuple(multivariate["columns"] or ())
    for key in MULTIVARIATE_LEVELS:
        if key in multivariate:
            if multivariate[key] is None:
                del multivariate[key]
            else:
                multivariate[key] = _threshold(multivariate[key], f"{source}: multivariate.{key}")
    for key in ("variance", "anomaly_quantile", "domain_classifier", "reference_cap"):
        if key in multivariate and multivariate[key] is None:
            del multivariate[key]
    streams = None
    if parsed.streams is not None:
        streams = tuple(
            StreamOptions(s.stream, s.detector, tuple((s.params or {}).items()))
            for s in parsed.streams
        )
    return Spec(
        columns=tuple(columns),
        task=parsed.task,
        drift=replace(DriftOptions(), **drift),
        quality=replace(QualityOptions(), **quality),
        performance=replace(PerformanceOptions(), **performance),
        attribution=replace(AttributionOptions(), **attribution),
        fairness=replace(FairnessOptions(), **fairness),
        estimation=replace(EstimationOptions(), **estimation),
        multivariate=replace(MultivariateOptions(), **multivariate),
        streams=streams,
    )


def default_kind(role: Role, task: Task | None) -> Kind:
    """The kind a column of this role has when the spec does not say."""
    if role in ("target", "prediction"):
        return "numeric" if task == "regression" else "categorical"
    if role in ("id", "segment"):
        return "categorical"
    if role == "timestamp":
        return "datetime"
    return "numeric"


def load_spec(path: str | Path) -> Spec:
    """Read a YAML spec file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(
            f"spec file {str(p)!r} does not exist; write one with `vigil init`."
        ) from None
    except (OSError, UnicodeDecodeError) as err:
        raise SpecError(f"cannot read spec file {str(p)!r}: {err}.") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise SpecError(f"{p}: not valid YAML — {err}".replace("\n", " ")) from None
    except RecursionError:
        raise SpecError(f"{p}: the YAML is nested too deeply to be a spec.") from None
    if not isinstance(data, dict):
        raise SpecError(
            f"{p}: a spec is a YAML mapping with at least `columns:`; got {type(data).__name__}."
        )
    if "columns" not in data and any(k in data for k in ("db", "models", "tokens", "windows")):
        raise SpecError(
            f"{p} looks like a service config (docs/config.md), not a spec; pass it to "
            f"`vigil serve --config`, and give --spec a file written by `vigil init`."
        )
    return spec_from_dict(data, source=str(p))


def dump_spec(spec: Spec) -> str:
    """The spec as YAML text, ready to edit."""
    return yaml.safe_dump(spec.to_dict(), sort_keys=False, allow_unicode=True)
