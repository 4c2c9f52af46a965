"""Uploads live under the registry's home, in a folder of the server that received them: a
request's folder goes when the request is done, a server's when it stops, and a killed
server's (never stopped) when a server next starts on the same home, while a running
server's is left alone."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from service.uploads import (
    LOCK_SUFFIX,
    STARTUP_LOCK,
    UPLOADS_DIR,
    UploadShelf,
    clear_abandoned,
)

ROOT = Path(__file__).resolve().parents[2]

pytest.importorskip("fcntl", reason="a dead server's uploads are found by POSIX locks")


def _servers(home: Path) -> list[Path]:
    """The servers' folders and lock files under ``home`` (the startup lock stays)."""
    return sorted((home / UPLOADS_DIR).glob("server-*"))


def _killed_server_with_an_upload(home: Path) -> Path:
    """A server process that received an upload and died without any clean-up; the path of
    the upload it left."""
    code = textwrap.dedent(f"""
        import os
        from pathlib import Path
        from service.uploads import UploadShelf
        shelf = UploadShelf(Path({str(home)!r}))
        with shelf.folder() as folder:
            (folder / "file.bin").write_bytes(b"a customer's contract")
            print(folder / "file.bin", flush=True)
            os._exit(9)  # as a SIGKILL: neither the request's nor the server's clean-up runs
    """)
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 9, done.stderr
    return Path(done.stdout.strip())


def test_a_requests_folder_lies_under_the_home_and_goes_when_the_request_is_done(tmp_path):
    shelf = UploadShelf(tmp_path)
    try:
        with shelf.folder() as folder:
            (folder / "file.bin").write_bytes(b"x")
            assert folder.parent == shelf.path
            assert shelf.path.parent == tmp_path / UPLOADS_DIR
        assert not folder.exists()
        assert shelf.path.is_dir()
    finally:
        shelf.close()
    assert not shelf.path.exists()
    assert not _servers(tmp_path)


def test_a_killed_servers_uploads_are_removed_when_a_server_starts(tmp_path):
    left = _killed_server_with_an_upload(tmp_path)
    assert left.is_file() and left.is_relative_to(tmp_path / UPLOADS_DIR)
    shelf = UploadShelf(tmp_path)
    try:
        assert shelf.cleared == 1
        assert not left.exists()
        assert not left.parent.parent.exists()  # the dead server's folder, lock file with it
        assert not left.parent.parent.with_name(left.parent.parent.name + LOCK_SUFFIX).exists()
    finally:
        shelf.close()


def test_a_running_servers_uploads_are_left_alone(tmp_path):
    running = UploadShelf(tmp_path)
    try:
        with running.folder() as folder:
            (folder / "file.bin").write_bytes(b"in use")
            other = UploadShelf(tmp_path)  # a second server on the same home
            try:
                assert other.cleared == 0
                assert (folder / "file.bin").is_file()
                # and the running one does not take the newcomer for dead either
                assert clear_abandoned(tmp_path / UPLOADS_DIR) == 0
                assert other.path.is_dir()
            finally:
                other.close()
    finally:
        running.close()


def test_servers_starting_at_once_leave_each_other_alone(tmp_path):
    """Eight servers opening on one home at about the same moment, one of them busy with an
    upload while the others start: every one keeps its folder and its lock, and what a dead
    one left is cleared once."""
    _killed_server_with_an_upload(tmp_path)
    first = UploadShelf(tmp_path)
    start = threading.Barrier(7)
    shelves: list[UploadShelf] = []

    def open_one() -> None:
        start.wait()
        shelves.append(UploadShelf(tmp_path))

    try:
        with first.folder() as folder:
            (folder / "file.bin").write_bytes(b"in use")
            threads = [threading.Thread(target=open_one) for _ in range(7)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=60)
            assert (folder / "file.bin").is_file()
        assert len(shelves) == 7
        assert first.cleared + sum(s.cleared for s in shelves) == 1
        for shelf in (first, *shelves):
            assert shelf.path.is_dir()
            assert shelf.path.with_name(shelf.path.name + LOCK_SUFFIX).is_file()
        assert clear_abandoned(tmp_path / UPLOADS_DIR) == 0
    finally:
        for shelf in (first, *shelves):
            shelf.close()
    assert not _servers(tmp_path)


def test_a_server_starts_only_once_no_other_is_starting(tmp_path):
    """While one server clears the dead servers' folders and makes its own (the startup
    lock held), another waits: none can see a lock file before its server holds it."""
    import fcntl
    import os

    UploadShelf(tmp_path).close()  # the uploads folder and its startup lock file
    fd = os.open(tmp_path / UPLOADS_DIR / STARTUP_LOCK, os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)  # a server in the middle of starting
    opened: list[UploadShelf] = []
    waiting = threading.Thread(target=lambda: opened.append(UploadShelf(tmp_path)))
    try:
        waiting.start()
        waiting.join(timeout=0.5)
        assert waiting.is_alive() and not opened
    finally:
        os.close(fd)
    waiting.join(timeout=30)
    assert len(opened) == 1 and opened[0].path.is_dir()
    opened[0].close()
