"""The sweep's HTML summary: one self-contained page (no scripts, no external files; each
imprint's thumbnail embedded as a JPEG data URI) listing, in this order: the flagged imprints,
most serious first (:mod:`service.sweep.flags`); the documents that could not be read or
failed; the documents where no imprint was found; and the clean imprints."""

from __future__ import annotations

import base64
from html import escape

from service.sweep.flags import flag_meaning, is_suspicious, priority
from service.sweep.outputs import SweptDocument
from service.sweep.worker import SweptImprint

_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222}
h1{font-size:22px}h2{font-size:18px;margin-top:28px}
table{border-collapse:collapse;width:100%}
th,td{border-bottom:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:middle}
th{background:#f4f4f4}td.num{text-align:right;font-variant-numeric:tabular-nums}
img{max-width:112px;max-height:112px;display:block}
.flag{display:inline-block;border-radius:3px;padding:1px 6px;margin:1px;font-size:12px}
.t1{background:#b00020;color:#fff}.t2{background:#f2c14e;color:#222}
.counts{width:auto}.counts td{border:none;padding:2px 12px 2px 0}.muted{color:#777}
code{font-size:12px}
"""


def render(documents: list[SweptDocument], summary: dict) -> bytes:
    """The page, UTF-8."""
    flagged, clean = [], []
    for doc in documents:
        for imp in doc.imprints:
            (flagged if imp.flags else clean).append((doc, imp))
    flagged.sort(key=lambda di: priority(di[1].flags))  # stable: document order within a rank
    failed = [d for d in documents if d.failed]
    empty = [d for d in documents if not d.failed and not d.imprints]
    n_suspicious = sum(1 for _, imp in flagged if is_suspicious(imp.flags))
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<title>Seal sweep: ", escape(summary["out_dir"]), "</title><style>", _STYLE,
        "</style></head><body>",
        "<h1>Seal sweep</h1>",
        "<table class='counts'>",
        _count("documents", summary["documents"]), _count("pages", summary["pages"]),
        _count("imprints", summary["imprints"]),
        _count("flagged: suspicious", n_suspicious),
        _count("flagged: to review", len(flagged) - n_suspicious),
        _count("documents failed", len(failed)),
        _count("documents with no imprint found", len(empty)),
        "</table>",
        "<p class='muted'>Registry <code>", escape(str(summary["registry"])),
        "</code>, embedder <code>", escape(str(summary["model_id"])),
        "</code>, imaging version ", escape(str(summary.get("imaging", "-"))),
        ", match threshold ", escape(f"{summary['threshold']:.3f}"),
        ". Seal status on each document's date, or now where no date was given.</p>",
        f"<h2>Flagged imprints ({len(flagged)})</h2>",
        _imprint_table(flagged) if flagged else "<p>None.</p>",
        f"<h2>Documents that failed ({len(failed)})</h2>",
        _failed_table(failed) if failed else "<p>None.</p>",
        f"<h2>Documents with no imprint found ({len(empty)})</h2>",
        ("<details><summary>show</summary><ul>"
         + "".join(f"<li>{escape(d.name)}</li>" for d in empty) + "</ul></details>")
        if empty else "<p>None.</p>",
        f"<h2>Clean imprints ({len(clean)})</h2>",
        ("<details><summary>show</summary>" + _imprint_table(clean) + "</details>")
        if clean else "<p>None.</p>",
        "</body></html>\n"]
    return "".join(parts).encode("utf-8")


def _count(label: str, value: int) -> str:
    return f"<tr><td>{escape(label)}</td><td class='num'>{value}</td></tr>"


def _imprint_table(items: list[tuple[SweptDocument, SweptImprint]]) -> str:
    rows = ["<table><tr><th>imprint</th><th>flags</th><th>document</th><th>page</th>"
            "<th>matched seal</th><th>status</th><th>verdict</th><th>log10 LR</th>"
            "<th>score</th><th>date</th></tr>"]
    for doc, imp in items:
        thumb = (f"<img alt='imprint' src='data:image/jpeg;base64,"
                 f"{base64.b64encode(imp.thumbnail_jpeg).decode('ascii')}'>"
                 if imp.thumbnail_jpeg else "")
        flags = "".join(
            f"<span class='flag {'t1' if is_suspicious([f]) else 't2'}' "
            f"title='{escape(flag_meaning(f))}'>"
            f"{escape(f.replace('_', ' '))}</span>" for f in imp.flags)
        if imp.status_flag:
            flags += f"<div class='muted'>{escape(imp.status_flag)}</div>"
        box = ", ".join(f"{v:.0f}" for v in imp.box)
        also = (f"<div class='muted'>also at {escape(', '.join(doc.also_at))}</div>"
                if doc.also_at else "")
        score = f"{imp.candidates[0].score:.3f}" if imp.candidates else ""
        nearest = ("" if imp.match or not imp.candidates else
                   f"<span class='muted'>nearest {escape(imp.candidates[0].seal_id)}</span>")
        rows.append(
            f"<tr><td>{thumb}</td><td>{flags}</td><td>{escape(doc.name)}{also}"
            f"<div class='muted'>[{box}] {escape(imp.shape)} {escape(imp.colour)}</div></td>"
            f"<td class='num'>{imp.page + 1}</td>"
            f"<td>{escape(imp.match) if imp.match else 'none'} {nearest}</td>"
            f"<td>{escape(imp.status or '')}</td>"
            f"<td>{escape((imp.verdict or '').replace('_', ' '))}</td>"
            f"<td class='num'>{'' if imp.log10_lr is None else f'{imp.log10_lr:+.1f}'}</td>"
            f"<td class='num'>{score}</td>"
            f"<td>{escape(doc.result.date or '') if doc.result else ''}</td></tr>")
    rows.append("</table>")
    return "".join(rows)


def _failed_table(documents: list[SweptDocument]) -> str:
    rows = ["<table><tr><th>document</th><th>error</th><th>message</th></tr>"]
    for d in documents:
        err = d.result.error if d.result else None
        code = err.code if err else d.error_code or ""
        message = err.message if err else d.error or ""
        rows.append(f"<tr><td>{escape(d.name)}</td><td><code>{escape(code)}</code></td>"
                    f"<td>{escape(message)}</td></tr>")
    rows.append("</table>")
    return "".join(rows)
