"""The YAML spec file's shape, validated with pydantic (untrusted input enters here).

Imported by `vigil.spec` only when a spec is parsed; code works with the frozen dataclasses of
`vigil.spec`, never with these models.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from vigil.errors import SpecError
from vigil.spec import SPEC_VERSION, Correction, Kind, Role, Task


class DriftOverride(BaseModel):
    model_config = ConfigDict(extra="forbid")
    method: str | None = None
    threshold: float | None = None
    critical: float | None = None


class _ColumnIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    role: Role = "feature"
    kind: Kind | None = None
    drift: DriftOverride | None = None
    bounds: tuple[float | None, float | None] | None = None
    class_: str | int | None = Field(default=None, alias="class")


class _DriftIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    alpha: float | None = 0.05
    correction: Correction = "bh"
    dataset_share: float = 0.5
    bins: int = 10
    extra_metrics: list[str] = Field(default_factory=list)


class _PerformanceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    warning_drop: float = 0.05
    critical_drop: float = 0.10


class SpecFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int = SPEC_VERSION
    task: Task | None = None
    columns: dict[str, _ColumnIn]
    drift: _DriftIn = Field(default_factory=_DriftIn)
    quality: dict[str, tuple[float, float]] = Field(default_factory=dict)
    performance: _PerformanceIn = Field(default_factory=_PerformanceIn)


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
