"""Deviations from a master: two imprints of one counterfeit seal depart from the master the
same way; another counterfeit of the same seal departs otherwise."""

from __future__ import annotations

import dataclasses
import math

import cv2
import numpy as np
import pytest

from imprint.deviation import DEVIATION_SIZE, agreement, deviation, master_face
from imprint.pipeline import single_imprint
from imprint.synth.forgery import recarve
from imprint.synth.medium import Capture
from imprint.synth.registry import make_registry
from imprint.synth.scene import Stamping, imprint_scene
from imprint.synth.stamping import sample_conditions

DPI = 300
SCAN = Capture("scan", 0, 0.3, 0.003)


def _stamped(face, ink: str, seed: int, quality: str = "typical", clutter: bool = True):
    rng = np.random.default_rng(seed)
    st = Stamping(face, sample_conditions(rng, quality), ink, None, "claimed")
    image, _ = imprint_scene(st, dpi=DPI, rng=rng, clutter=clutter, capture=SCAN)
    return single_imprint(image, dpi=DPI)


@pytest.fixture(scope="module")
def seal():
    (a,) = [r for r in make_registry(20, np.random.default_rng(4300), lookalike_rate=0,
                                     sibling_rate=0) if r.spec.kind == "round_official"][:1]
    return a, _stamped(a.face(), a.spec.ink, 1, "clean", clutter=False)


@pytest.mark.parametrize("level, same_at_least, other_below, margin", [
    ("clear", 0.75, 0.4, 0.3),
    # two subtle re-carvings of one seal differ by a fifth of a millimetre here and there:
    # they agree less than two imprints of one fake, by less than two clear re-carvings
    ("subtle", 0.65, 0.65, 0.1)])
def test_imprints_of_one_fake_agree_and_another_fake_does_not(seal, level, same_at_least,
                                                              other_below, margin):
    record, master = seal
    fake = recarve(record.face().design, np.random.default_rng(1), level).face
    other = recarve(record.face().design, np.random.default_rng(8), level).face
    first, second = (deviation(_stamped(fake, record.spec.ink, s), master, "m1")
                     for s in (11, 12))
    third = deviation(_stamped(other, record.spec.ink, 13), master, "m1")
    assert first.residual.shape == first.known.shape == (DEVIATION_SIZE, DEVIATION_SIZE)
    same = agreement(first, second)
    assert same >= same_at_least
    assert agreement(first, third) < min(other_below, same - margin)
    assert agreement(second, third) < min(other_below, same - margin)


def test_deviations_from_different_masters_are_not_compared(seal):
    record, master = seal
    query = _stamped(record.face(), record.spec.ink, 21)
    assert math.isnan(agreement(deviation(query, master, "m1"), deviation(query, master, "m2")))


def test_the_masters_own_ink_accidents_are_not_carried_into_deviations(seal):
    """A master's mottle would be subtracted from every deviation measured against it, making
    genuine imprints of the seal look like imprints of one fake; only its face is rendered."""
    record, master = seal
    rng = np.random.default_rng(5)
    mottle = cv2.GaussianBlur(rng.uniform(0, 1, master.ink.shape).astype(np.float32), (0, 0),
                              1.5)
    mottle = 0.45 + 0.55 * (mottle - mottle.min()) / (mottle.max() - mottle.min())
    mottled = dataclasses.replace(master, ink=(master.ink * mottle).astype(np.float32))
    face, plain = master_face(mottled), master_face(master)
    assert np.abs(face - plain).sum() < 0.05 * plain.sum()  # a stroke's edge pixels at most
    first, second = (deviation(_stamped(record.face(), record.spec.ink, s), mottled, "m1")
                     for s in (21, 22))
    # 0.25 when the mottled ink itself was rendered
    assert agreement(first, second) < 0.15
