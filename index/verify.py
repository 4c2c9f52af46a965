"""1:1 verification against the registry: is this imprint the named seal's, and may the seal
be used?

The imprint is compared (:func:`imprint.compare.compare`) with every master filed for the
seal and the best comparison kept (a seal re-filed after years of wear has several). The
seal's registry status is taken on the document's date when one is given: a genuine imprint
of a revoked, lost, suspended or replaced seal is flagged all the same, as is one dated before
the seal was filed.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from datetime import date

from imprint.compare import compare
from imprint.errors import ImprintError
from imprint.evidence import StrokeMatch
from imprint.types import Comparison, RectifiedImprint
from imprint.verdict import DOTS_UNREAD, VerifierModel
from index.errors import RegistryError
from index.identify import Identification, SealSearch
from index.store import SealInfo, SealStatus, SealView

_VERDICT_RANK = {"genuine": 3, "suspected_forgery": 2, "inconclusive": 1, "different_seal": 0}


class NoMasterError(RegistryError):
    """The seal has no master imprint that can be compared."""


@dataclass(frozen=True)
class Verification:
    """The comparison with the seal's best-matching master, the seal's ``status`` (on the
    document's date when given) and ``status_flag``: why the seal may not be used, or None."""

    seal: SealInfo
    master_id: int
    status: SealStatus
    status_flag: str | None
    comparison: Comparison
    on: date | None


def identified(search: SealSearch, ident: Identification, *, on: date | None = None
               ) -> Verification | None:
    """The verification of an identification's match (None without one), on the alignment
    the identification made."""
    if not ident.match:
        return None
    aligned = ((ident.candidates[0].master_id, ident.strokes)
               if ident.strokes is not None else None)
    try:
        return verify(search, ident.imprint, ident.match, on=on, aligned=aligned, rivals=False,
                      view=ident.view if ident.on == on else None)
    except NoMasterError:
        return None


def rank(comparison: Comparison) -> tuple[int, float]:
    """How well a comparison answers for the seal: genuine first, then by likelihood ratio.
    Picks the best master of a seal, and the best imprint of a page for a named seal."""
    return _VERDICT_RANK[comparison.verdict], comparison.log10_lr


def status_flag(status: SealStatus, on: date | None) -> str | None:
    when = f"on {on.isoformat()}" if on else "now"
    if status is SealStatus.ACTIVE:
        return None
    if status is SealStatus.NOT_FILED:
        return f"the seal was not yet filed {when}: its imprint cannot be a lawful use"
    return f"the seal is {status.value} {when}: an imprint of it is not a valid use"


def verify(search: SealSearch, imprint: RectifiedImprint, seal_id: str, *,
           on: date | None = None, model: VerifierModel | None = None,
           aligned: tuple[int, StrokeMatch] | None = None,
           view: SealView | None = None, rivals: bool = True) -> Verification:
    """Compare ``imprint`` with the masters of ``seal_id``; raises ``NotFoundError`` for an
    unknown seal and :class:`NoMasterError` when none of its masters can be compared.
    ``aligned``: (master id, the imprint laid on that master and its strokes compared), as the
    identification left it, not done again. ``view``: the seal as read from the store for this
    verification (:meth:`~index.store.RegistryStore.seal_view` on ``on``), not read again.
    ``rivals``: whether an agreeing imprint is weighed against the seal's numbered siblings
    and nearest filed neighbours (:meth:`~index.identify.SealSearch.rival`): one whose ink
    follows another seal's master where the two differ is that seal's (``different_seal``).
    An identification has weighed them already."""
    if view is None or view.seal.seal_id != seal_id:
        view = search.store.seal_view(seal_id, on)
    best: tuple[tuple[int, float], int, Comparison] | None = None
    for master in view.masters:
        try:
            reference = search.canonical(master)
        except ImprintError:
            continue  # a master with no usable imprint: the others may do
        strokes = aligned[1] if aligned is not None and aligned[0] == master.id else None
        c = compare(imprint, reference, model, strokes=strokes)
        key = rank(c)
        if best is None or key > best[0]:
            best = (key, master.id, c)
    if best is None:
        raise NoMasterError(f"seal {seal_id} has no master imprint that can be compared")
    _, master_id, comparison = best
    if rivals and comparison.verdict in ("genuine", "suspected_forgery"):
        laid = (aligned[1] if aligned is not None and aligned[0] == master_id
                else comparison.alignment)
        other = search.rival(imprint, seal_id, master_id, laid)
        if other is not None:
            comparison = dataclasses.replace(
                comparison, verdict="different_seal", score=0.0, log10_lr=-math.inf,
                against_forgeries={}, reasons=(
                    f"another filed seal of the same design, {other[0]} (a numbered sibling "
                    f"or a look-alike name): where the two differ, the imprint's ink follows "
                    f"its master ({other[1]:.2f} better correlated), not this seal's",
                    *(r for r in comparison.reasons if r != DOTS_UNREAD)))
    return Verification(view.seal, master_id, view.status, status_flag(view.status, on),
                        comparison, on)
