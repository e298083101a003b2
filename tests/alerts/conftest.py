"""The store fixtures (a DuckDB file and a PostgreSQL schema) for the alert tests too."""

from tests.store.conftest import postgres_url, store, store_url

__all__ = ["postgres_url", "store", "store_url"]
