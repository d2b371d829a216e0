"""Would unlocking the text tower pay? A probe on RSICD val with the image side held fixed.

The default model's text tower (all-MiniLM-L6-v2) is locked: only the image tower is trained. This probe
unlocks the top ``--layers`` transformer layers of that text tower and trains them contrastively (symmetric
InfoNCE at the model's own temperature, one random caption per image per step) against the image vectors a
*train* index already stores, so the image tower is exactly the shipped one. Then it encodes the val captions
with the tuned layers and scores them against the val index's global vectors: text->image and image->text
R@1/5/10 by the own-image rule, ranked as ``geoseek bench tune-fusion`` ranks (a stable sort, ties by lower
id), so step 0 reproduces the val index's global-only figure.

It chooses nothing and is never run on a test split. It answers one question for issue 15: how much of the
gap to published models the locked text side could explain.

    geoseek index BUILT/rsicd/dataset_rsicd.json --split train --index IX_TRAIN --orientations 4
    python benchmarks/text_tower_probe.py --train-index IX_TRAIN --val-index IX_VAL \
        --dataset BUILT/rsicd/dataset_rsicd.json --layers 2 --lr 5e-5 --steps 300 \
        --out benchmarks/results/text_tower_probe_val.json
"""
from __future__ import annotations

import argparse
import json
import logging
import random
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from geoseek.bench.fusion import _top_k
from geoseek.bench.recall import split_queries
from geoseek.metrics import KS, mean_recall, recall_at_k
from geoseek.models.text import pad_token_id, text_tokens
from geoseek.search.engine import SearchEngine

log = logging.getLogger("benchmarks.text_tower_probe")


def global_vectors(engine: SearchEngine, dataset: Path, split: str) -> tuple[np.ndarray, list[tuple[str, int]]]:
    """The index's global vectors (N, D) float32 in image row order, and the split's caption entries as
    (text, image row). The index must hold exactly the split (one global view per image)."""
    state = engine.state()
    level = state.levels["global"]
    vectors = np.zeros((len(state.images.ids), level.vectors.shape[1]), np.float32)
    vectors[np.asarray(level.image_idx)] = level.vectors
    row = {iid: n for n, iid in enumerate(state.images.ids)}
    image_ids, entries = split_queries(dataset, split)
    if set(image_ids) != set(row):
        raise SystemExit(f"the index at {engine.root} does not hold exactly the {split} split of {dataset}")
    return vectors, [(text, row[iid]) for text, iid in entries]


def own_image_recall(texts: np.ndarray, images: np.ndarray, own: np.ndarray) -> dict:
    """Global-only R@K both ways by the own-image rule. texts (T, D), images (N, D), both L2-normalised;
    own (T,) each caption's image row."""
    scores = texts @ images.T
    t2i = recall_at_k(_top_k(scores, max(KS)) == own[:, None])
    ranked = _top_k(scores.T, max(KS))  # image -> caption entries
    i2t = recall_at_k(own[ranked] == np.arange(len(images))[:, None])
    return {"t2i": t2i, "i2t": i2t, "mR": mean_recall(t2i, i2t)}


class TextLayers:
    """The encoder's Hugging Face text tower with its top ``n`` layers trainable (the rest stay locked)."""

    def __init__(self, engine: SearchEngine, n: int) -> None:
        enc = engine.encoder
        self.model, self.text, self.tokenize = enc.model, enc.model.text, enc.tokenizer
        self.pad = pad_token_id(self.model)
        layers = self.text.transformer.encoder.layer
        if not 1 <= n <= len(layers):
            raise SystemExit(f"--layers must be 1..{len(layers)}")
        for p in self.text.parameters():
            p.requires_grad_(False)
        self.params = [p for layer in layers[len(layers) - n:] for p in layer.parameters()]
        for p in self.params:
            p.requires_grad_(True)
        self.scale = float(enc.model.logit_scale.detach().exp())

    def embed(self, texts: list[str], train: bool = False) -> torch.Tensor:
        """Texts -> (len, D) L2-normalised sentence vectors, pooled as the encoder pools them."""
        self.text.train(train)
        ids = self.tokenize(texts)
        ids = ids[:, : max(int((ids != self.pad).sum(1).max()), 2)]  # trailing all-pad columns change nothing
        with torch.set_grad_enabled(train):
            return F.normalize(text_tokens(self.model, ids)[0], dim=-1)

    def embed_all(self, texts: list[str], batch: int = 512) -> np.ndarray:
        return torch.cat([self.embed(texts[s:s + batch]) for s in range(0, len(texts), batch)]).numpy()


def run(args: argparse.Namespace) -> dict:
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    train_engine, val_engine = SearchEngine(args.train_index), SearchEngine(args.val_index)
    if train_engine.encoder.id != val_engine.encoder.id:
        raise SystemExit("the two indexes were built with different models")
    train_vecs, train_caps = global_vectors(train_engine, args.dataset, "train")
    val_vecs, val_caps = global_vectors(val_engine, args.dataset, args.split)
    val_texts, val_own = [t for t, _ in val_caps], np.array([r for _, r in val_caps])
    by_image: dict[int, list[str]] = {}
    for text, r in train_caps:
        by_image.setdefault(r, []).append(text)
    images = sorted(by_image)  # image rows with captions, sampled from each step
    tower = TextLayers(val_engine, args.layers)
    opt = torch.optim.AdamW(tower.params, lr=args.lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.steps, pct_start=0.1)
    image_t = torch.from_numpy(train_vecs)
    history = [{"step": 0, **own_image_recall(tower.embed_all(val_texts), val_vecs, val_own)}]
    log.info("step 0 (the shipped model): val mR %.2f", history[0]["mR"])
    start, losses = time.perf_counter(), []
    for step in range(1, args.steps + 1):
        batch = rng.sample(images, args.batch)
        tx = tower.embed([rng.choice(by_image[i]) for i in batch], train=True)
        logits = tower.scale * tx @ image_t[batch].T
        target = torch.arange(len(batch))
        loss = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
        if step % args.eval_every == 0 or step == args.steps:
            row = {"step": step, "train_loss": round(float(np.mean(losses[-args.eval_every:])), 4),
                   "seconds": round(time.perf_counter() - start, 1),
                   **own_image_recall(tower.embed_all(val_texts), val_vecs, val_own)}
            history.append(row)
            log.info("step %d: loss %.3f, val mR %.2f", step, row["train_loss"], row["mR"])
    return {"model": val_engine.encoder.id, "split": args.split, "match": "image",
            "scoring": "global-only, text vectors from the tuned text tower", "layers_unlocked": args.layers,
            "lr": args.lr, "steps": args.steps, "batch": args.batch, "seed": args.seed,
            "trainable_parameters": sum(p.numel() for p in tower.params), "history": history}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--train-index", type=Path, required=True, help="an index of exactly the train split")
    ap.add_argument("--val-index", type=Path, required=True, help="an index of exactly the scored split")
    ap.add_argument("--dataset", type=Path, required=True)
    ap.add_argument("--split", default="val", choices=["val"], help="never a test split")
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--eval-every", type=int, default=60)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, required=True, help="JSON file; a run with the same settings is replaced")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    result = run(args)
    runs = json.loads(args.out.read_text())["runs"] if args.out.exists() else []
    key = ("layers_unlocked", "lr", "steps", "batch", "seed")
    runs = [r for r in runs if tuple(r[k] for k in key) != tuple(result[k] for k in key)] + [result]
    args.out.write_text(json.dumps({"runs": runs}, indent=1) + "\n")
    log.info("wrote %s", args.out)


if __name__ == "__main__":
    main()
