"""Every YAML example in docs/alerts.md and docs/config.md's `alerts:` section is read by the
code that reads the config: the docs cannot drift from what vigil accepts."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from vigil.alerts.rules import parse_rules
from vigil.alerts.settings import parse_alert_settings
from vigil.config import _settings, read_yaml

DOCS = Path(__file__).resolve().parents[2] / "docs"
BLOCK = re.compile(r"```yaml\n(.*?)```", re.S)


def blocks(name: str) -> list[str]:
    return BLOCK.findall((DOCS / name).read_text(encoding="utf-8"))


def load(text: str, folder: Path) -> Any:
    """The YAML as the config reader reads it (YAML 1.2's booleans: `on:` stays a key)."""
    path = folder / "example.yaml"
    path.write_text(text, encoding="utf-8")
    return read_yaml(path, "the example")


def test_every_alerts_example_in_the_docs_is_accepted(tmp_path: Path) -> None:
    read = 0
    for text in blocks("alerts.md"):
        if "…" in text or "[...]" in text:  # a sketch of the section's keys, not a config
            continue
        data = load(text, tmp_path)
        if "alerts" in data:
            parse_alert_settings(data["alerts"])
            read += 1
        elif "rules" in data:
            parse_rules(data["rules"])
            read += 1
    assert read >= 4


def test_the_config_reference_is_accepted(tmp_path: Path) -> None:
    (full,) = [b for b in blocks("config.md") if "alerts:" in b]
    data = load(full, tmp_path)
    for model in (data.get("models") or {}).values():  # files the example names
        for key in ("spec", "reference"):
            model.pop(key, None)
    settings = _settings(data, tmp_path, "docs/config.md")
    assert [r.name for r in settings.alerts.rules] == ["psi-tiers"]
    assert settings.alerts.slas and settings.alerts.routes


@pytest.mark.parametrize("name", ["alerts.md", "config.md"])
def test_the_docs_have_yaml_examples(name: str) -> None:
    assert blocks(name)
