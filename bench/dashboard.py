"""Dashboard speed: a model with 200 features and 10,000 hourly windows (about 14 months),
each page timed on the server and in a real browser.

The store is built once into bench/data/ (reused with --reuse): the latest `--real` windows
are computed by vigil from posted traffic (real reports, real alerts); the earlier windows'
metric points are the same points as one of those real windows with noise on the values,
bulk-loaded into the store's tables, with a drift episode (the first 20 features critical for
100 windows) so the heatmap has something to show. Then a real service is started on
127.0.0.1 and every page is fetched:

- server: the time to the last byte of the HTML, `--repeat` times (median);
- browser: Debian's chromium through Playwright, a fresh tab per repeat: the time from the
  navigation start until every chart has drawn its last progressive chunk (the page sets
  `data-charts-finished`), median;
- raw: beside it, reading one drift measure's points of the whole year one by one
  (`Store.read_points(metric="drift.psi")`: one point per feature and window), what a heatmap
  that did not group in SQL would wait for before drawing anything.

    .venv/bin/python bench/dashboard.py --features 200 --windows 10000 --repeat 5
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import socket
import statistics
import threading
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import uvicorn

from vigil.config import Settings
from vigil.monitor.windows import WindowPlan
from vigil.service.app import create_app
from vigil.store import open_store

HERE = Path(__file__).parent
DATA = HERE / "data"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
MODEL = "wide"
EPISODE = (0.5, 100)  # the drift episode: starts half-way through the year, lasts 100 windows


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Server:
    """The service app on a uvicorn thread of this process."""

    def __init__(self, app: Any) -> None:
        self.port = _free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        while not self.server.started:
            time.sleep(0.02)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(30)


def spec(features: int) -> dict[str, Any]:
    columns: dict[str, Any] = {
        f"f{i:03d}": {"role": "feature", "kind": "numeric"} for i in range(features)
    }
    columns["score"] = {"role": "score", "kind": "numeric"}
    columns["pred"] = {"role": "prediction", "kind": "categorical"}
    columns["y"] = {"role": "target", "kind": "categorical"}
    return {"version": 1, "task": "binary", "columns": columns}


def rows(features: int, n: int, rng: np.random.Generator, shift: float) -> dict[str, Any]:
    data: dict[str, Any] = {
        f"f{i:03d}": rng.normal(shift if i < 20 else 0.0, 1.0, n) for i in range(features)
    }
    score = 1 / (1 + np.exp(-(data["f000"] + rng.normal(0, 1, n))))
    data["score"] = score
    data["pred"] = np.where(score >= 0.5, "1", "0")
    data["y"] = np.where(rng.random(n) < 1 / (1 + np.exp(-data["f000"])), "1", "0")
    return data


def settings(db: Path) -> Settings:
    return replace(
        Settings(db=str(db)),
        windows=WindowPlan(size_seconds=3600, rolling_seconds=None, min_rows=50),
    )


def build(db: Path, features: int, windows: int, real: int) -> None:
    """Fill a store: `real` computed windows, the others bulk-loaded from one of them."""
    rng = np.random.default_rng(5)
    now = datetime.now(timezone.utc).replace(tzinfo=None, minute=0, second=0, microsecond=0)
    first_real = now - timedelta(hours=real)
    app = create_app(settings(db), scheduler=False)
    started = time.perf_counter()
    with Server(app) as url, httpx.Client(base_url=url, timeout=600) as api:
        r = api.post("/v1/models", json={"name": MODEL, "version": "1", "spec": spec(features)})
        assert r.status_code == 201, r.text
        sink = io.BytesIO()
        pq.write_table(pa.table(rows(features, 5000, rng, 0.0)), sink)
        r = api.put(
            f"/v1/models/{MODEL}/reference",
            content=sink.getvalue(),
            headers={"content-type": "application/vnd.apache.parquet"},
        )
        assert r.status_code == 200, r.text
        for w in range(real):
            start = first_real + timedelta(hours=w)
            data = rows(features, 200, rng, 0.8 if w >= real - 6 else 0.0)
            table = {
                "id": [f"w{w}-{i}" for i in range(200)],
                "timestamp": [(start + timedelta(seconds=15 * i)).timestamp() for i in range(200)],
                **{k: v.tolist() for k, v in data.items() if k != "y"},
                "latency_ms": rng.gamma(2.0, 5.0, 200).tolist(),
            }
            sink = io.BytesIO()
            pq.write_table(pa.table(table), sink)
            r = api.post(
                f"/v1/models/{MODEL}/predictions",
                content=sink.getvalue(),
                headers={"content-type": "application/vnd.apache.parquet"},
            )
            assert r.status_code == 200, r.text[:300]
            labels = [
                {"id": i, "label": y} for i, y in zip(table["id"], data["y"].tolist(), strict=True)
            ]
            r = api.post(f"/v1/models/{MODEL}/labels", json={"records": labels})
            assert r.status_code == 200, r.text[:300]
        r = api.post(f"/v1/models/{MODEL}/evaluate")
        assert r.status_code == 200, r.text[:300]
        print(f"computed {real} real windows in {time.perf_counter() - started:.0f} s")
    app.state.vigil.store.close()
    _synthesize(db, windows - real, first_real)


def _synthesize(db: Path, count: int, before: datetime) -> None:
    """`count` earlier windows: the points of the first real window, noisy, bulk-loaded."""
    started = time.perf_counter()
    store = open_store(str(db))
    model = store.get_model(MODEL)
    assert model is not None
    db_ = store._db  # a bench loads its synthetic history in bulk
    template = db_.arrow(
        "SELECT version, kind, segment, w_start, w_end, metric, col, value, status, band "
        "FROM metric_points WHERE model_id = ? AND w_start = ?",
        (model.id, before),
    )
    n = template.num_rows
    rng = np.random.default_rng(9)
    metric = template.column("metric").to_numpy(zero_copy_only=False)
    col = template.column("col").to_numpy(zero_copy_only=False)
    status = template.column("status").to_numpy(zero_copy_only=False)
    value = template.column("value").to_numpy(zero_copy_only=False).astype(float)
    judged_drift = np.array(
        [m.startswith("drift.") and s != "none" for m, s in zip(metric, status, strict=True)]
    )
    episode_cols = np.array([c.startswith("f0") and c[1:].isdigit() and int(c[1:]) < 20
                             for c in col])  # fmt: skip
    episode_start = int(count * EPISODE[0])
    chunk = 250
    for first in range(0, count, chunk):
        k = min(chunk, count - first)
        idx = np.arange(first, first + k)
        starts = np.array([before - timedelta(hours=int(count - i)) for i in idx], "datetime64[us]")
        w_start = np.repeat(starts, n)
        w_end = w_start + np.timedelta64(1, "h")
        st = np.tile(status, k).astype(object)
        in_episode = np.repeat((idx >= episode_start) & (idx < episode_start + EPISODE[1]), n)
        st[in_episode & np.tile(judged_drift & episode_cols, k)] = "critical"
        values = np.tile(value, k) * rng.normal(1.0, 0.05, n * k)
        table = pa.table(
            {
                "model_id": pa.array(np.full(n * k, model.id, np.int32)),
                "version": pa.array(np.tile(template.column("version").to_numpy(False), k)),
                "kind": pa.array(np.tile(template.column("kind").to_numpy(False), k)),
                "segment": pa.array(np.tile(template.column("segment").to_numpy(False), k)),
                "w_start": pa.array(w_start),
                "w_end": pa.array(w_end),
                "metric": pa.array(np.tile(metric, k)),
                "col": pa.array(np.tile(col, k)),
                "value": pa.array(values),
                "status": pa.array(st, pa.string()),
                "band": pa.array(np.tile(template.column("band").to_numpy(False), k)),
            }
        )
        windows = pa.table(
            {
                "model_id": pa.array(np.full(k, model.id, np.int32)),
                "version": pa.array(["1"] * k),
                "kind": pa.array(["tumbling"] * k),
                "w_start": pa.array(starts),
                "w_end": pa.array(starts + np.timedelta64(1, "h")),
                "generation": pa.array(np.ones(k, np.int64)),
                "computed_generation": pa.array(np.ones(k, np.int64)),
                "rows_n": pa.array(np.full(k, 200, np.int64)),
                "labelled_n": pa.array(np.full(k, 200, np.int64)),
                "computed_at": pa.array(starts + np.timedelta64(1, "h")),
            }
        )
        with db_.transaction():
            db_.load("bench_points", table)
            db_.run("INSERT INTO metric_points SELECT * FROM bench_points")
            db_.unload("bench_points")
            db_.load("bench_windows", windows)
            db_.run(
                "INSERT INTO windows (model_id, version, kind, w_start, w_end, generation, "
                "computed_generation, rows_n, labelled_n, computed_at, data_generation, failures) "
                "SELECT model_id, version, kind, w_start, w_end, generation, computed_generation, "
                "rows_n, labelled_n, computed_at, generation, 0 FROM bench_windows"
            )
            db_.unload("bench_windows")
    total = db_.run("SELECT count(*) FROM metric_points")[0][0]
    store.close()
    print(
        f"loaded {count} windows ({total:,} points in all) in {time.perf_counter() - started:.0f} s"
    )


PAGES = [
    ("models", "/"),
    ("overview", f"/models/{MODEL}"),
    ("drift, 7 days", f"/models/{MODEL}/drift?last=7d"),
    ("drift, a year", f"/models/{MODEL}/drift?last=all"),
    ("feature, a year", f"/models/{MODEL}/features/f000?last=all"),
    ("performance, a year", f"/models/{MODEL}/performance?last=all"),
    ("alerts", f"/models/{MODEL}/alerts?last=all"),
    ("windows", f"/models/{MODEL}/windows"),
]


def measure(db: Path, repeat: int) -> dict[str, Any]:
    from playwright import sync_api

    app = create_app(settings(db), scheduler=False)
    out: dict[str, Any] = {"pages": []}
    with Server(app) as url, httpx.Client(base_url=url, timeout=600) as http:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            for name, path in PAGES:
                first = http.get(path)
                if first.status_code != 200:
                    print(f"{name}: {first.status_code}, skipped")
                    continue
                server = []
                for _ in range(repeat):
                    t0 = time.perf_counter()
                    r = http.get(path)
                    server.append(time.perf_counter() - t0)
                    assert r.status_code == 200
                shown = []
                for _ in range(repeat):
                    context = browser.new_context(viewport={"width": 1920, "height": 1080})
                    page = context.new_page()
                    page.goto(url + path)
                    page.wait_for_selector("html[data-charts-finished]", timeout=120_000)
                    done = float(page.get_attribute("html", "data-charts-finished") or "nan")
                    shown.append(done / 1000)
                    context.close()
                row = {
                    "page": name,
                    "path": path,
                    "bytes": len(first.content),
                    "server_s": statistics.median(server),
                    "browser_s": statistics.median(shown),
                }
                print(row)
                out["pages"].append(row)
            browser.close()
        store = app.state.vigil.store
        model = store.get_model(MODEL)
        t0 = time.perf_counter()
        raw = store.read_points(
            model, metric="drift.psi", column=None, segment="", version=None, kind="tumbling",
            since=None, until=None, limit=100_000_000,
        )  # fmt: skip
        out["raw_all_points_s"] = time.perf_counter() - t0
        out["raw_points"] = len(raw)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", type=int, default=200)
    parser.add_argument("--windows", type=int, default=10_000)
    parser.add_argument("--real", type=int, default=48)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--reuse", action="store_true", help="keep a store built before")
    args = parser.parse_args()
    DATA.mkdir(exist_ok=True)
    db = DATA / f"dashboard-{args.features}x{args.windows}.duckdb"
    if not (args.reuse and db.exists()):
        for leftover in (db, db.with_suffix(".duckdb.wal")):
            leftover.unlink(missing_ok=True)
        build(db, args.features, args.windows, args.real)
    result = measure(db, args.repeat)
    result["machine"] = (
        f"{platform.machine()}, {platform.processor() or 'cpu'}, Python {platform.python_version()}"
    )
    result["args"] = vars(args)
    (HERE / "dashboard_results.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
