"""Window bookkeeping, metric points, references and retention, over DuckDB and PostgreSQL."""

from __future__ import annotations

import time
from datetime import timedelta

from vigil.store import SqlStore
from vigil.store.base import MetricPoint, WindowKey, WindowKind
from vigil.store.sql import ROLLING_START

from .records import T0, finish, hours, labels, predictions, register, write


def tumbling(n: int, version: str = "v1") -> WindowKey:
    return WindowKey(version, "tumbling", hours(n), hours(n + 1))


def point(
    key: WindowKey, metric: str, column: str = "x", segment: str = "", value: float = 0.5
) -> MetricPoint:
    return MetricPoint(
        key.version, key.kind, segment, key.start, key.end, metric, column, value, "ok"
    )


def test_a_write_marks_its_windows_dirty(store: SqlStore) -> None:
    model = register(store)
    write(store, model, predictions(["a", "b"], at=[hours(0), hours(2)]))
    states = store.window_states(model, dirty_only=True)
    kinds: list[tuple[WindowKind, object]] = [(s.key.kind, s.key.start) for s in states]
    assert kinds == [("rolling", ROLLING_START), ("tumbling", hours(0)), ("tumbling", hours(2))]
    assert all(s.is_dirty and s.computed_generation == 0 for s in states)
    store.mark_windows(model, [tumbling(7)])
    assert tumbling(7) in [s.key for s in store.window_states(model, dirty_only=True)]


def test_a_claim_blocks_other_owners_until_its_lease_ends(store: SqlStore) -> None:
    model = register(store)
    write(store, model, predictions(["a"]))
    key = tumbling(0)
    generation = store.claim_window(model, key, "one", lease_seconds=60)
    assert generation == 1
    assert store.claim_window(model, key, "two", lease_seconds=60) is None
    assert store.claim_window(model, key, "one", lease_seconds=60) == generation  # its own
    store.release_window(model, key, "one")
    assert store.claim_window(model, key, "two", lease_seconds=0.0) == generation
    time.sleep(0.002)  # the lease of "two" ends now; no assertion on time beyond that
    assert store.claim_window(model, key, "three", lease_seconds=60) == generation
    # an owner whose lease was taken over cannot store results
    store.finish_window(
        model, key, owner="two", generation=1, rows=1, labelled=0, report="stale", points=[]
    )
    assert key in [s.key for s in store.window_states(model, dirty_only=True)]


def test_finishing_stores_results_until_new_rows_arrive(store: SqlStore) -> None:
    model = register(store)
    write(store, model, predictions(["a"]))
    key = tumbling(0)
    generation = finish(store, model, key, [point(key, "drift.psi")], report='{"r": 1}')
    state = next(s for s in store.window_states(model, dirty_only=False) if s.key == key)
    assert (state.is_dirty, state.computed_generation, state.rows) == (False, generation, 1)
    assert state.computed_at is not None
    assert store.claim_window(model, key, "worker", lease_seconds=60) is None  # nothing new
    write(store, model, predictions(["b"], at=T0 + timedelta(minutes=5)))
    state = next(s for s in store.window_states(model, dirty_only=True) if s.key == key)
    assert state.generation == generation + 1


def test_points_are_read_by_every_filter(store: SqlStore) -> None:
    model = register(store)
    register(store, version="v2")
    h0, h1, v2 = tumbling(0), tumbling(1), tumbling(1, "v2")
    rolling = WindowKey("v1", "rolling", ROLLING_START, hours(2))
    store.mark_windows(model, [h0, h1, v2, rolling])
    finish(store, model, h0, [point(h0, "drift.psi"), point(h0, "drift.psi", segment="c=r")])
    finish(store, model, h1, [point(h1, "drift.psi"), point(h1, "quality.missing", "colour")])
    finish(store, model, v2, [point(v2, "drift.psi", value=0.9)], report="v2 report")
    finish(store, model, rolling, [point(rolling, "drift.psi", value=0.1)])

    def read(**filters: object) -> list[tuple[str, str, str, str, str]]:
        options: dict[str, object] = {
            "metric": None,
            "column": None,
            "segment": None,
            "version": None,
            "kind": None,
            "since": None,
            "until": None,
            "limit": 100,
        }
        points = store.read_points(model, **(options | filters))  # type: ignore[arg-type]
        return [(p.version, p.kind, p.start.strftime("%H"), p.segment, p.metric) for p in points]

    assert len(read()) == 6
    assert read(metric="quality.missing") == [("v1", "tumbling", "01", "", "quality.missing")]
    assert read(column="colour") == read(metric="quality.missing")
    assert read(segment="c=r") == [("v1", "tumbling", "00", "c=r", "drift.psi")]
    assert [p[0] for p in read(version="v2")] == ["v2"]
    assert [p[1] for p in read(kind="rolling")] == ["rolling"]
    assert {p[2] for p in read(since=hours(1), kind="tumbling")} == {"01"}
    assert {p[2] for p in read(until=hours(1), kind="tumbling")} == {"00"}
    assert len(read(limit=2)) == 2
    latest = {(p.version, p.metric, p.start) for p in store.latest_points(model)}
    assert latest == {
        ("v1", "drift.psi", hours(1)),
        ("v1", "quality.missing", hours(1)),
        ("v2", "drift.psi", hours(1)),
    }
    assert store.latest_report(model, "v1") is None  # v1's windows stored no report
    assert store.latest_report(model, None) == (v2, "v2 report")
    # recomputing a tumbling window replaces its points
    store.mark_windows(model, [h0])
    finish(store, model, h0, [point(h0, "drift.ks")])
    assert {p[4] for p in read(kind="tumbling", until=hours(1))} == {"drift.ks"}


def test_a_new_reference_replaces_the_old_and_redoes_the_windows(store: SqlStore) -> None:
    model = register(store)
    register(store, version="v2")
    assert store.get_reference(model, "v1") is None
    store.put_reference(model, "v1", b"PAR1 old", rows=10)
    write(store, model, predictions(["a"]), predictions(["b"], version="v2"))
    finish(store, model, tumbling(0))
    finish(store, model, tumbling(0, "v2"))
    store.put_reference(model, "v1", b"PAR1 new \x00\xff", rows=20)
    assert store.get_reference(model, "v1") == b"PAR1 new \x00\xff"
    assert store.reference_versions(model)["v1"][0] == 20
    dirty = {(s.key.version, s.key.kind) for s in store.window_states(model, dirty_only=True)}
    assert ("v1", "tumbling") in dirty and ("v2", "tumbling") not in dirty


def test_retention_drops_old_rows_and_their_labels_but_keeps_points(store: SqlStore) -> None:
    model = register(store)
    write(store, model, predictions(["old"], at=hours(0)), predictions(["new"], at=hours(5)))
    store.write_labels(model, [labels(["old", "new"], [1.0, 0.0])], [], window_seconds=3600)
    finish(store, model, tumbling(0), [point(tumbling(0), "drift.psi")])
    assert store.drop_predictions_before(model, hours(3)) == 1
    assert store.window_counts(model, "v1", hours(0), hours(1)) == (0, 0)
    assert store.window_counts(model, "v1", hours(5), hours(6)) == (1, 1)
    kept = store.read_points(
        model,
        metric=None,
        column=None,
        segment=None,
        version=None,
        kind=None,
        since=None,
        until=None,
        limit=10,
    )
    assert [(p.start, p.metric) for p in kept] == [(hours(0), "drift.psi")]
    # the old label went with its prediction: sending it again stores it again, pending
    again = store.write_labels(model, [labels(["old"], [1.0])], [], window_seconds=3600)
    assert (again[0].accepted, again[0].pending) == (1, 1)


def test_extra_columns_are_kept_as_text(store: SqlStore) -> None:
    model = register(store)
    wider = store.add_extra_columns(model, ["browser", "x", "os; --"])
    added = [(c.name, c.role, c.storage) for c in wider.columns[len(model.columns) :]]
    assert added == [("browser", "extra", "VARCHAR"), ("os; --", "extra", "VARCHAR")]
    assert store.add_extra_columns(wider, ["browser"]) is wider
    write(store, wider, predictions(["a"], browser=["firefox"]))
    window = store.read_window(wider, "v1", T0, hours(1))
    assert window.column("browser").to_pylist() == ["firefox"]
    assert window.column("os; --").to_pylist() == [None]


def test_a_failure_is_counted_with_its_reason_and_holds_the_window_until_its_retry_time(
    store: SqlStore,
) -> None:
    model = register(store)
    write(store, model, predictions(["a"]))
    key = tumbling(0)
    later = T0 + timedelta(days=1)
    assert store.claim_window(model, key, "w", lease_seconds=60) == 1
    assert store.fail_window(model, key, owner="w", error="no column x", retry_at=later) == 1
    state = next(s for s in store.window_states(model, dirty_only=True) if s.key == key)
    assert (state.failures, state.last_error, state.retry_at) == (1, "no column x", later)
    assert state.is_dirty and state.computed_generation == 0  # still to be computed
    # not claimed before its retry time, claimed from then on, or when asked without one
    assert store.claim_window(model, key, "w", lease_seconds=60, retry_before=T0) is None
    assert store.claim_window(model, key, "w", lease_seconds=60, retry_before=later) == 1
    assert store.fail_window(model, key, owner="w", error="again", retry_at=later) == 2
    assert store.claim_window(model, key, "w", lease_seconds=60) == 1  # no retry_before: forced
    # an owner that does not hold the window records nothing
    assert store.fail_window(model, key, owner="other", error="stale", retry_at=later) == 0
    state = next(s for s in store.window_states(model, dirty_only=True) if s.key == key)
    assert (state.failures, state.last_error) == (2, "again")


def test_new_rows_a_new_reference_or_a_redo_lift_the_retry_time_but_keep_the_count(
    store: SqlStore,
) -> None:
    model = register(store)
    write(store, model, predictions(["a"]))
    key = tumbling(0)
    far = T0 + timedelta(days=365)

    def fail_and_then(change: object) -> tuple[int, object]:
        generation = store.claim_window(model, key, "w", lease_seconds=60)
        assert generation is not None
        store.fail_window(model, key, owner="w", error="boom", retry_at=far)
        assert store.claim_window(model, key, "w", lease_seconds=60, retry_before=T0) is None
        change()  # type: ignore[operator]
        state = next(s for s in store.window_states(model, dirty_only=True) if s.key == key)
        return state.failures, state.retry_at

    assert fail_and_then(lambda: write(store, model, predictions(["b"]))) == (1, None)
    assert fail_and_then(
        lambda: store.write_labels(model, [labels(["a"], [1.0])], [], window_seconds=3600)
    ) == (2, None)
    assert fail_and_then(lambda: store.put_reference(model, "v1", b"PAR1", rows=1)) == (3, None)
    assert fail_and_then(lambda: store.redo_windows(model, T0, hours(1))) == (4, None)
    assert store.claim_window(model, key, "w", lease_seconds=60, retry_before=T0) is not None


def test_a_success_clears_the_failure(store: SqlStore) -> None:
    model = register(store)
    write(store, model, predictions(["a"]))
    key = tumbling(0)
    store.claim_window(model, key, "w", lease_seconds=60)
    store.fail_window(model, key, owner="w", error="boom", retry_at=T0)
    finish(store, model, key)
    state = next(s for s in store.window_states(model, dirty_only=False) if s.key == key)
    assert (state.failures, state.last_error, state.retry_at, state.is_dirty) == (
        0,
        None,
        None,
        False,
    )
    assert store.count_failed_windows(model) == 0


def test_failed_windows_are_listed_and_counted(store: SqlStore) -> None:
    model = register(store)
    other = register(store, "other")
    write(store, model, predictions(["a", "b", "c"], at=[hours(0), hours(1), hours(2)]))
    write(store, other, predictions(["a"]))
    for n in (0, 2):
        store.claim_window(model, tumbling(n), "w", lease_seconds=60)
        store.fail_window(model, tumbling(n), owner="w", error=f"bad {n}", retry_at=hours(9))
    finish(store, model, tumbling(1))
    assert store.count_failed_windows(model) == 2 and store.count_failed_windows(other) == 0
    assert store.stats()["failed_windows"] == 2

    def listed(**filters: object) -> list[tuple[str, str, str | None]]:
        options: dict[str, object] = {
            "version": None,
            "kind": None,
            "failed": False,
            "since": None,
            "until": None,
            "limit": 100,
        }
        found = store.read_windows(model, **(options | filters))  # type: ignore[arg-type]
        return [(s.key.kind, s.key.start.strftime("%H"), s.last_error) for s in found]

    # newest first; the rolling window by its end, which is when it was last due
    assert [k for k, _, _ in listed()] == ["rolling", "tumbling", "tumbling", "tumbling"]
    assert listed(failed=True) == [("tumbling", "02", "bad 2"), ("tumbling", "00", "bad 0")]
    assert listed(kind="tumbling", since=hours(1)) == [
        ("tumbling", "02", "bad 2"),
        ("tumbling", "01", None),
    ]
    assert listed(kind="tumbling", until=hours(1)) == [("tumbling", "00", "bad 0")]
    assert listed(version="v2") == []
    assert len(listed(limit=1)) == 1


def test_a_failure_reason_is_kept_whatever_its_text(store: SqlStore) -> None:
    model = register(store)
    write(store, model, predictions(["a"]))
    key = tumbling(0)
    store.claim_window(model, key, "w", lease_seconds=60)
    hostile = "column 'x\x00'; DROP TABLE windows; -- " + "é" * 100_000
    assert store.fail_window(model, key, owner="w", error=hostile, retry_at=T0) == 1
    (state,) = store.read_windows(
        model, version=None, kind="tumbling", failed=True, since=None, until=None, limit=10
    )
    assert state.last_error is not None
    assert state.last_error.startswith("column 'x\ufffd'; DROP TABLE windows; -- éé")
    assert len(state.last_error) <= 2000
    assert store.stats()["windows"] == 2
