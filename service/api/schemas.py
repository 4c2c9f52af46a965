"""The public request and response bodies of the service (what the OpenAPI docs show)."""

from __future__ import annotations

import base64
import enum
import re
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, Field, WithJsonSchema
from pydantic_core import PydanticCustomError

from index.store import EventInfo, MasterInfo, SealInfo, SealStatus, UnitInfo
from service.audit import AuditEntry, ChainCheck

#: A time as the registry keeps it: local wall-clock time without an offset, which the JSON
#: Schema ``date-time`` format (RFC 3339: an offset is required) does not describe.
LocalDateTime = Annotated[datetime, WithJsonSchema({
    "type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?$",
    "description": "local time, without an offset: YYYY-MM-DDTHH:MM:SS"})]

# Dates and times a request gives are read as written, never as numbers: pydantic alone takes a
# number for a Unix time (``?on=0``: 1970-01-01), a date-time at midnight for a date, and a
# bare date for a time. Values already parsed (a date, a datetime) pass through.
_DATE_TEXT = r"^\d{4}-\d{2}-\d{2}$"
_LOCAL_TEXT = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?$"
_UTC_TEXT = r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})?$"


def _written(pattern: str, kind: type, form: str) -> BeforeValidator:
    regex = re.compile(pattern)

    def check(value: object) -> object:
        if isinstance(value, kind) or (isinstance(value, str) and regex.fullmatch(value)):
            return value
        raise PydanticCustomError("date_text", "expected {form}", {"form": form})

    return BeforeValidator(check)


#: A date in a request: ``YYYY-MM-DD``.
DateIn = Annotated[date, _written(_DATE_TEXT, date, "a date, YYYY-MM-DD")]
#: A local time in a request, as :data:`LocalDateTime` writes it (no offset), or a date.
LocalMomentIn = Annotated[
    datetime | date,
    _written(f"{_LOCAL_TEXT}|{_DATE_TEXT}", date, "a local time, YYYY-MM-DDTHH:MM:SS, or a "
                                                  "date, YYYY-MM-DD"),
    WithJsonSchema({"anyOf": [
        {"type": "string", "pattern": _LOCAL_TEXT,
         "description": "local time, without an offset: YYYY-MM-DDTHH:MM:SS"},
        {"type": "string", "format": "date"}]})]
#: A UTC time in a request: RFC 3339 date and time, its offset optional (naive: UTC).
UtcDateTimeIn = Annotated[
    datetime, _written(_UTC_TEXT, datetime, "a time, YYYY-MM-DDTHH:MM:SS with an optional "
                                            "offset (Z, +08:00)"),
    WithJsonSchema({"type": "string", "pattern": _UTC_TEXT,
                    "description": "UTC, or with its offset: YYYY-MM-DDTHH:MM:SS[Z|+HH:MM]"})]


class FieldErrorOut(BaseModel):
    field: str = Field(description="where the invalid value is, e.g. body.top_k, query.limit")
    message: str


class ErrorDetail(BaseModel):
    code: str = Field(description="machine-readable, e.g. image_too_large, unknown_seal")
    message: str
    fields: list[FieldErrorOut] | None = Field(default=None,
                                               description="invalid_request: every invalid field")


class ErrorOut(BaseModel):
    error: ErrorDetail


#: What each error status means, by the codes it carries (the table is service.errors').
ERROR_STATUSES: dict[int, str] = {
    400: "purpose_required (no X-Purpose where the role must state one) or bad_request (a "
         "malformed body)",
    401: "unauthenticated: no API key, or an unknown or revoked one",
    403: "forbidden: the key's role may not use this endpoint",
    404: "unknown_seal: no seal filed with that id or code",
    408: "request_timeout: the work ran past the request time limit",
    409: "the registry refuses it as it stands: duplicate_seal, ambiguous_seal_code, "
         "no_master, or an index that must be rebuilt",
    413: "upload_too_large, image_too_large or too_many_pages",
    415: "unsupported_format: not an image (PNG, JPEG, TIFF, BMP, WebP) or PDF",
    422: "invalid_request (see fields), invalid_parameter, invalid_event, unreadable_input, "
         "encrypted_document, no_imprint or several_imprints",
    503: "audit_unavailable, or the service's own storage failed: try again later",
}
#: Every endpoint that needs an API key.
KEYED = (400, 401, 403, 422)
#: Every upload examined by the engine.
UPLOADED = (408, 413, 415, 422)


def error_responses(*statuses: int, meaning: dict[int, str] | None = None
                    ) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for error statuses, each with the error body; ``meaning`` says
    what a status means on this endpoint where :data:`ERROR_STATUSES` does not fit."""
    meaning = {**ERROR_STATUSES, **(meaning or {})}
    return {status: {"model": ErrorOut, "description": meaning[status]}
            for status in sorted(set(statuses))}


class UnitOut(BaseModel):
    id: int
    name: str
    uscc: str | None = Field(description="unified social credit code (18 characters)")

    @classmethod
    def of(cls, u: UnitInfo) -> UnitOut:
        return cls(id=u.id, name=u.name, uscc=u.uscc)


class SealOut(BaseModel):
    seal_id: str
    unit_id: int
    unit_name: str
    kind: str
    code: str | None
    number: str | None
    engraver: str | None
    chip_serial: str | None
    made_on: date | None
    filed_at: LocalDateTime
    status: SealStatus = Field(description="registry status now")

    @classmethod
    def of(cls, s: SealInfo, status: SealStatus) -> SealOut:
        return cls(seal_id=s.seal_id, unit_id=s.unit_id, unit_name=s.unit_name, kind=s.kind,
                   code=s.code, number=s.number, engraver=s.engraver,
                   chip_serial=s.chip_serial, made_on=s.made_on, filed_at=s.filed_at,
                   status=status)


class MasterOut(BaseModel):
    id: int
    sha256: str
    dpi: float | None
    width: int
    height: int
    added_at: LocalDateTime

    @classmethod
    def of(cls, m: MasterInfo) -> MasterOut:
        return cls(id=m.id, sha256=m.sha256, dpi=m.dpi, width=m.width, height=m.height,
                   added_at=m.added_at)


class EventOut(BaseModel):
    id: int
    kind: str
    effective: LocalDateTime
    detail: str | None
    replaced_by: str | None
    recorded_at: LocalDateTime

    @classmethod
    def of(cls, e: EventInfo) -> EventOut:
        return cls(id=e.id, kind=e.kind.value, effective=e.effective, detail=e.detail,
                   replaced_by=e.replaced_by, recorded_at=e.recorded_at)


class LookalikeOut(BaseModel):
    """A filed seal of another unit confusable with the seal filed (index.lookalike)."""

    seal_id: str
    unit: str
    score: float = Field(description="aligned correlation of the two masters")
    threshold: float = Field(description="the faces' look-alike threshold")
    name_changes: int | None = Field(
        default=None, description="characters between the two units' names")
    reasons: list[str] = Field(
        default_factory=list, description="'name': a name a character or two apart on a seal "
                                          "of the same kind; 'face': score at or above the "
                                          "threshold")


class SealDetailOut(SealOut):
    unit: UnitOut
    masters: list[MasterOut]
    events: list[EventOut]
    lookalike_warnings: list[LookalikeOut] = Field(
        default_factory=list, description="filed seals of other units it looked like when it "
                                          "was filed (kept with the record)")


class SealListOut(BaseModel):
    seals: list[SealOut]


class FiledOut(BaseModel):
    """A master filed: the seal (new or already filed), the master, and the imprint found."""

    seal: SealOut
    unit: UnitOut
    master: MasterOut
    new_seal: bool
    imprint: dict[str, Any] = Field(description="where the imprint was found, its geometry "
                                                "and quality")
    warnings: list[LookalikeOut] = Field(
        default_factory=list, description="filed seals of other units that the new seal looks "
                                          "like (kept with the record; the filing stands)")


def _encodable(text: str) -> str:
    """Refuse a lone surrogate (a JSON ``\\ud800`` escape carries one): text without a UTF-8
    form cannot be stored in the registry."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("not valid Unicode text (a lone surrogate)") from None
    return text


#: Text that a JSON body carries into the registry.
Text = Annotated[str, AfterValidator(_encodable)]


class EventIn(BaseModel):
    kind: Text = Field(description="suspended, resumed, revoked, reported_lost or replaced_by")
    effective: LocalMomentIn | None = Field(
        default=None, description="local time or date the event takes effect (default: now)")
    detail: Text | None = Field(default=None, max_length=10_000)
    replaced_by: Text | None = Field(default=None,
                                     description="the new seal (replaced_by only)")


class CandidateOut(BaseModel):
    seal_id: str
    score: float = Field(description="aligned correlation with the master (the ranking)")
    similarity: float = Field(description="cosine of the embeddings (the shortlist's order)")
    agreement: float | None = Field(
        default=None, description="1 - share of strokes differing both ways in the worst "
        "character-sized window, once compared with the master (decides the match); null when "
        "not compared")


class IdentifiedImprintOut(BaseModel):
    page: int
    box: list[float]
    shape: str
    colour: str
    candidates: list[CandidateOut]
    match: str | None = Field(description="the filed seal it is, or null (no registered seal)")
    status: str | None
    verdict: str | None
    log10_lr: float | None
    status_flag: str | None


class IdentificationOut(BaseModel):
    file: str
    threshold: float
    imprints: list[IdentifiedImprintOut]


class VerificationOut(BaseModel):
    """The full 1:1 answer: the imprint of the document that best answers for the seal."""

    file: str
    seal_id: str
    unit: str
    master_id: int
    page: int
    box: list[float]
    imprints_on_document: int
    verdict: str
    score: float | None
    log10_lr: float | None
    status: str
    status_flag: str | None
    chip_serial: str | None = Field(default=None, description="the chip serial read at the "
                                                              "counter, as sent")
    chip_flag: str | None = Field(default=None, description="mismatch: not the seal's filed "
                                  "chip; not_on_file: the seal has no chip on file; null: "
                                  "agrees, or no serial sent")
    date: str | None
    reasons: list[str]
    evidence: dict[str, Any]
    alignment: dict[str, Any]
    quality: dict[str, Any]
    overlay_png: str = Field(description="the imprint laid on the master, PNG, base64")


class BankVerificationOut(BaseModel):
    """What a bank counter gets: the verdict, the seal's registry status, the chip flag, the
    overlay."""

    verdict: str
    status: str
    chip_flag: str | None = Field(default=None, description="mismatch, not_on_file, or null")
    overlay_png: str = Field(description="the imprint laid on the master, PNG, base64")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class AuditEntryOut(BaseModel):
    id: int
    at: str
    key_id: str | None
    role: str | None
    purpose: str | None
    method: str
    endpoint: str
    inputs: dict[str, str] = Field(description="input name -> SHA-256 of its bytes")
    status: int
    outcome: str
    prev_hash: str
    row_hash: str

    @classmethod
    def of(cls, e: AuditEntry) -> AuditEntryOut:
        return cls(**e.__dict__)


class AuditPageOut(BaseModel):
    entries: list[AuditEntryOut]
    next_after_id: int | None = Field(description="pass as after_id for the next page")


class ChainCheckOut(BaseModel):
    intact: bool
    rows: int
    first_bad_id: int | None
    reason: str | None
    head_id: int | None
    head_hash: str | None
    breach: str | None = Field(default=None, description="altered, unlinked, truncated or "
                                                         "rewritten; null: intact")
    anchors: int = Field(default=0, description="heads anchored outside the database found in "
                                                "the trail with their hashes")
    anchored_id: int | None = Field(default=None, description="the last row anchored outside "
                                                              "the database")
    note: str | None = Field(default=None, description="what the check could not cover (no "
                                                       "anchor file)")

    @classmethod
    def of(cls, c: ChainCheck) -> ChainCheckOut:
        return cls(**c.__dict__)


class HealthOut(BaseModel):
    status: str
    version: str
    imaging_version: int = Field(description="the imaging code's version: masters and their "
                                             "vectors are of it (imprint.pipeline)")


class DocumentPageOut(BaseModel):
    """A page of the document: its size in page px and a thumbnail to draw the boxes on."""

    page: int
    width: int
    height: int
    thumbnail_jpeg: str = Field(description="the page scaled down, JPEG, base64; a box in "
                                            "page px scales by thumbnail width / width")


class DocumentImprintOut(IdentifiedImprintOut):
    """One imprint of the document: identified (1:N) and, for a match, verified against that
    seal (1:1), with its stored report and the images to compare by eye."""

    unit: str | None = Field(description="the matched seal's unit")
    master_id: int | None = Field(description="the master the imprint was compared with")
    reasons: list[str]
    report_id: str | None = Field(description="GET /v1/reports/{report_id}?format=html|pdf|"
                                              "png|json")
    master_png: str | None = Field(description="the master's ink (blue), canonical frame, "
                                               "PNG, base64")
    query_png: str | None = Field(description="the imprint aligned onto the master (red), same "
                                              "frame and size, PNG, base64")
    overlay_png: str | None = Field(description="both laid on each other, PNG, base64")


class DocumentOut(BaseModel):
    file: str
    threshold: float = Field(description="open-set match threshold of the identification")
    pages: list[DocumentPageOut]
    imprints: list[DocumentImprintOut]


class TallyOut(BaseModel):
    value: str | None = Field(description="the kind, status, engraver, region or period; null "
                                          "where the registry holds none (no engraver, no code)")
    count: int


class EventTallyOut(BaseModel):
    period: str
    kind: str
    count: int


class AccessTallyOut(BaseModel):
    period: str = Field(description="UTC month (YYYY-MM) or year of the access")
    endpoint: str
    outcome: str = Field(description="ok, or the error code the access was answered with")
    count: int


class StatsOut(BaseModel):
    """Registry statistics (index.stats): seals by each axis asked, life events and accesses
    to the examination endpoints by period."""

    on: LocalDateTime = Field(description="statuses are those in force at this moment")
    period: str = Field(description="month or year")
    seals: int = Field(description="every filed seal")
    by: dict[str, list[TallyOut]] = Field(description="axis (kind, status, engraver, region, "
                                                      "period) -> counts")
    events: list[EventTallyOut]
    accesses: list[AccessTallyOut] = Field(description="from the audit trail: endpoint and "
                                                       "outcome only (verdicts are not on it)")


class CaseLinkOut(BaseModel):
    """An earlier case imprint from the same physical (counterfeit) seal."""

    case: str
    document: str
    page: int
    date: str | None
    score: float = Field(description="registered ink correlation of the two imprints")
    case_imprint_id: int
    claimed_seal_id: str | None


class CaseImprintOut(BaseModel):
    """A filed case imprint (append-only)."""

    id: int
    case: str
    document: str
    document_sha256: str | None
    page: int
    box: list[float]
    date: str | None
    claimed_seal_id: str | None = Field(description="the seal it was compared with")
    verdict: str | None = Field(description="that comparison's verdict, or no_match")
    score: float | None
    filed_by: str | None
    filed_at: str


class CaseFindingOut(IdentifiedImprintOut):
    """One imprint of the document: its registry answer, whether it is suspect (a suspected
    forgery, or matching no filed seal), its record if filed, and the cases it links to."""

    suspect: bool
    filed: CaseImprintOut | None
    linked_cases: list[CaseLinkOut] = Field(description="best first")


class CaseDocumentOut(BaseModel):
    file: str
    case: str | None = Field(description="the case it was filed under (null: searched only)")
    link_threshold: float
    imprints: list[CaseFindingOut]


class CaseOut(BaseModel):
    case: str
    imprints: list[CaseImprintOut]


class BatchState(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


class BatchInputOut(BaseModel):
    """A file of the batch as it was uploaded."""

    name: str = Field(description="as the client named it (made safe for a file name)")
    sha256: str
    size: int
    kind: str = Field(description="image, pdf or zip")


class BatchFailureOut(BaseModel):
    file: str = Field(description="the document, as the results name it")
    code: str
    message: str


class BatchLinksOut(BaseModel):
    self: str
    results_jsonl: str = Field(description="one line per imprint (imprint identify --json "
                                           "records, with file, flags and score)")
    results_csv: str = Field(description="one row per document")
    cancel: str


class BatchOut(BaseModel):
    """A batch: documents swept in the background (service.sweep), its progress and, once it
    is over, its counts and where its results are."""

    id: str
    state: BatchState
    owner: str = Field(description="the key_id of the key that submitted it")
    purpose: str | None
    date: str | None = Field(description="the documents' date (YYYY-MM-DD): the seals' status "
                                         "on that day; null: their status now")
    top_k: int
    inputs: list[BatchInputOut]
    documents_total: int = Field(description="documents in the batch (zip members counted; "
                                             "the same content under two names once, once the "
                                             "sweep has listed them)")
    documents_done: int
    imprints: int | None = Field(description="imprints found; null until the batch is over")
    flagged: int | None = Field(description="imprints flagged; null until the batch is over")
    flags: dict[str, int] = Field(description="imprints per flag")
    failures: list[BatchFailureOut] = Field(description="documents that could not be read or "
                                                        "examined")
    not_examined: int = Field(description="documents left when the batch was cancelled")
    cancel_requested: bool
    attempts: int = Field(description="sweeps started: more than one when the service was "
                                      "restarted during the batch (the sweep resumed)")
    error: ErrorDetail | None = Field(description="why the batch failed, when it did")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    results_ready: bool
    links: BatchLinksOut


class BatchListOut(BaseModel):
    batches: list[BatchOut] = Field(description="newest first")
