"""Durations and sizes as people write them in config files: `30s`, `15m`, `7d`; `64MiB`."""

from __future__ import annotations

import re
from typing import Any

from vigil.errors import ConfigError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_SIZES = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "kib": 2**10, "mib": 2**20}
_SIZES["gib"] = 2**30


def parse_duration(value: Any, where: str) -> int:
    """Seconds in `30s`, `15m`, `1h`, `7d`, `2w` (or a plain number of seconds)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return int(value)
    match = re.fullmatch(r"\s*(\d+)\s*([smhdw])\s*", str(value))
    if not match or int(match.group(1)) == 0:
        raise ConfigError(
            f"{where}: {value!r} is not a duration; write e.g. 30s, 15m, 1h, 7d or 2w."
        )
    return int(match.group(1)) * _UNITS[match.group(2)]


def parse_size(value: Any, where: str) -> int:
    """Bytes in `64MiB`, `500kb`, or a plain number of bytes."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    match = re.fullmatch(r"\s*(\d+)\s*([a-zA-Z]*)\s*", str(value))
    if not match or match.group(2).lower() not in _SIZES or int(match.group(1)) == 0:
        raise ConfigError(f"{where}: {value!r} is not a size; write e.g. 64MiB, 500kB or 1GiB.")
    return int(match.group(1)) * _SIZES[match.group(2).lower()]
