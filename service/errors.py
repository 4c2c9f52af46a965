"""Errors of the service, and the one table that maps every typed error to an HTTP status.

::

    ImprintError                      (imprint.errors; the engine's tree, index.errors below it)
    └── ServiceError                  raised by the service itself
        ├── UnauthenticatedError      no API key, or an unknown or revoked one       401
        ├── ForbiddenError            the key's role may not use this endpoint       403
        ├── PurposeRequiredError      the role must state a purpose (X-Purpose)      400
        ├── UploadTooLargeError       the request body is over the upload limit      413
        ├── RequestTimeoutError       the work ran past the request time limit       408
        ├── AmbiguousSealCodeError    a seal code that several filed seals carry     409
        ├── UnknownKeyError           no API key with that id                        404
        ├── AuditUnavailableError     the access could not be written to the audit   503
        └── EngineUnavailableError    an engine worker process stopped mid-request   503

Every error leaves the service as ``{"error": {"code": ..., "message": ...}}`` with the status
of the first row of :data:`STATUS_TABLE` its class falls under. The engine's typed errors map
to 4xx statuses; only a failure of the server's own storage (``OutputError``, a missing bundled
resource, the audit trail) is a 503, and anything untyped a 500 ``internal_error``.
"""

from __future__ import annotations

from imprint.errors import (
    EncryptedDocumentError,
    ImprintError,
    InputError,
    InvalidParameterError,
    NoImprintError,
    OutputError,
    ResourceError,
    SeveralImprintsError,
    TooLargeError,
    UnreadableInputError,
    UnsupportedFormatError,
)
from index.errors import (
    DuplicateRecordError,
    RegistryError,
    RegistryIntegrityError,
    UnknownRecordError,
    VectorIndexError,
)
from index.verify import NoMasterError


class ServiceError(ImprintError):
    """Base of the errors the service raises itself."""

    code = "service_error"


class UnauthenticatedError(ServiceError):
    """No API key, or one that is unknown or revoked."""

    code = "unauthenticated"


class ForbiddenError(ServiceError):
    """The key's role may not use this endpoint."""

    code = "forbidden"


class PurposeRequiredError(ServiceError):
    """The role must state the purpose of the access (a case number) in ``X-Purpose``."""

    code = "purpose_required"


class UploadTooLargeError(ServiceError):
    """The request body is larger than the service accepts."""

    code = "upload_too_large"


class RequestTimeoutError(ServiceError):
    """The work for one request ran past the request time limit."""

    code = "request_timeout"


class AmbiguousSealCodeError(ServiceError):
    """A seal code carried by several filed seals (legacy data): name the seal by its id."""

    code = "ambiguous_seal_code"


class UnknownKeyError(ServiceError, LookupError):
    """No API key with that id."""

    code = "unknown_key"


class UnknownReportError(UnknownRecordError):
    """No stored report with that id (or not in that format)."""

    code = "unknown_report"


class AuditUnavailableError(ServiceError):
    """The access could not be appended to the audit trail, so it is not served."""

    code = "audit_unavailable"


class EngineUnavailableError(ServiceError):
    """An engine worker process stopped while doing the request's work (killed for memory,
    say); a fresh one takes the next request."""

    code = "engine_unavailable"


#: (error class, HTTP status), most specific first: the first class an error is an instance of
#: gives its status.
STATUS_TABLE: tuple[tuple[type[Exception], int], ...] = (
    (UnauthenticatedError, 401),
    (ForbiddenError, 403),
    (PurposeRequiredError, 400),
    (UploadTooLargeError, 413),
    (RequestTimeoutError, 408),
    (AmbiguousSealCodeError, 409),
    (UnknownKeyError, 404),
    (AuditUnavailableError, 503),
    (EngineUnavailableError, 503),
    (UnknownRecordError, 404),
    (DuplicateRecordError, 409),
    (NoMasterError, 409),
    (RegistryIntegrityError, 409),
    (RegistryError, 422),  # InvalidEventError and the rest: the request cannot be carried out
    (VectorIndexError, 409),
    (TooLargeError, 413),
    (UnsupportedFormatError, 415),
    (EncryptedDocumentError, 422),
    (UnreadableInputError, 422),
    (NoImprintError, 422),
    (SeveralImprintsError, 422),
    (InputError, 422),
    (InvalidParameterError, 422),
    (OutputError, 503),
    (ResourceError, 503),
    (ImprintError, 400),
)

#: Codes where the engine's class code is too general for a client to act on.
_CODE_OVERRIDES: tuple[tuple[type[Exception], str], ...] = (
    (NoMasterError, "no_master"),
)


def status_of(exc: Exception) -> int:
    """The HTTP status of a typed error (500 for anything outside the table)."""
    return next((status for cls, status in STATUS_TABLE if isinstance(exc, cls)), 500)


def code_of(exc: Exception) -> str:
    """The machine-readable code of an error: the class's ``code``, made specific where the
    engine's is too general."""
    for cls, code in _CODE_OVERRIDES:
        if isinstance(exc, cls):
            return code
    if isinstance(exc, TooLargeError) and type(exc) is TooLargeError:
        return "image_too_large"  # the size and pixel limits; pages have their own class
    return getattr(exc, "code", "internal_error") if isinstance(exc, ImprintError) else (
        "internal_error")


def error_body(code: str, message: str, **detail: object) -> dict:
    """The JSON body of every error response."""
    error: dict[str, object] = {"code": code, "message": message}
    if detail:
        error.update(detail)
    return {"error": error}
