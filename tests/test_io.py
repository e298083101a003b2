"""Reading data sets: every format, globs and folders, frames, and every bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest

from vigil.errors import InputError
from vigil.measure.reading import read_dataset


@pytest.fixture
def table() -> pa.Table:
    return pa.table({"x": [1.5, 2.5, None, 4.0], "c": ["a", "b", "a", None], "n": [1, 2, 3, 4]})


def test_every_file_format_reads_the_same_table(table: pa.Table, tmp_path) -> None:
    pq.write_table(table, tmp_path / "d.parquet")
    feather.write_feather(table, tmp_path / "d.arrow")
    table.to_pandas().to_csv(tmp_path / "d.csv", index=False)
    (tmp_path / "d.jsonl").write_text(
        "\n".join(
            pd.DataFrame(table.to_pandas()).to_json(orient="records", lines=True).splitlines()
        )
        + "\n"
    )
    for name in ("d.parquet", "d.arrow", "d.csv", "d.jsonl"):
        got = read_dataset(tmp_path / name).table
        assert got.column_names == ["x", "c", "n"], name
        assert got.column("x").to_pylist() == [1.5, 2.5, None, 4.0], name
        assert got.column("c").to_pylist() == ["a", "b", "a", None], name


def test_globs_and_folders_concatenate_files(table: pa.Table, tmp_path) -> None:
    for i in range(3):
        pq.write_table(table, tmp_path / f"part-{i}.parquet")
    assert read_dataset(str(tmp_path / "part-*.parquet")).table.num_rows == 12
    assert read_dataset(tmp_path).table.num_rows == 12


def test_frames_and_arrow(table: pa.Table) -> None:
    assert read_dataset(table).table.equals(table)
    assert read_dataset(table.to_pandas()).table.column("x").to_pylist()[:2] == [1.5, 2.5]
    assert read_dataset(pl.from_arrow(table)).table.num_rows == 4


def test_a_mixed_csv_column_counts_its_non_numbers(tmp_path) -> None:
    rows = ["x,y"] + [f"{i},{i % 3}" for i in range(5000)] + ["oops,1", "12,not a number"]
    (tmp_path / "m.csv").write_text("\n".join(rows) + "\n")
    data = read_dataset(tmp_path / "m.csv")
    assert data.type_mismatches == {"x": 1, "y": 1}
    assert data.table.column("x").type == pa.float64()
    assert data.table.column("x").null_count == 1


def test_a_mixed_pandas_object_column_is_read_as_numbers_with_mismatches() -> None:
    frame = pd.DataFrame({"x": [1, 2.5, "three", 4] * 10})
    data = read_dataset(frame)
    assert data.type_mismatches == {"x": 10}
    assert np.nansum(data.table.column("x").to_numpy(zero_copy_only=False)) == 75.0


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.parquet", None, r"'.*missing\.parquet' does not exist"),
        ("fake.parquet", b"this is not parquet", r"cannot read .*fake\.parquet.* as Parquet"),
        ("fake.arrow", b"nope", r"as Arrow IPC"),
        ("data.xlsx", b"x", r"cannot tell the format.*'\.xlsx'.*\.parquet"),
        ("bad.jsonl", b"{not json}\n", r"as JSON Lines"),
    ],
)
def test_bad_files_get_a_message_naming_the_file(tmp_path, name, content, message) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        read_dataset(path)


def test_empty_glob_and_unsupported_objects(tmp_path) -> None:
    with pytest.raises(InputError, match="no file matches"):
        read_dataset(str(tmp_path / "*.parquet"))
    with pytest.raises(InputError, match="cannot read a list"):
        read_dataset([1, 2, 3])
