"""frouros: its KS test per numeric column and chi-square test per categorical, alpha 0.05."""

import pandas as pd
from _common import arguments, columns, report
from frouros.detectors.data_drift import ChiSquareTest, KSTest

args = arguments()
ref, cur = pd.read_parquet(args.reference), pd.read_parquet(args.current)
numeric, categorical = columns(list(ref.columns))
flagged = []
for name in numeric:
    detector = KSTest()
    detector.fit(X=ref[name].dropna().to_numpy(dtype=float))
    result, _ = detector.compare(X=cur[name].dropna().to_numpy(dtype=float))
    if result.p_value < 0.05:
        flagged.append(name)
for name in categorical:
    detector = ChiSquareTest()
    detector.fit(X=ref[name].astype(str).to_numpy())
    result, _ = detector.compare(X=cur[name].astype(str).to_numpy())
    if result.p_value < 0.05:
        flagged.append(name)
report("frouros", flagged)
