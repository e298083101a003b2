"""The JSON report's writer (one walk, orjson) against `dataclasses.asdict` and `json`: every
part of the document is the dataclass it came from, field for field, NaN as null."""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

import numpy as np
import orjson
import pytest

from vigil.report import report_to_dict, report_to_json
from vigil.report.model import Report


def _finite(value: Any) -> Any:
    """`json`'s view of a value once NaN and infinities are null (the documented rule)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, np.generic):
        return _finite(value.item())
    return value


def _as_json(value: Any) -> Any:
    return json.loads(json.dumps(_finite(dataclasses.asdict(value)), allow_nan=False))


@pytest.fixture(params=["credit_report", "pending_report", "multiclass_report", "wide_report"])
def any_report(request: pytest.FixtureRequest) -> Report:
    report: Report = request.getfixturevalue(request.param)
    return report


def test_every_part_of_the_document_is_its_dataclass(any_report: Report) -> None:
    report = any_report
    for text in (report_to_json(report), report_to_json(report, indent=False)):
        doc = json.loads(text)  # the standard parser reads what orjson wrote
        assert doc == json.loads(json.dumps(report_to_dict(report), allow_nan=False))
        assert doc["checks"] == [_as_json(c) for c in report.checks]
        assert doc["reference"] == _as_json(report.reference)
        assert doc["quality"]["schema"] == _as_json(report.quality.schema)
        assert list(doc["drift"]["columns"]) == list(report.drift.columns)
        for name, col in report.drift.columns.items():
            expected = _as_json(col)
            del expected["column"]
            entry = dict(doc["drift"]["columns"][name])
            assert entry.pop("status") == report.drift_status(name)
            assert entry.pop("drifted") == (report.drift_status(name) in ("warning", "critical"))
            assert entry == expected
        assert list(doc["quality"]["columns"]) == list(report.quality.columns)
        for name, q in report.quality.columns.items():
            expected = _as_json(q)
            del expected["column"]
            assert doc["quality"]["columns"][name] == expected
    assert report_to_json(report, indent=False) == orjson.dumps(report_to_dict(report)).decode()


def test_numpy_numbers_nan_and_infinities_are_written_as_json(credit_report: Report) -> None:
    name, column = next(iter(credit_report.drift.columns.items()))
    metrics = {"a": np.float64(0.5), "b": float("nan"), "c": np.float64(-np.inf), "d": np.int64(7)}
    report = dataclasses.replace(
        credit_report,
        drift=dataclasses.replace(
            credit_report.drift,
            columns={
                **credit_report.drift.columns,
                name: dataclasses.replace(column, metrics=metrics),
            },
        ),
    )
    doc = json.loads(report_to_json(report))
    assert doc["drift"]["columns"][name]["metrics"] == {"a": 0.5, "b": None, "c": None, "d": 7}
    assert report_to_dict(report) == doc
