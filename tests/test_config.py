"""The service config: defaults, the YAML file, environment overrides, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from vigil.config import hash_token, load_settings, read_yaml
from vigil.errors import ConfigError
from vigil.units import parse_duration, parse_size


def _write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "vigil.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_defaults_without_a_file() -> None:
    s = load_settings(None, {})
    assert (s.host, s.port, s.db, s.interval) == ("127.0.0.1", 8000, "vigil.duckdb", 60)
    assert s.limits.max_body == 64 * 2**20
    assert (s.windows.size_seconds, s.windows.rolling_seconds) == (3600, 7 * 86400)
    assert s.tokens == () and s.models == ()


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("15m", 900), ("1h", 3600), ("7d", 604800), ("2w", 1209600), (45, 45)],
)
def test_durations(text: object, seconds: int) -> None:
    assert parse_duration(text, "x") == seconds


@pytest.mark.parametrize("text", ["1x", "", "0s", "-5m", "h", True])
def test_bad_durations_say_how_to_write_one(text: object) -> None:
    with pytest.raises(ConfigError, match=r"write e\.g\. 30s"):
        parse_duration(text, "interval")


def test_sizes() -> None:
    assert parse_size("64MiB", "x") == 64 * 2**20
    assert parse_size("500kB", "x") == 500_000
    assert parse_size(1024, "x") == 1024
    with pytest.raises(ConfigError, match="64MiB"):
        parse_size("lots", "limits.max_body")


def test_file_then_environment(tmp_path: Path) -> None:
    token = hash_token("t0ken")
    path = _write(
        tmp_path,
        {
            "port": 9000,
            "db": "x.duckdb",
            "windows": {"size": "1d", "rolling": "off", "segments": ["region"]},
            "limits": {"max_body": "1MiB", "lateness": "2d"},
            "tokens": [{"name": "ci", "sha256": token, "scopes": ["write", "read"]}],
            "models": {
                "credit": {
                    "version": 3,
                    "spec": "credit.yaml",
                    "reference": "ref.parquet",
                    "windows": {"size": "15m"},
                }
            },
        },
    )
    s = load_settings(
        path,
        {
            "VIGIL_PORT": "9100",
            "VIGIL_WINDOWS_MIN_ROWS": "5",
            "VIGIL_LIMITS_MAX_BODY": "2MiB",
            "OTHER": "x",
        },
    )
    assert s.port == 9100
    assert s.db == "x.duckdb"
    assert s.limits.max_body == 2 * 2**20 and s.limits.lateness == 2 * 86400
    assert s.windows.size_seconds == 86400 and s.windows.rolling_seconds is None
    assert s.windows.min_rows == 5 and s.windows.segments == ("region",)
    (model,) = s.models
    assert model.version == "3" and model.spec == tmp_path / "credit.yaml"
    assert model.plan.size_seconds == 900 and model.plan.segments == ("region",)
    assert s.tokens[0].scopes == frozenset({"write", "read"})
    assert s.tokens[0].matches(hash_token("t0ken")) and not s.tokens[0].matches(hash_token("no"))


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({"prot": 1}, "unknown key(s) prot"),
        ({"port": "eighty"}, "not a port number"),
        ({"windows": {"sise": "1h"}}, "windows: unknown key(s) sise"),
        ({"windows": {"min_rows": -1}}, "min_rows"),
        (
            {"tokens": [{"name": "a", "sha256": "plaintext-token", "scopes": ["write"]}]},
            "Never put the token itself",
        ),
        ({"tokens": [{"name": "a", "sha256": "0" * 64, "scopes": ["root"]}]}, "scopes must be"),
        ({"models": {"m": {"spec": "s.yaml"}}}, "models.m: needs a version"),
        ([1, 2], "must be a mapping"),
    ],
)
def test_bad_configs_name_the_key(tmp_path: Path, data: object, words: str) -> None:
    with pytest.raises(ConfigError, match=words.replace("(", r"\(").replace(")", r"\)")):
        load_settings(_write(tmp_path, data), {})


def test_unreadable_and_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the config"):
        load_settings(tmp_path / "missing.yaml", {})
    bad = tmp_path / "bad.yaml"
    bad.write_text("port: [1,\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(bad, {})


def test_server_limits_have_defaults_and_are_read(tmp_path: Path) -> None:
    defaults = load_settings().limits
    assert (defaults.header_timeout, defaults.body_timeout) == (10, 120)
    assert defaults.max_connections == 1000
    assert defaults.max_inflight_bytes == 128 * 2**20
    assert defaults.shutdown_timeout == 10
    path = tmp_path / "c.yaml"
    limits = {
        "header_timeout": "5s",
        "body_timeout": "1m",
        "max_connections": 50,
        "max_inflight_bytes": "1GiB",
        "shutdown_timeout": "3s",
    }
    path.write_text(yaml.safe_dump({"limits": limits}))
    got = load_settings(path).limits
    assert (got.header_timeout, got.body_timeout, got.max_connections) == (5, 60, 50)
    assert (got.max_inflight_bytes, got.shutdown_timeout) == (2**30, 3)
    env = load_settings(None, {"VIGIL_LIMITS_MAX_CONNECTIONS": "7"}).limits
    assert env.max_connections == 7


def test_an_inflight_budget_below_max_body_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"limits": {"max_body": "64MiB", "max_inflight_bytes": "8MiB"}}))
    with pytest.raises(ConfigError, match="max_inflight_bytes"):
        load_settings(path)


@pytest.mark.parametrize("name", ["a/b", "a b", "", ".hidden", "x" * 129, "caf\u00e9"])
def test_config_model_names_follow_the_name_rule(tmp_path: Path, name: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"models": {name: {"version": "1"}}}))
    with pytest.raises(ConfigError, match="letters, digits"):
        load_settings(path)


def test_the_config_reads_yaml_1_2_booleans(tmp_path: Path) -> None:
    """on, off, yes and no stay words (YAML 1.1 made them booleans: `on:` a key True,
    `retention: off` the value False); true and false are booleans."""
    path = tmp_path / "vigil.yaml"
    path.write_text("retention: off\nwindows: {rolling: off}\nflags: [on, yes, no, true, False]\n")
    assert read_yaml(path, "the config") == {
        "retention": "off",
        "windows": {"rolling": "off"},
        "flags": ["on", "yes", "no", True, False],
    }
    path.write_text("retention: off\nwindows: {rolling: off}\n")
    settings = load_settings(path)
    assert settings.retention is None and settings.windows.rolling_seconds is None


def _model_streams(streams: object) -> dict[str, object]:
    return {"models": {"credit": {"version": "1", "streams": streams}}}


def test_model_streams_are_read(tmp_path: Path) -> None:
    streams = [
        {"stream": "error"},
        {"stream": "income", "detector": "cusum", "params": {"h": 10, "k": 0.25}},
    ]
    settings = load_settings(_write(tmp_path, _model_streams(streams)), {})
    (model,) = settings.models
    assert [(s.stream, s.detector, dict(s.params)) for s in model.streams] == [
        ("error", None, {}),
        ("income", "cusum", {"h": 10, "k": 0.25}),
    ]


@pytest.mark.parametrize(
    ("streams", "words"),
    [
        ({"stream": "error"}, "models.credit.streams: expected a list"),
        (["error"], "models.credit.streams[0]: expected a mapping"),
        ([{"detector": "adwin"}], "models.credit.streams[0].stream: expected error, score"),
        ([{"stream": "x", "detector": "adwn"}], "unknown detector 'adwn'; use one of adwin"),
        ([{"stream": "x", "detector": "adwin", "params": {"delt": 1}}], "has no parameter 'delt'"),
        ([{"stream": "x", "detector": "cusum", "params": {"h": "big"}}], "cusum.h must be float"),
        ([{"stream": "x", "detector": "cusum", "params": [1]}], "params: expected a mapping"),
        ([{"stream": "x", "every": 3}], "every"),
    ],
)
def test_bad_streams_name_the_entry_and_key(tmp_path: Path, streams: object, words: str) -> None:
    with pytest.raises(ConfigError, match=words.replace("[", r"\[").replace("]", r"\]")):
        load_settings(_write(tmp_path, _model_streams(streams)), {})
