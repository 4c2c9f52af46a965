"""The sweep's journal: an append-only JSON Lines file in the output directory, one line per
document examined, keyed by the SHA-256 of the document's content.

The first line is a header naming what made the results (registry, embedding model, match
threshold); ``--resume`` refuses a journal made by another engine, whose results would not mix.
Each later line is one :class:`~service.sweep.worker.DocumentResult`, written with a single
``write`` on a file opened for appending and fsynced before the sweep moves on: after a
``kill -9`` the journal holds every finished document whole, and at most a torn last line,
which is ignored and cut off before anything more is appended. Where one content has several
lines (a failure tried again), the last one holds.

One sweep at a time writes into an output directory (an exclusive ``flock`` on ``.lock``).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from pathlib import Path

from imprint.errors import InvalidParameterError, OutputError
from service.sweep.worker import DocumentResult

LOG = logging.getLogger(__name__)

JOURNAL_NAME = "journal.jsonl"
FORMAT = "imprint.sweep.journal/1"
#: Header fields that must agree for ``--resume`` to reuse results.
SAME_ENGINE = ("registry", "model_id", "imaging", "threshold")


class Journal:
    """Open with :meth:`open`; close with :meth:`close` or a ``with`` block."""

    def __init__(self, path: Path, fd: int, lock_fd: int, entries: dict[str, DocumentResult]
                 ) -> None:
        self.path = path
        self._fd = fd
        self._lock_fd = lock_fd
        self.entries = entries  # sha256 -> the last result journaled for that content

    @classmethod
    def open(cls, out_dir: Path, header: dict, *, resume: bool) -> Journal:
        """The journal of ``out_dir``, created with ``header`` when new. A journal already
        there is continued with ``resume`` and refused without it (its results would be lost)."""
        path = out_dir / JOURNAL_NAME
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
            lock_fd = os.open(out_dir / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise OutputError(f"{out_dir}: cannot write the sweep's output ({exc})") from exc
        try:
            try:
                fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise InvalidParameterError(
                    f"{out_dir}: another sweep is writing into this directory") from None
            exists = path.is_file() and path.stat().st_size > 0
            if exists and not resume:
                raise InvalidParameterError(
                    f"{out_dir} already holds a sweep; continue it with --resume, or choose "
                    "another output directory")
            entries: dict[str, DocumentResult] = {}
            if exists:
                found, good_bytes = _read(path)
                if found is None:
                    raise InvalidParameterError(f"{path}: not a sweep journal")
                _check_same_engine(path, found["header"], header)
                entries = found["entries"]
                if good_bytes < path.stat().st_size:
                    LOG.warning("%s: a torn last line (a sweep killed while writing it) is "
                                "cut off", path)
                    os.truncate(path, good_bytes)
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as exc:
            os.close(lock_fd)
            raise OutputError(f"{path}: cannot open the journal ({exc})") from exc
        except BaseException:
            os.close(lock_fd)
            raise
        journal = cls(path, fd, lock_fd, entries)
        if not exists:
            journal._write({"format": FORMAT, **header})
        return journal

    def append(self, result: DocumentResult) -> None:
        """Journal one document's result, durably, before anything else is done with it."""
        self._write(result.to_json())
        self.entries[result.sha256] = result

    def _write(self, record: dict) -> None:
        line = (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
        try:
            written = os.write(self._fd, line)
            if written != len(line):  # a short write: disk full; the torn line is cut on resume
                raise OSError(f"wrote {written} of {len(line)} bytes")
            os.fsync(self._fd)
        except OSError as exc:
            raise OutputError(f"{self.path}: cannot append to the journal ({exc})") from exc

    def close(self) -> None:
        for fd in (self._fd, self._lock_fd):
            try:
                os.close(fd)
            except OSError:
                pass

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_journal(path: Path) -> tuple[dict, dict[str, DocumentResult]]:
    """(header, results by content SHA-256) of a journal; a torn last line is ignored."""
    found, _ = _read(path)
    if found is None:
        raise InvalidParameterError(f"{path}: not a sweep journal")
    return found["header"], found["entries"]


def _read(path: Path) -> tuple[dict | None, int]:
    """The header and entries, and the length of the file up to its last whole line."""
    data = path.read_bytes()
    good = data.rfind(b"\n") + 1  # a last line without its newline was torn
    header = None
    entries: dict[str, DocumentResult] = {}
    for number, line in enumerate(data[:good].splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if header is None:
                if record.get("format") != FORMAT:
                    return None, good
                header = record
                continue
            result = DocumentResult.from_json(record)
        except (ValueError, KeyError, TypeError) as exc:
            # only a crash can tear a line, and only the last; anything else is damage
            LOG.warning("%s:%d: unreadable journal line left out (%s)", path, number, exc)
            continue
        entries[result.sha256] = result
    return ({"header": header, "entries": entries} if header is not None else None), good


def _check_same_engine(path: Path, old: dict, new: dict) -> None:
    for key in SAME_ENGINE:
        if old.get(key) != new.get(key):
            raise InvalidParameterError(
                f"{path} was made with {key} {old.get(key)!r}, this sweep uses "
                f"{new.get(key)!r}: its results would not mix; sweep into another directory")
