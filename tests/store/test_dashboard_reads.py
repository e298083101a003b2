"""The dashboard's alert, window and quarantine reads over DuckDB and PostgreSQL, each against
the same answer worked out in Python from what was written."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from vigil.store import SqlStore
from vigil.store.base import MetricPoint, Quarantined, WindowKey, utcnow

from .records import HOUR, T0, finish, hours, predictions, register
from .test_alerts_store import alert, event

HOURS = timedelta(hours=1)


def test_alert_spans_reach_back_to_the_first_evidence_and_honour_range_and_filters(
    store: SqlStore,
) -> None:
    model = register(store, "churn")
    other = register(store, "fraud")
    # opened on hours(0)'s window, its latest evidence now hours(5)'s
    early = alert(model, window_start=hours(5), window_end=hours(6), changed=T0)
    early_events = [
        event(replace(early, window_start=hours(0), window_end=hours(1)), "pending"),
        event(early, "opened"),
    ]
    gone = alert(
        model, status="resolved", window_start=hours(1), window_end=hours(2),
        resolved_at=T0, changed=T0 + timedelta(minutes=1), rule="ks", severity="critical",
    )  # fmt: skip
    late = alert(model, window_start=hours(20), window_end=hours(21), changed=T0, column="y")
    foreign = alert(other, window_start=hours(0), window_end=hours(1))
    store.save_alerts(model, [early], early_events, [])
    store.save_alerts(model, [gone, late], [event(gone), event(late)], [])
    store.save_alerts(other, [foreign], [event(foreign)], [])

    def ids(**kwargs: object) -> list[str]:
        return [s.alert.id for s in store.alert_spans(model, **kwargs)]  # type: ignore[arg-type]

    spans = {s.alert.id: s for s in store.alert_spans(model)}
    assert set(spans) == {early.id, gone.id, late.id}
    assert spans[early.id].first_start == hours(0)  # from its first event, not its latest
    assert spans[early.id].alert == early
    assert spans[gone.id].first_start == hours(1)
    # open alerts first, then by their last change, newest first
    assert ids()[-1] == gone.id
    assert ids(since=hours(0), until=hours(10)) == [early.id, gone.id]
    # a resolved alert whose evidence ended before the range is left out; an open one stays
    assert set(ids(since=hours(3), until=hours(30))) == {early.id, late.id}
    # an alert whose first evidence starts at or after `until` is left out
    assert set(ids(until=hours(20))) == {early.id, gone.id}
    assert ids(status="resolved") == [gone.id]
    assert ids(severity="critical") == [gone.id]
    assert set(ids(rule="psi")) == {early.id, late.id}
    assert ids(rule="no-such-rule") == []
    assert len(ids(limit=2)) == 2
    assert [s.alert.id for s in store.alert_spans(other)] == [foreign.id]


def _point(start_hour: int, metric: str, status: str, segment: str = "") -> MetricPoint:
    return MetricPoint(
        "v1", "tumbling", segment, hours(start_hour), hours(start_hour + 1), metric, "x",
        0.1, status, None,
    )  # fmt: skip


def test_window_statuses_are_the_worst_whole_window_point_of_each_window(
    store: SqlStore,
) -> None:
    model = register(store)
    store.write_predictions(
        model, [predictions(["a", "b", "c"], at=[hours(0), hours(1), hours(2)])], [],
        window_seconds=HOUR,
    )  # fmt: skip
    written = {
        0: [_point(0, "drift.psi", "warning"), _point(0, "drift.ks", "ok")],
        1: [_point(1, "drift.psi", "ok"), _point(1, "drift.ks", "critical", "region=north")],
        2: [_point(2, "drift.psi", "none"), _point(2, "drift.ks", "critical")],
    }
    for h, points in written.items():
        finish(store, model, WindowKey("v1", "tumbling", hours(h), hours(h + 1)), points)
    rank = {"none": 0, "pending": 1, "ok": 2, "warning": 3, "critical": 4}
    expected = {
        ("v1", hours(h)): max((p.status for p in points if p.segment == ""), key=rank.__getitem__)
        for h, points in written.items()
    }
    assert store.window_statuses(model) == expected
    assert expected[("v1", hours(1))] == "ok"  # a segment's critical point is not the window's
    assert store.window_statuses(model, since=hours(1), until=hours(2)) == {("v1", hours(1)): "ok"}


def test_quarantine_between_reads_the_records_received_in_the_range_newest_first(
    store: SqlStore,
) -> None:
    model = register(store)
    before = utcnow() - timedelta(seconds=1)
    rejected = [
        Quarantined("prediction", i, f"r{i}", (f"field <b>{i}</b>: wrong", "second reason"),
                    f'{{"id": "r{i}"}}')
        for i in range(5)
    ]  # fmt: skip
    store.write_predictions(model, [predictions(["ok"])], rejected, window_seconds=HOUR)
    after = utcnow() + timedelta(seconds=1)
    found = store.quarantine_between(model, since=before, until=after, limit=100)
    assert [q.record_id for q in found] == [f"r{i}" for i in range(5)]  # one batch: by index
    assert found[2].reasons == ("field <b>2</b>: wrong", "second reason")
    assert found[2].payload == '{"id": "r2"}' and found[2].kind == "prediction"
    assert before <= found[0].received < after
    assert len(store.quarantine_between(model, since=before, until=after, limit=3)) == 3
    assert store.quarantine_between(model, since=after, until=after + HOURS, limit=100) == []
    assert store.quarantine_between(model, since=before - HOURS, until=before, limit=100) == []
    other = register(store, "fraud")
    assert store.quarantine_between(other, since=before, until=after, limit=100) == []
