"""The bundled typefaces: present, licensed, covering every character the generator writes,
and distinct from each other."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from imprint.synth import names
from imprint.synth.design import BUSINESS_LINES, SealDesign, SealSpec, layout
from imprint.synth.glyphs import FONT_DIR, TYPEFACES, charset, glyph_outline
from imprint.synth.render import SealFace, render_centred


def _generator_characters() -> set[str]:
    chars = set("0123456789()ABCDEFGHJKLMNPQRTUWXY印")
    for value in vars(names).values():
        if isinstance(value, str):
            chars |= set(value)
        elif isinstance(value, tuple):
            chars |= {c for item in value if isinstance(item, str) for c in item}
    for line in BUSINESS_LINES:
        chars |= set(line)
    return chars - {" ", "\n"}


def test_fonts_and_licences_are_bundled():
    for filename in TYPEFACES.values():
        assert (FONT_DIR / filename).stat().st_size > 100_000
    assert (FONT_DIR / "LICENSE-OFL-1.1.txt").is_file()
    assert (FONT_DIR / "LICENSE-Arphic.txt").is_file()
    covered = charset()
    assert len([c for c in covered if ord(c) >= 0x4E00]) >= 3755  # GB2312 level 1


def test_every_generated_character_is_in_every_typeface():
    missing = {face: [c for c in _generator_characters() if not glyph_outline(face, c).contours]
               for face in TYPEFACES}
    assert missing == {face: [] for face in TYPEFACES}


def test_typefaces_draw_different_shapes():
    spec = SealSpec("square_name", "", person_name="国章", diameter=18.0)
    renders = {}
    for face in TYPEFACES:
        design: SealDesign = layout(spec, face)
        design = replace(design, border=replace(design.border, line=0.0))  # glyphs only
        renders[face] = render_centred(SealFace(design), 300) > 0.5
    faces = list(renders)
    for i in range(len(faces)):
        for j in range(i + 1, len(faces)):
            a, b = renders[faces[i]], renders[faces[j]]
            assert (a & b).sum() / (a | b).sum() < 0.9


def test_cell_is_normalised_to_the_reference_character():
    for face in TYPEFACES:
        pts = np.concatenate(glyph_outline(face, "国").contours)
        assert np.allclose(pts.min(0), -0.5, atol=1e-6) and np.allclose(pts.max(0), 0.5, atol=1e-6)
