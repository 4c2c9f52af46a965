"""Genuine stamping: how one imprint of a physical seal varies from the next.

Everything here is imprint-to-imprint noise, drawn from the ``seed`` of a
:class:`StampConditions`: rotation, amount of ink (starved to flooded), uneven pressure and
partial imprints, the lighter-centre darker-edge pattern of rubber, double strikes, smears and
a small elastic deformation. The seal's own identity (its stable defects) is in its
:class:`~imprint.synth.render.SealFace` and is never changed here.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import cv2
import numpy as np

from imprint.errors import InvalidParameterError
from imprint.synth.render import MM_PER_INCH, Pose, SealFace, render_face

QUALITIES = ("clean", "typical", "poor")

ELASTIC_WAVELENGTH_MM = (12.0, 30.0)  # smooth rubber deformation, no sharper than this
EDGE_DARK_WIDTH_MM = 0.12  # width of the darker rim along each stroke edge
STARVED_GRAIN_MM = 0.12  # size of the ink-free specks of a starved imprint
FIBRE_MM = 0.06  # scale of the paper-fibre grain that makes ink edges ragged and speckled
BLOTCH_MM = 3.0  # size of the uneven-inking blotches


@dataclass(frozen=True)
class StampConditions:
    """One act of stamping. Angles in degrees; lengths in mm.

    ``angle`` turns the imprint counter-clockwise on the page; ``ink`` runs from -1 (starved,
    broken strokes) through 0 to +1 (flooded, spread strokes); ``pressure_tilt`` in [0, 1] is
    the strength of a linear pressure gradient rising toward clock angle ``pressure_dir``;
    ``partial`` in [0, 0.6] is the fraction of the face on the low side that fails to print;
    ``centre_light`` and ``edge_dark`` in [0, 1] shape the rubber pattern; ``double_strike``
    is (shift mm, direction clock deg, strength) or None; ``smear`` (length mm, direction clock
    deg) or None; ``elastic`` the amplitude of a smooth displacement in mm; ``swell`` the
    material's isotropic scale; ``mottle`` in [0, 1] how grainy the ink lies in the paper's
    fibres (ragged edges, speckle); ``seed`` the seed of every remaining random detail.
    """

    angle: float = 0.0
    ink: float = 0.0
    pressure_tilt: float = 0.0
    pressure_dir: float = 0.0
    partial: float = 0.0
    centre_light: float = 0.2
    edge_dark: float = 0.3
    double_strike: tuple[float, float, float] | None = None
    smear: tuple[float, float] | None = None
    elastic: float = 0.0
    swell: float = 1.0
    mottle: float = 0.3
    seed: int = 0

    def to_json(self) -> dict:
        return asdict(self)


def sample_conditions(rng: np.random.Generator, quality: str = "typical") -> StampConditions:
    """Draw the conditions of one genuine stamping.

    ``clean``: a registry master (good ink, even pressure, upright within 5 degrees).
    ``typical``: everyday documents, any rotation. ``poor``: starved or flooded, partial,
    double-struck or smeared.
    """
    if quality not in QUALITIES:
        raise InvalidParameterError(f"unknown quality {quality!r}; choose one of {QUALITIES}")
    seed = int(rng.integers(2**31))
    if quality == "clean":
        return StampConditions(
            angle=float(rng.uniform(-5, 5)), ink=float(rng.uniform(-0.1, 0.2)),
            pressure_tilt=float(rng.uniform(0, 0.15)), pressure_dir=float(rng.uniform(0, 360)),
            centre_light=float(rng.uniform(0.05, 0.2)), edge_dark=float(rng.uniform(0.1, 0.3)),
            elastic=float(rng.uniform(0, 0.03)), swell=float(rng.uniform(0.998, 1.002)),
            mottle=float(rng.uniform(0.1, 0.35)), seed=seed)
    poor = quality == "poor"
    ink = float(rng.choice([-1, 1]) * rng.uniform(0.5, 1.0)) if poor else float(
        rng.uniform(-0.5, 0.5))
    double = None
    if rng.random() < (0.35 if poor else 0.05):
        double = (float(rng.uniform(0.2, 1.0)), float(rng.uniform(0, 360)),
                  float(rng.uniform(0.3, 0.8)))
    smear = None
    if rng.random() < (0.3 if poor else 0.04):
        smear = (float(rng.uniform(0.3, 1.5)), float(rng.uniform(0, 360)))
    return StampConditions(
        angle=float(rng.uniform(-180, 180)),
        ink=ink,
        pressure_tilt=float(rng.uniform(0.3, 0.9) if poor else rng.uniform(0, 0.5)),
        pressure_dir=float(rng.uniform(0, 360)),
        partial=float(rng.uniform(0.15, 0.5)) if poor and rng.random() < 0.5 else 0.0,
        centre_light=float(rng.uniform(0.1, 0.45)),
        edge_dark=float(rng.uniform(0.15, 0.6)),
        double_strike=double,
        smear=smear,
        elastic=float(rng.uniform(0.0, 0.12)),
        swell=float(rng.uniform(0.996, 1.004)),
        mottle=float(rng.uniform(0.2, 0.9) if poor else rng.uniform(0.1, 0.7)),
        seed=seed,
    )


class ElasticField:
    """A smooth random displacement of the seal face, ``(N, 2) mm -> (N, 2) mm``: a sum of a
    few plane waves with wavelengths of 12 to 30 mm, scaled to ``amplitude`` mm at most."""

    def __init__(self, amplitude: float, rng: np.random.Generator, n_waves: int = 4):
        self.amplitude = amplitude
        theta = rng.uniform(0, 2 * np.pi, n_waves)
        lam = rng.uniform(*ELASTIC_WAVELENGTH_MM, n_waves)
        self.k = np.stack([np.cos(theta), np.sin(theta)], 1) * (2 * np.pi / lam)[:, None]
        self.phase = rng.uniform(0, 2 * np.pi, (n_waves, 2))
        self.weight = rng.uniform(-1, 1, (n_waves, 2)) / n_waves

    def __call__(self, xy: np.ndarray) -> np.ndarray:
        arg = xy @ self.k.T  # (N, n_waves)
        dx = (np.sin(arg + self.phase[:, 0]) * self.weight[:, 0]).sum(1)
        dy = (np.sin(arg + self.phase[:, 1]) * self.weight[:, 1]).sum(1)
        return self.amplitude * np.stack([dx, dy], 1)


def smooth_noise(shape: tuple[int, int], scale_px: float, rng: np.random.Generator) -> np.ndarray:
    """Noise with features of about ``scale_px`` pixels, ``float32`` with mean 0 and std 1."""
    h, w = shape
    f = max(scale_px, 1.0)
    small = rng.standard_normal((max(2, int(h / f) + 2), max(2, int(w / f) + 2))).astype(
        np.float32)
    big = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    big -= big.mean()
    return big / (big.std() + 1e-6)


def _clock_unit(clock_deg: float, page_angle: float) -> np.ndarray:
    """Unit vector (x, y) on the page of a clock direction in the seal frame."""
    t = math.radians(clock_deg)
    v = np.array([math.sin(t), -math.cos(t)])
    a = math.radians(page_angle)
    c, s = math.cos(a), math.sin(a)
    return np.array([v[0] * c + v[1] * s, -v[0] * s + v[1] * c])


def _shift(img: np.ndarray, dx: float, dy: float) -> np.ndarray:
    m = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(img, m, (img.shape[1], img.shape[0]), flags=cv2.INTER_LINEAR)


def stamp(
    face: SealFace,
    conditions: StampConditions,
    *,
    dpi: float,
    shape: tuple[int, int],
    centre: tuple[float, float],
) -> tuple[np.ndarray, np.ndarray]:
    """Stamp ``face`` once under ``conditions``.

    Parameters
    ----------
    centre : (x, y) px
        Where the seal's centre lands on the canvas of ``shape`` (H, W).

    Returns
    -------
    density : (H, W) float32 in [0, 1]
        Ink density of the imprint (1 = a full, saturated layer).
    relief : (H, W) float32 in [0, 1]
        Coverage of the raised face in this pose, before any ink effect (ground truth).
    """
    c = conditions
    rng = np.random.default_rng(c.seed)
    px = dpi / MM_PER_INCH
    elastic = ElasticField(c.elastic, rng) if c.elastic > 0 else None
    pose = Pose(centre, c.angle, c.swell)
    relief = render_face(face, dpi=dpi, shape=shape, pose=pose, elastic=elastic)
    d = relief
    if c.mottle > 0:
        # ink follows the paper's fibres: ragged edges and pale specks inside strokes
        fibre = smooth_noise(shape, max(FIBRE_MM * px, 1.0), rng)
        edge = cv2.GaussianBlur(relief, (0, 0), max(0.5, FIBRE_MM * px))
        d = np.clip((edge - 0.5 + 0.22 * c.mottle * fibre) / 0.15 + 0.5, 0, 1) * np.maximum(
            relief, edge)
        d *= np.clip(1 - c.mottle * np.clip(fibre - 1.2, 0, None), 0, 1)

    # amount of ink: flooding spreads strokes and fills counters; starving breaks them
    if c.ink > 0:
        sigma = max(0.3, c.ink * 0.09 * px)
        spread = cv2.GaussianBlur(d, (0, 0), sigma)
        d = np.clip((spread - (0.5 - 0.3 * c.ink)) / 0.25 + 0.5, 0, 1) * np.maximum(d, spread)
        d = np.maximum(d, relief * 0.95)
    elif c.ink < 0:
        grain = smooth_noise(shape, STARVED_GRAIN_MM * px, rng)
        holes = np.clip((grain + 2.2 - 3.4 * (-c.ink)) / 0.8, 0, 1)
        d = d * holes

    # rubber pattern: lighter inside broad areas, darker along stroke edges
    inside = cv2.distanceTransform((relief > 0.5).astype(np.uint8), cv2.DIST_L2, 3) / px
    rim = np.exp(-inside / EDGE_DARK_WIDTH_MM).astype(np.float32)
    density = 0.82 + 0.18 * max(0.0, c.ink)
    field = density * ((1 - c.edge_dark) + c.edge_dark * rim)

    ys, xs = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32)
    xs += 0.5 - centre[0]
    ys += 0.5 - centre[1]
    radius_px = max(face.design.extent) / 2 * px
    r2 = (xs * xs + ys * ys) / (radius_px * radius_px)
    field *= 1 - c.centre_light * np.clip(1 - r2, 0, 1)

    # pressure: a gradient toward pressure_dir, and a failing side for partial imprints
    u = _clock_unit(c.pressure_dir, c.angle)
    proj = (xs * u[0] + ys * u[1]) / radius_px  # -1 (low side) .. 1 (high side)
    field *= np.clip(1 + 0.5 * c.pressure_tilt * proj, 0.2, 1.5)
    if c.partial > 0:
        edge = -1 + 2 * c.partial
        field *= np.clip((proj - edge) / (2.0 * px / radius_px) + 0.5, 0, 1)
    field *= 1 + 0.12 * smooth_noise(shape, BLOTCH_MM * px, rng)
    field *= 1 + 0.06 * rng.standard_normal(shape, dtype=np.float32)
    d = d * field

    if c.double_strike is not None:
        shift_mm, direction, strength = c.double_strike
        v = _clock_unit(direction, c.angle) * shift_mm * px
        d = np.maximum(d, strength * _shift(d, v[0], v[1]))
    if c.smear is not None:
        length_mm, direction = c.smear
        n = max(3, int(round(length_mm * px)) | 1)
        kernel = np.zeros((n, n), np.float32)
        v = _clock_unit(direction, c.angle)
        for i in range(n):
            t = i / (n - 1)
            kernel[int(round((n - 1) / 2 + v[1] * t * (n - 1) / 2)),
                   int(round((n - 1) / 2 + v[0] * t * (n - 1) / 2))] += 1
        kernel /= kernel.sum()
        d = np.maximum(d, 0.7 * cv2.filter2D(d, -1, kernel))
    return np.clip(d, 0, 1).astype(np.float32), relief
