"""The 1M-row window read when the prediction table holds more than that window (issue 12).

bench/pg_read.py times a window in a table that holds only it. Here the table holds `--hours`
hours of rows (the first hour `--rows`, each later one half as many; labels for a third),
written through the store in batches of 50,000 into a throwaway PostgreSQL schema (dropped
afterwards), and the first hour is read `--repeat` times each way: from column blocks and
through COPY (blocks turned off), without and then with an index on the prediction table's
(version, ts), which vigil does not make. Run:

    python bench/pg_read_tables.py --rows 1000000 --hours 8
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import timedelta

import pyarrow as pa
import pyarrow.compute as pc

import pg_read  # beside this script: the window's shape and the throwaway schema
from vigil.store import SqlStore, open_store
from vigil.store.base import ModelInfo


def prefixed(table: pa.Table, column: str, prefix: str) -> pa.Table:
    """`table` with `prefix` put before every value of a text column."""
    values = pc.binary_join_element_wise(pa.array([prefix] * table.num_rows), table[column], "")
    return table.set_column(table.schema.get_field_index(column), column, values)


def fill(store: SqlStore, rows: int, hours: int) -> ModelInfo:
    """`rows` in the first hour, half as many in each of the next `hours - 1`."""
    model = store.register_model(
        "bench",
        "v1",
        {"version": 1, "task": "binary", "columns": {}},
        pg_read.columns(20),
        "DOUBLE",
    )
    for hour in range(hours):
        shift = pa.scalar(timedelta(hours=hour), pa.duration("us"))
        for predictions, labels in pg_read.batches(rows if hour == 0 else rows // 2, 20, hour):
            predictions = prefixed(predictions, "id", f"h{hour}")
            at = predictions.schema.get_field_index("timestamp")
            predictions = predictions.set_column(
                at, "timestamp", pc.add(predictions["timestamp"], shift)
            )
            store.write_predictions(model, [predictions], [], window_seconds=3600)
            store.write_labels(model, [prefixed(labels, "id", f"h{hour}")], [], window_seconds=3600)
    return model


def reads(store: SqlStore, model: ModelInfo, repeat: int, *, blocks: bool) -> list[float]:
    """Seconds of each read of the first hour."""
    store._db.blocks = blocks  # type: ignore[attr-defined]
    seconds = []
    try:
        for _ in range(repeat):
            began = time.perf_counter()
            table = store.read_window(
                model, "v1", pg_read.START, pg_read.START + timedelta(hours=1)
            )
            seconds.append(time.perf_counter() - began)
            assert table.num_rows > 0
    finally:
        store._db.blocks = True  # type: ignore[attr-defined]
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--hours", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=4)
    args = parser.parse_args()
    with pg_read.schema_url() as url:
        store = open_store(url)
        began = time.perf_counter()
        model = fill(store, args.rows, args.hours)
        store._db.run("ANALYZE")  # type: ignore[attr-defined]
        print(f"filled in {time.perf_counter() - began:.1f} s", flush=True)
        for index in (False, True):
            if index:
                began = time.perf_counter()
                store._db.run(f"CREATE INDEX p_window ON p_{model.id} (version, ts)")  # type: ignore[attr-defined]
                store._db.run("ANALYZE")  # type: ignore[attr-defined]
                print(f"index made in {time.perf_counter() - began:.1f} s", flush=True)
            for blocks in (True, False):
                name = f"{'blocks' if blocks else 'copy'}, {'index' if index else 'no index'}"
                seconds = reads(store, model, args.repeat, blocks=blocks)
                runs = ", ".join(f"{s:.2f}" for s in seconds)
                print(f"{name}: runs {runs} s", flush=True)
        sizes = store._db.run(  # type: ignore[attr-defined]
            "SELECT pg_size_pretty(pg_relation_size('p_window')), "
            f"pg_size_pretty(pg_relation_size('p_{model.id}'))"
        )
        print(f"index {sizes[0][0]}, table {sizes[0][1]}")
        store.close()


if __name__ == "__main__":
    sys.exit(main())
