"""The YAML spec file's shape, validated with pydantic (untrusted input enters here).

Only shapes and types live here: every default is the dataclass default of `vigil.spec.model`,
filled in by `vigil.spec.file.spec_from_dict` for each key the file leaves out. Code works
with those frozen dataclasses, never with these models.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from vigil.errors import SpecError
from vigil.spec.types import Correction, FairnessMeasure, Kind, Role, Task

# Every number a spec holds is bounded: a value outside its range is a spec error naming the
# key and the range, never a window that allocates a billion bins (docs/spec.md).
MAX_BINS = 1000
MAX_MIN_LABELLED = 10**9
MAX_LEVEL = 1e6  # a drift threshold or a performance drop
MAX_STANDARD_ERRORS = 1000.0
MAX_COLUMNS = 10_000
MAX_NAME = 256  # characters in a column name
MAX_REFERENCE_CAP = 1_000_000  # rows the domain classifier reads each side

Finite = Annotated[float, Field(allow_inf_nan=False)]
Share = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
# the lower ends (0 < alpha < 1, a positive threshold, ...) are checked with the spec's rules
Level = Annotated[float, Field(le=MAX_LEVEL, allow_inf_nan=False)]
Probability = Annotated[float, Field(allow_inf_nan=False)]
Pair = tuple[Finite, Finite]
SharePair = tuple[Share, Share]
ErrorsPair = tuple[  # [warning, critical] in standard errors
    Annotated[float, Field(ge=0, le=MAX_STANDARD_ERRORS)],
    Annotated[float, Field(ge=0, le=MAX_STANDARD_ERRORS)],
]

# Model names and versions appear in URL paths, metric labels and file names.
NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}"
NAME_RULE = (
    "1 to 128 characters: letters, digits, '.', '_' and '-', starting with a letter or digit"
)


def name_problem(name: object, what: str) -> str | None:
    """Why `name` cannot be a model name or version (`what` says which), or None."""
    if isinstance(name, str) and re.fullmatch(NAME_PATTERN, name):
        return None
    return f"{what} {name!r} is not allowed; a {what} is {NAME_RULE}."


def column_problem(name: str) -> str | None:
    """Why `name` cannot be a column name, or None."""
    if not name or len(name) > MAX_NAME:
        return f"a column name has 1 to {MAX_NAME} characters; got {len(name)}"
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return f"the column name {name!r} is not valid Unicode text (a lone surrogate)"
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        return f"the column name {name!r} holds a control character"
    return None


class DriftOverride(BaseModel):
    model_config = ConfigDict(extra="forbid")
    method: str | None = None
    threshold: Level | None = None
    critical: Level | None = None


class ColumnIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    role: Role = "feature"
    kind: Kind | None = None
    drift: DriftOverride | None = None
    bounds: tuple[Finite | None, Finite | None] | None = None
    class_: str | int | None = Field(default=None, alias="class")
    protected: bool | None = None


class DriftIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    alpha: Probability | None = Field(default=None)
    correction: Correction | None = None
    # a number is the critical level; warning half
    dataset_share: Annotated[float, Field(gt=0, le=1)] | SharePair | None = None
    bins: Annotated[int, Field(ge=2, le=MAX_BINS)] | None = None
    extra_metrics: list[str] | None = None


class QualityIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    missing_increase: SharePair | None = None
    out_of_range: SharePair | None = None
    unseen_share: SharePair | None = None
    outlier_increase: SharePair | None = None
    duplicate_rows: SharePair | None = None
    type_mismatch: SharePair | None = None
    alpha: Probability | None = None


class PerformanceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    warning_drop: Level | None = None
    critical_drop: Level | None = None
    standard_errors: ErrorsPair | None = None
    min_labelled: Annotated[int, Field(ge=1, le=MAX_MIN_LABELLED)] | None = None


class EstimationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool | None = None
    calibration: Literal["auto", "always", "never"] | None = None
    metrics: Annotated[list[str], Field(max_length=64)] | None = None
    warning_drop: Level | None = None
    critical_drop: Level | None = None
    standard_errors: ErrorsPair | None = None


class MultivariateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool | None = None
    columns: Annotated[list[str], Field(max_length=MAX_COLUMNS)] | None = None
    variance: Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)] | None = None
    anomaly_quantile: Annotated[float, Field(ge=0.5, lt=1, allow_inf_nan=False)] | None = None
    domain_classifier: bool | None = None
    reference_cap: Annotated[int, Field(ge=100, le=MAX_REFERENCE_CAP)] | None = None
    reconstruction_increase: tuple[Level, Level] | None = None
    standard_errors: ErrorsPair | None = None
    anomaly_share: SharePair | None = None
    domain_auc: SharePair | None = None


class AttributionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prefix: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    k: Annotated[int, Field(ge=1, le=MAX_COLUMNS)] | None = None
    ndcg: SharePair | None = None
    relative_change: tuple[Level, Level] | None = None
    standard_errors: ErrorsPair | None = None
    alpha: Probability | None = None
    importance_weighted: bool | None = None
    receive: bool | None = None


class FairnessIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    measures: Annotated[list[FairnessMeasure], Field(max_length=16)] | None = None
    difference: SharePair | None = None
    ratio: SharePair | None = None
    positive_class: Annotated[str, Field(max_length=MAX_NAME)] | int | bool | None = None
    min_group_size: Annotated[int, Field(ge=1, le=MAX_MIN_LABELLED)] | None = None
    alpha: Probability | None = None


class StreamIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    stream: Annotated[str, Field(min_length=1, max_length=MAX_NAME)]
    detector: Annotated[str, Field(max_length=64)] | None = None
    params: (
        Annotated[
            dict[Annotated[str, Field(max_length=64)], bool | int | float | str],
            Field(max_length=16),
        ]
        | None
    ) = None


class SpecFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int | None = None
    task: Task | None = None
    columns: Annotated[dict[str, ColumnIn], Field(max_length=MAX_COLUMNS)]
    drift: DriftIn = Field(default_factory=DriftIn)
    quality: QualityIn = Field(default_factory=QualityIn)
    performance: PerformanceIn = Field(default_factory=PerformanceIn)
    attribution: AttributionIn = Field(default_factory=AttributionIn)
    fairness: FairnessIn = Field(default_factory=FairnessIn)
    estimation: EstimationIn = Field(default_factory=EstimationIn)
    multivariate: MultivariateIn = Field(default_factory=MultivariateIn)
    streams: Annotated[list[StreamIn], Field(max_length=64)] | None = None


def _pydantic_message(err: ValidationError, source: str) -> str:
    parts = []
    for e in err.errors()[:5]:
        where = ".".join(str(p) for p in e["loc"])
        parts.append(f"{where}: {e['msg']}")
    more = f" (and {err.error_count() - 5} more)" if err.error_count() > 5 else ""
    return f"{source}: invalid spec — " + "; ".join(parts) + more + "."


def parse(data: Any, source: str) -> SpecFile:
    """Validate plain data in the YAML shape, or a SpecError naming the keys at fault."""
    columns = data.get("columns") if isinstance(data, dict) else None
    if isinstance(columns, dict):
        for name in columns:
            problem = column_problem(name) if isinstance(name, str) else None
            if problem is not None:
                raise SpecError(f"{source}: columns: {problem}.")
    try:
        return SpecFile.model_validate(data)
    except ValidationError as err:
        raise SpecError(_pydantic_message(err, source)) from None
    except RecursionError:
        raise SpecError(f"{source}: the spec is nested too deeply to be a spec.") from None
