"""The service's own counters, on a registry made per app (never the global one).

Label values are fixed words or registered model names, so series stay bounded whatever
clients send: a rejection is counted under a reason category, not under its message.

Under `vigil serve --workers N` the parent sets `PROMETHEUS_MULTIPROC_DIR` for its workers
(`vigil.service.workers`): prometheus_client then keeps each worker's values in files of that
folder, and the registry reads them all (`MultiProcessCollector`), so whichever worker answers
/metrics gives the counters summed over the workers, and the writer's pending records summed
over the live ones.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.multiprocess import MultiProcessCollector

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"  # prometheus_client's own variable

REASONS = (
    ("limits.max_extra_columns", "too_many_columns"),
    ("lone surrogate", "invalid_unicode"),
    ("range of a 64-bit float", "out_of_range"),
    ("lateness horizon", "late_timestamp"),
    ("ahead of the server", "future_timestamp"),
    ("not registered", "unknown_version"),
    ("repeat", "duplicate_key"),
    ("unknown field", "unknown_field"),
    ("not a segment column", "unknown_field"),
    ("not a class", "unknown_field"),
    ("NUL", "nul_character"),
    ("not finite", "non_finite"),
    ("not a number", "non_finite"),
    ("missing", "missing_field"),
    ("expected", "wrong_type"),
)


def reason_of(message: str) -> str:
    """The category a rejection message falls under."""
    for needle, reason in REASONS:
        if needle in message:
            return reason
    return "invalid_value"


@dataclass(frozen=True, slots=True)
class ServiceCounters:
    """Counters and histograms of one app."""

    registry: CollectorRegistry
    records: Counter
    rejections: Counter
    refused: Counter
    latency: Histogram
    pending: Gauge


def make_counters() -> ServiceCounters:
    """A fresh registry with the service's own metrics (read from every worker's files under
    `--workers`)."""
    registry = CollectorRegistry(auto_describe=True)
    shared = os.environ.get(MULTIPROCESS_DIR)
    if shared:
        MultiProcessCollector(registry, path=shared)  # type: ignore[no-untyped-call]
    own = None if shared else registry  # each worker's values go to its files instead
    return ServiceCounters(
        registry=registry,
        records=Counter(
            "vigil_records",
            "Records received, by outcome: accepted, duplicate, conflict, rejected, pending.",
            ["model", "kind", "outcome"],
            registry=own,
        ),
        rejections=Counter(
            "vigil_rejections",
            "Rejected records by reason category.",
            ["model", "kind", "reason"],
            registry=own,
        ),
        refused=Counter(
            "vigil_requests_refused",
            "Requests answered with an error, by status and reason.",
            ["status", "reason"],
            registry=own,
        ),
        latency=Histogram(
            "vigil_request_duration_seconds",
            "Time to answer a request, by route.",
            ["method", "route"],
            registry=own,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        ),
        pending=Gauge(
            "vigil_writer_pending_records",
            "Records waiting for the writer.",
            registry=own,
            multiprocess_mode="livesum",
        ),
    )
