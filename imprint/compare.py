"""1:1 forensic comparison of a questioned imprint with a master: align, measure, decide.

``compare(query, master)`` reads top to bottom: :func:`imprint.align.align`, then
:func:`imprint.evidence.measure`, then :func:`imprint.verdict.decide` with the fitted
verifier model. Both imprints are rectified (:mod:`imprint.rectify`); the registry lookup and
the seal's status are the caller's (:mod:`index.verify`).
"""

from __future__ import annotations

import dataclasses
import math
from functools import lru_cache

from imprint.align import align
from imprint.evidence import FEATURES, StrokeMatch, measure
from imprint.types import Comparison, Evidence, RectifiedImprint, SubScore
from imprint.verdict import SUBSCORES, VerifierModel, decide, derived


@lru_cache(maxsize=1)
def default_model() -> VerifierModel:
    return VerifierModel.load()


def _subscores(features: dict, model: VerifierModel) -> list[SubScore]:
    f = derived(features)
    out = []
    for name, (side, meaning, unit) in SUBSCORES.items():
        value, threshold = f.get(name, math.nan), model.subscore_thresholds.get(name)
        if threshold is None or value != value:
            continue
        flags = value > threshold if side == "above" else value < threshold
        out.append(SubScore(name, float(value), float(threshold), unit, side, bool(flags),
                            FEATURES.get(name, meaning)))
    return out


def compare(query: RectifiedImprint, master: RectifiedImprint,
            model: VerifierModel | None = None, strokes: StrokeMatch | None = None
            ) -> Comparison:
    """Compare ``query`` with ``master`` and decide; ``strokes``: ``query`` already laid on
    ``master`` and its strokes compared (:func:`imprint.evidence.match_strokes`), not done
    again."""
    model = model or default_model()
    alignment = strokes.alignment if strokes is not None else align(query, master)
    measured = measure(query, master, alignment, strokes)
    scores = _subscores(measured.features, model)
    decision = decide(measured.features, model, [s.name for s in scores if s.flags])
    evidence = Evidence(tuple(scores), measured.measurements, measured.displacements,
                        measured.difference, measured.deformation_percent,
                        measured.deformation_band, measured.features)
    # the rubber's give is measured with the local shifts, after the registration
    elastic = measured.features["elastic_mm"]
    if elastic == elastic:
        alignment = dataclasses.replace(alignment, elastic_mm=float(elastic))
    return Comparison(decision.verdict, decision.score, decision.log10_lr, decision.reasons,
                      alignment, evidence, master, query, decision.against)
