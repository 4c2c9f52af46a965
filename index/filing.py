"""Filing a master imprint: the image checked to hold exactly one imprint, the unit and seal
created if new, the master stored, its canonical imprint kept and its embedding indexed. A new
seal is first searched for look-alikes of other units (:mod:`index.lookalike`): they come back
as warnings, kept with the record, and do not stop the filing."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from imprint.errors import InvalidParameterError, SeveralImprintsError
from imprint.io import LoadLimits, load_page
from imprint.pipeline import single_imprint
from imprint.types import RectifiedImprint
from index.errors import RegistryError
from index.identify import SealSearch
from index.lookalike import Lookalike, LookalikeLog, find_lookalikes
from index.store import MasterInfo, Runner, SealInfo, UnitInfo, here

DEFAULT_KIND = "round_official"


@dataclass(frozen=True)
class Filed:
    """What :func:`file_master` did: ``new_seal`` when the seal was filed by this call;
    ``warnings`` the filed seals of other units it looks like (new seals only), best first."""

    unit: UnitInfo
    seal: SealInfo
    master: MasterInfo
    imprint: RectifiedImprint
    new_seal: bool
    warnings: tuple[Lookalike, ...] = ()


def file_master(search: SealSearch, image_path: str | Path, *, seal_id: str, unit: str,
                kind: str | None = None, code: str | None = None, dpi: float | None = None,
                uscc: str | None = None, limits: LoadLimits | None = None,
                write: Runner = here) -> Filed:
    """File the imprint in ``image_path`` as a master of seal ``seal_id`` of unit ``unit``.

    A seal already filed gets one more master, provided it belongs to ``unit``; a new seal is
    filed (with the unit, if no unit of that exact name exists). The image may be a whole page:
    it must hold exactly one imprint (:class:`SeveralImprintsError` otherwise). ``limits``:
    what the file may cost to load (the loader's defaults when None). ``write`` runs the
    store's write transactions (a service's filing process runs them at its own priority).
    """
    if dpi is not None and not 50 <= dpi <= 9600:
        raise InvalidParameterError(f"dpi: {dpi} is outside 50..9600")
    store = search.store
    pages = load_page(image_path, limits=limits)
    if len(pages) != 1:
        raise SeveralImprintsError(f"{image_path} has {len(pages)} pages; file one page per "
                                   f"master")
    page = pages[0]
    page_dpi = dpi or (page.dpi[0] if page.dpi else None)
    imprint = single_imprint(page.image, dpi=page_dpi, what=str(image_path))
    # the filed file as it came (PNG byte for byte, other images losslessly re-encoded); a
    # PDF as its rendered page
    raw = Path(image_path).read_bytes()
    data = page.image if raw.startswith(b"%PDF") else raw
    try:
        seal = store.get_seal(seal_id)
    except RegistryError:
        seal = None
    new_seal = seal is None

    def keep(sha256: str) -> None:
        # the canonical imprint before the master's row: a service worker that sees the row
        # finds it, rather than rectifying the master again itself
        search.keep_canonical(sha256, imprint)

    if not new_seal:
        if seal.unit_name != unit.strip():
            raise InvalidParameterError(
                f"seal {seal_id} is filed for {seal.unit_name!r}, not {unit!r}")
        if kind and kind != seal.kind:
            raise InvalidParameterError(f"seal {seal_id} is filed as {seal.kind!r}, not {kind!r}")
        unit_info = store.get_unit(seal.unit_id)
        master = store.add_master(seal.seal_id, data, dpi=page_dpi, prepare=keep,
                                  write=write)
        warnings: list[Lookalike] = []
    else:
        # searched before filing, so the seal is never its own look-alike
        kind = kind or _kind_of(imprint)
        warnings = find_lookalikes(search, imprint, unit=unit, kind=kind)
        # unit, seal and master in one transaction: no seal is ever filed without its master
        units = [u for u in store.find_units(name=unit, uscc=uscc) if u.name == unit.strip()]
        unit_info, seal, master = store.file_with_master(
            seal_id, units[0] if units else unit, kind, data,
            dpi=page_dpi, code=code, uscc=uscc, prepare=keep, write=write)
        if warnings:
            # (opening the log writes too: its table made where missing)
            write(lambda: LookalikeLog(store.engine).record(seal.seal_id, warnings))
    # the index is derived: brought in line with the store whenever it is opened, so a crash
    # here loses nothing
    search.follow()
    return Filed(unit_info, seal, master, imprint, new_seal, tuple(warnings))


def _kind_of(imprint: RectifiedImprint) -> str:
    """A seal kind from the imprint's shape, when the registrar gives none."""
    return {"oval": "oval_invoice", "square": "square_name"}.get(imprint.detection.shape,
                                                                  DEFAULT_KIND)
