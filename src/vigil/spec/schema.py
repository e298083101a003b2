"""The YAML spec file's shape, validated with pydantic (untrusted input enters here).

Only shapes and types live here: every default is the dataclass default of `vigil.spec.model`,
filled in by `vigil.spec.file.spec_from_dict` for each key the file leaves out. Code works
with those frozen dataclasses, never with these models.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from vigil.errors import SpecError
from vigil.spec.types import Correction, Kind, Role, Task

Pair = tuple[float, float]


class DriftOverride(BaseModel):
    model_config = ConfigDict(extra="forbid")
    method: str | None = None
    threshold: float | None = None
    critical: float | None = None


class ColumnIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    role: Role = "feature"
    kind: Kind | None = None
    drift: DriftOverride | None = None
    bounds: tuple[float | None, float | None] | None = None
    class_: str | int | None = Field(default=None, alias="class")


class DriftIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    alpha: float | None = Field(default=None)
    correction: Correction | None = None
    dataset_share: float | Pair | None = None  # a number is the critical level; warning half
    bins: int | None = None
    extra_metrics: list[str] | None = None


class QualityIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    missing_increase: Pair | None = None
    out_of_range: Pair | None = None
    unseen_share: Pair | None = None
    outlier_increase: Pair | None = None
    duplicate_rows: Pair | None = None
    type_mismatch: Pair | None = None
    alpha: float | None = None


class PerformanceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    warning_drop: float | None = None
    critical_drop: float | None = None
    standard_errors: Pair | None = None
    min_labelled: int | None = None


class SpecFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int | None = None
    task: Task | None = None
    columns: dict[str, ColumnIn]
    drift: DriftIn = Field(default_factory=DriftIn)
    quality: QualityIn = Field(default_factory=QualityIn)
    performance: PerformanceIn = Field(default_factory=PerformanceIn)


def _pydantic_message(err: ValidationError, source: str) -> str:
    parts = []
    for e in err.errors()[:5]:
        where = ".".join(str(p) for p in e["loc"])
        parts.append(f"{where}: {e['msg']}")
    more = f" (and {err.error_count() - 5} more)" if err.error_count() > 5 else ""
    return f"{source}: invalid spec — " + "; ".join(parts) + more + "."


def parse(data: Any, source: str) -> SpecFile:
    """Validate plain data in the YAML shape, or a SpecError naming the keys at fault."""
    try:
        return SpecFile.model_validate(data)
    except ValidationError as err:
        raise SpecError(_pydantic_message(err, source)) from None
    except RecursionError:
        raise SpecError(f"{source}: the spec is nested too deeply to be a spec.") from None
