"""Atomic, durable file writes: a complete, fsynced temporary file beside the target, then a
rename (atomic on one file system), then the directory synced so the rename survives a crash.
A process killed at any point leaves either the old file or the new one, never a torn one."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def write_temp(target: Path, write: Callable[[BinaryIO], object], *, mode: int | None = None
               ) -> Path:
    """A complete, fsynced temporary file beside ``target`` holding what ``write`` wrote;
    removed again if writing fails. ``mode`` overrides mkstemp's owner-only 0600."""
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as f:
            if mode is not None:
                os.fchmod(f.fileno(), mode)
            write(f)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def fsync_dir(directory: Path) -> None:
    """Make renames in ``directory`` durable; some platforms cannot open a directory, which is
    fine there."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_bytes(target: Path, data: bytes, *, mode: int | None = None) -> None:
    """Replace ``target`` with ``data`` atomically and durably (``mode``: see
    :func:`write_temp`)."""
    tmp = write_temp(target, lambda f: f.write(data), mode=mode)
    try:
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(target.parent)
