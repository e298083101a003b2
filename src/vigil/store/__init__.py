"""Persistence: one `Store` interface over DuckDB (embedded default) or PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from vigil.errors import StoreError
from vigil.store.base import MetricPoint, ModelInfo, Quarantined, Store, WindowKey, WriteResult
from vigil.store.sql import SqlStore

__all__ = [
    "MetricPoint",
    "ModelInfo",
    "Quarantined",
    "SqlStore",
    "Store",
    "WindowKey",
    "WriteResult",
    "open_store",
]


def open_store(url: str | Path) -> SqlStore:
    """Open (and migrate) the store at `url`: a DuckDB file path or a postgresql:// URL."""
    text = str(url)
    if text.startswith(("postgresql://", "postgres://")):
        try:
            from vigil.store.postgres import PostgresBackend
        except ImportError as err:
            raise StoreError(
                "a postgresql:// store needs psycopg 3; install it with "
                "`pip install 'vigil-monitor[postgres]'`."
            ) from err
        return SqlStore(PostgresBackend(text))
    from vigil.store.duckdb import DuckDBBackend

    if text.startswith("duckdb://"):
        text = text[len("duckdb://") :]
    return SqlStore(DuckDBBackend(text))
