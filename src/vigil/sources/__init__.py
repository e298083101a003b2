"""Records pulled from message brokers into the store, beside HTTP ingest (docs/sources.md).

`settings.py` reads the config's `sources:`; `consumer.py` is the loop every source runs
(fetch, decode, validate, store, then ack); `nats_broker.py`, `redis_broker.py` and
`rabbitmq_broker.py` are the brokers' clients behind one small protocol; `running.py` starts
and stops the consumers of a service; `metrics.py` exposes their counters at scrape time.
The broker clients (the `sources` extra) are imported only when a source of theirs starts.
"""
