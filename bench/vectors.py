"""Vector index: search latency and recall@10 of exact (Flat) and IVF-PQ indexes, dimension 256.

Clustered synthetic embeddings stand in for filed masters: styles (kind, font, layout) as
clusters in a 32-dimensional latent space, embedded in 256 dimensions with a little isotropic
noise, as learnt embeddings are far from isotropic. Each query is a filed vector plus noise
(cosine about 0.96 to it), like a fresh imprint of a filed seal. Exact search gives the ground
truth, and three recalls are reported:

* ``R@1``: the top result is the exact nearest master.
* ``R@10``: the exact nearest master is among the 10 returned, which is what identification
  needs (the verifier re-ranks the shortlist); faiss's "1-recall@10".
* ``10-recall@10``: the overlap of the 10 returned with the exact 10.

Every search is timed with faiss's default OpenMP threads and with one thread, and the exact
index both as faiss 1.15 runs it (since 1.15 a batch takes the BLAS path only when queries x
dimension >= 128000, tuned for many cores) and with the BLAS path forced. Latency is the median
over batches of 100 queries (k=10) of the batch time divided by 100. Indexes are built on one
thread, which on a shared two-core machine is faster than two (OpenMP threads wait on each
other when a core is busy elsewhere). ``--quick`` runs 100k vectors; the full run adds 1M
(minutes of training, so run it rarely).
"""

from __future__ import annotations

import contextlib
import os
import statistics
import time
from pathlib import Path

import faiss
import numpy as np

from index.vectors import VectorIndex

DIM = 256
K = 10
BATCH = 100
CHUNK = 100_000
SEED = 20261124
LATENT = 32  # intrinsic dimension of the synthetic embeddings
SPREAD = 1.0  # within-style spread of masters around their style centre, in latent units
ISO_NOISE = 0.05  # isotropic noise per embedding dimension
QUERY_NOISE = 0.3  # norm of the noise added to a unit master vector to make a query
NPROBES = (16, 32, 64)
CASES = {100_000: "IVF1024,PQ32", 1_000_000: "IVF4096_HNSW32,PQ32"}


class _Data:
    """Deterministic chunks, regenerated on demand so a million vectors are never held twice."""

    def __init__(self, n: int):
        self.n = n
        rng = np.random.default_rng([SEED, 0])
        basis = np.linalg.qr(rng.standard_normal((DIM, LATENT)))[0]
        self.basis = basis.T.astype(np.float32)  # (LATENT, DIM), orthonormal rows
        self.centres = rng.standard_normal((max(1, n // 1000), LATENT), dtype=np.float32)

    def chunk(self, i: int) -> np.ndarray:
        rng = np.random.default_rng([SEED, 1, i])
        m = min(CHUNK, self.n - i * CHUNK)
        z = self.centres[rng.integers(len(self.centres), size=m)]
        z += SPREAD * rng.standard_normal((m, LATENT), dtype=np.float32)
        x = z @ self.basis + ISO_NOISE * rng.standard_normal((m, DIM), dtype=np.float32)
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    def chunks(self):
        for i in range(-(-self.n // CHUNK)):
            yield i * CHUNK, self.chunk(i)

    def head(self, m: int) -> np.ndarray:
        return np.concatenate([self.chunk(i) for i in range(-(-m // CHUNK))])[:m]

    def queries(self, m: int) -> np.ndarray:
        rng = np.random.default_rng([SEED, 2])
        rows = np.sort(rng.choice(self.n, size=m, replace=False))
        src = np.concatenate([self.chunk(int(c))[rows[rows // CHUNK == c] % CHUNK]
                              for c in np.unique(rows // CHUNK)])
        noise = rng.standard_normal((m, DIM), dtype=np.float32)
        return src + QUERY_NOISE * noise / np.linalg.norm(noise, axis=1, keepdims=True)


@contextlib.contextmanager
def _settings(threads: int, blas: bool = False):
    """faiss's OpenMP threads and, optionally, the BLAS path forced; both restored after."""
    saved = faiss.omp_get_max_threads(), faiss.cvar.distance_compute_blas_threshold
    faiss.omp_set_num_threads(threads)
    if blas:
        faiss.cvar.distance_compute_blas_threshold = 0
    try:
        yield
    finally:
        faiss.omp_set_num_threads(saved[0])
        faiss.cvar.distance_compute_blas_threshold = saved[1]


def _fill(index: VectorIndex, data: _Data) -> float:
    t0 = time.perf_counter()
    for start, x in data.chunks():
        index.add(np.arange(start, start + len(x), dtype=np.int64), x)
    return time.perf_counter() - t0


def _timed_search(index: VectorIndex, q: np.ndarray) -> tuple[np.ndarray, float]:
    index.search(q[:BATCH], K)  # warm-up
    ids, per_query = [], []
    for b in range(0, len(q), BATCH):
        t0 = time.perf_counter()
        ids.append(index.search(q[b:b + BATCH], K).ids)
        per_query.append((time.perf_counter() - t0) / len(q[b:b + BATCH]))
    return np.concatenate(ids), 1000 * statistics.median(per_query)


def _recalls(found: np.ndarray, truth: np.ndarray) -> dict:
    pairs = list(zip(found, truth, strict=True))
    return {"R@1": float(np.mean(found[:, 0] == truth[:, 0])),
            "R@10": float(np.mean([t[0] in f for f, t in pairs])),
            "10-recall@10": float(np.mean([len(np.intersect1d(f, t)) / K for f, t in pairs]))}


def _case(n: int, factory: str, n_queries: int, threads: tuple[int, ...]) -> list[dict]:
    """Rows for one database size: exact search (default and BLAS paths), then IVF-PQ."""
    data = _Data(n)
    q = data.queries(n_queries)
    rows: list[dict] = []
    with _settings(1):  # builds run on one thread: faster than two on this shared machine
        exact = VectorIndex(DIM, "bench", "IDMap2,Flat")
        add_s = _fill(exact, data)
    truth = None
    for name, blas in (("IDMap2,Flat", False), ("IDMap2,Flat (BLAS)", True)):
        for th in threads:
            with _settings(th, blas):
                found, ms = _timed_search(exact, q)
            truth = found if truth is None else truth  # the first exact run is the truth
            rows.append({"n": n, "index": name, "nprobe": None, "threads": th,
                         "ms_per_query": ms, **_recalls(found, truth), "train_s": 0.0,
                         "add_s": add_s})
    del exact  # 1 GB at a million vectors

    approx = VectorIndex(DIM, "bench", factory)
    with _settings(1):
        train = data.head(approx.recommended_training_vectors)
        t0 = time.perf_counter()
        approx.train(train)
        train_s = time.perf_counter() - t0
        del train
        add_s = _fill(approx, data)
    for nprobe in NPROBES:
        approx.nprobe = nprobe
        for th in threads:
            with _settings(th):
                found, ms = _timed_search(approx, q)
            rows.append({"n": n, "index": factory, "nprobe": nprobe, "threads": th,
                         "ms_per_query": ms, **_recalls(found, truth), "train_s": train_s,
                         "add_s": add_s, "train_vectors": approx.recommended_training_vectors})
    return rows


def run(out: Path, *, quick: bool = False) -> dict:
    sizes = [100_000] if quick else [100_000, 1_000_000]
    n_queries = 500
    default_threads = faiss.omp_get_max_threads()
    threads = tuple(dict.fromkeys((default_threads, 1)))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    rows = []
    for n in sizes:
        rows += _case(n, CASES[n], n_queries, threads)
    print(f"\n## vectors: {n_queries} queries in batches of {BATCH}, k={K}, dimension {DIM}; "
          f"built on 1 thread; load average {load:.1f} on {os.cpu_count()} CPUs at start\n")
    print("| vectors | index | nprobe | threads | ms/query | R@1 | R@10 | 10-recall@10 | train s "
          "| add s |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['n']:,} | {r['index']} | {r['nprobe'] or '-'} | {r['threads']} | "
              f"{r['ms_per_query']:.3f} | {r['R@1']:.3f} | {r['R@10']:.3f} | "
              f"{r['10-recall@10']:.3f} | {r['train_s']:.1f} | {r['add_s']:.1f} |")
    _plot(rows, out / "vectors.png")
    print(f"\nplot: {out / 'vectors.png'}")
    return {"dim": DIM, "k": K, "batch": BATCH, "queries": n_queries,
            "default_threads": default_threads, "load_average": load, "latent": LATENT,
            "spread": SPREAD, "iso_noise": ISO_NOISE, "query_noise": QUERY_NOISE, "rows": rows}


def _plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    series = sorted({(r["n"], r["index"], r["threads"]) for r in rows})
    for i, key in enumerate(series):
        pts = [r for r in rows if (r["n"], r["index"], r["threads"]) == key]
        ax.plot([r["ms_per_query"] for r in pts], [r["10-recall@10"] for r in pts],
                marker="osD^v<>ph*"[i % 10], label=f"{key[1]}, {key[0]:,}, {key[2]} thr")
    ax.set_xscale("log")
    ax.set_xlabel(f"median ms per query (batches of {BATCH}, k={K})")
    ax.set_ylabel("10-recall@10 vs exact")
    probes = ", ".join(map(str, NPROBES))
    ax.set_title(f"Vector search, dimension {DIM} (IVF points: nprobe {probes})")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
