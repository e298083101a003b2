"""A deployment: the store, the monitor and the models that a service's settings describe.

`vigil serve`, `vigil run --once` and `vigil backfill` build the same things from the same
settings here, without the web framework (only `vigil serve` loads FastAPI).
"""

from __future__ import annotations

import io
import logging

import pyarrow as pa
import pyarrow.parquet as pq

from vigil.config import Settings
from vigil.errors import InputError
from vigil.evaluate import read_current
from vigil.ingest.layout import STORAGE, layout_for
from vigil.monitor.scheduler import Monitor
from vigil.spec import Spec, load_spec
from vigil.store.base import ARROW_TYPES, ModelInfo, Store

log = logging.getLogger("vigil.service")


def build_monitor(settings: Settings, store: Store) -> Monitor:
    """The window computer the settings describe, over `store`."""
    return Monitor(
        store,
        settings.plans,
        default_plan=settings.windows,
        lease_seconds=settings.lease,
        retention_seconds=settings.retention,
    )


def register(store: Store, monitor: Monitor, name: str, version: str, spec: Spec) -> ModelInfo:
    """Register a model version from a spec (used by the route and by config at start)."""
    layout = layout_for(spec)
    label = None if layout.target is None else layout.target[1]
    model = store.register_model(name, version, spec.to_dict(), layout.stored(), label)
    monitor.forget(model)
    return model


def reference_table(table: pa.Table, spec: Spec, source: str) -> pa.Table:
    """A reference set cast to the types the store keeps, so windows compare like with like."""
    arrays = {}
    missing = [c.name for c in spec.with_role("feature") if c.name not in table.column_names]
    if missing:
        raise InputError(
            f"the {source} lacks the feature column(s) {', '.join(missing)} of the spec."
        )
    for name in table.column_names:
        column = table.column(name)
        if name in spec.names:
            col = spec.column(name)
            storage = STORAGE[col.kind]
            try:
                if storage == "VARCHAR" and pa.types.is_floating(column.type):
                    raise pa.ArrowInvalid("floats are not categories")
                column = column.cast(ARROW_TYPES[storage])
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as err:
                raise InputError(
                    f"the {source}'s column {name!r} holds {column.type}; the spec makes it "
                    f"{col.kind}, stored as {storage.lower()}: {str(err).splitlines()[0]}"
                ) from err
        arrays[name] = column
    return pa.table(arrays)


def load_config_models(settings: Settings, store: Store, monitor: Monitor) -> None:
    """Register the models the config names, and store their references, at start."""
    for cfg in settings.models:
        if cfg.spec is None:
            continue
        spec = load_spec(cfg.spec)
        model = register(store, monitor, cfg.name, cfg.version, spec)
        if cfg.reference is not None and cfg.version not in store.reference_versions(model):
            table = reference_table(
                read_current(str(cfg.reference)).table, spec, str(cfg.reference)
            )
            sink = io.BytesIO()
            pq.write_table(table, sink)
            store.put_reference(model, cfg.version, sink.getvalue(), table.num_rows)
        log.info("model %s version %s registered from %s", cfg.name, cfg.version, cfg.spec)
