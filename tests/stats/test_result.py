import dataclasses

import pytest

from vigil.stats import TestResult


def test_test_result_is_a_frozen_slotted_pair() -> None:
    result = TestResult(statistic=1.5, p_value=0.2)
    assert dataclasses.astuple(result) == (1.5, 0.2)
    assert not hasattr(result, "__dict__")
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.p_value = 0.5  # type: ignore[misc]


def test_test_result_is_not_collected_as_a_test_class() -> None:
    assert TestResult.__test__ is False
