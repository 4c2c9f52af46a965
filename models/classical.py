"""A classical, rotation-invariant descriptor of a rectified imprint (the learned embedding's
baseline), and an aligned correlation of two imprints for re-ranking candidates.

The canonical ink map is resampled in polar coordinates about the seal's centre. Turning the
seal shifts every ring of the polar image along the angle axis, which changes the phase of its
Fourier series but not the magnitudes: the magnitudes of the first harmonics of each radial
band, plus the band's mean ink, describe the imprint whatever orientation rectification chose.
Occluded pixels (under black text or signatures) are filled with the band's mean so that they
neither add nor remove ink.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from imprint.memo import per_imprint
from imprint.rectify import CANONICAL_RADIUS, CANONICAL_SIZE
from imprint.types import RectifiedImprint

MODEL_ID = "classical-polar-fourier-v1"
N_ANGLES = 256
N_BANDS = 16  # radial bands from the centre to just outside the border
N_HARMONICS = 48  # per band: enough to resolve a ring of characters' strokes
DIMENSION = N_BANDS * N_HARMONICS


def polar(ink: np.ndarray, occlusion: np.ndarray | None = None, *, n_angles: int = N_ANGLES,
          n_radii: int = 4 * N_BANDS) -> np.ndarray:
    """``(n_radii, n_angles) float32`` polar resampling of a canonical ink map, out to 1.04 x
    the border radius; occluded samples replaced by their ring's mean."""
    return polar_with_mask(ink, occlusion, n_angles=n_angles, n_radii=n_radii)[0]


def polar_with_mask(ink: np.ndarray, occlusion: np.ndarray | None = None, *,
                    n_angles: int = N_ANGLES, n_radii: int = 4 * N_BANDS
                    ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`polar`, and the ``(n_radii, n_angles) bool`` mask of its occluded samples."""
    centre = (CANONICAL_SIZE / 2, CANONICAL_SIZE / 2)
    max_r = CANONICAL_RADIUS * 1.04
    # warpPolar puts angle on rows and radius on columns
    p = cv2.warpPolar(ink.astype(np.float32), (n_radii, n_angles), centre, max_r,
                      cv2.INTER_AREA + cv2.WARP_POLAR_LINEAR).T
    occ = np.zeros(p.shape, bool)
    if occlusion is not None and occlusion.any():
        occ = cv2.warpPolar(occlusion.astype(np.float32), (n_radii, n_angles), centre, max_r,
                            cv2.INTER_LINEAR + cv2.WARP_POLAR_LINEAR).T > 0.5
        known = np.where(occ, 0.0, p)
        counts = np.maximum((~occ).sum(axis=1, keepdims=True), 1)
        ring_mean = known.sum(axis=1, keepdims=True) / counts
        p = np.where(occ, ring_mean, p)
    return np.ascontiguousarray(p, dtype=np.float32), occ


def describe(imprint: RectifiedImprint | np.ndarray, occlusion: np.ndarray | None = None
             ) -> np.ndarray:
    """``(DIMENSION,) float32``, unit length: the imprint's rotation-invariant descriptor."""
    if isinstance(imprint, RectifiedImprint):
        ink, occlusion = imprint.ink, imprint.occlusion
    else:
        ink = imprint
    p = polar(ink, occlusion)
    bands = p.reshape(N_BANDS, -1, p.shape[1]).mean(axis=1)  # (bands, angles)
    # the bands' means (border, ink amount) are alike on every seal: harmonics 1.. only
    spectrum = np.abs(np.fft.rfft(bands, axis=1))[:, 1:N_HARMONICS + 1] / p.shape[1]
    # the square root evens out the weight of the low harmonics against the fine ones
    v = np.sqrt(spectrum).ravel().astype(np.float32)
    return v / max(float(np.linalg.norm(v)), 1e-9)


#: Radii (fractions of the border's) compared when aligning: inside the border ring, outside
#: the centre point. The border is alike on every seal of a size and says nothing of identity.
ALIGN_BAND = (0.05, 0.93)


def alignment_polar(imprint: RectifiedImprint | np.ndarray) -> np.ndarray:
    """The polar image :func:`correlate_polar` compares; compute once per imprint."""
    ink, occ = ((imprint.ink, imprint.occlusion) if isinstance(imprint, RectifiedImprint)
                else (imprint, None))
    p = polar(ink, occ, n_radii=128, n_angles=720)
    p = p[int(ALIGN_BAND[0] * 128 / 1.04):int(ALIGN_BAND[1] * 128 / 1.04)]
    # each ring about its own mean: what is compared is where ink lies along the ring, not how
    # much ink the stamping left (occluded samples, set to the ring's mean, drop out)
    return p - p.mean(axis=1, keepdims=True)


@dataclass(frozen=True)
class PolarSpectrum:
    """An :func:`alignment_polar` image ready to correlate: each ring's spectrum along the
    angle (``(radii, angles // 2 + 1)`` complex), the image's norm and its number of angles.
    Compute once per imprint; a search correlates one query with many masters."""

    spectrum: np.ndarray
    norm: float
    n_angles: int


def polar_spectrum(p: np.ndarray | PolarSpectrum) -> PolarSpectrum:
    if isinstance(p, PolarSpectrum):
        return p
    return PolarSpectrum(np.fft.rfft(p, axis=1), float(np.linalg.norm(p)), p.shape[1])


#: Imprints whose :func:`imprint_spectrum` is kept: a query is laid on each of its
#: candidates in turn, a master on query after query.
KEPT_SPECTRA = 16


@per_imprint(KEPT_SPECTRA)
def imprint_spectrum(imprint: RectifiedImprint) -> PolarSpectrum:
    """The :func:`polar_spectrum` of the imprint's :func:`alignment_polar`, computed once
    for the re-ranking, the alignment's choice of turn and the linking of case imprints."""
    return polar_spectrum(alignment_polar(imprint))


def circular_correlation(q: np.ndarray | PolarSpectrum, m: np.ndarray | PolarSpectrum
                         ) -> np.ndarray:
    """The ring-by-ring circular cross-correlation of two polar images summed over the rings,
    one value per turn (not normalised): the rings' spectra are summed before the one inverse
    transform, the same sum at a fraction of the cost."""
    qs, ms = polar_spectrum(q), polar_spectrum(m)
    return np.fft.irfft((qs.spectrum * np.conj(ms.spectrum)).sum(axis=0), n=qs.n_angles)


def aligned_correlation(query: RectifiedImprint | np.ndarray,
                        master: RectifiedImprint | np.ndarray) -> tuple[float, float]:
    """(normalised correlation in [-1, 1], query turn in degrees counter-clockwise that best
    aligns it with the master): circular cross-correlation of the two polar images over every
    turn, ring by ring, occluded query samples left out."""
    return correlate_polar(alignment_polar(query), alignment_polar(master))


def correlate_polar(q: np.ndarray | PolarSpectrum, m: np.ndarray | PolarSpectrum
                    ) -> tuple[float, float]:
    """:func:`aligned_correlation` of two :func:`alignment_polar` images (or their
    :func:`polar_spectrum`)."""
    qs, ms = polar_spectrum(q), polar_spectrum(m)
    corr = circular_correlation(qs, ms)
    denom = qs.norm * ms.norm or 1.0
    k = int(np.argmax(corr))
    shift_deg = 360.0 * k / qs.n_angles
    return float(corr[k] / denom), (shift_deg + 180.0) % 360.0 - 180.0
