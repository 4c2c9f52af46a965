"""A rectified imprint to and from one compressed ``.npz`` file, so that a master is rectified
once when it is filed, not on every search. Ink is kept as 8-bit density (a step of 1/255 is
far below the noise of any imprint); everything else exactly."""

from __future__ import annotations

import io
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from imprint.atomic import write_bytes
from imprint.errors import UnreadableInputError
from imprint.types import Detection, Geometry, Quality, RectifiedImprint

FORMAT = "imprint.rectified/1"


def to_bytes(r: RectifiedImprint) -> bytes:
    g = r.geometry
    meta = {"format": FORMAT, "detection": asdict(r.detection), "quality": asdict(r.quality),
            "geometry": {"centre": g.centre, "axes": g.axes, "rotation": g.rotation,
                         "scale": g.scale, "size_mm": g.size_mm}}
    buf = io.BytesIO()
    p = pack(r)
    np.savez_compressed(buf, ink=p.ink, occlusion=p.occlusion, homography=g.homography,
                        meta=np.frombuffer(json.dumps(meta).encode(), np.uint8))
    return buf.getvalue()


@dataclass(frozen=True)
class Packed:
    """A rectified imprint as stored: ink at 8 bits and occlusion as packed bits, a fifth of
    its size in memory, for caches of many masters; :meth:`unpack` gives the imprint."""

    ink: np.ndarray  # (S, S) uint8
    occlusion: np.ndarray  # packed bits of (S, S) bool
    geometry: Geometry
    quality: Quality
    detection: Detection

    def unpack(self) -> RectifiedImprint:
        ink = self.ink.astype(np.float32) / 255.0
        occlusion = np.unpackbits(self.occlusion)[:ink.size].reshape(ink.shape).astype(bool)
        return RectifiedImprint(ink, occlusion, self.geometry, self.quality, self.detection)


def pack(r: RectifiedImprint) -> Packed:
    """``r`` as :func:`save` would store it."""
    return Packed(np.round(np.clip(r.ink, 0, 1) * 255).astype(np.uint8),
                  np.packbits(r.occlusion), r.geometry, r.quality, r.detection)


def packed_from_bytes(data: bytes, *, source: str = "data") -> Packed:
    try:
        with np.load(io.BytesIO(data)) as z:
            meta = json.loads(z["meta"].tobytes().decode())
            if meta.get("format") != FORMAT:
                raise ValueError(f"format {meta.get('format')!r}")
            ink = np.asarray(z["ink"], np.uint8)
            occlusion = np.asarray(z["occlusion"], np.uint8)
            if ink.ndim != 2 or occlusion.size * 8 < ink.size:
                raise ValueError(f"ink {ink.shape} and {occlusion.size} bytes of occlusion")
            homography = np.asarray(z["homography"], np.float64)
    except (OSError, ValueError, KeyError, json.JSONDecodeError) as exc:
        raise UnreadableInputError(f"{source}: not a stored rectified imprint ({exc})") from exc
    g = meta["geometry"]
    d = meta["detection"]
    geometry = Geometry(tuple(g["centre"]), tuple(g["axes"]), g["rotation"], g["scale"],
                        homography, tuple(g["size_mm"]) if g["size_mm"] else None)
    detection = Detection(**{**d, "box": tuple(d["box"]), "centre": tuple(d["centre"]),
                             "axes": tuple(d["axes"]),
                             "horizon": tuple(d["horizon"]) if d.get("horizon") else None,
                             "sheet_sides": (tuple(tuple(v) for v in d["sheet_sides"])
                                             if d.get("sheet_sides") else None)})
    return Packed(ink, occlusion, geometry, Quality(**meta["quality"]), detection)


def from_bytes(data: bytes, *, source: str = "data") -> RectifiedImprint:
    return packed_from_bytes(data, source=source).unpack()


def save(path: str | Path, r: RectifiedImprint) -> None:
    """Write atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes(path, to_bytes(r))


def load(path: str | Path) -> RectifiedImprint:
    return load_packed(path).unpack()


def load_packed(path: str | Path) -> Packed:
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UnreadableInputError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    return packed_from_bytes(data, source=str(path))
