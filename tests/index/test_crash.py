"""A process killed in the middle of writing leaves a store and an index that load."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np

from index.store import RegistryStore
from index.vectors import VectorIndex

WRITER = textwrap.dedent("""
    import sys
    import numpy as np
    from index.store import RegistryStore
    from index.vectors import VectorIndex

    home, path = sys.argv[1], sys.argv[2]
    store = RegistryStore.open(home)
    unit = store.add_unit("某某有限公司")
    store.file_seal("S1", unit, "round_official")
    try:
        index = VectorIndex.load(path, expect_model_id="m")
    except Exception:
        index = VectorIndex(64, "m")
    rng = np.random.default_rng()
    index.save(path)
    print("ready", flush=True)
    while True:  # file masters and save the index until killed
        master = store.add_master("S1", rng.integers(0, 255, (200, 200, 3), dtype=np.uint8))
        index.add([master.id], rng.normal(size=(1, 64)))
        index.save(path)
""")


def test_killed_writer_leaves_loadable_store_and_index(tmp_path):
    rng = np.random.default_rng(7)
    for round_ in range(4):
        home = tmp_path / f"reg{round_}"
        path = home / "m.faiss"
        home.mkdir()
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(home), str(path)],
                                stdout=subprocess.PIPE, text=True,
                                cwd=Path(__file__).resolve().parents[2])
        try:
            assert proc.stdout.readline().strip() == "ready"
            time.sleep(float(rng.uniform(0.2, 1.0)))  # somewhere in a write
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        index = VectorIndex.load(path, expect_model_id="m")  # checksum verified on load
        with RegistryStore.open(home) as store:
            masters = store.masters_of("S1")
            for m in masters:  # every filed master is whole and matches its hash
                assert hashlib.sha256(m.path.read_bytes()).hexdigest() == m.sha256
            # a master is filed before its vector is saved: the index holds only filed
            # masters, and lags the store by at most the one being filed when killed
            ids = set(index.ids().tolist())
            assert ids <= {m.id for m in masters}
            assert len(masters) - len(ids) <= 1
            assert len(masters) > 0
