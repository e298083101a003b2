"""One store test suite over both backends: DuckDB in a temporary file, PostgreSQL in a schema.

Each PostgreSQL test gets a schema of its own (`vigil_test_<random>`, dropped afterwards) and
a URL whose `search_path` points there, so tests never see each other's tables (a module that
shares one server across its tests asks for `module_postgres_url` instead). When the
server cannot be reached the PostgreSQL cases fail: CI starts it, and so does `scripts/test`.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from vigil.store import SqlStore, open_store

POSTGRES_URL = os.environ.get("VIGIL_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
HOW_TO_START = (
    "start the local server with "
    "`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` "
    "(or point VIGIL_TEST_POSTGRES at another database)"
)


@contextlib.contextmanager
def postgres_schema() -> Iterator[str]:
    """A URL whose tables live in a fresh schema of the test PostgreSQL database, dropped after."""
    try:
        admin = psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as err:
        reason = str(err).splitlines()[0]
        pytest.fail(
            f"PostgreSQL at {POSTGRES_URL} is unreachable ({reason}); {HOW_TO_START}.",
            pytrace=False,
        )
    schema = f"vigil_test_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(f"CREATE SCHEMA {schema}")
        try:
            separator = "&" if "?" in POSTGRES_URL else "?"
            yield f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"
        finally:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A URL whose tables live in a fresh schema of the test PostgreSQL database."""
    with postgres_schema() as url:
        yield url


@pytest.fixture(scope="module")
def module_postgres_url() -> Iterator[str]:
    """A schema shared by one module's tests: for a server those tests only read from, or
    write to under names of their own."""
    with postgres_schema() as url:
        yield url


@pytest.fixture(params=["duckdb", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a store lives: a DuckDB file or a PostgreSQL schema."""
    if request.param == "duckdb":
        return str(tmp_path / "vigil.duckdb")
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def store(store_url: str) -> Iterator[SqlStore]:
    """An opened, migrated, empty store; closed after the test."""
    opened = open_store(store_url)
    try:
        yield opened
    finally:
        opened.close()
