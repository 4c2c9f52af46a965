"""Errors of the seal registry and its vector index, under :class:`imprint.errors.ImprintError`.

::

    ImprintError
    ├── RegistryError               base of every registry error
    │   ├── UnknownRecordError      no such unit, seal, chip or master (a lookup miss)
    │   │   ├── UnknownUnitError
    │   │   ├── UnknownSealError
    │   │   └── UnknownMasterError
    │   ├── DuplicateRecordError    the record (or its unique key) is already filed
    │   │   ├── DuplicateUnitError  same unified social credit code
    │   │   └── DuplicateSealError  same seal_id or chip serial
    │   ├── InvalidEventError       a life event that cannot follow the seal's status
    │   │                           (also an InvalidParameterError)
    │   └── RegistryIntegrityError  an append-only record was to be altered, a stored master
    │                               no longer matches its hash, or the database refused a write
    └── VectorIndexError            base of every error of the FAISS index (index.vectors)
        ├── IndexStateError         untrained, retrained, or a kind that cannot remove
        ├── IndexMismatchError      saved by another embedding model, dimension or format
        ├── IndexCorruptError       sidecar missing or invalid, checksum mismatch
        │   └── IndexMissingError   nothing saved yet (answered by a rebuild, like corruption)
        ├── DuplicateIdError        an id already in the index (also an InvalidParameterError)
        └── UnknownIdError          an id not in the index (also a LookupError)

Kept apart from ``index.store`` and ``index.vectors`` so the service and CLI can map them
without importing SQLAlchemy or FAISS.
"""

from __future__ import annotations

from imprint.errors import ImprintError, InvalidParameterError


class RegistryError(ImprintError):
    """Base of every registry error. ``field``: the record field at fault, where one is."""

    code = "registry_error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class UnknownRecordError(RegistryError, LookupError):
    """No such record."""

    code = "unknown_record"


class UnknownUnitError(UnknownRecordError):
    """No unit with that id, name or code."""

    code = "unknown_unit"


class UnknownSealError(UnknownRecordError):
    """No seal with that seal_id or chip serial."""

    code = "unknown_seal"


class UnknownMasterError(UnknownRecordError):
    """No master image with that id."""

    code = "unknown_master"


class DuplicateRecordError(RegistryError):
    """The record, or one of its unique keys, is already filed."""

    code = "duplicate_record"


class DuplicateUnitError(DuplicateRecordError):
    """A unit with the same unified social credit code is already registered."""

    code = "duplicate_unit"


class DuplicateSealError(DuplicateRecordError):
    """A seal with the same seal_id or chip serial is already filed."""

    code = "duplicate_seal"


class InvalidEventError(RegistryError, InvalidParameterError):
    """A life event that cannot follow the seal's status at its effective time."""

    code = "invalid_event"


class RegistryIntegrityError(RegistryError):
    """An append-only record was to be altered, or stored data no longer matches its record."""

    code = "registry_integrity"


class VectorIndexError(ImprintError):
    """Base of the errors raised by the vector index."""

    code = "vector_index"


class IndexStateError(VectorIndexError):
    """The operation does not fit the index's state or kind (untrained, retrained, no removal)."""

    code = "index_state"


class IndexMismatchError(VectorIndexError):
    """A saved index belongs to another embedding model, dimension or file format version."""

    code = "index_mismatch"


class IndexCorruptError(VectorIndexError):
    """A saved index cannot be trusted: sidecar missing or invalid, checksum mismatch, bad data.

    The caller rebuilds the index from the registry store.
    """

    code = "index_corrupt"


class IndexMissingError(IndexCorruptError):
    """No saved index at all (neither file exists): a first start, also answered by a rebuild."""

    code = "index_missing"


class DuplicateIdError(VectorIndexError, InvalidParameterError):
    """An id given to :meth:`VectorIndex.add` is already in the index or repeated in the batch."""

    code = "duplicate_id"


class UnknownIdError(VectorIndexError, LookupError):
    """An id that is not in the index (a lookup miss, like the registry's UnknownRecordError)."""

    code = "unknown_id"
