"""The consumers of a service's `sources:`, started and stopped with it."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from vigil.errors import ConfigError
from vigil.ingest.validate import TimeRules
from vigil.sources.consumer import Broker, Consumer, Limits, Sink
from vigil.sources.settings import SourceConfig
from vigil.store.base import Store

log = logging.getLogger("vigil.sources")
SOURCES_EXTRA = 'pip install "vigil-monitor[sources]"'


def broker_for(config: SourceConfig) -> Broker:
    """The client of the source's broker; a ConfigError naming the extra when it is missing."""
    try:
        if config.broker == "nats":
            import nats  # noqa: F401

            from vigil.sources.nats_broker import NatsBroker

            return NatsBroker(config)
        if config.broker == "redis":
            import redis  # noqa: F401

            from vigil.sources.redis_broker import RedisBroker

            return RedisBroker(config)
        import pika  # noqa: F401

        from vigil.sources.rabbitmq_broker import RabbitBroker

        return RabbitBroker(config)
    except ImportError as err:
        raise ConfigError(
            f"source {config.name}: the {config.broker} client is not installed ({err.name}); "
            f"{SOURCES_EXTRA}."
        ) from err


class Sources:
    """One consumer per configured source."""

    def __init__(
        self,
        configs: Sequence[SourceConfig],
        sink: Sink,
        store: Store,
        *,
        max_message: int,
        max_extra_columns: int,
        time_rules: Callable[[], TimeRules],
        window_seconds: Callable[[str], int],
    ) -> None:
        limits = Limits(max_message, max_extra_columns, time_rules, window_seconds)
        self.consumers = [
            Consumer(config, broker_for(config), sink, store, limits) for config in configs
        ]

    def start(self) -> None:
        """Start every consumer's thread."""
        for consumer in self.consumers:
            consumer.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop pulling; each consumer stores and acks what it holds, then closes."""
        for consumer in self.consumers:
            consumer.request_stop()
        for consumer in self.consumers:
            consumer.stop(timeout)
            if consumer.is_alive:
                log.warning(
                    "source %s did not stop within %.0f s; its unacked messages will be "
                    "delivered again",
                    consumer.config.name,
                    timeout,
                )
