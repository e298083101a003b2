"""What the readers of the `alerts:` section share: unknown keys refused with the known ones,
and a list of named items (rules, SLAs) each named once."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from vigil.errors import ConfigError

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
Item = TypeVar("Item")


def only(data: Mapping[str, Any], known: set[str], where: str) -> None:
    """Refuse keys of `data` outside `known`, naming them and the known ones."""
    unknown = sorted(set(map(str, data)) - known)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}."
        )


def name_of(item: Mapping[str, Any], where: str, what: str) -> str:
    """The item's `name`: letters, digits, '.', '_', '-', at most 128 (`what`: "a rule")."""
    name = item.get("name")
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise ConfigError(
            f"{where}.name: {name!r} is not {what} name (letters, digits, '.', '_', '-'; "
            f"at most 128)."
        )
    return name


def named_items(
    data: Any,
    where: str,
    parse: Callable[[Any, str], Item],
    name: Callable[[Item], str],
    *,
    plural: str,
    expected: str,
) -> tuple[Item, ...]:
    """A YAML list parsed item by item (`where[i]`), each name given once."""
    if data is None:
        return ()
    if not isinstance(data, list):
        raise ConfigError(f"{where}: expected {expected}.")
    items = tuple(parse(item, f"{where}[{i}]") for i, item in enumerate(data))
    seen: set[str] = set()
    for item in items:
        if name(item) in seen:
            raise ConfigError(f"{where}: two {plural} are named {name(item)!r}; name each once.")
        seen.add(name(item))
    return items
