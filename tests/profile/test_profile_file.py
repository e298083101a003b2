import base64
import json
import math
from pathlib import Path

import numpy as np
import pytest

from vigil.errors import InputError
from vigil.profile import (
    PROFILE_FORMAT_VERSION,
    CategoricalProfile,
    DatasetProfile,
    NumericProfile,
    is_profile_file,
    load_profile,
    numeric_profile,
    reference_numeric_profile,
    save_profile,
)

REBUILD = r"rebuild it with `vigil profile DATA -o FILE`"


def dataset_profile(performance: dict[str, float] | None = None) -> DatasetProfile:
    rng = np.random.default_rng(0)
    amount = reference_numeric_profile(np.sort(rng.lognormal(size=5_000)), missing=12, infinite=1)
    return DatasetProfile(
        rows=5_013,
        columns={
            "amount": amount,
            "never set": numeric_profile(np.array([]), missing=5_013, infinite=0, like=amount),
            "colour": CategoricalProfile(5_000, 13, {"red": 2_500, "grün": 2_000, "": 500}),
        },
        spec={"version": 1, "columns": {"amount": {"role": "feature", "bounds": [0, None]}}},
        performance={"accuracy": 0.875, "rows": 5_013.0} if performance is None else performance,
        source="train.parquet",
        created="2024-05-01T12:00:00+00:00",
    )


def test_a_saved_profile_loads_back_identical(tmp_path: Path) -> None:
    profile = dataset_profile()
    path = tmp_path / "train.vigil"
    save_profile(profile, path)
    loaded = load_profile(path)
    assert loaded == profile
    amount = loaded.columns["amount"]
    original = profile.columns["amount"]
    assert amount.edges.dtype == np.float64 and amount.fine_counts.dtype == np.int64
    # Floats round-trip bit for bit.
    np.testing.assert_array_equal(
        amount.fine_edges.view(np.int64), original.fine_edges.view(np.int64)
    )
    assert amount.sketch == original.sketch
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind
    # Saving again replaces the file; a byte-order mark (some editors add one) is accepted.
    save_profile(profile, path)
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert is_profile_file(path) and load_profile(path) == profile


def test_a_profile_cannot_be_saved_where_no_folder_is(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        save_profile(dataset_profile(), tmp_path / "no such folder" / "p.vigil")
    with pytest.raises(OSError):
        save_profile(dataset_profile(), tmp_path)  # a folder
    assert list(tmp_path.iterdir()) == []


def test_the_file_is_standard_json_with_the_version_first(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    save_profile(dataset_profile({"auc": math.nan, "loss": math.inf}), path)
    text = path.read_text(encoding="utf-8")
    assert text.startswith('{"vigil_profile_version":2,')

    def refuse(token: str) -> None:
        raise AssertionError(f"non-standard JSON token {token}")

    document = json.loads(text, parse_constant=refuse)
    assert document["vigil_profile_version"] == PROFILE_FORMAT_VERSION
    empty = document["columns"]["never set"]
    assert empty["min"] == empty["max"] == empty["mean"] == "NaN"
    assert document["performance"] == {"auc": "NaN", "loss": "Infinity"}
    assert "grün" in text  # UTF-8, not \\u escapes
    loaded = load_profile(path)
    assert math.isnan(loaded.performance["auc"]) and loaded.performance["loss"] == math.inf


def test_non_finite_numbers_in_the_spec_are_written_as_strings(tmp_path: Path) -> None:
    profile = dataset_profile()
    spec = {"columns": {"amount": {"bounds": [-math.inf, 10.0]}}}
    path = tmp_path / "p.vigil"
    save_profile(DatasetProfile(**{**_fields(profile), "spec": spec}), path)
    assert load_profile(path).spec == {"columns": {"amount": {"bounds": ["-Infinity", 10.0]}}}


def _fields(profile: DatasetProfile) -> dict[str, object]:
    return {name: getattr(profile, name) for name in DatasetProfile.__dataclass_fields__}


def test_is_profile_file_sniffs_the_first_bytes(tmp_path: Path) -> None:
    path = tmp_path / "p.vigil"
    save_profile(dataset_profile(), path)
    assert is_profile_file(path)
    assert is_profile_file(str(path))
    pretty = tmp_path / "pretty.json"
    pretty.write_text(json.dumps(json.loads(path.read_text()), indent=2), encoding="utf-8")
    assert is_profile_file(pretty)
    csv = tmp_path / "data.csv"
    csv.write_text("a,b\n1,2\n")
    other_json = tmp_path / "other.json"
    other_json.write_text('{"rows": 3, "vigil_profile_version": 1}')
    for not_a_profile in (csv, other_json, tmp_path / "missing.vigil", tmp_path):
        assert not is_profile_file(not_a_profile)


def _broken(tmp_path: Path, edit: object) -> Path:
    """A saved profile with its JSON document changed by `edit` (a function of the dict)."""
    path = tmp_path / "broken.vigil"
    save_profile(dataset_profile(), path)
    document = json.loads(path.read_text(encoding="utf-8"))
    edit(document)  # type: ignore[operator]
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def _set(dotted: str, value: object) -> object:
    """An edit that sets the field at `dotted` ("columns.amount.kind") to `value`."""
    *parents, last = dotted.split(".")

    def edit(document: dict[str, object]) -> None:
        target = document
        for key in parents:
            target = target[key]  # type: ignore[assignment]
        target[last] = value

    return edit


def _delete(dotted: str) -> object:
    """An edit that removes the field at `dotted`."""
    *parents, last = dotted.split(".")

    def edit(document: dict[str, object]) -> None:
        target = document
        for key in parents:
            target = target[key]  # type: ignore[assignment]
        del target[last]

    return edit


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (_set("vigil_profile_version", 0), r"vigil_profile_version is 0, not 1 or 2"),
        (_set("vigil_profile_version", "1"), r'vigil_profile_version is "1", not 1 or 2'),
        (_delete("columns"), r"the document has no 'columns'"),
        (_set("rows", -1), r"'rows' is -1, not a whole number >= 0"),
        (_set("columns", "amount"), r"'columns' is a string, not an object"),
        (_set("columns.amount.kind", "text"), r'column \'amount\' has kind "text"'),
        (_delete("columns.amount.fine_offsets"), r"column 'amount' has no 'fine_offsets'"),
        (_set("columns.amount.mean", None), r"column 'amount' mean is null, not a number"),
        (_set("columns.amount.count", 4_999), r"add up to 5000, not to count 4999"),
        (_set("columns.amount.edges", [1, "2"]), r"'edges' holds something other than"),
        (_set("columns.amount.counts", [1.5]), r"'counts' holds something other than"),
        (_set("columns.amount.sketch", "***"), r"sketch is not base64"),
        (_set("columns.amount.sketch", "AAAA"), r"not a KLL doubles sketch"),
        (_set("columns.colour.counts", {"red": True}), r"column 'colour'"),
        (_set("columns.colour.count", 1), r"add up to 5000, not to count 1"),
        (_set("performance.auc", "high"), r'performance metric \'auc\' is "high"'),
        (_set("source", None), r"'source' is null, not a string"),
        (_delete("columns.amount.fences"), r"column 'amount' has no 'fences'"),
        (_set("columns.amount.fences", [1.0]), r"'fences' holds 1 numbers, not 2"),
        (_set("columns.amount.fences", [2.0, 1.0]), r"fences must be two finite numbers"),
        (_set("columns.amount.outliers", 5_001), r"outliers must be None or an integer"),
        (_delete("columns.amount.outliers"), r"column 'amount' has no 'outliers'"),
        (_set("bins", 1), r"'bins' is 1, not a whole number >= 2"),
        (_set("notes", [3]), r"'notes' holds something other than strings"),
        (_set("schema", "***"), r"schema is not base64"),
        (_set("type_mismatches", {"amount": -1}), r"'amount' is -1"),
    ],
)
def test_a_damaged_profile_is_refused_with_what_is_wrong(
    tmp_path: Path, edit: object, message: str
) -> None:
    path = _broken(tmp_path, edit)
    with pytest.raises(InputError, match=message) as raised:
        load_profile(path)
    assert str(path) in str(raised.value)
    assert "rebuild it with `vigil profile DATA -o FILE`" in str(raised.value)


def test_a_sketch_that_disagrees_with_the_count_is_refused(tmp_path: Path) -> None:
    other = reference_numeric_profile(np.arange(10.0), missing=0, infinite=0)
    sketch = base64.b64encode(other.sketch).decode("ascii")
    path = _broken(tmp_path, _set("columns.amount.sketch", sketch))
    with pytest.raises(InputError, match=r"the sketch holds 10 values, not count 5000"):
        load_profile(path)


def test_a_newer_format_asks_for_an_upgrade(tmp_path: Path) -> None:
    path = _broken(tmp_path, _set("vigil_profile_version", 3))
    with pytest.raises(InputError, match=r"format version 3, newer than this vigil reads.*upgrade"):
        load_profile(path)


def test_a_version_1_file_is_read_and_says_what_it_lacks(tmp_path: Path) -> None:
    def as_version_1(document: dict[str, object]) -> None:
        document["vigil_profile_version"] = 1
        for key in ("bins", "notes", "schema", "type_mismatches"):
            del document[key]
        for column in document["columns"].values():  # type: ignore[attr-defined]
            column.pop("fences", None)
            column.pop("outliers", None)

    loaded = load_profile(_broken(tmp_path, as_version_1))
    profile = dataset_profile()
    amount, original = loaded.columns["amount"], profile.columns["amount"]
    assert isinstance(amount, NumericProfile) and isinstance(original, NumericProfile)
    assert amount.outliers is None and original.outliers is not None
    assert amount.fences == original.fences  # the quartiles of a reference are exact
    never_set = loaded.columns["never set"]
    assert isinstance(never_set, NumericProfile) and never_set.outliers is None
    assert loaded.bins == 10 and loaded.schema == b"" and loaded.type_mismatches == {}
    assert len(loaded.notes) == 1 and "format version 1" in loaded.notes[0]
    assert "outlier" in loaded.notes[0] and "Rebuild" in loaded.notes[0]


def test_a_truncated_profile_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "p.vigil"
    save_profile(dataset_profile(), path)
    path.write_bytes(path.read_bytes()[:1_000])
    with pytest.raises(InputError, match=rf"damaged or truncated.*{REBUILD}"):
        load_profile(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"a,b\n1,2\n", r"is not a vigil profile"),
        (b'{"rows": 3}', r"is not a vigil profile"),
        (b"PAR1\x00\x00", r"is not a vigil profile"),
        (b"", r"is not a vigil profile"),
        (b'{"vigil_profile_version": 1, "rows": NaN}', r"damaged or truncated"),
        (b'{"vigil_profile_version": 1, "rows": "\xff"}', r"damaged or truncated"),
        (b'{"vigil_profile_version": 1}', r"the document has no 'columns'"),
    ],
)
def test_a_file_that_is_not_a_profile_is_refused(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message) as raised:
        load_profile(path)
    assert repr(str(path)) in str(raised.value)


def test_a_missing_profile_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"missing.vigil' does not exist; check the path"):
        load_profile(tmp_path / "missing.vigil")
    with pytest.raises(InputError, match=r"cannot read profile"):
        load_profile(tmp_path)
