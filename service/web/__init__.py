"""The examiner's web page: one HTML page, its stylesheet and script, all bundled (no CDN, no
external fonts), served by the API at ``/`` and ``/web/``. The page calls the same ``/v1``
endpoints as any client, with the API key the user pastes in (kept in sessionStorage)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).parent / "static"
#: The page loads only what the service itself serves; images arrive as data: URLs and reports
#: are handed to the browser as blob: URLs.
CONTENT_SECURITY_POLICY = ("default-src 'self'; img-src 'self' data: blob:; "
                           "connect-src 'self'; object-src 'none'; base-uri 'none'; "
                           "frame-ancestors 'none'; form-action 'self'")

router = APIRouter(tags=["web page"])


@router.get("/", include_in_schema=False)
def web_page() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html; charset=utf-8",
                        headers={"Content-Security-Policy": CONTENT_SECURITY_POLICY,
                                 "X-Content-Type-Options": "nosniff",
                                 "Referrer-Policy": "no-referrer",
                                 "Cache-Control": "no-cache"})


def static_files() -> StaticFiles:
    """The page's stylesheet and script, mounted at ``/web``."""
    return StaticFiles(directory=STATIC_DIR)
