"""What a group of validated rows holds, for the writes: repeated ids, the windows touched,
the batches as one table."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def split_repeats(batch: pa.Table) -> tuple[pa.Table, int, list[str]]:
    """Keep the first row of each id in a batch; count repeats as duplicates or conflicts."""
    ids = batch.column("id")
    if pc.count_distinct(ids).as_py() == batch.num_rows:
        return batch, 0, []
    payload = [n for n in batch.column_names if n != "received"]
    return against_known(batch.select(payload), batch, {}, remember=True)


def against_known(
    payload: pa.Table, rows: pa.Table, known: dict[Any, dict[str, Any]], *, remember: bool
) -> tuple[pa.Table, int, list[str]]:
    """The `rows` whose id is not in `known` (id -> row); a repeat of a known row counts as a
    duplicate, another row under a known id as a conflict. `payload` is `rows` as compared;
    with `remember`, each kept row becomes known (the first of each id in a batch wins)."""
    keep = []
    duplicates = 0
    conflicts = []
    for i, row in enumerate(payload.to_pylist()):
        old = known.get(row["id"])
        if old is None:
            if remember:
                known[row["id"]] = row
            keep.append(i)
        elif same_row(old, row):
            duplicates += 1
        else:
            conflicts.append(str(row["id"]))
    return rows.take(pa.array(keep, pa.int64())), duplicates, conflicts


def same_row(a: dict[str, Any], b: dict[str, Any]) -> bool:
    for key, value in b.items():
        if key == "received":
            continue
        other = a.get(key)
        if value != other and not (_is_nan(value) and _is_nan(other)):
            return False
    return True


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and value != value


def concatenated(batches: Sequence[pa.Table]) -> pa.Table | None:
    """The batches as one table (None for none); a column some lack is null in their rows."""
    if not batches:
        return None
    if len(batches) == 1:
        return batches[0]
    first = batches[0].schema
    same = all(b.schema.equals(first) for b in batches)
    return pa.concat_tables(batches, promote_options="none" if same else "default")


def buckets(rows: pa.Table, window_seconds: int) -> set[tuple[str, datetime]]:
    """The (version, window start) pairs these rows fall in (numpy: Acero's group-by costs a
    millisecond a call, more than the rest of this for a batch)."""
    if rows.num_rows == 0:
        return set()
    micros = pc.cast(rows.column("ts"), pa.int64()).to_numpy(zero_copy_only=False)
    step = window_seconds * 1_000_000
    starts = (micros // step) * step
    versions = rows.column("version").combine_chunks().dictionary_encode()
    names = versions.dictionary.to_pylist()
    if len(names) == 1:
        pairs = [(names[0], int(s)) for s in np.unique(starts)]
    else:
        index = versions.indices.to_numpy(zero_copy_only=False)
        order = np.lexsort((starts, index))
        index, starts = index[order], starts[order]
        first = np.ones(len(order), dtype=bool)
        first[1:] = (index[1:] != index[:-1]) | (starts[1:] != starts[:-1])
        pairs = [(names[i], int(s)) for i, s in zip(index[first], starts[first], strict=True)]
    epoch = datetime(1970, 1, 1)
    return {(str(v), epoch + timedelta(microseconds=s)) for v, s in pairs}


def constant_time(value: datetime, n: int) -> pa.Array:
    """`n` copies of one timestamp, without a Python list of n datetimes."""
    micros = int((value - datetime(1970, 1, 1)) / timedelta(microseconds=1))
    return pa.array(np.full(n, micros, dtype=np.int64)).cast(pa.timestamp("us"))
