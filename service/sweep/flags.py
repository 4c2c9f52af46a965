"""Why an imprint found in a sweep deserves a person's attention, and in what order.

Flags of one imprint, from its identification record (``service.engine.identification_record``):

=======================  ====  ==========================================================
flag                     tier  when
=======================  ====  ==========================================================
``suspected_forgery``    1     matched a filed seal, and the comparison with its masters
                               judges it a forgery of that seal
``seal_<status>``        1     matched a seal whose registry status on the document's date
                               (now, without a date) is not active: ``seal_revoked``,
                               ``seal_lost``, ``seal_suspended``, ``seal_replaced``,
                               ``seal_not_filed`` (used before it was filed)
``no_registered_seal``   1     matches no filed seal (open-set identification), with half
                               or more of its border on the page
``different_seal``       1     the nearest filed seal cleared the identification threshold,
                               but the comparison says the imprint is not that seal's
``inconclusive``         2     the comparison could not decide (a poor or partial imprint),
                               or it matches no filed seal with less than half of its
                               border on the page (a cross-page sliver)
``not_compared``         2     matched, but the seal has no master that can be compared
``weak_evidence``        2     judged genuine, but its log10 LR against forgery lies below
                               the verifier's review threshold (``review_log10_lr``: where 5 %
                               of calibration genuine imprints lie): a forgery the evidence
                               does not rule out, for a person to look at
=======================  ====  ==========================================================

Tier 1 is listed before tier 2; within a tier, imprints are ordered by their first flag in
the order of this table, then by document and page.
"""

from __future__ import annotations

from collections.abc import Iterable

#: Flag name -> rank (lower first); ``seal_<status>`` flags share one rank.
FLAG_RANK = {"suspected_forgery": 0, "seal_status": 1, "no_registered_seal": 2,
             "different_seal": 3, "inconclusive": 10, "not_compared": 11,
             "weak_evidence": 12}
#: Ranks below this are tier 1 (suspicious); at or above, tier 2 (to review).
TIER_2_RANK = 10
CLEAN_RANK = 100


def imprint_flags(match: str | None, status: str | None, verdict: str | None,
                  log10_lr: float | None = None, review_below: float | None = None
                  ) -> tuple[str, ...]:
    """The flags of one identified imprint, most serious first; () when it is clean (matched,
    judged genuine with a log10 LR of at least ``review_below`` where that is given, and its
    seal usable on the document's date)."""
    if match is None:
        # too little of the seal on the page to say that it is not filed
        return ("inconclusive",) if verdict == "inconclusive" else ("no_registered_seal",)
    flags: list[str] = []
    if verdict == "suspected_forgery":
        flags.append("suspected_forgery")
    if status is not None and status != "active":
        flags.append(f"seal_{status}")
    if verdict == "different_seal":
        flags.append("different_seal")
    elif verdict == "inconclusive":
        flags.append("inconclusive")
    elif verdict is None:
        flags.append("not_compared")
    elif (verdict == "genuine" and review_below is not None and log10_lr is not None
          and log10_lr < review_below):
        flags.append("weak_evidence")
    return tuple(sorted(flags, key=flag_rank))


#: What each flag means, in a sentence a person reading the summary can act on.
FLAG_MEANING = {
    "suspected_forgery": "the comparison with the seal's masters judges this imprint a forgery",
    "seal_status": "the matched seal was not usable on the document's date",
    "no_registered_seal": "the imprint matches no filed seal",
    "different_seal": "the nearest filed seal was matched, but the comparison says it is "
                      "another seal",
    "inconclusive": "the comparison could not decide (a poor or partial imprint)",
    "not_compared": "the matched seal has no master that can be compared",
    "weak_evidence": "judged genuine, but on evidence weaker than 95 % of genuine imprints "
                     "show: a forgery is not ruled out",
}


def _kind(flag: str) -> str:
    """The flag's entry in :data:`FLAG_RANK` and :data:`FLAG_MEANING`: ``seal_<status>`` flags
    share ``seal_status``'s."""
    return "seal_status" if flag.startswith("seal_") else flag


def flag_meaning(flag: str) -> str:
    return FLAG_MEANING[_kind(flag)]


def flag_rank(flag: str) -> int:
    return FLAG_RANK[_kind(flag)]


def priority(flags: Iterable[str]) -> int:
    """Rank of an imprint by its most serious flag; :data:`CLEAN_RANK` when it has none."""
    return min((flag_rank(f) for f in flags), default=CLEAN_RANK)


def is_suspicious(flags: Iterable[str]) -> bool:
    """Tier 1: a forgery, an unusable seal, or a seal that matches nothing filed."""
    return priority(flags) < TIER_2_RANK
