"""What every peer script shares: its arguments, the columns, and how it reports."""

from __future__ import annotations

import argparse
import json

TARGET = "target"


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reference", required=True)
    parser.add_argument("--current", required=True)
    return parser.parse_args()


def columns(names: list[str]) -> tuple[list[str], list[str]]:
    """(numeric, categorical) columns to check: the features, the score and the prediction."""
    checked = [n for n in names if n != TARGET]
    categorical = [n for n in checked if n.startswith("cat_") or n == "prediction"]
    return [n for n in checked if n not in categorical], categorical


def report(tool: str, flagged: list[str]) -> None:
    print(json.dumps({"tool": tool, "flagged": sorted(flagged)}))
