"""Train the learned seal embedding (:mod:`models.learned`) from generated imprints.

::

    python -m models.train --out models/weights [--seed 7100] [--val-seed 7200] [--seals 900]
        [--per-seal 6] [--val-seals 250] [--epochs 24] [--threads 2] [--cache data/train_cache]

1. Generates the training and validation imprints (``imprint.synth``: registry, physical seals,
   stampings, scenes with clutter, scan/photocopy/fax/phone capture), finds and rectifies each
   with the engine's own pipeline and caches its polar input (:func:`models.learned.prepare`)
   in chunks under ``--cache``; an interrupted run resumes from the chunks already written.
2. Trains the network with a CosFace loss over the training seals' identities (look-alike
   unit names and numbered siblings among them, as hard negatives), with random turns, radial
   scale jitter, occlusion blobs and ink-density jitter.
3. Writes ``seal_embed_v1.pt`` (float16 state dict) and ``manifest.json`` atomically under
   ``--out``, and prints the validation table (learned vs classical, same imprints).

Seeds: training registry 7100 (prefix "T"), validation registry 7200 (prefix "V"); the
benchmark/demo seeds are never used here.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from tqdm import tqdm

RESERVED_SEEDS = {2026, 555, 556, 20261123, 20261124, 20261125, 20261126}
LOOKALIKE_RATE = 0.25
SIBLING_RATE = 0.25
CHUNK = 10  # seals per cache file
#: Training captures, a little heavier on the hard ones than everyday traffic.
TRAIN_CAPTURES = (("scan", 0.4), ("photocopy", 0.2), ("fax", 0.15), ("phone", 0.25))
TRAIN_QUALITIES = (("typical", 0.6), ("poor", 0.3), ("clean", 0.1))
#: Training resolutions: every query resolution, the cheap low ones (also the hard ones once
#: rectified) drawn more often than in everyday traffic (``QUERY_DPIS``).
TRAIN_DPIS = ((150, 0.25), (200, 0.25), (300, 0.35), (400, 0.1), (600, 0.05))


# --- data ----------------------------------------------------------------------------------

_REG_CACHE: dict = {}


def _registry(seed: int, n: int, prefix: str):
    from imprint.synth.registry import make_registry

    key = (seed, n, prefix)
    if key not in _REG_CACHE:
        _REG_CACHE[key] = make_registry(n, np.random.default_rng(seed),
                                        lookalike_rate=LOOKALIKE_RATE,
                                        sibling_rate=SIBLING_RATE, prefix=prefix)
    return _REG_CACHE[key]


def _one_imprint(rec, rng: np.random.Generator, role: str):
    """Generate, detect and rectify one imprint of ``rec``: ``role`` "master" (clean, 300 dpi
    scan, no clutter, as the registry files them), "train" (quality and capture drawn from the
    training mix), "typical" / "poor" (validation queries, drawn as the benchmark draws them).
    Returns (prepared input, classical descriptor, meta) or None if nothing was found."""
    from imprint.pipeline import rectified_imprints
    from imprint.synth.dataset import QUERY_DPIS
    from imprint.synth.medium import Capture, sample_capture
    from imprint.synth.registry import pick
    from imprint.synth.scene import genuine_stamping, imprint_scene
    from models import classical
    from models.learned import prepare

    face = rec.face()
    if role == "master":
        quality, dpi, clutter = "clean", 300, False
        capture = Capture("scan", 0, 0.3, 0.003)
    else:
        quality = pick(rng, TRAIN_QUALITIES) if role == "train" else role
        mode = pick(rng, TRAIN_CAPTURES) if role == "train" else None
        capture = sample_capture(rng, mode)
        dpi, clutter = int(pick(rng, TRAIN_DPIS if role == "train" else QUERY_DPIS)), True
    st = genuine_stamping(face, rng, ink=rec.spec.ink, seal_id=rec.seal_id, quality=quality)
    image, truth = imprint_scene(st, dpi=dpi, rng=rng, capture=capture, clutter=clutter)
    found = rectified_imprints(image, dpi=dpi)
    if not found:
        return None
    cx, cy = truth.centre
    dist = [math.hypot(r.detection.centre[0] - cx, r.detection.centre[1] - cy) for r in found]
    best = int(np.argmin(dist))
    if dist[best] > 0.5 * max(truth.axes):
        return None
    imp = found[best]
    meta = {"quality": quality, "capture": capture.mode, "dpi": dpi, "kind": rec.spec.kind,
            "angle_error": float((imp.geometry.rotation - truth.angle + 180) % 360 - 180)}
    return prepare(imp.ink, imp.occlusion), classical.describe(imp), meta


def _build_chunk(args) -> str:
    """Generate the imprints of seals ``start..stop`` of a registry into one cache file."""
    import cv2

    cv2.setNumThreads(1)
    split, seed, n_seals, prefix, start, stop, per_seal, path = args
    reg = _registry(seed, n_seals, prefix)
    xs, cls, labels, metas = [], [], [], []
    for i in range(start, stop):
        roles = (["master"] + ["train"] * (per_seal - 1) if split == "train"
                 else ["master", "typical", "poor"])
        for k, role in enumerate(roles):
            rng = np.random.default_rng([seed, 1, i, k])
            got = _one_imprint(reg[i], rng, role)
            if got is None:
                continue
            x, c, meta = got
            xs.append(x)
            if split != "train":  # the baseline's descriptor, for the comparison
                cls.append(c.astype(np.float16))
            labels.append(i)
            metas.append({**meta, "role": role})
    fd, tmp = tempfile.mkstemp(dir=Path(path).parent, suffix=".part.npz")
    os.close(fd)
    np.savez_compressed(tmp, x=np.stack(xs) if xs else np.zeros((0, 2, 64, 256), np.uint8),
                        classical=np.stack(cls) if cls else np.zeros((0, 768), np.float16),
                        label=np.array(labels, np.int32),
                        meta=np.array(json.dumps(metas)))
    os.replace(tmp, path)
    return path


def generate(cache: Path, split: str, seed: int, n_seals: int, prefix: str, per_seal: int,
             workers: int) -> dict:
    """Generate (or reuse) the cached imprints of one split; returns the arrays and registry."""
    if seed in RESERVED_SEEDS:
        raise SystemExit(f"seed {seed} is reserved for the benchmarks and the demo")
    d = cache / f"{split}-s{seed}-n{n_seals}-k{per_seal}-v1"
    d.mkdir(parents=True, exist_ok=True)
    reg = _registry(seed, n_seals, prefix)
    (d / "registry.jsonl").write_text(
        "".join(json.dumps(r.to_json(), ensure_ascii=False) + "\n" for r in reg), "utf-8")
    jobs = [(split, seed, n_seals, prefix, s, min(s + CHUNK, n_seals), per_seal,
             str(d / f"chunk_{s // CHUNK:05d}.npz")) for s in range(0, n_seals, CHUNK)]
    todo = [j for j in jobs if not Path(j[-1]).is_file()]
    if todo:
        bar = tqdm(total=len(todo), desc=f"generate {split}", unit="chunk")
        if workers <= 1:
            for j in todo:
                _build_chunk(j)
                bar.update()
        else:
            with ProcessPoolExecutor(workers) as pool:
                for _ in pool.map(_build_chunk, todo):
                    bar.update()
        bar.close()
    parts = [np.load(j[-1]) for j in jobs]
    return {"x": np.concatenate([p["x"] for p in parts]),
            "classical": np.concatenate([p["classical"] for p in parts]).astype(np.float32),
            "label": np.concatenate([p["label"] for p in parts]),
            "meta": [m for p in parts for m in json.loads(str(p["meta"]))],
            "registry": reg}


# --- training ------------------------------------------------------------------------------

def augment(x, gen):
    """Random turn (circular shift along angle), radial scale jitter, occlusion blobs and ink
    density jitter of a batch ``(B, 2, R, A)`` in [0, 1]."""
    import torch
    import torch.nn.functional as F

    b, _, n_r, n_a = x.shape
    # turn: any angle
    shift = torch.randint(0, n_a, (b,), generator=gen)
    idx = (torch.arange(n_a)[None, :] + shift[:, None]) % n_a
    x = torch.gather(x, 3, idx[:, None, None, :].expand(b, 2, n_r, n_a))
    # radial scale (border fit error) and a small angular stretch, centre kept
    sr = 1.0 + (torch.rand(b, generator=gen) * 2 - 1) * 0.035
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0] = 1.0
    theta[:, 1, 1] = sr
    theta[:, 1, 2] = sr - 1.0
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    ink, occ = x[:, 0], x[:, 1]
    # ink density: starved / flooded, contrast
    gamma = torch.exp((torch.rand(b, 1, 1, generator=gen) * 2 - 1) * 0.35)
    gain = 1.0 + (torch.rand(b, 1, 1, generator=gen) * 2 - 1) * 0.2
    ink = (ink.clamp(0, 1) ** gamma * gain).clamp(0, 1)
    # occlusion blobs: black text over the seal, filled with the ring mean as at inference
    blob = torch.zeros(b, n_r, n_a, dtype=torch.bool)
    for i in torch.nonzero(torch.rand(b, generator=gen) < 0.35).flatten().tolist():
        for _ in range(int(torch.randint(1, 4, (1,), generator=gen))):
            h = int(torch.randint(4, 24, (1,), generator=gen))
            w = int(torch.randint(8, 64, (1,), generator=gen))
            r0 = int(torch.randint(0, n_r - h + 1, (1,), generator=gen))
            a0 = int(torch.randint(0, n_a, (1,), generator=gen))
            cols = (torch.arange(a0, a0 + w) % n_a)
            blob[i, r0:r0 + h, cols] = True
    if blob.any():
        known = (~blob).float()
        ring = (ink * known).sum(2, keepdim=True) / known.sum(2, keepdim=True).clamp(min=1)
        ink = torch.where(blob, ring.expand_as(ink), ink)
        occ = torch.where(blob, torch.ones_like(occ), occ)
    ink = ink + 0.02 * torch.randn(ink.shape, generator=gen)
    return torch.stack([ink.clamp(0, 1), (occ > 0.5).float()], 1)


def embed_all(model, x: np.ndarray, batch: int = 128) -> np.ndarray:
    import torch

    model.eval()
    out = []
    with torch.inference_mode():
        for i in range(0, len(x), batch):
            out.append(model(torch.from_numpy(x[i:i + batch]).float() / 255.0).numpy())
    return np.concatenate(out) if out else np.zeros((0, model.head[1].out_features), np.float32)


def _eer(genuine: np.ndarray, impostor: np.ndarray) -> float:
    """Equal error rate of the two score sets (higher = same seal)."""
    thr = np.unique(np.concatenate([genuine, impostor]))
    thr = thr[:: max(1, len(thr) // 2000)]
    frr = np.array([(genuine < t).mean() for t in thr])
    far = np.array([(impostor >= t).mean() for t in thr])
    k = int(np.argmin(np.abs(frr - far)))
    return float((frr[k] + far[k]) / 2)


def evaluate(vectors: np.ndarray, val: dict) -> dict:
    """Identification figures of ``vectors`` (one row per validation imprint): each query
    against every master (exhaustive cosine), overall and per condition."""
    meta, labels, reg = val["meta"], val["label"], val["registry"]
    is_master = np.array([m["role"] == "master" for m in meta])
    m_idx = np.nonzero(is_master)[0]
    m_labels = labels[m_idx]
    have_master = set(m_labels.tolist())
    q_idx = [i for i in np.nonzero(~is_master)[0] if labels[i] in have_master]
    sim = vectors[q_idx] @ vectors[m_idx].T
    q_labels = labels[q_idx]
    col = {int(lab): j for j, lab in enumerate(m_labels)}
    true_col = np.array([col[int(lab)] for lab in q_labels])
    correct = m_labels[sim.argmax(1)] == q_labels
    genuine = sim[np.arange(len(q_idx)), true_col]
    # partners: look-alike unit names, numbered siblings
    ids = {r.seal_id: n for n, r in enumerate(reg)}
    partners = {"sibling": defaultdict(set), "lookalike": defaultdict(set)}
    for n, r in enumerate(reg):
        for kind, other in (("sibling", r.sibling_of), ("lookalike", r.lookalike_of)):
            if other is not None:
                partners[kind][n].add(ids[other])
                partners[kind][ids[other]].add(n)
    res = {"queries": len(q_idx), "masters": len(m_idx), "top1": float(correct.mean())}
    for kind in ("sibling", "lookalike"):
        rows, wins = [], []
        for qi, lab in enumerate(q_labels):
            others = [col[o] for o in partners[kind].get(int(lab), ()) if o in col]
            if others:
                rows.append(qi)
                wins.append(all(genuine[qi] > sim[qi, o] for o in others))
        res[f"{kind}_queries"] = len(rows)
        res[f"{kind}_top1"] = float(correct[rows].mean()) if rows else float("nan")
        res[f"{kind}_discrimination"] = float(np.mean(wins)) if wins else float("nan")
    for key in ("quality", "capture"):
        groups = defaultdict(list)
        for qi, i in enumerate(q_idx):
            groups[meta[i][key]].append(qi)
        for g, rows in sorted(groups.items()):
            res[f"{key}={g}"] = float(correct[rows].mean())
            res[f"n {key}={g}"] = len(rows)
    impostor = sim.copy()
    impostor[np.arange(len(q_idx)), true_col] = np.nan
    imp = impostor[~np.isnan(impostor)]
    res["genuine_mean"] = float(genuine.mean())
    res["best_impostor_mean"] = float(np.nanmax(impostor, 1).mean())
    res["impostor_mean"] = float(imp.mean())
    res["eer"] = _eer(genuine, imp)
    return res


def format_table(learned: dict, classical: dict) -> str:
    conditions = sorted(k for k in learned if k.startswith(("quality=", "capture=")))
    keys = ["top1", *conditions, "sibling_top1", "sibling_discrimination", "lookalike_top1",
            "lookalike_discrimination", "genuine_mean", "best_impostor_mean", "eer"]
    lines = ["| figure | n | learned | classical |", "| --- | --- | --- | --- |"]
    for k in keys:
        n = learned.get(f"n {k}", learned.get(f"{k.split('_')[0]}_queries", learned["queries"]))
        lines.append(f"| {k} | {n} | {learned[k]:.3f} | {classical[k]:.3f} |")
    return "\n".join(lines)


def fit(args, train: dict, val: dict, t0: float) -> None:
    import torch
    import torch.nn.functional as F

    from models import learned

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    x_all = train["x"]
    classes, y_all = np.unique(train["label"], return_inverse=True)
    n_cls = len(classes)
    config = {**learned.DEFAULT_CONFIG}
    model = learned.build(config)
    init = None
    if args.init:  # warm start: a second stage from weights this command wrote before
        start, init_manifest = learned.load_model(Path(args.init))
        config = init_manifest["config"]
        model = learned.build(config)
        model.load_state_dict(start.state_dict())
        init = {"sha256": init_manifest["sha256"], "training": init_manifest.get("training"),
                "init": init_manifest.get("init")}
    n_params = sum(p.numel() for p in model.parameters())
    weight = torch.nn.Parameter(torch.randn(n_cls, config["dimension"]) * 0.01)
    if init is not None:  # class weights: each seal's mean embedding
        with torch.no_grad():
            emb0 = torch.from_numpy(embed_all(model, x_all))
            for c in range(n_cls):
                weight[c] = F.normalize(emb0[torch.from_numpy(y_all == c)].mean(0), dim=0)
    scale, margin = 30.0, 0.35
    params = [{"params": model.parameters()}, {"params": [weight], "weight_decay": 0.0}]
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=5e-4)
    steps_per_epoch = len(x_all) // args.batch
    total = max(1, args.epochs * steps_per_epoch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=total,
                                                pct_start=0.1)
    print(f"model: {n_params:,} parameters; {len(x_all)} imprints of {n_cls} seals")
    x_t = torch.from_numpy(x_all)
    y_t = torch.from_numpy(y_all.astype(np.int64))
    history = []
    for epoch in range(args.epochs):
        model.train()
        perm = torch.randperm(len(x_t), generator=gen)
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch + 1}/{args.epochs}", unit="step")
        run_loss, run_acc = 0.0, 0.0
        for step in bar:
            sel = perm[step * args.batch:(step + 1) * args.batch]
            xb = augment(x_t[sel].float() / 255.0, gen)
            yb = y_t[sel]
            emb = F.normalize(model.features(xb), dim=1)
            cos = emb @ F.normalize(weight, dim=1).T
            logits = scale * (cos - margin * F.one_hot(yb, n_cls))
            loss = F.cross_entropy(logits, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            run_loss = 0.9 * run_loss + 0.1 * loss.item() if step else loss.item()
            acc = float((cos.argmax(1) == yb).float().mean())
            run_acc = 0.9 * run_acc + 0.1 * acc if step else acc
            bar.set_postfix(loss=f"{run_loss:.3f}", acc=f"{run_acc:.2f}")
        bar.close()
        if (epoch + 1) % max(1, args.eval_every) == 0 or epoch + 1 == args.epochs:
            res = evaluate(embed_all(model, val["x"]), val)
            history.append({"epoch": epoch + 1, "loss": run_loss, **{
                k: res[k] for k in ("top1", "sibling_discrimination", "lookalike_top1", "eer")}})
            print(f"epoch {epoch + 1}: loss {run_loss:.3f} val top1 {res['top1']:.3f} "
                  f"siblings {res['sibling_discrimination']:.3f} "
                  f"look-alikes {res['lookalike_top1']:.3f} eer {res['eer']:.3f} "
                  f"({time.time() - t0:.0f} s)")
    model.eval()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out, prefix=".staging-"))
    write_weights(staging, model, {
        "config": config, "parameters": n_params,
        "input": {"n_radii": learned.N_RADII, "n_angles": learned.N_ANGLES,
                  "max_radius": learned.MAX_RADIUS, "channels": ["ink", "occlusion"],
                  "dtype": "uint8 / 255", "prepare": "models.learned.prepare"},
        "loss": {"name": "cosface", "scale": scale, "margin": margin},
        "training": {"seed": args.seed, "registry_seed": args.seed, "registry_prefix": "T",
                     "seals": int(n_cls), "imprints": len(x_all), "per_seal": args.per_seal,
                     "lookalike_rate": LOOKALIKE_RATE, "sibling_rate": SIBLING_RATE,
                     "epochs": args.epochs, "batch": args.batch, "lr": args.lr,
                     "threads": args.threads, "wall_time_s": round(time.time() - t0, 1)},
        "validation": {"registry_seed": args.val_seed, "registry_prefix": "V",
                       "seals": args.val_seals, "history": history},
        "init": init,
        "torch_version": torch.__version__,
    })
    # the figures of the weights as written (float16), through the embedder itself
    learned_res, classical_res = validate(staging, val, args.val_seed)
    manifest = json.loads((staging / learned.MANIFEST_FILE).read_text(encoding="utf-8"))
    manifest["validation"].update(learned=learned_res, classical=classical_res)
    _write_json(staging / learned.MANIFEST_FILE, manifest)
    for name in (learned.WEIGHTS_FILE, learned.MANIFEST_FILE):  # weights first, then manifest
        os.replace(staging / name, out / name)
    staging.rmdir()
    print(f"wrote {out / learned.WEIGHTS_FILE} ({manifest['size_bytes'] / 1e6:.2f} MB, "
          f"sha256 {manifest['sha256'][:8]}) and {out / learned.MANIFEST_FILE}")


def validate(weights_dir: Path, val: dict, val_seed: int) -> tuple[dict, dict]:
    """Validation figures of the weights in ``weights_dir`` and of the classical baseline, on
    the same imprints; prints the table."""
    from models.learned import LearnedEmbedder

    emb = LearnedEmbedder(weights_dir)
    learned_res = evaluate(emb.embed_prepared(val["x"]), val)
    classical_res = evaluate(val["classical"], val)
    print(f"validation: registry seed {val_seed}, {learned_res['masters']} masters, "
          f"{learned_res['queries']} queries; {emb.model_id}")
    print(format_table(learned_res, classical_res))
    return learned_res, classical_res


def write_weights(out: Path, model, info: dict) -> None:
    """Write the float16 state dict and its manifest into ``out`` (a staging directory: the
    caller moves both into place, atomically each)."""
    import torch

    from models import learned

    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().half() if v.is_floating_point() else v
             for k, v in model.state_dict().items()}
    fd, tmp = tempfile.mkstemp(dir=out, suffix=".pt.part")
    os.close(fd)
    torch.save(state, tmp)
    digest = learned.sha256_file(Path(tmp))
    os.chmod(tmp, 0o644)
    os.replace(tmp, out / learned.WEIGHTS_FILE)
    manifest = {"file": learned.WEIGHTS_FILE, "sha256": digest, "version": learned.VERSION,
                "dimension": info["config"]["dimension"],
                "size_bytes": (out / learned.WEIGHTS_FILE).stat().st_size, **info}
    _write_json(out / learned.MANIFEST_FILE, manifest)


def _write_json(path: Path, obj: dict) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".json.part")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, default=float)
        f.write("\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


# --- main ----------------------------------------------------------------------------------

def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m models.train", description=__doc__.split("\n")[0])
    p.add_argument("--out", default="models/weights", help="where the weights and manifest go")
    p.add_argument("--cache", default="data/train_cache", help="generated-imprint cache")
    p.add_argument("--seed", type=int, default=7100, help="training registry seed")
    p.add_argument("--val-seed", type=int, default=7200, help="validation registry seed")
    p.add_argument("--seals", type=int, default=480, help="training seals")
    p.add_argument("--per-seal", type=int, default=5, help="imprints per training seal")
    p.add_argument("--val-seals", type=int, default=150, help="validation seals (masters)")
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--eval-every", type=int, default=4, help="validate every N epochs")
    p.add_argument("--threads", type=int, default=2, help="torch threads and generator processes")
    p.add_argument("--init", default=None,
                   help="warm start from the weights in this directory (a second stage)")
    p.add_argument("--generate-only", action="store_true", help="fill the cache and stop")
    p.add_argument("--evaluate", action="store_true",
                   help="no training: validate the weights under --out against the baseline")
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    t0 = time.time()
    cache = Path(args.cache)
    train = generate(cache, "train", args.seed, args.seals, "T", args.per_seal, args.threads)
    val = generate(cache, "val", args.val_seed, args.val_seals, "V", 3, args.threads)
    print(f"data: {len(train['x'])} training imprints of {args.seals} seals, "
          f"{len(val['x'])} validation imprints ({time.time() - t0:.0f} s)")
    if args.generate_only:
        return
    if args.evaluate:
        validate(Path(args.out), val, args.val_seed)
        return
    fit(args, train, val, t0)


if __name__ == "__main__":
    main()
