"""Cases: a document's suspect imprints filed under a case number, every imprint searched
against the registry and against the earlier case imprints (the same counterfeit seal in
another case), and a case's imprints read back. Case imprints are never changed or deleted."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, status
from fastapi import Path as FastAPIPath

from imprint.io import iter_pages
from index.cases import (
    CaseIndex,
    UnknownCaseError,
    case_imprint_record,
    case_number,
    examine_for_case,
    file_findings,
    finding_record,
)
from service.api.deps import (
    Services,
    ServicesDep,
    UploadFolder,
    allow,
    note_inputs,
    run_engine,
    save_upload,
)
from service.api.routes.examine import DateForm, DocumentFile
from service.api.schemas import (
    KEYED,
    UPLOADED,
    CaseDocumentOut,
    CaseFindingOut,
    CaseImprintOut,
    CaseOut,
    error_responses,
)
from service.auth import Caller
from service.engine import in_time

router = APIRouter(prefix="/v1/cases", tags=["cases"], responses=error_responses(*KEYED))

CasePath = Annotated[str, FastAPIPath(max_length=64, description="the case number")]


def _cases(services: Services) -> CaseIndex:
    """One case index per service process, opened on first use over the registry's search."""
    held = vars(services)  # the services are opened once per process: the index lives as long
    if "case_index" not in held:
        held["case_index"] = CaseIndex(services.search)
    return held["case_index"]


def _document_out(file: str, case: str | None, cases: CaseIndex, findings) -> CaseDocumentOut:
    return CaseDocumentOut(file=file, case=case, link_threshold=cases.threshold,
                           imprints=[CaseFindingOut(**finding_record(f)) for f in findings])


@router.post("/search", response_model=CaseDocumentOut,
             summary="Search a document's imprints in the registry and in earlier cases",
             responses=error_responses(*UPLOADED))
async def search_cases(request: Request, services: ServicesDep, folder: UploadFolder,
                       _: Annotated[Caller, Depends(allow("cases.search"))],
                       file: DocumentFile, date: DateForm = None) -> CaseDocumentOut:
    """Every imprint: its registry candidates and match (with the verdict of the comparison),
    and ``linked_cases``: earlier case imprints from the same physical seal, best first.
    Nothing is filed."""
    upload = await save_upload(request, file, folder)
    note_inputs(request, date=date.isoformat() if date else None)
    cases = _cases(services)

    def work(deadline: float) -> CaseDocumentOut:
        pages = iter_pages(upload.path, limits=services.settings.load_limits())
        found = examine_for_case(services.search, cases, pages, on=date,
                                 check=lambda: in_time(deadline))
        return _document_out(upload.name, None, cases, found)

    return await run_engine(request, work, uploads=[upload])


@router.post("/{case}/imprints", status_code=status.HTTP_201_CREATED,
             response_model=CaseDocumentOut,
             summary="File a document's suspect imprints under a case",
             responses=error_responses(*UPLOADED))
async def file_case_document(request: Request, case: CasePath, services: ServicesDep,
                             folder: UploadFolder,
                             caller: Annotated[Caller, Depends(allow("cases.file"))],
                             file: DocumentFile, date: DateForm = None) -> CaseDocumentOut:
    """Every imprint is searched first (registry and earlier cases); those judged
    ``suspected_forgery`` or matching no filed seal are then filed under ``case`` (the
    answer's ``filed``), with the document's name, hash, page, box and date, and the key that
    filed them."""
    case = case_number(case)
    upload = await save_upload(request, file, folder)
    note_inputs(request, case=case, date=date.isoformat() if date else None)
    cases = _cases(services)
    who = f"key:{caller.key.key_id}" + (f" ({caller.key.name})" if caller.key.name else "")

    def work(deadline: float) -> CaseDocumentOut:
        pages = iter_pages(upload.path, limits=services.settings.load_limits())
        found = examine_for_case(services.search, cases, pages, on=date,
                                 check=lambda: in_time(deadline))
        filed = file_findings(cases, found, case=case, document=upload.name,
                              document_sha256=upload.sha256, on=date, filed_by=who)
        return _document_out(upload.name, case, cases, filed)

    # the filing lock: two uploads filed at once could not link to each other
    return await run_engine(request, work, uploads=[upload], files=True)


@router.get("/{case}", response_model=CaseOut, summary="The imprints filed under a case",
            responses=error_responses(404, meaning={404: "unknown_case: nothing is filed "
                                                         "under that case number"}))
def read_case(case: CasePath, services: ServicesDep,
              _: Annotated[Caller, Depends(allow("cases.read"))]) -> CaseOut:
    case = case_number(case)
    filed = _cases(services).imprints(case)
    if not filed:
        raise UnknownCaseError(f"no imprint is filed under case {case!r}", field="case")
    return CaseOut(case=case, imprints=[CaseImprintOut(**case_imprint_record(ci))
                                        for ci in filed])
