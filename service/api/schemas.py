"""The public request and response bodies of the service (what the OpenAPI docs show)."""

from __future__ import annotations

import base64
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field

from index.store import EventInfo, MasterInfo, SealInfo, SealStatus, UnitInfo
from service.audit import AuditEntry, ChainCheck


class ErrorDetail(BaseModel):
    code: str = Field(description="machine-readable, e.g. image_too_large, unknown_seal")
    message: str


class ErrorOut(BaseModel):
    error: ErrorDetail


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
    filed_at: datetime
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
    added_at: datetime

    @classmethod
    def of(cls, m: MasterInfo) -> MasterOut:
        return cls(id=m.id, sha256=m.sha256, dpi=m.dpi, width=m.width, height=m.height,
                   added_at=m.added_at)


class EventOut(BaseModel):
    id: int
    kind: str
    effective: datetime
    detail: str | None
    replaced_by: str | None
    recorded_at: datetime

    @classmethod
    def of(cls, e: EventInfo) -> EventOut:
        return cls(id=e.id, kind=e.kind.value, effective=e.effective, detail=e.detail,
                   replaced_by=e.replaced_by, recorded_at=e.recorded_at)


class SealDetailOut(SealOut):
    unit: UnitOut
    masters: list[MasterOut]
    events: list[EventOut]


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


class EventIn(BaseModel):
    kind: str = Field(description="suspended, resumed, revoked, reported_lost or replaced_by")
    effective: datetime | date | None = Field(
        default=None, description="local time or date the event takes effect (default: now)")
    detail: str | None = Field(default=None, max_length=10_000)
    replaced_by: str | None = Field(default=None, description="the new seal (replaced_by only)")


class CandidateOut(BaseModel):
    seal_id: str
    score: float
    similarity: float


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
    date: str | None
    reasons: list[str]
    evidence: dict[str, Any]
    alignment: dict[str, Any]
    quality: dict[str, Any]
    overlay_png: str = Field(description="the imprint laid on the master, PNG, base64")


class BankVerificationOut(BaseModel):
    """What a bank counter gets: the verdict, the seal's registry status, the overlay."""

    verdict: str
    status: str
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

    @classmethod
    def of(cls, c: ChainCheck) -> ChainCheckOut:
        return cls(**c.__dict__)


class HealthOut(BaseModel):
    status: str
    version: str


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
