"""The shapes of request and response bodies, for the OpenAPI document (docs/api.md).

Request bodies are read by the ingest layer itself (several content types, per-record errors),
so these schemas document them rather than parse them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, field_validator

SCALAR: dict[str, Any] = {"type": ["number", "string", "boolean", "null"]}

PREDICTION_RECORD: dict[str, Any] = {
    "type": "object",
    "required": ["id", "timestamp"],
    "properties": {
        "id": {"type": ["string", "integer"], "description": "unique per prediction"},
        "timestamp": {
            "type": ["string", "number"],
            "description": "ISO-8601 (UTC unless a zone is given) or epoch s / ms / µs",
        },
        "model_version": {"type": "string"},
        "features": {"type": "object", "additionalProperties": SCALAR},
        "prediction": SCALAR,
        "score": {
            "type": ["number", "object", "null"],
            "additionalProperties": {"type": "number"},
            "description": "probability of the positive class, or class: probability",
        },
        "latency_ms": {"type": ["number", "null"], "minimum": 0},
        "error": {"type": ["string", "null"]},
        "segments": {"type": "object", "additionalProperties": SCALAR},
    },
    "additionalProperties": False,
}
LABEL_RECORD: dict[str, Any] = {
    "type": "object",
    "required": ["id", "label"],
    "properties": {
        "id": {"type": ["string", "integer"]},
        "label": {"type": ["number", "string", "boolean"]},
        "timestamp": {"type": ["string", "number", "null"]},
    },
    "additionalProperties": False,
}
TABLE_TYPES = (
    "application/vnd.apache.parquet",
    "application/vnd.apache.arrow.stream",
    "text/csv",
)


def batch_body(record: dict[str, Any]) -> dict[str, Any]:
    """An OpenAPI requestBody: JSON records, or a flat table in Parquet, Arrow or CSV."""
    binary = {"schema": {"type": "string", "format": "binary"}}
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["records"],
                        "properties": {"records": {"type": "array", "items": record}},
                    }
                },
                **{t: binary for t in TABLE_TYPES},
            },
        }
    }


class Rejected(BaseModel):
    """One record that was not accepted."""

    index: int
    id: str | None
    errors: list[str]


class IngestAnswer(BaseModel):
    """What became of a batch."""

    accepted: int
    duplicates: int
    conflicts: int
    conflict_ids: list[str] = Field(default_factory=list)
    pending: int = Field(0, description="labels waiting for their prediction")
    rejected: list[Rejected]


class ModelRegistration(BaseModel):
    """Register a model, or a new version of one."""

    name: str = Field(min_length=1, max_length=200)
    version: str = Field(min_length=1, max_length=100)
    spec: dict[str, Any] = Field(description="the spec, in the shape of the YAML file")

    @field_validator("name", "version")
    @classmethod
    def _no_nul(cls, value: str) -> str:
        # PostgreSQL cannot store NUL in text: refused here rather than failing in the store
        if "\x00" in value:
            raise ValueError(f"{value[:40]!r} holds a NUL character; remove it")
        return value


class ModelView(BaseModel):
    """A registered model."""

    name: str
    current_version: str
    versions: list[str]
    references: dict[str, int] = Field(description="version -> reference rows")
    columns: list[dict[str, str]]
    created: str


class ErrorBody(BaseModel):
    """An error: what went wrong and what to do."""

    status: int
    message: str


class ErrorAnswer(BaseModel):
    """The body of every error answer."""

    error: ErrorBody


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorAnswer} for code in (401, 403, 404, 409, 413, 415, 422, 503)
}
