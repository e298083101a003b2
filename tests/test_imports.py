"""What a fresh interpreter imports: the SDK and the command line's parser stay light.

The SDK runs inside prediction services and `vigil --help` must answer at once, so both are
checked in a new interpreter by the modules it loaded (`-X importtime` lists every one), never
by how long it took.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SDK_FORBIDDEN = frozenset(
    {
        "numpy",
        "scipy",
        "pyarrow",
        "pandas",
        "polars",
        "duckdb",
        "fastapi",
        "starlette",
        "rich",
        "pydantic",
    }
)
CLI_FORBIDDEN = frozenset({"numpy", "scipy", "pyarrow", "duckdb", "fastapi"})


def imported(*args: str) -> set[str]:
    """The top-level packages a new `python -X importtime ARGS` process imported."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPROFILEIMPORTTIME"}
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    names = {
        line.rsplit("|", 1)[1].strip().split(".")[0]
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and line.count("|") == 2
    }
    assert "vigil" in names, "the listing was read: vigil itself is in it"
    return names


SDK_USES = {
    "import vigil.client": "import vigil.client",
    "from vigil import Client": "from vigil import Client",
    "a client logs and closes": (
        "from vigil import Client\n"
        "client = Client('http://127.0.0.1:9', flush_interval=0.01, max_retries=0)\n"
        "client.log_predictions('m', {'features': {'x': 1.0}})\n"
        "client.log_labels('m', [{'id': 'a', 'label': 1}])\n"
        "client.close(timeout=1.0)\n"
        "assert client.stats().logged == 2, client.stats()\n"
    ),
    "a client sends a columnar body and it is stored": (
        "import json, threading\n"
        "from http.server import BaseHTTPRequestHandler, HTTPServer\n"
        "seen = []\n"
        "class Answer(BaseHTTPRequestHandler):\n"
        "    def do_POST(self):\n"
        "        body = self.rfile.read(int(self.headers['content-length']))\n"
        "        seen.append(self.headers['content-type'])\n"
        "        n = len(json.loads(body)['columns']['id'])\n"
        "        out = json.dumps({'accepted': n, 'duplicates': 0, 'conflicts': 0,"
        " 'rejected': []}).encode()\n"
        "        self.send_response(200)\n"
        "        self.send_header('content-length', str(len(out)))\n"
        "        self.end_headers()\n"
        "        self.wfile.write(out)\n"
        "    def log_message(self, *args):\n"
        "        pass\n"
        "server = HTTPServer(('127.0.0.1', 0), Answer)\n"
        "threading.Thread(target=server.serve_forever, daemon=True).start()\n"
        "from vigil import Client\n"
        "client = Client(f'http://127.0.0.1:{server.server_address[1]}', flush_interval=0.01)\n"
        "client.log_predictions('m', [{'features': {'x': float(i), 'c': 'a'}} for i in range(3)])\n"
        "client.close(timeout=5.0)\n"
        "assert client.stats().accepted == 3, client.stats()\n"
        "assert seen == ['application/vnd.vigil.columns+json'], seen\n"
    ),
}


@pytest.mark.parametrize("code", list(SDK_USES.values()), ids=list(SDK_USES))
def test_the_sdk_imports_nothing_heavy(code: str) -> None:
    names = imported("-c", code)
    assert "httpx" in names, "the SDK's HTTP client is loaded (and allowed)"
    assert names & SDK_FORBIDDEN == set()


@pytest.mark.parametrize(
    "args",
    [
        ["-c", "import vigil.cli"],
        ["-m", "vigil.cli", "--help"],
        ["-m", "vigil.cli", "report", "-h"],
    ],
    ids=["import vigil.cli", "vigil --help", "vigil report -h"],
)
def test_the_command_line_parser_imports_nothing_heavy(args: list[str]) -> None:
    assert imported(*args) & CLI_FORBIDDEN == set()


def test_import_vigil_loads_no_public_name_until_it_is_read() -> None:
    names = imported("-c", "import vigil; assert 'evaluate' in dir(vigil)")
    assert names & (SDK_FORBIDDEN | {"httpx", "yaml"}) == set()


def test_the_refused_cli_module_of_httpx_can_still_be_imported_afterwards() -> None:
    code = (
        "import sys\n"
        "import vigil.client\n"
        "assert 'httpx._main' not in sys.modules, 'the refusal was lifted'\n"
        "import httpx._main\n"
        "assert callable(httpx._main.main)\n"
    )
    assert "rich" in imported("-c", code), "whoever imports httpx's tool gets it whole"


def test_run_once_and_backfill_load_no_web_framework(tmp_path: Path) -> None:
    """`vigil run --once` builds the same monitor as `vigil serve` (vigil.deployment) without
    FastAPI, Starlette or uvicorn: a cron job pays for none of them."""
    names = imported("-m", "vigil.cli", "run", "--once", "--db", str(tmp_path / "cron.duckdb"))
    assert {"vigil", "duckdb"} <= names
    assert names & {"fastapi", "starlette", "uvicorn"} == set()
