"""A reference set as every path keeps it: conformed to its spec, or refused with the reason.

`vigil report` and `vigil profile`, the service's reference upload and the models of a service
config all pass a reference through `conform_reference`, so they accept and refuse the same
sets. Each column of the spec is read the way its kind is read everywhere
(`vigil.measure.columns`):

============================  ==================================================================
kind                          kept as
============================  ==================================================================
numeric                       float64; times as epoch seconds, numbers written as text as numbers
categorical, text             strings as `vigil.spec.values.category_strings` reads them: 1.0 and
                              1 are one category, booleans are "true" and "false"
boolean                       booleans: true/false, 1/0 (numbers or text), "true"/"false"
datetime                      timestamp[us, UTC]: any unit or zone, dates at midnight, ISO-8601
                              text, epoch seconds; a naive time is taken as UTC
============================  ==================================================================

A set is refused when it has no rows, lacks a column of the spec, holds a spec column that
cannot be read as its kind, or one without a single usable value. Cells that cannot be read in
a column that mostly can are kept as missing and counted (`Dataset.type_mismatches`), as in
any data set. Columns the spec does not name are kept as they are.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vigil.errors import InputError, NotEnoughData, SpecError
from vigil.measure.columns import boolean_column, nan_as_null, numeric_array, time_column
from vigil.measure.reading import Dataset
from vigil.spec import Kind, Spec
from vigil.spec.values import category_strings, is_text

# What each kind needs its values to be, in the words of the refusal.
_EXPECTED: dict[Kind, str] = {
    "numeric": "numbers",
    "datetime": "times (timestamps, dates, ISO-8601 text or epoch seconds)",
    "boolean": "true/false values (or 1/0)",
    "categorical": "values that read as text",
    "text": "values that read as text",
}
_EXAMPLES_TRIED = 50  # distinct values read one by one to find one to show


def conform_reference(data: Dataset, spec: Spec) -> Dataset:
    """The reference with each spec column in its kind's type, or a `VigilError` that names
    the column, what it holds and what the spec expects.

    >>> data = Dataset(pa.table({"y": [0.0, 1.0, 1.0]}), "train.csv")
    >>> from vigil.spec import ColumnSpec
    >>> spec = Spec((ColumnSpec("y", role="target", kind="categorical"),), task="binary")
    >>> conform_reference(data, spec).table.column("y").to_pylist()
    ['0', '1', '1']
    """
    table = data.table
    where = f"the reference {data.source}"
    if table.num_rows == 0:
        raise NotEnoughData(
            f"{where} has no rows; a reference is the data the model was trained or "
            f"validated on, and later sets are compared with it."
        )
    absent = [name for name in spec.names if name not in table.column_names]
    if absent:
        raise SpecError(
            f"the spec names {', '.join(map(repr, absent))}, which {where} does not have; its "
            f"columns are {', '.join(table.column_names) or '(none)'}. Add the column to the "
            f"reference, or drop it from the spec."
        )
    columns: list[pa.ChunkedArray] = []
    mismatches = dict(data.type_mismatches)
    for name in table.column_names:
        column = table.column(name)
        if name in spec.names:
            kind = spec.column(name).kind
            typed, bad = _read(column, kind)
            if typed is None:
                raise InputError(
                    f"{where}: column {name!r} holds {_held(column, kind)}; the spec makes it "
                    f"{kind}, which needs {_EXPECTED[kind]}. Convert the column, or give it "
                    f"the kind of its values in the spec."
                )
            _check_has_values(typed, kind, name, where)
            column = typed
            if bad:
                mismatches[name] = mismatches.get(name, 0) + bad
        columns.append(column)
    return Dataset(pa.table(columns, names=table.column_names), data.source, mismatches)


def _read(column: pa.ChunkedArray, kind: Kind) -> tuple[pa.ChunkedArray | None, int]:
    """The column in its kind's type and its unreadable cells; None when nothing reads."""
    non_null = len(column) - column.null_count
    if kind == "numeric":
        if pa.types.is_floating(column.type) and column.type == pa.float64():
            return column, 0
        values, bad = numeric_array(column, kind)
        if non_null and bad == non_null:
            return None, bad
        return pa.chunked_array([pa.array(values, pa.float64(), from_pandas=True)]), bad
    if kind == "datetime":
        return time_column(column)
    if kind == "boolean":
        return boolean_column(column)
    try:
        return category_strings(nan_as_null(column)), 0
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return None, non_null


def _check_has_values(column: pa.ChunkedArray, kind: Kind, name: str, where: str) -> None:
    rows = len(column)
    if kind == "numeric":
        values = np.asarray(pc.fill_null(column, np.nan).to_numpy(), dtype=np.float64)
        finite = int(np.count_nonzero(np.isfinite(values)))
        if finite:
            return
        infinite = int(np.count_nonzero(np.isinf(values)))
        held = f"{infinite} infinite, {rows - infinite} missing"
    else:
        if column.null_count < rows:
            return
        held = f"all {rows} missing"
    raise NotEnoughData(
        f"{where}: column {name!r} has no usable value ({held}); later sets are compared "
        f"with the reference, so every column of the spec needs values in it. Fill the "
        f"column, or drop it from the spec."
    )


def _held(column: pa.ChunkedArray, kind: Kind) -> str:
    """What an unreadable column holds, in a few words: its type, and a value when text."""
    if is_text(column) or pa.types.is_dictionary(column.type):
        distinct = pc.unique(column.drop_null()).to_pylist()[:_EXAMPLES_TRIED]
        for value in distinct:
            typed, bad = _read(pa.chunked_array([[value]]), kind)
            if typed is None or bad:
                return f"text such as {str(value)[:40]!r}"
        return "text"
    return f"{column.type} values"
