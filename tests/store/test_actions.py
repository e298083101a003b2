"""Action records on both backends: kept as given, read newest first, filtered."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vigil.store import SqlStore
from vigil.store.base import ActionRecord

from .records import register

T0 = datetime(2026, 11, 1, 12, 0)


def record(kind: str, minutes: int, *, taken: bool = True, **changes: object) -> ActionRecord:
    fields: dict[str, object] = {
        "id": uuid.uuid4().hex,
        "model": "churn",
        "kind": kind,
        "trigger": "manual",
        "decided_at": T0 + timedelta(minutes=minutes),
        "taken": taken,
        "reason": f"{kind} at {minutes}",
        "evidence": '{"alerts": []}',
        "outcome": "sent" if taken else None,
    }
    fields.update(changes)
    return ActionRecord(**fields)  # type: ignore[arg-type]


def test_records_come_back_as_given_newest_first(store: SqlStore) -> None:
    model = register(store)
    other = register(store, name="other")
    kept = [
        record("retrain", 0, trigger="drift", outcome="the webhook answered HTTP 500 (refused)"),
        record("retrain", 5, taken=False, reason="skipped: 4 of 4 retrains this month"),
        record("rollback", 10, trigger="sla", evidence='{"alerts": [{"rule": "sla"}]}'),
        record("promote", 20, trigger="challenger"),
    ]
    for r in kept:
        store.record_action(model, r)
    store.record_action(other, record("retrain", 30))
    assert store.read_actions(model, kind=None, since=None, limit=100) == kept[::-1]
    assert store.read_actions(model, kind="retrain", since=None, limit=100) == kept[1::-1]
    assert (
        store.read_actions(model, kind=None, since=T0 + timedelta(minutes=5), limit=100)
        == (kept[:0:-1])
    )
    assert store.read_actions(model, kind=None, since=None, limit=2) == kept[:1:-1]
    assert store.read_actions(model, kind="nothing", since=None, limit=10) == []
    assert [r.model for r in store.read_actions(other, kind=None, since=None, limit=10)] == [
        "other"
    ]


def test_recording_one_id_twice_keeps_the_first(store: SqlStore) -> None:
    model = register(store)
    first = record("retrain", 0)
    store.record_action(model, first)
    store.record_action(model, record("retrain", 9, id=first.id, reason="again"))
    assert store.read_actions(model, kind=None, since=None, limit=10) == [first]


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(st.integers(0, 10_000), min_size=1, max_size=20),
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=200),
)
def test_any_text_and_order_of_decisions_reads_back_sorted(
    store: SqlStore, minutes: list[int], reason: str
) -> None:
    model = store.get_model("churn") or register(store)
    since = T0 + timedelta(days=30)  # apart from the other examples' records
    before = {r.id for r in store.read_actions(model, kind=None, since=None, limit=10_000)}
    for m in minutes:
        store.record_action(model, record("retrain", 60 * 24 * 30 + m, reason=reason))
    read = [
        r
        for r in store.read_actions(model, kind="retrain", since=since, limit=10_000)
        if r.id not in before
    ]
    assert len(read) == len(minutes)
    assert [r.decided_at for r in read] == sorted((r.decided_at for r in read), reverse=True)
    assert {r.reason for r in read} == {reason}
