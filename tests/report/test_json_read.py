"""Reading a JSON report back (`read_report`): the page rendered from the stored JSON is the
page rendered from the report itself, for the fixture reports and for reports of random data."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vigil.evaluation import evaluate, infer_spec
from vigil.report.html import render_html
from vigil.report.json import read_report, report_to_json
from vigil.report.model import Report


@pytest.fixture(params=["credit_report", "pending_report", "multiclass_report", "wide_report"])
def any_report(request: pytest.FixtureRequest) -> Report:
    report: Report = request.getfixturevalue(request.param)
    return report


def test_a_report_read_back_renders_the_same_page_and_writes_the_same_json(
    any_report: Report,
) -> None:
    text = report_to_json(any_report)
    back = read_report(text)
    assert render_html(back) == render_html(any_report)
    assert report_to_json(back) == text
    assert back.status == any_report.status


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    shift=st.floats(0.0, 3.0),
    missing=st.floats(0.0, 0.5),
    labelled=st.booleans(),
)
def test_any_evaluated_report_survives_the_round_trip(
    seed: int, shift: float, missing: float, labelled: bool
) -> None:
    rng = np.random.default_rng(seed)

    def table(n: int, moved: float) -> pa.Table:
        x = rng.normal(moved, 1.0, n)
        x[rng.random(n) < (missing if moved else 0.0)] = np.nan
        y = (x + rng.normal(0, 1, n) > 0).astype(int).astype(str)
        return pa.table(
            {
                "x": x,
                "c": rng.choice(["a", "b", "<b>c</b>"], n, p=[0.5, 0.3, 0.2]),
                "y": y,
                "p": np.where(rng.random(n) < 0.8, y, "1"),
            }
        )

    reference, current = table(300, 0.0), table(200, shift)
    if not labelled:
        current = current.drop_columns(["y"])
    report = evaluate(reference, current, infer_spec(reference, target="y", prediction="p"))
    text = report_to_json(report)
    assert render_html(read_report(text)) == render_html(report)
    assert report_to_json(read_report(text)) == text


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("not json", "not JSON"),
        ('{"vigil_report_version": 1}', "schema version 1"),
        ("[1, 2]", "schema version None"),
        ('{"vigil_report_version": 2, "drift": {}}', "not written by vigil"),
    ],
)
def test_what_is_not_a_report_is_a_value_error_that_says_so(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        read_report(text)
