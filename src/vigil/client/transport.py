"""The SDK's HTTP transport: httpx, loaded without its command-line tool.

`import httpx` also imports `httpx._main`, its command-line tool, which imports rich, click and
pygments whenever they are installed (they are wherever vigil is): a prediction service that
only logs would load the terminal stack (encode/httpx#3547 moves that import out of httpx).
The SDK loads httpx with that one module refused, a case httpx handles (its `main` then says
the tool's dependencies are missing), and lifts the refusal at once, so that anyone who wants
`httpx._main` later still imports it. When httpx is already loaded, it is used as it is.
"""

from __future__ import annotations

import sys
from importlib import import_module
from types import ModuleType
from typing import TYPE_CHECKING

__all__ = ["httpx"]

_CLI = "httpx._main"


def _load_httpx() -> ModuleType:
    if "httpx" in sys.modules or _CLI in sys.modules:
        return import_module("httpx")
    sys.modules[_CLI] = None  # type: ignore[assignment]  # None in sys.modules: ImportError
    try:
        return import_module("httpx")
    finally:
        if _CLI in sys.modules and sys.modules[_CLI] is None:
            del sys.modules[_CLI]


if TYPE_CHECKING:
    import httpx
else:
    httpx = _load_httpx()
