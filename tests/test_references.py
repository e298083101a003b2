"""`conform_reference`: the one check every path makes of a reference set, against pandas."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vigil.errors import InputError, NotEnoughData, SpecError
from vigil.evaluation import evaluate
from vigil.measure.columns import TIME_TYPE
from vigil.measure.reading import Dataset
from vigil.measure.reference import conform_reference
from vigil.spec import ColumnSpec, Kind, Spec

PROPERTIES = settings(max_examples=60, deadline=None)


def spec_of(**kinds: Kind) -> Spec:
    return Spec(tuple(ColumnSpec(name, kind=kind) for name, kind in kinds.items()))


def conformed(column: pa.Array | pa.ChunkedArray, kind: Kind) -> tuple[list[object], int]:
    data = Dataset(pa.table({"c": column}), "test.parquet")
    out = conform_reference(data, spec_of(c=kind))
    return out.table.column("c").to_pylist(), out.type_mismatches.get("c", 0)


@PROPERTIES
@given(st.lists(st.one_of(st.none(), st.integers(-(2**40), 2**40)), min_size=1, max_size=40))
def test_whole_numbers_are_one_category_whatever_their_type(values: list[int | None]) -> None:
    if all(v is None for v in values):
        values = [*values, 1]
    as_int, _ = conformed(pa.array(values, pa.int64()), "categorical")
    as_float, _ = conformed(pa.array(values, pa.float64()), "categorical")
    as_text, _ = conformed(pa.array([None if v is None else str(v) for v in values]), "categorical")
    expected = [None if v is None else str(v) for v in values]
    assert as_int == as_float == as_text == expected


def test_nan_in_a_float_category_column_is_missing_on_both_sides() -> None:
    assert conformed(pa.array([0.0, 1.0, np.nan, None]), "categorical") == (
        ["0", "1", None, None],
        0,
    )
    reference = pa.table({"y": pa.array([0.0, 1.0] * 50 + [np.nan] * 10)})
    current = pa.table({"y": pa.array([1.0, 0.0] * 50 + [np.nan] * 30)})
    report = evaluate(reference, current, spec_of(y="categorical"))
    quality = report.quality.columns["y"]
    assert quality.unseen_share == 0.0 and quality.n_unseen_categories == 0
    assert quality.reference_missing_share == pytest.approx(10 / 110)
    assert quality.missing_share == pytest.approx(30 / 130)


def test_booleans_are_true_and_false_as_categories_and_as_booleans() -> None:
    column = pa.array([True, False, None])
    assert conformed(column, "categorical") == (["true", "false", None], 0)
    assert conformed(column, "boolean") == ([True, False, None], 0)
    assert conformed(pa.array([1, 0, 1]), "boolean") == ([True, False, True], 0)
    assert conformed(pa.array([1.0, 0.0, None]), "boolean") == ([True, False, None], 0)
    words = pa.array(["TRUE", "false", " 1 ", "0", "maybe"])
    assert conformed(words, "boolean") == ([True, False, True, False, None], 1)


@PROPERTIES
@given(
    st.lists(
        st.one_of(
            st.none(),
            st.floats(allow_nan=True, allow_infinity=True).map(repr),
            st.integers(-(10**12), 10**12).map(str),
            st.sampled_from(["abc", "", "1,5", "one", "--1"]),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_numbers_in_text_read_as_pandas_reads_them(cells: list[str | None]) -> None:
    column = pa.array(cells, pa.string())
    expected = pd.to_numeric(pd.Series(cells, dtype=object), errors="coerce").astype(float)
    is_number = expected.notna() | pd.Series([c is not None and "nan" in c for c in cells])
    readable = int(is_number.sum())
    present = sum(c is not None for c in cells)
    data = Dataset(pa.table({"c": column}), "test.csv")
    if present == 0 or readable < present / 2:
        with pytest.raises((InputError, NotEnoughData), match=r"column 'c'"):
            conform_reference(data, spec_of(c="numeric"))
        return
    finite = expected[np.isfinite(expected)]
    if finite.empty:
        with pytest.raises(NotEnoughData, match=r"column 'c' has no usable value"):
            conform_reference(data, spec_of(c="numeric"))
        return
    got, bad = conformed(column, "numeric")
    assert bad == present - readable
    as_floats = np.array([np.nan if v is None else v for v in got], dtype=np.float64)
    np.testing.assert_array_equal(as_floats, expected.to_numpy(dtype=np.float64))


@pytest.mark.parametrize(
    "column",
    [
        pa.array([1_700_000_000_123_456_789, None], pa.timestamp("ns")),
        pa.array([1_700_000_000_123_456_789, None], pa.timestamp("ns", tz="Asia/Kolkata")),
        pa.array([1_700_000_000_123, None], pa.timestamp("ms", tz="America/New_York")),
        pa.array([1_700_000_000, None], pa.timestamp("s")),
        pa.array([dt.date(2023, 11, 14), None], pa.date32()),
        pa.array([dt.date(2023, 11, 14), None], pa.date64()),
        pa.array(["2023-11-14T22:13:20.123456789Z", None]),
        pa.array(["2023-11-15T03:43:20.123456+05:30", None]),
        pa.array(["2023-11-14 22:13:20", None]),
        pa.array([1_700_000_000.5, None]),
    ],
    ids=lambda c: str(c.type),
)
def test_times_of_every_kind_become_utc_microseconds_as_pandas_reads_them(
    column: pa.Array,
) -> None:
    got, bad = conformed(column, "datetime")
    assert bad == 0
    table = conform_reference(Dataset(pa.table({"c": column}), "t"), spec_of(c="datetime")).table
    assert table.schema.field("c").type == TIME_TYPE
    if pa.types.is_floating(column.type):
        expected = pd.to_datetime(column.to_pylist(), unit="s", utc=True)
    elif pa.types.is_string(column.type):
        expected = pd.to_datetime(column.to_pylist(), utc=True, format="ISO8601")
    else:
        expected = pd.to_datetime(column.to_pandas(), utc=True)
    assert got[1] is None
    assert pd.Timestamp(got[0]) == expected[0].floor("us")


def test_a_column_that_cannot_be_read_is_refused_naming_it() -> None:
    data = Dataset(pa.table({"age": ["young", "old", "12"], "y": [1, 0, 1]}), "train.csv")
    spec = spec_of(age="numeric", y="categorical")
    with pytest.raises(InputError) as raised:
        conform_reference(data, spec)
    message = str(raised.value)
    assert "the reference train.csv: column 'age' holds text such as 'young'" in message
    assert "the spec makes it numeric, which needs numbers" in message
    nested = Dataset(pa.table({"tags": pa.array([[1], [2]])}), "x.parquet")
    with pytest.raises(InputError, match=r"'tags' holds list<item: int64> values.*categorical"):
        conform_reference(nested, spec_of(tags="categorical"))
    with pytest.raises(InputError, match=r"'when' holds text such as 'soon'.*datetime"):
        conform_reference(Dataset(pa.table({"when": ["soon"]}), "x"), spec_of(when="datetime"))


def test_absent_empty_and_valueless_columns_are_refused() -> None:
    data = Dataset(pa.table({"age": [1.0, 2.0]}), "train.parquet")
    with pytest.raises(SpecError, match=r"'income', which the reference train.parquet does not"):
        conform_reference(data, spec_of(age="numeric", income="numeric"))
    with pytest.raises(NotEnoughData, match=r"train.parquet has no rows"):
        conform_reference(Dataset(data.table.slice(0, 0), "train.parquet"), spec_of(age="numeric"))
    nulls = Dataset(pa.table({"age": [1.0, 2.0], "city": pa.nulls(2)}), "train.parquet")
    with pytest.raises(NotEnoughData, match=r"column 'city' has no usable value \(all 2 missing"):
        conform_reference(nulls, spec_of(age="numeric", city="categorical"))
    infinite = Dataset(pa.table({"age": [np.inf, None]}), "t")
    with pytest.raises(NotEnoughData, match=r"'age' has no usable value \(1 infinite, 1 missing"):
        conform_reference(infinite, spec_of(age="numeric"))


def test_other_columns_are_kept_and_mismatches_add_up() -> None:
    table = pa.table({"x": pa.array(["1", "2", "three"]), "note": pa.array([[1], [], None])})
    data = Dataset(table, "t.csv", {"x": 4})
    out = conform_reference(data, spec_of(x="numeric"))
    assert out.table.column("note").equals(table.column("note"))
    assert out.type_mismatches == {"x": 5}
    assert out.table.column("x").to_pylist() == [1.0, 2.0, None]


@PROPERTIES
@given(st.integers(0, 2**32 - 1))
def test_conforming_is_idempotent_and_changes_no_measure(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 200
    times = pd.date_range("2024-01-01", periods=n, freq="37min", tz="Europe/Paris")
    table = pa.table(
        {
            "x": rng.normal(size=n),
            "k": rng.integers(0, 4, n),
            "f": rng.integers(0, 2, n).astype(float),
            "b": rng.random(n) < 0.3,
            "t": pa.array(times.as_unit("ns")),
            "s": pa.array(rng.choice(["a", "b", "c"], n)).dictionary_encode(),
        }
    )
    spec = spec_of(
        x="numeric", k="categorical", f="categorical", b="boolean", t="datetime", s="categorical"
    )
    once = conform_reference(Dataset(table, "t"), spec)
    twice = conform_reference(once, spec)
    assert twice.table.equals(once.table)
    current = table.take(rng.permutation(n)[: n // 2])
    raw = evaluate(table, current, spec)
    conformed_report = evaluate(once.table, current, spec)
    for name, column in raw.drift.columns.items():
        assert conformed_report.drift.columns[name].metrics == column.metrics, name
