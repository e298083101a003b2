"""The sources' counters as Prometheus families, read at scrape time (no global registry)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from vigil.sources.consumer import Consumer


class SourcesCollector(Collector):
    """`vigil_source_messages`, `vigil_source_records`, in-flight records and lag per source."""

    def __init__(self, consumers: Sequence[Consumer]) -> None:
        self.consumers = list(consumers)

    def collect(self) -> Iterator[Metric]:
        """One sample per source and outcome."""
        messages = CounterMetricFamily(
            "vigil_source_messages",
            "Broker messages by outcome: consumed, acked, quarantined (unreadable, stored in "
            "the quarantine and acked), redelivered (delivered more than once).",
            labels=["source", "outcome"],
        )
        records = CounterMetricFamily(
            "vigil_source_records",
            "Records from broker messages by outcome: accepted, duplicate, conflict, rejected.",
            labels=["source", "outcome"],
        )
        inflight = GaugeMetricFamily(
            "vigil_source_inflight_records",
            "Records decoded from messages and not yet stored (at most max_inflight).",
            labels=["source"],
        )
        lag = GaugeMetricFamily(
            "vigil_source_lag_messages",
            "Messages the broker holds that this source has not read yet, as the broker says.",
            labels=["source"],
        )
        for consumer in self.consumers:
            name, stats = consumer.config.name, consumer.stats
            for outcome, n in stats.messages.items():
                messages.add_metric([name, outcome], n)
            for outcome, n in stats.records.items():
                records.add_metric([name, outcome], n)
            inflight.add_metric([name], stats.inflight)
            if stats.lag is not None:
                lag.add_metric([name], stats.lag)
        yield from (messages, records, inflight, lag)
