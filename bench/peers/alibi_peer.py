"""alibi-detect: TabularDrift (KS per numeric feature, chi-square per categorical), p 0.05.

TabularDrift takes one numeric matrix without NaN: categories become integer codes and the few
missing numbers are filled with the reference median.
"""

import numpy as np
import pandas as pd
from _common import arguments, columns, report
from alibi_detect.cd import TabularDrift

args = arguments()
ref, cur = pd.read_parquet(args.reference), pd.read_parquet(args.current)
numeric, categorical = columns(list(ref.columns))
checked = numeric + categorical
codes = {
    n: {v: i for i, v in enumerate(sorted(set(ref[n]) | set(cur[n]), key=str))} for n in categorical
}


def matrix(frame: pd.DataFrame) -> np.ndarray:
    out = np.empty((len(frame), len(checked)), dtype=np.float32)
    for j, name in enumerate(checked):
        if name in categorical:
            out[:, j] = frame[name].map(codes[name]).to_numpy()
        else:
            out[:, j] = frame[name].fillna(ref[name].median()).to_numpy()
    return out


cat_index = {checked.index(n): None for n in categorical}
detector = TabularDrift(matrix(ref), p_val=0.05, categories_per_feature=cat_index)
result = detector.predict(matrix(cur), drift_type="feature")
flagged = [checked[j] for j, drifted in enumerate(result["data"]["is_drift"]) if drifted]
report("alibi-detect", flagged)
