"""The registry statistics panel of the web page, in a real browser: a bar per group for a role
that may read statistics, a plain refusal for one that may not."""

from __future__ import annotations

from datetime import datetime

import pytest
from playwright.sync_api import expect

from index.store import EventKind, RegistryStore
from service.settings import ServiceSettings
from tests.service.conftest import PURPOSE, LiveServer
from tests.service.test_web import chromium  # noqa: F401 (the browser fixture)

KINDS = {"round_official": 3, "oval_invoice": 2, "square_name": 1}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("web-stats")
    with RegistryStore.open(home) as store:
        unit = store.add_unit("深圳市某某科技有限公司")
        n = 0
        for kind, count in KINDS.items():
            for _ in range(count):
                store.file_seal(f"S{n:03d}", unit, kind, code=f"440305001{n:04d}",
                                filed_at=datetime(2025, 1 + n, 3))
                n += 1
        store.record_event("S000", EventKind.REVOKED, datetime(2025, 12, 1))
    live = LiveServer(ServiceSettings(registry=str(home), embedder="classical"))
    yield live
    live.stop()


def test_the_chart_shows_counts_to_roles_that_may_read_them(server, chromium, tmp_path):  # noqa: F811
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.goto(server.url + "/")
    page.get_by_label("API key").fill(server.keys["registrar"])
    page.locator("#stats summary").click()

    bars = page.locator("#stats-chart rect.bar")
    bars.first.wait_for(timeout=30_000)
    assert bars.count() == len(KINDS)
    labels = page.locator("#stats-chart g.row > text:not(.count)").all_text_contents()
    counts = page.locator("#stats-chart text.count").all_text_contents()
    assert dict(zip(labels, map(int, counts), strict=True)) == KINDS
    widths = [float(b.get_attribute("width")) for b in bars.all()]
    assert widths == sorted(widths, reverse=True) and widths[0] > widths[-1]
    assert "6 filed seal(s) by kind" in page.locator("#stats-caption").inner_text()

    page.get_by_label("Count filed seals by").select_option("status")
    expect(page.locator("#stats-caption")).to_contain_text("by status")
    labels = page.locator("#stats-chart g.row > text:not(.count)").all_text_contents()
    assert labels == ["active", "revoked"]

    with page.expect_download() as download:
        page.get_by_role("button", name="Download CSV").click()
    saved = tmp_path / "stats.csv"
    download.value.save_as(saved)
    assert saved.read_text(encoding="utf-8").startswith("axis,value,period,endpoint,outcome")

    # an investigator's key: no chart, a plain word why
    page.get_by_label("API key").fill(server.keys["investigator"])
    page.get_by_label("Purpose (case number)").fill(PURPOSE)
    page.get_by_label("API key").dispatch_event("change")
    expect(page.locator("#stats-status")).to_contain_text("may not read")
    assert page.locator("#stats-figure").is_hidden()
    assert not errors
    context.close()
