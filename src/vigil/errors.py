"""The exceptions vigil raises on purpose.

::

    VigilError          raised on purpose; the CLI prints it in one line and exits 2
     ├── SpecError      a spec that cannot be used: unknown column, role, method, threshold
     ├── InputError     a file or frame that cannot be read: missing, wrong format
     ├── NotEnoughData  a set or a column without the rows a computation needs
     ├── ConfigError    a service config file or environment variable that cannot be used
     └── StoreError     the store cannot be opened, migrated or written
          └── ConflictError  a write that contradicts what the store already holds

Statistics kernels (`vigil.stats`) raise plain `ValueError` with the numbers; the layers above
re-raise them with the column and file names a user knows.
"""

from __future__ import annotations


class VigilError(Exception):
    """Base class of every error vigil raises on purpose."""


class SpecError(VigilError):
    """The spec names a column, role, method or threshold that cannot be used."""


class InputError(VigilError):
    """A data file or frame cannot be read as a table."""


class NotEnoughData(VigilError):
    """A set or column has too few usable rows for the computation asked for."""


class ConfigError(VigilError):
    """The service configuration (file or environment) names a value that cannot be used."""


class StoreError(VigilError):
    """The store cannot be opened, migrated, read or written."""


class ConflictError(StoreError):
    """A write contradicts what the store already holds (e.g. a column changes its type)."""
