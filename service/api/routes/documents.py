"""Documents: every imprint on an uploaded page image or PDF found, identified (1:N) and, for
each match, verified against that seal (1:1), with a report kept for each verified imprint;
and those reports read back in any of their formats."""

from __future__ import annotations

import enum
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse

from imprint.io import iter_pages
from imprint.report import aligned_query_png, master_png, overlay_png
from service.api.deps import ServicesDep, UploadFolder, allow, note_inputs, run_engine, save_upload
from service.api.routes.examine import DateForm, DocumentFile, TopKForm, check_top_k
from service.api.schemas import (
    KEYED,
    UPLOADED,
    DocumentImprintOut,
    DocumentOut,
    DocumentPageOut,
    b64,
    error_responses,
)
from service.auth import Caller
from service.engine import (
    IdentifiedImprint,
    examine_document,
    identification_record,
    in_time,
    report_file,
    store_report,
)

router = APIRouter(prefix="/v1", tags=["documents"], responses=error_responses(*KEYED))


class StoredReportFormat(enum.StrEnum):
    HTML = "html"
    PDF = "pdf"
    PNG = "png"
    JSON = "json"


MEDIA_TYPES = {StoredReportFormat.HTML: "text/html; charset=utf-8",
               StoredReportFormat.PDF: "application/pdf",
               StoredReportFormat.PNG: "image/png",
               StoredReportFormat.JSON: "application/json"}


def _imprint_out(found: IdentifiedImprint, report_id: str | None) -> DocumentImprintOut:
    record = identification_record(found)
    v = found.verification
    if v is None:  # no match, or a match without a comparable master: nothing to lay on
        return DocumentImprintOut(**record, unit=None, master_id=None, reasons=[],
                                  report_id=None, master_png=None, query_png=None,
                                  overlay_png=None)
    c = v.comparison
    return DocumentImprintOut(**record, unit=v.seal.unit_name, master_id=v.master_id,
                              reasons=[str(r) for r in c.reasons], report_id=report_id,
                              master_png=b64(master_png(c)), query_png=b64(aligned_query_png(c)),
                              overlay_png=b64(overlay_png(c)))


@router.post("/documents", response_model=DocumentOut,
             summary="Examine a document: every seal on it identified, verified and reported",
             responses=error_responses(409, *UPLOADED))
async def examine_upload(request: Request, services: ServicesDep, folder: UploadFolder,
                         _: Annotated[Caller, Depends(allow("documents"))],
                         file: DocumentFile,
                         top_k: TopKForm = 5,
                         date: DateForm = None) -> DocumentOut:
    """Each imprint gets its candidates and the open-set match (or null: no registered seal);
    a match is compared with that seal's masters, giving the verdict, the log10 likelihood
    ratio and the seal's registry status (on the document's date when given). The report of
    each comparison is stored: ``GET /v1/reports/{report_id}``. Pages come back as thumbnails,
    and each compared imprint as master, aligned imprint and overlay (PNG, base64)."""
    check_top_k(services, top_k)
    upload = await save_upload(request, file, folder)
    note_inputs(request, top_k=str(top_k), date=date.isoformat() if date else None)

    def work(deadline: float) -> DocumentOut:
        pages = iter_pages(upload.path, limits=services.settings.load_limits())
        document = examine_document(services.search, pages, top_k=top_k, on=date,
                                    deadline=deadline)
        imprints = []
        for found in document.imprints:
            report_id = None
            if found.verification is not None:
                in_time(deadline)  # each report takes seconds to draw
                report_id = store_report(services.store.home, found.verification,
                                         document=upload.name)
            imprints.append(_imprint_out(found, report_id))
        return DocumentOut(
            file=upload.name, threshold=services.search.threshold,
            pages=[DocumentPageOut(page=p.index, width=p.width, height=p.height,
                                   thumbnail_jpeg=b64(p.thumbnail_jpeg))
                   for p in document.pages],
            imprints=imprints)

    out = await run_engine(request, work, uploads=[upload])
    for imp in out.imprints:
        services.metrics.verdicts.labels("documents", imp.verdict or "no_match").inc()
    return out


@router.get("/reports/{report_id}", response_class=FileResponse,
            summary="A stored report of a document's imprint: HTML, PDF, PNG or JSON",
            responses={200: {"content": {m: {} for m in MEDIA_TYPES.values()},
                             "description": "the report, as it was written when the document "
                                            "was examined"},
                       **error_responses(404, meaning={404: "unknown_report: no report "
                                                              "with that id in that format"})})
def read_report(report_id: str, services: ServicesDep,
                _: Annotated[Caller, Depends(allow("reports.read"))],
                format: StoredReportFormat = StoredReportFormat.HTML) -> FileResponse:
    """Reports are written once, when ``POST /v1/documents`` examines the document, and never
    changed: the same id always returns the same file."""
    path = report_file(services.store.home, report_id, format.value)
    return FileResponse(path, media_type=MEDIA_TYPES[format],
                        filename=f"report-{report_id}.{format.value}")
