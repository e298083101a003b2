"""The command line as a user runs it: a real `vigil` process, exit codes, files, messages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from tests.conftest import model_logs

VIGIL = [sys.executable, "-m", "vigil.cli"]


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [*VIGIL, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300, check=False
    )


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("data")
    pq.write_table(model_logs(4000, seed=11), d / "ref.parquet")
    pq.write_table(model_logs(4000, seed=12), d / "same.parquet")
    pq.write_table(model_logs(4000, seed=13, shift=0.8), d / "shifted.parquet")
    return {
        "ref": d / "ref.parquet",
        "same": d / "same.parquet",
        "shifted": d / "shifted.parquet",
        "dir": d,
    }


def test_init_writes_a_spec_that_report_accepts(files) -> None:
    spec = files["dir"] / "vigil.yaml"
    done = run(
        "init",
        "--reference",
        str(files["ref"]),
        "--target",
        "target",
        "--prediction",
        "prediction",
        "--score",
        "score",
        "-o",
        str(spec),
    )
    assert done.returncode == 0, done.stderr
    assert "role: target" in spec.read_text()
    out_json = files["dir"] / "r.json"
    done = run(
        "report",
        "--reference",
        str(files["ref"]),
        "--current",
        str(files["shifted"]),
        "--spec",
        str(spec),
        "--json",
        str(out_json),
        "--html",
        str(files["dir"] / "r.html"),
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(out_json.read_text())
    assert data["drift"]["columns"]["x1"]["drifted"] is True
    assert data["drift"]["columns"]["x3"]["drifted"] is False
    assert "x1" in done.stdout
    assert (files["dir"] / "r.html").read_text().lstrip().lower().startswith("<!doctype html")


def test_check_is_a_ci_gate(files) -> None:
    args = ["--target", "target", "--prediction", "prediction", "--score", "score"]
    ok = run("check", "--reference", str(files["ref"]), "--current", str(files["same"]), *args)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "check passed" in ok.stdout
    bad = run("check", "--reference", str(files["ref"]), "--current", str(files["shifted"]), *args)
    assert bad.returncode == 1
    assert "check failed" in bad.stdout


def test_profile_then_report_against_it(files) -> None:
    prof = files["dir"] / "ref.vigil"
    done = run(
        "profile",
        str(files["ref"]),
        "-o",
        str(prof),
        "--target",
        "target",
        "--score",
        "score",
        "--prediction",
        "prediction",
    )
    assert done.returncode == 0, done.stderr
    out_json = files["dir"] / "p.json"
    done = run(
        "report",
        "--reference",
        str(prof),
        "--current",
        str(files["shifted"]),
        "--json",
        str(out_json),
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(out_json.read_text())
    assert data["reference"]["is_profile"] is True
    assert "ks" in data["drift"]["columns"]["x1"]["approximate"]
    assert data["drift"]["columns"]["x1"]["drifted"] is True


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["report", "--reference", "nope.parquet", "--current", "x.parquet"], "does not exist"),
        (
            ["report", "--reference", "{ref}", "--current", "{ref}", "--spec", "missing.yaml"],
            "spec file 'missing.yaml' does not exist",
        ),
        (
            ["report", "--reference", "{ref}", "--current", "{ref}", "--target", "nope"],
            "target column 'nope' is not in the reference",
        ),
        (
            ["check", "--reference", "{ref}", "--current", "{ref}", "--fail-on", "bad"],
            "invalid choice",
        ),
    ],
)
def test_usage_errors_exit_2_with_one_line_and_no_traceback(files, args, message) -> None:
    done = run(*[a.format(ref=files["ref"]) for a in args])
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_a_csv_that_is_not_csv(files) -> None:
    bad = files["dir"] / "bad.parquet"
    bad.write_text("a,b\n1,2\n")
    done = run("report", "--reference", str(files["ref"]), "--current", str(bad))
    assert done.returncode == 2
    assert "as Parquet" in done.stderr and "Traceback" not in done.stderr


# -- the token entry, written to be pasted --------------------------------------------------


def _token_output(stdout: str) -> tuple[str, str]:
    """The token and the config entry `vigil token` printed."""
    lines = stdout.splitlines()
    token = lines[lines.index("token (shown once; give it to the client):") + 1]
    entry = "\n".join(lines[lines.index("config entry (under `tokens:`):") + 1 :])
    return token, entry


@pytest.mark.parametrize(
    ("name", "scopes"),
    [
        ("ingest", "write"),
        ("dashboards", "read,write"),
        ("ops [night]: 'on call' #2", " admin , read "),  # YAML and rich markup both
        ("line one\n  - name: injected\n", "read"),
        ("a long name " * 400, "write"),  # YAML folds it over lines
    ],
    ids=["write", "two scopes", "markup", "newlines", "long"],
)
def test_the_printed_token_entry_pasted_under_tokens_is_accepted(
    tmp_path: Path, name: str, scopes: str
) -> None:
    from vigil.config import hash_token, load_settings

    done = run("token", "--name", name, "--scopes", scopes)
    assert done.returncode == 0, done.stderr
    token, entry = _token_output(done.stdout)
    assert "scopes: [" in entry, "the scopes are printed, not eaten as markup"
    config = tmp_path / "vigil.yaml"
    config.write_text("tokens:\n" + entry + "\n")
    (loaded,) = load_settings(config).tokens
    assert loaded.name == name
    assert loaded.scopes == {s.strip() for s in scopes.split(",")}
    assert loaded.sha256 == hash_token(token) and loaded.matches(hash_token(token))
    assert not loaded.revoked


def test_vigil_serve_takes_the_pasted_entry_with_its_scopes(tmp_path: Path) -> None:
    import httpx
    from tests.service.conftest import ServeProcess

    token, entry = _token_output(run("token", "--name", "ingest", "--scopes", "write").stdout)
    config = tmp_path / "vigil.yaml"
    config.write_text(f"db: {tmp_path / 'vigil.duckdb'}\ntokens:\n{entry}\n")
    server = ServeProcess(["--config", str(config)])
    try:
        server.wait_ready()
        bearer = {"authorization": f"Bearer {token}"}
        with httpx.Client(base_url=server.url, timeout=30) as c:
            body = {"records": []}
            assert c.post("/v1/models/m/predictions", json=body).status_code == 401
            written = c.post("/v1/models/m/predictions", json=body, headers=bearer)
            assert written.status_code == 404, "let in to write; the model is unknown"
            read = c.get("/v1/models", headers=bearer)
            assert read.status_code == 403, "write is all the entry gave"
            assert "has the scopes write" in read.json()["error"]["message"]
    finally:
        log = server.stop()
    assert "no tokens configured" not in log


@pytest.mark.parametrize("scopes", ["", ",", "write,delete", "[write]"])
def test_bad_scopes_are_a_usage_error(scopes: str) -> None:
    done = run("token", "--name", "x", "--scopes", scopes)
    assert done.returncode == 2
    assert "--scopes: use some of read, write, admin" in done.stderr
    assert done.stdout == "", "no token is printed for an entry that would not load"


# -- errors: usage (2) and internal (3) -------------------------------------------------------


def test_init_into_a_missing_folder_is_one_line_not_a_traceback(files) -> None:
    target = files["dir"] / "missing" / "dir" / "x.yaml"
    done = run("init", "--reference", str(files["ref"]), "-o", str(target))
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert f"cannot write {str(target)!r}" in line and "check the folder exists" in line
    assert not target.parent.exists()


def test_an_internal_error_exits_3_with_one_line(monkeypatch, capsys) -> None:
    import secrets

    from vigil.cli import EXIT_INTERNAL, main

    def broken(n: int) -> str:
        raise RuntimeError("the entropy pool [bold]ran dry[/]\nsecond line of detail")

    monkeypatch.setattr(secrets, "token_urlsafe", broken)
    assert main(["token", "--name", "x"]) == EXIT_INTERNAL == 3
    out, err = capsys.readouterr()
    assert out == ""
    (line,) = err.strip().splitlines()
    assert line.startswith("internal error: RuntimeError: the entropy pool [bold]ran dry[/]")
    assert "vigil failed, not your input" in line and "--debug" in line
    with pytest.raises(RuntimeError, match="entropy pool"):
        main(["--debug", "token", "--name", "x"])


def test_the_exit_codes_are_documented_in_help_and_the_module() -> None:
    import vigil.cli

    done = run("--help")
    assert done.returncode == 0
    assert "1 `vigil check` failed, 2 usage error, 3 internal error" in done.stdout
    assert "- 3: an internal error" in (vigil.cli.__doc__ or "")
    assert (vigil.cli.EXIT_CHECK_FAILED, vigil.cli.EXIT_USAGE, vigil.cli.EXIT_INTERNAL) == (1, 2, 3)


# -- output in CI logs: not a terminal, not cut at 80 columns -------------------------------

LONG = "car_value_estimate_from_the_dealer_network_eur"


@pytest.fixture(scope="module")
def long_named(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("long")
    rename = {"x1": LONG, "colour": "customer_segment_of_the_marketing_team"}
    for name, shift in (("ref", 0.0), ("cur", 0.8)):
        table = model_logs(3000, seed=21 if shift == 0 else 22, shift=shift)
        pq.write_table(
            table.rename_columns([rename.get(n, n) for n in table.column_names]),
            d / f"{name}.parquet",
        )
    return {"ref": d / "ref.parquet", "cur": d / "cur.parquet"}


@pytest.mark.parametrize("columns", [None, "", "wide", "-3", "0"])
def test_a_report_piped_to_a_log_keeps_long_names_and_statuses_whole(
    long_named, columns: str | None
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    if columns is not None:
        env["COLUMNS"] = columns  # unusable values fall back to 200
    done = subprocess.run(
        [
            *VIGIL,
            "report",
            "--reference",
            str(long_named["ref"]),
            "--current",
            str(long_named["cur"]),
        ],
        capture_output=True,  # pipes: stdout is not a terminal, as in a CI log
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    # the drift table's row (the multivariate table's caption may name the column again, as
    # a feature separating the sets)
    row = next(line for line in done.stdout.splitlines() if LONG in line)
    assert "critical" in row, row
    assert "customer_segment_of_the_marketing_team" in done.stdout
    assert "…" not in done.stdout
    assert max(len(line) for line in done.stdout.splitlines()) > 80


def test_columns_narrows_the_report_when_set(long_named) -> None:
    env = {**os.environ, "COLUMNS": "100"}
    done = subprocess.run(
        [
            *VIGIL,
            "report",
            "--reference",
            str(long_named["ref"]),
            "--current",
            str(long_named["cur"]),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert max(len(line) for line in done.stdout.splitlines()) <= 100


@pytest.mark.parametrize(
    ("since", "until", "says"),
    [
        ("yesterday", "2026-11-02T00:00", "--from 'yesterday' is not an ISO-8601 time"),
        ("", "2026-11-02T00:00", "--from '' is not an ISO-8601 time"),
        ("2026-11-01", "2026-13-01T00:00", "--to '2026-13-01T00:00' is not an ISO-8601 time"),
        ("2026-11-01T00:00", "9" * 5000, "is not an ISO-8601 time"),
        ("0001-01-01T00:30+01:00", "2026-11-01", "--from '0001-01-01T00:30+01:00' is outside"),
        # the same instant: 01:00 at +01:00 is 00:00 UTC
        ("2026-11-01T01:00+01:00", "2026-11-01T00:00Z", "must be before --to"),
        # 01:30 at +01:00 is before 00:45 UTC: compared as UTC; then the model is looked up
        ("2026-11-01T01:30+01:00", "2026-11-01T00:45Z", "no model 'credit' in the store"),
    ],
)
def test_backfill_reads_its_times_as_utc_and_says_what_is_wrong(
    tmp_path: Path, since: str, until: str, says: str
) -> None:
    done = run(
        "backfill", "--db", str(tmp_path / "v.duckdb"), "--model", "credit",
        "--from", since, "--to", until,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert says in line and "Traceback" not in line
