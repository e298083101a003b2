"""Actions: the config, the retraining policy (min_interval, budget, the cron schedule once
across restarts), rollback, promotion, and the calls — a real HTTP receiver for the webhook, a
real program for the command, a real store."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.store.conftest import postgres_url, store_url  # noqa: F401 (fixtures)

from vigil.alerts.actions import (
    Actions,
    ActionSettings,
    CommandTarget,
    HookTarget,
    RetrainPolicy,
    RollbackPolicy,
    last_cron,
    parse_actions,
)
from vigil.alerts.notice import AlertView
from vigil.errors import ConfigError
from vigil.store import SqlStore, open_store
from vigil.store.base import ModelInfo

from .receivers import Recorder, free_port
from .shadow import register, shadow

MONDAY = datetime(2026, 11, 2, 3, 0)  # a Monday, 03:00 UTC
ALLOW = ["127.0.0.1"]


@pytest.fixture
def store(store_url: str) -> Iterator[SqlStore]:  # noqa: F811 (the fixture)
    """A store on each backend: the policy reads its own decisions back from it."""
    opened = open_store(store_url)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def receiver() -> Iterator[Recorder]:
    with Recorder() as recorder:
        yield recorder


def view(
    rule: str, severity: str = "critical", event: str = "opened", column: str = "age"
) -> AlertView:
    return AlertView(
        event=event,  # type: ignore[arg-type]
        rule=rule,
        model="credit",
        version="1",
        column=column,
        segment="",
        severity=severity,
        metric="drift.psi",
        value=0.4,
        threshold=0.25,
        baseline=None,
        window_start=MONDAY,
        window_end=MONDAY + timedelta(hours=1),
        message=f"psi of {column} is 0.4, at or above 0.25",
        began=MONDAY,
        resolved_at=None,
        alert_id="a" * 32,
    )


def retrain_settings(url: str, **policy: Any) -> ActionSettings:
    target = HookTarget(url, secret="s3cret")
    return ActionSettings(
        retrain=RetrainPolicy(target, drift=("psi-tiers",), performance=("auc-floor",), **policy)
    )


def records(store: SqlStore, model: ModelInfo, kind: str | None = None) -> list[Any]:
    return store.read_actions(model, kind=kind, since=None, limit=1000)


# -- the config -----------------------------------------------------------------------------


def test_the_documented_config_reads() -> None:
    settings = parse_actions(
        {
            "retrain": {
                "webhook": {
                    "url": "https://airflow.internal/api/v1/dags/retrain/dagRuns",
                    "secret": "x",
                    "headers": {"Authorization": "Basic dmlnaWw6cHc="},
                    "body": "airflow",
                },
                "schedule": "0 3 * * 1",
                "on": {"drift": ["psi-tiers"], "performance": ["accuracy-floor"]},
                "severity": "critical",
                "min_interval": "1d",
                "monthly_budget": 4,
                "models": "*",
            },
            "rollback": {
                "enabled": True,
                "command": {"argv": ["./rollback.sh", "--now"], "timeout": "2m"},
                "on": ["checkout-sla"],
            },
            "challenger": {
                "credit": {
                    "champion": "1",
                    "challenger": 2,
                    "metric": "roc_auc",
                    "pair_by": "request_id",
                    "promote": {"enabled": False, "webhook": {"url": "http://127.0.0.1/p"}},
                }
            },
        },
        ["airflow.internal", "127.0.0.1"],
    )
    retrain = settings.retrain
    assert retrain is not None and isinstance(retrain.target, HookTarget)
    assert retrain.target.body == "airflow" and retrain.schedule == "0 3 * * 1"
    assert retrain.drift == ("psi-tiers",) and retrain.performance == ("accuracy-floor",)
    assert retrain.min_interval == 86400 and retrain.monthly_budget == 4
    assert retrain.models is None and retrain.enabled
    assert settings.rollback.enabled and settings.rollback.rules == ("checkout-sla",)
    assert settings.rollback.target == CommandTarget(("./rollback.sh", "--now"), 120.0)
    plan = settings.challengers["credit"]
    assert (plan.champion, plan.challenger, plan.metric) == ("1", "2", "roc_auc")
    assert plan.min_pairs == 500 and plan.n_resamples == 2000 and not plan.promote
    # secrets stay out of reprs
    assert "dmlnaWw6cHc" not in repr(settings) and "airflow.internal" not in repr(settings)
    assert parse_actions(None, []) == ActionSettings()


HOOK = {"webhook": {"url": "http://127.0.0.1:9/x"}}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"retrain": {**HOOK, "schedule": "0 3 * *"}}, r"retrain\.schedule: '0 3 \* \*' is not"),
        ({"retrain": {**HOOK, "schedule": "61 3 * * 1"}}, r"retrain\.schedule"),
        ({"retrain": {**HOOK, "schedule": 5}}, r"retrain\.schedule"),
        ({"retrain": {**HOOK, "schedule": "0 3 31 2 *"}}, r"schedule: '0 3 31 2 \*' never comes"),
        ({"retrain": {**HOOK, "schedule": "@daily"}}, r"retrain\.schedule"),
        ({"retrain": {**HOOK, "shedule": "0 3 * * 1"}}, r"retrain: unknown key\(s\) shedule"),
        ({"retrian": {}}, r"actions: unknown key\(s\) retrian"),
        ({"retrain": {"webhook": {"url": "https://evil.example/x"}}}, r"webhook\.url: the host"),
        ({"retrain": {"webhook": {"url": "ftp://127.0.0.1/x"}}}, r"webhook\.url: expected"),
        ({"retrain": {**HOOK, "min_interval": "soon"}}, r"min_interval: 'soon' is not a dur"),
        ({"retrain": {**HOOK, "on": {"drift": [3]}}}, r"on\.drift\[0\]: expected a rule name"),
        ({"retrain": {**HOOK, "on": {"drift": "psi"}}}, r"on\.drift: expected a list"),
        ({"retrain": {**HOOK, "on": {"dirft": []}}}, r"on: unknown key\(s\) dirft"),
        ({"retrain": {**HOOK, "monthly_budget": 0}}, r"monthly_budget: expected a whole"),
        ({"retrain": {**HOOK, "monthly_budget": True}}, r"monthly_budget"),
        ({"retrain": {**HOOK, "severity": "high"}}, r"severity: expected warning or critical"),
        ({"retrain": {**HOOK, "enabled": "yes"}}, r"enabled: expected true or false"),
        ({"retrain": {"schedule": "0 3 * * 1"}}, r"retrain: give a webhook or a command"),
        ({"retrain": {**HOOK, "command": ["x"]}}, r"not both"),
        ({"retrain": {"command": "./retrain.sh --fast"}}, r"command: expected a list"),
        ({"retrain": {"command": ["a\x00b"]}}, r"command: expected a list"),
        ({"retrain": {"webhook": {"url": "http://127.0.0.1/", "body": "x"}}}, r"body: expected"),
        ({"retrain": {"webhook": {"url": "http://127.0.0.1/", "headers": {"a": 1}}}}, "headers"),
        ({"rollback": {"enabled": True, "on": ["sla"]}}, r"rollback: enabled, but no webhook"),
        ({"rollback": {**HOOK, "on": [None]}}, r"rollback\.on\[0\]"),
        ({"challenger": []}, r"challenger: expected a mapping"),
        (
            {"challenger": {"m": {"champion": "1", "challenger": "1", "metric": "roc_auc"}}},
            "both '1'",
        ),
        (
            {"challenger": {"m": {"champion": "1", "challenger": "2", "metric": "auc"}}},
            r"challenger\.m\.metric: expected one of",
        ),
        (
            {
                "challenger": {
                    "m": {"champion": "1", "challenger": "2", "metric": "f1", "confidence": 2}
                }
            },
            r"confidence",
        ),
        (
            {
                "challenger": {
                    "m": {
                        "champion": "1",
                        "challenger": "2",
                        "metric": "f1",
                        "promote": {"enabled": True},
                    }
                }
            },
            r"promote: enabled, but no",
        ),
        ("retrain", r"alerts\.actions: expected a mapping"),
    ],
)
def test_config_mistakes_name_the_key(data: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_actions(data, ALLOW)


def test_a_refused_url_is_not_repeated_in_the_error() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_actions({"retrain": {"webhook": {"url": "ftp://host/token-123"}}}, ALLOW)
    assert "token-123" not in str(caught.value)


# -- alerts ask for retrains ----------------------------------------------------------------


def test_a_critical_drift_alert_retrains_once_through_a_signed_webhook(
    store: SqlStore, receiver: Recorder
) -> None:
    model = register(store)
    actions = Actions(store, retrain_settings(receiver.url("/dag")), clock=lambda: MONDAY)
    views = [view("psi-tiers"), view("psi-tiers", column="income"), view("auc-floor")]
    actions.on_events(model, views, MONDAY)
    assert len(receiver.received) == 1  # one model's alerts in one call ask once
    got = receiver.received[0]
    body = json.loads(got.body)
    assert body["model"] == "credit" and body["kind"] == "retrain"
    assert body["trigger"] == "drift" and body["decided_at"] == "2026-11-02T03:00:00Z"
    assert "psi-tiers" in body["reason"] and "(and 1 more)" in body["reason"]
    assert [a["column"] for a in body["evidence"]["alerts"]] == ["age", "income"]
    stamp = got.headers["x-vigil-timestamp"]
    expected = hmac.new(b"s3cret", stamp.encode() + b"." + got.body, hashlib.sha256)
    assert got.headers["x-vigil-signature"] == f"sha256={expected.hexdigest()}"
    [decision] = records(store, model)
    assert decision.taken and decision.outcome == "sent" and decision.id == body["id"]
    assert decision.trigger == "drift"


def test_performance_alone_warnings_and_other_events_ask_as_configured(
    store: SqlStore, receiver: Recorder
) -> None:
    model = register(store)
    actions = Actions(store, retrain_settings(receiver.url("/dag")), clock=lambda: MONDAY)
    actions.on_events(model, [view("psi-tiers", severity="warning")], MONDAY)
    actions.on_events(model, [view("psi-tiers", event="repeated")], MONDAY)
    actions.on_events(model, [view("psi-tiers", event="resolved")], MONDAY)
    actions.on_events(model, [view("other-rule")], MONDAY)
    assert receiver.received == [] and records(store, model) == []
    actions.on_events(model, [view("auc-floor", event="escalated")], MONDAY)
    assert [r.trigger for r in records(store, model)] == ["performance"]
    warning = Actions(
        store, retrain_settings(receiver.url("/dag"), severity="warning"), clock=lambda: MONDAY
    )
    warning.on_events(model, [view("psi-tiers", severity="warning")], MONDAY)
    assert len(receiver.received) == 2


def test_min_interval_and_budget_skip_with_the_reason(store: SqlStore, receiver: Recorder) -> None:
    model = register(store)
    actions = Actions(
        store,
        retrain_settings(receiver.url("/dag"), min_interval=86400, monthly_budget=2),
        clock=lambda: MONDAY + timedelta(hours=2),
    )
    actions.on_events(model, [view("psi-tiers")], MONDAY)
    actions.on_events(model, [view("psi-tiers")], MONDAY + timedelta(hours=1))
    latest = records(store, model)[0]
    assert not latest.taken and latest.outcome is None
    assert "the last retrain was at 2026-11-02T03:00:00Z (drift), less than 1d ago" in (
        latest.reason
    )
    # a person's request is not held back by min_interval, only by the budget
    manual = actions.retrain_now(model, "new data from the warehouse", "alice")
    assert manual.taken and manual.outcome == "sent"
    assert json.loads(receiver.received[-1].body)["actor"] == "alice"
    again = actions.retrain_now(model, "once more", "alice")
    assert not again.taken and "2 of 2 retrains this month are used" in again.reason
    assert "renews on 2026-12-01T00:00:00Z" in again.reason
    # next month the budget is fresh
    actions.on_events(model, [view("psi-tiers")], datetime(2026, 12, 1, 5, 0))
    assert records(store, model)[0].taken
    assert len(receiver.received) == 3


def test_a_failed_call_is_recorded_and_uses_no_budget(store: SqlStore) -> None:
    model = register(store)
    answers = {"/dag?token=tok-9": (500, {}), "/moved?token=tok-9": (302, {"location": "/x"})}
    with Recorder(answers=answers) as r:
        for path, failure in (("/dag", "HTTP 500 (refused)"), ("/moved", "a redirect, not")):
            settings = retrain_settings(r.url(path) + "?token=tok-9", monthly_budget=1)
            decision = Actions(store, settings).retrain_now(model, "try", None)
            assert decision.taken and failure in (decision.outcome or "")
            assert "tok-9" not in (decision.outcome or "") and "127.0.0.1" not in decision.reason
    gone = retrain_settings(f"http://127.0.0.1:{free_port()}/dag", monthly_budget=1)
    decision = Actions(store, gone).retrain_now(model, "try", None)
    assert decision.outcome == "the webhook could not be reached (ConnectError)"
    summary = Actions(store, gone).summary(model, datetime.now())
    assert summary.failed_this_month == 3 and summary.this_month["manual"] == 0


def test_the_airflow_body_is_a_dag_run(store: SqlStore, receiver: Recorder) -> None:
    model = register(store)
    target = HookTarget(
        receiver.url("/api/v1/dags/retrain/dagRuns"),
        body="airflow",
        headers={"Authorization": "Basic abc"},
    )
    actions = Actions(store, ActionSettings(retrain=RetrainPolicy(target)))
    decision = actions.retrain_now(model, "by hand", "bob")
    got = receiver.received[0]
    body = json.loads(got.body)
    assert set(body) == {"dag_run_id", "conf"}
    assert body["dag_run_id"] == f"vigil-retrain-{decision.id}"
    assert body["conf"]["model"] == "credit" and body["conf"]["reason"] == "by hand"
    assert got.headers["authorization"] == "Basic abc"
    assert "x-vigil-signature" not in got.headers  # no secret, no signature


# -- the command ----------------------------------------------------------------------------


def script(tmp_path: Path, code: str) -> tuple[str, ...]:
    path = tmp_path / "retrain.py"
    path.write_text(code)
    return (sys.executable, str(path))


def test_a_command_gets_the_decision_on_stdin(store: SqlStore, tmp_path: Path) -> None:
    model = register(store)
    out = tmp_path / "got.json"
    argv = script(
        tmp_path,
        f"import sys, pathlib; pathlib.Path({str(out)!r}).write_bytes(sys.stdin.buffer.read())",
    )
    actions = Actions(
        store,
        ActionSettings(retrain=RetrainPolicy(CommandTarget((*argv, "--fast")), drift=("psi",))),
    )
    actions.on_events(model, [view("psi")], MONDAY)
    got = json.loads(out.read_text())
    assert got["trigger"] == "drift" and got["model"] == "credit"
    assert records(store, model)[0].outcome == "sent"


@pytest.mark.parametrize(
    ("code", "timeout", "outcome"),
    [
        ("import sys; sys.exit(3)", 30.0, "exited with 3"),
        ("import time; time.sleep(30)", 1.0, "did not finish within 1s and was killed"),
    ],
)
def test_a_failing_command_is_a_recorded_failure(
    store: SqlStore, tmp_path: Path, code: str, timeout: float, outcome: str
) -> None:
    model = register(store)
    target = CommandTarget(script(tmp_path, code), timeout)
    decision = Actions(store, ActionSettings(retrain=RetrainPolicy(target))).retrain_now(
        model, "x", None
    )
    assert decision.taken and outcome in (decision.outcome or "")


def test_a_missing_program_is_a_recorded_failure(store: SqlStore, tmp_path: Path) -> None:
    model = register(store)
    target = CommandTarget((str(tmp_path / "no-such-program"),))
    decision = Actions(store, ActionSettings(retrain=RetrainPolicy(target))).retrain_now(
        model, "x", None
    )
    assert "could not start (FileNotFoundError)" in (decision.outcome or "")


# -- the schedule ---------------------------------------------------------------------------


def test_last_cron_includes_now() -> None:
    assert last_cron("0 3 * * 1", MONDAY) == MONDAY
    assert last_cron("0 3 * * 1", MONDAY - timedelta(seconds=1)) == MONDAY - timedelta(days=7)
    assert last_cron("0 3 * * 1", MONDAY + timedelta(days=3)) == MONDAY


def test_the_schedule_fires_once_per_due_time_across_restarts(
    store: SqlStore, receiver: Recorder
) -> None:
    model = register(store)
    settings = retrain_settings(receiver.url("/dag"), schedule="0 3 * * 1")
    started = MONDAY - timedelta(days=1)
    first = Actions(store, settings, clock=lambda: started)
    first.on_clock(started)
    first.on_clock(MONDAY - timedelta(minutes=1))
    assert receiver.received == []  # the Monday before vigil started is not due
    first.on_clock(MONDAY)
    first.on_clock(MONDAY + timedelta(minutes=1))
    assert len(receiver.received) == 1
    # a restart after it: nothing again for the same Monday
    second = Actions(store, settings, clock=lambda: MONDAY + timedelta(hours=1))
    second.on_clock(MONDAY + timedelta(hours=1))
    assert len(receiver.received) == 1
    # down for three Mondays: one retrain, not three
    third = Actions(store, settings, clock=lambda: MONDAY + timedelta(days=22))
    third.on_clock(MONDAY + timedelta(days=22))
    third.on_clock(MONDAY + timedelta(days=22, minutes=1))
    assert len(receiver.received) == 2
    due = json.loads(receiver.received[1].body)["evidence"]["due"]
    assert due == "2026-11-23T03:00:00Z"
    summary = third.summary(model, MONDAY + timedelta(days=22))
    assert summary.this_month["scheduled"] == 2 and summary.last_trigger == "scheduled"
    assert summary.next_scheduled == MONDAY + timedelta(days=28)


def test_a_scheduled_retrain_skipped_by_the_budget_is_decided_once(
    store: SqlStore, receiver: Recorder
) -> None:
    model = register(store)
    settings = retrain_settings(receiver.url("/dag"), schedule="*/10 * * * *", monthly_budget=1)
    actions = Actions(store, settings, clock=lambda: MONDAY)
    for minutes in range(0, 35):
        actions.on_clock(MONDAY + timedelta(minutes=minutes))
    decided = [r for r in records(store, model) if r.trigger == "scheduled"]
    assert [r.taken for r in decided] == [False, False, True]  # newest first: 20, 30 skipped
    assert all("1 of 1 retrains this month" in r.reason for r in decided if not r.taken)
    assert len(receiver.received) == 1


counter = itertools.count()


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    gaps=st.lists(st.integers(1, 4 * 86400), min_size=1, max_size=25),
    interval=st.sampled_from([3600, 86400, 3 * 86400]),
    budget=st.integers(1, 5),
    manual=st.lists(st.booleans(), min_size=25, max_size=25),
)
def test_the_policy_holds_whatever_the_requests(
    store: SqlStore,
    receiver: Recorder,
    gaps: list[int],
    interval: int,
    budget: int,
    manual: list[bool],
) -> None:
    name = f"m{next(counter)}"
    model = register(store, name)
    settings = retrain_settings(receiver.url("/dag"), min_interval=interval, monthly_budget=budget)
    now = datetime(2026, 10, 20)
    for gap, by_hand in zip(gaps, manual, strict=False):
        now += timedelta(seconds=gap)
        actions = Actions(store, settings, clock=lambda now=now: now)
        if by_hand:
            actions.retrain_now(model, "by hand", "p")
        else:
            actions.on_events(model, [view("psi-tiers")], now)
    decided = records(store, model)[::-1]
    assert len(decided) == len(gaps)
    taken = [r for r in decided if r.taken]
    for before, after in itertools.pairwise(taken):
        if after.trigger != "manual":
            assert (after.decided_at - before.decided_at).total_seconds() >= interval
    months: dict[tuple[int, int], int] = {}
    for r in taken:
        key = (r.decided_at.year, r.decided_at.month)
        months[key] = months.get(key, 0) + 1
    assert all(n <= budget for n in months.values())
    for r in decided:
        if not r.taken:
            assert "min_interval" in r.reason or "monthly_budget" in r.reason


# -- rollback and promotion -----------------------------------------------------------------


def test_rollback_only_on_critical_and_only_when_enabled(
    store: SqlStore, receiver: Recorder
) -> None:
    model = register(store)
    off = Actions(store, ActionSettings(rollback=RollbackPolicy(False, None, ("sla",))))
    off.on_events(model, [view("sla")], MONDAY)
    [skipped] = records(store, model, "rollback")
    assert not skipped.taken and "rollback is disabled" in skipped.reason
    on = Actions(
        store,
        ActionSettings(rollback=RollbackPolicy(True, HookTarget(receiver.url("/rb")), ("sla",))),
    )
    on.on_events(model, [view("sla", severity="warning"), view("other")], MONDAY)
    assert len(records(store, model, "rollback")) == 1
    on.on_events(model, [view("sla"), view("sla", column="x")], MONDAY + timedelta(hours=1))
    assert [json.loads(r.body)["trigger"] for r in receiver.received] == ["sla"]
    assert records(store, model, "rollback")[0].taken


def test_a_better_challenger_is_promoted_once(store: SqlStore, receiver: Recorder) -> None:
    model = register(store)
    shadow(store, model, 600, gain=1.0)
    settings = parse_actions(
        {
            "challenger": {
                "credit": {
                    "champion": "1",
                    "challenger": "2",
                    "metric": "roc_auc",
                    "pair_by": "request_id",
                    "n_resamples": 500,
                    "promote": {"enabled": True, "webhook": {"url": receiver.url("/promote")}},
                }
            }
        },
        ALLOW,
    )
    actions = Actions(store, settings)
    now = datetime(2026, 11, 2, 12, 0)
    actions.on_clock(now)
    actions.on_clock(now + timedelta(minutes=30))  # within the hour: not compared again
    actions.on_clock(now + timedelta(hours=1))  # compared, still better: promoted already
    [promoted] = records(store, model, "promote")
    assert promoted.taken and promoted.trigger == "challenger" and promoted.outcome == "sent"
    body = json.loads(receiver.received[0].body)
    assert body["evidence"]["verdict"] == "better" and body["evidence"]["pairs"] == 600
    assert len(receiver.received) == 1


def test_the_challenger_verdict_is_recorded_when_it_changes(store: SqlStore) -> None:
    model = register(store)
    settings = parse_actions(
        {
            "challenger": {
                "credit": {
                    "champion": "1",
                    "challenger": "2",
                    "metric": "roc_auc",
                    "pair_by": "request_id",
                    "n_resamples": 200,
                }
            }
        },
        ALLOW,
    )
    actions = Actions(store, settings)
    now = datetime(2026, 11, 2, 12, 0)
    actions.on_clock(now)  # no rows yet
    actions.on_clock(now + timedelta(hours=1))
    [first] = records(store, model, "promote")
    assert not first.taken and "too few" in first.reason
    shadow(store, model, 600, gain=1.0)
    actions.on_clock(now + timedelta(hours=2))
    latest = records(store, model, "promote")[0]
    assert not latest.taken and "promotion is off" in latest.reason


def test_a_failing_store_does_not_raise(tmp_path: Path, receiver: Recorder) -> None:
    store = open_store(tmp_path / "gone.duckdb")
    model = register(store)
    actions = Actions(store, retrain_settings(receiver.url("/dag"), schedule="* * * * *"))
    store.close()
    actions.on_events(model, [view("psi-tiers")], MONDAY)
    actions.on_clock(MONDAY)
