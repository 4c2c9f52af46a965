"""``imprint detect``: every imprint in a file, found, separated and rectified."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np

from imprint.io import LoadLimits, iter_pages
from imprint.pipeline import found_and_measured
from imprint.types import Detection, RectifiedImprint

COLOURS_BGR = {"red": (40, 40, 220), "blue": (220, 80, 30), "violet": (170, 40, 140),
               "grey": (90, 90, 90)}


def detect_file(path: Path, *, debug_dir: Path | None = None, pdf_dpi: float = 300.0) -> dict:
    """Detect and rectify every imprint on every page of ``path``; a JSON-ready report. Each
    page gives the ``dpi`` its file states and ``measured_dpi``, the one its imprints are
    measured at: None where the file states a dpi the image cannot have (a page shrunk after
    scanning), its imprints then found as on an image without one and sized in no mm."""
    pages, flat = [], []
    for page in iter_pages(path, limits=LoadLimits(pdf_dpi=pdf_dpi)):
        dpi = page.dpi[0] if page.dpi else None
        t0 = time.perf_counter()
        found, measured_at = found_and_measured(page.image, dpi=dpi, page=page.index)
        dets = [d for d, _ in found]
        rects = [r for _, r in found]
        ms = 1000 * (time.perf_counter() - t0)
        items = []
        for k, (d, r) in enumerate(zip(dets, rects, strict=True)):
            if r is not None and debug_dir is not None:
                _write_crop(debug_dir, path, page.index, k, r)
            items.append(imprint_record(d, r))
        if debug_dir is not None:
            _write_overlay(debug_dir, path, page.index, page.image, dets)
        pages.append({"page": page.index, "dpi": dpi, "measured_dpi": measured_at,
                      "ms": round(ms, 1), "imprints": items})
        flat.extend(items)
    return {"file": str(path), "pages": pages, "imprints": flat}


def imprint_record(d: Detection, r: RectifiedImprint | None) -> dict:
    """One imprint as the CLI's JSON shows it: where it was found and, when it could be
    rectified, its fitted geometry and quality."""
    item = {"page": d.page, "box": [round(v, 1) for v in d.box],
            "shape": d.shape, "colour": d.colour, "confidence": round(d.confidence, 3),
            "centre": [round(v, 2) for v in d.centre], "visible": round(d.visible, 3)}
    if r is not None:
        g, q = r.geometry, r.quality
        item.update({
            "centre": [round(v, 2) for v in g.centre],
            "axes": [round(v, 2) for v in g.axes], "rotation": round(g.rotation, 2),
            "size_mm": [round(v, 2) for v in g.size_mm] if g.size_mm else None,
            "quality": {"border_visible": round(q.border_visible, 3),
                        "ink_coverage": round(q.ink_coverage, 3),
                        "blur": round(q.blur, 2), "occluded": round(q.occluded, 3)}})
    return item


def _write_crop(out: Path, path: Path, page: int, k: int, r) -> None:
    out.mkdir(parents=True, exist_ok=True)
    ink = (255 - np.clip(r.ink, 0, 1) * 255).astype(np.uint8)
    vis = cv2.cvtColor(ink, cv2.COLOR_GRAY2BGR)
    vis[r.occlusion] = (vis[r.occlusion] * 0.5 + np.array([255, 200, 0]) * 0.5).astype(np.uint8)
    cv2.imwrite(str(out / f"{path.stem}_p{page + 1}_imprint{k + 1}.png"), vis)


def _write_overlay(out: Path, path: Path, page: int, image: np.ndarray, dets) -> None:
    out.mkdir(parents=True, exist_ok=True)
    vis = image[..., ::-1].copy()
    thick = max(2, round(max(image.shape[:2]) / 600))
    for k, d in enumerate(dets, 1):
        x0, y0, x1, y1 = (round(v) for v in d.box)
        colour = COLOURS_BGR.get(d.colour, (0, 160, 0))
        cv2.rectangle(vis, (x0, y0), (x1, y1), (0, 170, 0), thick)
        cv2.ellipse(vis, (round(d.centre[0]), round(d.centre[1])),
                    (round(d.axes[0]), round(d.axes[1])), -d.angle, 0, 360, colour, thick)
        cv2.putText(vis, f"{k} {d.shape} {d.confidence:.2f}", (x0, max(y0 - 8, 20)),
                    cv2.FONT_HERSHEY_SIMPLEX, thick / 3, (0, 120, 0), thick)
    cv2.imwrite(str(out / f"{path.stem}_p{page + 1}_overlay.png"), vis)
