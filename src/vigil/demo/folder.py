"""The demo's folder: its service's config, store and log, the story's data and the report.

A later `vigil demo` into the same folder starts afresh: it replaces the store it wrote
before, recognised by the first line of the config beside it, and refuses to touch a store
it did not write.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from vigil.errors import VigilError

MARKER = "# written by `vigil demo`; a later `vigil demo` here replaces this folder's demo.duckdb"


@dataclass(frozen=True, slots=True)
class DemoFolder:
    path: Path

    @property
    def config(self) -> Path:
        return self.path / "demo.yaml"

    @property
    def store(self) -> Path:
        return self.path / "demo.duckdb"

    @property
    def log(self) -> Path:
        return self.path / "serve.log"

    @property
    def outcome(self) -> Path:
        """What the demo found (`Outcome.summary`) and what its receiver got, as JSON."""
        return self.path / "outcome.json"

    @property
    def labels(self) -> Path:
        return self.path / "labels.parquet"

    def prepare(self) -> None:
        """Create the folder; drop the store an earlier demo left (never any other)."""
        if self.path.exists() and not self.path.is_dir():
            raise VigilError(f"--data {self.path}: it is a file; give a folder (made if missing).")
        self.path.mkdir(parents=True, exist_ok=True)
        wal = self.store.with_name(self.store.name + ".wal")
        if self.store.exists() or wal.exists():
            if not self._is_ours():
                raise VigilError(
                    f"{self.store} exists and was not written by `vigil demo`; move it away or "
                    f"choose another --data folder."
                )
            self.store.unlink(missing_ok=True)
            wal.unlink(missing_ok=True)

    def _is_ours(self) -> bool:
        try:
            with self.config.open(encoding="utf-8") as f:
                return f.readline().rstrip("\n") == MARKER
        except OSError:
            return False

    def write_config(
        self, *, port: int, start: datetime, now: datetime, notify: str, retrain: str
    ) -> None:
        """The service's config: the model registered from the folder's spec and reference,
        hourly windows judged only when the demo asks (`replay`), records back to `start`
        taken, and the notices and retrain requests sent to the demo's receiver."""
        # a day more than the story is old, so its first hour is still inside the limit
        lateness = (now - start).days + 2
        config: dict[str, Any] = {
            "host": "127.0.0.1",
            "port": port,
            "db": str(self.store.resolve()),
            "interval": "1h",
            "limits": {"lateness": f"{lateness}d"},
            "windows": {"size": "1h", "rolling": "off", "min_rows": 100},
            "models": {
                "credit": {"version": "1", "spec": "spec.yaml", "reference": "reference.parquet"}
            },
            "alerts": {
                # performance estimated from the scores (CBPE), judged as the default
                # performance rule judges the realized one: two windows in a row
                "rules": [
                    {
                        "name": "estimated-performance",
                        "metric": "estimated",
                        "status": "warning",
                        "for": 2,
                    }
                ],
                "evaluate_after": "off",
                "allow": ["127.0.0.1"],
                "link": f"http://127.0.0.1:{port}",
                "notify": [{"name": "demo-receiver", "webhook": {"url": notify}}],
                "actions": {
                    "retrain": {
                        "webhook": {"url": retrain},
                        "on": {
                            "drift": ["default.dataset-drift", "default.score-drift"],
                            "performance": ["default.performance"],
                        },
                        "severity": "warning",
                        "min_interval": "1d",
                    }
                },
            },
        }
        text = yaml.safe_dump(config, sort_keys=False)
        self.config.write_text(f"{MARKER}\n{text}", encoding="utf-8")
