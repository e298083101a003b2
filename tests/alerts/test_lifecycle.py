"""The alert lifecycle against a run-length model of it: an alert opens when a breach run
reaches the rule's `for`, resolves when a clear run reaches `resolve_after`, escalates in
place, and never opens twice for one key."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from vigil.alerts import AlertState, Finding, Policy, Rule, parse_rules, step
from vigil.alerts.rules import Hold
from vigil.store.base import MetricPoint

T0 = datetime(2026, 11, 2, tzinfo=timezone.utc)
HOUR = timedelta(hours=1)
RANK = {None: 0, "warning": 1, "critical": 2}
severities = st.lists(st.sampled_from([None, "warning", "critical"]), max_size=60)


def rule(evaluations: int = 1, resolve_after: int = 2, seconds: int | None = None) -> Rule:
    (r,) = parse_rules(
        [
            {
                "name": "r",
                "metric": "ops.error_rate",
                "above": {"warning": 0.1, "critical": 0.2},
                "for": f"{seconds}s" if seconds else evaluations,
                "resolve_after": resolve_after,
            }
        ]
    )
    return r


def finding(severity: str | None, i: int) -> Finding:
    start = T0 + i * HOUR
    p = MetricPoint("1", "tumbling", "", start, start + HOUR, "ops.error_rate", "", 0.0, "none")
    return Finding("r", "m", p, severity, 0.1, None, "")  # type: ignore[arg-type]


NO_REPEAT = Policy(repeat=None)


def run(r: Rule, seq: list[str | None], policy: Policy = NO_REPEAT):
    state: AlertState | None = None
    events = []
    for i, severity in enumerate(seq):
        state, event = step(state, finding(severity, i), r, T0 + i * HOUR, policy)
        if event is not None:
            events.append((i, event.kind, event.alert.severity))
    return state, events


@settings(max_examples=300, deadline=None)
@given(seq=severities, n=st.integers(1, 4), resolve_after=st.integers(1, 4))
def test_open_and_resolve_follow_the_run_lengths(seq, n: int, resolve_after: int) -> None:
    _, events = run(rule(n, resolve_after), seq)
    expected = []
    firing, breach_run, clear_run, top = False, 0, 0, 0
    for i, severity in enumerate(seq):
        if severity is None:
            breach_run, clear_run = 0, clear_run + 1
            if firing and clear_run >= resolve_after:
                expected.append((i, "resolved", ("warning", "critical")[top - 1]))
                firing, top = False, 0
            if not firing:
                top = 0
            continue
        breach_run, clear_run = breach_run + 1, 0
        if firing:
            if RANK[severity] > top:
                top = RANK[severity]
                expected.append((i, "escalated", severity))
            continue
        top = max(top, RANK[severity])
        if breach_run >= n:
            firing = True
            expected.append((i, "opened", ("warning", "critical")[top - 1]))
    assert events == expected


@settings(max_examples=200, deadline=None)
@given(seq=severities)
def test_one_alert_per_key_and_its_severity_never_falls_while_it_fires(seq) -> None:
    _, events = run(rule(2, 2), seq)
    open_now = False
    severity = 0
    for _, kind, sev in events:
        if kind == "opened":
            assert not open_now
            open_now, severity = True, RANK[sev]
        elif kind == "escalated":
            assert open_now and RANK[sev] > severity
            severity = RANK[sev]
        else:
            assert open_now and RANK[sev] == severity
            open_now = False


def test_a_duration_hold_fires_once_the_breach_has_lasted_that_long() -> None:
    r = rule(seconds=3 * 3600)
    assert r.hold == Hold(seconds=3 * 3600)
    _, events = run(r, ["warning"] * 5)
    assert events == [(3, "opened", "warning")]  # breached since hour 0, 3 h at hour 3
    _, events = run(r, ["warning", "warning", None, "warning", "warning", "warning", "warning"])
    assert events == [(6, "opened", "warning")]  # the clear at hour 2 restarted the clock


def test_cooldown_keeps_a_resolved_alert_closed_and_repeat_reminds() -> None:
    r = rule(1, 1)
    policy = Policy(cooldown=3 * 3600, repeat=None)
    _, events = run(r, ["critical", None, "critical", "critical", "critical"], policy)
    # resolved at hour 1; breaches at hours 2 and 3 fall in the cooldown; hour 4 reopens
    assert events == [
        (0, "opened", "critical"),
        (1, "resolved", "critical"),
        (4, "opened", "critical"),
    ]
    _, events = run(r, ["warning"] * 6, Policy(repeat=2 * 3600))
    assert events == [
        (0, "opened", "warning"),
        (2, "repeated", "warning"),
        (4, "repeated", "warning"),
    ]


def test_the_state_carries_the_latest_evidence_and_the_times() -> None:
    state, events = run(rule(2, 2), ["warning", "critical", "warning", None])
    assert [e[1] for e in events] == ["opened"]
    assert state is not None and state.status == "firing" and state.severity == "critical"
    assert state.began == T0 and state.changed == T0 + HOUR and state.clear == 1
    assert state.finding.point.start == T0 + 3 * HOUR
    assert state.key == ("r", "m", "1", "", "")


@settings(max_examples=200, deadline=None)
@given(again=st.lists(st.integers(1, 4), min_size=1, max_size=6), n=st.integers(2, 5))
def test_the_same_window_judged_again_counts_once_toward_for(again: list[int], n: int) -> None:
    """`for: n` asks for n windows in a row: each window judged `k` times (more rows, more
    labels) still counts once, so the alert fires on the n-th window, whatever the k."""
    r = rule(n)
    state: AlertState | None = None
    fired_at = None
    for window, times in enumerate(again):
        for _ in range(times):
            state, event = step(state, finding("warning", window), r, T0 + window * HOUR)
            if event is not None and event.kind == "opened" and fired_at is None:
                fired_at = window
    assert fired_at == (n - 1 if len(again) >= n else None)
