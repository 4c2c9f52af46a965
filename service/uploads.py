"""Where a request's uploads lie while it is served.

An upload is a customer's contract or a bank form: it must not outlive its request. A folder
in the system's temporary directory is removed when the response is sent, but a server that
is killed (SIGKILL, out of memory, a power cut) never gets there, and its uploads stay there
for ever. So each running server keeps its uploads in a folder of its own under the
registry's home, ``home/uploads/<server>/``, and holds an exclusive lock on
``home/uploads/<server>.lock`` for as long as it runs: a lock that can be taken belongs to a
dead server, whose folder any server starting on the same home removes
(:func:`clear_abandoned`). Where the operating system has no such locks (not POSIX), only a
server's own folder is removed, when it stops.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

try:
    import fcntl
except ImportError:  # not POSIX: no advisory locks
    fcntl = None  # type: ignore[assignment]

UPLOADS_DIR = "uploads"
LOCK_SUFFIX = ".lock"
STARTING = ".starting-"  # a lock file not yet renamed into place


def _try_lock(handle: IO) -> bool:
    """Take an exclusive lock on ``handle`` without waiting; False if another process holds
    one."""
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def clear_abandoned(root: Path) -> int:
    """Remove the upload folders under ``root`` whose server is dead (its lock free, or its
    lock file gone); returns how many. A live server's folder is left alone."""
    if fcntl is None or not root.is_dir():
        return 0
    removed = 0
    for lock in root.glob(f"*{LOCK_SUFFIX}"):
        try:
            handle = lock.open("a")
        except FileNotFoundError:
            continue  # removed meanwhile by another server starting
        with handle:
            if not _try_lock(handle):
                continue  # its server is running
            shutil.rmtree(root / lock.name[:-len(LOCK_SUFFIX)], ignore_errors=True)
            lock.unlink(missing_ok=True)
            removed += 1
    for lock in root.glob(f"{STARTING}*"):  # a server that died as it started
        with contextlib.suppress(FileNotFoundError), lock.open("a") as handle:
            if _try_lock(handle):
                lock.unlink(missing_ok=True)
    for folder in root.iterdir():
        # a folder without its lock file: its server died while another was clearing it
        if folder.is_dir() and not folder.with_name(folder.name + LOCK_SUFFIX).exists():
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed


class UploadShelf:
    """This server's folder for uploads under ``home/uploads``, locked while it runs; the
    folders of dead servers are removed when it opens (``cleared``: how many)."""

    def __init__(self, home: Path) -> None:
        root = home / UPLOADS_DIR
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.cleared = clear_abandoned(root)
        self._lock: IO | None = None
        if fcntl is not None:
            # locked under a temporary name, then renamed into place before its folder is
            # made: no other server ever sees this lock unlocked, nor the folder without it
            fd, tmp = tempfile.mkstemp(dir=root, prefix=STARTING)
            self._lock = os.fdopen(fd, "a")
            _try_lock(self._lock)
            name = "server-" + Path(tmp).name[len(STARTING):]
            os.rename(tmp, root / (name + LOCK_SUFFIX))
            self.path = root / name
            self.path.mkdir(mode=0o700)
        else:
            self.path = Path(tempfile.mkdtemp(dir=root, prefix="server-"))

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
            self.path.with_name(self.path.name + LOCK_SUFFIX).unlink(missing_ok=True)
            self._lock.close()
            self._lock = None
