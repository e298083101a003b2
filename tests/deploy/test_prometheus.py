"""The shipped Prometheus config, rules and Grafana dashboard (deploy/) against real parts:
`promtool` checks the config and rules, and a real `prometheus` scrapes a real `vigil serve`
whose model has three back-dated hourly windows with labels; every PromQL expression of the
rules and of the dashboard's panels must evaluate there and find series of the model."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import yaml
from tests.service.conftest import ServeProcess, credit_config, free_port, records

from vigil.config import hash_token

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
CONFIG = DEPLOY / "prometheus" / "prometheus.yml"
RULES = DEPLOY / "prometheus" / "vigil-rules.yml"
DASHBOARD = DEPLOY / "grafana" / "vigil-dashboard.json"

# Template variables of the dashboard as Grafana would fill them for the test's model.
VARIABLES = {
    "$__rate_interval": "1m",
    "$model": "credit",
    "$version": "1",
    "$measure": "psi",
    "$metric": "accuracy",
}
# Alerts on failures the test does not create: no window fails to compute, the config has no
# alert rules (defaults off) so nothing fires and nothing is delivered. Their expressions must
# evaluate to an empty vector, not an error.
NOT_CREATED = {"VigilWindowFailed", "VigilAlertsFiring", "VigilDeliveriesFailing"}


def binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(
            f"{name} is not installed: scripts/setup installs it (Debian package prometheus)."
        )
    return found


def substitute(expr: str) -> str:
    for variable, value in VARIABLES.items():
        expr = expr.replace(variable, value)
    assert "$" not in expr, f"a template variable the test does not fill: {expr}"
    return expr


def rule_exprs() -> dict[str, str]:
    """Every rule of the rules file by its alert or record name."""
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return {r.get("alert") or r["record"]: r["expr"] for g in groups for r in g["rules"]}


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel that shows data (rows only group them), nested ones included."""
    out = []
    for p in board["panels"]:
        if p["type"] == "row":
            out.extend(p.get("panels", []))
        else:
            out.append(p)
    return out


def test_promtool_accepts_the_config_and_the_rules() -> None:
    promtool = binary("promtool")
    config = subprocess.run(
        [promtool, "check", "config", str(CONFIG)], capture_output=True, text=True, timeout=60
    )
    assert config.returncode == 0, config.stdout + config.stderr
    assert "1 rule files found" in config.stdout + config.stderr  # the rules file is found
    rules = subprocess.run(
        [promtool, "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60
    )
    assert rules.returncode == 0, rules.stdout + rules.stderr
    assert f"{len(rule_exprs())} rules found" in rules.stdout + rules.stderr


def test_promtool_rejects_a_broken_rule(tmp_path: Path) -> None:
    """The check above can fail: the same file with one expression broken does not pass."""
    broken = tmp_path / "rules.yml"
    broken.write_text(
        RULES.read_text().replace("vigil_failed_windows > 0", "vigil_failed_windows >")
    )
    rules = subprocess.run(
        [binary("promtool"), "check", "rules", str(broken)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert rules.returncode != 0


def test_the_dashboard_has_what_grafana_needs() -> None:
    board = dashboard()
    assert board["uid"] and board["title"]
    assert 36 <= board["schemaVersion"] <= 41
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert variables["model"]["query"] == "label_values(vigil_ops, model)"
    assert variables["version"]["query"].startswith("label_values(vigil_ops{")
    ids = [p["id"] for p in board["panels"]] + [
        q["id"] for p in board["panels"] for q in p.get("panels", [])
    ]
    assert len(ids) == len(set(ids))
    shown = panels(board)
    titles = " ".join(p["title"].lower() for p in shown)
    for topic in (
        "drift",
        "quality",
        "performance",
        "latency",
        "volume",
        "alerts",
        "failed",
        "deliveries",
    ):
        assert topic in titles, topic
    for p in shown:
        assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, p["title"]
        assert {"h", "w", "x", "y"} <= set(p["gridPos"]), p["title"]
        assert p["targets"], p["title"]
        for t in p["targets"]:
            assert t["expr"].strip() and t["refId"], p["title"]
            assert t["datasource"]["uid"] == "${datasource}", p["title"]


def scrape_config(target: str, text: str | None = None) -> dict[str, Any]:
    """The shipped config (job, path, rules) with only the target and intervals changed."""
    config: dict[str, Any] = yaml.safe_load(text or CONFIG.read_text())
    config["global"].update(scrape_interval="1s", scrape_timeout="1s", evaluation_interval="1s")
    config["rule_files"] = [str(RULES)]
    (job,) = config["scrape_configs"]
    assert (job["job_name"], job["metrics_path"]) == ("vigil", "/metrics")
    job["static_configs"] = [{"targets": [target]}]
    return config


@contextmanager
def prometheus(folder: Path, config: dict[str, Any]) -> Iterator[httpx.Client]:
    """A real `prometheus` on 127.0.0.1 with `config`, its data in `folder`."""
    path = folder / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    port = free_port()
    log = (folder / "prometheus.log").open("wb")
    proc = subprocess.Popen(
        [
            binary("prometheus"),
            f"--config.file={path}",
            f"--storage.tsdb.path={folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            ready = wait_for(lambda: probe(client, "/-/ready"), proc)
            assert ready, (folder / "prometheus.log").read_text()[-3000:]
            yield client
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()


def probe(client: httpx.Client, path: str) -> bool:
    try:
        return client.get(path).status_code == 200
    except httpx.HTTPError:
        return False


def wait_for(check: Any, proc: subprocess.Popen[bytes] | None = None, seconds: float = 90) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        if check():
            return True
        time.sleep(0.2)
    return False


def query(client: httpx.Client, expr: str) -> list[dict[str, Any]]:
    """The instant vector `expr` evaluates to; fails on any error Prometheus reports."""
    answer = client.get("/api/v1/query", params={"query": expr})
    body = answer.json()
    assert answer.status_code == 200 and body["status"] == "success", (expr, body)
    assert body["data"]["resultType"] == "vector", (expr, body["data"]["resultType"])
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def of_model(result: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Series of the test's model, or every series when the expression has no model label
    (the service's own counters and the outbox are not per model)."""
    return [s for s in result if s["metric"].get("model", "credit") == "credit"]


def feed(url: str) -> None:
    """Three hourly windows, 2 to 4 hours back, all labelled; the latest with `age` shifted
    and every label contradicting its prediction, so a column and a performance metric are
    critical and no window has started in the last two hours."""
    hour = time.time() // 3600 * 3600
    with httpx.Client(base_url=url, timeout=30) as c:
        for back, shift in ((4, 0.0), (3, 0.0), (2, 15.0)):
            batch = records(
                300, ts=hour - back * 3600 + 60, prefix=f"h{back}-", seed=back, shift=shift
            )
            sent = c.post("/v1/models/credit/predictions", json={"records": batch})
            assert sent.json()["accepted"] == 300, sent.text
            flip = back == 2
            labels = [
                {
                    "id": r["id"],
                    "label": str(int(r["prediction"] == "0") if flip else r["prediction"]),
                }
                for r in batch
            ]
            sent = c.post("/v1/models/credit/labels", json={"records": labels})
            assert sent.json()["accepted"] == 300, sent.text

        def computed() -> bool:
            windows = c.get("/v1/models/credit/windows", params={"kind": "tumbling"}).json()
            return (
                sum(1 for w in windows["windows"] if w["computed_at"] and w["state"] == "computed")
                == 3
            )

        assert wait_for(computed), c.get("/v1/models/credit/windows").text
        # one refused request, so the refused counter has a series before Prometheus starts
        assert c.get("/v1/models/no-such-model/windows").status_code == 404


def test_every_rule_and_panel_expression_finds_the_model(tmp_path: Path) -> None:
    server = ServeProcess(
        ["--config", str(credit_config(tmp_path, interval="1s", alerts={"defaults": False}))]
    )
    try:
        server.wait_ready()
        feed(server.url)
        with prometheus(tmp_path, scrape_config(f"127.0.0.1:{server.port}")) as prom:
            assert wait_for(lambda: of_model(query(prom, 'vigil_status{job="vigil"}')))
            up = query(prom, 'up{job="vigil"}')
            assert [s["value"][1] for s in up] == ["1"]
            # refusals after the first scrape, so the refused-request rate is above zero
            with httpx.Client(base_url=server.url, timeout=30) as c:
                for _ in range(40):
                    assert c.get("/v1/models/no-such-model/windows").status_code == 404

            expressions = {f"rule {name}": expr for name, expr in rule_exprs().items()}
            for p in panels(dashboard()):
                for t in p["targets"]:
                    expressions[f"panel {p['title']!r} {t['refId']}"] = substitute(t["expr"])
            empty = {f"rule {name}" for name in NOT_CREATED}
            assert empty <= set(expressions)
            for name, expr in expressions.items():
                if name in empty:
                    assert query(prom, expr) == [], (name, expr)
                else:
                    found = wait_for(lambda e=expr: of_model(query(prom, e)), seconds=60)
                    assert found, (name, expr, query(prom, expr))

            # the checks the alerts stand on: age is critical, so is accuracy; 2 h since a window
            critical = {
                s["metric"]["column"] for s in query(prom, rule_exprs()["VigilColumnCritical"])
            }
            assert "age" in critical
            below = {
                s["metric"]["metric"]
                for s in query(prom, rule_exprs()["VigilPerformanceBelowBand"])
            }
            assert "performance.accuracy" in below
            (age,) = query(prom, 'vigil:window_age:seconds{model="credit"}')
            assert float(age["value"][1]) > 2 * 3600

            # the band panel: lower < value < upper, by the exported standard error
            value, lower, upper = (
                float(query(prom, substitute(t["expr"]))[0]["value"][1])
                for p in panels(dashboard())
                if "band" in p["title"]
                for t in p["targets"]
            )
            assert lower < value < upper

            # Prometheus loaded the rules, evaluates them without error and has the alerts
            # pending (their `for:` has not passed)
            def evaluated() -> bool:
                groups = prom.get("/api/v1/rules").json()["data"]["groups"]
                rules = [r for g in groups for r in g["rules"]]
                # health is "unknown" until a rule was evaluated, "err" when that failed
                return len(rules) == len(rule_exprs()) and all(
                    r["health"] == "ok" and not r.get("lastError") for r in rules
                )

            assert wait_for(evaluated), prom.get("/api/v1/rules").text
            pending = {
                a["labels"]["alertname"]
                for a in prom.get("/api/v1/alerts").json()["data"]["alerts"]
            }
            assert {
                "VigilColumnCritical",
                "VigilPerformanceBelowBand",
                "VigilNoRecentWindow",
            } <= pending
            assert not pending & NOT_CREATED

            # the dashboard's template variables list the model, its version, psi and accuracy
            checked: set[str] = set()
            for variable in dashboard()["templating"]["list"]:
                if variable["type"] != "query":
                    continue
                found = re.fullmatch(r"label_values\((.+), (\w+)\)", variable["query"])
                assert found, variable["query"]
                checked.add(variable["name"])
                match, label = substitute(found.group(1)), found.group(2)
                listed = prom.get(f"/api/v1/label/{label}/values", params={"match[]": match}).json()
                assert listed["status"] == "success"
                assert VARIABLES[f"${variable['name']}"] in listed["data"], (
                    variable["name"],
                    listed,
                )
            assert checked == {"model", "version", "measure", "metric"}
    finally:
        server.stop()


def test_the_commented_token_setting_scrapes_a_service_with_tokens(tmp_path: Path) -> None:
    """The config's commented `authorization:` block, uncommented, scrapes a service whose
    /metrics needs a read token; the same job with a wrong token is refused (401)."""
    token = "prometheus-read-token-1234"
    tokens = [{"name": "prometheus", "sha256": hash_token(token), "scopes": ["read"]}]
    server = ServeProcess(["--config", str(credit_config(tmp_path, tokens=tokens))])
    try:
        server.wait_ready()
        assert httpx.get(server.url + "/metrics").status_code == 401
        text = re.sub(r"(?m)^    # (authorization:.*)$", r"    \1", CONFIG.read_text())
        text = re.sub(r"(?m)^    #   ", "      ", text)
        config = scrape_config(f"127.0.0.1:{server.port}", text)
        (job,) = config["scrape_configs"]
        assert job["authorization"]["type"] == "Bearer"
        (tmp_path / "token").write_text(token)
        (tmp_path / "wrong").write_text("not-the-token")
        job["authorization"]["credentials_file"] = str(tmp_path / "token")
        wrong = {**job, "job_name": "vigil-wrong-token"}
        wrong["authorization"] = {"type": "Bearer", "credentials_file": str(tmp_path / "wrong")}
        config["scrape_configs"].append(wrong)
        with prometheus(tmp_path, config) as prom:

            def health() -> dict[str, dict[str, Any]]:
                targets = prom.get("/api/v1/targets").json()["data"]["activeTargets"]
                return {t["labels"]["job"]: t for t in targets}

            assert wait_for(
                lambda: [t["health"] != "unknown" for t in health().values()] == [True, True]
            )
            answered = health()
            assert answered["vigil"]["health"] == "up", answered["vigil"]
            assert answered["vigil-wrong-token"]["health"] == "down"
            assert "401" in answered["vigil-wrong-token"]["lastError"]
            assert wait_for(
                lambda: query(prom, 'vigil_failed_windows{job="vigil", model="credit"}')
            )
    finally:
        server.stop()
