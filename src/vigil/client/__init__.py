"""The Python SDK: `Client` logs predictions and labels from a prediction service.

It runs inside the caller's process, so it imports nothing else of vigil and nothing heavy
(no numpy, pyarrow, pandas, scipy, duckdb, fastapi or rich); docs/sdk.md describes it.
"""

from vigil.client.client import Client, ClientStats

__all__ = ["Client", "ClientStats"]
