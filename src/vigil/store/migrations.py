"""The store's schema, as numbered migrations applied in order, once.

Written in the SQL that DuckDB and PostgreSQL share; `{blob}`, `{double}` and `{bigint}` are
replaced by each backend's type names. Never edit a migration that has shipped: add one.
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
)

LATEST = MIGRATIONS[-1][0]
