"""The plain scipy loop: ks_2samp per numeric column, chi2_contingency per categorical."""

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
from _common import arguments, columns, report
from scipy import stats

args = arguments()
ref, cur = pq.read_table(args.reference), pq.read_table(args.current)
numeric, categorical = columns(ref.column_names)
flagged = []
for name in numeric:
    r = ref.column(name).to_numpy(zero_copy_only=False).astype(float)
    c = cur.column(name).to_numpy(zero_copy_only=False).astype(float)
    if stats.ks_2samp(r[~np.isnan(r)], c[~np.isnan(c)]).pvalue < 0.05:
        flagged.append(name)
for name in categorical:
    counts = []
    for table in (ref, cur):
        vc = pc.value_counts(table.column(name))
        values, numbers = vc.field("values").to_pylist(), vc.field("counts").to_pylist()
        counts.append(dict(zip(values, numbers, strict=True)))
    keys = sorted(set(counts[0]) | set(counts[1]), key=str)
    table = np.array([[c.get(k, 0) for k in keys] for c in counts])
    if stats.chi2_contingency(table).pvalue < 0.05:
        flagged.append(name)
report("scipy loop", flagged)
