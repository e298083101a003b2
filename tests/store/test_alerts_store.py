"""The alert store over DuckDB and PostgreSQL: alerts and their events, people's acks and marks,
the outbox, silences; the one-open-alert-per-key invariant and concurrent instances."""

from __future__ import annotations

import inspect
import threading
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vigil.errors import StoreError
from vigil.store import SqlStore, open_store
from vigil.store.base import (
    AlertEvent,
    AlertStore,
    Delivery,
    ModelInfo,
    Silence,
    StoredAlert,
    WindowKey,
    alert_event,
)

from .records import T0, finish, hours, predictions, register, write

# checked by mypy: the SQL store keeps alerts
_IS_ALERT_STORE: Callable[[SqlStore], AlertStore] = lambda store: store  # noqa: E731
ACTIONS = {"record_action", "read_actions"}  # the actions part, not this one


def new_id() -> str:
    return uuid.uuid4().hex


def alert(model: ModelInfo, **changes: Any) -> StoredAlert:
    """A firing warning on drift.psi of column x, changed at T0, with a fresh id."""
    base = StoredAlert(
        id=new_id(),
        model=model.name,
        rule="psi",
        version="v1",
        column="x",
        segment="",
        metric="drift.psi",
        severity="warning",
        status="firing",
        began=T0,
        opened_at=T0,
        changed=T0,
        resolved_at=None,
        breached=1,
        clear=0,
        notified=T0,
        window_kind="tumbling",
        window_start=T0,
        window_end=hours(1),
        value=0.2,
        threshold=0.1,
        baseline=None,
        message="drift.psi of x is 0.2, at or above 0.1",
        point_status="warning",
    )
    return replace(base, **changes)


def event(a: StoredAlert, kind: str = "opened", **changes: Any) -> AlertEvent:
    return replace(alert_event(a, a.changed, kind, a.message), **changes)  # type: ignore[arg-type]


def delivery(model: ModelInfo, *alerts: StoredAlert, **changes: Any) -> Delivery:
    base = Delivery(
        new_id(), model.name, "ops", '{"model": "m"}', tuple(a.id for a in alerts), T0, "pending"
    )
    return replace(base, **changes)


def test_sql_store_has_every_alert_store_method_with_its_signature(store: SqlStore) -> None:
    assert _IS_ALERT_STORE(store) is store
    names = [n for n, v in vars(AlertStore).items() if inspect.isfunction(v) and n[0] != "_"]
    assert len(names) > 15
    for name in names:
        if name in ACTIONS:
            continue
        expected = inspect.signature(getattr(AlertStore, name))
        got = inspect.signature(getattr(store, name))
        assert list(got.parameters) == list(expected.parameters)[1:], name  # without self
        kinds = [p.kind for p in got.parameters.values()]
        assert kinds == [p.kind for p in list(expected.parameters.values())[1:]], name


# -- alerts ---------------------------------------------------------------------------------


def test_save_then_read_an_alert_its_events_and_deliveries(store: SqlStore) -> None:
    model = register(store)
    a = alert(model)
    d = delivery(model, a)
    store.save_alerts(model, [a], [event(a, "pending"), event(a, "opened")], [d])
    assert store.get_alert(a.id) == a
    assert [e.kind for e in store.alert_events(a.id)] == ["pending", "opened"]
    assert store.read_deliveries(alert_id=a.id, status=None, limit=10) == [d]
    assert store.alert_states(model) == [a]
    assert store.get_alert(new_id()) is None and store.alert_events(new_id()) == []


def test_events_are_numbered_after_the_alerts_last_across_saves(store: SqlStore) -> None:
    model = register(store)
    a = alert(model, status="pending", opened_at=None)
    store.save_alerts(model, [a], [event(a, "pending")], [])
    fired = replace(a, status="firing", opened_at=hours(1), changed=hours(1))
    store.save_alerts(model, [fired], [event(fired, "opened", at=hours(1))], [])
    store.save_alerts(model, [], [event(fired, "repeated", at=hours(5))], [])
    events = store.alert_events(a.id)
    assert [(e.kind, e.at) for e in events] == [
        ("pending", T0),
        ("opened", hours(1)),
        ("repeated", hours(5)),
    ]
    assert store.get_alert(a.id) == fired


def test_alert_states_gives_each_keys_open_alert_or_its_latest_resolved(store: SqlStore) -> None:
    model = register(store)
    other = register(store, "other")
    old = alert(model, status="resolved", resolved_at=hours(2), changed=hours(2))
    newer = alert(model, status="resolved", resolved_at=hours(8), changed=hours(8))
    open_now = alert(model, began=hours(9), changed=hours(9))
    elsewhere = alert(model, column="y", status="resolved", resolved_at=hours(3), changed=hours(3))
    segment = alert(model, segment="region=north", status="pending", opened_at=None)
    store.save_alerts(model, [old, newer, elsewhere, segment], [], [])
    store.save_alerts(other, [alert(other)], [], [])
    states = {(s.rule, s.version, s.column, s.segment): s for s in store.alert_states(model)}
    assert len(states) == 3 == len(store.alert_states(model))
    assert states[("psi", "v1", "x", "")] == newer  # the latest resolved: the cooldown's
    assert states[("psi", "v1", "y", "")] == elsewhere
    assert states[("psi", "v1", "x", "region=north")] == segment
    store.save_alerts(model, [open_now], [], [])
    by_place = {(s.column, s.segment): s for s in store.alert_states(model)}
    assert by_place[("x", "")] == open_now  # open beats resolved
    assert all(s.model == "churn" for s in store.alert_states(model))


def test_a_second_open_alert_for_a_key_is_refused_and_nothing_of_the_save_is_written(
    store: SqlStore,
) -> None:
    model = register(store)
    first = alert(model)
    store.save_alerts(model, [first], [event(first)], [])
    second = alert(model, status="pending", opened_at=None)
    late = delivery(model, second)
    with pytest.raises(StoreError, match=f"already has the open alert {first.id}"):
        store.save_alerts(model, [second], [event(second)], [late])
    assert store.get_alert(second.id) is None
    assert store.alert_events(second.id) == []
    assert store.read_deliveries(alert_id=None, status=None, limit=10) == []
    # two open alerts of one key in one save: refused too
    a, b = alert(model, column="z"), alert(model, column="z")
    with pytest.raises(StoreError, match="one open alert per key"):
        store.save_alerts(model, [a, b], [], [])
    assert store.get_alert(a.id) is None and store.get_alert(b.id) is None
    # once the first resolves, a new alert may open for the key, in the same save
    resolved = replace(first, status="resolved", resolved_at=hours(3), changed=hours(3))
    store.save_alerts(model, [resolved, second], [], [])
    assert {s.id for s in store.alert_states(model)} == {second.id}
    # other keys are free: another version, column, segment or rule
    for change in ({"version": "v2"}, {"column": "w"}, {"segment": "s=1"}, {"rule": "ks"}):
        store.save_alerts(model, [alert(model, **change)], [], [])


def test_saves_that_contradict_the_store_are_refused(store: SqlStore) -> None:
    model = register(store)
    other = register(store, "other")
    mine = alert(model)
    store.save_alerts(model, [mine], [], [])
    with pytest.raises(StoreError, match="belongs to another model"):
        store.save_alerts(other, [replace(mine, model="other")], [], [])
    with pytest.raises(StoreError, match="names the model 'churn', saved under 'other'"):
        store.save_alerts(other, [alert(model)], [], [])
    with pytest.raises(StoreError, match="has no alert"):
        store.save_alerts(other, [], [event(mine)], [])  # an alert of another model
    with pytest.raises(StoreError, match="has no alert"):
        store.save_alerts(model, [], [], [delivery(model, alert(model))])
    with pytest.raises(StoreError, match="32 lowercase hex"):
        store.save_alerts(model, [alert(model, id="not-an-id")], [], [])
    with pytest.raises(StoreError, match="status 'open'"):
        store.save_alerts(model, [alert(model, status="open")], [], [])
    with pytest.raises(StoreError, match="names no alert"):
        store.save_alerts(model, [], [], [delivery(model)])
    d = delivery(model, mine)
    store.save_alerts(model, [], [], [d])
    with pytest.raises(StoreError, match="already queued"):
        store.save_alerts(model, [], [], [d])
    assert store.get_alert(mine.id) == mine


def test_the_engine_saving_an_alert_it_read_before_an_ack_keeps_the_ack(store: SqlStore) -> None:
    model = register(store)
    a = alert(model)
    store.save_alerts(model, [a], [], [])
    (read,) = store.alert_states(model)
    store.ack_alert(a.id, actor="ana", at=hours(1))
    store.mark_alert(a.id, "true_positive", actor="ana", note="real", at=hours(1))
    escalated = replace(read, severity="critical", value=0.4, changed=hours(2))
    store.save_alerts(model, [escalated], [event(escalated, "escalated")], [])
    saved = store.get_alert(a.id)
    assert saved is not None
    assert (saved.severity, saved.value, saved.changed) == ("critical", 0.4, hours(2))
    assert (saved.acked_at, saved.acked_by, saved.verdict) == (hours(1), "ana", "true_positive")


def test_read_alerts_filters_and_orders_newest_change_first(store: SqlStore) -> None:
    model = register(store)
    other = register(store, "other")
    a = alert(model, changed=hours(1))
    b = alert(model, column="y", severity="critical", changed=hours(3))
    c = alert(model, column="z", status="resolved", resolved_at=hours(2), changed=hours(2))
    d = alert(other, rule="ks", changed=hours(4))
    store.save_alerts(model, [a, b, c], [], [])
    store.save_alerts(other, [d], [], [])

    def ids(**filters: Any) -> list[str]:
        query = {"model": None, "status": None, "severity": None, "rule": None, "since": None}
        return [x.id for x in store.read_alerts(**{**query, "limit": 100, **filters})]

    assert ids() == [d.id, b.id, c.id, a.id]
    assert ids(model=model) == [b.id, c.id, a.id]
    assert ids(status="resolved") == [c.id]
    assert ids(status="firing", model=model) == [b.id, a.id]
    assert ids(severity="critical") == [b.id]
    assert ids(rule="ks") == [d.id]
    assert ids(since=hours(2)) == [d.id, b.id, c.id]  # changed at or after
    assert ids(limit=2) == [d.id, b.id]
    assert ids(rule="nope") == []


def test_an_ack_is_kept_once_with_one_event(store: SqlStore) -> None:
    model = register(store)
    a = alert(model)
    store.save_alerts(model, [a], [event(a)], [])
    acked = store.ack_alert(a.id, actor="ana", at=hours(1))
    assert acked == replace(a, acked_at=hours(1), acked_by="ana")
    again = store.ack_alert(a.id, actor="bo", at=hours(2))
    assert again == acked
    events = store.alert_events(a.id)
    assert [(e.kind, e.actor, e.at) for e in events] == [
        ("opened", None, T0),
        ("acknowledged", "ana", hours(1)),
    ]
    assert store.ack_alert(new_id(), actor="ana", at=T0) is None
    assert store.ack_alert("../etc", actor="ana", at=T0) is None


def test_a_later_mark_replaces_the_verdict_and_both_events_stay(store: SqlStore) -> None:
    model = register(store)
    other = register(store, "other")
    a, b = alert(model), alert(model, rule="ks")
    c = alert(model, column="y")
    store.save_alerts(model, [a, b, c], [], [])
    store.mark_alert(a.id, "true_positive", actor="ana", note=None, at=hours(1))
    marked = store.mark_alert(a.id, "false_positive", actor="bo", note="a deploy", at=hours(2))
    assert marked is not None
    assert (marked.verdict, marked.verdict_by, marked.verdict_at, marked.verdict_note) == (
        "false_positive",
        "bo",
        hours(2),
        "a deploy",
    )
    kinds = [(e.kind, e.actor, e.message) for e in store.alert_events(a.id)]
    assert kinds == [
        ("marked", "ana", "marked true positive by ana"),
        ("marked", "bo", "marked false positive by bo: a deploy"),
    ]
    store.mark_alert(b.id, "true_positive", actor=None, note=None, at=hours(1))
    store.mark_alert(c.id, "true_positive", actor=None, note=None, at=hours(1))
    o = alert(other)
    store.save_alerts(other, [o], [], [])
    store.mark_alert(o.id, "false_positive", actor=None, note=None, at=hours(1))
    assert store.rule_precision(model) == {"psi": (1, 1), "ks": (1, 0)}
    assert store.rule_precision(other) == {"psi": (0, 1)}
    assert store.rule_precision(None) == {"psi": (1, 2), "ks": (1, 0)}
    assert store.mark_alert(new_id(), "true_positive", actor=None, note=None, at=T0) is None
    with pytest.raises(StoreError, match="verdict 'maybe'"):
        store.mark_alert(a.id, "maybe", actor=None, note=None, at=T0)  # type: ignore[arg-type]


def test_firing_counts_by_model_and_severity(store: SqlStore) -> None:
    model = register(store)
    other = register(store, "other")
    assert store.firing_counts() == {}
    store.save_alerts(
        model,
        [
            alert(model),
            alert(model, column="y"),
            alert(model, column="z", severity="critical"),
            alert(model, column="w", status="pending", opened_at=None),
            alert(model, column="v", status="resolved", resolved_at=T0),
        ],
        [],
        [],
    )
    store.save_alerts(other, [alert(other, severity="critical")], [], [])
    assert store.firing_counts() == {
        ("churn", "warning"): 2,
        ("churn", "critical"): 1,
        ("other", "critical"): 1,
    }


def test_window_report_by_start_and_the_rolling_windows_latest(store: SqlStore) -> None:
    model = register(store)
    write(store, model, predictions(["a", "b"]))
    key = WindowKey("v1", "tumbling", T0, hours(1))
    assert store.window_report(model, "v1", "tumbling", T0) is None  # not computed yet
    finish(store, model, key, report='{"status": "ok"}')
    assert store.window_report(model, "v1", "tumbling", T0) == (key, '{"status": "ok"}')
    assert store.window_report(model, "v1", "tumbling", hours(1)) is None
    assert store.window_report(model, "v2", "tumbling", T0) is None


# -- the outbox ---------------------------------------------------------------------------


def test_claims_take_due_deliveries_oldest_first_and_leases_expire(store: SqlStore) -> None:
    model = register(store)
    a = alert(model)
    first = delivery(model, a, created=hours(1))
    second = delivery(model, a, created=hours(2))
    later = delivery(model, a, created=T0, next_at=hours(10))
    store.save_alerts(model, [a], [], [second, first, later])
    now = hours(3)
    assert store.claim_deliveries(now, "w1", lease_seconds=60, limit=1) == [first]
    assert store.claim_deliveries(now, "w2", lease_seconds=60, limit=10) == [second]
    assert store.claim_deliveries(now, "w3", lease_seconds=60, limit=10) == []
    # a lease that ran out is taken by the next worker; the next_at one once it is due
    after = now + timedelta(seconds=61)
    assert store.claim_deliveries(after, "w3", lease_seconds=60, limit=10) == [first, second]
    store.finish_delivery(first.id, "w3", sent_at=after, error=None, next_at=None)
    store.finish_delivery(second.id, "w3", sent_at=after, error=None, next_at=None)
    assert store.claim_deliveries(hours(10), "w4", lease_seconds=60, limit=10) == [later]
    assert store.claim_deliveries(hours(10), "w4", lease_seconds=60, limit=0) == []


def test_finishing_a_delivery_sent_retried_or_given_up(store: SqlStore) -> None:
    model = register(store)
    a = alert(model)
    sent, retried, dead = (delivery(model, a, created=hours(i)) for i in range(3))
    store.save_alerts(model, [a], [], [sent, retried, dead])
    assert len(store.claim_deliveries(hours(5), "w", lease_seconds=60, limit=10)) == 3
    store.finish_delivery(sent.id, "w", sent_at=hours(5), error=None, next_at=None)
    store.finish_delivery(retried.id, "w", sent_at=None, error="HTTP 503", next_at=hours(6))
    store.finish_delivery(dead.id, "w", sent_at=None, error="x\x00" * 5000, next_at=None)

    def one(d: Delivery) -> Delivery:
        (found,) = [x for x in store.read_deliveries(alert_id=a.id, status=None, limit=10)
                    if x.id == d.id]  # fmt: skip
        return found

    assert one(sent) == replace(sent, status="sent", sent_at=hours(5), attempts=1)
    assert one(retried) == replace(retried, attempts=1, last_error="HTTP 503", next_at=hours(6))
    gone = one(dead)
    assert gone.status == "failed" and gone.attempts == 1 and gone.next_at is None
    assert gone.last_error == ("x\ufffd" * 1000)  # NUL replaced, cut at 2,000 characters
    assert store.delivery_counts() == {"pending": 1, "sent": 1, "failed": 1}
    assert store.read_deliveries(alert_id=None, status="failed", limit=10) == [gone]
    # the retried one comes back when due; a second failure counts a second attempt
    assert store.claim_deliveries(hours(5), "w", lease_seconds=60, limit=10) == []
    (back,) = store.claim_deliveries(hours(6), "w2", lease_seconds=60, limit=10)
    assert back.id == retried.id
    store.finish_delivery(back.id, "w", sent_at=hours(6), error=None, next_at=None)  # not its
    assert one(retried).status == "pending"
    store.finish_delivery(back.id, "w2", sent_at=None, error="timeout", next_at=None)
    assert (one(retried).status, one(retried).attempts) == ("failed", 2)
    with pytest.raises(StoreError, match="not both"):
        store.finish_delivery(back.id, "w2", sent_at=T0, error="x", next_at=None)
    with pytest.raises(StoreError, match="not neither"):
        store.finish_delivery(back.id, "w2", sent_at=None, error=None, next_at=None)


def test_read_deliveries_newest_first_by_alert_and_status(store: SqlStore) -> None:
    model = register(store)
    a, b = alert(model), alert(model, column="y")
    one = delivery(model, a, created=hours(1))
    both = delivery(model, b, a, created=hours(2))
    store.save_alerts(model, [a, b], [], [one, both])
    assert store.read_deliveries(alert_id=None, status=None, limit=10) == [
        replace(both, alert_ids=tuple(sorted((a.id, b.id)))),
        one,
    ]
    assert [d.id for d in store.read_deliveries(alert_id=b.id, status=None, limit=10)] == [both.id]
    assert store.read_deliveries(alert_id=a.id, status="sent", limit=10) == []
    assert len(store.read_deliveries(alert_id=a.id, status="pending", limit=1)) == 1
    assert store.read_deliveries(alert_id="zz", status=None, limit=10) == []
    assert store.delivery_counts() == {"pending": 2, "sent": 0, "failed": 0}


# -- silences -------------------------------------------------------------------------------


def test_silences_in_force_from_start_until_before_end(store: SqlStore) -> None:
    now = T0
    past = Silence(new_id(), {"model": "churn"}, now - timedelta(days=2), now, now, None, "")
    current = Silence(new_id(), {"rule": "psi-*"}, now - timedelta(hours=1), hours(2), now,
                      "ana", "deploy")  # fmt: skip
    maintenance = Silence(
        new_id(), {"model": "churn", "segment": "region=*"}, hours(5), hours(7), now, "ana", "m"
    )
    for s in (past, current, maintenance):
        store.add_silence(s)
    assert store.list_silences(active_at=now) == [current]  # `past` ended at now
    assert store.list_silences(active_at=hours(5)) == [maintenance]  # starts_at included
    assert store.list_silences(active_at=hours(7)) == []
    assert store.list_silences(active_at=None) == [maintenance, current, past]
    assert store.delete_silence(current.id) is True
    assert store.delete_silence(current.id) is False
    assert store.delete_silence("not an id") is False
    assert store.list_silences(active_at=now) == []


def test_silences_that_cannot_work_are_refused(store: SqlStore) -> None:
    def silence(**changes: Any) -> Silence:
        base = Silence(new_id(), {"rule": "psi"}, T0, hours(1), T0, None, "")
        return replace(base, **changes)

    with pytest.raises(StoreError, match="no matcher"):
        store.add_silence(silence(matchers={}))
    with pytest.raises(StoreError, match="unknown matcher 'host'"):
        store.add_silence(silence(matchers={"host": "a"}))
    with pytest.raises(StoreError, match="before it starts"):
        store.add_silence(silence(ends_at=T0))
    assert store.list_silences(active_at=None) == []


# -- hostile text -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "problem"), [("a\x00b", "NUL character"), ("a\ud800b", "lone surrogate")]
)
def test_text_no_database_can_keep_is_refused_alike_on_both(
    store: SqlStore, text: str, problem: str
) -> None:
    model = register(store)
    a = alert(model)
    store.save_alerts(model, [a], [], [])
    for bad in (
        lambda: store.save_alerts(model, [alert(model, rule=text)], [], []),
        lambda: store.save_alerts(model, [], [event(a, message=text)], []),
        lambda: store.save_alerts(model, [], [], [delivery(model, a, destination=text)]),
        lambda: store.ack_alert(a.id, actor=text, at=T0),
        lambda: store.mark_alert(a.id, "true_positive", actor=None, note=text, at=T0),
        lambda: store.add_silence(Silence(new_id(), {"rule": text}, T0, hours(1), T0, None, "")),
    ):
        with pytest.raises(StoreError, match=problem):
            bad()
    assert store.get_alert(a.id) == a and store.alert_events(a.id) == []


def test_huge_and_unicode_text_reads_back_exactly(store: SqlStore) -> None:
    model = register(store, "模型-ü-🚨")
    huge = "é" * 1_000_000
    a = alert(model, rule="règle-📈", column="âge\u200b", segment="région=北", message=huge)
    store.save_alerts(model, [a], [event(a, message=huge, actor="ä" * 10_000)], [])
    assert store.get_alert(a.id) == a
    (e,) = store.alert_events(a.id)
    assert e.message == huge and e.actor == "ä" * 10_000
    marked = store.mark_alert(a.id, "true_positive", actor="🙂", note=huge, at=T0)
    assert marked is not None and marked.verdict_note == huge
    s = Silence(new_id(), {"model": "模型-*", "column": "âge\u200b"}, T0, hours(1), T0, "🙂", huge)
    store.add_silence(s)
    assert store.list_silences(active_at=T0) == [s]


# -- every field round trips ----------------------------------------------------------------

TEXT = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40
)
TIMES = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59))
NUMBERS = st.floats(allow_nan=False)
MAYBE_TIME = st.none() | TIMES
MAYBE_NUMBER = st.none() | NUMBERS


@st.composite
def stored_alerts(draw: st.DrawFn, model: str) -> StoredAlert:
    verdict = draw(st.none() | st.sampled_from(["true_positive", "false_positive"]))
    return StoredAlert(
        id=new_id(),
        model=model,
        rule=draw(TEXT) + new_id(),  # a key of its own: open alerts would collide
        version=draw(TEXT),
        column=draw(TEXT),
        segment=draw(TEXT),
        metric=draw(TEXT),
        severity=draw(st.sampled_from(["warning", "critical"])),
        status=draw(st.sampled_from(["pending", "firing", "resolved"])),
        began=draw(TIMES),
        opened_at=draw(MAYBE_TIME),
        changed=draw(TIMES),
        resolved_at=draw(MAYBE_TIME),
        breached=draw(st.integers(0, 2**31 - 1)),
        clear=draw(st.integers(0, 2**31 - 1)),
        notified=draw(MAYBE_TIME),
        window_kind=draw(st.sampled_from(["tumbling", "rolling"])),
        window_start=draw(TIMES),
        window_end=draw(TIMES),
        value=draw(MAYBE_NUMBER),
        threshold=draw(NUMBERS),
        baseline=draw(MAYBE_NUMBER),
        message=draw(TEXT),
        point_status=draw(TEXT),
        acked_at=draw(MAYBE_TIME),
        acked_by=draw(st.none() | TEXT),
        verdict=verdict,
        verdict_by=draw(st.none() | TEXT),
        verdict_at=draw(MAYBE_TIME),
        verdict_note=draw(st.none() | TEXT),
    )


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_every_field_round_trips(store: SqlStore, data: st.DataObject) -> None:
    model = store.get_model("roundtrip") or register(store, "roundtrip")
    a = data.draw(stored_alerts(model.name))
    e = AlertEvent(
        a.id,
        data.draw(TIMES),
        data.draw(st.sampled_from(["pending", "opened", "escalated", "resolved", "silenced"])),
        data.draw(TEXT),
        data.draw(MAYBE_NUMBER),
        data.draw(MAYBE_NUMBER),
        data.draw(MAYBE_NUMBER),
        data.draw(MAYBE_TIME),
        data.draw(MAYBE_TIME),
        data.draw(TEXT),
        data.draw(st.none() | TEXT),
    )
    d = Delivery(
        new_id(),
        model.name,
        data.draw(TEXT),
        data.draw(TEXT),
        (a.id,),
        data.draw(TIMES),
        data.draw(st.sampled_from(["pending", "sent", "failed"])),
        data.draw(st.integers(0, 2**31 - 1)),
        data.draw(MAYBE_TIME),
        data.draw(st.none() | TEXT),
        data.draw(MAYBE_TIME),
    )
    starts = data.draw(TIMES.filter(lambda t: t < datetime(9999, 1, 1)))
    s = Silence(
        new_id(),
        data.draw(
            st.dictionaries(
                st.sampled_from(["rule", "model", "version", "column", "segment"]),
                TEXT,
                min_size=1,
            )
        ),
        starts,
        starts + data.draw(st.timedeltas(timedelta(microseconds=1), timedelta(days=365))),
        data.draw(TIMES),
        data.draw(st.none() | TEXT),
        data.draw(TEXT),
    )
    store.save_alerts(model, [a], [e], [d])
    store.add_silence(s)
    assert store.get_alert(a.id) == a
    assert store.alert_events(a.id) == [e]
    assert store.read_deliveries(alert_id=a.id, status=None, limit=5) == [d]
    assert s in store.list_silences(active_at=s.starts_at)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=st.lists(st.tuples(st.booleans(), st.sampled_from(["x", "y", "z"])), max_size=12))
def test_saves_in_any_order_keep_at_most_one_open_alert_per_key(
    store: SqlStore, steps: list[tuple[bool, str]]
) -> None:
    """Opening a new alert or resolving the open one, key by key, against a plain dict of what
    is open: the store refuses exactly the second open alert, and states follow the dict."""
    model = register(store, "k-" + new_id())
    open_now: dict[str, StoredAlert] = {}
    latest: dict[str, StoredAlert] = {}
    for i, (opening, column) in enumerate(steps):
        at = hours(i)
        if opening:
            a = alert(model, column=column, began=at, changed=at)
            if column in open_now:
                with pytest.raises(StoreError, match="one open alert per key"):
                    store.save_alerts(model, [a], [event(a)], [])
                continue
            store.save_alerts(model, [a], [event(a)], [])
            open_now[column] = latest[column] = a
        elif column in open_now:
            done = replace(open_now.pop(column), status="resolved", resolved_at=at, changed=at)
            store.save_alerts(model, [done], [event(done, "resolved", at=at)], [])
            latest[column] = done
        assert {a.column: a for a in store.alert_states(model)} == latest
    firing = store.read_alerts(
        model=model, status="firing", severity=None, rule=None, since=None, limit=100
    )
    assert sorted(a.id for a in firing) == sorted(a.id for a in open_now.values())


# -- two instances on one PostgreSQL --------------------------------------------------------


def _at_once(jobs: list[Callable[[], Any]]) -> list[Any]:
    """Run the jobs on threads released together; each one's result or exception."""
    barrier = threading.Barrier(len(jobs))
    results: list[Any] = [None] * len(jobs)

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = jobs[i]()
        except Exception as err:
            results[i] = err

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def test_two_instances_claiming_at_once_never_get_the_same_delivery(postgres_url: str) -> None:
    stores = [open_store(postgres_url) for _ in range(4)]
    try:
        model = register(stores[0])
        a = alert(model)
        queued = [delivery(model, a, created=T0 + timedelta(seconds=i)) for i in range(200)]
        stores[0].save_alerts(model, [a], [], queued)
        taken: list[list[str]] = [[] for _ in stores]

        def worker(i: int) -> Callable[[], None]:
            def claim_until_empty() -> None:
                while got := stores[i].claim_deliveries(
                    hours(1), f"w{i}", lease_seconds=600, limit=7
                ):
                    taken[i].extend(d.id for d in got)

            return claim_until_empty

        errors = [r for r in _at_once([worker(i) for i in range(len(stores))]) if r is not None]
        assert errors == []
        every = [d for ids in taken for d in ids]
        assert sorted(every) == sorted(d.id for d in queued)  # each once, none lost
        assert sum(1 for ids in taken if ids) >= 2  # they did claim side by side
    finally:
        for s in stores:
            s.close()


def test_two_instances_opening_one_key_at_once_keep_one_open_alert(postgres_url: str) -> None:
    stores = [open_store(postgres_url) for _ in range(2)]
    try:
        model = register(stores[0])
        for round_ in range(10):
            column = f"c{round_}"
            rivals = [alert(model, column=column) for _ in stores]
            results = _at_once(
                [
                    lambda s=s, r=r: s.save_alerts(model, [r], [event(r)], [])
                    for s, r in zip(stores, rivals, strict=True)
                ]
            )
            refused = [r for r in results if isinstance(r, StoreError)]
            assert len(refused) == 1 and results.count(None) == 1, results
            assert "one open alert per key" in str(refused[0])
            states = [s for s in stores[1].alert_states(model) if s.column == column]
            assert len(states) == 1 and states[0].id in {r.id for r in rivals}
    finally:
        for s in stores:
            s.close()


def test_acks_and_saves_of_one_alert_at_once_keep_every_event(
    postgres_url: str,
) -> None:
    stores = [open_store(postgres_url) for _ in range(3)]
    try:
        model = register(stores[0])
        a = alert(model)
        stores[0].save_alerts(model, [a], [event(a)], [])
        results = _at_once(
            [
                lambda: stores[0].save_alerts(model, [], [event(a, "repeated")] * 5, []),
                lambda: stores[1].mark_alert(a.id, "true_positive", actor="x", note=None, at=T0),
                lambda: stores[2].ack_alert(a.id, actor="y", at=T0),
            ]
        )
        assert not [r for r in results if isinstance(r, Exception)], results
        kinds = sorted(e.kind for e in stores[0].alert_events(a.id))
        assert kinds == ["acknowledged", "marked", "opened", *["repeated"] * 5]
    finally:
        for s in stores:
            s.close()
