"""The classical descriptor: the same seal under different turns and stampings lies closer
than other seals, and the aligned correlation finds the turn between two imprints."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest

from imprint.rectify import CANONICAL_SIZE, rectify
from imprint.segment import detect_imprints
from imprint.synth.defects import new_seal
from imprint.synth.design import layout
from imprint.synth.medium import Capture
from imprint.synth.registry import random_spec
from imprint.synth.scene import Stamping, imprint_scene
from imprint.synth.stamping import StampConditions
from models.classical import DIMENSION, aligned_correlation, describe


def _imprint(face, angle: float, seed: int):
    image, _ = imprint_scene(Stamping(face, StampConditions(angle=angle, seed=seed), "red", "S",
                                      "S"), dpi=300, rng=np.random.default_rng(seed),
                             capture=Capture("scan"))
    (det,) = detect_imprints(image, dpi=300)
    return rectify(image, det, dpi=300)


@pytest.fixture(scope="module")
def imprints():
    rng = np.random.default_rng(404)
    faces = [new_seal(layout(random_spec(rng, "round_official")), rng) for _ in range(4)]
    return [(_imprint(f, 0.0, 10 + i), _imprint(f, 70.0 + 40 * i, 20 + i))
            for i, f in enumerate(faces)]


def test_descriptor_is_unit_length_and_fixed_size(imprints):
    v = describe(imprints[0][0])
    assert v.shape == (DIMENSION,) and v.dtype == np.float32
    assert np.linalg.norm(v) == pytest.approx(1.0, abs=1e-5)


def test_same_seal_is_nearer_than_any_other(imprints):
    a = np.stack([describe(p) for p, _ in imprints])
    b = np.stack([describe(q) for _, q in imprints])
    sim = a @ b.T
    for i in range(len(imprints)):
        assert sim[i].argmax() == i, sim.round(3)


def test_aligned_correlation_recovers_the_turn(imprints):
    for p, q in imprints:
        same, turn = aligned_correlation(q, p)
        # rectification turns both upright; what is left is small
        assert abs(turn) <= 3.0
        # a quarter turn about the canonical centre (where the polar images are centred)
        m = cv2.getRotationMatrix2D((CANONICAL_SIZE / 2, CANONICAL_SIZE / 2), 90, 1.0)
        size = (CANONICAL_SIZE, CANONICAL_SIZE)
        turned = replace(q, ink=cv2.warpAffine(q.ink, m, size),
                         occlusion=cv2.warpAffine(q.occlusion.astype(np.uint8), m, size) > 0)
        score_t, turn_t = aligned_correlation(turned, p)
        assert abs(abs(turn_t) - 90.0) <= 3.0 and score_t == pytest.approx(same, abs=0.05)
    other, _ = aligned_correlation(imprints[0][1], imprints[1][0])
    assert other < min(aligned_correlation(q, p)[0] for p, q in imprints)
