"""The one exception tree of the core.

::

    ImprintError                   base of every error the engine raises on purpose
    ├── InvalidParameterError      a caller passed a value outside its documented domain
    │                              (negative count, unknown seal kind, dpi out of range)
    ├── InputError                 an input file or upload cannot be used
    │   ├── UnreadableInputError   missing, empty, truncated or corrupt
    │   ├── UnsupportedFormatError readable, but not an image or PDF we accept
    │   ├── TooLargeError          over a size, pixel or page limit
    │   │   └── TooManyPagesError  more pages than the limit
    │   ├── EncryptedDocumentError a password-protected PDF
    │   ├── NoImprintError         no imprint found where one is needed
    │   └── SeveralImprintsError   several imprints where one is needed (a master to file)
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


class InputError(ImprintError):
    """An input file or upload cannot be used."""

    code = "bad_input"


class UnreadableInputError(InputError):
    """Missing, empty, truncated or corrupt input."""

    code = "unreadable_input"


class UnsupportedFormatError(InputError):
    """Readable input that is not a supported image or PDF."""

    code = "unsupported_format"


class TooLargeError(InputError):
    """Input over a size, pixel-count or page-count limit."""

    code = "too_large"


class TooManyPagesError(TooLargeError):
    """A document with more pages than the limit: split it or raise the limit."""

    code = "too_many_pages"


class EncryptedDocumentError(InputError):
    """A password-protected PDF."""

    code = "encrypted_document"


class OutputError(ImprintError, OSError):
    """A result could not be written."""

    code = "output_error"


class ResourceError(ImprintError):
    """A bundled resource (font, weights) is missing or damaged."""

    code = "resource_missing"


class NoImprintError(InputError):
    """An image that should hold an imprint holds none the engine can find."""

    code = "no_imprint"


class SeveralImprintsError(InputError):
    """An image that should hold one imprint (a master to file) holds several."""

    code = "several_imprints"
