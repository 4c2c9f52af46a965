"""Examining a document: 1:1 verification against a named seal, 1:N identification, and the
report of a verification (HTML, PDF, PNG)."""

from __future__ import annotations

import enum
import re
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, Response, UploadFile

from imprint.errors import InvalidParameterError
from imprint.io import iter_pages
from imprint.report import write_report
from service.api.deps import (
    SavedUpload,
    Services,
    ServicesDep,
    UploadFolder,
    allow,
    note_inputs,
    run_engine,
    save_upload,
)
from service.api.schemas import (
    KEYED,
    UPLOADED,
    BankVerificationOut,
    DateIn,
    IdentificationOut,
    VerificationOut,
    b64,
    error_responses,
)
from service.auth import Caller, Role
from service.engine import (
    DocumentVerification,
    identification_record,
    identify_pages,
    report_context,
    verify_upload,
)
from service.workers import VerifyAnswer, VerifyJob
from service.workers import verify_document as verify_document_job

router = APIRouter(prefix="/v1", tags=["examine"], responses=error_responses(*KEYED))

DocumentFile = Annotated[UploadFile, File(description="image (PNG, JPEG, TIFF, BMP, WebP) or "
                                                      "PDF")]
SealIdForm = Annotated[str | None, Form(max_length=64, description="the seal it claims to be")]
SealCodeForm = Annotated[str | None, Form(max_length=32, description="or the seal's code")]
DateForm = Annotated[DateIn | None, Form(description="the document's date: the seal's status "
                                                   "on that day")]
TopKForm = Annotated[int, Form(ge=1, description="candidates per imprint")]
ChipForm = Annotated[str | None, Form(max_length=64, description="the serial read from the "
                                                                 "seal's chip at the counter")]


def check_top_k(services: Services, top_k: int) -> None:
    """The upper bound is a setting, so it cannot sit in the form's declaration."""
    if top_k > services.settings.max_top_k:
        raise InvalidParameterError(f"top_k: at most {services.settings.max_top_k}")


class ReportFormat(enum.StrEnum):
    HTML = "html"
    PDF = "pdf"
    PNG = "png"


MEDIA_TYPES = {ReportFormat.HTML: "text/html; charset=utf-8",
               ReportFormat.PDF: "application/pdf", ReportFormat.PNG: "image/png"}


async def _verified(request: Request, services: Services, upload: SavedUpload,
                    seal_id: str | None, seal_code: str | None, on: date | None,
                    endpoint: str) -> DocumentVerification:
    """The verification, for a report drawn from it in this process."""
    note_inputs(request, seal_id=seal_id, seal_code=seal_code,
                date=on.isoformat() if on else None)

    def work(deadline: float) -> DocumentVerification:
        return verify_upload(services.search, upload.path, name=upload.name, seal_id=seal_id,
                             seal_code=seal_code, on=on,
                             limits=services.settings.load_limits(), deadline=deadline)

    found = await run_engine(request, work, uploads=[upload])
    services.metrics.verdicts.labels(endpoint, found.verification.comparison.verdict).inc()
    return found


@router.post("/verify", response_model=VerificationOut | BankVerificationOut,
             summary="1:1: is the imprint on the document the named seal's, or a forgery?",
             responses=error_responses(404, 409, *UPLOADED))
async def verify_document(request: Request, services: ServicesDep, folder: UploadFolder,
                          caller: Annotated[Caller, Depends(allow("verify"))],
                          file: DocumentFile, seal_id: SealIdForm = None,
                          seal_code: SealCodeForm = None, date: DateForm = None,
                          chip_serial: ChipForm = None
                          ) -> VerificationOut | BankVerificationOut:
    """Every imprint on the document is compared with the seal's masters; the one that best
    answers for the seal is reported, with the seal's registry status (on the document's date
    when given). A ``chip_serial`` read at the counter that is not the seal's filed chip is
    flagged (``chip_flag``: ``mismatch``, or ``not_on_file`` when the seal has none). The bank
    role gets the verdict, the status, the chip flag and the overlay only."""
    upload = await save_upload(request, file, folder)
    note_inputs(request, seal_id=seal_id, seal_code=seal_code,
                date=date.isoformat() if date else None, chip_serial=chip_serial)

    def work(deadline: float) -> VerifyAnswer:
        # in a worker process: verifications side by side each get a core
        return services.pool.run(verify_document_job, VerifyJob(
            str(upload.path), upload.name, seal_id, seal_code, date, chip_serial,
            services.settings.load_limits(), deadline))

    answer = await run_engine(request, work, uploads=[upload])
    services.metrics.verdicts.labels("verify", answer.verdict).inc()
    overlay = b64(answer.overlay_png)
    if caller.role is Role.BANK:
        return BankVerificationOut(verdict=answer.verdict, status=answer.status,
                                   chip_flag=answer.chip_flag, overlay_png=overlay)
    return VerificationOut(**answer.record, overlay_png=overlay)


@router.post("/identify", response_model=IdentificationOut,
             summary="1:N: which filed seal is each imprint on the document meant to be?",
             responses=error_responses(409, *UPLOADED))
async def identify_document(request: Request, services: ServicesDep, folder: UploadFolder,
                            _: Annotated[Caller, Depends(allow("identify"))],
                            file: DocumentFile,
                            top_k: TopKForm = 5,
                            date: DateForm = None) -> IdentificationOut:
    """Each imprint gets its candidates, the open-set match (or null: no registered seal) and,
    for a match, the verdict of comparing it with that seal's masters."""
    check_top_k(services, top_k)
    upload = await save_upload(request, file, folder)
    note_inputs(request, top_k=str(top_k), date=date.isoformat() if date else None)

    def work(deadline: float) -> list[dict]:
        pages = iter_pages(upload.path, limits=services.settings.load_limits())
        return [identification_record(f) for f in
                identify_pages(services.search, pages, top_k=top_k, on=date,
                               deadline=deadline)]

    imprints = await run_engine(request, work, uploads=[upload])
    for imp in imprints:
        services.metrics.verdicts.labels("identify", imp["verdict"] or "no_match").inc()
    return IdentificationOut(file=upload.name, threshold=services.search.threshold,
                             imprints=imprints)


@router.post("/reports", summary="The report of a verification: HTML, PDF or PNG",
             response_class=Response,
             responses={200: {"content": {m: {} for m in MEDIA_TYPES.values()},
                              "description": "the report"},
                        **error_responses(404, 409, *UPLOADED)})
async def verification_report(request: Request, services: ServicesDep, folder: UploadFolder,
                              _: Annotated[Caller, Depends(allow("reports"))],
                              file: DocumentFile, seal_id: SealIdForm = None,
                              seal_code: SealCodeForm = None, date: DateForm = None,
                              format: Annotated[ReportFormat, Form()] = ReportFormat.HTML
                              ) -> Response:
    """The verification of ``POST /v1/verify``, written as a report for a case file: verdict,
    overlay, difference, local shifts, sub-scores against their thresholds, reasons."""
    upload = await save_upload(request, file, folder)
    found = await _verified(request, services, upload, seal_id, seal_code, date, "reports")

    def render(_deadline: float) -> bytes:
        path = folder / f"report.{format.value}"
        write_report(found.verification.comparison, path,
                     report_context(found, document=upload.name))
        return path.read_bytes()

    data = await run_engine(request, render)
    name = re.sub(r"[^A-Za-z0-9._-]", "_", found.verification.seal.seal_id)
    return Response(data, media_type=MEDIA_TYPES[format], headers={
        "Content-Disposition": f'attachment; filename="verification-{name}.{format.value}"'})
