"""Action records: every decision about a retrain, a rollback or a promotion, kept with its
reason, evidence and outcome (`vigil.alerts.actions` decides; this part only keeps them)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from vigil.store.backend import Backend
from vigil.store.base import ActionRecord, ModelInfo

_COLUMNS = "id, kind, trigger_kind, decided_at, taken, reason, evidence, outcome"


class ActionLog:
    """The `actions` table."""

    def __init__(self, db: Backend) -> None:
        self._db = db

    def record(self, model: ModelInfo, record: ActionRecord) -> None:
        """Keep one decision; recording the same id again changes nothing."""
        self._db.run(
            "INSERT INTO actions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
            (
                record.id,
                model.id,
                record.kind,
                record.trigger,
                record.decided_at,
                record.taken,
                record.reason,
                record.evidence,
                record.outcome,
            ),
        )

    def read(
        self,
        model: ModelInfo,
        *,
        kind: str | None,
        since: datetime | None,
        limit: int,
    ) -> list[ActionRecord]:
        """A model's decisions, newest first; of one kind, and decided at or after `since`,
        when given."""
        rows = self._db.run(
            f"SELECT {_COLUMNS} FROM actions WHERE model_id = ? "
            # typed, because PostgreSQL cannot tell the type of a bare `? IS NULL`
            "AND (CAST(? AS VARCHAR) IS NULL OR kind = ?) "
            "AND (CAST(? AS TIMESTAMP) IS NULL OR decided_at >= ?) "
            "ORDER BY decided_at DESC, id DESC LIMIT ?",
            (model.id, kind, kind, since, since, limit),
        )
        return [_record(model, row) for row in rows]


def _record(model: ModelInfo, row: tuple[Any, ...]) -> ActionRecord:
    id_, kind, trigger, decided_at, taken, reason, evidence, outcome = row
    return ActionRecord(
        id=str(id_),
        model=model.name,
        kind=str(kind),
        trigger=str(trigger),
        decided_at=decided_at,
        taken=bool(taken),
        reason=str(reason),
        evidence=str(evidence),
        outcome=None if outcome is None else str(outcome),
    )
