"""SLAs: read from YAML (every mistake named), judged on the points of real reports (NannyML's
car-loan example, scikit-learn's breast-cancer set), and their error budget against a plain
count."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics
from tests.published import nannyml_analysis, nannyml_reference, sklearn_set

from vigil.alerts import judge, parse_rules
from vigil.alerts.metrics import column_metrics, dataset_metrics
from vigil.alerts.settings import AlertSettings
from vigil.alerts.sla import SLA, Objective, budget, parse_slas, sla_points
from vigil.config import load_settings
from vigil.errors import ConfigError
from vigil.evaluation import evaluate, infer_spec
from vigil.monitor.points import ops_points, report_points
from vigil.monitor.windows import operational
from vigil.store.base import MetricPoint

T0 = datetime(2026, 11, 2)
HOUR = timedelta(hours=1)
CHECKOUT = {
    "name": "checkout",
    "models": ["fraud"],
    "target": 0.99,
    "objectives": {
        "performance.accuracy": ">= 0.95",
        "ops.latency_p99_ms": "<= 100",
        "ops.availability": ">= 0.999",
        "drift.share_drifted": "<= 0.1",
    },
}


def points_of(report, start: datetime = T0, kind: str = "tumbling") -> list[MetricPoint]:
    return report_points(report, version="1", kind=kind, segment="", start=start, end=start + HOUR)


def one_sla(objectives: dict[str, str], target: float = 0.9, name: str = "s") -> SLA:
    (sla,) = parse_slas([{"name": name, "target": target, "objectives": objectives}])
    return sla


def met_of(points: list[MetricPoint], sla: str = "s") -> list[MetricPoint]:
    return [p for p in points if p.metric == "sla.met" and p.column == sla]


def objectives_of(points: list[MetricPoint]) -> dict[str, MetricPoint]:
    return {p.column.partition(":")[2]: p for p in points if p.metric == "sla.objective"}


# -- reading ------------------------------------------------------------------------------


def test_the_example_of_the_issue_reads_as_written() -> None:
    (sla,) = parse_slas([CHECKOUT])
    assert sla.name == "checkout" and sla.models == ("fraud",) and sla.target == 0.99
    assert sla.objectives == (
        Objective("performance.accuracy", ">=", 0.95),
        Objective("ops.latency_p99_ms", "<=", 100.0),
        Objective("ops.availability", ">=", 0.999),
        Objective("drift.share_drifted", "<=", 0.1),
    )
    assert sla.covers("fraud") and not sla.covers("credit")
    everywhere = one_sla({"ops.count": "> 0"})
    assert everywhere.models is None and everywhere.covers("anything")
    assert str(everywhere.objectives[0]) == "ops.count > 0"
    assert parse_slas(None) == ()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "s"}, "alerts.slas: expected a list"),
        ([42], "alerts.slas[0]: expected a mapping"),
        ([{"name": "has space", "target": 0.9}], "alerts.slas[0].name: 'has space'"),
        ([{"name": "a:b", "target": 0.9}], "is not an SLA name"),
        ([{**CHECKOUT, "window": "1h"}], "sla 'checkout': unknown key(s) window"),
        ([{**CHECKOUT, "target": 1}], "sla 'checkout'.target: expected the share"),
        ([{**CHECKOUT, "target": 0}], "above 0 and below 1"),
        ([{**CHECKOUT, "target": "99%"}], "got '99%'"),
        ([{**CHECKOUT, "target": True}], "got True"),
        ([{**CHECKOUT, "target": float("nan")}], "sla 'checkout'.target"),
        ([{k: v for k, v in CHECKOUT.items() if k != "target"}], "sla 'checkout'.target"),
        ([{**CHECKOUT, "objectives": {}}], "sla 'checkout'.objectives: expected a mapping"),
        ([{**CHECKOUT, "objectives": [">= 1"]}], "sla 'checkout'.objectives: expected"),
        (
            [{**CHECKOUT, "objectives": {"performance.accuray": ">= 0.9"}}],
            "sla 'checkout'.objectives.performance.accuray: 'performance.accuray' is not a "
            "metric vigil measures; did you mean performance.accuracy",
        ),
        (
            [{**CHECKOUT, "objectives": {"nonsense": ">= 0.9"}}],
            "'nonsense' is not a metric vigil measures; docs/api.md lists the metrics.",
        ),
        (
            [{**CHECKOUT, "objectives": {"drift.psi": "<= 0.1"}}],
            "objectives.drift.psi: drift.psi is measured per column",
        ),
        (
            [{**CHECKOUT, "objectives": {"sla.met": ">= 1"}}],
            "objectives.sla.met: sla.met is measured per column",
        ),
        (
            [{**CHECKOUT, "objectives": {"freshness.prediction_age_s": "<= 60"}}],
            "figure of the scheduler's clock",
        ),
        (
            [{**CHECKOUT, "objectives": {"ops.count": "=> 10"}}],
            "objectives.ops.count: expected an operator (>=, <=, >, <) and a number",
        ),
        ([{**CHECKOUT, "objectives": {"ops.count": "== 10"}}], "got '== 10'"),
        ([{**CHECKOUT, "objectives": {"ops.count": 10}}], "got 10"),
        ([{**CHECKOUT, "objectives": {"ops.count": ">= lots"}}], "'lots' is not a finite"),
        ([{**CHECKOUT, "objectives": {"ops.count": ">= nan"}}], "'nan' is not a finite"),
        ([{**CHECKOUT, "objectives": {"ops.count": "<= inf"}}], "'inf' is not a finite"),
        ([{**CHECKOUT, "objectives": {3: ">= 1"}}], "3 is not a metric name"),
        ([{**CHECKOUT, "models": []}], "sla 'checkout'.models: expected \"*\" or a list"),
        ([{**CHECKOUT, "models": [1]}], "sla 'checkout'.models"),
        ([CHECKOUT, CHECKOUT], "two SLAs are named 'checkout'"),
    ],
)
def test_every_mistake_names_the_sla_and_the_key(data: object, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_slas(data)
    assert message in str(err.value)


def test_operators_and_spacing() -> None:
    sla = one_sla({"ops.count": ">=10", "ops.error_rate": "  <  0.5 ", "ops.rate_per_s": "> -1e3"})
    assert [(o.op, o.level) for o in sla.objectives] == [(">=", 10.0), ("<", 0.5), (">", -1000.0)]
    at_least = sla.objectives[0]
    assert at_least.is_met(10.0) and not at_least.is_met(9.999)
    below = sla.objectives[1]
    assert below.is_met(0.49) and not below.is_met(0.5)


def test_the_config_reads_alerts_slas_beside_the_other_keys_of_alerts(
    tmp_path: Path,
) -> None:
    path = tmp_path / "vigil.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "alerts": {
                    "slas": [CHECKOUT],
                    "rules": [{"name": "r", "metric": "drift.psi", "above": 0.1}],
                    "allow": ["x"],
                    "notify": [{"name": "n", "webhook": {"url": "https://x"}}],
                }
            },
            sort_keys=False,
        )
    )
    settings = load_settings(path)
    assert settings.alerts.slas == parse_slas([CHECKOUT])
    assert load_settings(None).alerts == AlertSettings()
    # an environment variable cannot replace the section
    assert load_settings(path, {"VIGIL_ALERTS": "x"}).alerts.slas == parse_slas([CHECKOUT])
    path.write_text(yaml.safe_dump({"alerts": ["slas"]}, sort_keys=False))
    with pytest.raises(ConfigError, match="alerts: expected a mapping"):
        load_settings(path)
    path.write_text(
        yaml.safe_dump({"alerts": {"slas": [{**CHECKOUT, "target": 2}]}}, sort_keys=False)
    )
    with pytest.raises(ConfigError, match=r"sla 'checkout'\.target"):
        load_settings(path)
    path.write_text(yaml.safe_dump({"alerts": {"slas": {"checkout": CHECKOUT}}}, sort_keys=False))
    with pytest.raises(ConfigError, match=r"alerts\.slas: expected a list"):
        load_settings(path)


def test_the_sla_metrics_are_in_the_rule_catalogue() -> None:
    assert {"sla.met", "sla.objective"} <= column_metrics()
    assert "ops.availability" in dataset_metrics()
    assert not column_metrics() & dataset_metrics()


# -- judging windows ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def car_loan():
    reference, roles = nannyml_reference("car_loan")
    analysis = nannyml_analysis("car_loan")
    spec = infer_spec(reference, **roles)
    return reference, analysis, spec


def _accuracy(rows: pa.Table) -> float:
    return float(
        metrics.accuracy_score(
            np.array(rows.column("repaid").to_pylist()), np.array(rows.column("y_pred").to_pylist())
        )
    )


def test_the_unshifted_half_meets_and_the_shifted_half_breaches(car_loan) -> None:
    """NannyML's car-loan example: accuracy about 0.944 in the first half of the analysis set,
    0.916 in the second, where the features drift too. An SLA of accuracy >= 0.93 and at most
    10% drifted features holds on the first half and is breached on the second, on both."""
    reference, analysis, spec = car_loan
    sla = one_sla(
        {
            "performance.accuracy": ">= 0.93",
            "drift.share_drifted": "<= 0.1",
            "performance.label_coverage": ">= 0.5",
        }
    )
    first, second = analysis.slice(0, 25_000), analysis.slice(25_000)
    early = points_of(evaluate(reference, first, spec), T0)
    late = points_of(evaluate(reference, second, spec), T0 + HOUR)
    made = sla_points([sla], "car", early + late)
    by_start = {p.start: p for p in met_of(made)}
    assert by_start[T0].value == 1.0 and by_start[T0].status == "ok"
    assert by_start[T0 + HOUR].value == 0.0 and by_start[T0 + HOUR].status == "critical"
    assert by_start[T0 + HOUR].end == T0 + 2 * HOUR and by_start[T0].kind == "tumbling"
    late_objectives = objectives_of([p for p in made if p.start == T0 + HOUR])
    early_objectives = objectives_of([p for p in made if p.start == T0])
    # the values judged are the windows' own, checked against scikit-learn
    assert early_objectives["performance.accuracy"].value == pytest.approx(_accuracy(first))
    assert late_objectives["performance.accuracy"].value == pytest.approx(_accuracy(second))
    assert _accuracy(first) >= 0.93 > _accuracy(second)
    assert late_objectives["performance.accuracy"].status == "critical"
    assert late_objectives["drift.share_drifted"].status == "critical"
    assert late_objectives["performance.label_coverage"].status == "ok"
    assert {p.status for p in early_objectives.values()} == {"ok"}
    assert {p.column for p in made if p.metric == "sla.objective"} == {
        "s:performance.accuracy",
        "s:drift.share_drifted",
        "s:performance.label_coverage",
    }
    assert all(p.segment == "" and p.version == "1" for p in made)


def test_a_random_split_meets_and_a_sorted_split_breaches_the_drift_objective() -> None:
    """scikit-learn's breast-cancer set: a shuffled split does not drift; split by tumour
    size, most features do."""
    data = sklearn_set("breast_cancer")
    shuffled = data.take(np.random.default_rng(3).permutation(data.num_rows))
    ordered = data.sort_by("mean radius")
    sla = one_sla({"drift.share_drifted": "<= 0.1", "quality.duplicate_row_share": "<= 0.01"})
    for table, expected in ((shuffled, 1.0), (ordered, 0.0)):
        report = evaluate(table.slice(0, 284), table.slice(284), target="target")
        (met,) = met_of(sla_points([sla], "bc", points_of(report)))
        assert met.value == expected
        share = objectives_of(sla_points([sla], "bc", points_of(report)))["drift.share_drifted"]
        (reported,) = [p for p in points_of(report) if p.metric == "drift.share_drifted"]
        assert share.value == reported.value
        assert (share.value <= 0.1) == (expected == 1.0)


def test_an_objective_that_cannot_be_judged_yet_is_not_a_breach(car_loan) -> None:
    """With few labels joined, accuracy is pending: the SLA is pending, not breached — unless
    another objective is already breached."""
    reference, analysis, spec = car_loan
    rows = analysis.slice(0, 3000)
    target = rows.column("repaid").to_pylist()
    few = rows.set_column(
        rows.column_names.index("repaid"),
        "repaid",
        pa.array(
            [v if i < 20 else None for i, v in enumerate(target)], rows.schema.field("repaid").type
        ),
    )
    points = points_of(evaluate(reference, few, spec))
    accuracy = [p for p in points if p.metric == "performance.accuracy"]
    assert accuracy and accuracy[0].status == "pending"
    loose = one_sla({"performance.accuracy": ">= 0.5", "drift.share_drifted": "<= 0.5"})
    made = sla_points([loose], "car", points)
    (met,) = met_of(made)
    assert met.value is None and met.status == "pending"
    assert objectives_of(made)["performance.accuracy"].status == "pending"
    assert objectives_of(made)["drift.share_drifted"].status == "ok"
    strict = one_sla({"performance.accuracy": ">= 0.5", "quality.duplicate_row_share": "< 0"})
    (met,) = met_of(sla_points([strict], "car", points))
    assert met.value == 0.0 and met.status == "critical"
    # a metric the window does not have (no latency was logged): pending, with no value
    absent = one_sla({"ops.latency_p99_ms": "<= 100", "drift.share_drifted": "<= 0.5"})
    made = sla_points([absent], "car", points)
    assert objectives_of(made)["ops.latency_p99_ms"].value is None
    assert met_of(made)[0].status == "pending"


def test_availability_and_latency_from_a_window_s_rows() -> None:
    """`ops.availability` is 1 − the share of records with an error (None with no rows); the
    SLA judges it and the p99 latency, computed here with numpy."""
    rng = np.random.default_rng(4)
    latency = rng.exponential(20, 4000)
    errors = [None] * 3997 + ["timeout"] * 3
    window = pa.table(
        {
            "__latency_ms": pa.array(latency),
            "__error": pa.array(errors, pa.string()),
            "f": pa.array(np.ones(4000)),
        }
    )
    figures = operational(window, 3600.0, {}, ["f"])
    assert figures["availability"] == pytest.approx(1 - 3 / 4000)
    assert figures["availability"] == pytest.approx(1 - figures["error_rate"])
    empty = operational(window.slice(0, 0), 3600.0, {}, ["f"])
    assert empty["availability"] is None
    points = ops_points(figures, version="2", kind="tumbling", segment="", start=T0, end=T0 + HOUR)
    p99 = float(np.percentile(latency, 99))
    sla = one_sla({"ops.availability": ">= 0.999", "ops.latency_p99_ms": f"<= {p99 + 1}"})
    (met,) = met_of(sla_points([sla], "m", points))
    assert met.value == 1.0 and met.version == "2"
    tighter = one_sla({"ops.availability": ">= 0.9995", "ops.latency_p99_ms": f"<= {p99 + 1}"})
    made = sla_points([tighter], "m", points)
    assert met_of(made)[0].value == 0.0
    assert objectives_of(made)["ops.availability"].status == "critical"
    assert objectives_of(made)["ops.latency_p99_ms"].value == pytest.approx(p99)


def test_windows_versions_kinds_and_scopes_are_judged_apart() -> None:
    def figure(metric: str, value: float, version: str, kind: str, start: datetime) -> MetricPoint:
        return MetricPoint(version, kind, "", start, start + HOUR, metric, "", value, "none")  # type: ignore[arg-type]

    points = [
        figure("ops.count", 10, "1", "tumbling", T0),
        figure("ops.count", 0, "2", "tumbling", T0),
        figure("ops.count", 5, "1", "rolling", T0),
        figure("ops.count", 0, "1", "tumbling", T0 + HOUR),
        # a segment's and a column's points are not the window's figures
        MetricPoint("1", "tumbling", "r=a", T0, T0 + HOUR, "ops.count", "", 0.0, "none"),
        MetricPoint("1", "tumbling", "", T0, T0 + HOUR, "quality.missing_share", "x", 1.0, "ok"),
    ]
    slas = parse_slas(
        [
            {"name": "busy", "target": 0.9, "objectives": {"ops.count": "> 0"}},
            {"name": "other", "models": ["x"], "target": 0.9, "objectives": {"ops.count": "> 0"}},
        ]
    )
    made = sla_points(slas, "m", points)
    got = {(p.version, p.kind, p.start): p.value for p in met_of(made, "busy")}
    assert got == {
        ("1", "tumbling", T0): 1.0,
        ("2", "tumbling", T0): 0.0,
        ("1", "rolling", T0): 1.0,
        ("1", "tumbling", T0 + HOUR): 0.0,
    }
    assert met_of(made, "other") == []
    assert sla_points(slas, "x", points) != [] and sla_points(slas, "m", []) == []


def test_rules_on_sla_points(car_loan) -> None:
    """`metric: sla.met, columns: [checkout], status: critical` fires on a breached window and
    is clear on a met one; a pending window gives no finding; a rule on one objective reads
    its column `<sla>:<metric>`."""
    reference, analysis, spec = car_loan
    checkout = one_sla({"performance.accuracy": ">= 0.93"}, name="checkout")
    loose = one_sla({"performance.accuracy": ">= 0.5"}, name="loose")
    early = points_of(evaluate(reference, analysis.slice(0, 25_000), spec), T0)
    late = points_of(evaluate(reference, analysis.slice(25_000), spec), T0 + HOUR)
    rules = parse_rules(
        [
            {"name": "sla", "metric": "sla.met", "columns": ["checkout"], "status": "critical"},
            {"name": "any-sla", "metric": "sla.met", "below": {"critical": 1}},
            {
                "name": "acc",
                "metric": "sla.objective",
                "columns": ["checkout:performance.accuracy"],
                "below": {"warning": 0.94},
            },
        ]
    )
    for window, severity in ((early, None), (late, "critical")):
        made = sla_points([checkout, loose], "car", window)
        found = judge(rules, "car", made)
        by_rule: dict[str, list] = {}
        for f in found:
            by_rule.setdefault(f.rule, []).append(f)
        (sla_finding,) = by_rule["sla"]
        assert sla_finding.severity == severity and sla_finding.point.column == "checkout"
        assert {f.point.column: f.severity for f in by_rule["any-sla"]} == {
            "checkout": severity,
            "loose": None,
        }
        (acc,) = by_rule["acc"]
        assert acc.severity == ("warning" if acc.point.value < 0.94 else None)
    pending = MetricPoint(
        "1", "tumbling", "", T0, T0 + HOUR, "sla.met", "checkout", None, "pending"
    )
    assert judge(rules[:2], "car", [pending]) == []


# -- the error budget ---------------------------------------------------------------------


def _met(
    start: datetime,
    value: float | None,
    *,
    version: str = "1",
    kind: str = "tumbling",
    sla: str = "s",
    size: timedelta = HOUR,
) -> MetricPoint:
    status = {1.0: "ok", 0.0: "critical", None: "pending"}[value]
    return MetricPoint(version, kind, "", start, start + size, "sla.met", sla, value, status)  # type: ignore[arg-type]


def test_budget_arithmetic_on_a_known_month() -> None:
    now = datetime(2026, 12, 1)
    sla = one_sla({"ops.count": "> 0"}, target=0.95)
    points = []
    for hour in range(24 * 30):  # 30 days of hourly windows ending at `now`
        start = now - timedelta(hours=hour + 1)
        value = 0.0 if hour % 50 == 0 else None if hour % 97 == 0 else 1.0
        points.append(_met(start, value))
    points.append(_met(now, 0.0))  # the open window: it has not ended
    points.append(_met(now - 2 * HOUR, 0.0, kind="rolling"))  # not a tumbling window
    points.append(_met(now - 2 * HOUR, 0.0, sla="t"))  # another SLA
    week = budget(points, sla, now, 7)
    hours = range(24 * 7)
    breached = sum(1 for h in hours if h % 50 == 0)
    unknown = sum(1 for h in hours if h % 50 != 0 and h % 97 == 0)
    assert (week.breached, week.unknown, week.met) == (breached, unknown, 168 - breached - unknown)
    assert week.met_share == pytest.approx(week.met / (week.met + breached))
    assert week.allowed == pytest.approx(0.05)
    assert week.consumed == pytest.approx((breached / (168 - unknown)) / 0.05)
    assert week.remaining == pytest.approx(1 - week.consumed)
    month = budget(points, sla, now, 30)
    assert month.met + month.breached + month.unknown == 720 and month.days == 30
    # aware times are read as UTC
    aware = budget(points, sla, now.replace(tzinfo=timezone.utc), 7)
    assert aware == week
    nothing = budget([], sla, now, 7)
    assert (nothing.met_share, nothing.consumed, nothing.remaining) == (None, None, None)
    assert nothing.allowed == pytest.approx(0.05)


windows = st.lists(
    st.tuples(
        st.integers(-24 * 40, 24 * 2),  # hours from `now` to the window's start
        st.sampled_from([1.0, 0.0, None]),
        st.sampled_from(["1", "2"]),
        st.sampled_from(["tumbling", "rolling"]),
    ),
    max_size=120,
    unique_by=lambda w: (w[0], w[2], w[3]),
)


@settings(max_examples=200, deadline=None)
@given(
    drawn=windows,
    days=st.sampled_from([7, 30]),
    target=st.floats(0.5, 0.999),
    hours_per_window=st.sampled_from([1, 6, 24]),
)
def test_budget_matches_a_plain_count(
    drawn: list[tuple[int, float | None, str, str]],
    days: int,
    target: float,
    hours_per_window: int,
) -> None:
    now = datetime(2026, 12, 1, 12)
    size = timedelta(hours=hours_per_window)
    sla = one_sla({"ops.count": "> 0"}, target=target)
    points = [
        _met(now + timedelta(hours=h), v, version=ver, kind=kind, size=size)
        for h, v, ver, kind in drawn
    ]
    counted = [
        v
        for h, v, _, kind in drawn
        if kind == "tumbling"
        and now - timedelta(days=days) < now + timedelta(hours=h) + size <= now
    ]
    met, breached = counted.count(1.0), counted.count(0.0)
    found = budget(points, sla, now, days)
    assert (found.met, found.breached, found.unknown) == (met, breached, counted.count(None))
    if met + breached == 0:
        assert found.met_share is None and found.consumed is None
        return
    assert found.met_share == pytest.approx(met / (met + breached))
    assert found.consumed == pytest.approx(breached / (met + breached) / (1 - target))
    assert found.remaining == pytest.approx(1 - breached / (met + breached) / (1 - target))
