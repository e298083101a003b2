"""The docstring examples of `vigil.profile` run (the suite collects doctests of stats/ only)."""

import doctest
from types import ModuleType

import pytest

from vigil.profile import approximate, categorical, file, numeric, quantiles


@pytest.mark.parametrize("module", [approximate, categorical, file, numeric, quantiles])
def test_the_docstring_examples_run(module: ModuleType) -> None:
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
