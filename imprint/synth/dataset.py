"""Dataset builder: a registry of seals with master imprints, query sets and pages, written as
images plus JSON Lines manifests, reproducible from one seed.

Layout of the output directory::

    dataset.json        seed, counts, dpi, generator version, format (:data:`FORMAT`)
    registry.jsonl      one SealRecord per filed seal
    unregistered.jsonl  seals that were never filed (their imprints must match nothing)
    manifest.jsonl      one line per image: set, file, dpi (the file's; None for a phone
                        photo), page_dpi (the page's), capture, imprints (ground truth)
    masters/ queries/ pages/

Every item draws from its own generator, ``default_rng([seed, stream, index])``, so items can
be built in any order or in parallel and come out identical.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

import imprint
from imprint.errors import InvalidParameterError, OutputError
from imprint.synth import names
from imprint.synth.forgery import make_forgery
from imprint.synth.medium import Capture, sample_capture
from imprint.synth.registry import SealRecord, make_registry, pick, random_spec
from imprint.synth.scene import Stamping, genuine_stamping, imprint_scene, page_scene
from imprint.synth.stamping import sample_conditions

QUERY_SETS = ("genuine", "genuine_poor", "recarved_clear", "recarved_subtle", "photo_engraved",
              "printed", "unregistered", "lookalike", "sibling")
STREAMS = {"registry": 0, "masters": 1, "pages": 2, "unregistered_seals": 3,
           **{name: 10 + i for i, name in enumerate(QUERY_SETS)}}
MAX_ITEMS = 1_000_000
#: Scanning resolutions drawn per item when a dataset's dpi is 0 ("mixed"): (dpi, weight).
QUERY_DPIS = ((150, 0.15), (200, 0.15), (300, 0.45), (400, 0.1), (600, 0.15))
PAGE_DPIS = ((150, 0.2), (200, 0.3), (300, 0.5))  # whole A4 pages: up to 300 dpi


@dataclass(frozen=True)
class DatasetConfig:
    """What to build. Counts are per query set; ``dpi`` of queries and pages (0: drawn per
    item from :data:`QUERY_DPIS` and :data:`PAGE_DPIS`), ``master_dpi`` of the filed masters."""

    seed: int
    n_seals: int = 20
    n_queries: int = 4
    n_pages: int = 4
    n_unregistered: int = 10
    dpi: int = 0
    master_dpi: int = 300
    query_sets: tuple[str, ...] = QUERY_SETS
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        for name in ("n_seals", "n_queries", "n_pages", "n_unregistered"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 0 or v > MAX_ITEMS:
                raise InvalidParameterError(
                    f"{name} must be an integer in 0..{MAX_ITEMS}, got {v!r}")
        if self.n_seals < 2 and self.n_queries:
            raise InvalidParameterError("a registry needs at least 2 seals to draw queries from")
        if self.dpi != 0 and not 72 <= self.dpi <= 1200:
            raise InvalidParameterError(f"dpi must be 0 (mixed) or in 72..1200, got {self.dpi}")
        if not 72 <= self.master_dpi <= 1200:
            raise InvalidParameterError(f"master_dpi must be in 72..1200, got {self.master_dpi}")
        unknown = set(self.query_sets) - set(QUERY_SETS)
        if unknown:
            raise InvalidParameterError(
                f"unknown query set(s) {sorted(unknown)}; choose from {', '.join(QUERY_SETS)}")


def item_rng(seed: int, stream: str, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, STREAMS[stream], index])


def _dpi(fixed: int, mix, rng: np.random.Generator) -> int:
    return fixed or pick(rng, mix)


#: What a generated dataset's files hold, raised when that changes so that sets built before
#: are built again (:func:`reusable`): 2, phone photos state no resolution.
FORMAT = 2


def file_dpi(capture: Capture, dpi: float) -> float | None:
    """The resolution an image file of a page composed at ``dpi`` states: none for a phone
    photo, whose scale is its framing's (a camera writes none, or 72 dpi, which says nothing),
    as an examiner's or a counter's photo comes; the scanner's for the others."""
    return None if capture.mode == "phone" else dpi


def reusable(path: str | Path) -> bool:
    """Whether a dataset built earlier under ``path`` can be used as it is: complete (its
    manifest written) and of the current :data:`FORMAT`. A set of an older format is removed,
    to be built again."""
    path = Path(path)
    try:
        current = json.loads((path / "dataset.json").read_text(encoding="utf-8")).get(
            "format") == FORMAT
    except (OSError, ValueError):
        current = False
    if current and (path / "manifest.jsonl").is_file():
        return True
    if path.exists():
        shutil.rmtree(path)
    return False


def mark_format(path: str | Path, **meta) -> None:
    """Write ``dataset.json`` (``meta`` and the current :data:`FORMAT`) atomically: the last
    step of building a set, after its manifest."""
    path = Path(path)
    tmp = path / "dataset.json.part"
    tmp.write_text(json.dumps({**meta, "format": FORMAT}, ensure_ascii=False, indent=2),
                   encoding="utf-8")
    os.replace(tmp, path / "dataset.json")


def ensure_writable_dir(path: Path) -> None:
    """Create ``path`` if needed and check that files can be written in it."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise OutputError(f"output directory {path} is not writable: {exc.strerror or exc}"
                          ) from exc


def write_image(path: Path, rgb: np.ndarray, dpi: float | None, jpeg_quality: int = 0
                ) -> None:
    """Write atomically (temporary file, then rename), with the dpi in the file's metadata
    (None: no resolution stated)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".part")
    os.close(fd)
    stated = {} if dpi is None else {"dpi": (dpi, dpi)}
    try:
        img = Image.fromarray(rgb)
        if jpeg_quality:
            img.save(tmp, format="JPEG", quality=jpeg_quality, **stated)
        else:
            img.save(tmp, format="PNG", **stated)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from exc


def write_jsonl(path: Path, rows: Iterable[dict]) -> None:
    """Write JSON Lines atomically."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".part")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False, default=_json_default) + "\n")
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from exc


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o)}")


# --- one item each -------------------------------------------------------------------------

_REGISTRY: list[SealRecord] = []
_UNREGISTERED: list[SealRecord] = []


def _init(registry: list[SealRecord], unregistered: list[SealRecord]) -> None:
    global _REGISTRY, _UNREGISTERED
    _REGISTRY, _UNREGISTERED = registry, unregistered


def _record(seal_id: str) -> SealRecord:
    return next(r for r in _REGISTRY if r.seal_id == seal_id)


def _query_stamping(qset: str, rng: np.random.Generator) -> Stamping | None:
    """The stamping behind one query of set ``qset``; None if the registry has no candidate."""
    reg = _REGISTRY
    if qset in ("genuine", "genuine_poor"):
        rec = reg[int(rng.integers(len(reg)))]
        return genuine_stamping(rec.face(), rng, ink=rec.spec.ink, seal_id=rec.seal_id,
                                quality="poor" if qset == "genuine_poor" else "typical")
    if qset == "lookalike":
        pairs = [r for r in reg if r.lookalike_of]
        if not pairs:
            return None
        rec = pairs[int(rng.integers(len(pairs)))]
        return genuine_stamping(rec.face(), rng, ink=rec.spec.ink, seal_id=rec.seal_id,
                                claimed=rec.lookalike_of)
    if qset == "sibling":
        pairs = [r for r in reg if r.sibling_of]
        if not pairs:
            return None
        rec = pairs[int(rng.integers(len(pairs)))]
        # either sibling, claimed as the other
        if rng.random() < 0.5:
            return genuine_stamping(rec.face(), rng, ink=rec.spec.ink, seal_id=rec.seal_id,
                                    claimed=rec.sibling_of)
        other = _record(rec.sibling_of)
        return genuine_stamping(other.face(), rng, ink=other.spec.ink, seal_id=other.seal_id,
                                claimed=rec.seal_id)
    if qset == "unregistered":
        rec = _UNREGISTERED[int(rng.integers(len(_UNREGISTERED)))]
        return Stamping(rec.face(), sample_conditions(rng), rec.spec.ink, rec.seal_id, None,
                        None, {"registered": False})
    rec = reg[int(rng.integers(len(reg)))]
    face = rec.face()
    kind, _, level = qset.partition("_") if qset.startswith("recarved") else (qset, "", "clear")
    forgery = make_forgery(kind, face, rng, level)
    stamped_face = forgery.face if forgery.face is not None else face
    return Stamping(stamped_face, sample_conditions(rng), rec.spec.ink, None, rec.seal_id,
                    forgery)


def _build_query(args) -> dict | None:
    out_dir, cfg, qset, index = args
    rng = item_rng(cfg.seed, qset, index)
    st = _query_stamping(qset, rng)
    if st is None:
        return None
    capture = sample_capture(rng)
    dpi = _dpi(cfg.dpi, QUERY_DPIS, rng)
    image, truth = imprint_scene(st, dpi=dpi, rng=rng, capture=capture)
    ext = "jpg" if capture.jpeg_quality else "png"
    rel = f"queries/{qset}/{qset}_{index:06d}.{ext}"
    stated = file_dpi(capture, dpi)
    write_image(Path(out_dir) / rel, image, stated, capture.jpeg_quality)
    return {"set": qset, "file": rel, "dpi": stated, "page_dpi": dpi,
            "capture": capture.mode,
            "jpeg_quality": capture.jpeg_quality, "homography": capture.homography,
            "imprints": [truth.to_json()]}


def _build_master(args) -> dict:
    out_dir, cfg, index = args
    rec = _REGISTRY[index]
    rng = item_rng(cfg.seed, "masters", index)
    st = genuine_stamping(rec.face(), rng, ink=rec.spec.ink, seal_id=rec.seal_id,
                          quality="clean")
    image, truth = imprint_scene(st, dpi=cfg.master_dpi, rng=rng, clutter=False,
                                 capture=Capture("scan", 0, 0.3, 0.003))
    rel = f"masters/{rec.seal_id}.png"
    write_image(Path(out_dir) / rel, image, cfg.master_dpi)
    return {"set": "master", "file": rel, "dpi": cfg.master_dpi, "page_dpi": cfg.master_dpi,
            "capture": "scan",
            "jpeg_quality": 0, "homography": None, "imprints": [truth.to_json()]}


def _page_stampings(rng: np.random.Generator) -> list[Stamping]:
    n = int(rng.choice([1, 1, 2, 2, 3, 4]))
    sts = []
    for k in range(n):
        roll = rng.random()
        qset = ("genuine" if roll < 0.7 else "recarved_clear" if roll < 0.8 else
                "printed" if roll < 0.87 else "unregistered" if _UNREGISTERED else "genuine")
        st = _query_stamping(qset, rng)
        placement = rng.choice(["normal", "edge", "overlap"], p=[0.7, 0.15, 0.15])
        if placement == "overlap" and k == 0:
            placement = "normal"
        st.labels["placement"] = str(placement)
        st.labels["query_set"] = qset
        sts.append(st)
    return sts


def _build_page(args) -> dict:
    out_dir, cfg, index = args
    rng = item_rng(cfg.seed, "pages", index)
    dpi = _dpi(cfg.dpi, PAGE_DPIS, rng)
    image, truths, capture = page_scene(_page_stampings(rng), dpi=dpi, rng=rng,
                                        capture=sample_capture(rng))
    ext = "jpg" if capture.jpeg_quality else "png"
    rel = f"pages/page_{index:06d}.{ext}"
    stated = file_dpi(capture, dpi)
    write_image(Path(out_dir) / rel, image, stated, capture.jpeg_quality)
    return {"set": "page", "file": rel, "dpi": stated, "page_dpi": dpi,
            "capture": capture.mode,
            "jpeg_quality": capture.jpeg_quality, "homography": capture.homography,
            "imprints": [t.to_json() for t in truths]}


@dataclass(frozen=True)
class DatasetSummary:
    out_dir: str
    seed: int
    n_seals: int
    n_masters: int
    queries: dict
    n_pages: int
    n_imprints_on_pages: int


def _run(fn, jobs: list, workers: int, desc: str, progress: bool, init_args) -> list:
    if not jobs:
        return []
    if workers <= 1:
        return [fn(j) for j in tqdm(jobs, desc=desc, disable=not progress, unit="img")]
    with ProcessPoolExecutor(workers, initializer=_init, initargs=init_args) as pool:
        return list(tqdm(pool.map(fn, jobs, chunksize=4), total=len(jobs), desc=desc,
                         disable=not progress, unit="img"))


def build_dataset(out_dir: str | Path, config: DatasetConfig, *, workers: int = 1,
                  progress: bool = True) -> DatasetSummary:
    """Build the dataset described by ``config`` under ``out_dir``."""
    out = Path(out_dir)
    ensure_writable_dir(out)
    registry = make_registry(config.n_seals, item_rng(config.seed, "registry", 0))
    urng = item_rng(config.seed, "unregistered_seals", 0)
    unregistered = []
    for i in range(config.n_unregistered):
        # half are look-alikes of filed names: a forger's own seal with a confusable name
        unit = (names.look_alike(registry[int(urng.integers(len(registry)))].unit_name, urng)
                if registry and urng.random() < 0.5 else None)
        spec = random_spec(urng, "round_official" if unit else None, unit)
        unregistered.append(SealRecord(f"U{i:06d}", spec.unit_name, names.credit_code(urng),
                                       spec, "noto-serif-sc", int(urng.integers(2**31))))
    init_args = (registry, unregistered)
    _init(*init_args)
    write_jsonl(out / "registry.jsonl", (r.to_json() for r in registry))
    write_jsonl(out / "unregistered.jsonl", (r.to_json() for r in unregistered))

    rows = _run(_build_master, [(str(out), config, i) for i in range(len(registry))], workers,
                "masters", progress, init_args)
    counts = {}
    for qset in config.query_sets:
        if qset == "unregistered" and not unregistered:
            continue
        got = _run(_build_query, [(str(out), config, qset, i) for i in range(config.n_queries)],
                   workers, qset, progress, init_args)
        got = [g for g in got if g is not None]
        counts[qset] = len(got)
        rows += got
    pages = _run(_build_page, [(str(out), config, i) for i in range(config.n_pages)], workers,
                 "pages", progress, init_args)
    rows += pages
    write_jsonl(out / "manifest.jsonl", rows)
    summary = DatasetSummary(str(out), config.seed, len(registry), len(registry), counts,
                             len(pages), sum(len(p["imprints"]) for p in pages))
    mark_format(out, generator=f"imprint {imprint.__version__}", config=asdict(config),
                summary=asdict(summary))
    return summary


def read_manifest(path: str | Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
