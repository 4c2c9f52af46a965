"""A contact sheet: every seal kind, imprint condition and forgery side by side, labelled."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from imprint.synth.forgery import Forgery, photo_engrave, recarve
from imprint.synth.medium import Capture
from imprint.synth.registry import SealRecord, random_spec
from imprint.synth.scene import Stamping, imprint_scene
from imprint.synth.stamping import StampConditions

TILE = 300


def _tile(image: np.ndarray, label: str) -> np.ndarray:
    tile = cv2.resize(image, (TILE, TILE), interpolation=cv2.INTER_AREA)
    cv2.rectangle(tile, (0, TILE - 26), (TILE, TILE), (255, 255, 255), -1)
    cv2.putText(tile, label, (6, TILE - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (20, 20, 20), 1,
                cv2.LINE_AA)
    return tile


def contact_sheet(path: str | Path, seed: int = 2026, dpi: int = 300) -> Path:
    """Write a labelled grid of generated imprints to ``path`` (PNG) and return the path."""
    rng = np.random.default_rng(seed)
    base = StampConditions(angle=0.0, ink=0.1, centre_light=0.2, edge_dark=0.3, seed=1)

    def record(kind, **over):
        spec = random_spec(rng, kind)
        spec = replace(spec, **over)
        return SealRecord("demo", spec.unit_name, "", spec, "noto-serif-sc",
                          int(rng.integers(2**31)))

    official = record("round_official", business_line="合同专用章", code="4101020123456",
                      ink="red", diameter=42.0)
    kinds = [
        (official, "round official 42 mm"),
        (record("round_government", ink="red", diameter=58.0), "government 58 mm"),
        (record("oval_invoice", ink="red"), "oval invoice 40x30"),
        (record("square_name", ink="red", diameter=18.0), "square name seal"),
        (record("round_official", business_line="财务专用章", number=2, ink="blue", code=""),
         "numbered (2), blue"),
        (record("round_official", ink="violet", business_line=""), "violet ink"),
    ]
    rows = []

    def scene(face, cond, label, capture=None, forgery=None, clutter=False):
        st = Stamping(face, cond, "red", "demo", "demo", forgery)
        image, _ = imprint_scene(st, dpi=dpi, rng=np.random.default_rng(cond.seed),
                                 capture=capture or Capture("scan"), clutter=clutter)
        return _tile(image, label)

    row = []
    for rec, label in kinds:
        st = Stamping(rec.face(), replace(base, angle=float(rng.uniform(-20, 20))), rec.spec.ink,
                      "demo", "demo")
        image, _ = imprint_scene(st, dpi=dpi, rng=np.random.default_rng(3), clutter=False)
        row.append(_tile(image, label))
    rows.append(row)
    face = official.face()
    conditions = [
        (replace(base, ink=-0.8, seed=2), "starved ink"),
        (replace(base, ink=0.9, seed=3), "flooded ink"),
        (replace(base, partial=0.4, pressure_tilt=0.8, pressure_dir=60, seed=4), "partial"),
        (replace(base, double_strike=(0.6, 45.0, 0.6), seed=5), "double strike"),
        (replace(base, smear=(1.2, 100.0), seed=6), "smear"),
        (replace(base, centre_light=0.5, edge_dark=0.7, seed=7), "light centre, dark edge"),
    ]
    rows.append([scene(face, c, label, clutter=True) for c, label in conditions])
    captures = [
        (Capture("scan", 75, 0.5, 0.01), "scan 150 dpi, JPEG 75", 150),
        (Capture("photocopy", 0, 0.6, 0.02), "photocopy", dpi),
        (Capture("fax"), "fax", dpi),
        (Capture("phone", 85, 1.0, 0.02, 28.0, 30.0), "phone photo, 28 deg", dpi),
    ]
    row = []
    for cap, label, cap_dpi in captures:
        st = Stamping(face, replace(base, angle=25.0, seed=8), "red", "demo", "demo")
        image, _ = imprint_scene(st, dpi=cap_dpi, rng=np.random.default_rng(9), capture=cap)
        row.append(_tile(image, label))
    frng = np.random.default_rng(seed + 1)
    printed = Forgery("printed", "", {}, None)
    row.append(scene(recarve(face.design, frng, "clear").face, replace(base, seed=10),
                     "re-carved, clear"))
    row.append(scene(recarve(face.design, frng, "subtle").face, replace(base, seed=11),
                     "re-carved, subtle"))
    rows.append(row)
    rows.append([
        scene(photo_engrave(face, frng).face, replace(base, seed=12), "photo-engraved copy"),
        scene(face, replace(base, seed=13), "printed imitation", forgery=printed),
        scene(face, replace(base, seed=14), "genuine (for comparison)"),
    ])
    width = max(len(r) for r in rows) * TILE
    sheet = np.full((len(rows) * TILE, width, 3), 255, np.uint8)
    for i, r in enumerate(rows):
        for j, tile in enumerate(r):
            sheet[i * TILE:(i + 1) * TILE, j * TILE:(j + 1) * TILE] = tile
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), sheet[..., ::-1])
    return path
