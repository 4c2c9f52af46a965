"""The learned embedding: a small CNN on the polar image of a rectified imprint, trained with a
normalised-softmax margin loss (CosFace) on generated imprints so that every imprint of one
physical seal lands near the others and apart from every other seal, look-alike unit names and
numbered siblings included (see ``models/MODEL_CARD.md``, trained by :mod:`models.train`).

Input: the canonical ink map resampled in polar coordinates (:func:`prepare`): ``N_RADII``
rings from the centre out to 1.04 x the border radius, ``N_ANGLES`` angles; occluded samples
filled with their ring's mean, and the occlusion itself as a second channel. Turning the seal
shifts the polar image along the angle axis; the network pads circularly along that axis and
pools over it at the end, so the embedding barely changes with the orientation rectification
chose (it is wrong by large angles in a few per cent of imprints).

Weights: ``models/weights/seal_embed_v1.pt`` (a state dict), checked against the sha256 in
``models/weights/manifest.json`` before use; a missing or damaged file raises
:class:`imprint.errors.ResourceError`. Nothing is ever downloaded.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from imprint.errors import ResourceError
from imprint.types import RectifiedImprint
from models.classical import polar_with_mask

VERSION = "seal-embed-v1"
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
WEIGHTS_FILE = "seal_embed_v1.pt"
MANIFEST_FILE = "manifest.json"
N_RADII = 64
N_ANGLES = 256
MAX_RADIUS = 1.04  # x the border radius
#: Default architecture; the manifest's ``config`` overrides it for the committed weights.
DEFAULT_CONFIG = {"widths": [16, 32, 64, 128, 192], "dimension": 128, "in_channels": 2}
BATCH = 32


# --- input ---------------------------------------------------------------------------------

def prepare(ink: np.ndarray, occlusion: np.ndarray | None = None) -> np.ndarray:
    """``(2, N_RADII, N_ANGLES) uint8``: the polar ink (occluded samples filled with their
    ring's mean) and the polar occlusion mask (0 or 255). What the network reads, / 255."""
    # the classical descriptor's resampling (same centre, radius 1.04 x the border's)
    p, occ = polar_with_mask(np.asarray(ink), occlusion, n_angles=N_ANGLES, n_radii=N_RADII)
    out = np.empty((2, N_RADII, N_ANGLES), np.uint8)
    out[0] = np.rint(np.clip(p, 0.0, 1.0) * 255.0)
    out[1] = occ.astype(np.uint8) * 255
    return out


# --- network -------------------------------------------------------------------------------

def _pad(x: torch.Tensor) -> torch.Tensor:
    """Pad one sample each side: circularly along angle (last axis), zeros along radius."""
    return F.pad(F.pad(x, (1, 1, 0, 0), mode="circular"), (0, 0, 1, 1))


class PolarConv(nn.Module):
    """3x3 convolution + batch norm, circular along angle."""

    def __init__(self, cin: int, cout: int, stride: tuple[int, int] = (1, 1)):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, stride=stride, padding=0, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(_pad(x)))


class Block(nn.Module):
    """Residual block: two polar convolutions, the first with ``stride``."""

    def __init__(self, cin: int, cout: int, stride: tuple[int, int]):
        super().__init__()
        self.a = PolarConv(cin, cout, stride)
        self.b = PolarConv(cout, cout)
        self.skip = None
        if cin != cout or stride != (1, 1):
            self.skip = nn.Sequential(nn.AvgPool2d(stride, stride) if stride != (1, 1)
                                      else nn.Identity(),
                                      nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.b(F.relu(self.a(x)))
        return F.relu(y + (x if self.skip is None else self.skip(x)))


class SealNet(nn.Module):
    """Polar CNN -> pooling over angle (mean and max, per radius band) -> unit vector."""

    def __init__(self, widths: Sequence[int] = (16, 32, 64, 128, 192), dimension: int = 128,
                 in_channels: int = 2):
        super().__init__()
        w = list(widths)
        self.stem = PolarConv(in_channels, w[0], (1, 2))  # 64 x 128
        strides = [(2, 2), (2, 2), (2, 2), (1, 2)]  # -> 32x64, 16x32, 8x16, 8x8
        self.blocks = nn.Sequential(*[Block(w[i], w[i + 1], s) for i, s in enumerate(strides)])
        n_rad = N_RADII // 8
        self.head = nn.Sequential(nn.Dropout(0.1), nn.Linear(2 * w[-1] * n_rad, dimension),
                                  nn.BatchNorm1d(dimension))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Un-normalised embedding of ``(B, 2, N_RADII, N_ANGLES)`` inputs in [0, 1]."""
        y = self.blocks(F.relu(self.stem(x)))  # (B, C, R', A')
        pooled = torch.cat([y.mean(dim=3), y.amax(dim=3)], dim=1)  # invariant to angle shifts
        return self.head(pooled.flatten(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.features(x), dim=1)


def build(config: dict) -> SealNet:
    return SealNet(config["widths"], config["dimension"], config.get("in_channels", 2))


# --- weights -------------------------------------------------------------------------------

def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_manifest(weights_dir: Path | None = None) -> dict:
    path = Path(weights_dir or WEIGHTS_DIR) / MANIFEST_FILE
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ResourceError(f"learned embedder: manifest {path} is missing; retrain with "
                            "`python -m models.train --out models/weights`") from exc
    except (OSError, ValueError) as exc:
        raise ResourceError(f"learned embedder: manifest {path} is unreadable: {exc}") from exc
    for key in ("file", "sha256", "dimension", "config"):
        if key not in manifest:
            raise ResourceError(f"learned embedder: manifest {path} lacks {key!r}")
    return manifest


def load_model(weights_dir: Path | None = None) -> tuple[SealNet, dict]:
    """The network with its committed weights, in eval mode, and the manifest. Raises
    :class:`ResourceError` if the weights are missing, damaged or do not fit."""
    weights_dir = Path(weights_dir or WEIGHTS_DIR)
    manifest = read_manifest(weights_dir)
    path = weights_dir / manifest["file"]
    if not path.is_file():
        raise ResourceError(f"learned embedder: weights file {path} is missing; retrain with "
                            "`python -m models.train --out models/weights`")
    digest = sha256_file(path)
    if digest != manifest["sha256"]:
        raise ResourceError(f"learned embedder: weights file {path} is damaged (sha256 "
                            f"{digest[:12]}..., manifest says {manifest['sha256'][:12]}...)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        model = build(manifest["config"])
        model.load_state_dict({k: v.float() if v.is_floating_point() else v
                               for k, v in state.items()})
    except Exception as exc:  # any failure here means unusable weights
        raise ResourceError(f"learned embedder: weights file {path} cannot be loaded: {exc}"
                            ) from exc
    model.eval()
    return model, manifest


class LearnedEmbedder:
    """The trained network as an :class:`models.embedder.Embedder`."""

    def __init__(self, weights_dir: str | Path | None = None, batch_size: int = BATCH):
        self._model, manifest = load_model(Path(weights_dir) if weights_dir else None)
        self.dimension = int(manifest["dimension"])
        self.model_id = f"{VERSION}-{manifest['sha256'][:8]}"
        self.batch_size = batch_size

    def embed_prepared(self, inputs: np.ndarray) -> np.ndarray:
        """Embed ``(n, 2, N_RADII, N_ANGLES) uint8`` inputs from :func:`prepare`."""
        out = np.zeros((len(inputs), self.dimension), np.float32)
        with torch.inference_mode():
            for i in range(0, len(inputs), self.batch_size):
                x = torch.from_numpy(np.ascontiguousarray(inputs[i:i + self.batch_size]))
                out[i:i + len(x)] = self._model(x.float() / 255.0).numpy()
        # unit length in float32 whatever rounding the network's normalisation left
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out

    def embed(self, imprints: Sequence[RectifiedImprint]) -> np.ndarray:
        """``(len(imprints), dimension) float32``, rows of unit length."""
        if len(imprints) == 0:
            return np.zeros((0, self.dimension), np.float32)
        x = np.stack([prepare(imp.ink, imp.occlusion) for imp in imprints])
        return self.embed_prepared(x)
