"""The learned embedder: interface (shape, unit length, determinism, empty batch), robustness to
the seal's turn, the weights' checksum, and same seal nearer than other seals."""

from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest

from imprint.errors import ResourceError
from imprint.pipeline import rectified_imprints
from imprint.synth.defects import new_seal
from imprint.synth.design import layout
from imprint.synth.medium import Capture
from imprint.synth.registry import random_spec
from imprint.synth.scene import Stamping, imprint_scene
from imprint.synth.stamping import StampConditions
from models import learned
from models.embedder import Embedder, get_embedder


def _imprint(face, angle: float, seed: int, dpi: int = 200):
    image, _ = imprint_scene(Stamping(face, StampConditions(angle=angle, seed=seed), "red", "S",
                                      "S"), dpi=dpi, rng=np.random.default_rng(seed),
                             capture=Capture("scan"))
    (imp,) = rectified_imprints(image, dpi=dpi)
    return imp


@pytest.fixture(scope="module")
def embedder():
    return get_embedder("learned")


@pytest.fixture(scope="module")
def imprints():
    """Three seals (two of them the same kind), each stamped twice at different turns."""
    rng = np.random.default_rng(9100)
    faces = [new_seal(layout(random_spec(rng, kind)), rng)
             for kind in ("round_official", "round_official", "oval_invoice")]
    return [(_imprint(f, 3.0, 30 + i), _imprint(f, 60.0 + 50 * i, 40 + i))
            for i, f in enumerate(faces)]


def test_interface(embedder, imprints):
    assert isinstance(embedder, Embedder)
    assert embedder.model_id.startswith(learned.VERSION + "-")
    assert len(embedder.model_id.rsplit("-", 1)[1]) == 8
    flat = [p for pair in imprints for p in pair]
    v = embedder.embed(flat)
    assert v.shape == (len(flat), embedder.dimension) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    # deterministic, and the same whatever the batch it is embedded in
    np.testing.assert_array_equal(v, embedder.embed(flat))
    np.testing.assert_allclose(embedder.embed(flat[2:3])[0], v[2], atol=1e-5)


def test_empty_batch(embedder):
    v = embedder.embed([])
    assert v.shape == (0, embedder.dimension) and v.dtype == np.float32


def _turned(imp, deg: float):
    m = cv2.getRotationMatrix2D((256.0, 256.0), deg, 1.0)
    ink = cv2.warpAffine(imp.ink, m, (512, 512), flags=cv2.INTER_LINEAR)
    occ = cv2.warpAffine(imp.occlusion.astype(np.uint8), m, (512, 512),
                         flags=cv2.INTER_NEAREST) > 0
    return ink, occ


def test_turning_the_canonical_imprint_barely_changes_the_vector(embedder, imprints):
    imp = imprints[0][0]
    base = learned.prepare(imp.ink, imp.occlusion)
    # a turn by whole angle steps is an exact circular shift of the polar input (exactly
    # invariant for multiples of the network's stride along angle, nearly so for the others)
    shifted = np.roll(base, 77, axis=2)
    turned = [learned.prepare(*_turned(imp, d)) for d in (90.0, 37.0, -143.0)]
    v = embedder.embed_prepared(np.stack([base, shifted, *turned]))
    sims = v[1:] @ v[0]
    assert sims[0] > 0.95, sims
    assert sims.min() > 0.9, sims


def test_same_seal_is_nearer_than_any_other(embedder, imprints):
    a = embedder.embed([p for p, _ in imprints])
    b = embedder.embed([q for _, q in imprints])
    sim = b @ a.T
    for i in range(len(imprints)):
        assert sim[i].argmax() == i, sim.round(3)


@pytest.fixture()
def weights_copy(tmp_path, monkeypatch):
    d = tmp_path / "weights"
    shutil.copytree(learned.WEIGHTS_DIR, d)
    monkeypatch.setattr(learned, "WEIGHTS_DIR", d)
    return d


def test_intact_copy_loads(weights_copy):
    assert get_embedder("learned").dimension > 0


def test_damaged_weights_are_refused(weights_copy):
    path = weights_copy / learned.WEIGHTS_FILE
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ResourceError, match="damaged"):
        get_embedder("learned")


def test_missing_weights_are_refused(weights_copy):
    (weights_copy / learned.WEIGHTS_FILE).unlink()
    with pytest.raises(ResourceError, match="missing"):
        get_embedder("learned")
    (weights_copy / learned.MANIFEST_FILE).unlink()
    with pytest.raises(ResourceError, match="manifest"):
        get_embedder("learned")
