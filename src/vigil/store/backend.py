"""What the shared SQL needs from a database driver, and the store's clock."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Protocol

import pyarrow as pa

from vigil.store.base import PREDICTION_FIELDS

ROLLING_START = datetime(1970, 1, 1)  # the rolling window's fixed key; its end moves
RESERVED_PREFIX = "__"  # window tables name their fixed fields __id, __ts, ...
WINDOW_FIELDS: tuple[str, ...] = tuple(  # PREDICTION_FIELDS, two of them shortened
    RESERVED_PREFIX + {"timestamp": "ts", "model_version": "version"}.get(name, name)
    for name in PREDICTION_FIELDS
)


class Backend(Protocol):
    """What the shared SQL needs from a database driver."""

    url_for_display: str
    # "blob", "double", "bigint" -> this database's type names; "raw_blocks" -> its statement
    # for migration 6 (vigil.store.migrations)
    types: dict[str, str]
    shared: bool  # other processes write this database too (PostgreSQL), not only this one
    max_columns: int | None  # the most columns a table may have (PostgreSQL: 1,600), or None
    blocks: bool  # windows are read from column blocks (vigil.store.blocks): PostgreSQL

    def run(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...
    def blobs(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...
    def arrow(self, sql: str, params: Sequence[Any] = ()) -> pa.Table: ...
    def load(self, name: str, table: pa.Table) -> None: ...
    def unload(self, name: str) -> None: ...
    def transaction(self) -> AbstractContextManager[None]: ...
    def migration_lock(self) -> AbstractContextManager[None]: ...
    def is_unique_violation(self, error: Exception) -> bool: ...
    def is_data_error(self, error: Exception) -> bool: ...
    def close(self) -> None: ...
