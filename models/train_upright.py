"""Train the seal's up-finder (:mod:`models.upright`, round and oval seals) from generated
imprints.

::

    python -m models.train_upright --out models/weights [--data data/upright] [--epochs 30]

1. Builds (or reuses, under ``--data``) three generated training sets: seeds 558 and 559
   (one imprint an image, every kind of query: genuine, poor, re-carved, photo-engraved,
   printed; the verifier's training seeds) and seed 560 (pages, several seals a page,
   overlapping, at the page edge, under text and signatures).
2. Finds and rectifies every imprint with the engine's own pipeline and keeps, for each
   imprint seen whole and turned as a round or an oval seal, the network's input exactly as
   rectification builds it, with the true up (from the generator's turn of the seal).
   Cached per set; an interrupted run resumes.
3. Trains the network: cross-entropy against a Gaussian of 3 degrees round the true up,
   random turns of the whole circle (the input wraps, so a turn is a shift of its columns),
   ink gain jitter.
4. Writes ``upright_v1.npz`` (float32, batch norms folded into the convolutions) and
   ``upright_v1.json`` (sha256, configuration, seeds, counts) atomically under ``--out``.

No benchmark or development seed is used. The figures of the model are measured on pages it
has never seen, by ``python -m bench detect``.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import math
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from tqdm import tqdm

from imprint.atomic import write_bytes
from models import upright

#: Single imprints of every kind of query (as the verifier's training sets are built)
QUERY_KINDS = ("genuine", "genuine_poor", "recarved_clear", "recarved_subtle",
               "photo_engraved", "printed")
#: The training sets (``imprint.synth.dataset.DatasetConfig`` arguments)
TRAIN_SETS = (
    {"seed": 558, "n_seals": 100, "n_queries": 100, "n_pages": 0, "n_unregistered": 0,
     "query_sets": QUERY_KINDS},
    {"seed": 559, "n_seals": 150, "n_queries": 150, "n_pages": 0, "n_unregistered": 0,
     "query_sets": QUERY_KINDS},
    {"seed": 560, "n_seals": 200, "n_queries": 0, "n_pages": 400, "n_unregistered": 40},
)
SIGMA_DEG = 3.0


def _build(path: Path, config: dict) -> None:
    from imprint.synth.dataset import DatasetConfig, build_dataset, reusable

    if not reusable(path):
        build_dataset(path, DatasetConfig(**config), workers=2)


def _collect_rows(args: tuple[str, list[dict]]) -> list[tuple[np.ndarray, float, dict]]:
    """Inputs and true ups of the round and oval imprints (seen whole) in these manifest
    rows."""
    import cv2

    from imprint import pipeline, rectify
    from imprint.boxes import match
    from imprint.io import load_page
    from imprint.segment import detect_imprints

    cv2.setNumThreads(1)
    data, rows = Path(args[0]), args[1]
    seen: dict[int, np.ndarray] = {}
    last: list = []
    build_input, round_up, oval_up, rectify_one = (rectify._upright_input, rectify._round_up,
                                                   rectify._oval_up, pipeline.rectify)

    # the input is taken where rectification builds it, so that the network learns from
    # exactly what it will be given; the up is left at 12 o'clock, so that the true up is
    # read from the generator's turn alone, whatever weights are (or are not yet) in place
    def taking_input(*a, **k):
        x = build_input(*a, **k)
        last.append(x)
        return x

    def rectifying(*a, **k):
        last.clear()
        r = rectify_one(*a, **k)
        if r is not None and len(last) == 1:
            seen[id(r)] = last[0]
        return r

    rectify._upright_input, pipeline.rectify = taking_input, rectifying
    rectify._round_up = rectify._oval_up = lambda x, **_: 0.0
    out = []
    try:
        for row in rows:
            (page,) = load_page(data / row["file"])
            dpi = page.dpi[0] if page.dpi else None
            seen.clear()
            dets = detect_imprints(page.image, dpi=dpi)
            rects = pipeline.rectify_all(page.image, dets, dpi=dpi)
            kept = pipeline.once_each(dets, rects)
            truths = row["imprints"]
            for i, j in match([t["box"] for t in truths], [d.box for d, _ in kept]):
                t, r = truths[i], kept[j][1]
                # every round or oval imprint seen whole (whatever its seal's kind: an oval
                # seal photographed obliquely or faxed round is turned as a round one)
                if r is None or id(r) not in seen or t["visible"] < 0.98:
                    continue
                err = (t["angle"] - r.geometry.rotation + 180) % 360 - 180
                out.append((seen[id(r)], float(-err % 360),
                            {"capture": row["capture"], "set": row["set"],
                             "kind": t["seal_kind"]}))
    finally:
        rectify._upright_input, pipeline.rectify = build_input, rectify_one
        rectify._round_up, rectify._oval_up = round_up, oval_up
    return out


def collect(data: Path, workers: int) -> dict:
    """The cached inputs of one built set (made on first use)."""
    from imprint.synth.dataset import read_manifest

    cache = data / "upright_inputs.npz"
    if cache.is_file():
        with np.load(cache) as z:
            return {"x": z["x"], "up": z["up"], "meta": json.loads(str(z["meta"]))}
    rows = read_manifest(data / "manifest.jsonl")
    chunks = [(str(data), rows[k:k + 20]) for k in range(0, len(rows), 20)]
    got = []
    with ProcessPoolExecutor(workers) as pool:
        for part in tqdm(pool.map(_collect_rows, chunks), total=len(chunks),
                         desc=f"rectify {data.name}", unit="chunk"):
            got += part
    x = np.stack([g[0] for g in got]).astype(np.float32)
    up = np.array([g[1] for g in got], np.float32)
    meta = [g[2] for g in got]
    buf = io.BytesIO()
    np.savez_compressed(buf, x=x, up=up, meta=np.array(json.dumps(meta)))
    write_bytes(cache, buf.getvalue(), mode=0o644)
    return {"x": x, "up": up, "meta": meta}


# --- the network (torch, for training; inference is models.upright's numpy) ----------------

def build_net():
    import torch.nn.functional as F
    from torch import nn

    class Conv(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int):
            super().__init__()
            self.conv = nn.Conv2d(cin, cout, 3, stride=(stride, 1), bias=False)
            self.norm = nn.BatchNorm2d(cout)

        def forward(self, x):
            x = F.pad(F.pad(x, (1, 1, 0, 0), mode="circular"), (0, 0, 1, 1))
            return F.relu(self.norm(self.conv(x)))

    class Ring(nn.Module):
        def __init__(self, c: int, d: int):
            super().__init__()
            self.d = d
            self.conv = nn.Conv1d(c, c, 5, dilation=d, bias=False)
            self.norm = nn.BatchNorm1d(c)

        def forward(self, x):
            y = self.conv(F.pad(x, (2 * self.d, 2 * self.d), mode="circular"))
            return F.relu(x + self.norm(y))

    class UpNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.convs = nn.Sequential(*[Conv(*layer) for layer in upright.LAYERS])
            self.proj = nn.Conv1d(upright.WIDTHS[-1] * 4, upright.HIDDEN, 1)
            self.rings = nn.Sequential(*[Ring(upright.HIDDEN, d) for d in upright.DILATIONS])
            self.out = nn.Conv1d(upright.HIDDEN, 1, 1)

        def forward(self, x):
            y = self.convs(x).flatten(1, 2)
            return self.out(self.rings(F.relu(self.proj(y))))[:, 0]

    return UpNet()


def folded(net) -> dict[str, np.ndarray]:
    """The weights as :mod:`models.upright` reads them: each batch norm folded into the
    convolution before it."""
    def fold(conv, norm):
        scale = (norm.weight / (norm.running_var + norm.eps).sqrt()).detach().numpy()
        w = conv.weight.detach().numpy() * scale.reshape(-1, *[1] * (conv.weight.dim() - 1))
        b = norm.bias.detach().numpy() - norm.running_mean.detach().numpy() * scale
        return w.astype(np.float32), b.astype(np.float32)

    out = {}
    for k, layer in enumerate(net.convs):
        out[f"c{k}.w"], out[f"c{k}.b"] = fold(layer.conv, layer.norm)
    for k, layer in enumerate(net.rings):
        out[f"r{k}.w"], out[f"r{k}.b"] = fold(layer.conv, layer.norm)
    out["proj.w"] = net.proj.weight.detach().numpy()[:, :, 0]
    out["proj.b"] = net.proj.bias.detach().numpy()
    out["out.w"] = net.out.weight.detach().numpy()[:, :, 0]
    out["out.b"] = net.out.bias.detach().numpy()
    return out


def train(x: np.ndarray, up: np.ndarray, epochs: int, seed: int, threads: int):
    import torch
    import torch.nn.functional as F

    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    net = build_net()
    xt, yt = torch.as_tensor(x), torch.as_tensor(up)
    batch = 64
    opt = torch.optim.AdamW(net.parameters(), 3e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, 3e-3, total_steps=epochs * math.ceil(len(xt) / batch))
    step = 360.0 / upright.N_ANGLES
    angles = torch.arange(upright.N_ANGLES).float() * step
    bar = tqdm(range(epochs), desc="train", unit="epoch")
    for _ in bar:
        perm, total = torch.randperm(len(xt)), 0.0
        for b in range(0, len(xt), batch):
            idx = perm[b:b + batch]
            shift = torch.randint(0, upright.N_ANGLES, (len(idx),))
            xb = torch.stack([torch.roll(xt[i], int(s), dims=2)
                              for i, s in zip(idx, shift, strict=True)])
            gain = torch.exp(torch.randn(len(idx), 1, 1, 1) * 0.3)
            xb[:, :1] = (xb[:, :1] * gain).clamp(0, 1)
            target_up = (yt[idx] + shift.float() * step) % 360
            d = (angles[None] - target_up[:, None] + 180) % 360 - 180
            target = torch.exp(-0.5 * (d / SIGMA_DEG) ** 2)
            target = target / target.sum(1, keepdim=True)
            loss = -(target * F.log_softmax(net(xb), 1)).sum(1).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        bar.set_postfix(loss=f"{total / len(xt):.3f}")
    return net.eval()


def write(out: Path, weights: dict[str, np.ndarray], info: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    np.savez(buf, **weights)
    data = buf.getvalue()
    write_bytes(out / upright.WEIGHTS.name, data, mode=0o644)
    manifest = {"file": upright.WEIGHTS.name, "sha256": hashlib.sha256(data).hexdigest(),
                "size_bytes": len(data), **info}
    write_bytes(out / upright.WEIGHTS.with_suffix(".json").name,
                (json.dumps(manifest, indent=2) + "\n").encode("utf-8"), mode=0o644)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m models.train_upright", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=upright.WEIGHTS.parent)
    ap.add_argument("--data", type=Path, default=Path("data/upright"))
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0, help="torch seed of the training run")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)
    t0 = time.time()
    parts = []
    for config in TRAIN_SETS:
        path = args.data / "train_{seed}_{n_seals}x{n_queries}p{n_pages}".format(**config)
        _build(path, config)
        parts.append(collect(path, args.workers))
    x = np.concatenate([p["x"] for p in parts])
    up = np.concatenate([p["up"] for p in parts])
    net = train(x, up, args.epochs, args.seed, args.threads)
    info = {"version": "upright-v1", "input": {"shape": [2, upright.N_RADII, upright.N_ANGLES],
                                                "channels": ["ink", "hidden"]},
            "config": {"widths": list(upright.WIDTHS), "hidden": upright.HIDDEN,
                       "dilations": list(upright.DILATIONS)},
            "training": {"sets": [{k: v for k, v in c.items() if k != "query_sets"}
                                  for c in TRAIN_SETS],
                         "imprints": int(len(x)), "epochs": args.epochs, "seed": args.seed,
                         "sigma_deg": SIGMA_DEG, "seconds": round(time.time() - t0)}}
    write(args.out, folded(net), info)
    print(f"{len(x)} round and oval imprints; weights written to "
          f"{args.out / upright.WEIGHTS.name}")


if __name__ == "__main__":
    main()
