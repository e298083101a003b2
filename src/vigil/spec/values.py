"""How values of a kind are read from Arrow: categories are compared as strings.

`1`, `1.0` and `"1"` are one category; booleans are `true` and `false`. The batch path, the
service's reference check and spec inference all read categories through `category_strings`,
so a class or a category is the same string everywhere.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc


def is_text(column: pa.ChunkedArray | pa.Array) -> bool:
    """True for string columns of any Arrow string type."""
    t = column.type
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t))


def category_strings(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """The column's values as strings ("true"/"false" for booleans), nulls kept.

    >>> category_strings(pa.chunked_array([[1.0, 2.5, None, float("nan")]])).to_pylist()
    ['1', '2.5', None, None]
    """
    t = column.type
    if pa.types.is_dictionary(t):
        column = pc.cast(column, t.value_type)
    if is_text(column):
        return column if column.type == pa.string() else pc.cast(column, pa.string())
    if pa.types.is_floating(column.type):  # 1.0 and 1 are one category; NaN is missing
        column = pc.if_else(pc.is_nan(column), pa.scalar(None, column.type), column)
        as_int = pc.cast(column, pa.int64(), safe=False)
        whole = pc.equal(pc.cast(as_int, column.type), column)
        return pc.if_else(whole, pc.cast(as_int, pa.string()), pc.cast(column, pa.string()))
    return pc.cast(column, pa.string())


def distinct_categories(column: pa.ChunkedArray) -> list[str]:
    """The distinct non-missing values of a column, as category strings, sorted (a float NaN
    is missing too: `category_strings` makes it null)."""
    distinct = pc.unique(column).drop_null()
    strings = category_strings(pa.chunked_array([distinct])).to_pylist()
    return sorted({s for s in strings if s is not None})
