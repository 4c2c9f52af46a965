"""Limits of the service: upload size, pixel count, PDF pages and request time, each refused
with a 4xx and its own code, and each refusal on the audit trail."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from index.store import RegistryStore
from service.settings import ServiceSettings
from tests.service.conftest import PURPOSE, LiveServer

MAX_UPLOAD = 100_000
MAX_PIXELS = 250_000  # 500 x 500


def _png(side: int) -> bytes:
    rng = np.random.default_rng(side)  # noise: PNG cannot shrink it below the upload limit
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def _pdf(pages: int) -> bytes:
    sheets = [Image.new("RGB", (100, 140), "white") for _ in range(pages)]
    buf = io.BytesIO()
    sheets[0].save(buf, "PDF", save_all=True, append_images=sheets[1:], resolution=72)
    return buf.getvalue()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("registry")
    with RegistryStore.open(home) as store:
        store.file_seal("S1", store.add_unit("某某科技有限公司"), "round_official")
    live = LiveServer(ServiceSettings(registry=str(home), embedder="classical",
                                      max_upload_bytes=MAX_UPLOAD, max_page_pixels=MAX_PIXELS,
                                      max_pdf_pages=1, pdf_dpi=72))
    yield live
    live.stop()


def _verify(server, data: bytes, name: str = "doc.png"):
    with server.client(server.keys["investigator"], PURPOSE) as client:
        return client.post("/v1/verify", files={"file": (name, data, "application/octet-stream")},
                           data={"seal_id": "S1"})


def _refused(r, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code


def test_an_upload_over_the_limit(server):
    _refused(_over_upload(server), 413, "upload_too_large")


def test_a_streamed_upload_over_the_limit(server):
    """No Content-Length to refuse it by: it is stopped as it streams in."""

    def body():
        yield b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.png\"\r\n\r\n"
        for _ in range(40):
            yield b"\0" * 10_000

    with server.client(server.keys["investigator"], PURPOSE) as client:
        r = client.post("/v1/verify", content=body(),
                        headers={"Content-Type": "multipart/form-data; boundary=b"})
    _refused(r, 413, "upload_too_large")


def test_an_image_over_the_pixel_limit(server):
    _refused(_over_pixels(server), 413, "image_too_large")


def _blank_png(side: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (side, side), "white").save(buf, "PNG")
    return buf.getvalue()


def test_a_pdf_over_the_page_limit(server):
    r = _over_pages(server)
    _refused(r, 413, "too_many_pages")
    assert "contract.pdf" in r.json()["error"]["message"]


def test_work_past_the_time_limit(server):
    _refused(_past_time(server), 408, "request_timeout")


def _over_upload(server):
    return _verify(server, _png(300) * 2)


def _over_pixels(server):
    return _verify(server, _blank_png(600))


def _over_pages(server):
    return _verify(server, _pdf(3), "contract.pdf")


def _past_time(server):
    settings = server.services.settings
    saved = settings.request_timeout_s
    settings.request_timeout_s = 0.01
    try:
        return _verify(server, _blank_png(400))
    finally:
        settings.request_timeout_s = saved


def test_refusals_are_audited(server):
    # each refusal made here: the other tests of this module may run in another worker
    for refuse in (_over_upload, _over_pixels, _over_pages, _past_time):
        refuse(server)
    with server.client(server.keys["auditor"]) as client:
        rows = client.get("/v1/audit", params={"endpoint": "/v1/verify"}).json()["entries"]
    outcomes = {row["outcome"] for row in rows}
    assert {"upload_too_large", "image_too_large", "too_many_pages",
            "request_timeout"} <= outcomes
    # refused before the route read its key, the caller is named all the same
    assert all(row["role"] == "investigator" and row["purpose"] == PURPOSE for row in rows
               if row["outcome"] == "upload_too_large")


def test_a_master_over_the_pixel_limit_is_not_filed(server):
    with server.client(server.keys["registrar"]) as client:
        r = client.post("/v1/seals", files={"image": ("m.png", _blank_png(600), "image/png")},
                        data={"seal_id": "S2", "unit": "某某科技有限公司"})
    _refused(r, 413, "image_too_large")
    assert not server.services.store.search(seal_id="S2")


def test_an_access_the_audit_cannot_record_is_not_served(server, monkeypatch):
    def refuse(_access):
        raise OSError("disk full")

    monkeypatch.setattr(server.services.audit, "append", refuse)
    with server.client(server.keys["registrar"]) as client:
        _refused(client.get("/v1/seals/S1"), 503, "audit_unavailable")
        _refused(client.get("/v1/health"), 503, "audit_unavailable")
