"""The multivariate section of the terminal, JSON and HTML reports."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
from rich.console import Console

from vigil import infer_spec
from vigil.evaluation import evaluate
from vigil.report.html import render_html
from vigil.report.json import read_report, report_to_dict, report_to_json
from vigil.report.terminal import render_terminal


def sets() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(0)

    def frame(n: int, rho: float) -> pd.DataFrame:
        a = rng.normal(size=n)
        return pd.DataFrame(
            {
                "a": a,
                "<b>weight</b>": rho * a + np.sqrt(1 - rho**2) * rng.normal(size=n),
                "city": rng.choice(["x", "y"], n),
            }
        )

    return frame(3000, 0.9), frame(1000, -0.9)


def test_every_output_carries_the_multivariate_measures() -> None:
    reference, current = sets()
    report = evaluate(reference, current, infer_spec(reference))
    assert report.multivariate is not None and report.multivariate.domain is not None

    doc = report_to_dict(report)["multivariate"]
    assert doc["reconstruction"]["value"] == report.multivariate.reconstruction.value
    assert doc["reconstruction"]["relative_increase"] > 0.15
    assert doc["domain"]["top_features"][0]["column"] in ("a", "<b>weight</b>")
    back = read_report(report_to_json(report))
    assert back.multivariate == report.multivariate
    assert render_html(back) == render_html(report)

    page = render_html(report)
    assert 'id="multivariate"' in page and 'data-measure="domain_auc"' in page
    assert "<b>weight</b>" not in page and "&lt;b&gt;weight&lt;/b&gt;" in page

    out = io.StringIO()
    render_terminal(report, Console(file=out, width=160))
    text = out.getvalue()
    assert "Multivariate drift (3 columns)" in text and "domain_auc" in text


def test_a_report_without_multivariate_drift_has_no_key() -> None:
    reference, _ = sets()
    report = evaluate(reference[["a"]], reference[["a"]], infer_spec(reference[["a"]]))
    assert report.multivariate is None
    assert "multivariate" not in report_to_dict(report)
    assert read_report(report_to_json(report)).multivariate is None
    assert 'id="multivariate"' not in render_html(report)
