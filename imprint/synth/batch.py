"""Many imprints of one kind of seal, genuine or forged, with a ground-truth manifest."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from imprint.errors import InvalidParameterError
from imprint.synth.dataset import ensure_writable_dir, file_dpi, write_image, write_jsonl
from imprint.synth.design import SEAL_KINDS
from imprint.synth.forgery import FORGERY_KINDS, LEVELS, make_forgery
from imprint.synth.medium import CAPTURES, sample_capture
from imprint.synth.registry import SealRecord, random_spec
from imprint.synth.scene import Stamping, imprint_scene
from imprint.synth.stamping import QUALITIES, sample_conditions

MAX_COUNT = 100_000


def make_imprints(out_dir: str | Path, *, kind: str, count: int, seed: int,
                  forgery: str = "none", level: str = "clear", quality: str = "typical",
                  capture: str = "", dpi: int = 300) -> list[dict]:
    """Write ``count`` imprints, each of a new seal of ``kind``; forged if ``forgery`` is one of
    :data:`FORGERY_KINDS`. Returns the manifest rows (also written to ``manifest.jsonl``)."""
    if kind not in SEAL_KINDS:
        raise InvalidParameterError(f"unknown seal kind {kind!r}; choose one of "
                                    f"{', '.join(SEAL_KINDS)}")
    if forgery != "none" and forgery not in FORGERY_KINDS:
        raise InvalidParameterError(f"unknown forgery {forgery!r}; choose none or one of "
                                    f"{', '.join(FORGERY_KINDS)}")
    if level not in LEVELS:
        raise InvalidParameterError(f"unknown level {level!r}; choose one of {', '.join(LEVELS)}")
    if quality not in QUALITIES:
        raise InvalidParameterError(f"unknown quality {quality!r}; choose one of "
                                    f"{', '.join(QUALITIES)}")
    if capture and capture not in CAPTURES:
        raise InvalidParameterError(f"unknown capture {capture!r}; choose one of "
                                    f"{', '.join(CAPTURES)}")
    if not isinstance(count, int) or not 0 <= count <= MAX_COUNT:
        raise InvalidParameterError(f"count must be an integer in 0..{MAX_COUNT}, got {count!r}")
    if not 72 <= dpi <= 1200:
        raise InvalidParameterError(f"dpi must be in 72..1200, got {dpi}")
    out = Path(out_dir)
    ensure_writable_dir(out)
    rows = []
    for i in range(count):
        rng = np.random.default_rng([seed, 99, i])
        spec = random_spec(rng, kind)
        rec = SealRecord(f"K{i:06d}", spec.unit_name, "", spec, "noto-serif-sc",
                         int(rng.integers(2**31)))
        face = rec.face()
        made = make_forgery(forgery, face, rng, level) if forgery != "none" else None
        stamped = made.face if made is not None and made.face is not None else face
        st = Stamping(stamped, sample_conditions(rng, quality), spec.ink,
                      None if made else rec.seal_id, rec.seal_id, made)
        cap = sample_capture(rng, capture or None)
        image, truth = imprint_scene(st, dpi=dpi, rng=rng, capture=cap)
        ext = "jpg" if cap.jpeg_quality else "png"
        rel = f"{kind}_{i:06d}.{ext}"
        stated = file_dpi(cap, dpi)
        write_image(out / rel, image, stated, cap.jpeg_quality)
        rows.append({"file": rel, "dpi": stated, "page_dpi": dpi,
                     "capture": cap.mode, "seal": rec.to_json(),
                     "imprints": [truth.to_json()]})
    write_jsonl(out / "manifest.jsonl", rows)
    return rows
