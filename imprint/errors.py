"""The one exception tree of the core.

::

    ImprintError                   base of every error the engine raises on purpose
    ├── InvalidParameterError      a caller passed a value outside its documented domain
    │                              (negative count, unknown seal kind, dpi out of range)
    ├── OutputError                a result could not be written (unwritable directory, disk full)
    └── ResourceError              a bundled resource (font, weights) is missing or damaged

The service maps each class to one HTTP status and the CLI to one exit code, in one table each.
"""

from __future__ import annotations


class ImprintError(Exception):
    """Base class of every error the engine raises on purpose."""

    code = "imprint_error"


class InvalidParameterError(ImprintError, ValueError):
    """A caller passed a value outside its documented domain."""

    code = "invalid_parameter"


class OutputError(ImprintError, OSError):
    """A result could not be written."""

    code = "output_error"


class ResourceError(ImprintError):
    """A bundled resource (font, weights) is missing or damaged."""

    code = "resource_missing"
