"""Windows over HTTP: failed windows shown and retried on request, the rolling window's span,
the edges of the metrics query, and hostile query strings; on DuckDB and PostgreSQL."""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.service.conftest import (
    SPEC,
    Live,
    ThreadServer,
    make_settings,
    parquet_bytes,
    records,
    reference_table,
)
from tests.store.conftest import module_postgres_url, postgres_url  # noqa: F401  (fixtures)

from vigil.config import Limits
from vigil.monitor.windows import WindowPlan
from vigil.service.app import create_app

WAITING = "failed before: waits for its retry time, new rows or labels, or a retry"


@contextlib.contextmanager
def serving(db: str, folder: Path) -> Iterator[Live]:
    """The service in a thread over the store at `db`, the scheduler off, one model registered."""
    settings = make_settings(
        folder, db=db, limits=Limits(max_body=2**20), windows=WindowPlan(min_rows=10)
    )
    app = create_app(settings, scheduler=False)
    with ThreadServer(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        live = Live(url, client, folder / "vigil.duckdb", app)
        live.setup_model()
        yield live


@pytest.fixture(params=["duckdb", "postgres"])
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Live]:
    """The service over either store, fresh for each test."""
    db = str(tmp_path / "vigil.duckdb")
    if request.param == "postgres":
        db = request.getfixturevalue("postgres_url")
    with serving(db, tmp_path) as live:
        yield live


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def shared(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Live]:
    """The service over either store, one for the module: for the hostile requests, which
    must be refused and change nothing."""
    folder = tmp_path_factory.mktemp("windows-api")
    db = str(folder / "vigil.duckdb")
    if request.param == "postgres":
        db = request.getfixturevalue("module_postgres_url")
    with serving(db, folder) as live:
        yield live


def _gauge(live: Live, name: str) -> dict[str, float]:
    """model -> value of a gauge on /metrics."""
    out = {}
    for family in text_string_to_metric_families(live.client.get("/metrics").text):
        for sample in family.samples:
            if sample.name == name:
                out[sample.labels["model"]] = sample.value
    return out


def _break_reference(live: Live) -> None:
    """Store a reference the spec cannot be evaluated against (it lacks the feature `age`).

    The reference route refuses such a set, so it goes to the store directly, as a reference
    stored before its spec changed would be.
    """
    state = live.app.state.vigil
    model = state.store.get_model("credit")
    bad = reference_table().drop_columns(["age"])
    state.store.put_reference(model, "1", parquet_bytes(bad), bad.num_rows)


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_a_failed_window_is_shown_held_back_retried_on_request_and_cleared(served: Live) -> None:
    c = served.client
    served.client.post("/v1/models", json={"name": "quiet", "version": "1", "spec": SPEC})
    _break_reference(served)
    assert c.post("/v1/models/credit/predictions", json={"records": records(50)}).status_code == 200

    first = c.post("/v1/models/credit/evaluate").json()
    assert first["computed"] == [] and len(first["failed"]) == 2  # the hour and the rolling one
    assert all("'age'" in line and "failure 1 in a row" in line for line in first["failed"])

    listed = c.get("/v1/models/credit/windows", params={"failed": "true"}).json()
    assert listed["model"] == "credit"
    windows = listed["windows"]
    assert sorted(w["kind"] for w in windows) == ["rolling", "tumbling"]
    for w in windows:
        assert (w["state"], w["failures"], w["rows"], w["computed_at"]) == ("failed", 1, None, None)
        assert "'age'" in w["last_error"]
        assert _time(w["retry_at"]) > _time(w["end"]) - timedelta(days=8)
    assert _gauge(served, "vigil_failed_windows") == {"credit": 2.0, "quiet": 0.0}
    ready = c.get("/readyz")
    assert ready.status_code == 200 and ready.json()["failed_windows"] == 2

    # evaluating again does not redo them: they wait for their retry time
    again = c.post("/v1/models/credit/evaluate").json()
    assert (again["failed"], again["skipped"]) == ([], {WAITING: 2})
    retried = c.post("/v1/models/credit/evaluate", params={"retry_failed": "true"}).json()
    assert len(retried["failed"]) == 2 and "failure 2 in a row" in retried["failed"][0]

    # a usable reference is news for every window of the version: computed, failure cleared
    fixed = c.put(
        "/v1/models/credit/reference",
        content=parquet_bytes(reference_table()),
        headers={"content-type": "application/vnd.apache.parquet"},
    )
    assert fixed.status_code == 200
    done = c.post("/v1/models/credit/evaluate").json()
    assert sorted(w["kind"] for w in done["computed"]) == ["rolling", "tumbling"]
    assert done["failed"] == []
    assert c.get("/v1/models/credit/windows", params={"failed": "true"}).json()["windows"] == []
    every = c.get("/v1/models/credit/windows").json()["windows"]
    assert {(w["kind"], w["state"], w["failures"], w["rows"]) for w in every} == {
        ("rolling", "computed", 0, 50),
        ("tumbling", "computed", 0, 50),
    }
    assert _gauge(served, "vigil_failed_windows") == {"credit": 0.0, "quiet": 0.0}


def test_evaluate_reports_the_rolling_window_over_the_span_it_covers(served: Live) -> None:
    c = served.client
    c.post("/v1/models/credit/predictions", json={"records": records(50)})
    done = c.post("/v1/models/credit/evaluate").json()
    (rolling,) = [w for w in done["computed"] if w["kind"] == "rolling"]
    start, end = _time(rolling["start"]), _time(rolling["end"])
    assert end - start == timedelta(days=7)  # the plan's `rolling`, up to now
    (tumbling,) = [w for w in done["computed"] if w["kind"] == "tumbling"]
    assert start < _time(tumbling["start"]) < end
    (listed,) = [
        w for w in c.get("/v1/models/credit/windows").json()["windows"] if w["kind"] == "rolling"
    ]
    assert (listed["start"], listed["end"]) == (rolling["start"], rolling["end"])
    points = c.get("/v1/models/credit/metrics", params={"kind": "rolling"}).json()["points"]
    assert points and {(p["start"], p["end"]) for p in points} == {
        (rolling["start"], rolling["end"])
    }


def test_metrics_since_includes_its_start_and_until_excludes_its_end(served: Live) -> None:
    c = served.client
    hour = math.floor(time.time() / 3600) * 3600
    earlier, later = hour - 7200, hour - 3600  # the starts of two closed hourly windows
    for start, prefix in ((earlier, "e"), (later, "l")):
        sent = records(20, ts=start + 60, prefix=prefix)
        assert c.post("/v1/models/credit/predictions", json={"records": sent}).json()["accepted"]
    c.post("/v1/models/credit/evaluate")

    def starts(**params: str) -> list[float]:
        answer = c.get(
            "/v1/models/credit/metrics",
            params={"metric": "ops.count", "kind": "tumbling", **params},
        )
        assert answer.status_code == 200, answer.text
        return [_time(p["start"]).timestamp() for p in answer.json()["points"]]

    at_later = datetime.fromtimestamp(later, timezone.utc).isoformat()
    assert starts() == [earlier, later]
    assert starts(since=at_later) == [later]  # since: a window starting at it is in
    assert starts(until=at_later) == [earlier]  # until: a window starting at it is out
    assert starts(since=str(later), until=str(later + 1)) == [later]  # epoch seconds alike
    assert starts(since=str(earlier), until=str(later)) == [earlier]
    assert starts(since=at_later, until=at_later) == []


HOSTILE = [
    ("get", "/v1/models/credit/metrics", {"since": "yesterday"}, "not a time"),
    ("get", "/v1/models/credit/metrics", {"since": "2026-11-2"}, "not a time"),  # truncated
    ("get", "/v1/models/credit/metrics", {"until": "9999-12-31T23:00:00-05:00"}, "not a time"),
    ("get", "/v1/models/credit/metrics", {"since": "0001-01-01T00:00:00+05:00"}, "not a time"),
    ("get", "/v1/models/credit/metrics", {"since": "1e400"}, "not a time"),
    ("get", "/v1/models/credit/metrics", {"since": "nan"}, "not a time"),
    ("get", "/v1/models/credit/metrics", {"since": "-1e20"}, "not a time"),
    ("get", "/v1/models/credit/metrics", {"until": "9" * 6000}, "not a time"),
    ("get", "/v1/models/credit/metrics", {"limit": "0"}, "limit"),
    ("get", "/v1/models/credit/metrics", {"limit": str(10**30)}, "limit"),
    ("get", "/v1/models/credit/metrics", {"kind": "weekly"}, "kind"),
    ("get", "/v1/models/credit/metrics", {"version": "1\x00"}, "NUL"),
    ("get", "/v1/models/credit/metrics", {"metric": "\x00"}, "NUL"),
    ("get", "/v1/models/credit/metrics", {"segment": "x" * 6000}, "at most"),
    ("get", "/v1/models/credit/windows", {"failed": "maybe"}, "failed"),
    ("get", "/v1/models/credit/windows", {"since": "2026-13-01"}, "not a time"),
    ("get", "/v1/models/credit/windows", {"limit": "-1"}, "limit"),
    ("get", "/v1/models/credit/windows", {"kind": "rolling;--"}, "kind"),
    ("get", "/v1/models/credit/windows", {"version": "\x00"}, "NUL"),
    ("get", "/v1/models/credit/windows/latest", {"version": "v\x00"}, "NUL"),
    ("get", "/v1/models/credit/quarantine", {"since": "\x00"}, "not a time"),
    ("post", "/v1/models/credit/evaluate", {"retry_failed": "perhaps"}, "retry_failed"),
]


@pytest.mark.parametrize(("method", "path", "params", "words"), HOSTILE)
def test_hostile_query_strings_get_a_clear_422(
    shared: Live, method: str, path: str, params: dict[str, str], words: str
) -> None:
    answer = shared.client.request(method, path, params=params)
    assert answer.status_code == 422, answer.text
    assert words in answer.json()["error"]["message"]
    assert shared.client.get("/readyz").status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/v1/models/cr%00edit/windows",
        "/v1/models/cr%00edit/metrics",
        "/v1/models/%00/evaluate",
        "/v1/models/" + "m" * 5000 + "/windows",
        "/v1/models/%27%20OR%201%3D1%20--/windows",
    ],
)
def test_a_model_name_that_cannot_exist_is_404(shared: Live, path: str) -> None:
    method = "post" if path.endswith("evaluate") else "get"
    answer = shared.client.request(method, path)
    assert answer.status_code == 404, answer.text
    assert "no model" in answer.json()["error"]["message"]


def test_values_that_look_like_sql_are_only_values(served: Live) -> None:
    c = served.client
    c.post("/v1/models/credit/predictions", json={"records": records(20)})
    c.post("/v1/models/credit/evaluate")
    hostile = "' OR 1=1; DROP TABLE windows; --"
    for path in ("/v1/models/credit/metrics", "/v1/models/credit/windows"):
        answer = c.get(path, params={"version": hostile})
        assert answer.status_code == 200
        assert answer.json().get("points", answer.json().get("windows")) == []
    assert len(c.get("/v1/models/credit/windows").json()["windows"]) == 2


def test_a_model_without_a_rolling_window_lists_only_its_tumbling_ones(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, windows=WindowPlan(min_rows=10, rolling_seconds=None))
    app = create_app(settings, scheduler=False)
    with ThreadServer(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        live = Live(url, client, tmp_path / "vigil.duckdb", app)
        live.setup_model()
        client.post("/v1/models/credit/predictions", json={"records": records(20)})
        done = client.post("/v1/models/credit/evaluate").json()
        assert [w["kind"] for w in done["computed"]] == ["tumbling"]
        listed = client.get("/v1/models/credit/windows").json()["windows"]
        assert [(w["kind"], w["state"], w["rows"]) for w in listed] == [
            ("tumbling", "computed", 20)
        ]


@pytest.mark.parametrize("field", ["name", "version"])
def test_a_model_name_or_version_with_nul_is_refused_at_registration(
    shared: Live, field: str
) -> None:
    body = {"name": "fresh", "version": "1", "spec": SPEC} | {field: "a\x00b"}
    answer = shared.client.post("/v1/models", json=body)
    assert answer.status_code == 422, answer.text  # not a 500 from PostgreSQL
    assert [m["name"] for m in shared.client.get("/v1/models").json()] == ["credit"]
