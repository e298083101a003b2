"""The service fixtures the ingest tests share with tests/service (a live server on 127.0.0.1)."""

from tests.service.conftest import live  # noqa: F401  (a fixture)
