"""The FAISS index of filed master imprints' embeddings.

Vectors are L2-normalised float32 embeddings compared by inner product (cosine similarity),
keyed by the registry's int64 master ids. The registry store is the source of truth: this index
is a derived cache that can always be rebuilt from it (:meth:`VectorIndex.rebuild`), so every
doubt about a saved index (missing sidecar, checksum mismatch, other model) is reported as a
typed error and answered by a rebuild, never by guessing.

On disk an index is two files, written atomically one after the other::

    <path>       faiss's own serialisation of the index
    <path>.json  sidecar: model_id, dimension, count, factory, metric, sha256 of <path>, ...

The default factory ``"IDMap2,Flat"`` is exact. For a million seals and more choose an
inverted-file factory such as ``"IVF1024,PQ32"`` or ``"IVF4096_HNSW32,PQ32"``: those must be
trained (:meth:`VectorIndex.train`) on representative vectors before anything is added, and
``nprobe`` trades recall for speed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import os
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import faiss
import numpy as np

from imprint.atomic import fsync_dir, write_temp
from imprint.errors import InvalidParameterError, OutputError
from index.errors import (  # re-exported: callers of the index catch them from here
    DuplicateIdError,
    IndexCorruptError,
    IndexMismatchError,
    IndexMissingError,
    IndexStateError,
    UnknownIdError,
    VectorIndexError,
)

__all__ = [
    "DEFAULT_FACTORY",
    "DEFAULT_NPROBE",
    "FORMAT_VERSION",
    "METRIC",
    "DuplicateIdError",
    "IndexCorruptError",
    "IndexMismatchError",
    "IndexMissingError",
    "IndexStateError",
    "SearchResult",
    "UnknownIdError",
    "VectorIndex",
    "VectorIndexError",
    "sidecar_path",
]

FORMAT_VERSION = 1
DEFAULT_FACTORY = "IDMap2,Flat"
DEFAULT_NPROBE = 32
METRIC = "inner_product"
_FORMAT_NAME = "imprint.vector-index"
_HASH_CHUNK = 1 << 20
_INT64_MAX = np.iinfo(np.int64).max


# ---------------------------------------------------------------------------------------------
# search result


@dataclass(frozen=True, eq=False)
class SearchResult:
    """Top-k neighbours of each query, best first.

    ``scores`` float32 (n, k): cosine similarity (approximate for PQ codes);
    ``ids`` int64 (n, k): master ids. Where fewer than k vectors are found the row is padded
    with id -1 and score -inf.
    """

    scores: np.ndarray
    ids: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)


# ---------------------------------------------------------------------------------------------
# the index


class VectorIndex:
    """A faiss index of L2-normalised float32 vectors under int64 ids, searched by cosine.

    Vectors given to :meth:`add`, :meth:`train` and :meth:`search` are normalised here, so
    callers may pass raw embeddings. All methods hold one lock: faiss does not allow adding or
    removing while searching, and the id bookkeeping must move with the index.
    """

    def __init__(self, dimension: int, model_id: str, factory: str = DEFAULT_FACTORY, *,
                 nprobe: int | None = None) -> None:
        """Create an empty index.

        ``nprobe`` applies to inverted-file factories only and is ignored by the others, so one
        setting can serve every factory; it defaults to :data:`DEFAULT_NPROBE` (faiss's own
        default of 1 loses most of the recall).
        """
        if isinstance(dimension, bool) or not isinstance(dimension, int | np.integer) \
                or dimension < 1:
            raise InvalidParameterError(f"dimension must be a positive integer, got {dimension!r}")
        _check_model_id(model_id)
        if not isinstance(factory, str) or not factory.strip():
            raise InvalidParameterError(f"factory must be a faiss index factory string, "
                                        f"got {factory!r}")
        if nprobe is not None:
            _check_nprobe(nprobe)
        index = _make_index(int(dimension), factory)
        self._setup(index, model_id, factory, np.empty(0, np.int64))
        if self._ivf is not None:
            self._set_nprobe(DEFAULT_NPROBE if nprobe is None else nprobe)

    def _setup(self, index: faiss.Index, model_id: str, factory: str, ids: np.ndarray) -> None:
        self._index = index
        self._ivf = _extract_ivf(index)
        self._model_id = model_id
        self._factory = factory
        self._ids = ids  # sorted, unique: duplicate checks by binary search, O(n) merge on add
        self._lock = threading.RLock()

    # -- properties -----------------------------------------------------------------------

    @property
    def dimension(self) -> int:
        return int(self._index.d)

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def factory(self) -> str:
        return self._factory

    @property
    def metric(self) -> str:
        return METRIC

    @property
    def is_trained(self) -> bool:
        return bool(self._index.is_trained)

    @property
    def min_training_vectors(self) -> int:
        """The fewest training vectors faiss accepts: one per inverted list and per PQ centroid."""
        nlist, ksub = _training_shape(self._index)
        return max(1, nlist, ksub)

    @property
    def recommended_training_vectors(self) -> int:
        """Enough training vectors for k-means not to warn (faiss asks for 39 per centroid)."""
        nlist, ksub = _training_shape(self._index)
        return max(self.min_training_vectors, 50 * nlist, 40 * ksub)

    @property
    def nprobe(self) -> int | None:
        """Inverted lists visited per query, or None for an index without inverted lists."""
        return None if self._ivf is None else int(self._ivf.nprobe)

    @nprobe.setter
    def nprobe(self, value: int) -> None:
        with self._lock:
            if self._ivf is None:
                raise IndexStateError(f"index {self._factory!r} has no inverted lists; "
                                      f"nprobe does not apply")
            self._set_nprobe(value)

    def _set_nprobe(self, value: int) -> None:
        _check_nprobe(value)
        ivf = self._ivf
        ivf.nprobe = min(int(value), int(ivf.nlist))
        # An HNSW coarse quantizer must look at least as wide as nprobe, or it returns fewer lists.
        quantizer = faiss.downcast_index(ivf.quantizer)
        if isinstance(quantizer, faiss.IndexHNSW):
            quantizer.hnsw.efSearch = max(int(quantizer.hnsw.efSearch), 2 * int(ivf.nprobe))

    # -- contents -------------------------------------------------------------------------

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def __contains__(self, id_: object) -> bool:
        if isinstance(id_, bool) or not isinstance(id_, int | np.integer) \
                or not 0 <= id_ <= _INT64_MAX:
            return False
        with self._lock:
            pos = int(np.searchsorted(self._ids, id_))
            return pos < len(self._ids) and int(self._ids[pos]) == int(id_)

    def ids(self) -> np.ndarray:
        """All ids in the index, sorted ascending (int64, a copy)."""
        with self._lock:
            return self._ids.copy()

    def __repr__(self) -> str:
        return (f"VectorIndex(model_id={self._model_id!r}, dimension={self.dimension}, "
                f"factory={self._factory!r}, count={len(self)})")

    # -- training, adding, removing ---------------------------------------------------------

    def train(self, vectors: np.ndarray) -> None:
        """Train an inverted-file or PQ index on representative vectors (before any add)."""
        with self._lock:
            if self._index.is_trained:
                raise IndexStateError(f"index {self._factory!r} is already trained (or needs no "
                                      f"training); to retrain, build a new index")
            x = _vectors(vectors, self.dimension, "training vectors")
            need = self.min_training_vectors
            if len(x) < need:
                nlist, ksub = _training_shape(self._index)
                parts = [f"{nlist} inverted lists"] if nlist else []
                parts += [f"{ksub} centroids per PQ sub-quantizer"] if ksub else []
                raise InvalidParameterError(
                    f"index {self._factory!r} needs at least {need} training vectors "
                    f"({', '.join(parts)}), got {len(x)}; about "
                    f"{self.recommended_training_vectors} are recommended")
            try:
                self._index.train(x)
            except RuntimeError as e:
                raise InvalidParameterError(f"faiss cannot train {self._factory!r} on "
                                            f"{len(x)} vectors: {_faiss_message(e)}") from None

    def add(self, ids: Iterable[int] | np.ndarray, vectors: np.ndarray) -> None:
        """Add vectors under new ids; an id already present or repeated is refused."""
        with self._lock:
            ids_ = _ids(ids, "ids")
            x = _vectors(vectors, self.dimension, "vectors", allow_empty=True)
            if len(ids_) != len(x):
                raise InvalidParameterError(f"{len(ids_)} ids for {len(x)} vectors")
            if not len(ids_):
                return
            if not self._index.is_trained:
                raise IndexStateError(
                    f"index {self._factory!r} must be trained before vectors are added: call "
                    f"train() with at least {self.min_training_vectors} (about "
                    f"{self.recommended_training_vectors} recommended) representative vectors")
            uniq, counts = np.unique(ids_, return_counts=True)
            if (counts > 1).any():
                raise DuplicateIdError(f"ids repeated in one batch: "
                                       f"{_few(uniq[counts > 1])}")
            present = uniq[self._present(uniq)]
            if len(present):
                raise DuplicateIdError(f"ids already in the index: {_few(present)}; remove them "
                                       f"first to replace their vectors")
            try:
                self._index.add_with_ids(x, ids_)
            except RuntimeError as e:
                raise IndexStateError(f"index {self._factory!r} cannot add vectors: "
                                      f"{_faiss_message(e)}") from None
            self._ids = np.insert(self._ids, np.searchsorted(self._ids, uniq), uniq)

    def remove(self, ids: Iterable[int] | np.ndarray) -> int:
        """Remove ids without a rebuild; returns how many were present (absent ones are skipped)."""
        with self._lock:
            ids_ = np.unique(_ids(ids, "ids"))
            mask = self._present(ids_)
            if not mask.any():
                return 0
            gone = ids_[mask]
            if self._ivf is not None and not isinstance(self._index, faiss.IndexIDMap):
                # A hashtable direct map removes only by an explicit array of ids.
                selector = faiss.IDSelectorArray(len(gone), faiss.swig_ptr(gone))
            else:
                selector = faiss.IDSelectorBatch(len(gone), faiss.swig_ptr(gone))
            try:
                removed = int(self._index.remove_ids(selector))
            except RuntimeError as e:
                raise IndexStateError(f"index {self._factory!r} does not support removal "
                                      f"({_faiss_message(e)}); rebuild it from the registry "
                                      f"store instead") from None
            if removed == len(gone):
                self._ids = np.delete(self._ids, np.searchsorted(self._ids, gone))
            else:  # never expected; resynchronise from faiss rather than trust the bookkeeping
                self._ids = _stored_ids(self._index)
            return removed

    def _present(self, sorted_ids: np.ndarray) -> np.ndarray:
        pos = np.searchsorted(self._ids, sorted_ids)
        hit = pos < len(self._ids)
        hit[hit] = self._ids[pos[hit]] == sorted_ids[hit]
        return hit

    # -- queries ----------------------------------------------------------------------------

    def search(self, queries: np.ndarray, k: int) -> SearchResult:
        """The k best ids per query by cosine similarity; a single query may be 1-D. A zero
        query (an imprint with no ink to describe) finds nothing: its row is all padding."""
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
            raise InvalidParameterError(f"k must be a positive integer, got {k!r}")
        q = _vectors(queries, self.dimension, "queries", allow_empty=True, allow_zero=True)
        with self._lock:
            if self._index.ntotal == 0:  # also covers an untrained index, which faiss refuses
                scores = np.full((len(q), k), -np.inf, np.float32)
                return SearchResult(scores, np.full((len(q), k), -1, np.int64))
            scores, ids = self._index.search(q, int(k))
        scores = scores.astype(np.float32, copy=False)
        ids = ids.astype(np.int64, copy=False)
        ids[~q.any(axis=1)] = -1
        scores[ids < 0] = -np.inf
        return SearchResult(scores, ids)

    def reconstruct(self, id_: int) -> np.ndarray:
        """The stored (normalised) vector of an id; approximate for compressed (PQ) indexes."""
        with self._lock:
            if id_ not in self:
                raise UnknownIdError(f"id {id_!r} is not in the index")
            try:
                return np.asarray(self._index.reconstruct(int(id_)), np.float32)
            except RuntimeError as e:
                raise IndexStateError(f"index {self._factory!r} cannot reconstruct vectors: "
                                      f"{_faiss_message(e)}") from None

    # -- persistence ------------------------------------------------------------------------

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the index and its sidecar atomically (each via a temp file, fsync, replace).

        Both temp files are complete and synced before either replaces its target, index
        first, so a process killed at any point leaves the previous pair intact, except in
        the instant between the two renames; that leaves a new index beside the old sidecar
        and the new sidecar in its temporary file, which :meth:`load` reads in its place.
        """
        path = Path(path)
        meta_path = sidecar_path(path)
        tmp_index = tmp_meta = None
        with self._lock:
            try:
                digest = hashlib.sha256()
                # mkstemp's 0600 would hide the index from a reader
                tmp_index = write_temp(path, lambda f: self._serialise(f, digest), mode=0o644)
                meta = {
                    "format": _FORMAT_NAME,
                    "format_version": FORMAT_VERSION,
                    "model_id": self._model_id,
                    "dimension": self.dimension,
                    "count": len(self),
                    "factory": self._factory,
                    "metric": METRIC,
                    "sha256": digest.hexdigest(),
                    "index_file": path.name,
                    "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                    "faiss_version": faiss.__version__,
                }
                body = (json.dumps(meta, indent=2) + "\n").encode()
                tmp_meta = write_temp(meta_path, lambda f: f.write(body), mode=0o644)
                os.replace(tmp_index, path)
                tmp_index = None
                os.replace(tmp_meta, meta_path)
                tmp_meta = None
                fsync_dir(path.parent)
            except OSError as e:
                raise OutputError(f"cannot save the vector index to {path}: {e}") from e
            finally:
                for tmp in (tmp_index, tmp_meta):
                    if tmp is not None:
                        tmp.unlink(missing_ok=True)

    def _serialise(self, f: BinaryIO, digest: Any) -> None:
        # Streams the bytes faiss.serialize_index would return, without a second in-memory copy
        # (1 GB for a million 256-d flat vectors). Errors are kept out of faiss's C++ frames.
        failure: list[BaseException] = []

        def sink(chunk: bytes) -> None:
            if failure:
                return
            try:
                f.write(chunk)
                digest.update(chunk)
            except BaseException as e:  # re-raised below
                failure.append(e)

        faiss.write_index(self._index, faiss.PyCallbackIOWriter(sink))
        if failure:
            raise failure[0]

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, expect_model_id: str | None = None,
             expect_dimension: int | None = None, nprobe: int | None = None) -> VectorIndex:
        """Load a saved index after checking its sidecar, model, dimension and checksum.

        Raises :class:`IndexMissingError` when nothing is saved at ``path``,
        :class:`IndexCorruptError` when the pair cannot be trusted and
        :class:`IndexMismatchError` when it was built for another model or dimension; the
        answer to each is a rebuild from the registry store. Other OS errors (permissions)
        propagate: a rebuild would not fix them.
        """
        path = Path(path)
        meta_path = sidecar_path(path)
        if nprobe is not None:
            _check_nprobe(nprobe)
        try:
            raw = meta_path.read_bytes()
        except FileNotFoundError:
            if not path.exists():
                raise IndexMissingError(f"no vector index at {path}") from None
            raise IndexCorruptError(f"{path}: sidecar {meta_path.name} is missing; rebuild the "
                                    f"index from the registry store") from None
        meta = _parse_sidecar(raw, meta_path)
        if meta["format_version"] != FORMAT_VERSION:
            raise IndexMismatchError(f"{path}: format version {meta['format_version']}, this "
                                     f"code reads version {FORMAT_VERSION}; rebuild the index")
        if meta["metric"] != METRIC:
            raise IndexMismatchError(f"{path}: metric {meta['metric']!r}, expected {METRIC!r}")
        if expect_model_id is not None and meta["model_id"] != expect_model_id:
            raise IndexMismatchError(
                f"{path}: index built for model {meta['model_id']!r}, but model "
                f"{expect_model_id!r} is in use; rebuild the index from the registry store")
        if expect_dimension is not None and meta["dimension"] != expect_dimension:
            raise IndexMismatchError(f"{path}: index has dimension {meta['dimension']}, expected "
                                     f"{expect_dimension}; rebuild the index")
        try:
            with path.open("rb") as f:
                digest = hashlib.sha256()
                while chunk := f.read(_HASH_CHUNK):
                    digest.update(chunk)
                if digest.hexdigest() != meta["sha256"]:
                    # a writer killed between its two renames left the new index beside the old
                    # sidecar, and the new sidecar, complete, in its temporary file
                    meta = _pending_sidecar(meta_path, meta, digest.hexdigest())
                if meta is None or digest.hexdigest() != meta["sha256"]:
                    raise IndexCorruptError(
                        f"{path}: checksum mismatch (sidecar and file {digest.hexdigest()[:12]}… "
                        f"differ); rebuild the index from the registry store")
                f.seek(0)  # read the bytes just checked, from the same open file
                try:
                    index = faiss.read_index(faiss.PyCallbackIOReader(f.read))
                except (RuntimeError, MemoryError) as e:
                    raise IndexCorruptError(f"{path}: faiss cannot read the index: "
                                            f"{_faiss_message(e)}") from None
        except FileNotFoundError:
            raise IndexCorruptError(f"{path}: index file missing beside its sidecar; rebuild "
                                    f"the index from the registry store") from None
        if (index.d != meta["dimension"] or index.ntotal != meta["count"]
                or index.metric_type != faiss.METRIC_INNER_PRODUCT):
            raise IndexCorruptError(f"{path}: index (d={index.d}, count={index.ntotal}) does "
                                    f"not match its sidecar (d={meta['dimension']}, "
                                    f"count={meta['count']})")
        ids = _stored_ids(index)
        if len(ids) != index.ntotal or (len(ids) > 1 and (np.diff(ids) <= 0).any()):
            raise IndexCorruptError(f"{path}: the index's ids are not unique")
        loaded = cls.__new__(cls)
        loaded._setup(index, meta["model_id"], meta["factory"], ids)
        if nprobe is not None and loaded._ivf is not None:
            loaded._set_nprobe(nprobe)
        return loaded

    # -- rebuild ----------------------------------------------------------------------------

    @classmethod
    def rebuild(cls, pairs: Iterable[tuple[int, np.ndarray]], dim: int, model_id: str,
                factory: str = DEFAULT_FACTORY, *, batch_size: int = 10_000,
                train_size: int | None = None, nprobe: int | None = None,
                progress: Callable[[int], None] | None = None) -> VectorIndex:
        """Build a fresh index from ``(id, vector)`` pairs, e.g. streamed from the registry store.

        Pairs are added in batches of ``batch_size``; ``progress`` is called with the running
        count after each batch. An index that needs training is trained on the first
        ``train_size`` pairs (default :attr:`recommended_training_vectors`), buffered before
        the first add: the store's order is taken as a fair sample of the seals.
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidParameterError(f"batch_size must be a positive integer, "
                                        f"got {batch_size!r}")
        index = cls(dim, model_id, factory, nprobe=nprobe)
        train_at = 0 if index.is_trained else (train_size or index.recommended_training_vectors)
        buf_ids: list[int] = []
        buf_vecs: list[np.ndarray] = []
        done = 0

        def flush() -> None:
            nonlocal done
            x = np.stack(buf_vecs)
            if not index.is_trained:
                index.train(x)
            index.add(np.asarray(buf_ids, np.int64), x)
            done += len(buf_ids)
            buf_ids.clear()
            buf_vecs.clear()
            if progress is not None:
                progress(done)

        for id_, vec in pairs:
            v = np.asarray(vec, np.float32)
            if v.shape != (index.dimension,):
                raise InvalidParameterError(f"vector for id {id_} has shape {v.shape}, "
                                            f"expected ({index.dimension},)")
            buf_ids.append(id_)
            buf_vecs.append(v)
            if len(buf_ids) >= (batch_size if index.is_trained else max(batch_size, train_at)):
                flush()
        if buf_ids:
            flush()
        return index


# ---------------------------------------------------------------------------------------------
# helpers


@contextlib.contextmanager
def writer_lock(index_path: str | os.PathLike[str]) -> Iterator[None]:
    """One writer of the index file at ``index_path`` at a time, across processes (an
    advisory lock on a ``.lock`` file beside it)."""
    path = Path(index_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def sidecar_path(path: str | os.PathLike[str]) -> Path:
    """Where the sidecar JSON of the index at ``path`` lives: ``<path>.json``."""
    path = Path(path)
    return path.with_name(path.name + ".json")


def _check_model_id(model_id: object) -> None:
    if not isinstance(model_id, str) or not model_id.strip():
        raise InvalidParameterError(f"model_id must be a non-empty string, got {model_id!r}")


def _check_nprobe(value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise InvalidParameterError(f"nprobe must be a positive integer, got {value!r}")


def _make_index(dim: int, factory: str) -> faiss.Index:
    try:
        index = faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
    except RuntimeError as e:
        raise InvalidParameterError(f"faiss cannot build index {factory!r} for dimension {dim}: "
                                    f"{_faiss_message(e)}") from None
    top = faiss.downcast_index(index)
    while isinstance(top, faiss.IndexPreTransform):  # forwards ids to the index it wraps
        top = faiss.downcast_index(top.index)
    if isinstance(top, faiss.IndexIVF):
        # Inverted lists keep user ids themselves; a hashtable direct map adds reconstruct(id)
        # and removal by id.
        top.set_direct_map_type(faiss.DirectMap.Hashtable)
    elif not isinstance(index, faiss.IndexIDMap):
        # IDMap2 (not IDMap) also keeps the reverse map that reconstruct(id) needs.
        index.this.disown()
        wrapped = faiss.IndexIDMap2(index)
        wrapped.own_fields = True
        index = wrapped
    # Polysemous training (on by default for PQ codes) only serves Hamming-filtered search, which
    # is not used here, and costs a minute even on a few thousand vectors.
    inner = _unwrap(index)
    if hasattr(inner, "do_polysemous_training"):
        inner.do_polysemous_training = False
    return index


def _unwrap(index: faiss.Index) -> faiss.Index:
    """The index under IDMap, pre-transform and refine wrappers."""
    index = faiss.downcast_index(index)
    while True:
        if isinstance(index, faiss.IndexIDMap | faiss.IndexPreTransform):
            index = faiss.downcast_index(index.index)
        elif isinstance(index, faiss.IndexRefine):
            index = faiss.downcast_index(index.base_index)
        else:
            return index


def _extract_ivf(index: faiss.Index) -> faiss.IndexIVF | None:
    try:
        return faiss.extract_index_ivf(index)
    except RuntimeError:
        return None


def _training_shape(index: faiss.Index) -> tuple[int, int]:
    """(inverted lists, centroids per PQ sub-quantizer), 0 where the index has none."""
    ivf = _extract_ivf(index)
    nlist = int(ivf.nlist) if ivf is not None else 0
    pq = getattr(_unwrap(index), "pq", None)
    ksub = int(pq.ksub) if isinstance(pq, faiss.ProductQuantizer) else 0
    return nlist, ksub


def _stored_ids(index: faiss.Index) -> np.ndarray:
    """Every id stored in an index this module built, sorted."""
    index = faiss.downcast_index(index)
    if isinstance(index, faiss.IndexIDMap):
        ids = faiss.vector_to_array(index.id_map)
    else:
        ivf = _extract_ivf(index)
        if ivf is None:
            raise IndexCorruptError(f"cannot list the ids of a {type(index).__name__}")
        lists = ivf.invlists
        parts = [np.empty(0, np.int64)]
        for i in range(ivf.nlist):
            n = lists.list_size(i)
            if n:
                parts.append(faiss.rev_swig_ptr(lists.get_ids(i), n).copy())
        ids = np.concatenate(parts)
    return np.sort(ids.astype(np.int64, copy=False))


def _ids(ids: Iterable[int] | np.ndarray, what: str) -> np.ndarray:
    a = np.asarray(ids if isinstance(ids, np.ndarray) else list(ids))
    if a.size == 0:
        return np.empty(0, np.int64)
    if a.ndim != 1 or not np.issubdtype(a.dtype, np.integer):
        raise InvalidParameterError(f"{what} must be a 1-D sequence of integers, got "
                                    f"{a.dtype} with shape {a.shape}")
    if a.dtype == np.uint64 and (a > np.iinfo(np.int64).max).any():
        raise InvalidParameterError(f"{what} must fit in int64")
    a = a.astype(np.int64)
    if (a < 0).any():  # -1 pads search results
        raise InvalidParameterError(f"{what} must be non-negative, got {_few(a[a < 0])}")
    return np.ascontiguousarray(a)


def _vectors(vectors: np.ndarray, dim: int, what: str, *, allow_empty: bool = False,
             allow_zero: bool = False) -> np.ndarray:
    """A normalised float32 C-contiguous (n, dim) copy, or a typed error saying what is wrong.
    With ``allow_zero`` a zero row stays zero (a query with no direction: it finds nothing)."""
    try:
        x = np.array(vectors, dtype=np.float32, ndmin=1)
    except (TypeError, ValueError) as e:
        raise InvalidParameterError(f"{what} must be numeric arrays: {e}") from None
    if x.ndim == 1:
        x = x.reshape(1, -1) if x.size else x.reshape(0, dim)
    if x.ndim != 2 or x.shape[1] != dim:
        raise InvalidParameterError(f"{what} must have shape (n, {dim}), got {x.shape}")
    if not len(x):
        if allow_empty:
            return x
        raise InvalidParameterError(f"{what}: none given")
    bad = ~np.isfinite(x).all(axis=1)
    if bad.any():
        raise InvalidParameterError(f"{what}: rows {_few(np.flatnonzero(bad))} hold NaN or "
                                    f"infinite values")
    norms = np.linalg.norm(x, axis=1)
    zero = norms < 1e-12
    if zero.any() and not allow_zero:
        raise InvalidParameterError(f"{what}: rows {_few(np.flatnonzero(zero))} are zero "
                                    f"vectors, which have no direction to compare")
    x /= np.where(zero, 1.0, norms)[:, None]
    return np.ascontiguousarray(x)


def _pending_sidecar(meta_path: Path, current: dict[str, Any], sha256: str
                     ) -> dict[str, Any] | None:
    """The sidecar a killed save had written to its temporary file (fsynced before the index
    was renamed into place) when it describes the index file now in place (``sha256``) for the
    same model; None otherwise. Read only: a live writer may be about to rename it."""
    same = ("format_version", "metric", "model_id", "dimension")
    for tmp in meta_path.parent.glob(f".{meta_path.name}.*.tmp"):
        try:
            meta = _parse_sidecar(tmp.read_bytes(), tmp)
        except (OSError, IndexCorruptError):
            continue
        if meta["sha256"] == sha256 and all(meta[k] == current[k] for k in same):
            return meta
    return None


def _parse_sidecar(raw: bytes, meta_path: Path) -> dict[str, Any]:
    try:
        meta = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise IndexCorruptError(f"{meta_path}: not valid JSON ({e}); rebuild the index") from None
    fields = {"format": str, "format_version": int, "model_id": str, "dimension": int,
              "count": int, "factory": str, "metric": str, "sha256": str}
    if not isinstance(meta, dict) or meta.get("format") != _FORMAT_NAME:
        raise IndexCorruptError(f"{meta_path}: not a vector index sidecar; rebuild the index")
    wrong = [k for k, t in fields.items()
             if not isinstance(meta.get(k), t) or isinstance(meta.get(k), bool)]
    if wrong:
        raise IndexCorruptError(f"{meta_path}: missing or invalid fields {wrong}; rebuild the "
                                f"index")
    return meta


_FAISS_WHERE = re.compile(r"^Error in .*? at \S+:\d+: ", re.S)


def _faiss_message(e: BaseException) -> str:
    """faiss's own message without the C++ signature and source location in front of it."""
    return _FAISS_WHERE.sub("", str(e)).strip() or type(e).__name__


def _few(values: np.ndarray, n: int = 5) -> str:
    shown = ", ".join(str(int(v)) for v in values[:n])
    return f"[{shown}{', …' if len(values) > n else ''}]"
