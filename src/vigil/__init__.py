"""vigil: watch machine-learning models in production.

Every public name is loaded on first use, so that `from vigil import Client` in a prediction
service imports the SDK alone (no numpy, pyarrow or scipy), and `import vigil` costs nothing.

>>> import vigil
>>> sorted(vigil.__all__)[:3]
['Client', 'InputError', 'NotEnoughData']
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from vigil.errors import InputError, NotEnoughData, SpecError, VigilError

if TYPE_CHECKING:
    from vigil.client import Client
    from vigil.evaluation import evaluate, infer_spec, profile_dataset
    from vigil.report.model import Report
    from vigil.spec import Spec, load_spec

# name -> the module that defines it, imported when the name is first read
_LAZY = {
    "Client": "vigil.client",
    "Report": "vigil.report.model",
    "Spec": "vigil.spec",
    "evaluate": "vigil.evaluation",
    "infer_spec": "vigil.evaluation",
    "load_spec": "vigil.spec",
    "profile_dataset": "vigil.evaluation",
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


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value  # later reads skip this function
        return value
    raise AttributeError(f"module 'vigil' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
