"""Runtime settings of the service, from the environment (prefix ``IMPRINT_``) or arguments."""

from __future__ import annotations

import os

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from imprint.io import LoadLimits

MB = 1024**2


class ServiceSettings(BaseSettings):
    """Where the registry is and what one request may cost.

    ``registry``: a directory or database URL; None selects the registry the way every
    ``imprint`` command does (``$IMPRINT_HOME``, else ``./data/registry``). Limits are checked
    before anything large is decoded: the request body in bytes, pixels per page, PDF pages, and
    the wall time of the work for one request in seconds. ``engine_workers``: requests doing
    engine work at once (default: the machine's cores, at most 4); each holds a page or two in
    memory, so the setting also bounds memory. ``filing_nice``: how much lower the filing
    process's scheduling priority is than the service's (0 to 19; a filing waits for the
    processor while verifications run).
    """

    model_config = SettingsConfigDict(env_prefix="IMPRINT_", extra="ignore")

    registry: str | None = None
    embedder: str | None = None
    max_upload_bytes: int = Field(default=25 * MB, gt=0)
    max_page_pixels: int = Field(default=60_000_000, gt=0)
    max_pdf_pages: int = Field(default=20, gt=0)
    pdf_dpi: float = Field(default=300.0, ge=72.0, le=600.0)
    request_timeout_s: float = Field(default=120.0, gt=0)
    max_top_k: int = Field(default=20, gt=0)
    max_search_results: int = Field(default=100, gt=0)
    engine_workers: int = Field(default_factory=lambda: min(4, os.cpu_count() or 1), ge=1,
                                le=64)
    filing_nice: int = Field(default=10, ge=0, le=19)

    def load_limits(self) -> LoadLimits:
        # a page of a PDF is rendered before its pixels are counted: the page cap bounds both
        return LoadLimits(max_bytes=self.max_upload_bytes, max_page_pixels=self.max_page_pixels,
                          max_total_pixels=self.max_page_pixels * self.max_pdf_pages,
                          max_pages=self.max_pdf_pages, pdf_dpi=self.pdf_dpi)
