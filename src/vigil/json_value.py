"""A value read from JSON, as vigil's messages name it ("got a string, expected a number").

Ingest (request bodies) and profile files (`vigil profile`) both read JSON written by others
and say what they found where something else was expected, in the same words.
"""

from __future__ import annotations

from typing import Any


class NonFinite(str):
    """A NaN or Infinity literal found in JSON (not valid JSON, but Python's parser reads it).

    Kept as its text, so that whoever reads it can reject it with a reason instead of taking
    a float NaN for a missing value.
    """

    __slots__ = ()


def json_type(value: Any) -> str:
    """The JSON type of a value, with its article: "null", "a number", "an object", ...

    >>> json_type(None), json_type(True), json_type(1.5), json_type([1]), json_type({})
    ('null', 'a boolean', 'a number', 'an array', 'an object')
    >>> json_type(NonFinite("NaN")), json_type(b"x")
    ('NaN (not JSON)', 'a value of type bytes')
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, NonFinite):
        return f"{value} (not JSON)"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return f"a value of type {type(value).__name__}"
