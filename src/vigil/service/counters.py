"""The service's own counters, on a registry made per app (never the global one).

Label values are fixed words or registered model names, so series stay bounded whatever
clients send: a rejection is counted under a reason category, not under its message.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

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
    """A fresh registry with the service's own metrics."""
    registry = CollectorRegistry(auto_describe=True)
    return ServiceCounters(
        registry=registry,
        records=Counter(
            "vigil_records",
            "Records received, by outcome: accepted, duplicate, conflict, rejected, pending.",
            ["model", "kind", "outcome"],
            registry=registry,
        ),
        rejections=Counter(
            "vigil_rejections",
            "Rejected records by reason category.",
            ["model", "kind", "reason"],
            registry=registry,
        ),
        refused=Counter(
            "vigil_requests_refused",
            "Requests answered with an error, by status and reason.",
            ["status", "reason"],
            registry=registry,
        ),
        latency=Histogram(
            "vigil_request_duration_seconds",
            "Time to answer a request, by route.",
            ["method", "route"],
            registry=registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        ),
        pending=Gauge(
            "vigil_writer_pending_records",
            "Records waiting for the writer.",
            registry=registry,
        ),
    )
