"""The store's schema, as numbered migrations applied in order, once.

Written in the SQL that DuckDB and PostgreSQL share; `{blob}`, `{double}` and `{bigint}` are
replaced by each backend's type names, `{raw_blocks}` by its statement that stores column
blocks as they are (PostgreSQL: no TOAST compression; DuckDB: nothing). Never edit a
migration that has shipped: add one.
"""

from __future__ import annotations

MIGRATIONS: tuple[tuple[int, tuple[str, ...]], ...] = (
    (
        1,
        (
            """CREATE TABLE IF NOT EXISTS models (
                id INTEGER PRIMARY KEY,
                name VARCHAR NOT NULL UNIQUE,
                current_version VARCHAR NOT NULL,
                label_storage VARCHAR,
                created TIMESTAMP NOT NULL
            )""",
            """CREATE TABLE IF NOT EXISTS model_versions (
                model_id INTEGER NOT NULL,
                version VARCHAR NOT NULL,
                spec VARCHAR NOT NULL,
                created TIMESTAMP NOT NULL,
                PRIMARY KEY (model_id, version)
            )""",
            """CREATE TABLE IF NOT EXISTS model_columns (
                model_id INTEGER NOT NULL,
                position INTEGER NOT NULL,
                name VARCHAR NOT NULL,
                role VARCHAR NOT NULL,
                storage VARCHAR NOT NULL,
                PRIMARY KEY (model_id, position),
                UNIQUE (model_id, name)
            )""",
            """CREATE TABLE IF NOT EXISTS model_references (
                model_id INTEGER NOT NULL,
                version VARCHAR NOT NULL,
                parquet {blob} NOT NULL,
                rows_n {bigint} NOT NULL,
                created TIMESTAMP NOT NULL,
                PRIMARY KEY (model_id, version)
            )""",
            """CREATE TABLE IF NOT EXISTS quarantine (
                model_id INTEGER NOT NULL,
                received TIMESTAMP NOT NULL,
                kind VARCHAR NOT NULL,
                record_index INTEGER NOT NULL,
                record_id VARCHAR,
                errors VARCHAR NOT NULL,
                payload VARCHAR NOT NULL
            )""",
            """CREATE TABLE IF NOT EXISTS windows (
                model_id INTEGER NOT NULL,
                version VARCHAR NOT NULL,
                kind VARCHAR NOT NULL,
                w_start TIMESTAMP NOT NULL,
                w_end TIMESTAMP NOT NULL,
                generation {bigint} NOT NULL,
                computed_generation {bigint} NOT NULL,
                rows_n {bigint},
                labelled_n {bigint},
                computed_at TIMESTAMP,
                owner VARCHAR,
                lease_until TIMESTAMP,
                report VARCHAR,
                PRIMARY KEY (model_id, version, kind, w_start)
            )""",
            """CREATE TABLE IF NOT EXISTS metric_points (
                model_id INTEGER NOT NULL,
                version VARCHAR NOT NULL,
                kind VARCHAR NOT NULL,
                segment VARCHAR NOT NULL,
                w_start TIMESTAMP NOT NULL,
                w_end TIMESTAMP NOT NULL,
                metric VARCHAR NOT NULL,
                col VARCHAR NOT NULL,
                value {double},
                status VARCHAR NOT NULL,
                PRIMARY KEY (model_id, version, kind, segment, w_start, metric, col)
            )""",
        ),
    ),
    (
        2,
        (
            # the standard error of a judged value (performance metrics), beside the value
            "ALTER TABLE metric_points ADD COLUMN band {double}",
            # a window whose computation failed: how often, why, and not before when again
            "ALTER TABLE windows ADD COLUMN failures INTEGER DEFAULT 0",
            "ALTER TABLE windows ADD COLUMN last_error VARCHAR",
            "ALTER TABLE windows ADD COLUMN retry_at TIMESTAMP",
        ),
    ),
    (
        3,
        (
            # the generation of the window's last news other than labels (rows, a reference, a
            # backfill): a window with only labels since it was computed may be brought up to
            # date from its report (vigil.late_labels). Windows stored before count as news.
            "ALTER TABLE windows ADD COLUMN data_generation {bigint}",
            "UPDATE windows SET data_generation = generation",
        ),
    ),
    (
        4,
        (
            # alerts: one row per alert (an open one per key at most), its events, the outbox
            # of notices, silences, and the decisions about actions (docs/alerts.md). No index
            # on columns that UPDATEs change: DuckDB rewrites such rows as a delete and insert.
            """CREATE TABLE IF NOT EXISTS alerts (
                id VARCHAR PRIMARY KEY,
                model_id INTEGER NOT NULL,
                rule VARCHAR NOT NULL,
                version VARCHAR NOT NULL,
                col VARCHAR NOT NULL,
                segment VARCHAR NOT NULL,
                metric VARCHAR NOT NULL,
                severity VARCHAR NOT NULL,
                status VARCHAR NOT NULL,
                began TIMESTAMP NOT NULL,
                opened_at TIMESTAMP,
                changed TIMESTAMP NOT NULL,
                resolved_at TIMESTAMP,
                breached INTEGER NOT NULL,
                clear_n INTEGER NOT NULL,
                notified TIMESTAMP,
                w_kind VARCHAR NOT NULL,
                w_start TIMESTAMP NOT NULL,
                w_end TIMESTAMP NOT NULL,
                value {double},
                threshold {double} NOT NULL,
                baseline {double},
                message VARCHAR NOT NULL,
                point_status VARCHAR NOT NULL,
                acked_at TIMESTAMP,
                acked_by VARCHAR,
                verdict VARCHAR,
                verdict_by VARCHAR,
                verdict_at TIMESTAMP,
                verdict_note VARCHAR
            )""",
            """CREATE TABLE IF NOT EXISTS alert_events (
                alert_id VARCHAR NOT NULL,
                seq {bigint} NOT NULL,
                event_at TIMESTAMP NOT NULL,
                kind VARCHAR NOT NULL,
                severity VARCHAR NOT NULL,
                value {double},
                threshold {double},
                baseline {double},
                w_start TIMESTAMP,
                w_end TIMESTAMP,
                message VARCHAR NOT NULL,
                actor VARCHAR,
                PRIMARY KEY (alert_id, seq)
            )""",
            """CREATE TABLE IF NOT EXISTS deliveries (
                id VARCHAR PRIMARY KEY,
                model_id INTEGER NOT NULL,
                destination VARCHAR NOT NULL,
                body VARCHAR NOT NULL,
                created TIMESTAMP NOT NULL,
                status VARCHAR NOT NULL,
                attempts INTEGER NOT NULL,
                next_at TIMESTAMP,
                last_error VARCHAR,
                sent_at TIMESTAMP,
                owner VARCHAR,
                lease_until TIMESTAMP
            )""",
            """CREATE TABLE IF NOT EXISTS delivery_alerts (
                delivery_id VARCHAR NOT NULL,
                alert_id VARCHAR NOT NULL,
                PRIMARY KEY (delivery_id, alert_id)
            )""",
            """CREATE TABLE IF NOT EXISTS silences (
                id VARCHAR PRIMARY KEY,
                matchers VARCHAR NOT NULL,
                starts_at TIMESTAMP NOT NULL,
                ends_at TIMESTAMP NOT NULL,
                created TIMESTAMP NOT NULL,
                created_by VARCHAR,
                comment VARCHAR NOT NULL
            )""",
            """CREATE TABLE IF NOT EXISTS actions (
                id VARCHAR PRIMARY KEY,
                model_id INTEGER NOT NULL,
                kind VARCHAR NOT NULL,
                trigger_kind VARCHAR NOT NULL,
                decided_at TIMESTAMP NOT NULL,
                taken BOOLEAN NOT NULL,
                reason VARCHAR NOT NULL,
                evidence VARCHAR NOT NULL,
                outcome VARCHAR
            )""",
            "CREATE INDEX IF NOT EXISTS actions_by_model ON actions (model_id, kind, decided_at)",
        ),
    ),
    (
        5,
        (
            # a change detector on a per-record stream (vigil.monitor.streams): where it has
            # read to in arrival order (the cursor), how many values it was fed, and its state,
            # written in one transaction with the detections it made
            """CREATE TABLE IF NOT EXISTS detector_streams (
                model_id INTEGER NOT NULL,
                stream VARCHAR NOT NULL,
                detector VARCHAR NOT NULL,
                cursor_at TIMESTAMP NOT NULL,
                cursor_id VARCHAR NOT NULL,
                position {bigint} NOT NULL,
                state {blob} NOT NULL,
                updated TIMESTAMP NOT NULL,
                PRIMARY KEY (model_id, stream, detector)
            )""",
        ),
    ),
    (
        6,
        (
            # a model's predictions a second time, as Arrow IPC blocks of the rows each write
            # stored (vigil.store.blocks; PostgreSQL only): what its window reads fetch
            """CREATE TABLE IF NOT EXISTS blocks (
                block_id VARCHAR PRIMARY KEY,
                model_id INTEGER NOT NULL,
                version VARCHAR NOT NULL,
                first_ts TIMESTAMP NOT NULL,
                last_ts TIMESTAMP NOT NULL,
                rows_n INTEGER NOT NULL,
                data {blob} NOT NULL
            )""",
            "CREATE INDEX IF NOT EXISTS blocks_by_time ON blocks (model_id, version, last_ts)",
            # LZ4 already: PostgreSQL's own compression tried on each block cost a write of 50k
            # rows 0.15 s instead of 0.05 s, and found nothing to gain
            "{raw_blocks}",
            # the models whose every stored row is in blocks (since when)
            """CREATE TABLE IF NOT EXISTS block_models (
                model_id INTEGER PRIMARY KEY,
                since TIMESTAMP NOT NULL
            )""",
        ),
    ),
)

LATEST = MIGRATIONS[-1][0]
