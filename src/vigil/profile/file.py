"""A dataset profile, and the versioned JSON file it is saved in (docs/profile-format.md).

The file is one UTF-8 JSON document whose first key is ``"vigil_profile_version"``, so a
reader can tell a profile from a data file by its first bytes (`is_profile_file`). Floats are
written with Python's shortest round-tripping repr, so a profile loads back bit for bit.

Version 2 added the outlier fences and counts of numeric columns, the histogram bins asked
for, the reference's column types and unreadable cells, and notes; version-1 files are still
read, with a note saying what they lack.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import os
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

from vigil.errors import InputError
from vigil.json_value import json_type
from vigil.profile.categorical import CategoricalProfile
from vigil.profile.numeric import N_BINS, QUANTILE_LEVELS, NumericProfile, iqr_fences
from vigil.profile.quantiles import sketch_count

PROFILE_FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
VERSION_1_NOTE = (
    "The reference profile is in format version 1: it keeps no outlier counts, so the outlier "
    "checks are not evaluated, nor the reference's column types, so type changes are not "
    "detected; its histograms have 10 bins whatever drift.bins says. Rebuild it with "
    "`vigil profile` to have them."
)
# JSON has no literal for these; they are written as strings where a number is expected.
_NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
_SNIFF_BYTES = 64
_SIGNATURE = re.compile(rb'^(\xef\xbb\xbf)?\s*\{\s*"vigil_profile_version"\s*:')
_REBUILD = "rebuild it with `vigil profile DATA -o FILE`"

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class DatasetProfile:
    """Everything vigil keeps of a reference set to compare later sets against it.

    >>> profile = DatasetProfile(
    ...     rows=3,
    ...     columns={"colour": CategoricalProfile(3, 0, {"red": 2, "blue": 1})},
    ...     spec={},
    ...     performance={},
    ...     source="train.parquet",
    ...     created="2024-05-01T12:00:00+00:00",
    ... )
    >>> sorted(profile.columns)
    ['colour']
    """

    rows: int
    columns: dict[str, NumericProfile | CategoricalProfile]  # by column name
    spec: dict[str, Any]  # the spec it was built with, as plain data
    performance: dict[str, float]  # the reference's performance metrics, by name
    source: str  # the file name(s) it was built from
    created: str  # ISO-8601 UTC time it was built
    bins: int = N_BINS  # the histogram bins asked for (the spec's drift.bins)
    schema: bytes = b""  # the Arrow IPC schema of the data as read; b"" when unknown
    type_mismatches: dict[str, int] = field(default_factory=dict)  # column -> unreadable cells
    notes: tuple[str, ...] = ()  # what a report against the profile should tell its reader


def save_profile(profile: DatasetProfile, path: str | Path) -> None:
    """Write `profile` to `path` as a version-2 profile file (replaced atomically)."""
    document = {
        "vigil_profile_version": PROFILE_FORMAT_VERSION,
        "rows": profile.rows,
        "source": profile.source,
        "created": profile.created,
        "bins": profile.bins,
        "notes": list(profile.notes),
        "schema": base64.b64encode(profile.schema).decode("ascii"),
        "type_mismatches": profile.type_mismatches,
        "spec": _plain(profile.spec),
        "performance": {name: _number(value) for name, value in profile.performance.items()},
        "columns": {name: _column_document(column) for name, column in profile.columns.items()},
    }
    text = json.dumps(document, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    target = Path(path)
    # Write beside the target and rename, so that a crash never leaves half a profile behind.
    # (Not tempfile.mkstemp: its files are private to their owner, and the profile need not be.)
    temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(temporary, "x", encoding="utf-8") as out:
            out.write(text)
            out.write("\n")
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def load_profile(path: str | Path) -> DatasetProfile:
    """Read a profile file written by `save_profile`, or raise an InputError saying why not."""
    name = str(path)
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise InputError(f"profile {name!r} does not exist; check the path.") from None
    except OSError as err:
        raise InputError(f"cannot read profile {name!r}: {err.strerror or err}.") from None
    if not _SIGNATURE.match(raw[:_SNIFF_BYTES]):
        raise InputError(
            f"{name!r} is not a vigil profile (it does not start with "
            f'{{"vigil_profile_version": ...); pass a profile file, or {_REBUILD}.'
        )
    try:
        document = json.loads(raw.decode("utf-8-sig"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError) as err:
        raise InputError(f"profile {name!r} is damaged or truncated ({err}); {_REBUILD}.") from None
    try:
        return _profile_from(document, name)
    except _Damaged as err:
        raise InputError(f"profile {name!r} is damaged: {err}; {_REBUILD}.") from None


def is_profile_file(path: str | Path) -> bool:
    """True when the file at `path` starts like a vigil profile (reads its first bytes only)."""
    try:
        with open(path, "rb") as f:
            head = f.read(_SNIFF_BYTES)
    except OSError:
        return False
    return _SIGNATURE.match(head) is not None


class _Damaged(Exception):
    """A field of the document is missing or not what the format says."""


def _profile_from(document: Any, name: str) -> DatasetProfile:
    if not isinstance(document, dict):
        raise _Damaged("the document is not a JSON object")
    version = document.get("vigil_profile_version")
    if (
        isinstance(version, int)
        and not isinstance(version, bool)
        and version > PROFILE_FORMAT_VERSION
    ):
        raise InputError(
            f"profile {name!r} has format version {version}, newer than this vigil reads "
            f"(version {PROFILE_FORMAT_VERSION}); upgrade vigil, or {_REBUILD}."
        )
    if version not in READABLE_VERSIONS or isinstance(version, bool):
        raise _Damaged(
            f"vigil_profile_version is {_shown(version)}, not "
            f"{' or '.join(map(str, READABLE_VERSIONS))}"
        )
    columns = _field(document, "columns", dict, "the document")
    top = "the document"
    if version == 1:
        bins, schema, mismatches, notes = N_BINS, b"", {}, (VERSION_1_NOTE,)
    else:
        bins = _count(document, "bins", top)
        if bins < 2:
            raise _Damaged(f"'bins' is {bins}, not a whole number >= 2")
        schema = _base64(_field(document, "schema", str, top), "schema")
        found = _field(document, "type_mismatches", dict, top)
        mismatches = {name: _count(found, name, "'type_mismatches'") for name in found}
        notes = tuple(_field(document, "notes", list, top))
        if not all(isinstance(note, str) for note in notes):
            raise _Damaged("'notes' holds something other than strings")
    return DatasetProfile(
        rows=_count(document, "rows", "the document"),
        columns={
            column: _column_from(entry, f"column {column!r}", version)
            for column, entry in columns.items()
        },
        spec=_field(document, "spec", dict, "the document"),
        performance={
            metric: _float_of(value, f"performance metric {metric!r}")
            for metric, value in _field(document, "performance", dict, "the document").items()
        },
        source=_field(document, "source", str, "the document"),
        created=_field(document, "created", str, "the document"),
        bins=bins,
        schema=schema,
        type_mismatches=mismatches,
        notes=notes,
    )


def column_document(column: NumericProfile | CategoricalProfile) -> dict[str, Any]:
    """One column's profile as the profile file writes it (plain JSON data)."""
    return _column_document(column)


def column_from_document(entry: Any, where: str) -> NumericProfile | CategoricalProfile:
    """A column's profile from `column_document`'s data; ValueError naming what is wrong."""
    try:
        return _column_from(entry, where, PROFILE_FORMAT_VERSION)
    except _Damaged as err:
        raise ValueError(str(err)) from None


def _column_document(column: NumericProfile | CategoricalProfile) -> dict[str, Any]:
    if isinstance(column, CategoricalProfile):
        return {
            "kind": "categorical",
            "count": column.count,
            "missing": column.missing,
            "counts": column.counts,
        }
    return {
        "kind": "numeric",
        "count": column.count,
        "missing": column.missing,
        "infinite": column.infinite,
        "min": _number(column.min),
        "max": _number(column.max),
        "mean": _number(column.mean),
        "m2": _number(column.m2),
        "edges": column.edges.tolist(),
        "counts": column.counts.tolist(),
        "fine_edges": column.fine_edges.tolist(),
        "fine_counts": column.fine_counts.tolist(),
        "fine_offsets": column.fine_offsets.tolist(),
        "quantiles": {q: _number(v) for q, v in column.quantiles.items()},
        "sketch": base64.b64encode(column.sketch).decode("ascii"),
        "fences": [_number(x) for x in column.fences],
        "outliers": column.outliers,
    }


def _column_from(entry: Any, where: str, version: int) -> NumericProfile | CategoricalProfile:
    if not isinstance(entry, dict):
        raise _Damaged(f"{where} is not a JSON object")
    kind = entry.get("kind")
    try:
        if kind == "categorical":
            counts = _field(entry, "counts", dict, where)
            return CategoricalProfile(
                count=_count(entry, "count", where),
                missing=_count(entry, "missing", where),
                counts={category: _count(counts, category, where) for category in counts},
            )
        if kind == "numeric":
            return _numeric_from(entry, where, version)
    # The constructors check that the fields agree with each other (counts add up, edges
    # increase, ...) and raise ValueError naming the field.
    except ValueError as err:
        raise _Damaged(f"{where}: {err}") from None
    raise _Damaged(f'{where} has kind {_shown(kind)}; expected "numeric" or "categorical"')


def _numeric_from(entry: dict[str, Any], where: str, version: int) -> NumericProfile:
    sketch = _base64(_field(entry, "sketch", str, where), f"{where}: sketch")
    quantiles = _field(entry, "quantiles", dict, where)
    fences: tuple[float, float]
    outliers: int | None
    if version == 1:  # fences from the quartiles, which are exact in a reference profile
        q1 = _float_of(quantiles.get("q1"), f"{where} quantile 'q1'")
        q3 = _float_of(quantiles.get("q3"), f"{where} quantile 'q3'")
        fences, outliers = iqr_fences(q1, q3), None
    else:
        pair = _field(entry, "fences", list, where)
        if len(pair) != 2:
            raise _Damaged(f"{where}: 'fences' holds {len(pair)} numbers, not 2")
        fences = (_float_of(pair[0], f"{where} fences"), _float_of(pair[1], f"{where} fences"))
        outliers = None if entry.get("outliers", 0) is None else _count(entry, "outliers", where)
    profile = NumericProfile(
        count=_count(entry, "count", where),
        missing=_count(entry, "missing", where),
        infinite=_count(entry, "infinite", where),
        min=_float_of(entry.get("min"), f"{where} min"),
        max=_float_of(entry.get("max"), f"{where} max"),
        mean=_float_of(entry.get("mean"), f"{where} mean"),
        m2=_float_of(entry.get("m2"), f"{where} m2"),
        edges=_numbers(entry, "edges", where),
        counts=_integers(entry, "counts", where),
        fine_edges=_numbers(entry, "fine_edges", where),
        fine_counts=_integers(entry, "fine_counts", where),
        fine_offsets=_numbers(entry, "fine_offsets", where),
        quantiles={
            q: _float_of(quantiles.get(q), f"{where} quantile {q!r}") for q in QUANTILE_LEVELS
        },
        sketch=sketch,
        fences=fences,
        outliers=outliers,
    )
    if sketch_count(profile.sketch) != profile.count:
        raise _Damaged(
            f"{where}: the sketch holds {sketch_count(profile.sketch)} values, not count "
            f"{profile.count}"
        )
    return profile


def _base64(text: str, where: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error:
        raise _Damaged(f"{where} is not base64") from None


def _field(entry: dict[str, Any], key: str, kind: type[T], where: str) -> T:
    if key not in entry:
        raise _Damaged(f"{where} has no {key!r}")
    value = entry[key]
    if not isinstance(value, kind):
        raise _Damaged(f"{where}: {key!r} is {json_type(value)}, not {_json_name(kind)}")
    return value


def _count(entry: dict[str, Any], key: str, where: str) -> int:
    value = _field(entry, key, int, where)
    if isinstance(value, bool) or value < 0:
        raise _Damaged(f"{where}: {key!r} is {_shown(value)}, not a whole number >= 0")
    return value


def _numbers(entry: dict[str, Any], key: str, where: str) -> NDArray[np.float64]:
    values = _field(entry, key, list, where)
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        raise _Damaged(f"{where}: {key!r} holds something other than numbers")
    return np.array(values, dtype=np.float64)


def _integers(entry: dict[str, Any], key: str, where: str) -> NDArray[np.int64]:
    values = _field(entry, key, list, where)
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise _Damaged(f"{where}: {key!r} holds something other than whole numbers")
    try:
        return np.array(values, dtype=np.int64)
    except OverflowError:
        raise _Damaged(f"{where}: {key!r} holds a count too large for 64 bits") from None


def _float_of(value: Any, where: str) -> float:
    if isinstance(value, str) and value in _NON_FINITE:
        return _NON_FINITE[value]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise _Damaged(f"{where} is {_shown(value)}, not a number")


def _number(value: float) -> float | str:
    """A float as JSON can hold it: itself when finite, else "NaN", "Infinity", "-Infinity"."""
    value = float(value)
    if math.isfinite(value):
        return value
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def _plain(value: Any) -> Any:
    """Opaque plain data with its non-finite floats written as strings, as everywhere else.

    They are read back as those strings (the file cannot tell them from text); the spec's
    reader takes "Infinity" for a number where it expects one.
    """
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def _refuse_constant(token: str) -> Any:
    # Python's json would read the non-standard NaN / Infinity tokens; the format writes them
    # as strings, so a bare token means the file was not written by vigil.
    raise ValueError(f"bare {token} is not JSON")


def _shown(value: Any) -> str:
    """A JSON value as the file spells it, cut short."""
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 40 else text[:37] + "..."


def _json_name(kind: type[Any]) -> str:
    names: dict[type[Any], str] = {dict: "an object", list: "an array", str: "a string"}
    return names.get(kind, "a whole number" if kind is int else kind.__name__)
