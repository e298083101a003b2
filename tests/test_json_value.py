"""`vigil.json_value`: the one way messages name what a JSON value is."""

from __future__ import annotations

import datetime as dt
import doctest
import json
from decimal import Decimal
from typing import Any

import pytest

import vigil.json_value
from vigil.json_value import NonFinite, json_type


def test_the_docstring_examples_run() -> None:
    assert doctest.testmod(vigil.json_value).failed == 0


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("null", "null"),
        ("true", "a boolean"),
        ("0", "a number"),
        ("-1.5e300", "a number"),
        ('""', "a string"),
        ("[]", "an array"),
        ('{"a": {}}', "an object"),
        ("NaN", "NaN (not JSON)"),
        ("-Infinity", "-Infinity (not JSON)"),
    ],
)
def test_every_value_the_parser_gives_is_named(text: str, name: str) -> None:
    assert json_type(json.loads(text, parse_constant=NonFinite)) == name


@pytest.mark.parametrize(
    ("value", "name"),
    [
        (dt.datetime(2026, 1, 1), "a value of type datetime"),
        (Decimal("1.5"), "a value of type Decimal"),
        (b"\xff", "a value of type bytes"),
        ((1, 2), "a value of type tuple"),
    ],
)
def test_values_no_json_parser_gives_are_named_by_their_type(value: Any, name: str) -> None:
    # Arrow columns read value by value (ingest of Parquet bodies) hold these
    assert json_type(value) == name


def test_a_non_finite_literal_is_text_not_a_float() -> None:
    value = NonFinite("Infinity")
    assert value == "Infinity" and not isinstance(value, float)
