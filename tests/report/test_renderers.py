"""The three renderings of a report: JSON (schema v1), HTML (escaped, offline), terminal."""

from __future__ import annotations

import json
import math
import re
import xml.etree.ElementTree as ET

import numpy as np
import pyarrow as pa
import pytest
from rich.console import Console

from vigil.evaluate import evaluate, infer_spec
from vigil.report import REPORT_SCHEMA_VERSION, render_html, render_terminal, report_to_dict
from vigil.report.charts import distribution_svg
from vigil.report.model import Report

HOSTILE = "<script>alert(1)</script>"
MARKUP = "[bold]x[/bold]"


@pytest.fixture(scope="module")
def report() -> Report:
    rng = np.random.default_rng(0)
    n = 3000

    def table(shift: float, extra: bool) -> pa.Table:
        cats = ["&<>'\"", "naïve 名前", "plain"]
        columns = {
            HOSTILE: rng.normal(shift, 1, n),
            MARKUP: rng.choice(cats, n, p=[0.2, 0.3, 0.5] if shift == 0 else [0.6, 0.3, 0.1]),
            "constant": np.ones(n),
            "y": rng.integers(0, 2, n),
            "p": rng.random(n),
        }
        if extra:
            columns["new"] = np.zeros(n)
        return pa.table(columns)

    reference, current = table(0.0, False), table(1.0, True)
    return evaluate(reference, current, infer_spec(reference, target="y", scores=["p"]))


def test_json_has_the_documented_keys_and_is_strict(report: Report) -> None:
    doc = report_to_dict(report)
    text = json.dumps(doc, allow_nan=False)  # raises on NaN or infinity
    assert json.loads(text) == doc
    assert doc["vigil_report_version"] == REPORT_SCHEMA_VERSION == 2
    assert doc["status"] == report.status
    assert {"rows", "source", "is_profile"} <= doc["reference"].keys()
    column = doc["drift"]["columns"][HOSTILE]
    for key in (
        "kind",
        "role",
        "method",
        "statistic",
        "p_value",
        "threshold",
        "drifted",
        "metrics",
    ):
        assert key in column
    assert set(column["metrics"]) == {
        "ks",
        "ks_p_value",
        "psi",
        "js",
        "hellinger",
        "kl",
        "wasserstein",
        "wasserstein_norm",
    }
    assert set(doc["drift"]["columns"][MARKUP]["metrics"]) == {
        "chi2",
        "chi2_p_value",
        "psi",
        "js",
        "hellinger",
        "kl",
    }
    assert {"share_drifted", "dataset_drifted"} <= doc["drift"].keys()
    assert doc["quality"]["schema"]["new_columns"] == ["new"]
    assert "missing_share" in doc["quality"]["columns"]["constant"]
    assert doc["performance"]["reference"]["roc_auc"] is not None
    assert all(
        {"name", "column", "metric", "status", "value", "threshold", "p_value", "standard_error"}
        <= c.keys()
        for c in doc["checks"]
    )


def test_json_writes_null_for_numbers_that_are_not_finite(report: Report) -> None:
    doc = report_to_dict(report)
    numbers = []

    def walk(value: object) -> None:
        if isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)
        elif isinstance(value, float):
            numbers.append(value)

    walk(doc)
    assert numbers and all(math.isfinite(x) for x in numbers)


def test_html_escapes_every_user_string_and_needs_no_network(report: Report) -> None:
    page = render_html(report)
    assert HOSTILE not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "naïve 名前" in page
    assert "&amp;&lt;&gt;" in page  # the category value "&<>'\""
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert "<script" not in page.lower()
    for section in ("summary", "drift", "charts", "quality", "performance", "checks"):
        assert f'id="{section}"' in page


def test_html_drift_table_lists_critical_before_ok(report: Report) -> None:
    page = render_html(report)
    table = page[page.index('id="drift"') : page.index('id="charts"')]
    assert table.index("&lt;script&gt;") < table.index("constant")


def test_charts_are_valid_svg_with_bars_proportional_to_shares(report: Report) -> None:
    dist = report.drift.columns[HOSTILE].distribution
    assert dist is not None
    svg = distribution_svg(dist, title=HOSTILE)
    root = ET.fromstring(str(svg))
    rects = root.findall("{http://www.w3.org/2000/svg}rect")
    assert len(rects) == 2 * len(dist.labels)
    heights = [float(r.get("height", "0")) for r in rects]
    shares = [s for pair in zip(dist.reference, dist.current, strict=True) for s in pair]
    top = max(shares)
    tallest = max(heights)
    for h, s in zip(heights, shares, strict=True):
        assert h == pytest.approx(tallest * s / top, abs=0.06)


def test_terminal_prints_names_literally_and_worst_first(report: Report) -> None:
    console = Console(record=True, width=200)
    render_terminal(report, console)
    text = console.export_text()
    assert MARKUP in text  # rich markup in a column name is printed, not interpreted
    assert HOSTILE in text
    drift = text[text.index("Drift") :]
    assert drift.index(HOSTILE) < drift.index("constant")
    assert "Performance" in text and "roc_auc" in text
