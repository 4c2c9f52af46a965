"""Which way is up on a round or an oval seal: a small network over the imprint's polar layout.

A round seal's up is the middle of its name arc, where the star's top tip points, opposite
the horizontal text and the code along the bottom. Read from hand-made cues (the star's five
tips, the layout's mirror axis, where the name arc's ink lies) it fails where part of the
seal is hidden or crossed: another imprint stamped over it, print left in a fax's ink, a
border cut by the page edge. This network reads the whole layout at once and scores every
direction round the circle as the seal's up. An oval seal's up is one end of its minor axis,
and on a photograph its text can lie a few degrees off its fitted ellipse: the same scores
choose the end and read that turn (:func:`up_angle` with ``near``).

The input is the unturned canonical imprint in polar form (:func:`polar_input`): rows are
radii from the centre to the border, columns clock angles, two channels (ink, and where the
imprint is hidden). Every layer is a convolution that wraps round the circle along the
angle, so turning the imprint shifts the scores by the same angle; the last layers see the
whole circle. Trained with :mod:`models.train_upright` on generated imprints of training
seeds only; inference here is plain numpy (no torch in the imaging stage, and nothing that
a forked worker process could deadlock on).
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

WEIGHTS = Path(__file__).resolve().parent / "weights" / "upright_v1.npz"
N_ANGLES = 120  # columns: clock angle 3 k degrees
N_RADII = 32  # rows: radius (j + 0.5) / 32 of the border's
WIDTHS = (16, 32, 48, 64)
HIDDEN = 64
DILATIONS = (1, 3, 9, 27)
#: the 2D layers: (input width, output width, stride along the radius)
LAYERS = ((2, WIDTHS[0], 1), (WIDTHS[0], WIDTHS[1], 2), (WIDTHS[1], WIDTHS[1], 1),
          (WIDTHS[1], WIDTHS[2], 2), (WIDTHS[2], WIDTHS[2], 1), (WIDTHS[2], WIDTHS[3], 2))


def polar_input(polar_ink: np.ndarray, polar_hidden: np.ndarray) -> np.ndarray:
    """``(2, N_RADII, N_ANGLES) float32`` network input from a polar sampling of the ink and
    of the hidden mask, ``(A, R)`` each with ``A`` a multiple of :data:`N_ANGLES` and ``R`` of
    :data:`N_RADII` (row k the clock angle 360 k / A, column j the radius j / R of the
    border's); hidden samples carry no ink."""
    a, r = polar_ink.shape
    ink = polar_ink.reshape(N_ANGLES, a // N_ANGLES, N_RADII, r // N_RADII).mean((1, 3))
    hid = polar_hidden.reshape(N_ANGLES, a // N_ANGLES, N_RADII, r // N_RADII).mean((1, 3))
    hid = (hid > 0.5).astype(np.float32)
    return np.stack([ink.T * (1 - hid.T), hid.T]).astype(np.float32)


def _conv2d(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int) -> np.ndarray:
    """3 x 3 convolution of ``x`` ``(C, R, A)``, wrapping round along A, zero-padded along R,
    ``stride`` along R; then ReLU."""
    c, r, a = x.shape
    p = np.concatenate([x[:, :, -1:], x, x[:, :, :1]], axis=2)
    p = np.pad(p, ((0, 0), (1, 1), (0, 0)))
    rows = (r + 2 - 3) // stride + 1
    cols = np.empty((c, 3, 3, rows, a), np.float32)
    for i in range(3):
        for j in range(3):
            cols[:, i, j] = p[:, i:i + stride * (rows - 1) + 1:stride, j:j + a]
    y = w.reshape(w.shape[0], -1) @ cols.reshape(c * 9, rows * a) + b[:, None]
    return np.maximum(y, 0).reshape(-1, rows, a)


def _ring(x: np.ndarray, w: np.ndarray, b: np.ndarray, d: int) -> np.ndarray:
    """Residual circular convolution along the angle, kernel 5, dilation ``d``; then ReLU."""
    c, a = x.shape
    idx = (np.arange(a)[None, :] + d * (np.arange(5)[:, None] - 2)) % a  # (5, a)
    cols = x[:, idx]  # (c, 5, a)
    y = w.reshape(w.shape[0], -1) @ cols.reshape(c * 5, a) + b[:, None]
    return np.maximum(x + y, 0)


@functools.lru_cache(maxsize=1)
def _weights() -> dict[str, np.ndarray]:
    with np.load(WEIGHTS) as z:
        return {k: z[k].astype(np.float32) for k in z.files}


def up_scores(x: np.ndarray) -> np.ndarray:
    """``(N_ANGLES,)`` log-probabilities that the seal's up lies at each clock angle 3 k
    degrees, for the input ``x`` of :func:`polar_input`."""
    w = _weights()
    y = x
    for k, (_, _, stride) in enumerate(LAYERS):
        y = _conv2d(y, w[f"c{k}.w"], w[f"c{k}.b"], stride)
    y = y.reshape(-1, N_ANGLES)
    y = np.maximum(w["proj.w"] @ y + w["proj.b"][:, None], 0)
    for k, d in enumerate(DILATIONS):
        y = _ring(y, w[f"r{k}.w"], w[f"r{k}.b"], d)
    logits = (w["out.w"] @ y + w["out.b"][:, None])[0]
    logits = logits - logits.max()
    return logits - np.log(np.exp(logits).sum())


def _window(n: int, centre: float, reach: float) -> np.ndarray:
    """Columns of ``n`` round the circle within ``reach`` degrees of clock angle ``centre``."""
    step = 360.0 / n
    span = int(reach // step)
    return (round(centre / step) + np.arange(-span, span + 1)) % n


def up_angle(scores: np.ndarray, near: float | None = None, reach: float = 180.0) -> float:
    """Clock angle (degrees) of the best-scored up, between columns where the scores' peak
    falls between them (a parabola through the peak and its neighbours). With ``near``: the
    best within ``reach`` degrees of that angle."""
    n = len(scores)
    cols = np.arange(n) if near is None else _window(n, near, reach)
    k = int(cols[np.argmax(scores[cols])])
    lo, mid, hi = scores[(k - 1) % n], scores[k], scores[(k + 1) % n]
    curve = lo - 2 * mid + hi
    shift = 0.5 * (lo - hi) / curve if curve < 0 and mid >= max(lo, hi) else 0.0
    return float((k + shift) * 360.0 / n) % 360.0


def up_mass(scores: np.ndarray, centre: float, reach: float) -> float:
    """Probability that the up lies within ``reach`` degrees of clock angle ``centre``."""
    return float(np.exp(scores[_window(len(scores), centre, reach)]).sum())
