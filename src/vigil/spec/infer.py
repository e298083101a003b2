"""Infer a spec from a reference table: roles from the options, kinds from Arrow types.

The rules, with the reasons, are in docs/spec.md ("Inference rules").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import TypeVar

import pyarrow as pa
import pyarrow.compute as pc

from vigil.errors import SpecError
from vigil.spec.model import AttributionOptions, ColumnSpec, Spec
from vigil.spec.types import Kind, Role, Task
from vigil.spec.values import distinct_categories

MAX_CATEGORICAL_INTEGER_VALUES = (
    10  # an integer column with at most this many values is categorical
)
TEXT_MIN_MEAN_LENGTH = 20  # a string column this long on average, and mostly distinct, is text
TEXT_MIN_DISTINCT_SHARE = 0.5
REGRESSION_MIN_DISTINCT = 20  # a numeric target with more distinct values than this is regression
# What may stand before a class name at the end of a score column's name.
_SEPARATOR = re.compile(r"[^0-9A-Za-z]")


_Column = TypeVar("_Column", pa.ChunkedArray, pa.Array)


def infer_kind(column: pa.ChunkedArray | pa.Array) -> Kind | None:
    """The kind a column of this type and content is, or None if vigil cannot judge it."""
    column = _decoded(column)
    t = column.type
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_integer(t):
        # more than the limit among the first rows settles it without counting every row
        head = column.slice(0, 10_000)
        if pc.count_distinct(head).as_py() > MAX_CATEGORICAL_INTEGER_VALUES:
            return "numeric"
        distinct = pc.count_distinct(column).as_py()
        return "categorical" if distinct <= MAX_CATEGORICAL_INTEGER_VALUES else "numeric"
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "numeric"
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        return "datetime"
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        non_null = len(column) - column.null_count
        if non_null == 0:
            return "categorical"
        lengths = pc.utf8_length(column)
        mean_length = pc.mean(lengths).as_py() or 0.0
        if mean_length < TEXT_MIN_MEAN_LENGTH:  # short values are categories, however many
            return "categorical"
        distinct = pc.count_distinct(column).as_py()
        return "text" if distinct / non_null >= TEXT_MIN_DISTINCT_SHARE else "categorical"
    return None


def spec_of_table(
    table: pa.Table,
    *,
    target: str | None = None,
    prediction: str | None = None,
    scores: Sequence[str] = (),
    id_column: str | None = None,
    timestamp: str | None = None,
    segments: Iterable[str] = (),
) -> Spec:
    """A spec for the columns of a reference table, by the rules in docs/spec.md.

    Columns named in the keyword options get those roles; every other column is a feature,
    except the first date or time column when no timestamp is named: it becomes the
    timestamp (a time column moves with the calendar, so as a feature it would always drift).
    Columns of a type vigil cannot judge (lists, structs, binary) are left out of the spec, and
    so are attribution columns: `shap_<name>` beside a column `<name>` (the default
    `attribution.prefix`) and names starting with `__`, which are vigil's own.
    """
    all_names = set(table.column_names)
    prefix = AttributionOptions().prefix
    names = [
        n
        for n in table.column_names
        if not n.startswith("__") and not (n.startswith(prefix) and n[len(prefix) :] in all_names)
    ]
    roles: dict[str, Role] = {}
    named: list[tuple[str, Role]] = [(s, "score") for s in scores]
    for name, role in (
        (target, "target"),
        (prediction, "prediction"),
        (id_column, "id"),
        (timestamp, "timestamp"),
    ):
        if name is not None:
            named.append((name, role))  # type: ignore[arg-type]
    named += [(s, "segment") for s in segments]
    for name, role in named:
        if name not in names:
            raise SpecError(
                f"the {role} column {name!r} is not in the reference; its columns "
                f"are {', '.join(names)}."
            )
        if name in roles:
            raise SpecError(f"column {name!r} was given two roles: {roles[name]} and {role}.")
        roles[name] = role
    if timestamp is None:
        for name in names:
            t = table.schema.field(name).type
            if name not in roles and (pa.types.is_timestamp(t) or pa.types.is_date(t)):
                roles[name] = "timestamp"
                break

    task: Task | None = None
    if target is not None:
        task = _infer_task(table.column(target))

    columns: list[ColumnSpec] = []
    for name in names:
        col_role: Role = roles.get(name, "feature")
        col = table.column(name)
        kind: Kind | None
        if col_role in ("target", "prediction"):
            kind = "numeric" if task == "regression" else "categorical"
            if task is None:  # a prediction without a target: judge it by its values
                kind = infer_kind(col)
                task = "regression" if kind == "numeric" else None
        elif col_role == "score":
            kind = "numeric"
        elif col_role in ("id", "segment"):
            kind = "categorical"
        elif col_role == "timestamp":
            kind = "datetime"
        else:
            kind = infer_kind(col)
        if kind is None:
            continue
        columns.append(ColumnSpec(name=name, role=col_role, kind=kind))

    if task is None and prediction is not None and target is None:
        task = _infer_task(table.column(prediction))
    if task == "multiclass":
        columns = _attach_score_classes(columns, table, target, prediction)
    return Spec(columns=tuple(columns), task=task)


def _decoded(column: _Column) -> _Column:
    """A dictionary-encoded column (pandas categories, Parquet's dictionary pages) as its
    values: count_distinct and the string kernels have no dictionary kernel."""
    t = column.type
    return column.cast(t.value_type) if pa.types.is_dictionary(t) else column


def _infer_task(column: pa.ChunkedArray) -> Task:
    column = _decoded(column)
    t = column.type
    distinct = pc.count_distinct(column).as_py()
    if (pa.types.is_floating(t) or pa.types.is_integer(t)) and distinct > REGRESSION_MIN_DISTINCT:
        return "regression"
    return "binary" if distinct <= 2 else "multiclass"


def class_of_score(column: str, classes: Sequence[str]) -> str | None:
    """The longest class name that ends the column's name after a separator, or None.

    >>> class_of_score("y_pred_proba_prepaid_card", ["highstreet_card", "prepaid_card", "card"])
    'prepaid_card'
    >>> class_of_score("p_11", ["1", "11"]), class_of_score("score", ["a", "b"])
    ('11', None)
    """
    found = [
        c
        for c in classes
        if c
        and column.endswith(c)
        and (len(column) == len(c) or _SEPARATOR.fullmatch(column[-len(c) - 1]) is not None)
    ]
    return max(found, key=len) if found else None


def _attach_score_classes(
    columns: list[ColumnSpec], table: pa.Table, target: str | None, prediction: str | None
) -> list[ColumnSpec]:
    """Name the class each multiclass score column is the probability of, from its name.

    A column gets the longest class name that ends its name; a column no class name ends, or
    two columns ending in one class, are refused: the spec must then say `class:` itself.
    """
    scores = [c for c in columns if c.role == "score"]
    if len(scores) < 2:
        return columns
    classes: set[str] = set()
    for name in (target, prediction):
        if name is not None:
            classes.update(distinct_categories(table.column(name)))
    chosen: dict[str, str] = {}
    for c in scores:
        found = class_of_score(c.name, sorted(classes))
        if found is None:
            raise SpecError(
                f"score column {c.name!r}: no class of the target ({', '.join(sorted(classes))}) "
                f"ends its name, so vigil cannot tell which class it is the probability of. "
                f"Name each score column after its class (…_<class>), or write the spec with "
                f"`class: <class>` under each score column."
            )
        if found in chosen.values():
            other = next(k for k, v in chosen.items() if v == found)
            raise SpecError(
                f"score columns {other!r} and {c.name!r} both end in the class {found!r}; "
                f"write the spec with `class: <class>` under each score column."
            )
        chosen[c.name] = found
    return [replace(c, score_class=chosen[c.name]) if c.name in chosen else c for c in columns]
