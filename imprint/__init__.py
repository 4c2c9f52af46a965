"""Seal imprint forensic comparison engine: the imaging and forensic core.

This package holds no torch or faiss code; the networks live in ``models``, the registry and
its search index in ``index``, and every way users reach the engine in ``service``.
"""

from imprint.errors import ImprintError, InvalidParameterError, OutputError

__all__ = ["ImprintError", "InvalidParameterError", "OutputError"]
__version__ = "0.1.0"
