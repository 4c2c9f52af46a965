"""A sweep's results as files, written atomically from the journal once the documents are done:

- ``imprints.jsonl``: one line per imprint found, in document order (see :func:`imprint_rows`);
- ``documents.csv``: one row per document: its state, pages, imprints, flags, error;
- ``summary.html``: flagged imprints first, with thumbnails (:mod:`service.sweep.summary_page`);
- ``sweep.json``: the counts, the failures and what made the results.

Documents are in the order the inputs were walked, never the order workers finished in: the
same inputs give the same files whatever the number of workers or the engine.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

from imprint.atomic import write_bytes
from imprint.errors import OutputError
from service.sweep.flags import priority
from service.sweep.worker import DocumentResult, SweptImprint

IMPRINTS_NAME = "imprints.jsonl"
DOCUMENTS_NAME = "documents.csv"
HTML_NAME = "summary.html"
SUMMARY_NAME = "sweep.json"
CSV_COLUMNS = ("file", "sha256", "date", "state", "pages", "imprints", "flagged", "flags",
               "also_at", "error_code", "error")


@dataclass(frozen=True)
class SweptDocument:
    """A document of the walk with its result: ``also_at`` other names of the same content
    (examined once, under ``name``, the first in walking order); ``result`` None when the
    document could not even be read to hash it (``error`` says why)."""

    name: str
    sha256: str | None
    also_at: tuple[str, ...]
    result: DocumentResult | None
    error_code: str | None = None
    error: str | None = None

    @property
    def failed(self) -> bool:
        return self.result is None or self.result.state == "failed"

    @property
    def imprints(self) -> tuple[SweptImprint, ...]:
        return self.result.imprints if self.result else ()


def imprint_rows(documents: list[SweptDocument]) -> list[dict]:
    """One JSON record per imprint: the identification record of ``imprint identify --json``
    (page, box, shape, colour, candidates, match, status, verdict, log10_lr, status_flag) with
    the document (``file``, ``sha256``, ``date``, ``also_at``), the top candidate's ``score``
    and ``agreement`` and the imprint's ``flags``."""
    rows = []
    for doc in documents:
        for imp in doc.imprints:
            rec = imp.to_json()
            rows.append({"file": doc.name, "sha256": doc.sha256,
                         "date": doc.result.date if doc.result else None, **rec,
                         "score": imp.candidates[0].score if imp.candidates else None,
                         "agreement": imp.candidates[0].agreement if imp.candidates else None,
                         "also_at": list(doc.also_at)})
    return rows


def write_outputs(out_dir: Path, documents: list[SweptDocument], summary: dict,
                  html: bytes) -> dict[str, str]:
    """Write every output file atomically; returns their paths by kind."""
    jsonl = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in imprint_rows(documents))
    paths = {"imprints": out_dir / IMPRINTS_NAME, "documents": out_dir / DOCUMENTS_NAME,
             "html": out_dir / HTML_NAME, "summary": out_dir / SUMMARY_NAME}
    payload = {"imprints": jsonl.encode(), "documents": _csv(documents).encode("utf-8-sig"),
               "html": html,
               "summary": json.dumps(summary, ensure_ascii=False, indent=2).encode()}
    try:
        for kind, path in paths.items():
            write_bytes(path, payload[kind], mode=0o644)  # results to share, like the journal
    except OSError as exc:
        raise OutputError(f"{out_dir}: cannot write the sweep's results ({exc})") from exc
    return {k: str(p) for k, p in paths.items()}


def _csv(documents: list[SweptDocument]) -> str:
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    out.writerow(CSV_COLUMNS)
    for doc in documents:
        r = doc.result
        flags = sorted({f for imp in doc.imprints for f in imp.flags},
                       key=lambda f: (priority([f]), f))
        err = r.error if r else None
        out.writerow([doc.name, doc.sha256 or "", (r.date if r else None) or "",
                      r.state if r else "failed", r.pages if r else 0, len(doc.imprints),
                      sum(1 for imp in doc.imprints if imp.flags), ";".join(flags),
                      ";".join(doc.also_at), err.code if err else doc.error_code or "",
                      err.message if err else doc.error or ""])
    return buf.getvalue()
