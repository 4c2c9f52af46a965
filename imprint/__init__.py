"""Seal imprint forensic comparison engine: the imaging and forensic core.

This package holds no torch or faiss code; the networks live in ``models``, the registry and
its search index in ``index``, and every way users reach the engine in ``service``.
``imprint.sweep`` (a batch sweep over archived filings, :func:`service.sweep.sweep`) is
reached from here for notebooks, and imported only when first used.
"""

from imprint.errors import ImprintError, InvalidParameterError, OutputError

__all__ = ["ImprintError", "InvalidParameterError", "OutputError", "sweep"]
__version__ = "0.1.0"


def __getattr__(name: str):
    # lazily: the core must not import the registry, FAISS or torch when it is imported
    if name == "sweep":
        from service.sweep import sweep

        return sweep
    raise AttributeError(f"module 'imprint' has no attribute {name!r}")
