"""Build and execute notebooks/01_generator.ipynb (outputs embedded): python tools/make_notebook.py"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NB = ROOT / "notebooks" / "01_generator.ipynb"

CELLS = [
    ("md", """# 01 — The seal imprint generator, beside real imprints

Every figure of the engine is measured on generated imprints whose ground truth is known,
so the generator has to look like real seals and real stamping. This notebook shows each
seal kind, imprint condition, capture and forgery the generator makes, next to real images
from `../shared/data/real` (public repositories, licences in each folder), so a reader can
judge the realism. The last section lists where the generated imprints still differ."""),
    ("code", """import sys
from dataclasses import replace
from pathlib import Path

import cv2
import matplotlib.pyplot as plt
import numpy as np

ROOT = Path.cwd().parent if Path.cwd().name == "notebooks" else Path.cwd()
sys.path.insert(0, str(ROOT))
REAL = ROOT.parent / "shared" / "data" / "real"

from imprint.synth.forgery import Forgery, photo_engrave, recarve
from imprint.synth.medium import Capture
from imprint.synth.registry import SealRecord, random_spec
from imprint.synth.scene import Stamping, imprint_scene, page_scene
from imprint.synth.stamping import StampConditions, sample_conditions

plt.rcParams["figure.dpi"] = 72


def show(images, titles, cols=4, size=3.2):
    rows = (len(images) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(cols * size, rows * size))
    for ax in np.ravel(axes):
        ax.axis("off")
    for ax, im, title in zip(np.ravel(axes), images, titles):
        ax.imshow(im, cmap="gray" if im.ndim == 2 else None)
        ax.set_title(title, fontsize=9)
    plt.tight_layout()
    plt.show()


def real(name):
    im = cv2.imread(str(REAL / name), cv2.IMREAD_COLOR)
    return im[..., ::-1].copy()


def crop(im, x, y, w, h):
    return im[y:y + h, x:x + w]


def red_crops(im, min_area=20000):
    \"\"\"Crops around the red blobs of a page (a rough look-up for this notebook only).\"\"\"
    r, g, b = (im[..., i].astype(int) for i in range(3))
    red = ((r - g) > 60) & ((r - b) > 40)
    blobs = cv2.dilate(red.astype(np.uint8), np.ones((25, 25), np.uint8))
    n, _, stats, _ = cv2.connectedComponentsWithStats(blobs)
    return [crop(im, *stats[i, :4]) for i in range(1, n) if stats[i, 4] >= min_area]


def seal(kind, seed, **over):
    rng = np.random.default_rng(seed)
    spec = replace(random_spec(rng, kind), **over)
    return SealRecord("nb", spec.unit_name, "", spec, "noto-serif-sc", int(rng.integers(2**31)))


def imprint(face, cond, capture=None, forgery=None, clutter=True, dpi=300, ink="red"):
    st = Stamping(face, cond, ink, "nb", "nb", forgery)
    image, truth = imprint_scene(st, dpi=dpi, rng=np.random.default_rng(cond.seed),
                                 capture=capture or Capture("scan"), clutter=clutter)
    return image"""),
    ("md", """## Seal kinds

Top: generated round official seal (42 mm, star, name arc, business line, 13-digit code),
oval invoice seal, square name seal, government seal. Bottom: real imprints — round company
seals from a scanned contract, an electronic oval bank seal, the three seals of one company
(company, finance, legal representative)."""),
    ("code", """base = StampConditions(angle=0.0, ink=0.1, mottle=0.4, seed=1)
official = seal("round_official", 1, business_line="合同专用章", code="4101020123456",
                diameter=42.0, ink="red")
kinds = [official, seal("oval_invoice", 2, ink="red"), seal("square_name", 3, ink="red"),
         seal("round_government", 4, ink="red", diameter=50.0)]
generated = [imprint(r.face(), replace(base, seed=i + 1), clutter=False)
             for i, r in enumerate(kinds)]
contract = real("Joran1101_YOLOv5-CBAM-Seal-Detection/seal-test_1.jpeg")
seals_on_contract = red_crops(contract)
show(generated + seals_on_contract[:2] + [real("KhoiTrant68_Stamp-Boundary-Segmentation/stamp_14.jpg"),
                                       real("xuzheliang135_SealCut/Xnip2024-11-04_13-25-06.jpg")],
     ["generated: round official", "generated: oval invoice", "generated: square name",
      "generated: government 50 mm", "real: contract seal", "real: contract seal",
      "real: e-seal, oval (screenshot)", "real: company, finance, name seals"])"""),
    ("md", """## Genuine imprint conditions

One seal, stamped under different conditions: starved and flooded ink, a partial imprint,
double strike, smear, the lighter-centre darker-edge pattern, heavy paper-fibre mottle, and
text and a signature across it. The real imprints on the contract show the same mottle and
ragged edges."""),
    ("code", """face = official.face()
conds = [(replace(base, ink=-0.8, seed=2), "starved"), (replace(base, ink=0.9, seed=3), "flooded"),
         (replace(base, partial=0.4, pressure_tilt=0.8, pressure_dir=60, seed=4), "partial"),
         (replace(base, double_strike=(0.6, 45.0, 0.6), seed=5), "double strike"),
         (replace(base, smear=(1.2, 100.0), seed=6), "smear"),
         (replace(base, centre_light=0.5, edge_dark=0.7, seed=7), "light centre, dark edge"),
         (replace(base, mottle=0.9, seed=8), "heavy mottle")]
images = [imprint(face, c) for c, _ in conds]
show(images + [seals_on_contract[0]], [t for _, t in conds] + ["real: contract seal"])"""),
    ("md", """## Captures

Scans at 150 dpi with JPEG, photocopy, fax, and a phone photo at 28 degrees, beside a real
phone photo of a contract and a real certificate photo."""),
    ("code", """caps = [(Capture("scan", 75, 0.5, 0.01), "scan 150 dpi, JPEG 75", 150),
        (Capture("photocopy", 0, 0.6, 0.02), "photocopy", 300),
        (Capture("fax"), "fax", 300),
        (Capture("phone", 85, 1.0, 0.02, 28.0, 30.0), "phone photo, 28 deg", 300)]
images = [imprint(face, replace(base, angle=25.0, seed=9), capture=c, dpi=d) for c, _, d in caps]
photo = real("Joran1101_YOLOv5-CBAM-Seal-Detection/seal-test_3.jpeg")
certificate = real("VignetteApril_seal-detection/test_data_5.jpg")
show(images + red_crops(photo)[:2] + [certificate], [t for _, t, _ in caps] +
     ["real: phone photo of a contract", "real: phone photo of a contract", "real: certificate photo"])"""),
    ("md", """## Forgeries

Each forgery states its kind and magnitudes. The overlays put the genuine seal's relief in
blue and the forgery's in red (overlap black), so a re-carving shows as coloured fringes; the
last row zooms into a printed imitation to show its halftone dots."""),
    ("code", """from imprint.synth.render import MM_PER_INCH, Pose, render_face

rng = np.random.default_rng(7)
clear, subtle = recarve(face.design, rng, "clear"), recarve(face.design, rng, "subtle")
photo_copy = photo_engrave(face, rng)
print("re-carved, clear :", clear.params["ops"])
print("re-carved, subtle:", subtle.params["ops"])
print("photo-engraved   :", {k: v for k, v in photo_copy.params.items() if k != "source_conditions"})


def overlay(genuine, forged, dpi=300):
    side = int(52 * dpi / MM_PER_INCH)
    pose = Pose((side / 2, side / 2), 0.0)
    g = render_face(genuine, dpi=dpi, shape=(side, side), pose=pose) > 0.5
    f = render_face(forged, dpi=dpi, shape=(side, side), pose=pose) > 0.5
    out = np.full((side, side, 3), 255, np.uint8)
    out[g & ~f] = (40, 90, 220)
    out[f & ~g] = (220, 40, 40)
    out[g & f] = (0, 0, 0)
    return out


printed = imprint(face, replace(base, seed=13), forgery=Forgery("printed", "", {}, None), dpi=600)
show([overlay(face, clear.face), overlay(face, subtle.face), overlay(face, photo_copy.face),
      imprint(clear.face, replace(base, seed=10)), imprint(subtle.face, replace(base, seed=11)),
      imprint(photo_copy.face, replace(base, seed=12)), printed, printed[500:700, 500:700]],
     ["overlay: re-carved, clear", "overlay: re-carved, subtle", "overlay: photo-engraved",
      "re-carved, clear", "re-carved, subtle", "photo-engraved copy", "printed imitation (600 dpi)",
      "printed: halftone dots"])"""),
    ("md", """## Pages

A generated A4 page with imprints, an overlap and a cross-page half at the edge, beside a real
scanned contract with seals and cross-page halves."""),
    ("code", """rng = np.random.default_rng(3)
stampings = [Stamping(official.face(), sample_conditions(rng), "red", "nb", "nb", None, {}),
             Stamping(kinds[2].face(), sample_conditions(rng), "red", "nb", "nb", None, {"placement": "overlap"}),
             Stamping(official.face(), sample_conditions(rng), "red", "nb", "nb", None, {"placement": "edge"})]
page, truths, capture = page_scene(stampings, dpi=150, rng=rng, capture=Capture("scan", 90, 0.4, 0.005))
fig, axes = plt.subplots(1, 2, figsize=(12, 8))
axes[0].imshow(page)
for t in truths:
    x0, y0, x1, y1 = t.box
    axes[0].add_patch(plt.Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, color="lime"))
axes[0].set_title("generated page, ground-truth boxes")
axes[1].imshow(contract)
axes[1].set_title("real scanned contract")
for ax in axes:
    ax.axis("off")
plt.tight_layout()
plt.show()"""),
    ("md", """## Where generated imprints still look unlike the real ones

Looking at the pictures above side by side:

- **Ink texture.** Real wet-ink imprints on the contract scans are more speckled at the scale
  of paper fibres and their strokes are more ragged; ours approach it with the `mottle`
  parameter, but the grain is more uniform than real paper, which shows fibre direction and
  clumps.
- **Glyph shapes.** Real seal characters are cut by engravers: heavier strokes, squarer Song
  forms, and characters compressed to fit the ring; ours are font outlines scaled into cells
  and emboldened uniformly, so they look more like printed type.
- **Ink colour.** Real red inks scan as a range from orange-red to pink-magenta and vary within
  one imprint (ink pooling); ours use one colour per ink with density variation only.
- **Paper and scans.** Real scans have their own tone curves (paper pushed to pure white, ink
  clipped), show-through from the back of the page and skew; ours add grain and a tint only.
- **Electronic seals** (the receipts) are flat, anti-aliased renderings with no ink effects;
  the printed-imitation path with `flat_colour` comes close, but a dedicated e-seal rendering
  would be closer.
- **Phone photos.** Real photos have stronger colour casts, noise in the shadows and lens
  distortion; ours have perspective, light gradient, vignetting, shadow and blur."""),
]


def main() -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_markdown_cell(src) if kind == "md" else nbformat.v4.new_code_cell(src)
                for kind, src in CELLS]
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(NB.parent)}}).execute()
    NB.parent.mkdir(exist_ok=True)
    nbformat.write(nb, NB)
    print(f"wrote {NB} ({NB.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
