"""A vector index derived from rows of the registry store (filed masters, case imprints), kept
in line with them: the store is the source of truth, the saved index a cache of it.

The index is loaded from its file, or started empty when the file is missing, damaged or of
another model, and then synced: rows the index lacks are embedded and added, ids the store no
longer has are removed, and the file is saved if anything changed. Row ids are never reused,
so the rows' count and highest id (their *extent*) tell, in one query, whether anything changed
since the last sync, by this process or another (a second service worker, the command line).
One thread at a time loads or syncs (a lock), one process at a time writes the file
(:func:`index.vectors.writer_lock`). Once loaded, an index that only follows the store (a
service's verification worker) takes in what another process filed in memory and leaves the
file to that process: it never waits on the file's writer, which may be a filing process at a
lower priority, holding the file for as long as the processor leaves it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np

from index.errors import IndexCorruptError, IndexMismatchError
from index.vectors import VectorIndex, writer_lock

log = logging.getLogger(__name__)

Extent = tuple[int, int]  # (number of rows, highest row id)
CHUNK = 256  # rows embedded at a time


class FollowedIndex:
    """The vector index saved at ``path`` over the store rows that ``row_ids`` lists.

    ``new`` makes an empty index (the embedder's dimension and model id, the factory);
    ``extent`` counts the rows; ``embed`` gives the embeddings of rows by id, leaving out any
    it cannot embed. ``what`` names the index in log messages."""

    def __init__(self, path: Path, *, new: Callable[[], VectorIndex],
                 extent: Callable[[], Extent], row_ids: Callable[[], Iterable[int]],
                 embed: Callable[[Sequence[int]], dict[int, np.ndarray]], what: str) -> None:
        self.path = path
        self._new, self._extent_of, self._row_ids, self._embed = new, extent, row_ids, embed
        self._what = what
        self._index: VectorIndex | None = None
        self._extent: Extent | None = None  # the rows the index was last synced with
        self._guard = threading.Lock()

    def current(self) -> VectorIndex:
        """The index, loaded on first use and in line with the store's rows (one count query
        when nothing changed)."""
        if self._index is not None and self._extent_of() == self._extent:
            return self._index
        with self._guard:
            if self._index is None:
                self._read_file()
            else:  # in memory: whoever added the rows saves them
                self._sync()
        return self._index

    def reload(self) -> VectorIndex:
        """Re-read the saved file (another process may have saved since) and sync it: after
        this process added a row."""
        with self._guard:
            self._read_file()
        return self._index

    def _read_file(self) -> None:
        """The saved index (or an empty one), synced, and saved again if that changed it.
        Called under the thread lock."""
        with writer_lock(self.path):
            self._index = self._load_or_new()
            if self._sync():
                self._index.save(self.path)

    def rebuild(self) -> VectorIndex:
        """A fresh index of every row, saved in place of the old one."""
        with self._guard, writer_lock(self.path):
            self._index = self._new()
            self._sync()
            self._index.save(self.path)
        return self._index

    def _load_or_new(self) -> VectorIndex:
        """The saved index, or an empty one when it is missing, damaged or of another model
        (the sync that follows fills it from the store). Called under the locks."""
        empty = self._new()
        try:
            return VectorIndex.load(self.path, expect_model_id=empty.model_id,
                                    expect_dimension=empty.dimension)
        except (IndexCorruptError, IndexMismatchError) as exc:  # also "missing"
            log.info("rebuilding the %s: %s", self._what, exc)
            return empty

    def _sync(self) -> bool:
        """Add the rows the index lacks and drop ids the store no longer has; whether anything
        changed. Called under the thread lock."""
        index = self._index
        count, top = self._extent = self._extent_of()
        ids = index.ids()
        if len(ids) == count and (count == 0 or int(ids.max()) == top):
            return False  # same count and same highest id: the same rows
        in_store = set(self._row_ids())
        in_index = set(ids.tolist())
        stale = sorted(in_index - in_store)
        missing = sorted(in_store - in_index)
        if stale:
            index.remove(stale)
        added = 0
        if missing and not index.is_trained:  # trained on every row at once
            vecs = self._searchable(self._embed(missing))
            if vecs:
                index.train(np.stack(list(vecs.values())))
                index.add(list(vecs), np.stack(list(vecs.values())))
                added = len(vecs)
        else:
            for start in range(0, len(missing), CHUNK):
                vecs = self._searchable(self._embed(missing[start:start + CHUNK]))
                if vecs:
                    index.add(list(vecs), np.stack(list(vecs.values())))
                    added += len(vecs)
        return bool(stale or added)

    def _searchable(self, vecs: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
        """``vecs`` without zero embeddings (an imprint with no ink left to describe): such a
        row stays in the store but cannot be found by its embedding."""
        blank = [i for i, v in vecs.items() if not np.any(v)]
        for i in blank:
            log.warning("row %d left out of the %s: its embedding is zero (no ink to "
                        "describe)", i, self._what)
        return {i: v for i, v in vecs.items() if i not in blank}
