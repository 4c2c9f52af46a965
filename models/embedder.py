"""Embedders: a rectified imprint in, a unit-length vector out, for the FAISS index.

Two are available: ``classical`` (the rotation-invariant polar Fourier descriptor,
:mod:`models.classical`) and ``learned`` (the torch network, :mod:`models.learned`, with its
committed weights). :data:`DEFAULT_EMBEDDER` names the one the engine uses unless told
otherwise; the benchmark (``python -m bench identify``) measures them side by side.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from imprint.errors import InvalidParameterError
from imprint.types import RectifiedImprint

EMBEDDERS = ("classical", "learned")
DEFAULT_EMBEDDER = "classical"


@runtime_checkable
class Embedder(Protocol):
    """``model_id`` names the model and its weights exactly (an index built with one refuses
    another); ``dimension`` is the vector length."""

    model_id: str
    dimension: int

    def embed(self, imprints: Sequence[RectifiedImprint]) -> np.ndarray:
        """``(len(imprints), dimension) float32``, each row of unit length."""
        ...


class ClassicalEmbedder:
    """The polar Fourier descriptor as an :class:`Embedder`."""

    def __init__(self) -> None:
        from models import classical

        self._describe = classical.describe
        self.model_id = classical.MODEL_ID
        self.dimension = classical.DIMENSION

    def embed(self, imprints: Sequence[RectifiedImprint]) -> np.ndarray:
        out = np.zeros((len(imprints), self.dimension), np.float32)
        for i, imp in enumerate(imprints):
            out[i] = self._describe(imp)
        return out


def get_embedder(name: str | None = None) -> Embedder:
    """The embedder called ``name`` (default :data:`DEFAULT_EMBEDDER`)."""
    name = name or DEFAULT_EMBEDDER
    if name == "classical":
        return ClassicalEmbedder()
    if name == "learned":
        from models.learned import LearnedEmbedder

        return LearnedEmbedder()
    raise InvalidParameterError(f"unknown embedder {name!r}; choose from {', '.join(EMBEDDERS)}")
