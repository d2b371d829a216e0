"""Per-level and fused recall of a model on a captioned split, computed from the model's own outputs.

This is the measurement behind the fusion decisions of the model card: for every image of a
split it runs the tower once (pooled vector + dense grid, as training does) and scores every
caption of the split at each level, as the MS-VLAM loss scores them:

- global: pooled vector . sentence vector;
- region: the best of the 3x3-cell windows of the 5x5 grid (the training loss's region views);
- object: FILIP token-wise late interaction of the caption's content tokens with the 25 cells
  (text->image: mean over tokens of the best cell; image->text: mean over cells of the best token).

Each level's scores are standardised (one scale per level, fitted on the split itself: this script
is for *val*), and fused as ``g + w_r * r + w_o * o`` over a grid. The own-image rule throughout.

    python benchmarks/level_scores.py --data RSICD/dataset_rsicd.json --split val \
        --model geoseek-default --out benchmarks/results/level_scores_rsicd_val.json
"""
from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from geoseek.metrics import score_recall
from geoseek.models.dense import forward_with_dense
from geoseek.models.factory import load_model
from geoseek.models.training.augment import augment
from geoseek.models.training.data import load_split
from geoseek.models.training.losses import region_views
from geoseek.models.text import caption_bank

log = logging.getLogger("benchmarks.level_scores")
GRID = [round(0.1 * i, 1) for i in range(0, 11)]


@torch.no_grad()
def encode(model: torch.nn.Module, pixels: torch.Tensor, batch: int = 128) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, 3, S, S) uint8 -> pooled (N, D) and cells (N, h, w, D), both L2-normalised."""
    model.eval()
    pooled, dense = [], []
    for s in range(0, len(pixels), batch):
        x = augment(pixels[s : s + batch], torch.Generator(), enabled=False)
        p, d = forward_with_dense(model.visual, x)
        pooled.append(F.normalize(p.float(), dim=-1))
        dense.append(F.normalize(d.float(), dim=-1))
    return torch.cat(pooled), torch.cat(dense)


@torch.no_grad()
def filip(cells: torch.Tensor, tokens: torch.Tensor, mask: torch.Tensor, chunk: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """cells (N, P, D), tokens (M, T, D), mask (M, T) -> image->text and text->image scores (N, M)."""
    i2t, t2i = [], []
    count = mask.sum(dim=1).clamp(min=1).float()
    for s in range(0, len(cells), chunk):
        sim = torch.einsum("npd,mtd->nmpt", cells[s : s + chunk], tokens)
        best_patch = sim.amax(dim=2)  # (n, M, T)
        t2i.append((best_patch * mask[None]).sum(dim=2) / count[None])
        best_token = sim.masked_fill(~mask[None, :, None, :], float("-inf")).amax(dim=3)
        i2t.append(best_token.masked_fill(~mask.any(dim=1)[None, :, None], 0.0).mean(dim=2))
    return torch.cat(i2t), torch.cat(t2i)


def standardise(x: torch.Tensor) -> torch.Tensor:
    return (x - x.mean()) / x.std().clamp(min=1e-6)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--image-dir")
    ap.add_argument("--split", default="val")
    ap.add_argument("--model", default="geoseek-default")
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    t0 = time.perf_counter()
    loaded = load_model(a.model)
    model = loaded.model
    size = model.visual.image_size
    size = int(size[0] if isinstance(size, (tuple, list)) else size)
    data = load_split(a.data, a.split, size, image_dir=a.image_dir)
    model.eval()
    sent, toks, mask = caption_bank(model, loaded.tokenizer, data.captions, device=torch.device("cpu"))
    sent, toks = sent.float(), toks.float()
    pooled, dense = encode(model, data.pixels)
    g = pooled @ sent.t()
    r = torch.einsum("nvd,md->nmv", region_views(dense), sent).amax(dim=2)
    o_i2t, o_t2i = filip(dense.flatten(1, 2), toks, mask)
    ids = data.caption_ids
    levels = {"global": score_recall(g.numpy(), ids), "region": score_recall(r.numpy(), ids),
              "object": score_recall(o_i2t.numpy(), ids, o_t2i.numpy())}
    zg, zr, zi, zt = standardise(g), standardise(r), standardise(o_i2t), standardise(o_t2i)
    grid = []
    for wr in GRID:
        for wo in GRID:
            i2t = zg + wr * zr + wo * zi
            t2i = zg + wr * zr + wo * zt
            res = score_recall(i2t.numpy(), ids, t2i.numpy())
            grid.append({"region": wr, "object": wo, "mR": res["mR"], "t2i": res["t2i"], "i2t": res["i2t"]})
    best = max(grid, key=lambda row: (row["mR"], -row["region"] - row["object"]))
    out = {"model": loaded.id, "data": str(a.data), "split": a.split, "images": len(data), "rule": "own image",
           "levels": levels, "fusion": "standardised level scores, g + w_r * r + w_o * o", "best": best, "grid": grid,
           "seconds": round(time.perf_counter() - t0, 1)}
    for name, res in levels.items():
        log.info("%-7s mR %.2f", name, res["mR"])
    log.info("best fused mR %.2f at region %.1f object %.1f", best["mR"], best["region"], best["object"])
    if a.out:
        a.out.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
