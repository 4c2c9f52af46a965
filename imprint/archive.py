"""A rectified imprint to and from one compressed ``.npz`` file, so that a master is rectified
once when it is filed, not on every search. Ink is kept as 8-bit density (a step of 1/255 is
far below the noise of any imprint); everything else exactly."""

from __future__ import annotations

import io
import json
from dataclasses import asdict
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
    np.savez_compressed(buf, ink=np.round(np.clip(r.ink, 0, 1) * 255).astype(np.uint8),
                        occlusion=np.packbits(r.occlusion), homography=g.homography,
                        meta=np.frombuffer(json.dumps(meta).encode(), np.uint8))
    return buf.getvalue()


def from_bytes(data: bytes, *, source: str = "data") -> RectifiedImprint:
    try:
        with np.load(io.BytesIO(data)) as z:
            meta = json.loads(z["meta"].tobytes().decode())
            if meta.get("format") != FORMAT:
                raise ValueError(f"format {meta.get('format')!r}")
            ink = z["ink"].astype(np.float32) / 255.0
            occlusion = np.unpackbits(z["occlusion"])[:ink.size].reshape(ink.shape).astype(bool)
            homography = np.asarray(z["homography"], np.float64)
    except (OSError, ValueError, KeyError, json.JSONDecodeError) as exc:
        raise UnreadableInputError(f"{source}: not a stored rectified imprint ({exc})") from exc
    g = meta["geometry"]
    d = meta["detection"]
    geometry = Geometry(tuple(g["centre"]), tuple(g["axes"]), g["rotation"], g["scale"],
                        homography, tuple(g["size_mm"]) if g["size_mm"] else None)
    detection = Detection(**{**d, "box": tuple(d["box"]), "centre": tuple(d["centre"]),
                             "axes": tuple(d["axes"]),
                             "horizon": tuple(d["horizon"]) if d.get("horizon") else None})
    return RectifiedImprint(ink, occlusion, geometry, Quality(**meta["quality"]), detection)


def save(path: str | Path, r: RectifiedImprint) -> None:
    """Write atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes(path, to_bytes(r))


def load(path: str | Path) -> RectifiedImprint:
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UnreadableInputError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    return from_bytes(data, source=str(path))
