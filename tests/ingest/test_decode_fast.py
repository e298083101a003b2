"""The orjson fast path of `decode_json` gives what the careful path gives, and never lets a
repeated key through."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from vigil.ingest.decode import DUPLICATE, _decode_fast, decode_json

names = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=6)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
)
records = st.lists(
    st.fixed_dictionaries(
        {
            "id": st.text(min_size=1, max_size=5),
            "features": st.dictionaries(names, scalars, max_size=5),
        },
        optional={"segments": st.dictionaries(names, scalars, max_size=2), "score": scalars},
    ),
    max_size=8,
)


@given(records, st.sampled_from([None, 2]))
@settings(max_examples=150, deadline=None)
def test_fast_path_equals_the_standard_parser(batch: list, indent: int | None) -> None:
    body = json.dumps({"records": batch}, indent=indent).encode()
    assert decode_json(body) == batch
    assert _decode_fast(body, "records") in (batch, None)


@given(records.filter(lambda b: any(r["features"] for r in b)), st.data())
@settings(max_examples=150, deadline=None)
def test_a_repeated_key_is_never_hidden(batch: list, data: st.DataObject) -> None:
    target = data.draw(st.sampled_from([r for r in batch if r["features"]]))
    name = next(iter(target["features"]))
    parts = []
    for r in batch:
        feats = json.dumps(r["features"])
        if r is target:
            feats = "{" + json.dumps(name) + ": 1, " + feats[1:]
        rest = json.dumps({k: v for k, v in r.items() if k != "features"})
        parts.append('{"features": ' + feats + ", " + rest[1:])
    doubled = '{"records": [' + ", ".join(parts) + "]}"
    assert _decode_fast(doubled.encode(), "records") is None
    decoded = decode_json(doubled.encode())
    assert any(DUPLICATE in (r.get("features") or {}) for r in decoded)


def test_values_holding_key_like_text_take_the_careful_path_and_agree() -> None:
    body = json.dumps({"records": [{"id": 'a":', "features": {"x": '":":'}}]}).encode()
    assert decode_json(body) == [{"id": 'a":', "features": {"x": '":":'}}]
    spaced = b'{"records" : [{"id" : "a", "features" : {"x" : 1}}]}'
    assert _decode_fast(spaced, "records") == [{"id": "a", "features": {"x": 1}}]
