"""The round seal's up-finder: its committed weights, its numpy inference against the torch
network it was trained as, and its turning with the imprint."""

import hashlib
import json

import numpy as np
import pytest

from models import train_upright, upright
from models.upright import N_ANGLES, N_RADII


def _layout(seed: int) -> np.ndarray:
    """An input with the structure of a seal's: a border ring, an arc of blobs, a hidden
    patch."""
    rng = np.random.default_rng(seed)
    x = np.zeros((2, N_RADII, N_ANGLES), np.float32)
    x[0, 29:31] = 0.8
    for k in range(0, 80, 5):
        x[0, 19:25, k:k + 3] = rng.uniform(0.3, 1.0)
    x[0, 2:8, 50:70] = 0.6
    x[1, 10:30, 90:105] = 1.0
    x[0] *= 1 - x[1]
    return x


def test_committed_weights_match_their_manifest():
    manifest = json.loads(upright.WEIGHTS.with_suffix(".json").read_text("utf-8"))
    assert manifest["sha256"] == hashlib.sha256(upright.WEIGHTS.read_bytes()).hexdigest()
    assert manifest["input"]["shape"] == [2, N_RADII, N_ANGLES]
    # trained on training seeds only, none of the benchmarks' or the development pages'
    assert {s["seed"] for s in manifest["training"]["sets"]} == {558, 559, 560}


def test_scores_are_log_probabilities_that_turn_with_the_imprint():
    x = _layout(0)
    scores = upright.up_scores(x)
    assert scores.shape == (N_ANGLES,)
    assert np.exp(scores).sum() == pytest.approx(1.0, abs=1e-4)
    for shift in (1, 17, 60, 119):
        turned = upright.up_scores(np.roll(x, shift, axis=2))
        np.testing.assert_allclose(turned, np.roll(scores, shift), atol=1e-4)


def test_numpy_inference_is_the_trained_network(monkeypatch):
    """The weights folded for numpy give the torch network's own log-probabilities (batch
    norms with running statistics of their own, so that folding them is checked)."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(3)
    net = train_upright.build_net()
    for m in net.modules():
        if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.1, 0.1)
    net.eval()
    monkeypatch.setattr(upright, "_weights", lambda: train_upright.folded(net))
    xs = np.stack([_layout(s) for s in range(3)])
    with torch.no_grad():
        expected = torch.log_softmax(net(torch.as_tensor(xs)), 1).numpy()
    for x, want in zip(xs, expected, strict=True):
        np.testing.assert_allclose(upright.up_scores(x), want, atol=1e-4)


@pytest.mark.parametrize(("peak", "expected"), [(10.0, 30.0), (10.4, 31.2), (119.0, 357.0)])
def test_up_angle_falls_between_columns(peak, expected):
    k = np.arange(N_ANGLES)
    d = (k - peak + N_ANGLES / 2) % N_ANGLES - N_ANGLES / 2
    scores = -0.5 * d ** 2
    scores = scores - np.log(np.exp(scores).sum())
    angle = upright.up_angle(scores)
    assert abs((angle - expected + 180) % 360 - 180) <= 0.3
    assert 0.9 < upright.up_mass(scores, angle, 6.0) <= 1.0


def test_up_is_looked_for_near_an_end_when_asked():
    """An oval's up is read near one end of its minor axis: the best column within the reach,
    not the best round the circle."""
    scores = np.full(N_ANGLES, -20.0)
    scores[40] = -0.1  # the best overall, 120 degrees
    scores[[1, 2, 3]] = [-3.0, -2.0, -3.0]  # a lesser peak at 6 degrees
    angle = upright.up_angle(scores, near=0.0, reach=12.0)
    assert angle == pytest.approx(6.0, abs=0.01)
    assert upright.up_angle(scores) == pytest.approx(120.0, abs=0.5)
    assert upright.up_mass(scores, 120.0, 12.0) > upright.up_mass(scores, 0.0, 12.0)
