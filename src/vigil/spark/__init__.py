"""The Spark engine: profiles built on the executors, judged as every report is judged.

>>> import vigil.spark  # no pyspark imported until a function runs

`evaluate(reference, current, spec)` compares a current Spark DataFrame with a reference (a
DataFrame, or a profile saved by `vigil profile`) and returns the same `Report` as
`vigil.summaries.evaluate_summary` gives for the same rows: each partition's Arrow batches
feed mergeable summaries where they lie (`mapInArrow`), and only the summaries reach the
driver. `profile` builds a reference profile from a DataFrame the same way (save it with
`vigil.profile.save_profile`). `evaluate_windows` gives every time window's report, whole
and per segment, from one pass over the current DataFrame. `spark_session` starts a session
(`local[*]` by default) and `read_files` reads Parquet, CSV or JSON Lines files. Needs the
`spark` extra (`pip install 'vigil-monitor[spark]'`) and Java 17 or later; docs/spark.md
says more.
"""

from vigil.spark.engine import TOP_SEGMENTS, WindowReport, evaluate, evaluate_windows, profile
from vigil.spark.session import read_files, spark_session

__all__ = [
    "TOP_SEGMENTS",
    "WindowReport",
    "evaluate",
    "evaluate_windows",
    "profile",
    "read_files",
    "spark_session",
]
