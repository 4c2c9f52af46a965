"""Seals: file a seal with its master, add masters, record life events, read and search.
Nothing is ever deleted: a seal's life ends with a ``revoked`` or ``replaced_by`` event."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile, status
from fastapi import Path as FastAPIPath

from imprint.errors import InvalidParameterError
from index.errors import DuplicateSealError
from index.lookalike import kept_warnings, lookalike_record
from service.api.deps import (
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
    DateIn,
    EventIn,
    EventOut,
    FiledOut,
    LookalikeOut,
    MasterOut,
    SealDetailOut,
    SealListOut,
    SealOut,
    UnitOut,
    error_responses,
)
from service.auth import Caller
from service.workers import FiledAnswer, FileJob, file_document

router = APIRouter(prefix="/v1/seals", tags=["seals"], responses=error_responses(*KEYED))


def _file(services: Services, job: FileJob) -> FiledAnswer:
    """``job`` done by the filing process; this process's search then reads the index the
    filing saved, so that the next identification here finds the new master."""
    filed = services.filer.run(file_document, job)
    services.search.follow()
    return filed


def _filed(services: Services, filed: FiledAnswer) -> FiledOut:
    status_now = services.store.status(filed.seal.seal_id)
    return FiledOut(seal=SealOut.of(filed.seal, status_now), unit=UnitOut.of(filed.unit),
                    master=MasterOut.of(filed.master), new_seal=filed.new_seal,
                    imprint=filed.imprint,
                    warnings=[LookalikeOut(**lookalike_record(w)) for w in filed.warnings])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=FiledOut,
             summary="File a new seal with its master imprint",
             responses=error_responses(409, *UPLOADED))
async def file_seal(request: Request, services: ServicesDep, folder: UploadFolder,
                    _: Annotated[Caller, Depends(allow("seals.file"))],
                    image: Annotated[UploadFile, File(description="image or one-page PDF "
                                                                  "holding the one imprint")],
                    seal_id: Annotated[str, Form(max_length=64)],
                    unit: Annotated[str, Form(max_length=200, description="the unit's name")],
                    kind: Annotated[str | None, Form(max_length=64)] = None,
                    code: Annotated[str | None, Form(max_length=32)] = None,
                    uscc: Annotated[str | None, Form(max_length=18)] = None,
                    dpi: Annotated[float | None, Form(gt=0)] = None) -> FiledOut:
    """The image must hold exactly one imprint. The store, the master file and the index are
    updated together: a refused filing leaves none of them changed."""
    note_inputs(request, seal_id=seal_id, unit=unit)
    upload = await save_upload(request, image, folder, input_name="image")

    def work(_deadline: float):
        try:
            services.store.get_seal(seal_id)
        except LookupError:
            return _file(services, FileJob(
                str(upload.path), seal_id, unit, True, services.settings.load_limits(),
                kind=kind, code=code, uscc=uscc, dpi=dpi))
        raise DuplicateSealError(f"seal {seal_id} is already filed; add a master to it with "
                                 f"POST /v1/seals/{{seal_id}}/masters", field="seal_id")

    filed = await run_engine(request, work, uploads=[upload], files=True, slot=False)
    return _filed(services, filed)


@router.post("/{seal_id}/masters", status_code=status.HTTP_201_CREATED,
             response_model=FiledOut, summary="Add a master imprint to a filed seal",
             responses=error_responses(404, 409, *UPLOADED))
async def add_master(request: Request, seal_id: str, services: ServicesDep,
                     folder: UploadFolder,
                     _: Annotated[Caller, Depends(allow("seals.add_master"))],
                     image: Annotated[UploadFile, File()],
                     dpi: Annotated[float | None, Form(gt=0)] = None) -> FiledOut:
    upload = await save_upload(request, image, folder, input_name="image")

    def work(_deadline: float):
        seal = services.store.get_seal(seal_id)  # unknown: 404 before any imaging
        return _file(services, FileJob(str(upload.path), seal_id, seal.unit_name, False,
                                       services.settings.load_limits(), dpi=dpi))

    filed = await run_engine(request, work, uploads=[upload], files=True, slot=False)
    return _filed(services, filed)


@router.get("", response_model=SealListOut, summary="Search filed seals")
def search_seals(services: ServicesDep, _: Annotated[Caller, Depends(allow("seals.search"))],
                 unit_name: Annotated[str | None, Query(max_length=200,
                                                        description="part of the unit's name")
                                      ] = None,
                 uscc: Annotated[str | None, Query(max_length=18,
                                                   description="the unit's credit code")] = None,
                 code: Annotated[str | None, Query(max_length=32,
                                                   description="start of the seal code")] = None,
                 seal_id: Annotated[str | None, Query(max_length=64,
                                                      description="start of the seal id")
                                    ] = None,
                 limit: Annotated[int, Query(ge=1, le=100)] = 20) -> SealListOut:
    """At least one criterion is required: the registry is searched, never listed whole."""
    if not any((unit_name, uscc, code, seal_id)):
        raise InvalidParameterError("give at least one of unit_name, uscc, code, seal_id")
    store = services.store
    unit_ids = None
    if uscc:
        unit_ids = {u.id for u in store.find_units(uscc=uscc)}
        if not unit_ids:
            return SealListOut(seals=[])
    limit = min(limit, services.settings.max_search_results)
    # a uscc narrows by unit after the query: fetch enough to fill the page
    wide = services.settings.max_search_results * 10 if unit_ids is not None else limit
    found = [s for s in store.search(unit_name=unit_name, code=code, seal_id=seal_id,
                                     limit=wide)
             if unit_ids is None or s.unit_id in unit_ids][:limit]
    return SealListOut(seals=[SealOut.of(s, store.status(s.seal_id)) for s in found])


@router.get("/by-chip/{serial}", response_model=SealDetailOut,
            summary="Read the seal filed with a chip serial", responses=error_responses(404))
def read_seal_by_chip(serial: Annotated[str, FastAPIPath(max_length=64)], services: ServicesDep,
                      caller: Annotated[Caller, Depends(allow("seals.by_chip"))],
                      on: Annotated[DateIn | None, Query(description="status on this date "
                                                                   "(default: now)")] = None
                      ) -> SealDetailOut:
    """The serial read from a chip seal, matched exactly (spaces around it trimmed); declared
    before ``/{seal_id}/events`` so that a chip serial never reads as a seal id."""
    return read_seal(services.store.seal_by_chip(serial).seal_id, services, caller, on)


@router.get("/{seal_id}", response_model=SealDetailOut, summary="Read a filed seal",
            responses=error_responses(404))
def read_seal(seal_id: str, services: ServicesDep,
              _: Annotated[Caller, Depends(allow("seals.read"))],
              on: Annotated[DateIn | None, Query(description="status on this date (default: "
                                                           "now)")] = None) -> SealDetailOut:
    store = services.store
    seal = store.get_seal(seal_id)
    return SealDetailOut(**SealOut.of(seal, store.status(seal_id, on)).model_dump(),
                         unit=UnitOut.of(store.get_unit(seal.unit_id)),
                         masters=[MasterOut.of(m) for m in store.masters_of(seal_id)],
                         events=[EventOut.of(e) for e in store.events_of(seal_id)],
                         lookalike_warnings=[LookalikeOut(**lookalike_record(w))
                                             for w in kept_warnings(store.engine, seal_id)])


@router.get("/{seal_id}/events", response_model=list[EventOut],
            summary="A seal's life events, in effective order",
            responses=error_responses(404))
def list_events(seal_id: str, services: ServicesDep,
                _: Annotated[Caller, Depends(allow("seals.events"))]) -> list[EventOut]:
    return [EventOut.of(e) for e in services.store.events_of(seal_id)]


@router.post("/{seal_id}/events", status_code=status.HTTP_201_CREATED, response_model=EventOut,
             summary="Record a life event (suspend, resume, revoke, report lost, replace)",
             responses=error_responses(404, 409, 413))
def record_event(seal_id: str, event: EventIn, services: ServicesDep,
                 _: Annotated[Caller, Depends(allow("seals.record_event"))]) -> EventOut:
    """Events are appended, never changed; one that cannot follow the seal's status on its
    effective date is refused (``invalid_event``)."""
    return EventOut.of(services.store.record_event(seal_id, event.kind, event.effective,
                                                   event.detail, event.replaced_by))
