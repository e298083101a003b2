"""NannyML: UnivariateDriftCalculator with its default methods and thresholds.

NannyML derives its alert thresholds from the spread of a metric across reference chunks, so
both sets are cut into 10 chunks (with one chunk the thresholds have zero width and every
column alerts); a column is flagged when any current chunk alerts.
"""

import nannyml as nml
import pandas as pd
from _common import arguments, columns, report

args = arguments()
ref, cur = pd.read_parquet(args.reference), pd.read_parquet(args.current)
numeric, categorical = columns(list(ref.columns))
for frame in (ref, cur):
    for name in categorical:
        frame[name] = frame[name].astype("category")
calc = nml.UnivariateDriftCalculator(
    column_names=numeric + categorical,
    treat_as_categorical=categorical,
    chunk_number=10,
)
calc.fit(ref)
result = calc.calculate(cur).filter(period="analysis").to_df()
flagged = sorted(
    {
        col
        for (col, _method, field) in result.columns
        if field == "alert" and result[(col, _method, field)].any()
    }
)
report("nannyml", flagged)
