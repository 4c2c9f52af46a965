"""A live service on loopback (uvicorn in a thread, on a free port) over a small registry of
generated seals, and API keys of every role."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
import uvicorn

from imprint.synth.dataset import write_image
from imprint.synth.medium import Capture
from imprint.synth.registry import make_registry
from imprint.synth.scene import genuine_stamping, imprint_scene
from service.api import create_app
from service.auth import KeyRing, Role
from service.settings import ServiceSettings

DPI = 200
SCAN = Capture("scan", 0, 0.3, 0.003)
PURPOSE = "案件 2026-0417"


class LiveServer:
    """``create_app(settings)`` served by uvicorn on 127.0.0.1 in a daemon thread."""

    def __init__(self, settings: ServiceSettings) -> None:
        self.app = create_app(settings)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        config = uvicorn.Config(self.app, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]},
                                       daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the service did not start")
            time.sleep(0.02)
        self.keys = make_keys(self.services.keys)  # role name -> key

    @property
    def services(self):
        return self.app.state.services

    def client(self, key: str | None = None, purpose: str | None = None) -> httpx.Client:
        headers: dict[str, bytes] = {}
        if key:
            headers["Authorization"] = f"Bearer {key}".encode()
        if purpose:
            headers["X-Purpose"] = purpose.encode()  # UTF-8: case numbers are often Chinese
        return httpx.Client(base_url=self.url, headers=headers, timeout=120)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@dataclass(frozen=True)
class GeneratedSeal:
    seal_id: str
    unit: str
    master: Path  # a clean imprint, to file
    probe: Path  # another genuine imprint of the same seal, to examine


def imprint_png(path: Path, record, seed: int, *, quality: str = "clean",
                clutter: bool = False) -> Path:
    rng = np.random.default_rng(seed)
    st = genuine_stamping(record.face(), rng, ink=record.spec.ink, seal_id=record.seal_id,
                          quality=quality)
    image, _ = imprint_scene(st, dpi=DPI, rng=rng, clutter=clutter, capture=SCAN)
    write_image(path, image, DPI)
    return path


def generated_seals(root: Path, n: int, *, seed: int = 4100) -> list[GeneratedSeal]:
    """``n`` round official seals, each with a master and a probe file."""
    records = [r for r in make_registry(30, np.random.default_rng(seed), lookalike_rate=0,
                                        sibling_rate=0) if r.spec.kind == "round_official"][:n]
    return [GeneratedSeal(r.seal_id, r.unit_name,
                          imprint_png(root / f"{r.seal_id}_master.png", r, 10 + i),
                          imprint_png(root / f"{r.seal_id}_probe.png", r, 20 + i))
            for i, r in enumerate(records)]


def make_keys(keys: KeyRing) -> dict[str, str]:
    """One live key per role, by role name."""
    return {role.value: keys.create(role, f"test {role.value}").secret for role in Role}


@pytest.fixture(scope="module")
def empty_server(tmp_path_factory):
    """A service over an empty registry, with a key of every role."""
    server = LiveServer(ServiceSettings(registry=str(tmp_path_factory.mktemp("registry"))))
    yield server
    server.stop()
