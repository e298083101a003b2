"""Read a data set as record batches, never as one table (`vigil report --engine stream`).

The files a path names (itself, a glob's matches, a folder's data files: as
`vigil.measure.reading`) are read one batch of at most `batch_rows` rows at a time: Parquet row
group by row group, CSV and JSON Lines block by block, Arrow IPC batch by batch (memory-mapped).
Each pass over `Batches` reads the files again, so a reference can be read twice (sketch, then
summary) without being kept.

CSV cells are read as `vigil.measure.reading` reads them, batch by batch: an empty cell is
missing, and a text column that is mostly numbers has its numbers back and its other cells
counted as type mismatches (the "mostly" is judged per batch, where the whole-file reader
judges per file). Columns the first block reads as numbers are read as text and turned back
into numbers, so that a word further down the file is a mismatch rather than a failure.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.ipc as paipc
import pyarrow.json as pajson
import pyarrow.parquet as pq

from vigil.errors import InputError
from vigil.measure.reading import data_files, file_format, first_line, retype_text_columns

DEFAULT_BATCH_ROWS = 65_536
MIN_BATCH_ROWS = 1
_KINDS = {
    "parquet": "Parquet",
    "csv": "CSV",
    "tsv": "TSV",
    "jsonl": "JSON Lines",
    "ipc": "Arrow IPC",
}


@dataclass(frozen=True, slots=True)
class ReadBatch:
    """One batch of rows and the cells its reader could not read (left missing), by column."""

    batch: pa.RecordBatch
    type_mismatches: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Batches:
    """A data set's files, read as batches of at most `batch_rows` rows on each pass."""

    source: str  # the path as given
    files: tuple[str, ...]
    format: str  # "parquet", "csv", "tsv", "jsonl" or "ipc"
    batch_rows: int

    @property
    def rows(self) -> int | None:
        """The number of rows when the files' metadata says it (Parquet); None otherwise."""
        if self.format != "parquet":
            return None
        try:
            return int(sum(pq.ParquetFile(f).metadata.num_rows for f in self.files))
        except (pa.ArrowInvalid, OSError):
            return None

    def __iter__(self) -> Iterator[ReadBatch]:
        for path in self.files:
            try:
                yield from self._file(path)
            except (pa.ArrowInvalid, pa.ArrowTypeError, OSError, UnicodeDecodeError) as err:
                kind = _KINDS[self.format]
                raise InputError(
                    f"cannot read {path!r} as {kind} ({first_line(err)}); check that the file "
                    f"is {kind} or rename it to match its format."
                ) from None

    def _file(self, path: str) -> Iterator[ReadBatch]:
        if self.format == "parquet":
            for batch in pq.ParquetFile(path).iter_batches(batch_size=self.batch_rows):
                yield ReadBatch(batch)
        elif self.format == "ipc":
            yield from self._ipc(path)
        elif self.format == "jsonl":
            with pajson.open_json(path) as reader:
                for batch in reader:
                    yield from (ReadBatch(b) for b in _sliced(batch, self.batch_rows))
        else:
            yield from self._csv(path, "\t" if self.format == "tsv" else ",")

    def _ipc(self, path: str) -> Iterator[ReadBatch]:
        with pa.memory_map(path) as source:
            try:
                reader = paipc.open_file(source)
            except pa.ArrowInvalid:
                source.seek(0)
                for batch in paipc.open_stream(source):
                    yield from (ReadBatch(b) for b in _sliced(batch, self.batch_rows))
                return
            for i in range(reader.num_record_batches):
                yield from (ReadBatch(b) for b in _sliced(reader.get_batch(i), self.batch_rows))

    def _csv(self, path: str, delimiter: str) -> Iterator[ReadBatch]:
        parse = pacsv.ParseOptions(delimiter=delimiter)
        with pacsv.open_csv(path, parse_options=parse) as first:
            schema = first.schema
        # numbers as text, turned back per batch: a word further down is then a mismatch
        as_text = {
            f.name: pa.string()
            for f in schema
            if pa.types.is_integer(f.type) or pa.types.is_floating(f.type)
        }
        convert = pacsv.ConvertOptions(strings_can_be_null=True, column_types=as_text)
        with pacsv.open_csv(path, parse_options=parse, convert_options=convert) as reader:
            for block in reader:
                for batch in _sliced(block, self.batch_rows):
                    read = retype_text_columns(pa.Table.from_batches([batch]), path)
                    table = read.table.combine_chunks()
                    for typed in table.to_batches() or [_empty_batch(table.schema)]:
                        yield ReadBatch(typed, dict(read.type_mismatches))


def _sliced(batch: pa.RecordBatch, rows: int) -> Iterator[pa.RecordBatch]:
    if batch.num_rows <= rows:
        yield batch
        return
    for start in range(0, batch.num_rows, rows):
        yield batch.slice(start, rows)


def _empty_batch(schema: pa.Schema) -> pa.RecordBatch:
    return pa.RecordBatch.from_pylist([], schema=schema)


def read_batches(source: str | Path, *, batch_rows: int = DEFAULT_BATCH_ROWS) -> Batches:
    """The data set at `source` (a file, glob or folder) as batches of at most `batch_rows`.

    Nothing is read until the batches are iterated; a path that names no data file, or files
    of several formats, is refused at once with an InputError.
    """
    if isinstance(batch_rows, bool) or not isinstance(batch_rows, int) or batch_rows < 1:
        raise InputError(f"--batch-rows must be a whole number >= 1; got {batch_rows!r}.")
    path = str(source)
    files = data_files(path)
    fmt = file_format(files, path)
    return Batches(path, tuple(files), fmt, batch_rows)
