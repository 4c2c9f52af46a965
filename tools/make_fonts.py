#!/usr/bin/env python3
"""Build the redistributable Song/Ming subset fonts in data/fonts/.

Sources are the fonts installed by these Debian packages:

    apt-get install -y fonts-noto-cjk fonts-arphic-uming fonts-arphic-gbsn00lp
    pip install fonttools

Outputs (all in data/fonts/):

    NotoSerifCJKsc-Regular-subset.otf   Noto Serif CJK SC Regular (CFF)
    uming-subset.ttf                    AR PL UMing CN (TrueType)
    gbsn00lp-subset.ttf                 AR PL SungtiL GB (TrueType)
    charset.txt                         characters covered by ALL three subsets
    LICENSE-OFL-1.1.txt                 from /usr/share/doc/fonts-noto-cjk/copyright
    LICENSE-Arphic.txt                  verbatim ARPHICPL.TXT from the package docs

Character set: GB2312 level 1 (3755 hanzi), printable ASCII, full-width
digits and Latin letters, a few CJK punctuation marks and symbols, U+3000.

Only outline/metric tables are kept (no hinting, no OpenType layout, no
embedded bitmaps). The output is deterministic: the source head.modified
timestamp is kept and the modification notice below carries a fixed date,
so rerunning with the same Debian package versions and fontTools version
gives byte-identical files.  Set SOURCE_DATE_EPOCH to change the date in
the notice.

Usage:  python tools/make_fonts.py
"""

from __future__ import annotations

import datetime
import gzip
import os
import subprocess
import sys
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTCollection, TTFont

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "data" / "fonts"

# Date written into the modification notice inside each font (the Arphic
# Public License, section 2a, requires "how and when you changed that file").
# Fixed so that rebuilds are reproducible; bump it when the recipe changes.
NOTICE_DATE = "2026-11-23"

FONTS = [
    {
        "out": "NotoSerifCJKsc-Regular-subset.otf",
        "src": "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
        "family": "Noto Serif CJK SC",
        "package": "fonts-noto-cjk",
    },
    {
        "out": "uming-subset.ttf",
        "src": "/usr/share/fonts/truetype/arphic/uming.ttc",
        "family": "AR PL UMing CN",
        "package": "fonts-arphic-uming",
    },
    {
        "out": "gbsn00lp-subset.ttf",
        "src": "/usr/share/fonts/truetype/arphic-gbsn00lp/gbsn00lp.ttf",
        "family": "AR PL SungtiL GB",
        "package": "fonts-arphic-gbsn00lp",
    },
]

# Tables kept in the subsets; everything else (GSUB/GPOS/GDEF/BASE, gasp,
# hinting programs, embedded bitmaps, FontForge/BDF/mort extras) is dropped.
KEEP_TABLES = {
    "head", "hhea", "hmtx", "maxp", "name", "OS/2", "post", "cmap",
    "glyf", "loca", "CFF ",
    "vhea", "vmtx", "VORG",
}

NOTO_COPYRIGHT_FILE = "/usr/share/doc/fonts-noto-cjk/copyright"
ARPHIC_LICENSE_GZ = "/usr/share/doc/fonts-arphic-uming/license/english/ARPHICPL.TXT.gz"


# --------------------------------------------------------------------------
# character set
# --------------------------------------------------------------------------

def gb2312_level1() -> list[str]:
    """The 3755 level-1 hanzi of GB2312: rows 0xB0-0xD7 (0xD7: 0xA1-0xF9)."""
    chars = []
    for row in range(0xB0, 0xD8):
        last = 0xF9 if row == 0xD7 else 0xFE
        for col in range(0xA1, last + 1):
            chars.append(bytes([row, col]).decode("gb2312"))
    assert len(chars) == 3755, len(chars)
    return chars


def requested_chars() -> list[str]:
    chars: list[str] = []
    chars += gb2312_level1()
    chars += [chr(c) for c in range(0x20, 0x7F)]             # printable ASCII
    chars += [chr(c) for c in range(0xFF10, 0xFF1A)]         # ０-９
    chars += [chr(c) for c in range(0xFF21, 0xFF3B)]         # Ａ-Ｚ
    chars += list("（）()【】《》·—－、，。：；“”‘’★☆●○■□")
    chars.append("\u3000")                                   # ideographic space
    seen: set[str] = set()
    out = []
    for ch in chars:
        if ch not in seen:
            seen.add(ch)
            out.append(ch)
    return sorted(out, key=ord)


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------

def debian_version(package: str) -> str:
    try:
        res = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", package],
            check=True, capture_output=True, text=True,
        )
        return res.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def family_name(font: TTFont) -> str:
    name = font["name"]
    return (name.getDebugName(16) or name.getDebugName(1) or "").strip()


def open_face(path: str, family: str) -> TTFont:
    """Open the face of `path` whose family name (name ID 16/1) is `family`.

    The collection index is looked up in the name table, never assumed.
    """
    if path.lower().endswith((".ttc", ".otc")):
        coll = TTCollection(path, lazy=True)
        names = [family_name(f) for f in coll.fonts]
        coll.close()
        if family not in names:
            sys.exit(f"{path}: no face named {family!r} (faces: {names})")
        index = names.index(family)
        font = TTFont(path, fontNumber=index, recalcTimestamp=False)
    else:
        index = None
        font = TTFont(path, recalcTimestamp=False)
    got = family_name(font)
    if got != family:
        sys.exit(f"{path}: expected family {family!r}, found {got!r}")
    where = f" (collection index {index})" if index is not None else ""
    print(f"  source: {path}{where} -> {got!r}")
    return font


def add_modification_notice(font: TTFont, text: str) -> None:
    """Append `text` to name ID 10 (Description) for every platform/language
    that already has names, creating the record where it is missing."""
    name = font["name"]
    keys = sorted({(r.platformID, r.platEncID, r.langID) for r in name.names})
    for pid, eid, lid in keys:
        old = name.getName(10, pid, eid, lid)
        old_text = old.toUnicode() if old is not None else ""
        new_text = f"{old_text}\n\n{text}" if old_text else text
        name.setName(new_text, 10, pid, eid, lid)


def subset_options(font: TTFont) -> subset.Options:
    opts = subset.Options()
    opts.layout_features = []           # no OpenType layout features
    opts.hinting = False                # drop TrueType instructions / CFF hints
    opts.desubroutinize = True          # CFF: flatten subroutines
    opts.notdef_outline = True
    opts.glyph_names = False
    opts.name_IDs = ["*"]               # keep copyright/licence/URL records
    opts.name_languages = ["*"]
    opts.name_legacy = True
    opts.recalc_bounds = True
    opts.recalc_timestamp = False
    # fontTools compares stripped tags ("BDF ", "CFF ") against drop_tables
    opts.drop_tables = sorted(
        t.strip() for t in set(font.keys()) - KEEP_TABLES - {"GlyphOrder"})
    opts.passthrough_tables = False
    return opts


def cmap_chars(font: TTFont) -> set[str]:
    return {chr(cp) for cp in font.getBestCmap()}


# --------------------------------------------------------------------------
# licences
# --------------------------------------------------------------------------

def ofl_text_from_debian() -> str:
    """Extract the 'License: SIL-1.1' paragraph of the Debian copyright file
    and undo the deb822 indentation ( ' .' = empty line)."""
    lines = Path(NOTO_COPYRIGHT_FILE).read_text(encoding="utf-8").splitlines()
    # "License: SIL-1.1" also appears (without text) in the "Files: *"
    # paragraph; the stand-alone licence paragraph is the one followed by
    # indented text.
    start = next(i + 1 for i, line in enumerate(lines[:-1])
                 if line == "License: SIL-1.1" and lines[i + 1].startswith(" "))
    body = []
    for line in lines[start:]:
        if not line.startswith(" "):
            break
        line = line[1:]
        body.append("" if line == "." else line)
    text = "\n".join(body).strip("\n") + "\n"
    assert "SIL OPEN FONT LICENSE Version 1.1" in text
    assert "DISCLAIMER" in text
    return text


def write_licences(noto_copyright: str) -> None:
    header = (
        "Noto Serif CJK SC (subset: NotoSerifCJKsc-Regular-subset.otf)\n"
        f"{noto_copyright}\n"
        "Noto is a trademark of Google Inc.\n"
        "\n"
        "This Font Software is licensed under the SIL Open Font License, "
        "Version 1.1.\n"
        "The licence text below is taken verbatim (deb822 indentation removed) "
        f"from\n{NOTO_COPYRIGHT_FILE}.\n"
        "\n"
    )
    (OUT_DIR / "LICENSE-OFL-1.1.txt").write_text(
        header + ofl_text_from_debian(), encoding="utf-8", newline="\n")
    # The Arphic licence demands ARPHICPL.TXT be kept unaltered: copy bytes.
    with gzip.open(ARPHIC_LICENSE_GZ, "rb") as fh:
        (OUT_DIR / "LICENSE-Arphic.txt").write_bytes(fh.read())


# --------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------

def main() -> int:
    if "SOURCE_DATE_EPOCH" in os.environ:
        notice_date = datetime.datetime.fromtimestamp(
            int(os.environ["SOURCE_DATE_EPOCH"]), datetime.UTC
        ).strftime("%Y-%m-%d")
    else:
        notice_date = NOTICE_DATE

    OUT_DIR.mkdir(parents=True, exist_ok=True)
    wanted = requested_chars()
    wanted_set = set(wanted)
    print(f"requested characters: {len(wanted)}")

    covered: list[set[str]] = []
    noto_copyright = ""
    for spec in FONTS:
        print(f"{spec['out']}:")
        font = open_face(spec["src"], spec["family"])
        if spec["package"] == "fonts-noto-cjk":
            noto_copyright = font["name"].getDebugName(0) or ""
        version = debian_version(spec["package"])
        src_chars = cmap_chars(font)
        missing = [c for c in wanted if c not in src_chars]

        opts = subset_options(font)
        sub = subset.Subsetter(options=opts)
        sub.populate(unicodes=[ord(c) for c in wanted if c in src_chars])
        sub.subset(font)

        add_modification_notice(
            font,
            f"Modified {notice_date}: subset (GB2312 level-1 hanzi, ASCII, "
            "full-width digits/letters, some punctuation) made with fontTools "
            "by tools/make_fonts.py from Debian package "
            f"{spec['package']} {version}; hinting, OpenType layout tables and "
            "embedded bitmaps (where present) removed. Outlines unchanged.",
        )

        out_path = OUT_DIR / spec["out"]
        font.save(out_path, reorderTables=True)
        font.close()

        check = TTFont(out_path)
        have = cmap_chars(check) & wanted_set
        check.close()
        covered.append(have)
        size = out_path.stat().st_size
        print(f"  {size:,} bytes, {len(have)}/{len(wanted)} requested chars")
        if missing:
            print("  missing: " + " ".join(
                f"U+{ord(c):04X}({c if c.isprintable() else ' '})" for c in missing))

    common = set.intersection(*covered)
    text = "".join(sorted(common, key=ord))
    (OUT_DIR / "charset.txt").write_text(text + "\n", encoding="utf-8", newline="\n")
    print(f"charset.txt: {len(common)} characters covered by all fonts")
    not_common = wanted_set - common
    if not_common:
        print("requested but not in all fonts: " + " ".join(
            f"U+{ord(c):04X}" for c in sorted(not_common, key=ord)))

    write_licences(noto_copyright)
    return 0


if __name__ == "__main__":
    sys.exit(main())
