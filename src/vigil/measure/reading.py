"""Read a data set into an Arrow table: files (Parquet, CSV, JSON Lines, Arrow IPC), globs,
directories, pandas or polars frames and Arrow tables. Columnar throughout, never row by row.
"""

from __future__ import annotations

import glob
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.ipc as paipc
import pyarrow.json as pajson
import pyarrow.parquet as pq

from vigil.errors import InputError
from vigil.measure.columns import text_to_float

FORMATS = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".parq": "parquet",
    ".csv": "csv",
    ".tsv": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".arrow": "ipc",
    ".feather": "ipc",
    ".ipc": "ipc",
}
_GLOB_CHARS = re.compile(r"[*?\[]")


@dataclass(frozen=True, slots=True)
class Dataset:
    """A table and what reading it found."""

    table: pa.Table
    source: str  # a file name, or "<pandas DataFrame>" etc.
    type_mismatches: dict[str, int] = field(default_factory=dict)  # column -> unreadable cells


def read_dataset(source: Any) -> Dataset:
    """Read `source` (a path, glob, directory, DataFrame or Arrow table) as one table."""
    data = _read(source)
    names = data.table.column_names
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise InputError(
            f"{data.source}: column {twice[0]!r} appears {names.count(twice[0])} times; "
            f"give every column its own name."
        )
    return data


def _read(source: Any) -> Dataset:
    if isinstance(source, Dataset):  # already read (the CLI reads once to infer a spec)
        return source
    if isinstance(source, pa.Table):
        return Dataset(source, "<Arrow table>")
    if isinstance(source, pa.RecordBatch):
        return Dataset(pa.Table.from_batches([source]), "<Arrow record batch>")
    if isinstance(source, (str, Path)):
        return _read_path(str(source))
    module = type(source).__module__.split(".")[0]
    if module == "polars" and hasattr(source, "to_arrow"):
        return Dataset(source.to_arrow(), "<polars DataFrame>")
    if module == "pandas" and hasattr(source, "columns"):
        return _from_pandas(source)
    raise InputError(
        f"cannot read a {type(source).__name__} as a data set; pass a file path, "
        f"a pandas or polars DataFrame, or a pyarrow Table."
    )


def format_of(path: str) -> str:
    """The format a path's extension names, or an InputError listing the known extensions."""
    suffix = Path(path).suffix.lower()
    if suffix in FORMATS:
        return FORMATS[suffix]
    raise InputError(
        f"{path!r}: cannot tell the format from the extension {suffix or '(none)'!r}; "
        f"use one of {', '.join(sorted(FORMATS))}."
    )


def _read_path(path: str) -> Dataset:
    return _read_files(data_files(path), path)


def data_files(path: str) -> list[str]:
    """The files a path names: itself, a glob's matches or a folder's data files (sorted)."""
    if _GLOB_CHARS.search(path):
        files = sorted(glob.glob(path, recursive=True))
        if not files:
            raise InputError(f"no file matches {path!r}; check the pattern and the folder.")
        return files
    p = Path(path)
    if p.is_dir():
        files = sorted(str(f) for f in p.rglob("*") if f.is_file() and f.suffix.lower() in FORMATS)
        if not files:
            raise InputError(f"folder {path!r} holds no data file ({', '.join(sorted(FORMATS))}).")
        return files
    if not p.exists():
        raise InputError(f"file {path!r} does not exist; check the path.")
    return [path]


def file_format(files: list[str], label: str) -> str:
    """The one format of `files` (InputError when they mix formats)."""
    formats = {format_of(f) for f in files}
    if len(formats) > 1:
        raise InputError(
            f"{label!r} mixes formats ({', '.join(sorted(formats))}); point at files of one format."
        )
    return formats.pop()


def _read_files(files: list[str], label: str) -> Dataset:
    fmt = file_format(files, label)
    if fmt == "parquet":
        return Dataset(_read_parquet(files, label), label)
    parts = [_read_one(f, fmt) for f in files]
    if len(parts) == 1:
        return parts[0]
    try:
        table = pa.concat_tables([d.table for d in parts], promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as err:
        raise InputError(f"the files of {label!r} do not share one schema: {err}.") from None
    mismatches: dict[str, int] = {}
    for d in parts:
        for name, n in d.type_mismatches.items():
            mismatches[name] = mismatches.get(name, 0) + n
    return Dataset(table, label, mismatches)


def _read_parquet(files: list[str], label: str) -> pa.Table:
    try:
        if len(files) == 1:
            return pq.read_table(files[0])
        # pyarrow.dataset imports pandas (about a second): only pay for it with many files.
        import pyarrow.dataset as pads

        return pads.dataset(files, format="parquet").to_table()
    except (pa.ArrowInvalid, OSError) as err:
        raise InputError(
            f"cannot read {label!r} as Parquet ({first_line(err)}); is it a Parquet "
            f"file? Rename it to match its format."
        ) from None


def _read_one(path: str, fmt: str) -> Dataset:
    try:
        if fmt == "ipc":
            return Dataset(_read_ipc(path), path)
        if fmt == "jsonl":
            return Dataset(pajson.read_json(path), path)
        delimiter = "\t" if fmt == "tsv" else ","
        return _read_csv(path, delimiter)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError, UnicodeDecodeError) as err:
        kind = {"ipc": "Arrow IPC", "jsonl": "JSON Lines", "csv": "CSV", "tsv": "TSV"}[fmt]
        raise InputError(
            f"cannot read {path!r} as {kind} ({first_line(err)}); check that the "
            f"file is {kind} or rename it to match its format."
        ) from None


def _read_ipc(path: str) -> pa.Table:
    with pa.memory_map(path) as source:
        try:
            return paipc.open_file(source).read_all()
        except pa.ArrowInvalid:
            source.seek(0)
            return paipc.open_stream(source).read_all()


def _read_csv(path: str, delimiter: str) -> Dataset:
    parse = pacsv.ParseOptions(delimiter=delimiter)
    convert = pacsv.ConvertOptions(strings_can_be_null=True)  # an empty cell is missing
    try:
        table = pacsv.read_csv(path, parse_options=parse, convert_options=convert)
    except pa.ArrowInvalid as err:
        if "conversion error" not in str(err).lower():
            raise
        # A column's first block looked numeric and a later cell did not: read every column
        # as text (the header comes from the first block alone); types come back below.
        with pacsv.open_csv(path, parse_options=parse) as reader:
            names = reader.schema.names
        as_text = pacsv.ConvertOptions(
            strings_can_be_null=True, column_types={n: pa.string() for n in names}
        )
        table = pacsv.read_csv(path, parse_options=parse, convert_options=as_text)
    # A mostly numeric column with a few words in it reads as text: give it back its numbers
    # and count the words as type mismatches.
    return retype_text_columns(table, path)


def retype_text_columns(table: pa.Table, source: str) -> Dataset:
    columns, mismatches = [], {}
    for name in table.column_names:
        col = table.column(name)
        typed, bad = text_to_float(col)
        columns.append(typed)
        if bad:
            mismatches[name] = bad
    return Dataset(pa.table(columns, names=table.column_names), source, mismatches)


def _from_pandas(frame: Any) -> Dataset:
    try:
        return Dataset(pa.Table.from_pandas(frame, preserve_index=False), "<pandas DataFrame>")
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        pass
    # Object columns holding several Python types: read them as text and retype them.
    arrays, mismatches = [], {}
    for name in frame.columns:
        series = frame[name]
        try:
            arrays.append(pa.chunked_array([pa.array(series, from_pandas=True)]))
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            text = pa.chunked_array(
                [pa.array([None if _is_missing(v) else str(v) for v in series], type=pa.string())]
            )
            typed, bad = text_to_float(text)
            arrays.append(typed)
            if bad:
                mismatches[str(name)] = bad
    return Dataset(
        pa.table(arrays, names=[str(n) for n in frame.columns]), "<pandas DataFrame>", mismatches
    )


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__
