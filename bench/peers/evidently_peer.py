"""Evidently: the DataDriftPreset with its defaults (per-column tests chosen by Evidently)."""

import pandas as pd
from _common import arguments, columns, report
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset

args = arguments()
ref, cur = pd.read_parquet(args.reference), pd.read_parquet(args.current)
numeric, categorical = columns(list(ref.columns))
definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
snapshot = Report([DataDriftPreset(columns=numeric + categorical)]).run(
    Dataset.from_pandas(cur[numeric + categorical], data_definition=definition),
    Dataset.from_pandas(ref[numeric + categorical], data_definition=definition),
)
flagged = []
for metric in snapshot.dict()["metrics"]:
    config = metric.get("config", {})
    if config.get("type", "").endswith("ValueDrift"):
        value, threshold = metric["value"], config.get("threshold")
        method = str(config.get("method", "")).lower()
        is_p_value = "p_value" in method or "test" in method
        drifted = value < threshold if is_p_value else value >= threshold
        if drifted:
            flagged.append(config["column"])
report("evidently", flagged)
