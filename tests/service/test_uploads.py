"""Uploads live under the registry's home, in a folder of the server that received them: a
request's folder goes when the request is done, a server's when it stops, and a killed
server's (never stopped) when a server next starts on the same home, while a running
server's is left alone."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from service.uploads import LOCK_SUFFIX, UPLOADS_DIR, UploadShelf, clear_abandoned

ROOT = Path(__file__).resolve().parents[2]

pytest.importorskip("fcntl", reason="a dead server's uploads are found by POSIX locks")


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
    assert not any((tmp_path / UPLOADS_DIR).iterdir())


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


def test_a_folder_whose_lock_file_is_gone_is_removed(tmp_path):
    """What is left when a server died while another was clearing its folder."""
    orphan = tmp_path / UPLOADS_DIR / "server-orphan" / "request-x"
    orphan.mkdir(parents=True)
    (orphan / "file.bin").write_bytes(b"x")
    assert clear_abandoned(tmp_path / UPLOADS_DIR) == 1
    assert not orphan.parent.exists()
