"""whylogs: profile both sets, then its default drift algorithms between the two views."""

import pandas as pd
import whylogs as why
from _common import arguments, columns, report
from whylogs.viz.drift.column_drift_algorithms import calculate_drift_scores

args = arguments()
ref, cur = pd.read_parquet(args.reference), pd.read_parquet(args.current)
numeric, categorical = columns(list(ref.columns))
checked = numeric + categorical
for frame in (ref, cur):
    for name in categorical:
        frame[name] = frame[name].astype(str)
scores = calculate_drift_scores(
    target_view=why.log(cur[checked]).view(),
    reference_view=why.log(ref[checked]).view(),
    with_thresholds=True,
)
flagged = [
    name for name, score in scores.items() if score and score.get("drift_category") == "DRIFT"
]
report("whylogs", flagged)
