"""The readable report of a forensic comparison: a questioned imprint against a registered master.

What a document examiner puts in a case file: the verdict and how strongly the evidence supports
it, who and what the comparison is about, the two imprints laid on each other (overlay,
difference, local shifts), the sub-scores against their thresholds, the measurements, and the
reasons in words. :func:`render_figure` draws it on one A4-landscape page; :func:`write_report`
writes that page as PNG or PDF, a self-contained HTML page (with a fader between master and
questioned imprint), or the same facts as JSON (:func:`comparison_record`).

Convention: every image is in the master's canonical frame (``CANONICAL_SIZE`` px square,
x right, y down, origin at the top-left corner), ink 1 = full ink. In colour the master's ink
is blue, the questioned imprint's red, where both have ink it is dark, and grey means no data.
"""

from __future__ import annotations

import base64
import functools
import html
import io
import json
import logging
import math
import textwrap
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import cv2
import matplotlib
import numpy as np
from matplotlib import font_manager
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.colors import ListedColormap, Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from PIL import Image

from imprint import __version__
from imprint.atomic import write_bytes
from imprint.errors import InvalidParameterError, OutputError
from imprint.evidence import SUBSTITUTION_WINDOW
from imprint.rectify import CANONICAL_RADIUS, clock_hour
from imprint.types import VERDICTS, Comparison, Displacement, Measurement, Quality, SubScore
from imprint.verdict import FORGERY_NAMES

PAGE_SIZE_IN = (11.69, 8.27)  # A4 landscape
PNG_DPI = 150
PANEL_DPI = 110  # the single panels of the HTML page
REPORT_MODE = 0o644
HTML_PATCH_ROWS = 40  # flagged patches listed in the HTML; the JSON has them all
VERDICT_COLOURS = {"genuine": "#1b7f3a", "suspected_forgery": "#c62828",
                   "different_seal": "#c45500", "inconclusive": "#6b6b6b"}
MASTER_RGB = (0.05, 0.42, 0.85)  # ink colour of the master in the overlay (blue)
QUERY_RGB = (0.88, 0.10, 0.12)  # and of the questioned imprint (red); both: dark
NO_DATA_GREY = 0.80
#: A residual local shift (after the elastic allowance) listed in the report, in mm: about
#: twice what genuine imprints of one rubber seal show patch by patch.
FLAGGED_SHIFT_MM = 0.2
SHIFT_COLOUR_MM = 0.3  # top of the shift colour scale; larger shifts share its colour
ARROW_MAX_PX = 48.0  # longest arrow drawn, canonical px (two patch steps)
RELIABLE_WEIGHT = 0.5  # patches fixed less well than this are drawn faint
_MAGNIFICATIONS = (50, 20, 10, 5, 2, 1)
_KEY_MM = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0)
_CJK_FONTS = ("Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Zen Hei", "AR PL UMing CN",
              "Noto Serif CJK SC")
#: Bundled with the engine (``data/fonts``, see its README): the fallback where no CJK font is
#: installed.
BUNDLED_CJK_FONT = (Path(__file__).resolve().parents[1] / "data" / "fonts"
                    / "NotoSerifCJKsc-Regular-subset.otf")
_BAND_RULE = "GA 241.8: ≤ 2 % valid, 2–4 % suspect, > 4 % invalid"


@dataclass(frozen=True)
class ReportContext:
    """Who and what the comparison is about, for the report's header.

    ``status`` the registry status of the seal ("active", "revoked", ...), ``status_note`` one
    line on why it matters (shown in red); ``page`` the page index in the document, counted
    from 0 as in :class:`~imprint.types.Detection` (shown counted from 1); ``box`` (x0, y0, x1,
    y1) page px of the imprint; ``master_id`` the registry's id of the master image.
    """

    seal_id: str | None = None
    unit_name: str | None = None
    status: str | None = None
    status_note: str | None = None
    document: str | None = None
    page: int | None = None
    box: tuple[float, float, float, float] | None = None
    master_id: int | None = None
    document_date: str | None = None


# --- the record ------------------------------------------------------------------------------


def comparison_record(c: Comparison) -> dict:
    """The comparison as JSON-ready data: plain floats rounded to what they can support,
    None for values not measured or not finite, no numpy types."""
    _check(c)
    ev, al = c.evidence, c.alignment
    return {
        "verdict": c.verdict,
        "score": _num(c.score, 4),
        "log10_lr": _num(c.log10_lr, 3),
        "log10_lr_against": {k: _num(v, 3) for k, v in c.against_forgeries.items()},
        "reasons": [str(r) for r in c.reasons],
        "evidence": {
            "scores": {s.name: _score_record(s) for s in ev.scores},
            "measurements": [_measurement_record(m) for m in ev.measurements],
            "deformation_percent": _num(ev.deformation_percent, 3),
            "deformation_band": ev.deformation_band,
            "displacement": _displacement_record(ev.displacements),
        },
        "alignment": {
            "rotation_deg": _num(al.rotation, 4),
            "scale": _num(al.scale, 5),
            "shift_px": [_num(v, 4) for v in al.shift],
            "correlation": _num(al.correlation, 4),
            "elastic_mm": _num(al.elastic_mm, 3),
        },
        "quality": {"query": _quality_record(c.query.quality),
                    "master": _quality_record(c.master.quality)},
    }


def _num(x: float | None, sig: int) -> float | None:
    """``x`` as a plain float to ``sig`` significant digits; None stays None, and so does a
    NaN or infinity, which JSON cannot hold."""
    if x is None:
        return None
    f = float(x)
    return float(f"{f:.{sig}g}") if math.isfinite(f) else None


def _score_record(s: SubScore) -> dict:
    return {"value": _num(s.value, 4), "threshold": _num(s.threshold, 4), "unit": s.unit,
            "forgery_side": s.forgery_side, "flags": bool(s.flags), "meaning": s.meaning}


def _measurement_record(m: Measurement) -> dict:
    return {"name": m.name, "master": _num(m.master, 5), "query": _num(m.query, 5),
            "difference": _num(m.difference, 4), "unit": m.unit}


def _quality_record(q: Quality) -> dict:
    return {k: _num(v, 3) for k, v in asdict(q).items()}


def _displacement_record(ds: Sequence[Displacement]) -> dict:
    mm = np.array([d.shift_mm for d in ds], float)
    return {
        "max_mm": _num(mm.max(), 3) if len(mm) else None,
        "median_mm": _num(np.median(mm), 3) if len(mm) else None,
        "patches": len(ds),
        "flag_threshold_mm": FLAGGED_SHIFT_MM,
        "flagged_patches": [
            {"clock": _num(d.clock, 3), "hour": clock_hour(d.clock),
             "shift_mm": _num(d.shift_mm, 3), "shift_px": [_num(v, 3) for v in d.shift],
             "centre": [_num(v, 4) for v in d.centre], "weight": _num(d.weight, 2)}
            for d in _flagged(ds)],
    }


def _flagged(ds: Sequence[Displacement]) -> list[Displacement]:
    """The patches whose residual shift is large enough to list, largest first."""
    return sorted((d for d in ds if d.shift_mm > FLAGGED_SHIFT_MM), key=lambda d: -d.shift_mm)


def _context_record(ctx: ReportContext) -> dict:
    rec = asdict(ctx)
    if ctx.box is not None:
        rec["box"] = [_num(v, 6) for v in ctx.box]
    return rec


def _check(c: Comparison) -> None:
    """The comparison is one the report can show: a known verdict and one image frame."""
    if c.verdict not in VERDICTS:
        raise InvalidParameterError(f"unknown verdict {c.verdict!r}; expected one of {VERDICTS}")
    shapes = {"master ink": c.master.ink.shape, "aligned query ink": c.alignment.query_ink.shape,
              "unknown mask": c.alignment.unknown.shape, "difference": c.evidence.difference.shape}
    if len(set(shapes.values())) != 1 or len(c.master.ink.shape) != 2:
        raise InvalidParameterError(f"the comparison's images differ in shape: {shapes}")


# --- the figure ------------------------------------------------------------------------------


def render_figure(c: Comparison, context: ReportContext | None = None) -> Figure:
    """The report as one A4-landscape page: header with the verdict, five image panels
    (master, aligned questioned imprint, overlay, difference, local shifts), the sub-scores
    and measurements as tables, the reasons, the GA 241.8 deformation band and the alignment.

    A standalone :class:`~matplotlib.figure.Figure` on an Agg canvas: pyplot's global state is
    never touched, so it is safe in a server."""
    _check(c)
    ctx = context or ReportContext()
    fig = Figure(figsize=PAGE_SIZE_IN, facecolor="white")
    FigureCanvasAgg(fig)
    _draw_header(fig, c, ctx)
    w, gap, x0, bottom, height = 0.168, 0.03, 0.02, 0.58, 0.237
    for k, draw in enumerate(_PANELS):
        ax = fig.add_axes((x0 + k * (w + gap), bottom, w, height))
        draw(ax, c, ctx)
    _draw_evidence(fig, c)
    _text(fig, 0.98, 0.012, f"imprint {__version__} · generated {_now()} · images in the "
          "master's canonical frame", ha="right", fontsize=6.5, color="0.45")
    return fig


@functools.cache
def _fonts() -> tuple[str, ...]:
    """DejaVu for Latin text, with a CJK font as fallback for unit names and reasons: one
    installed on the machine, else the Song face bundled with the engine (its subset holds
    the 3,755 common characters of GB 2312 level 1; a rarer one shows as a box in the
    figure, not in HTML)."""
    installed = {f.name for f in font_manager.fontManager.ttflist}
    if not any(n in installed for n in _CJK_FONTS) and BUNDLED_CJK_FONT.is_file():
        font_manager.fontManager.addfont(str(BUNDLED_CJK_FONT))
        installed = {f.name for f in font_manager.fontManager.ttflist}
        # it has a regular weight only: bold text in it is drawn regular, said once per
        # figure element otherwise
        logging.getLogger("matplotlib.font_manager").addFilter(
            lambda record: "Failed to find font weight" not in record.getMessage())
    return ("DejaVu Sans", *[n for n in _CJK_FONTS if n in installed][:1])


def _text(where: Figure | Axes, x: float, y: float, s: str, **kw):
    # data strings may hold "$": never read them as mathtext
    return where.text(x, y, s, fontfamily=list(_fonts()), parse_math=False, **kw)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _verdict_words(verdict: str) -> str:
    return verdict.replace("_", " ").upper()


def _subject_lines(ctx: ReportContext) -> list[tuple[str, dict]]:
    """The header's lines on who and what, each with its text style; unknown ones left out."""
    seal = " · ".join(x for x in (f"seal {ctx.seal_id}" if ctx.seal_id else "seal not named",
                                  f"master #{ctx.master_id}" if ctx.master_id is not None else "")
                      if x)
    doc = " · ".join(x for x in (
        f"document {ctx.document}" if ctx.document else "",
        f"page {ctx.page + 1}" if ctx.page is not None else "",
        "box (" + ", ".join(f"{v:.0f}" for v in ctx.box) + ") px" if ctx.box else "",
        f"dated {ctx.document_date}" if ctx.document_date else "") if x)
    alarm = {"color": "#c62828"}
    lines = [(seal, {"fontsize": 11, "fontweight": "bold"}), (ctx.unit_name or "", {}),
             (doc, {}),
             (f"registry status: {ctx.status}" if ctx.status else "",
              {} if (ctx.status or "").lower() == "active" else alarm),
             (ctx.status_note or "", {**alarm, "fontweight": "bold"})]
    # clipped to the right half of the page, which the verdict and score leave free
    return [(_clip_words(t, 60 if k == 0 else 96), style)
            for k, (t, style) in enumerate(lines) if t]


def _draw_header(fig: Figure, c: Comparison, ctx: ReportContext) -> None:
    _text(fig, 0.02, 0.955, _verdict_words(c.verdict), fontsize=24, fontweight="bold",
          color=VERDICT_COLOURS[c.verdict], va="center")
    _text(fig, 0.02, 0.913, f"score {c.score:.3f}      log10 LR {c.log10_lr:+.2f}", fontsize=12,
          va="center")
    _text(fig, 0.02, 0.890, "score: probability of the same seal at even prior odds\n"
          "LR: likelihood ratio, same seal against forgery or another seal", fontsize=7.5,
          va="top", color="0.3", linespacing=1.3)
    for k, (line, style) in enumerate(_subject_lines(ctx)):
        _text(fig, 0.98, 0.962 - 0.022 * k, line, ha="right", va="center",
              **{"fontsize": 9, **style})
    fig.add_artist(Line2D([0.02, 0.98], [0.848, 0.848], color="0.7", lw=0.8))


def _ink_rgb(ink: np.ndarray, colour: Sequence[float]) -> np.ndarray:
    """(S, S, 3) float32: ink of one colour on white paper (a transparency)."""
    a = np.clip(ink.astype(np.float32), 0.0, 1.0)
    a[np.isnan(a)] = 0.0
    # one channel at a time, then interleaved: several times faster than broadcasting a
    # (S, S, 1) map against three colours
    return cv2.merge([1.0 - a * np.float32(1.0 - k) for k in colour])


def grey_out(rgb: np.ndarray, no_data: np.ndarray) -> np.ndarray:
    """Mostly grey where there is no data, the strokes still faintly visible for orientation."""
    faded = rgb * np.float32(0.3) + np.float32(0.7 * NO_DATA_GREY)
    out = rgb.copy()
    # OpenCV's masked copy: a third of the time of numpy's broadcast one
    cv2.copyTo(faded, no_data.astype(np.uint8), out)
    return out


def master_rgb(c: Comparison) -> np.ndarray:
    """The master's ink alone, blue, in its canonical frame; grey where it is covered."""
    return grey_out(_ink_rgb(c.master.ink, MASTER_RGB), c.master.occlusion.astype(bool))


def aligned_query_rgb(c: Comparison) -> np.ndarray:
    """The questioned imprint alone, red, resampled into the master's frame; grey where it
    has no data. Same size as :func:`master_rgb`."""
    return grey_out(_ink_rgb(c.alignment.query_ink, QUERY_RGB), c.alignment.unknown)


def overlay_rgb(c: Comparison) -> np.ndarray:
    """Master and questioned imprint aligned, in two colours; grey where there is no data."""
    # two transparencies laid on each other: the colours multiply, so shared ink turns dark
    rgb = _ink_rgb(c.master.ink, MASTER_RGB) * _ink_rgb(c.alignment.query_ink, QUERY_RGB)
    return grey_out(rgb, c.alignment.unknown)


def _image_axes(ax: Axes, title: str) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    for s in ax.spines.values():
        s.set_color("0.75")
    ax.set_title(title, fontsize=9.5, fontfamily=list(_fonts()), pad=4)


def _caption(ax: Axes, s: str, y: float = -0.03) -> None:
    _text(ax, 0.5, y, s, transform=ax.transAxes, ha="center", va="top", fontsize=6.8,
          color="0.25")


def _draw_master(ax: Axes, c: Comparison, ctx: ReportContext) -> None:
    ax.imshow(master_rgb(c), interpolation="antialiased")
    title = "master (registry)" + (f" #{ctx.master_id}" if ctx.master_id is not None else "")
    _image_axes(ax, title)
    size = c.master.geometry.size_mm
    words = [f"{size[0]:.1f} × {size[1]:.1f} mm" if size else "physical size unknown"]
    if c.master.occlusion.any():
        words.append("grey: covered")
    _caption(ax, "; ".join(words))


def _draw_query(ax: Axes, c: Comparison, ctx: ReportContext) -> None:
    al = c.alignment
    ax.imshow(aligned_query_rgb(c), interpolation="antialiased")
    _image_axes(ax, "questioned imprint, aligned")
    _caption(ax, f"turned {al.rotation:+.1f}°, scale {al.scale:.3f}; grey: no data")


def _draw_overlay(ax: Axes, c: Comparison, ctx: ReportContext) -> None:
    ax.imshow(overlay_rgb(c), interpolation="antialiased")
    _image_axes(ax, "overlay")
    _caption(ax, "blue: master only · red: questioned only\ndark: both · grey: no data")


def _draw_difference(ax: Axes, c: Comparison, ctx: ReportContext) -> None:
    cmap = matplotlib.colormaps["RdBu_r"].with_extremes(bad=(NO_DATA_GREY,) * 3)
    im = ax.imshow(np.ma.masked_invalid(c.evidence.difference), cmap=cmap, vmin=-1.0, vmax=1.0,
                   interpolation="antialiased")
    _image_axes(ax, "difference (questioned − master)")
    sub = next((s for s in c.evidence.scores if s.name == "substituted_ink" and s.flags), None)
    f = c.evidence.features
    if sub is not None and "substituted_x" in f:
        # the window where another character was found
        half = SUBSTITUTION_WINDOW / 2
        ax.add_patch(Rectangle((f["substituted_x"] - half, f["substituted_y"] - half),
                               2 * half, 2 * half, fill=False, edgecolor="#c62828", lw=1.2))
    cax = ax.inset_axes((0.08, -0.075, 0.84, 0.035))
    bar = ax.figure.colorbar(im, cax=cax, orientation="horizontal", ticks=[-1, 0, 1])
    bar.ax.set_xticklabels(["master only", "same", "questioned only"], fontsize=6.3)
    bar.ax.tick_params(length=2, pad=1.5)
    bar.outline.set_linewidth(0.5)


def _px_per_mm(c: Comparison) -> float | None:
    """Canonical px per mm: the scale the patches' ``shift_mm`` were computed with (so the key
    agrees with the colours), else the master's physical size; None when neither says."""
    ratios = [math.hypot(*d.shift) / d.shift_mm for d in c.evidence.displacements
              if d.shift_mm > 1e-9 and math.hypot(*d.shift) > 1e-9]
    if ratios:
        return float(np.median(ratios))
    size = c.master.geometry.size_mm
    return 2 * CANONICAL_RADIUS / max(size) if size is not None and max(size) > 0 else None


def _magnification(ds: Sequence[Displacement]) -> int:
    """The largest of the usual factors at which the longest arrow still fits between
    neighbouring patches."""
    longest = max((math.hypot(*d.shift) for d in ds), default=0.0)
    if longest <= 0:
        return 10
    return next((m for m in _MAGNIFICATIONS if m * longest <= ARROW_MAX_PX), 1)


def _draw_shifts(ax: Axes, c: Comparison, ctx: ReportContext) -> None:
    ds = c.evidence.displacements
    factor = _magnification(ds)
    ax.imshow(np.clip(c.master.ink, 0, 1), cmap="gray_r", vmin=0.0, vmax=3.5,
              interpolation="antialiased")
    _image_axes(ax, f"local shifts ×{factor}")
    if not ds:
        _text(ax, 0.5, 0.5, "no local shifts measured", transform=ax.transAxes, ha="center",
              va="center", fontsize=8, color="0.3")
        return
    # plasma without its pale yellow end, which vanishes on white paper
    cmap = ListedColormap(matplotlib.colormaps["plasma"](np.linspace(0.0, 0.88, 256)))
    norm = Normalize(0.0, max(SHIFT_COLOUR_MM, max(d.shift_mm for d in ds)))
    q = None
    for reliable in (False, True):
        sel = [d for d in ds if (d.weight >= RELIABLE_WEIGHT) == reliable]
        if not sel:
            continue
        xy = np.array([d.centre for d in sel], float)
        uv = np.array([d.shift for d in sel], float) * factor
        # angles="xy": arrows follow the data axes, so +dy points down the image as it should
        q = ax.quiver(xy[:, 0], xy[:, 1], uv[:, 0], uv[:, 1], [d.shift_mm for d in sel],
                      cmap=cmap, norm=norm, angles="xy", scale_units="xy", scale=1.0,
                      width=0.007, headwidth=3.5, headlength=4, minlength=0.5,
                      alpha=1.0 if reliable else 0.35)
    ppm = _px_per_mm(c)
    if ppm is not None:
        # the key's length nearest 30 px on the page keeps it readable at any magnification
        key_mm = min(_KEY_MM, key=lambda k: abs(math.log(k * ppm * factor / 30.0)))
        ax.quiverkey(q, 0.13, 0.05, key_mm * ppm * factor, f"{key_mm:g} mm", labelpos="E",
                     coordinates="axes", fontproperties={"size": 6.8})
    cax = ax.inset_axes((0.08, -0.075, 0.84, 0.035))
    bar = ax.figure.colorbar(ScalarMappable(norm, cmap), cax=cax,
                             orientation="horizontal")
    bar.set_label("residual shift, mm (faint: patch poorly fixed)", fontsize=6.3, labelpad=1)
    bar.ax.tick_params(labelsize=6.3, length=2, pad=1.5)
    bar.outline.set_linewidth(0.5)


_PANELS: tuple[Callable[[Axes, Comparison, ReportContext], None], ...] = (
    _draw_master, _draw_query, _draw_overlay, _draw_difference, _draw_shifts)


def _fmt(x: float | None, signed: bool = False) -> str:
    if x is None or not math.isfinite(x):
        return "—"
    return f"{x:+.3g}" if signed else f"{x:.4g}"


def _threshold_words(s: SubScore) -> str:
    """The side of the threshold that points to a forgery, as "> 0.3"."""
    return f"{'>' if s.forgery_side == 'above' else '<'} {_fmt(s.threshold)}"


def _clip_words(s: str, n: int) -> str:
    """``s`` cut to ``n`` columns with an ellipsis, a Chinese character taking two columns."""
    cols = 0
    for k, ch in enumerate(s):
        cols += 2 if unicodedata.east_asian_width(ch) in "WF" else 1
        if cols > n - 1 and k < len(s) - 1:
            return s[:k] + "…"
    return s


def _table(fig: Figure, x: float, top: float, width: float, title: str,
           header: Sequence[str], rows: Sequence[Sequence[str]], widths: Sequence[float],
           highlight: Sequence[bool] = ()) -> float:
    """A titled table hanging from ``top`` (figure fractions); returns its bottom edge."""
    _text(fig, x, top, title, fontsize=9.5, fontweight="bold", va="bottom")
    if not rows:
        _text(fig, x, top - 0.006, "none", fontsize=8, color="0.4", va="top")
        return top - 0.03
    row_h = min(_ROW_H, 0.2 / (len(rows) + 1))  # many rows: thinner rows, same room
    ax = fig.add_axes((x, top - 0.005 - row_h * (len(rows) + 1), width,
                       row_h * (len(rows) + 1)))
    ax.axis("off")
    table = ax.table(cellText=[list(r) for r in rows], colLabels=list(header),
                     colWidths=list(widths), cellLoc="left", colLoc="left", bbox=(0, 0, 1, 1))
    table.auto_set_font_size(False)
    table.set_fontsize(7 if row_h >= _ROW_H * 0.8 else 6)
    for (r, _), cell in table.get_celld().items():
        cell.set_edgecolor("0.82")
        cell.set_linewidth(0.5)
        cell.PAD = 0.03
        cell.get_text().set_fontfamily(list(_fonts()))
        cell.get_text().set_parse_math(False)
        if r == 0:
            cell.set_facecolor("0.92")
            cell.get_text().set_fontweight("bold")
        elif highlight and highlight[r - 1]:
            cell.set_facecolor("#fde0dc")
            cell.get_text().set_fontweight("bold")
    return ax.get_position().y0


_ROW_H = 0.024  # a table row on the page, figure fraction (about 5 mm)
_LINE_H = 0.0185  # a line of 8-point text at 1.45 spacing, figure fraction
_LEFT, _LEFT_W, _RIGHT, _RIGHT_W = 0.02, 0.56, 0.61, 0.37
_TABLES_TOP = 0.475


def _draw_evidence(fig: Figure, c: Comparison) -> None:
    """Left: the sub-scores against their thresholds, then the reasons. Right: the
    measurements, the GA 241.8 band, alignment and local shifts, then the quality."""
    ev, al = c.evidence, c.alignment
    bottom = _table(fig, _LEFT, _TABLES_TOP, _LEFT_W, "Evidence against thresholds",
                    ("evidence", "value", "forgery if", "unit", "flags", "meaning"),
                    [(s.name, _fmt(s.value), _threshold_words(s), s.unit,
                      "FLAGS" if s.flags else "", _clip_words(s.meaning, 56))
                     for s in ev.scores],
                    (0.2, 0.09, 0.1, 0.07, 0.07, 0.47), [bool(s.flags) for s in ev.scores])
    top = bottom - 0.035
    _text(fig, _LEFT, top, "Reasons", fontsize=9.5, fontweight="bold", va="bottom")
    lines: list[str] = []
    for r in c.reasons or ("no reasons given",):
        lines += textwrap.wrap(str(r), 104, initial_indent="•  ", subsequent_indent="    ")
    room = max(2, int((top - 0.03) / _LINE_H))
    if len(lines) > room:
        lines = [*lines[: room - 1], "    … (the rest in the HTML or JSON report)"]
    _text(fig, _LEFT, top - 0.007, "\n".join(lines), fontsize=8, va="top", linespacing=1.45)

    bottom = _table(fig, _RIGHT, _TABLES_TOP, _RIGHT_W, "Measurements",
                    ("measurement", "master", "questioned", "difference", "unit"),
                    [(m.name, _fmt(m.master),
                      "not measured" if m.query is None else _fmt(m.query),
                      _fmt(m.difference, signed=True), m.unit) for m in ev.measurements],
                    (0.34, 0.15, 0.17, 0.17, 0.17))
    top = bottom - 0.035
    band_colour = {"valid": "#1b7f3a", "suspect": "#c45500", "invalid": "#c62828"}
    _text(fig, _RIGHT, top, "GA 241.8 " + _deformation_words(c), fontsize=9.5,
          fontweight="bold", va="bottom", color=band_colour.get(ev.deformation_band, "black"))
    facts = [f"({_BAND_RULE})"]
    for words in (f"alignment: questioned turned {al.rotation:+.2f}° against the master, scale "
                  f"{al.scale:.4f}, shift ({al.shift[0]:+.1f}, {al.shift[1]:+.1f}) px; "
                  f"correlation of the aligned ink {al.correlation:.3f}; elastic give allowed "
                  f"for {al.elastic_mm:.2f} mm", _shift_words(c)):
        facts += textwrap.wrap(words, 74, subsequent_indent="    ")
    _text(fig, _RIGHT, top - 0.007, "\n".join(facts), fontsize=7.8, va="top", linespacing=1.45)
    top -= 0.007 + _LINE_H * len(facts) + 0.03
    if top > 0.1:  # the quality table, where the page has room left for it
        _table(fig, _RIGHT, top, _RIGHT_W, "Imprint quality",
               ("imprint", "border seen", "ink coverage", "blur, px", "covered"),
               [(who, f"{q.border_visible:.0%}", f"{q.ink_coverage:.0%}", f"{q.blur:.2f}",
                 f"{q.occluded:.0%}") for who, q in (("master", c.master.quality),
                                                     ("questioned", c.query.quality))],
               (0.28, 0.18, 0.18, 0.18, 0.18))


def _deformation_words(c: Comparison) -> str:
    ev = c.evidence
    return f"deformation {_fmt(ev.deformation_percent)} % — {ev.deformation_band}"


def _shift_words(c: Comparison, listed: int = 5) -> str:
    """The local shifts in one sentence: how large, and where the large ones are, by clock
    direction from the centre (largest first)."""
    ds = c.evidence.displacements
    if not ds:
        return "local shifts: none measured (too little of the imprint in both)"
    mm = [d.shift_mm for d in ds]
    words = (f"local shifts in {len(ds)} patches: median {np.median(mm):.2f} mm, largest "
             f"{max(mm):.2f} mm")
    by_hour: dict[str, list[float]] = {}
    for d in _flagged(ds):  # largest first, so the hours come in order of their largest
        by_hour.setdefault(clock_hour(d.clock), []).append(d.shift_mm)
    if not by_hour:
        return words + f"; none over {FLAGGED_SHIFT_MM:g} mm"
    where = ", ".join(f"{h} ({len(v)} patches, up to {v[0]:.2f} mm)" if len(v) > 1
                      else f"{h} ({v[0]:.2f} mm)" for h, v in list(by_hour.items())[:listed])
    more = f" and {len(by_hour) - listed} more directions" if len(by_hour) > listed else ""
    return words + f"; over {FLAGGED_SHIFT_MM:g} mm at {where}{more}"


# --- writing ---------------------------------------------------------------------------------


def write_report(c: Comparison, path: str | Path, context: ReportContext | None = None
                 ) -> Path:
    """Write the report to ``path`` atomically (a temporary file beside it, then a rename), in
    the format its suffix names: ``.html`` (self-contained page), ``.png`` (the page at
    :data:`PNG_DPI`), ``.pdf``, ``.json`` (:func:`comparison_record` with the context).

    Raises :class:`~imprint.errors.InvalidParameterError` for another suffix and
    :class:`~imprint.errors.OutputError` when the file cannot be written."""
    path = Path(path)
    writer = _WRITERS.get(path.suffix.lower())
    if writer is None:
        raise InvalidParameterError(f"cannot write a report as {path.name!r}: the name must end "
                                    f"in one of {', '.join(_WRITERS)}")
    _check(c)
    data = writer(c, context or ReportContext())
    try:
        # a report is a document for others to read: not mkstemp's owner-only mode
        write_bytes(path, data, mode=REPORT_MODE)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write the report ({exc})") from exc
    return path


def _figure_bytes(fig: Figure, fmt: str, dpi: float, **kw) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=dpi, facecolor="white", **kw)
    return buf.getvalue()


def _png(c: Comparison, ctx: ReportContext) -> bytes:
    return _figure_bytes(render_figure(c, ctx), "png", PNG_DPI)


def _pdf(c: Comparison, ctx: ReportContext) -> bytes:
    title = f"Seal imprint comparison: {ctx.seal_id or 'unnamed seal'}"
    return _figure_bytes(render_figure(c, ctx), "pdf", PNG_DPI,
                         metadata={"Title": title, "Creator": f"imprint {__version__}"})


def _json(c: Comparison, ctx: ReportContext) -> bytes:
    record = comparison_record(c)
    record["context"] = _context_record(ctx)
    record["report"] = {"engine_version": __version__,
                        "generated_utc": datetime.now(UTC).isoformat(timespec="seconds")}
    return json.dumps(record, ensure_ascii=False, indent=2, allow_nan=False).encode("utf-8")


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _panel_png(draw: Callable[[Axes, Comparison, ReportContext], None], c: Comparison,
               ctx: ReportContext) -> bytes:
    fig = Figure(figsize=(3.3, 3.75), facecolor="white")
    FigureCanvasAgg(fig)
    draw(fig.add_axes((0.03, 0.15, 0.94, 0.78)), c, ctx)
    return _figure_bytes(fig, "png", PANEL_DPI)


#: Ink levels kept of each imprint in an overlay sent as PNG (:func:`inks_png`): 11 of each,
#: their products and the same greyed out fill a 256-colour palette. The steps (a tenth of
#: full ink) cannot be told apart on screen; the PNG is a quarter the size of a full-colour
#: one and encodes in half the time.
PNG_INK_LEVELS = 11


def _ink_levels(ink: np.ndarray) -> np.ndarray:
    """``(S, S) uint8``: ink in [0, 1] to the nearest of :data:`PNG_INK_LEVELS` levels (OpenCV's
    rounding conversion, NaN as no ink)."""
    # (fmax: NaN and below-zero to no ink, which the conversion would take as full and |x|)
    levels = cv2.convertScaleAbs(np.fmax(ink.astype(np.float32, copy=False), np.float32(0)),
                                 alpha=PNG_INK_LEVELS - 1)
    return cv2.min(levels, PNG_INK_LEVELS - 1)


def inks_png(master_ink: np.ndarray | None, query_ink: np.ndarray | None,
             no_data: np.ndarray) -> bytes:
    """The master's ink (blue), the questioned imprint's (red) or both laid on each other, as
    :func:`overlay_rgb` draws them, greyed out where ``no_data``: an 8-bit palette PNG with
    :data:`PNG_INK_LEVELS` levels of each ink."""
    n = PNG_INK_LEVELS
    ink = master_ink if master_ink is not None else query_ink
    if ink is None:
        raise InvalidParameterError("inks_png needs the master's ink, the query's, or both")
    index = np.zeros(ink.shape, np.uint8)
    if master_ink is not None:
        index += _ink_levels(master_ink) * np.uint8(n)
    if query_ink is not None:
        index += _ink_levels(query_ink)
    index += no_data.astype(np.uint8) * np.uint8(n * n)
    levels = np.arange(n, dtype=np.float32) / np.float32(n - 1)
    m, q = np.meshgrid(levels if master_ink is not None else np.zeros(n, np.float32),
                       levels if query_ink is not None else np.zeros(n, np.float32),
                       indexing="ij")
    rgb = _ink_rgb(m, MASTER_RGB) * _ink_rgb(q, QUERY_RGB)
    palette = np.concatenate([rgb.reshape(-1, 3), grey_out(rgb, np.ones(m.shape, bool))
                              .reshape(-1, 3)])
    image = Image.fromarray(index, "P")
    image.putpalette((np.clip(palette, 0, 1) * 255 + 0.5).astype(np.uint8).tobytes())
    buf = io.BytesIO()
    # zlib's fastest level: a tenth larger than its default, in half the time
    image.save(buf, "PNG", compress_level=1)
    return buf.getvalue()


def overlay_png(c: Comparison) -> bytes:
    """The questioned imprint laid on the master in the master's canonical frame, as PNG: the
    master's ink blue, the questioned imprint's red, both dark, no data grey (the report's
    overlay panel)."""
    a = c.alignment
    return inks_png(c.master.ink, a.query_ink, a.unknown)


def master_png(c: Comparison) -> bytes:
    """The master's ink alone, blue, in its canonical frame (what the overlay lays the
    questioned imprint on); grey where the master itself is covered."""
    return inks_png(c.master.ink, None, c.master.occlusion.astype(bool))


def aligned_query_png(c: Comparison) -> bytes:
    """The questioned imprint alone, red, turned, scaled and shifted onto the master's frame;
    grey where it has no data. Same size as :func:`master_png`, so the two can be stacked."""
    return inks_png(None, c.alignment.query_ink, c.alignment.unknown)


def _e(x: object) -> str:
    return html.escape(str(x), quote=True)


def _html_table(header: Sequence[str], rows: Sequence[Sequence[object]],
                flagged: Sequence[bool] | None = None) -> str:
    if not rows:
        return "<p class=none>none</p>"
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join(
        f"<tr{' class=flag' if flagged and flagged[i] else ''}>"
        + "".join(f"<td>{_e(v)}</td>" for v in row) + "</tr>"
        for i, row in enumerate(rows))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


_CSS = """
body{font-family:"DejaVu Sans",Arial,"Noto Sans CJK SC",sans-serif;margin:24px auto;
max-width:1180px;color:#222;line-height:1.4}
h1{font-size:34px;margin:0}h2{font-size:19px;border-bottom:1px solid #ccc;margin-top:28px}
h3{font-size:15px;margin-bottom:6px}.score{font-size:16px;margin:4px 0 12px}
.alert{color:#c62828;font-weight:bold}table{border-collapse:collapse;font-size:13px}
td,th{border:1px solid #d4d4d4;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#eee}tr.flag td{background:#fde0dc;font-weight:bold}
.subject th{background:none;border:none;font-weight:normal;color:#666;padding-left:0}
.subject td{border:none;font-weight:bold}
.panels{display:flex;flex-wrap:wrap;gap:10px}.panels figure{margin:0;width:330px}
.panels img{width:330px}figcaption{font-size:12px;color:#444}
.fader{position:relative;width:460px;height:460px}
.fader img{position:absolute;left:0;top:0;width:460px;height:460px;image-rendering:auto}
footer{margin-top:30px;font-size:11px;color:#777}
"""

# the overlay viewer: the questioned imprint on top of the master, its opacity on the slider
_FADER_JS = """<script>
var fade = document.getElementById("fade"), query = document.getElementById("fade-query");
fade.addEventListener("input", function () { query.style.opacity = fade.value / 100; });
</script>"""

_PANEL_WORDS = (
    "The master imprint from the registry, in its canonical frame.",
    "The questioned imprint, turned, scaled and shifted onto the master; grey where it has no "
    "data (covered by text or signatures, off the page, outside the seal).",
    "Both laid on each other: blue where only the master has ink, red where only the "
    "questioned imprint has, dark where both have.",
    "Questioned ink minus master ink: red where ink is only in the questioned imprint, blue "
    "where only in the master; grey: no data.",
    "The residual shift of each patch after the global alignment and the allowed elastic "
    "give, drawn magnified on the master; the key gives the true length.",
)


def _html(c: Comparison, ctx: ReportContext) -> bytes:
    rec, ev, al = comparison_record(c), c.evidence, c.alignment
    colour = VERDICT_COLOURS[c.verdict]
    subject = [("seal", ctx.seal_id), ("unit", ctx.unit_name), ("registry status", ctx.status),
               ("document", ctx.document),
               ("page", ctx.page + 1 if ctx.page is not None else None),
               ("imprint box, page px",
                ", ".join(f"{v:.0f}" for v in ctx.box) if ctx.box else None),
               ("document date", ctx.document_date), ("master id", ctx.master_id)]
    alarm = (ctx.status or "active").lower() != "active"
    subject_rows = "".join(
        f"<tr><th>{_e(k)}</th><td{' class=alert' if k == 'registry status' and alarm else ''}>"
        f"{_e(v)}</td></tr>" for k, v in subject if v is not None)
    note = f"<p class=alert>{_e(ctx.status_note)}</p>" if ctx.status_note else ""
    reasons = "".join(f"<li>{_e(r)}</li>" for r in c.reasons) or "<li>no reasons given</li>"
    titles = ("master (registry)", "questioned imprint, aligned", "overlay", "difference",
              f"local shifts ×{_magnification(ev.displacements)}")
    panels = "".join(
        f'<figure><img alt="{_e(t)}" src="{_data_uri(_panel_png(draw, c, ctx))}">'
        f"<figcaption>{_e(words)}</figcaption></figure>"
        for draw, t, words in zip(_PANELS, titles, _PANEL_WORDS, strict=True))
    master_img = master_png(c)
    query_img = aligned_query_png(c)
    scores = _html_table(
        ("evidence", "value", "forgery if", "unit", "flags", "meaning"),
        [(s.name, _fmt(s.value), _threshold_words(s), s.unit, "FLAGS" if s.flags else "",
          s.meaning) for s in ev.scores],
        [bool(s.flags) for s in ev.scores])
    measurements = _html_table(
        ("measurement", "master", "questioned", "difference", "unit"),
        [(m.name, _fmt(m.master), "not measured" if m.query is None else _fmt(m.query),
          _fmt(m.difference, signed=True), m.unit) for m in ev.measurements])
    flagged = _html_table(
        ("direction", "shift, mm", "shift, px (x, y)", "centre, px (x, y)", "how well fixed"),
        [(p["hour"], p["shift_mm"], f"{p['shift_px'][0]}, {p['shift_px'][1]}",
          f"{p['centre'][0]:.0f}, {p['centre'][1]:.0f}", p["weight"])
         for p in rec["evidence"]["displacement"]["flagged_patches"][:HTML_PATCH_ROWS]])
    n_flagged = len(rec["evidence"]["displacement"]["flagged_patches"])
    if n_flagged > HTML_PATCH_ROWS:
        flagged += (f"<p>… and {n_flagged - HTML_PATCH_ROWS} more patches (all in the JSON "
                    "report)</p>")
    quality = _html_table(
        ("imprint", "border seen", "ink coverage", "blur, px", "covered"),
        [(who, f"{q.border_visible:.0%}", f"{q.ink_coverage:.0%}", f"{q.blur:.2f}",
          f"{q.occluded:.0%}") for who, q in (("master", c.master.quality),
                                              ("questioned", c.query.quality))])
    band_class = "" if ev.deformation_band == "valid" else " class=alert"
    against = ("<p>log10 LR of the master's seal against each kind of forgery: " + ", ".join(
        f"{_e(FORGERY_NAMES.get(k, k))} {v:+.2f}" for k, v in c.against_forgeries.items())
        + "</p>") if c.against_forgeries else ""
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Seal imprint comparison: {_e(ctx.seal_id or "unnamed seal")}</title>
<style>{_CSS}</style></head><body>
<header>
<h1 style="color:{colour}">{_e(_verdict_words(c.verdict))}</h1>
<p class=score>score {c.score:.3f} (probability of the same seal at even prior odds)
&nbsp;·&nbsp; log10 likelihood ratio {c.log10_lr:+.2f}</p>{against}
<table class=subject>{subject_rows}</table>{note}
</header>
<h2>Reasons</h2><ul>{reasons}</ul>
<h2>Imprints</h2><div class=panels>{panels}</div>
<h2>Overlay viewer</h2>
<p>Slide to fade from the master (blue) to the aligned questioned imprint (red).</p>
<div class=fader><img alt="master" src="{_data_uri(master_img)}">
<img id=fade-query alt="questioned imprint, aligned" src="{_data_uri(query_img)}"
style="opacity:0.5"></div>
<p>master <input id=fade type=range min=0 max=100 value=50 style="width:320px">
questioned</p>
<h2>Evidence against thresholds</h2>{scores}
<h2>Measurements</h2>{measurements}
<h2>Deformation</h2>
<p{band_class}>GA 241.8 {_e(_deformation_words(c))}</p><p>{_e(_BAND_RULE)}</p>
<h2>Local shifts</h2><p>{_e(_shift_words(c))}</p>
<h3>Patches shifted over {FLAGGED_SHIFT_MM:g} mm</h3>{flagged}
<h2>Alignment and quality</h2>
<p>The questioned imprint is turned {al.rotation:+.2f}° against the master, scaled
{al.scale:.4f} and shifted ({al.shift[0]:+.1f}, {al.shift[1]:+.1f}) px; the aligned ink
correlates {al.correlation:.3f}; elastic give allowed for: {al.elastic_mm:.2f} mm.</p>
{quality}
<footer>imprint {_e(__version__)} · generated {_e(_now())} · images in the master's canonical
frame</footer>
{_FADER_JS}</body></html>
"""
    return page.encode("utf-8")


_WRITERS: dict[str, Callable[[Comparison, ReportContext], bytes]] = {
    ".html": _html, ".png": _png, ".pdf": _pdf, ".json": _json}
