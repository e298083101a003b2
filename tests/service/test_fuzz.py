"""Schemathesis drives every operation of the service's own OpenAPI document with generated
requests, valid and invalid (bounded examples); the service must never answer 5xx to client
data and must keep serving."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from tests.service.conftest import SPEC, Live, ThreadServer, make_settings

from vigil.monitor.windows import WindowPlan
from vigil.service.app import create_app
from vigil.spec import spec_from_dict


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    tmp = tmp_path_factory.mktemp("fuzz")
    app = create_app(make_settings(tmp, windows=WindowPlan(min_rows=1)), scheduler=False)
    with ThreadServer(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        live = Live(url, client, Path(tmp / "vigil.duckdb"), app)
        live.setup_model()  # so that /v1/models/credit/... reaches validation, not only 404
        yield live


def _cases() -> list[tuple[str, GenerationMode]]:
    """Every operation with valid inputs, and those that take inputs with invalid ones too."""
    app = create_app(replace(make_settings(Path()), db=":memory:"), scheduler=False)
    out = []
    for path, item in app.openapi()["paths"].items():
        for method, operation in item.items():
            label = f"{method.upper()} {path}"
            out.append((label, GenerationMode.POSITIVE))
            queries = [p for p in operation.get("parameters", []) if p["in"] != "path"]
            if queries or operation.get("requestBody"):  # the path's model is pinned
                out.append((label, GenerationMode.NEGATIVE))
    return out


@pytest.mark.parametrize(("operation", "mode"), _cases())
def test_no_operation_answers_5xx(fuzzed: Live, operation: str, mode: GenerationMode) -> None:
    assert spec_from_dict(SPEC)  # the registered model's spec is valid
    schema = schemathesis.openapi.from_url(f"{fuzzed.url}/openapi.json")
    method, path = operation.split(" ", 1)
    op = schema[path][method]
    pinned = {"model": "credit"} if "{model}" in path else None
    strategy = op.as_strategy(mode, path_parameters=pinned) if pinned else op.as_strategy(mode)

    @given(case=strategy)
    @settings(  # seeded, so that CI is reproducible; bench/hostile.py explores further
        max_examples=100,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
        derandomize=True,
    )
    def run(case: schemathesis.Case) -> None:
        response = case.call(base_url=fuzzed.url, timeout=30)
        assert response.status_code < 500, (
            f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:500]}"
        )

    run()
    assert fuzzed.client.get("/healthz").status_code == 200
