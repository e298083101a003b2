"""The `sources:` section: what it reads, and a ConfigError naming source and key otherwise."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from vigil.config import load_settings
from vigil.errors import ConfigError
from vigil.sources.settings import masked_url, parse_sources

NATS = {
    "name": "credit-preds",
    "broker": "nats",
    "url": "nats://127.0.0.1:4222",
    "stream": "PREDICTIONS",
    "subject": "preds.credit",
    "consumer": "vigil",
    "model": "credit",
}


def test_a_source_is_read_from_the_service_config(tmp_path: Path) -> None:
    path = tmp_path / "vigil.yaml"
    entry = NATS | {"kind": "labels", "format": "arrow", "batch": 50, "max_inflight": 900}
    path.write_text(yaml.safe_dump({"sources": [entry, {**NATS, "name": "other"}]}))
    first, second = load_settings(path).sources
    assert (first.name, first.broker, first.kind, first.format) == (
        "credit-preds",
        "nats",
        "labels",
        "arrow",
    )
    assert (first.batch, first.max_inflight, first.redeliver_after) == (50, 900, 30)
    assert (second.kind, second.format, second.batch) == ("predictions", "json", 1000)
    assert load_settings(None).sources == ()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"broker": "kafka"}, "sources.credit-preds.broker: Kafka is not supported"),
        ({"broker": "mqtt"}, "sources.credit-preds.broker: 'mqtt' is not a broker"),
        ({"url": "redis://127.0.0.1"}, "sources.credit-preds.url: 'redis://127.0.0.1' is not a"),
        ({"url": None}, "sources.credit-preds.url: missing"),
        ({"stream": None}, "sources.credit-preds.stream: missing"),
        ({"subject": ""}, "sources.credit-preds.subject: ''"),
        ({"consumer": 7}, "sources.credit-preds.consumer: 7"),
        ({"model": "no such/model"}, "sources.credit-preds.model: model name"),
        ({"kind": "features"}, "sources.credit-preds.kind: 'features'; use one of"),
        ({"format": "xml"}, "sources.credit-preds.format: 'xml'; use one of json, columns"),
        ({"batch": 0}, "sources.credit-preds.batch: 0 is not a whole number"),
        ({"batch": True}, "sources.credit-preds.batch: True"),
        ({"max_inflight": "lots"}, "sources.credit-preds.max_inflight: 'lots'"),
        ({"redeliver_after": "soon"}, "sources.credit-preds.redeliver_after"),
        ({"queue": "q"}, "sources.credit-preds: unknown key(s) queue for broker nats"),
        ({"name": None}, "sources[0].name: missing"),
        ({"name": "a b"}, "sources[0].name: source name 'a b' is not allowed"),
    ],
)
def test_every_mistake_names_the_source_and_the_key(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_sources([NATS | change])
    assert message in str(err.value)


def test_keys_of_another_broker_are_refused_saying_whose_they_are() -> None:
    rabbit = {k: v for k, v in NATS.items() if k not in ("stream", "subject")}
    rabbit |= {"broker": "rabbitmq", "url": "amqp://guest:guest@127.0.0.1:5672/"}
    assert parse_sources([rabbit])[0].stream is None
    with pytest.raises(ConfigError, match=r"subject is read by nats only"):
        parse_sources([rabbit | {"subject": "x"}])


def test_names_are_unique_and_the_section_is_a_list() -> None:
    with pytest.raises(ConfigError, match="used by an earlier source"):
        parse_sources([NATS, NATS])
    with pytest.raises(ConfigError, match="expected a list of sources"):
        parse_sources({"credit": NATS})
    with pytest.raises(ConfigError, match=r"sources\[0\]: expected a mapping"):
        parse_sources(["nats://x"])


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("amqp://guest:secret@host:5672/", "amqp://guest:***@host:5672/"),
        ("nats://s3cr3t-token@host:4222", "nats://***@host:4222"),
        ("redis://:pw@host:6379/0", "redis://:***@host:6379/0"),
        ("redis://host:6379/0", "redis://host:6379/0"),
    ],
)
def test_secrets_in_urls_are_masked_for_the_logs(url: str, shown: str) -> None:
    assert masked_url(url) == shown
    with pytest.raises(ConfigError) as err:
        parse_sources([NATS | {"url": url.replace("://", "-//")}])
    assert "secret" not in str(err.value) and "s3cr3t" not in str(err.value)


def test_the_examples_of_docs_sources_md_are_accepted() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "sources.md").read_text()
    (block,) = re.findall(r"```yaml\n(.*?)```", text, re.S)
    sources = parse_sources(yaml.safe_load(block)["sources"])
    assert [(s.name, s.broker, s.kind, s.format) for s in sources] == [
        ("credit-preds", "nats", "predictions", "json"),
        ("credit-labels", "redis", "labels", "json"),
        ("credit-arrow", "rabbitmq", "predictions", "arrow"),
    ]
