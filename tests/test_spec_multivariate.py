"""The spec's `multivariate:` options: read from YAML, written back, and bad values refused
naming the key and what is allowed."""

from __future__ import annotations

from typing import Any

import pytest

from vigil.errors import SpecError
from vigil.spec import Threshold, spec_from_dict

BASE: dict[str, Any] = {
    "version": 1,
    "task": "binary",
    "columns": {
        "a": {"role": "feature", "kind": "numeric"},
        "b": {"role": "feature", "kind": "categorical"},
        "y": {"role": "target", "kind": "categorical"},
        "id": {"role": "id", "kind": "categorical"},
    },
}


def with_options(**options: Any) -> dict[str, Any]:
    return {**BASE, "multivariate": options}


def test_options_are_read_and_round_trip() -> None:
    spec = spec_from_dict(
        with_options(
            enabled=True,
            columns=["a", "b"],
            variance=0.8,
            anomaly_quantile=0.99,
            domain_classifier=False,
            reference_cap=5000,
            domain_auc=[0.6, 0.7],
            anomaly_share=[0.02, 0.1],
            reconstruction_increase=[0.1, 0.2],
            standard_errors=[2, 5],
        )
    )
    m = spec.multivariate
    assert m.enabled is True and m.columns == ("a", "b") and m.variance == 0.8
    assert m.domain_classifier is False and m.reference_cap == 5000
    assert m.domain_auc == Threshold(0.6, 0.7) and m.standard_errors == Threshold(2, 5)
    assert spec_from_dict(spec.to_dict()) == spec
    default = spec_from_dict(BASE)
    assert default.multivariate.domain_classifier is None  # on in reports, off in windows
    assert spec_from_dict(default.to_dict()) == default


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ({"variance": 0}, "multivariate.variance"),
        ({"variance": 1.5}, "multivariate.variance"),
        ({"anomaly_quantile": 1.0}, "multivariate.anomaly_quantile"),
        ({"reference_cap": 10}, "multivariate.reference_cap"),
        ({"domain_auc": [0.4, 0.6]}, "multivariate.domain_auc"),
        ({"domain_auc": [0.7, 0.6]}, "multivariate.domain_auc"),
        ({"anomaly_share": [0.5, 2]}, "multivariate.anomaly_share"),
        ({"columns": ["nope"]}, "'nope'"),
        ({"columns": ["y"]}, "target"),
        ({"columns": ["a", "a"]}, "twice"),
        ({"domain_classifier": "yes please"}, "multivariate.domain_classifier"),
        ({"alpha": 0.05}, "multivariate.alpha"),
        ({"enabled": [1]}, "multivariate.enabled"),
    ],
)
def test_bad_options_are_refused_naming_the_key(options: dict[str, Any], says: str) -> None:
    with pytest.raises(SpecError, match=says):
        spec_from_dict(with_options(**options))
