"""The vector index: exact and approximate search, online add and remove, and saving that a crash
or a tampered file cannot turn into wrong answers."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from imprint.errors import ImprintError, InvalidParameterError, OutputError
from index import vectors as vx
from index.vectors import (
    DuplicateIdError,
    IndexCorruptError,
    IndexMismatchError,
    IndexMissingError,
    IndexStateError,
    UnknownIdError,
    VectorIndex,
    sidecar_path,
)


def _unit(rng, n, d):
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _clustered(rng, n, d, n_clusters, spread=0.5):
    """Seal-like embeddings: many masters near a few styles (kind, font, layout)."""
    centres = rng.standard_normal((n_clusters, d)).astype(np.float32)
    x = centres[rng.integers(n_clusters, size=n)]
    x = x + spread * rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _filled(n=300, d=32, seed=0, factory=vx.DEFAULT_FACTORY, model="m1"):
    rng = np.random.default_rng(seed)
    x = _unit(rng, n, d)
    ids = rng.choice(10**9, size=n, replace=False).astype(np.int64)
    index = VectorIndex(d, model, factory)
    index.add(ids, x)
    return index, ids, x


# -- search --------------------------------------------------------------------------------


def test_exact_top1_equals_brute_force():
    rng = np.random.default_rng(1)
    index, ids, x = _filled(n=2000, d=64, seed=1)
    q = _unit(rng, 100, 64)
    res = index.search(q, 5)
    sims = q @ x.T
    assert res.scores.dtype == np.float32 and res.ids.dtype == np.int64
    assert res.scores.shape == res.ids.shape == (100, 5)
    np.testing.assert_array_equal(res.ids[:, 0], ids[sims.argmax(axis=1)])
    np.testing.assert_allclose(res.scores[:, 0], sims.max(axis=1), atol=1e-5)
    assert (np.diff(res.scores, axis=1) <= 1e-6).all()  # best first


def test_vectors_are_normalised_so_scale_does_not_matter():
    index, ids, x = _filled()
    res = index.search(x[:10] * 37.0, 1)
    np.testing.assert_array_equal(res.ids[:, 0], ids[:10])
    np.testing.assert_allclose(res.scores[:, 0], 1.0, atol=1e-5)
    one = index.search(x[3], 2)  # a single 1-D query
    assert one.ids.shape == (1, 2) and one.ids[0, 0] == ids[3]


def test_short_results_are_padded():
    index, ids, _ = _filled(n=3)
    res = index.search(np.ones(32, np.float32), 5)
    assert sorted(res.ids[0, :3]) == sorted(ids)
    assert (res.ids[0, 3:] == -1).all() and np.isneginf(res.scores[0, 3:]).all()
    empty = VectorIndex(32, "m1").search(np.ones((2, 32)), 4)
    assert (empty.ids == -1).all() and np.isneginf(empty.scores).all()


def test_add_remove_search_stay_consistent():
    rng = np.random.default_rng(2)
    index, ids, x = _filled(n=500, seed=2)
    assert len(index) == 500 and np.array_equal(index.ids(), np.sort(ids))
    gone = rng.choice(500, size=100, replace=False)
    assert index.remove(np.concatenate([ids[gone], [123]])) == 100  # 123 was never there
    assert len(index) == 400 and index.remove(ids[gone]) == 0
    kept = np.setdiff1d(np.arange(500), gone)
    assert np.array_equal(index.ids(), np.sort(ids[kept]))
    assert ids[gone[0]] not in index and ids[kept[0]] in index
    res = index.search(x, 10)
    assert not np.isin(res.ids, ids[gone]).any()
    np.testing.assert_array_equal(res.ids[kept, 0], ids[kept])
    np.testing.assert_allclose(index.reconstruct(int(ids[kept[0]])), x[kept[0]], atol=1e-6)
    # a removed id can be filed again, with a new vector
    new = _unit(rng, 1, 32)
    index.add([ids[gone[0]]], new)
    assert index.search(new, 1).ids[0, 0] == ids[gone[0]] and len(index) == 401
    with pytest.raises(UnknownIdError):
        index.reconstruct(int(ids[gone[1]]))


def test_duplicate_ids_are_refused_and_leave_the_index_unchanged():
    index, ids, x = _filled(n=20)
    with pytest.raises(DuplicateIdError, match=str(ids[4])):
        index.add([ids[4], 10**12], x[:2])
    with pytest.raises(DuplicateIdError, match="repeated"):
        index.add([7, 7], x[:2])
    assert len(index) == 20 and 10**12 not in index and 7 not in index


@pytest.mark.parametrize("bad, match", [
    (np.ones((2, 31)), r"shape \(n, 32\)"),
    (np.ones((2, 2, 32)), r"shape \(n, 32\)"),
    (np.array([[np.nan] * 32, [1.0] * 32]), "NaN or infinite"),
    (np.array([[1.0] * 32, [np.inf] * 32]), "NaN or infinite"),
])
def test_bad_vectors_are_refused(bad, match):
    index, _, _ = _filled(n=5)
    with pytest.raises(InvalidParameterError, match=match):
        index.add([1, 2], bad)
    with pytest.raises(InvalidParameterError, match=match):
        index.search(bad, 3)
    assert len(index) == 5


def test_a_zero_vector_is_never_filed_and_finds_nothing():
    """An imprint with no ink embeds to zero: it cannot be filed, and as a query it finds no
    neighbour while the queries beside it are answered as usual."""
    index, ids, x = _filled(n=5)
    with pytest.raises(InvalidParameterError, match="zero vectors"):
        index.add([1, 2], np.zeros((2, 32)))
    found = index.search(np.stack([np.zeros(32, np.float32), x[3]]), 2)
    assert (found.ids[0] == -1).all() and np.isneginf(found.scores[0]).all()
    assert found.ids[1, 0] == ids[3] and found.scores[1, 0] > 0.99
    assert len(index) == 5


def test_bad_ids_and_k_are_refused():
    index, _, x = _filled(n=5)
    for ids, match in [([1], "1 ids for 2"), ([-1, 2], "non-negative"), ([1.5, 2.0], "integers")]:
        with pytest.raises(InvalidParameterError, match=match):
            index.add(ids, x[:2])
    for k in (0, -1, 2.0):
        with pytest.raises(InvalidParameterError, match="k must"):
            index.search(x[:1], k)
    with pytest.raises(InvalidParameterError, match="cannot build"):
        VectorIndex(32, "m1", "NoSuchIndex12")
    with pytest.raises(InvalidParameterError):
        VectorIndex(0, "m1")
    with pytest.raises(InvalidParameterError, match="nprobe"):
        VectorIndex(32, "m1", nprobe=0)
    assert 2**70 not in index and -5 not in index and "7" not in index


def test_errors_are_typed_with_codes():
    classes = [vx.VectorIndexError, IndexStateError, IndexMismatchError, IndexCorruptError,
               IndexMissingError, DuplicateIdError, UnknownIdError]
    assert all(issubclass(c, ImprintError) for c in classes)
    assert len({c.code for c in classes}) == len(classes)
    assert issubclass(DuplicateIdError, InvalidParameterError)
    assert issubclass(UnknownIdError, LookupError)


# -- training and approximate factories ----------------------------------------------------


def test_untrained_index_asks_for_training_and_explains_the_minimum():
    rng = np.random.default_rng(3)
    index = VectorIndex(32, "m1", "IVF64,PQ8")
    assert not index.is_trained and index.min_training_vectors == 256
    with pytest.raises(IndexStateError, match="must be trained"):
        index.add([1], _unit(rng, 1, 32))
    with pytest.raises(InvalidParameterError, match=r"at least 256 training vectors.*got 100"):
        index.train(_unit(rng, 100, 32))
    flat = VectorIndex(32, "m1")
    with pytest.raises(IndexStateError, match="already trained"):
        flat.train(_unit(rng, 10, 32))
    with pytest.raises(IndexStateError, match="nprobe"):
        flat.nprobe = 4


def test_ivf_pq_trains_and_recalls_the_nearest_master():
    rng = np.random.default_rng(4)
    d, n = 32, 3000
    x = _clustered(rng, n, d, n_clusters=40)
    ids = np.arange(n, dtype=np.int64) * 3 + 1
    approx = VectorIndex(d, "m1", "IVF32,PQ8", nprobe=8)
    approx.train(x[:1500])  # PQ training dominates the time; half the data is plenty here
    approx.add(ids, x)
    exact = VectorIndex(d, "m1")
    exact.add(ids, x)
    # queries: fresh imprints of filed seals (a filed vector plus noise)
    q = x[rng.integers(n, size=200)] + 0.05 * rng.standard_normal((200, d)).astype(np.float32)
    truth = exact.search(q, 10).ids
    found = approx.search(q, 10).ids
    recall_at_10 = np.mean([truth[i, 0] in found[i] for i in range(len(q))])
    assert recall_at_10 > 0.9
    # removal, reconstruction and ids work on inverted lists too
    assert approx.remove(ids[:10]) == 10 and len(approx) == n - 10
    assert not np.isin(approx.search(x[:10], 10).ids, ids[:10]).any()
    assert approx.reconstruct(int(ids[20])) @ x[20] > 0.9  # PQ codes are lossy
    assert np.array_equal(approx.ids(), ids[10:])


@pytest.mark.parametrize("factory", ["Flat", "IVF8,Flat", "IVF8_HNSW4,PQ4x4", "IVF8,PQ4x4,RFlat",
                                     "PCA8,IVF4,Flat", "HNSW8", "IVF8,SQ8"])
def test_every_factory_kind_adds_searches_and_round_trips(tmp_path, factory):
    rng = np.random.default_rng(9)
    x = _unit(rng, 600, 16)
    ids = rng.choice(10**6, size=600, replace=False)
    index = VectorIndex(16, "m1", factory)
    if not index.is_trained:
        index.train(x)
    index.add(ids, x)
    res = index.search(x[:20], 5)
    assert np.isin(res.ids, ids).all() and len(index) == 600
    index.save(tmp_path / "i.faiss")
    loaded = VectorIndex.load(tmp_path / "i.faiss")
    assert np.array_equal(loaded.ids(), np.sort(ids)) and loaded.factory == factory
    assert np.array_equal(loaded.search(x[:20], 5).ids, res.ids)


def test_rebuild_batches_trains_and_reports_progress():
    rng = np.random.default_rng(5)
    x = _unit(rng, 1000, 32)
    seen = []
    index = VectorIndex.rebuild(((i * 2, v) for i, v in enumerate(x)), 32, "m1",
                                batch_size=300, progress=seen.append)
    assert seen == [300, 600, 900, 1000] and len(index) == 1000
    assert index.search(x[7], 1).ids[0, 0] == 14
    seen.clear()
    ivf = VectorIndex.rebuild(enumerate(x), 32, "m1", "IVF8,Flat", batch_size=100,
                              train_size=400, nprobe=8, progress=seen.append)
    assert ivf.is_trained and ivf.nprobe == 8 and len(ivf) == 1000
    assert seen == [400, 500, 600, 700, 800, 900, 1000]
    np.testing.assert_array_equal(ivf.search(x[:50], 1).ids[:, 0], np.arange(50))
    with pytest.raises(InvalidParameterError, match="shape"):
        VectorIndex.rebuild([(1, np.ones(31))], 32, "m1")


def test_removal_unsupported_by_the_factory_is_a_state_error():
    index, ids, _ = _filled(n=50, factory="HNSW8")
    with pytest.raises(IndexStateError, match="rebuild"):
        index.remove(ids[:2])
    assert len(index) == 50 and ids[0] in index


# -- persistence ---------------------------------------------------------------------------


def test_save_load_round_trip_keeps_ids_and_answers(tmp_path):
    index, ids, x = _filled(n=400)
    index.remove(ids[:50])
    path = tmp_path / "masters.faiss"
    index.save(path)
    meta = json.loads(sidecar_path(path).read_text())
    assert meta["model_id"] == "m1" and meta["dimension"] == 32 and meta["count"] == 350
    assert meta["factory"] == "IDMap2,Flat" and meta["metric"] == "inner_product"
    assert meta["format_version"] == vx.FORMAT_VERSION and len(meta["sha256"]) == 64
    assert "created_at" in meta
    loaded = VectorIndex.load(path, expect_model_id="m1", expect_dimension=32)
    assert np.array_equal(loaded.ids(), index.ids()) and loaded.model_id == "m1"
    a, b = index.search(x, 10), loaded.search(x, 10)
    assert np.array_equal(a.ids, b.ids) and np.array_equal(a.scores, b.scores)
    np.testing.assert_array_equal(loaded.reconstruct(int(ids[60])), index.reconstruct(int(ids[60])))
    with pytest.raises(DuplicateIdError):  # the id bookkeeping came back too
        loaded.add([ids[60]], x[:1])
    assert not list(tmp_path.glob("*.tmp"))


def test_ivf_round_trip_keeps_ids_removal_and_nprobe(tmp_path):
    rng = np.random.default_rng(6)
    x = _unit(rng, 600, 16)
    index = VectorIndex(16, "m1", "IVF8,Flat", nprobe=8)
    index.train(x)
    index.add(np.arange(600) + 10, x)
    index.remove([10, 11])
    index.save(tmp_path / "ivf.faiss")
    loaded = VectorIndex.load(tmp_path / "ivf.faiss", nprobe=3)
    assert loaded.nprobe == 3 and np.array_equal(loaded.ids(), np.arange(12, 610))
    assert loaded.remove([12, 13, 99999]) == 2
    np.testing.assert_allclose(loaded.reconstruct(20), x[10], atol=1e-6)


def test_checksum_tamper_is_detected(tmp_path):
    index, _, _ = _filled()
    path = tmp_path / "masters.faiss"
    index.save(path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(IndexCorruptError, match="checksum"):
        VectorIndex.load(path)


def test_a_save_killed_between_its_renames_is_read_forward(tmp_path):
    """Killed after the index was renamed into place but before its sidecar: the new sidecar
    is complete in its temporary file, and loading reads the new pair; without it, the
    mismatch is reported."""
    old, _, _ = _filled()
    path = tmp_path / "masters.faiss"
    old.save(path)
    new = VectorIndex(old.dimension, old.model_id)
    new.add([7], np.ones((1, old.dimension), np.float32))
    new.save(tmp_path / "new.faiss")
    os.replace(tmp_path / "new.faiss", path)  # the first rename happened, the second did not
    pending = tmp_path / f".{sidecar_path(path).name}.k1ll3d.tmp"
    os.replace(sidecar_path(tmp_path / "new.faiss"), pending)
    assert VectorIndex.load(path).ids().tolist() == [7]
    pending.unlink()
    with pytest.raises(IndexCorruptError, match="checksum"):
        VectorIndex.load(path)


def test_missing_or_broken_sidecar_and_missing_index(tmp_path):
    path = tmp_path / "masters.faiss"
    with pytest.raises(IndexMissingError):
        VectorIndex.load(path)
    _filled()[0].save(path)
    meta = sidecar_path(path)
    good = meta.read_bytes()
    meta.write_text("{not json")
    with pytest.raises(IndexCorruptError, match="JSON"):
        VectorIndex.load(path)
    meta.write_text(json.dumps({**json.loads(good), "sha256": None}))
    with pytest.raises(IndexCorruptError, match="sha256"):
        VectorIndex.load(path)
    meta.unlink()
    with pytest.raises(IndexCorruptError, match="sidecar"):
        VectorIndex.load(path)
    meta.write_bytes(good)
    path.unlink()
    with pytest.raises(IndexCorruptError, match="index file missing"):
        VectorIndex.load(path)


def test_other_model_or_dimension_is_refused(tmp_path):
    path = tmp_path / "masters.faiss"
    _filled(model="siamese-v1")[0].save(path)
    with pytest.raises(IndexMismatchError) as err:
        VectorIndex.load(path, expect_model_id="siamese-v2")
    assert "siamese-v1" in str(err.value) and "siamese-v2" in str(err.value)
    with pytest.raises(IndexMismatchError, match="dimension 32, expected 64"):
        VectorIndex.load(path, expect_dimension=64)


def test_partial_temp_file_from_a_killed_save_is_ignored(tmp_path):
    old, _, _ = _filled(n=100)
    path = tmp_path / "masters.faiss"
    old.save(path)
    # what a process killed mid-write leaves: a truncated temp file beside the pair
    partial = tmp_path / ".masters.faiss.k1ll3d.tmp"
    partial.write_bytes(path.read_bytes()[:1000])
    loaded = VectorIndex.load(path)
    assert np.array_equal(loaded.ids(), old.ids())


@pytest.mark.parametrize("fail_at", [1, 2])
def test_failed_rename_keeps_the_previous_pair_or_is_detected(tmp_path, monkeypatch, fail_at):
    old, _, _ = _filled(n=100, seed=7)
    path = tmp_path / "masters.faiss"
    old.save(path)
    new, _, _ = _filled(n=150, seed=8)
    real_replace, calls = os.replace, []

    def replace(src, dst):
        calls.append(dst)
        if len(calls) == fail_at:  # both temp files are complete and synced by now
            raise OSError(28, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(vx.os, "replace", replace)
    with pytest.raises(OutputError, match="No space left"):
        new.save(path)
    monkeypatch.undo()
    assert not list(tmp_path.glob("*.tmp"))  # temp files cleaned up
    if fail_at == 1:  # killed before the index was replaced: the old pair loads
        assert np.array_equal(VectorIndex.load(path).ids(), old.ids())
    else:  # killed between the renames: new index, old sidecar, caught by the checksum
        with pytest.raises(IndexCorruptError, match="checksum"):
            VectorIndex.load(path)
    new.save(path)  # and the next save repairs it
    assert np.array_equal(VectorIndex.load(path).ids(), new.ids())


def test_unwritable_destination_is_an_output_error(tmp_path):
    with pytest.raises(OutputError, match="cannot save"):
        _filled(n=5)[0].save(tmp_path / "no" / "such" / "dir" / "i.faiss")


def test_saved_bytes_are_faiss_serialisation(tmp_path):
    import faiss

    index, _, _ = _filled(n=50)
    index.save(tmp_path / "a.faiss")
    assert (tmp_path / "a.faiss").read_bytes() == faiss.serialize_index(index._index).tobytes()
