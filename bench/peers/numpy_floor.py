"""The floor: load both files and sort every numeric column of each, nothing more."""

import numpy as np
import pyarrow.parquet as pq
from _common import arguments, columns, report

args = arguments()
for path in (args.reference, args.current):
    table = pq.read_table(path)
    numeric, _ = columns(table.column_names)
    for name in numeric:
        np.sort(table.column(name).to_numpy(zero_copy_only=False))
report("numpy floor", [])
