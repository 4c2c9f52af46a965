"""Registries for tests: SQLite in a directory, or, where ``$IMPRINT_TEST_POSTGRES`` names a
PostgreSQL server (``postgresql+psycopg://user@/postgres?host=/run/postgresql``), a fresh
database on it, so the same tests check the SQL on both dialects."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import numpy as np
from sqlalchemy import create_engine, make_url, text

from imprint.synth.dataset import write_image
from imprint.synth.medium import Capture
from imprint.synth.scene import genuine_stamping, imprint_scene
from index.store import RegistryStore

POSTGRES_ENV = "IMPRINT_TEST_POSTGRES"
DPI = 200
SCAN = Capture("scan", 0, 0.3, 0.003)


def imprint_file(path: Path, record, seed: int, quality: str) -> Path:
    """A generated imprint of ``record``'s seal scanned at :data:`DPI`, written to ``path``:
    ``clean`` for a master, any other quality with printed clutter for a probe."""
    rng = np.random.default_rng(seed)
    st = genuine_stamping(record.face(), rng, ink=record.spec.ink, seal_id=record.seal_id,
                          quality=quality)
    image, _ = imprint_scene(st, dpi=DPI, rng=rng, clutter=quality != "clean", capture=SCAN)
    write_image(path, image, DPI)
    return path


def new_registry(home: Path) -> str:
    """Where a new, empty registry is: ``home`` itself, or the URL of a new PostgreSQL database
    whose master images live in ``home``. Open it with :func:`open_registry`."""
    server = os.environ.get(POSTGRES_ENV)
    if not server:
        return str(home)
    url = make_url(server)
    name = f"imprint_test_{secrets.token_hex(6)}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    home.mkdir(parents=True, exist_ok=True)
    (home / ".url").write_text(url.set(database=name).render_as_string(hide_password=False))
    return str(home)


def open_registry(home: str | Path) -> RegistryStore:
    """The registry :func:`new_registry` made at ``home``."""
    marker = Path(home) / ".url"
    if marker.is_file():
        return RegistryStore.open(marker.read_text(), masters_dir=home)
    return RegistryStore.open(home)


def registry_locator(home: str | Path) -> str:
    """What ``--registry`` takes for it (a URL's masters go in ``$IMPRINT_HOME``)."""
    marker = Path(home) / ".url"
    return marker.read_text() if marker.is_file() else str(home)
