"""`vigil report --engine stream`: sets read as record batches, never as one table.

The batch reader against the whole-file reader, hostile files, the command end to end on
Parquet and CSV against the in-memory engine, and peak memory that does not grow with the
data.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.ipc as paipc
import pyarrow.parquet as pq
import pytest
from tests.conftest import model_logs

from vigil.cli import main
from vigil.errors import InputError, NotEnoughData
from vigil.evaluation import evaluate, infer_spec, profile_dataset
from vigil.measure.batches import read_batches
from vigil.measure.reading import read_dataset
from vigil.summaries import evaluate_stream

ROLES = ["--target", "target", "--prediction", "prediction", "--score", "score"]
# not measured from a summary, or with another estimator of its standard error
DIFFERENT = {
    "duplicate_rows",
    "duplicate_ids",
    "performance.f1",
    "performance.r2",
    "performance.pr_auc",
}


def _write_all(table: pa.Table, folder: Path) -> dict[str, Path]:
    """The table in every format the reader takes."""
    paths = {
        "parquet": folder / "data.parquet",
        "csv": folder / "data.csv",
        "tsv": folder / "data.tsv",
        "jsonl": folder / "data.jsonl",
        "ipc": folder / "data.arrow",
        "stream": folder / "data.ipc",
    }
    pq.write_table(table, paths["parquet"], row_group_size=333)
    pacsv.write_csv(table, paths["csv"])
    pacsv.write_csv(table, paths["tsv"], pacsv.WriteOptions(delimiter="\t"))
    paths["jsonl"].write_text(
        "".join(json.dumps(row) + "\n" for row in table.to_pylist()), encoding="utf-8"
    )
    with paipc.new_file(paths["ipc"], table.schema) as writer:
        writer.write_table(table, max_chunksize=400)
    with paipc.new_stream(paths["stream"], table.schema) as writer:
        writer.write_table(table, max_chunksize=400)
    return paths


@pytest.mark.parametrize("fmt", ["parquet", "csv", "tsv", "jsonl", "ipc", "stream"])
def test_batches_hold_the_rows_the_whole_file_reader_reads(fmt: str, tmp_path: Path) -> None:
    table = model_logs(1500, seed=3)
    path = _write_all(table, tmp_path)[fmt]
    batches = list(read_batches(path, batch_rows=256))
    assert all(0 < b.batch.num_rows <= 256 for b in batches)
    streamed = pa.Table.from_batches([b.batch for b in batches])
    whole = read_dataset(path).table
    assert streamed.num_rows == whole.num_rows == 1500
    for name in table.column_names:
        mine, theirs = streamed.column(name), whole.column(name)
        if pa.types.is_integer(theirs.type) or pa.types.is_floating(theirs.type):
            # CSV integers come back through text as float64: the same numbers
            a = np.asarray(mine.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=float)
            b = np.asarray(theirs.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=float)
            assert np.array_equal(a, b, equal_nan=True), name
        else:
            assert mine.to_pylist() == theirs.to_pylist(), name
    assert sum(sum(b.type_mismatches.values()) for b in batches) == 0
    # a second pass reads the same rows again (the reference's two passes)
    assert sum(b.batch.num_rows for b in read_batches(path, batch_rows=256)) == 1500


def test_folders_and_globs_are_read_file_by_file(tmp_path: Path) -> None:
    for i in range(3):
        pq.write_table(model_logs(100, seed=i), tmp_path / f"part-{i}.parquet")
    assert sum(b.batch.num_rows for b in read_batches(tmp_path, batch_rows=64)) == 300
    glob = str(tmp_path / "part-*.parquet")
    assert sum(b.batch.num_rows for b in read_batches(glob, batch_rows=64)) == 300


def test_a_word_far_down_a_numeric_csv_column_is_a_mismatch_not_a_failure(
    tmp_path: Path,
) -> None:
    n = 200_000  # past the CSV reader's first block, where the column's type is guessed
    values = np.round(np.random.default_rng(0).normal(size=n), 6).astype(str).astype(object)
    values[-3] = "oops"
    reference = tmp_path / "reference.parquet"
    pq.write_table(pa.table({"x": np.random.default_rng(1).normal(size=5000)}), reference)
    current = tmp_path / "current.csv"
    pacsv.write_csv(pa.table({"x": pa.array(values.tolist())}), current)
    spec = infer_spec(read_dataset(reference))
    profile = profile_dataset(reference, spec)
    streamed = evaluate_stream(profile, current, spec, batch_rows=10_000)
    whole = evaluate(profile, current, spec)
    assert streamed.quality.columns["x"].type_mismatches == 1
    assert whole.quality.columns["x"].type_mismatches == 1
    assert streamed.current.rows == n


def _hostile_files(folder: Path) -> dict[str, Path]:
    good = folder / "good.parquet"
    pq.write_table(model_logs(2000, seed=1), good)
    raw = good.read_bytes()
    files = {
        "truncated.parquet": raw[: len(raw) // 2],
        "garbage.parquet": b"PAR1" + os.urandom(300),
        "binary.csv": bytes(range(256)) * 40,
        "truncated.arrow": b"ARROW1" + os.urandom(100),
        "broken.jsonl": b'{"x": 1}\n{"x": \n{"x": [1, {]}\n',
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return {name: folder / name for name in files}


@pytest.mark.parametrize(
    "name",
    ["truncated.parquet", "garbage.parquet", "binary.csv", "truncated.arrow", "broken.jsonl"],
)
def test_hostile_files_are_refused_with_the_file_named(name: str, tmp_path: Path) -> None:
    path = _hostile_files(tmp_path)[name]
    with pytest.raises((InputError, NotEnoughData)) as err:
        evaluate_stream(tmp_path / "good.parquet", path, batch_rows=500)
    if isinstance(err.value, InputError):
        assert name in str(err.value)


def test_missing_mixed_and_empty_sets_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        read_batches(tmp_path / "nope.parquet")
    pq.write_table(model_logs(10, seed=1), tmp_path / "a.parquet")
    pacsv.write_csv(model_logs(10, seed=1), tmp_path / "b.csv")
    with pytest.raises(InputError, match="mixes formats"):
        read_batches(tmp_path)
    with pytest.raises(InputError, match="--batch-rows"):
        read_batches(tmp_path / "a.parquet", batch_rows=0)
    empty = tmp_path / "empty" / "current.csv"
    empty.parent.mkdir()
    empty.write_text("x1,x2\n", encoding="utf-8")
    with pytest.raises(NotEnoughData, match="no rows"):
        evaluate_stream(tmp_path / "a.parquet", empty)


# --- the command, end to end --------------------------------------------------------------------


def _statuses(path: Path) -> dict[tuple[str, str | None], str]:
    document = json.loads(path.read_text(encoding="utf-8"))
    return {(c["name"], c.get("column")): c["status"] for c in document["checks"]}


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_the_stream_engine_gives_the_memory_engine_s_checks(fmt: str, tmp_path: Path) -> None:
    reference, current = model_logs(6000, seed=1), model_logs(6000, seed=2, shift=0.4)
    if fmt == "parquet":
        pq.write_table(reference, tmp_path / "reference.parquet")
        pq.write_table(current, tmp_path / "current.parquet", row_group_size=1000)
    else:
        pacsv.write_csv(reference, tmp_path / "reference.csv")
        pacsv.write_csv(current, tmp_path / "current.csv")
    data, cur = str(tmp_path / f"reference.{fmt}"), str(tmp_path / f"current.{fmt}")
    profile = str(tmp_path / "reference.json")
    assert main(["profile", data, "-o", profile, *ROLES]) == 0
    memory, stream = tmp_path / "memory.json", tmp_path / "stream.json"
    assert main(["report", "--reference", profile, "--current", cur, "--json", str(memory)]) == 0
    stream_options = ["--engine", "stream", "--batch-rows", "700", "--quiet"]
    code = main(
        ["report", *stream_options, "--reference", profile, "--current", cur, "--json", str(stream)]
    )
    assert code == 0
    mine, theirs = _statuses(stream), _statuses(memory)
    assert set(mine) <= set(theirs)
    assert {name for name, _ in set(theirs) - set(mine)} <= DIFFERENT
    assert {k: v for k, v in mine.items() if k[0] not in DIFFERENT} == {
        k: v for k, v in theirs.items() if k in mine and k[0] not in DIFFERENT
    }
    assert "critical" in mine.values()  # the shift is seen
    notes = json.loads(stream.read_text(encoding="utf-8"))["notes"]
    assert any("read in batches" in note for note in notes)


def test_an_id_column_is_not_counted_and_the_report_says_so(tmp_path: Path) -> None:
    """One id a row would outgrow any bound on categories (the demo's spec names its id): the
    stream engine leaves the id's values uncounted, says so, and judges the rest as the
    memory engine does."""
    paths = {}
    for name, seed, shift in (("reference", 1, 0.0), ("current", 2, 0.4)):
        table = model_logs(4000, seed=seed, shift=shift)
        ids = pa.array([f"{name}-{i:06d}" for i in range(table.num_rows)])
        paths[name] = tmp_path / f"{name}.parquet"
        pq.write_table(table.append_column("row_id", ids), paths[name], row_group_size=900)
    spec = infer_spec(
        paths["reference"],
        target="target",
        prediction="prediction",
        scores=["score"],
        id_column="row_id",
    )
    stream = evaluate_stream(str(paths["reference"]), str(paths["current"]), spec, batch_rows=500)
    memory = evaluate(str(paths["reference"]), str(paths["current"]), spec)
    assert "not counted" in str(stream.quality.columns["row_id"].error)
    assert not stream.reference.is_profile  # rows, summarised for this report: not "saved"
    profile = profile_dataset(str(paths["reference"]), spec)
    against = evaluate_stream(profile, str(paths["current"]), spec, batch_rows=500)
    assert against.reference.is_profile
    assert any("the id column's missing share" in note for note in stream.notes)
    mine = {(c.name, c.column): c.status for c in stream.checks}
    theirs = {(c.name, c.column): c.status for c in memory.checks}
    assert ("missing_share", "row_id") in theirs and ("missing_share", "row_id") not in mine
    same = {k: v for k, v in mine.items() if k[0] not in DIFFERENT}
    assert same == {k: theirs[k] for k in same}
    assert "critical" in same.values()


def test_dictionary_encoded_columns_read_as_their_values_in_both_engines(tmp_path: Path) -> None:
    """pandas categories come back from Parquet dictionary-encoded: both readers hand out the
    plain columns, and both engines judge them as the plain files (an internal error before:
    Arrow's string kernels have no dictionary version)."""
    reference, current = model_logs(3000, seed=1), model_logs(3000, seed=2, shift=0.4)
    for name, table in (("reference", reference), ("current", current)):
        encoded = table
        for column in ("colour", "size"):
            i = encoded.schema.get_field_index(column)
            encoded = encoded.set_column(i, column, encoded.column(column).dictionary_encode())
        pq.write_table(encoded, tmp_path / f"{name}.parquet", row_group_size=700)
        pq.write_table(table, tmp_path / f"{name}-plain.parquet", row_group_size=700)
    path = str(tmp_path / "current.parquet")
    assert pa.types.is_dictionary(pq.read_table(path).schema.field("colour").type)
    read, plain = (
        read_dataset(path).table,
        read_dataset(str(tmp_path / "current-plain.parquet")).table,
    )
    assert read.schema.types == plain.schema.types
    assert all(read.column(c).equals(plain.column(c)) for c in ("colour", "size"))
    for read in read_batches(path, batch_rows=500):
        assert not any(pa.types.is_dictionary(f.type) for f in read.batch.schema)
    for engine in ("memory", "stream"):
        reports = []
        for suffix in ("", "-plain"):
            out = tmp_path / f"{engine}{suffix}.json"
            args = ["report", "--engine", engine, "--quiet", "--json", str(out), *ROLES]
            args += ["--reference", str(tmp_path / f"reference{suffix}.parquet")]
            assert main([*args, "--current", str(tmp_path / f"current{suffix}.parquet")]) == 0
            reports.append(_statuses(out))
        assert reports[0] == reports[1] and "critical" in reports[0].values()


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_check_passes_an_unshifted_split_and_fails_a_shifted_one(fmt: str, tmp_path: Path) -> None:
    table = model_logs(12_000, seed=4)
    order = np.random.default_rng(0).permutation(table.num_rows)
    write = pq.write_table if fmt == "parquet" else pacsv.write_csv
    write(table.take(order[:6000]), tmp_path / f"reference.{fmt}")
    write(table.take(order[6000:]), tmp_path / f"current.{fmt}")
    write(model_logs(6000, seed=5, shift=0.5), tmp_path / f"shifted.{fmt}")
    stream = ["check", "--engine", "stream", "--batch-rows", "1000", *ROLES]
    reference = ["--reference", str(tmp_path / f"reference.{fmt}")]
    assert main([*stream, *reference, "--current", str(tmp_path / f"current.{fmt}")]) == 0
    assert main([*stream, *reference, "--current", str(tmp_path / f"shifted.{fmt}")]) == 1


def test_the_command_refuses_bad_options_and_a_profile_as_the_current_set(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pq.write_table(model_logs(500, seed=1), tmp_path / "r.parquet")
    profile = str(tmp_path / "p.json")
    assert main(["profile", str(tmp_path / "r.parquet"), "-o", profile]) == 0
    base = ["report", "--reference", str(tmp_path / "r.parquet"), "--current", profile]
    for bad in (["--batch-rows", "0"], ["--batch-rows", "many"], ["--engine", "gpu"]):
        with pytest.raises(SystemExit) as exit_:
            main([*base, "--engine", "stream", *bad])
        assert exit_.value.code == 2
    capsys.readouterr()
    assert main([*base, "--engine", "stream"]) == 2
    assert "is a profile; the current set must be data" in capsys.readouterr().err


# --- memory -----------------------------------------------------------------------------------

_GENERATE = """
import sys
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

path, rows, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(seed)
writer = None
for start in range(0, rows, 50_000):
    n = min(50_000, rows - start)
    latent = rng.normal(size=n)
    table = pa.table({
        "a": rng.normal(size=n) + latent,
        "b": rng.lognormal(size=n),
        "c": rng.uniform(0, 10, n),
        "d": rng.poisson(3.0, n).astype(np.float64),
        "colour": rng.choice(["red", "green", "blue", "cyan"], n),
        "shop": np.char.add("shop-", rng.integers(0, 300, n).astype(str)),
        "target": (latent > 0.3).astype(np.int64),
        "score": 1 / (1 + np.exp(-latent)),
    })
    writer = writer or pq.ParquetWriter(path, table.schema)
    writer.write_table(table)
writer.close()
"""


# Run from a small launcher: Linux keeps a process's peak RSS across exec, so a child forked
# straight from pytest would report pytest's own size as its peak.
_LAUNCH = """
import resource, subprocess, sys
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def _peak_mib(command: list[str]) -> float:
    """The command's peak resident memory (ru_maxrss of a small launcher's child), in MiB."""
    out = subprocess.run(
        [sys.executable, "-c", _LAUNCH, *command], check=True, capture_output=True, text=True
    )
    return int(out.stdout.split()[-1]) / 1024


def _arrow_mib(path: Path) -> float:
    """The decoded size of a Parquet file's columns (from its metadata: nothing is loaded)."""
    meta = pq.ParquetFile(path).metadata
    return (
        sum(
            meta.row_group(g).column(c).total_uncompressed_size
            for g in range(meta.num_row_groups)
            for c in range(meta.num_columns)
        )
        / 2**20
    )


def test_peak_memory_does_not_grow_with_the_rows(tmp_path: Path) -> None:
    vigil = str(Path(sys.executable).parent / "vigil")
    peaks, sizes = {}, {}
    for rows in (200_000, 800_000):
        for name, seed in (("reference", 1), ("current", 2)):
            path = tmp_path / f"{name}-{rows}.parquet"
            subprocess.run(
                [sys.executable, "-c", _GENERATE, str(path), str(rows), str(seed)], check=True
            )
        reference, current = (
            tmp_path / f"reference-{rows}.parquet",
            tmp_path / f"current-{rows}.parquet",
        )
        sizes[rows] = _arrow_mib(reference) + _arrow_mib(current)
        sets = ["--reference", str(reference), "--current", str(current)]
        options = ["--engine", "stream", "--batch-rows", "50000", "--quiet"]
        roles = ["--target", "target", "--score", "score"]
        peaks[rows] = _peak_mib([vigil, "report", *options, *sets, *roles])
    grown = peaks[800_000] - peaks[200_000]
    # four times the rows (about 48 MiB more as Arrow tables) cost at most a few MiB more
    assert sizes[800_000] - sizes[200_000] > 40
    assert grown < 20, (peaks, sizes)
    assert grown < 0.25 * (sizes[800_000] - sizes[200_000]), (peaks, sizes)
