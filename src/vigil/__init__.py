"""vigil: watch machine-learning models in production.

>>> import vigil
>>> sorted(vigil.__all__)[:3]
['Client', 'InputError', 'NotEnoughData']
"""

from vigil.client import Client
from vigil.errors import InputError, NotEnoughData, SpecError, VigilError
from vigil.evaluate import evaluate, profile_dataset
from vigil.report.model import Report
from vigil.spec import Spec, infer_spec, load_spec

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
