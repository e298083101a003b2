"""vigil: watch machine-learning models in production.

Every public name is loaded on first use, so that `from vigil import Client` in a prediction
service imports the SDK alone (no numpy, pyarrow or scipy), and `import vigil` costs nothing.
`vigil.evaluate` is the function, also once the module of the same name has been imported.

>>> import vigil
>>> sorted(vigil.__all__)[:3]
['Client', 'InputError', 'NotEnoughData']
"""

from __future__ import annotations

import sys
from importlib import import_module
from types import ModuleType
from typing import TYPE_CHECKING, Any

from vigil.errors import InputError, NotEnoughData, SpecError, VigilError

if TYPE_CHECKING:
    from vigil.client import Client
    from vigil.evaluate import evaluate, infer_spec, profile_dataset
    from vigil.report.model import Report
    from vigil.spec import Spec, load_spec

# name -> the module that defines it, imported when the name is first read
_LAZY = {
    "Client": "vigil.client",
    "Report": "vigil.report.model",
    "Spec": "vigil.spec",
    "evaluate": "vigil.evaluate",
    "infer_spec": "vigil.evaluate",
    "load_spec": "vigil.spec",
    "profile_dataset": "vigil.evaluate",
}

__all__ = [
    "Client",
    "InputError",
    "NotEnoughData",
    "Report",
    "Spec",
    "SpecError",
    "VigilError",
    "evaluate",
    "infer_spec",
    "load_spec",
    "profile_dataset",
]


# Functions named like the module that defines them. Python binds a submodule to its package's
# attribute when it is first imported (`import vigil.evaluate`, from anywhere); without a
# module-level import to rebind the name afterwards, `vigil.evaluate` would then be the module.
_SHADOWED = frozenset(name for name, module in _LAZY.items() if module == f"vigil.{name}")


class _Package(ModuleType):
    """The `vigil` module: binding a submodule in `_SHADOWED` binds its function instead."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _SHADOWED and isinstance(value, ModuleType):
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value  # later reads skip this function
        return value
    raise AttributeError(f"module 'vigil' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
