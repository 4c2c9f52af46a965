"""How an imprint departs from its master, and whether two imprints depart the same way.

Two counterfeits of one filed seal look alike because both imitate it: registered onto each
other, a second photo-engraving or a print of another genuine imprint correlates with a case
imprint as closely as a second imprint of the same fake does. What one physical seal carries
into every imprint it makes is how it differs from the genuine seal: its own chips and stroke
breaks, characters cut a little elsewhere, the ink accidents frozen into a photo-engraving, the
one scanned imprint a printer repeats. So each imprint is laid on the master and the master's
rendering is fitted to it (the blur of its capture, and a smooth ink gain for the pressure and
the amount of ink), and what remains is its :class:`Deviation`. The master is itself one
imprint, with its own mottle and unevenly inked patches; left in, they would be subtracted
from every deviation measured against it and make all of them alike, so only its face is
rendered: where it holds at least :data:`MASTER_FACE_FRACTION` of its full ink. (Where it
holds less, a starved or chipped spot, the master still speaks for every imprint measured
against it.) Two imprints of one fake share
their deviations; imprints of different seals (or genuine imprints, which depart from the
master only by chance) do not: :func:`agreement` is the correlation of the two.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from imprint.align import align, masked_correlation
from imprint.rectify import CANONICAL_SIZE
from imprint.types import Alignment, RectifiedImprint

#: Size (px) at which deviations are kept and compared: half the canonical frame, which holds
#: a chip or a stroke break (0.1 to 0.4 mm, 1 to 5 canonical px) after the smoothing below.
DEVIATION_SIZE = CANONICAL_SIZE // 2
#: Blurs (canonical px) tried on the master to match the capture's: a scan at 600 dpi is
#: sharper than a fax, and the master's own sharp edges would otherwise fill the residual.
CAPTURE_BLURS = (0.6, 1.0, 1.5, 2.2, 3.0)
#: Reach (canonical px, Gaussian sigma) of the ink gain fitted to the imprint: pressure and the
#: amount of ink change slowly across a seal, a chip or a moved character does not.
GAIN_SIGMA = 20.0
#: Smoothing of the residual before it is compared (canonical px): sub-pixel registration
#: differences between imprints otherwise decide the correlation.
RESIDUAL_SIGMA = 1.0
#: Fraction of the master's full ink (the 95th percentile of its inked pixels) from which a
#: pixel is the seal's face rather than a gap: about where a stroke's blurred edge starts.
MASTER_FACE_FRACTION = 0.35
MIN_SHARED = 2000  # pixels known in both deviations (at DEVIATION_SIZE) to compare them at all


@dataclass(frozen=True)
class Deviation:
    """An imprint's departure from a master, in the master's frame at
    :data:`DEVIATION_SIZE`: ``residual`` (imprint ink minus the master's rendering fitted to
    it), ``known`` where both were seen, ``master_id`` the master it was measured against
    (deviations compare only against one master), ``capture_blur`` the blur fitted (px)."""

    residual: np.ndarray
    known: np.ndarray
    master_id: int | str
    capture_blur: float


def deviation(query: RectifiedImprint, master: RectifiedImprint, master_id: int | str, *,
              alignment: Alignment | None = None) -> Deviation:
    """The deviation of ``query`` from ``master`` (aligned here unless ``alignment`` is
    given)."""
    al = alignment or align(query, master)
    known = ~al.unknown
    q = al.query_ink
    m = master_face(master)
    best, blur, fitted = -2.0, CAPTURE_BLURS[0], m
    for s in CAPTURE_BLURS:
        ms = cv2.GaussianBlur(m, (0, 0), s)
        rho = masked_correlation(ms, q, known)
        if rho > best:
            best, blur, fitted = rho, s, ms
    # the smooth gain that best scales the fitted master onto the imprint (local least squares)
    kf = known.astype(np.float32)
    num = cv2.GaussianBlur(q * fitted * kf, (0, 0), GAIN_SIGMA)
    den = cv2.GaussianBlur(fitted * fitted * kf, (0, 0), GAIN_SIGMA)
    gain = np.clip(num / np.maximum(den, 1e-4), 0.0, 5.0)
    residual = cv2.GaussianBlur(np.where(known, q - gain * fitted, 0.0).astype(np.float32),
                                (0, 0), RESIDUAL_SIGMA)
    size = (DEVIATION_SIZE, DEVIATION_SIZE)
    return Deviation(cv2.resize(residual, size, interpolation=cv2.INTER_AREA),
                     cv2.resize(known.astype(np.uint8), size,
                                interpolation=cv2.INTER_NEAREST) > 0,
                     master_id, float(blur))


def master_face(master: RectifiedImprint) -> np.ndarray:
    """The master's seal face as 0/1 ink (float32): its own ink accidents left out."""
    ink = master.ink.astype(np.float32)
    inked = ink[ink > 0.05]  # (paper is about 0)
    full = float(np.percentile(inked, 95)) if inked.size else 1.0
    return (ink >= MASTER_FACE_FRACTION * full).astype(np.float32)


def agreement(a: Deviation, b: Deviation) -> float:
    """Correlation of two deviations from one master over what both saw, in [-1, 1]: near 0
    for imprints of different seals, high for two imprints of one counterfeit seal. NaN when
    they were measured against different masters or share too little."""
    if a.master_id != b.master_id:
        return float("nan")
    shared = a.known & b.known
    if int(shared.sum()) < MIN_SHARED:
        return float("nan")
    return masked_correlation(a.residual, b.residual, shared)
