"""Where a request's uploads lie while it is served.

An upload is a customer's contract or a bank form: it must not outlive its request. A folder
in the system's temporary directory is removed when the response is sent, but a server that
is killed (SIGKILL, out of memory, a power cut) never gets there, and its uploads stay there
for ever. So each running server keeps its uploads in a folder of its own under the
registry's home, ``home/uploads/server-*/``, and holds an exclusive lock on
``home/uploads/server-*.lock`` for as long as it runs: a lock that can be taken belongs to a
dead server, whose folder a server starting on the same home removes
(:func:`clear_abandoned`). Servers start one at a time (a lock on ``uploads/.startup.lock``
while one clears the dead servers' folders and makes its own), so none ever sees another's
lock before it is held.

Where the operating system or the home's file system has no such locks (not POSIX; some
network file systems), only a server's own folder is removed, when it stops; nor do locks on
a network file system shared by several hosts hold across them, so each host keeps its
registry home (the database may be shared) on a disk of its own.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # not POSIX: no advisory locks
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

UPLOADS_DIR = "uploads"
LOCK_SUFFIX = ".lock"
STARTUP_LOCK = ".startup.lock"


def _try_lock(fd: int) -> bool:
    """Take an exclusive lock on ``fd`` without waiting; False if another holds one."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def clear_abandoned(root: Path) -> int:
    """Remove the upload folders under ``root`` whose server is dead (its lock free);
    returns how many. A running server's folder is left alone. Called by a server starting,
    under the startup lock (:class:`UploadShelf`)."""
    if fcntl is None or not root.is_dir():
        return 0
    removed = 0
    for lock in root.glob(f"server-*{LOCK_SUFFIX}"):
        try:
            fd = os.open(lock, os.O_RDWR)  # (never created here: a lock file is its server's)
        except FileNotFoundError:
            continue  # its server stopped meanwhile and removed it
        try:
            if not _try_lock(fd):
                continue  # its server is running
            # its folder first: a lock file without its folder is harmless, the other way
            # round a folder nobody would clear
            shutil.rmtree(lock.with_suffix(""), ignore_errors=True)
            lock.unlink(missing_ok=True)
            removed += 1
        finally:
            os.close(fd)
    return removed


class UploadShelf:
    """This server's folder for uploads under ``home/uploads``, locked while it runs; the
    folders of dead servers are removed when it opens (``cleared``: how many)."""

    def __init__(self, home: Path) -> None:
        root = home / UPLOADS_DIR
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.cleared = 0
        self._lock: int | None = None  # the lock file's descriptor, held while running
        self._lock_path: Path | None = None
        if fcntl is not None:
            try:
                self._open_locked(root)
                return
            except OSError as exc:  # a file system without flock (ENOLCK, EOPNOTSUPP)
                log.warning("%s: cannot hold a lock here (%s); a killed server's uploads "
                            "are not cleared when the next one starts", root, exc)
        self.path = Path(tempfile.mkdtemp(dir=root, prefix="server-"))

    def _open_locked(self, root: Path) -> None:
        startup = os.open(root / STARTUP_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(startup, fcntl.LOCK_EX)  # one starting server at a time
            self.cleared = clear_abandoned(root)
            fd, lock = tempfile.mkstemp(dir=root, prefix="server-", suffix=LOCK_SUFFIX)
            try:
                if not _try_lock(fd):  # a fresh file: only a broken lock service says no
                    raise OSError(f"{lock}: cannot be locked")
                self.path = Path(lock).with_suffix("")
                self.path.mkdir(mode=0o700)
            except BaseException:
                os.close(fd)
                Path(lock).unlink(missing_ok=True)
                raise
            self._lock, self._lock_path = fd, Path(lock)
        finally:
            os.close(startup)  # (closing releases the startup lock)

    @contextlib.contextmanager
    def folder(self) -> Iterator[Path]:
        """A private folder for one request's uploads, removed when the request is done."""
        path = Path(tempfile.mkdtemp(dir=self.path, prefix="request-"))
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)

    def close(self) -> None:
        """Remove this server's folder and release its lock."""
        shutil.rmtree(self.path, ignore_errors=True)
        if self._lock is not None:
            self._lock_path.unlink(missing_ok=True)
            os.close(self._lock)
            self._lock = self._lock_path = None
