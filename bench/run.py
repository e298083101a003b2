"""Time vigil beside its peers on the same files, as whole processes, and write RESULTS.md.

Each tool runs in its own virtual environment (bench/.venvs/<tool>, created on first use),
one at a time, `--repeat` times per size; the runner records wall time and the child's peak
resident memory (from os.wait4), takes medians, and checks which columns each tool flags
against the generator's truth.json.

    python bench/generate.py --rows 100000 1000000 5000000
    python bench/run.py --rows 100000 1000000 5000000 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
VENVS = BENCH / ".venvs"
DATA = BENCH / "data"
VIGIL_PYTHON = ROOT / ".venv" / "bin" / "python"

# tool -> (virtualenv, pip packages, script; None for vigil's own CLI)
TOOLS: dict[str, tuple[str, list[str], str | None]] = {
    "vigil": ("", [], None),
    "numpy floor": ("", [], "numpy_floor.py"),
    "scipy loop": ("", [], "scipy_loop.py"),
    "frouros": ("frouros", ["frouros"], "frouros_peer.py"),
    # alibi-detect pins numpy < 2, which the newest pyarrow refuses.
    "alibi-detect": ("alibi-detect", ["alibi-detect", "pyarrow<20"], "alibi_peer.py"),
    # nannyml imports statsmodels without declaring it; whylogs' drift scores import IPython;
    # evidently 0.7 does not run on pandas 3.
    "nannyml": ("nannyml", ["nannyml", "statsmodels", "pandas<3"], "nannyml_peer.py"),
    "whylogs": ("whylogs", ["whylogs", "ipython", "scipy", "pandas<3"], "whylogs_peer.py"),
    "evidently": ("evidently", ["evidently", "pandas<3"], "evidently_peer.py"),
}
VERSION_OF = {
    "vigil": "vigil-monitor",
    "numpy floor": "numpy",
    "scipy loop": "scipy",
    "alibi-detect": "alibi-detect",
}


def python_for(tool: str) -> Path:
    venv, packages, _ = TOOLS[tool]
    if not venv:
        return VIGIL_PYTHON
    path = VENVS / venv
    if not (path / ".done").exists():
        subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
        subprocess.run(
            [str(path / "bin" / "pip"), "install", "-q", *packages, "pandas", "pyarrow"], check=True
        )
        (path / ".done").touch()
    return path / "bin" / "python"


def version(tool: str) -> str:
    package = VERSION_OF.get(tool, tool)
    code = f"from importlib.metadata import version; print(version({package!r}))"
    done = subprocess.run([str(python_for(tool)), "-c", code], capture_output=True, text=True)
    return done.stdout.strip() or "?"


def command(tool: str, reference: Path, current: Path, out: Path) -> list[str]:
    script = TOOLS[tool][2]
    if script is None:
        return [
            str(ROOT / ".venv" / "bin" / "vigil"),
            "report",
            "--reference",
            str(reference),
            "--current",
            str(current),
            "--target",
            "target",
            "--prediction",
            "prediction",
            "--score",
            "score",
            "--json",
            str(out),
            "--quiet",
        ]
    return [
        str(python_for(tool)),
        str(BENCH / "peers" / script),
        "--reference",
        str(reference),
        "--current",
        str(current),
    ]


def run_once(tool: str, reference: Path, current: Path, timeout: float) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "vigil.json"
        started = time.perf_counter()
        proc = subprocess.Popen(
            command(tool, reference, current, out),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            return {"error": f"timeout after {timeout:.0f} s"}
        seconds = time.perf_counter() - started
        peak_mib = _peak_mib(proc)  # recorded when the child was reaped (_install_reaper)
        if proc.returncode != 0:
            return {"error": (stderr.strip().splitlines() or ["exit " + str(proc.returncode)])[-1]}
        if TOOLS[tool][2] is None:
            doc = json.loads(out.read_text())
            flagged = sorted(n for n, c in doc["drift"]["columns"].items() if c["drifted"])
        else:
            flagged = json.loads(stdout.strip().splitlines()[-1])["flagged"]
    return {"seconds": seconds, "peak_mib": peak_mib, "flagged": flagged}


_PEAKS: dict[int, float] = {}


def _peak_mib(proc: subprocess.Popen[str]) -> float:
    return _PEAKS.pop(proc.pid, float("nan"))


def _install_reaper() -> None:
    """Reap children with os.wait4 so each one's own peak RSS is recorded."""

    def try_wait(self: subprocess.Popen[str], wait_flags: int) -> tuple[int, int]:
        pid, status, usage = os.wait4(self.pid, wait_flags)
        if pid == self.pid:
            _PEAKS[pid] = usage.ru_maxrss / 1024  # KiB on Linux
        return pid, status

    subprocess.Popen._try_wait = try_wait  # type: ignore[attr-defined,method-assign]


def machine() -> str:
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = "?"
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal"):
            mem = f"{int(line.split()[1]) / 1024 / 1024:.0f} GiB"
    return (
        f"{os.cpu_count()} cores ({cpu}), {mem} memory, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000, 5_000_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tools", nargs="+", default=list(TOOLS), choices=list(TOOLS))
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument(
        "--markdown-only",
        action="store_true",
        help="rewrite RESULTS.md from results.json without running anything",
    )
    args = parser.parse_args()
    if args.markdown_only:
        write_markdown(json.loads((BENCH / "results.json").read_text()), args)
        return
    _install_reaper()
    results_path = BENCH / "results.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    for rows in args.rows:
        folder = DATA / str(rows)
        truth = json.loads((folder / "truth.json").read_text())
        expected = sorted(truth["shifted_features"] + truth["prediction_columns"])
        for tool in args.tools:
            runs = [
                run_once(
                    tool, folder / "reference.parquet", folder / "current.parquet", args.timeout
                )
                for _ in range(args.repeat)
            ]
            ok = [r for r in runs if "error" not in r]
            entry: dict[str, object] = {
                "version": version(tool),
                "repeat": args.repeat,
                "command": f"python bench/run.py --rows {rows} --repeat {args.repeat} "
                f"--timeout {args.timeout:.0f}",
            }
            if ok:
                secs = [float(r["seconds"]) for r in ok]  # type: ignore[arg-type]
                entry.update(
                    median=statistics.median(secs),
                    low=min(secs),
                    high=max(secs),
                    peak_mib=statistics.median(float(r["peak_mib"]) for r in ok),  # type: ignore[arg-type]
                    flagged=ok[0]["flagged"],
                )
                entry["exact"] = ok[0]["flagged"] == expected
            else:
                entry["error"] = runs[0]["error"]
            results.setdefault(str(rows), {})[tool] = entry
            print(rows, tool, entry, flush=True)
            results_path.write_text(json.dumps(results, indent=1) + "\n")
    write_markdown(results, args)


def write_markdown(
    results: dict[str, dict[str, dict[str, object]]], args: argparse.Namespace
) -> None:
    lines = [
        "# Benchmark results",
        "",
        "Whole processes (Parquet load included), one at a time, median of the repeats; "
        "peak memory is the child's maximum resident set. *Flagged* counts the columns a "
        "tool calls drifted; *exact* says whether that set is exactly the 5 shifted "
        "numeric + 2 shifted categorical features + score + prediction "
        "(bench/generate.py measures each shift).",
        "",
    ]
    for rows, tools in sorted(results.items(), key=lambda kv: int(kv[0])):
        lines += [
            f"## {int(rows):,} reference rows + {int(rows):,} current rows",
            "",
            "| tool | version | median s | min–max s | peak MiB | flagged | exact |",
            "| --- | --- | ---: | ---: | ---: | ---: | --- |",
        ]
        ordered = sorted(tools.items(), key=lambda kv: float(kv[1].get("median", 1e9)))  # type: ignore[arg-type]
        for tool, e in ordered:
            if "error" in e:
                lines.append(f"| {tool} | {e['version']} | {e['error']} | | | | |")
                continue
            flagged = e["flagged"]
            lines.append(
                f"| {tool} | {e['version']} | {e['median']:.2f} | "
                f"{e['low']:.2f}–{e['high']:.2f} | {e['peak_mib']:.0f} | "
                f"{len(flagged) if tool != 'numpy floor' else '—'} | "  # type: ignore[arg-type]
                f"{'yes' if e['exact'] else ('—' if tool == 'numpy floor' else 'no')} |"
            )
        commands = sorted({str(e.get("command", "")) for e in tools.values()} - {""})
        lines += ["", "Commands: " + "; ".join(f"`{c}`" for c in commands), ""]
    lines += [
        "## Machine",
        "",
        f"- {machine()}",
        f"- {datetime.now(timezone.utc):%Y-%m-%d}; data from "
        "`python bench/generate.py --rows 100000 1000000 5000000`",
        "",
    ]
    notes = BENCH / "NOTES.md"
    if notes.exists():
        lines += [notes.read_text()]
    (BENCH / "RESULTS.md").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
