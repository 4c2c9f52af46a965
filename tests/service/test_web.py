"""Examining a document: ``POST /v1/documents`` and its stored reports over HTTP, and the web
page driven in a real browser (Debian's Chromium, headless, through Playwright).

The browser test is skipped only where Chromium is missing and ``CI`` is not set; in CI a
missing Chromium fails it. ``IMPRINT_WEB_SCREENSHOT=docs/web_page.png`` also saves a
screenshot of the page after the verification.
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from index.filing import file_master
from index.identify import SealSearch
from index.store import RegistryStore
from service.settings import ServiceSettings
from tests.service.conftest import DPI, PURPOSE, LiveServer, generated_seals

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOT_ENV = "IMPRINT_WEB_SCREENSHOT"
SCREENSHOT_MAX_BYTES = 300_000
PAGE_MM = (148, 105)  # an A6 landscape slip: small enough to examine quickly
REPORT_MAGIC = {"html": b"<!doctype html", "pdf": b"%PDF-", "png": b"\x89PNG\r\n\x1a\n",
                "json": b"{"}


def _document(probe: Path, out: Path) -> Path:
    """A page with the probe imprint stamped on it, beside some printed lines."""
    w, h = (round(mm / 25.4 * DPI) for mm in PAGE_MM)
    page = np.full((h, w, 3), 250, np.uint8)
    for row in range(60, h - 60, 42):  # grey bars standing for lines of text
        page[row:row + 12, 60:w // 2 - 40] = 70
    imprint = np.asarray(Image.open(probe).convert("RGB"))
    ih, iw = imprint.shape[:2]
    y0, x0 = (h - ih) // 2, w - iw - 60
    page[y0:y0 + ih, x0:x0 + iw] = np.minimum(page[y0:y0 + ih, x0:x0 + iw], imprint)
    Image.fromarray(page).save(out, dpi=(DPI, DPI))
    return out


@pytest.fixture(scope="module")
def filed(tmp_path_factory):
    root = tmp_path_factory.mktemp("web")
    (seal,) = generated_seals(root, 1, seed=4200)
    home = root / "registry"
    with RegistryStore.open(home) as store:
        file_master(SealSearch(store, "classical"), seal.master, seal_id=seal.seal_id,
                    unit=seal.unit)
    return seal, home, _document(seal.probe, root / "contract.png")


@pytest.fixture(scope="module")
def server(filed):
    _, home, _ = filed
    live = LiveServer(ServiceSettings(registry=str(home), embedder="classical"))
    yield live
    live.stop()


@pytest.fixture(scope="module")
def examined(server, filed):
    """The document examined once over HTTP by an investigator."""
    _, _, document = filed
    with server.client(server.keys["investigator"], PURPOSE) as client:
        r = client.post("/v1/documents", files={"file": (document.name, document.read_bytes(),
                                                          "image/png")})
    assert r.status_code == 200, r.text
    return r.json()


def test_every_imprint_is_identified_verified_and_reported(server, filed, examined):
    seal, home, document = filed
    assert examined["file"] == document.name
    (page,) = examined["pages"]
    assert page["width"] > page["height"] > 0
    thumb = Image.open(io.BytesIO(_b64(page["thumbnail_jpeg"])))
    assert thumb.format == "JPEG" and thumb.width <= 960
    (imp,) = examined["imprints"]
    assert imp["match"] == seal.seal_id and imp["unit"] == seal.unit
    assert imp["verdict"] == "genuine" and imp["status"] == "active"
    assert imp["status_flag"] is None and imp["log10_lr"] > 0
    x0, y0, x1, y1 = imp["box"]
    assert page["width"] / 2 < x0 < x1 <= page["width"] and 0 < y0 < y1 < page["height"]
    sizes = {Image.open(io.BytesIO(_b64(imp[k]))).size
             for k in ("master_png", "query_png", "overlay_png")}
    assert len(sizes) == 1  # one canonical frame: the page can stack them

    report_dir = home / "reports" / imp["report_id"]
    assert sorted(p.name for p in report_dir.iterdir()) == [
        "report.html", "report.json", "report.pdf", "report.png"]
    assert not [p for p in (home / "reports").iterdir() if p.name.startswith(".")]
    with server.client(server.keys["investigator"], PURPOSE) as client:
        for fmt, magic in REPORT_MAGIC.items():
            r = client.get(f"/v1/reports/{imp['report_id']}", params={"format": fmt})
            assert r.status_code == 200, r.text
            assert r.content.lstrip().lower().startswith(magic.lower())
            assert r.content == (report_dir / f"report.{fmt}").read_bytes()  # never redrawn
        record = json.loads(client.get(f"/v1/reports/{imp['report_id']}",
                                       params={"format": "json"}).content)
    assert record["verdict"] == "genuine"
    assert record["context"]["seal_id"] == seal.seal_id
    assert record["context"]["document"] == document.name


def test_documents_and_reports_are_refused_as_identify_is(server, filed, examined):
    _, _, document = filed
    report = f"/v1/reports/{examined['imprints'][0]['report_id']}"
    upload = {"file": (document.name, document.read_bytes(), "image/png")}
    for role in ("registrar", "bank", "auditor"):
        with server.client(server.keys[role], PURPOSE) as client:
            assert client.post("/v1/documents", files=upload).status_code == 403
            assert client.get(report).status_code == 403
    with server.client(server.keys["investigator"]) as client:  # no purpose stated
        assert client.get(report).json()["error"]["code"] == "purpose_required"
    with server.client(server.keys["admin"], PURPOSE) as client:
        assert client.get(report, params={"format": "pdf"}).status_code == 200
        for bad in ("0" * 32, "A" * 32, "not-a-report"):
            r = client.get(f"/v1/reports/{bad}")
            assert r.status_code == 404 and r.json()["error"]["code"] == "unknown_report"
        assert client.get("/v1/reports/..%2F..%2Fregistry.sqlite").status_code == 404
        assert client.get(report, params={"format": "exe"}).status_code == 422


def test_examinations_and_report_reads_are_audited(server, examined):
    report = f"/v1/reports/{examined['imprints'][0]['report_id']}"
    with server.client(server.keys["investigator"], PURPOSE) as client:
        assert client.get(report).status_code == 200
        assert client.get("/v1/reports/" + "0" * 32).status_code == 404
    with server.client(server.keys["bank"]) as client:
        assert client.get(report).status_code == 403
    rows = server.services.audit.query(endpoint="/v1/documents", limit=100)
    assert rows and rows[0].purpose == PURPOSE and rows[0].role == "investigator"
    assert "file" in rows[0].inputs
    reads = server.services.audit.query(endpoint="/v1/reports/{report_id}", limit=100)
    assert {r.status for r in reads} >= {200, 403, 404}
    assert all("path.report_id" in r.inputs for r in reads)


# --- the web page in a browser ----------------------------------------------------------------


@pytest.fixture(scope="module")
def chromium():
    """Debian's Chromium under Playwright; never a browser Playwright downloads itself."""
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail(f"Chromium is missing at {CHROMIUM}: in CI the web page must be tested "
                        f"(apt-get install chromium)")
        pytest.skip(f"Chromium is not installed at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield browser
        browser.close()


def test_the_web_page_examines_a_document(server, filed, chromium, tmp_path):
    seal, _, document = filed
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    failed: list[str] = []
    page.on("requestfailed", lambda req: failed.append(req.url))
    page.on("pageerror", lambda err: failed.append(str(err)))
    page.on("console", lambda msg: msg.type == "error" and failed.append(msg.text))
    page.on("response", lambda r: r.status >= 400 and failed.append(f"{r.status} {r.url}"))
    response = page.goto(server.url + "/")
    assert page.title().startswith("imprint")
    assert "default-src 'self'" in response.headers["content-security-policy"]

    page.get_by_label("API key").fill(server.keys["investigator"])
    page.get_by_label("Purpose (case number)").fill(PURPOSE)  # Chinese: sent as UTF-8
    page.get_by_label("Page image or PDF").set_input_files(str(document))
    page.get_by_role("button", name="Examine").click()

    verdict = page.locator("#imprint-1 .verdict")
    verdict.wait_for(timeout=60_000)
    assert verdict.inner_text() == "Genuine"
    card = page.locator("#imprint-1")
    assert seal.seal_id in card.locator(".seal").inner_text()
    assert card.locator(".registry-status").inner_text() == "active"
    assert page.locator(".page-frame .box").count() == 1
    for img in page.locator("#results img").all():  # every image described
        assert img.get_attribute("alt")
    assert page.evaluate("sessionStorage.getItem('imprint.apiKey')") == server.keys[
        "investigator"]

    query = card.locator("img.query")
    assert query.evaluate("el => el.style.opacity") == "0.5"
    card.get_by_label("fade from the master").fill("85")
    assert query.evaluate("el => el.style.opacity") == "0.85"

    if target := os.environ.get(SCREENSHOT_ENV):
        _screenshot(page, Path(target))

    with page.expect_download() as download:
        card.locator("a.report-link[data-format=html]").click()
    saved = tmp_path / "report.html"
    download.value.save_as(saved)
    assert saved.read_bytes().lower().startswith(b"<!doctype html")
    assert seal.seal_id in saved.read_text(encoding="utf-8")
    assert not failed
    context.close()

    rows = server.services.audit.query(endpoint="/v1/reports/{report_id}", limit=1000)
    assert any(r.purpose == PURPOSE and r.status == 200 for r in rows)


def _screenshot(page, target: Path) -> None:
    """The page as it shows a verification, as a palette PNG small enough for the README."""
    page.evaluate("window.scrollTo(0, 0)")
    png = page.screenshot(full_page=True)
    image = Image.open(io.BytesIO(png)).convert("RGB").quantize(colors=256, dither=Image.NONE)
    target.parent.mkdir(parents=True, exist_ok=True)
    image.save(target, optimize=True)
    assert target.stat().st_size < SCREENSHOT_MAX_BYTES


def _b64(text: str) -> bytes:
    return base64.b64decode(text)
