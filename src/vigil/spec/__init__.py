"""What each column is and how it is judged: roles, kinds, drift methods and thresholds.

Modules: `types` (roles, kinds, the threshold type), `methods` (the drift-method registry),
`model` (the Spec and its options), `file` (YAML in and out), `schema` (the YAML's shape,
pydantic), `infer` (a spec from a reference table), `values` (categories as strings).
"""

from vigil.spec.file import default_kind, dump_spec, load_spec, spec_from_dict
from vigil.spec.infer import class_of_score, infer_kind, spec_of_table
from vigil.spec.methods import DRIFT_METHODS, DriftMethod, drift_method, methods_for
from vigil.spec.model import (
    ATTRIBUTION_COLUMN,
    QUALITY_CHECKS,
    SPEC_VERSION,
    AttributionOptions,
    ColumnSpec,
    DriftOptions,
    EstimationOptions,
    FairnessOptions,
    MultivariateOptions,
    PerformanceOptions,
    QualityOptions,
    Spec,
)
from vigil.spec.types import (
    CATEGORY_KINDS,
    DRIFT_ROLES,
    FAIRNESS_MEASURES,
    KINDS,
    LABELLED_FAIRNESS,
    NUMERIC_KINDS,
    RATIO_FAIRNESS,
    ROLES,
    Correction,
    Kind,
    Role,
    Task,
    Threshold,
)

__all__ = [
    "ATTRIBUTION_COLUMN",
    "CATEGORY_KINDS",
    "DRIFT_METHODS",
    "DRIFT_ROLES",
    "FAIRNESS_MEASURES",
    "KINDS",
    "LABELLED_FAIRNESS",
    "NUMERIC_KINDS",
    "QUALITY_CHECKS",
    "RATIO_FAIRNESS",
    "ROLES",
    "SPEC_VERSION",
    "AttributionOptions",
    "ColumnSpec",
    "Correction",
    "DriftMethod",
    "DriftOptions",
    "EstimationOptions",
    "FairnessOptions",
    "Kind",
    "MultivariateOptions",
    "PerformanceOptions",
    "QualityOptions",
    "Role",
    "Spec",
    "Task",
    "Threshold",
    "class_of_score",
    "default_kind",
    "drift_method",
    "dump_spec",
    "infer_kind",
    "load_spec",
    "methods_for",
    "spec_from_dict",
    "spec_of_table",
]
