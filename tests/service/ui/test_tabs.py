"""The model pages' tabs: Fairness is offered only where a spec protects an attribute."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from vigil.service.ui.render import environment, protects
from vigil.service.ui.session import Viewer
from vigil.store.base import ModelInfo


def _model(columns: dict[str, dict[str, object]], *, older: bool = False) -> ModelInfo:
    specs = {"2": {"columns": columns}}
    if older:  # only an earlier version protects a column
        specs = {"1": {"columns": columns}, "2": {"columns": {"x": {"kind": "numeric"}}}}
    return ModelInfo(
        id=1,
        name="credit",
        current_version="2",
        specs=specs,
        columns=(),
        label_storage=None,
        created=datetime(2026, 1, 1, tzinfo=timezone.utc),
    )


def _tabs(model: ModelInfo, tab: str) -> str:
    html = (
        environment()
        .get_template("error.html.j2")
        .render(
            request_path="/",
            request_query="",
            viewer=Viewer("admin", frozenset({"admin"}), "t", False),
            title="t",
            model=model,
            tab=tab,
            has_charts=False,
            status=404,
            heading="h",
            message="m",
            timerange=None,
            keep={},
        )
    )
    return html[html.index('<nav class="tabs"') : html.index("</nav>")]


PROTECTED = {"region": {"kind": "categorical", "role": "segment", "protected": True}}
PLAIN = {"region": {"kind": "categorical", "role": "segment"}, "protected": {"kind": "numeric"}}


@pytest.mark.parametrize(
    ("columns", "older", "shown"),
    [
        (PROTECTED, False, True),
        (PROTECTED, True, True),
        (PLAIN, False, False),
        ({"region": {"kind": "categorical", "protected": "yes"}}, False, False),
    ],
)
def test_the_fairness_tab_shows_only_when_a_spec_protects_an_attribute(
    columns: dict[str, dict[str, object]], older: bool, shown: bool
) -> None:
    model = _model(columns, older=older)
    assert protects(model) is shown
    nav = _tabs(model, "overview")
    assert ("/models/credit/fairness" in nav) is shown
    assert "/models/credit/drift" in nav and "/models/credit/windows" in nav


def test_on_the_fairness_page_itself_its_tab_stays() -> None:
    nav = _tabs(_model(PLAIN), "fairness")
    assert 'href="/models/credit/fairness"' in nav and 'aria-current="page"' in nav
