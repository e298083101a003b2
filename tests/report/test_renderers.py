"""The three renderings of a report: JSON (schema v1), HTML (escaped, offline), terminal."""

from __future__ import annotations

import doctest
import json
import math
import re
import xml.etree.ElementTree as ET

import numpy as np
import pyarrow as pa
import pytest
from rich.console import Console

from vigil.evaluation import evaluate, infer_spec
from vigil.measure.drift import Distribution
from vigil.report import REPORT_SCHEMA_VERSION, render_html, render_terminal, report_to_dict
from vigil.report.charts import category_labels, distribution_svg, edge_labels
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


# --- the HTML page: charts, sources, quality, performance ----------------------------------------

SVG = "{http://www.w3.org/2000/svg}"


def _texts(svg: str, cls: str) -> list[str]:
    root = ET.fromstring(svg)
    return [t.text or "" for t in root.iter(f"{SVG}text") if cls in t.get("class", "").split()]


def _bars(svg: str, cls: str) -> list[ET.Element]:
    root = ET.fromstring(svg)
    return [r for r in root.iter(f"{SVG}rect") if cls in r.get("class", "").split()]


def test_histogram_has_a_percent_axis_and_every_edge_labelled_in_full() -> None:
    dist = Distribution(
        labels=("≤ 2.897e+04", "(2.897e+04, 3.54e+04]", "(3.54e+04, 1.174e+05]", "> 1.174e+05"),
        reference=(0.25, 0.25, 0.25, 0.25),
        current=(0.4, 0.3, 0.2, 0.1),
        edges=(7999.29, 28968.9, 35402.4, 117400.0, 323424.7),
    )
    svg = str(distribution_svg(dist, title="income"))
    ticks = _texts(svg, "axis-y")
    assert ticks[0] == "0%" and len(ticks) >= 3
    assert all(t.endswith("%") for t in ticks)
    assert [float(t.rstrip("%")) for t in ticks] == sorted(float(t.rstrip("%")) for t in ticks)
    assert float(ticks[-1].rstrip("%")) >= 40  # the axis reaches the tallest bar
    assert _texts(svg, "axis-x") == ["8k", "29k", "35.4k", "117k", "323k"]
    assert len(_bars(svg, "reference")) == len(_bars(svg, "current")) == 4


def test_edge_labels_stay_distinct_and_compact() -> None:
    assert edge_labels([0.27441, 0.27449, 0.3]) == ["0.2744", "0.2745", "0.3"]
    assert edge_labels([999.96, 1000.0]) == ["999.96", "1k"]  # "1k" twice at 3 digits
    assert edge_labels([-1_250_000.0, 0.0, 3.5e9]) == ["-1.25M", "0", "3.5G"]
    assert edge_labels([1.2e-05, 3.4e-05]) == ["1.2e-05", "3.4e-05"]
    assert edge_labels([1234.0, 5678.0, 12.5]) == ["1.23k", "5.68k", "12.5"]


def test_category_chart_is_sorted_by_reference_share_with_other_last() -> None:
    dist = Distribution(
        labels=("b", "a", "<i>x</i> & co", "c", "(other)"),
        reference=(0.1, 0.4, 0.2, 0.0, 0.3),
        current=(0.2, 0.1, 0.2, 0.4, 0.1),
        edges=None,
    )
    svg = str(distribution_svg(dist, title="colour"))
    assert _texts(svg, "category") == ["a", "<i>x</i> & co", "b", "c", "(other)"]
    widths = [float(r.get("width", "0")) for r in _bars(svg, "reference")]
    assert widths[:4] == sorted(widths[:4], reverse=True)
    assert all(t.endswith("%") for t in _texts(svg, "axis-x"))


def test_category_chart_shortens_long_names_but_keeps_them_in_the_tooltip() -> None:
    long = "merchant category number 12 with a fairly long description"
    dist = Distribution((long, "x"), (0.5, 0.5), (0.5, 0.5), None)
    svg = str(distribution_svg(dist, title="merchant"))
    shown = _texts(svg, "category")[0]
    assert shown.endswith("…") and long.startswith(shown[:-1])
    root = ET.fromstring(svg)
    assert any(long in (t.text or "") for t in root.iter(f"{SVG}title"))


def test_category_labels_that_share_a_long_prefix_stay_apart() -> None:
    names = [f"merchant category number {k} with a fairly long description" for k in (3, 12)]
    shown = category_labels([*names, "(other)"], 120)
    assert len(set(shown)) == 3
    assert shown[0].startswith("…3 with") and shown[1].startswith("…12 with")
    assert shown[2] == "(other)"


def _section(page: str, name: str) -> str:
    start = page.index(f'<section id="{name}"')
    return page[start : page.index("</section>", start)]


def _row(section: str, column: str) -> str:
    start = section.index(f'data-column="{column}"')
    return section[start : section.index("</tr>", start)]


def test_html_names_in_memory_sources_in_words(credit_report: Report) -> None:
    assert credit_report.reference.source == "<Arrow table>"
    header = render_html(credit_report).split("</header>")[0]
    assert header.count("in-memory Arrow table") == 2
    assert "&lt;Arrow table&gt;" not in header


def test_html_does_not_show_new_ids_as_unseen(credit_report: Report) -> None:
    quality = _section(render_html(credit_report), "quality")
    row = _row(quality, "application_id")
    assert "100.00%" not in row and "P0000000" not in row
    assert "new by nature" in row
    region = _row(quality, "region")  # a feature's unseen category is still shown, and judged
    assert "online" in region and credit_report.check("unseen_share", "region") is not None
    assert f'class="flag {credit_report.check("unseen_share", "region").status}"' in region  # type: ignore[union-attr]


def test_html_performance_rows_show_status_direction_and_noise(credit_report: Report) -> None:
    perf = credit_report.performance
    assert perf is not None
    section = _section(render_html(credit_report), "performance")
    for name, change in perf.changes.items():
        row = section[section.index(f'data-metric="{name}"') :].split("</tr>")[0]
        check = credit_report.check(f"performance.{name}")
        assert check is not None
        assert f'<span class="badge {check.status}">{check.status}</span>' in row
        assert ("higher" if change.higher_is_better else "lower") in row
        assert change.standard_error is not None
        assert f"± {change.standard_error:.2g}" in row
        assert '<svg class="band"' in row
    unjudged = section[section.index('data-metric="precision"') :].split("</tr>")[0]
    assert "not judged" in unjudged and "higher" in unjudged
    assert "fpr" in section and "lower" in section[section.index('data-metric="fpr"') :]
    labelled = perf.current.rows if perf.current else 0
    assert f"{labelled:,} of {perf.current_rows:,} current rows" in section


def test_html_shows_pending_performance(pending_report: Report) -> None:
    page = render_html(pending_report)
    pending = [c for c in pending_report.checks if c.status == "pending"]
    assert pending
    summary = _section(page, "summary")
    card = summary[summary.index('data-status="pending"') :].split("</div>")[0]
    assert f"<b>{len(pending)}</b>" in card
    section = _section(page, "performance")
    assert f"0 of {pending_report.current.rows:,} current rows" in section
    for c in pending:
        if c.name.startswith("performance."):
            metric = c.name.removeprefix("performance.")
            row = section[section.index(f'data-metric="{metric}"') :].split("</tr>")[0]
            assert '<span class="badge pending">pending</span>' in row
    assert ".pending" in page.split("</style>")[0]  # the badge has its own colour


def test_html_multiclass_confusion_matrix_lists_the_classes(multiclass_report: Report) -> None:
    section = _section(render_html(multiclass_report), "performance")
    assert section.count("prepaid_card_for_international_travel") >= 4  # rows and columns, twice
    assert "名前" in section
    assert 'data-metric="f1_macro"' in section


def test_chart_docstring_examples_run() -> None:
    from vigil.report import charts  # its examples are not in the doctest paths of pytest

    result = doctest.testmod(charts)
    assert result.attempted > 0 and result.failed == 0
