"""``geoseek train``: MS-VLAM contrastive training of an open_clip-style model.

One epoch = a seeded shuffle of the train split in batches; each batch is augmented, encoded
once (pooled + dense grid), and scored against its captions at three levels (losses.py). The
text tower is locked by default (LiT-style with the text side fixed): its caption features
are computed once, so an epoch costs only the image tower. After every epoch: validation
R@K (global vectors, the standard own-image rule), a resumable ``last.pt``, ``best.pt`` when val mR improves, early stop
after ``patience`` epochs without improvement; with ``keep_epochs``, the last N epochs' weights for averaging.py.
"""
from __future__ import annotations

import json
import logging
import math
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from geoseek.metrics import dense_recall
from geoseek.models.dense import forward_with_dense
from geoseek.models.encoder import resolve_device
from geoseek.models.factory import load_model, model_config_for
from geoseek.models.factory import lock_text as lock_text_tower
from geoseek.models.training.augment import augment
from geoseek.models.training.checkpoint import (
    FORMAT,
    load_training_state,
    model_state,
    save_atomic,
)
from geoseek.models.training.data import CaptionedImages, load_split
from geoseek.models.training.losses import MSVLAMLoss
from geoseek.models.training.mosaic import mosaic_batch
from geoseek.models.text import caption_bank
from geoseek.schemas.bench import MatchRule
from geoseek.schemas.levels import LevelWeights

log = logging.getLogger(__name__)

DEFAULT_EPOCHS = 20
DEFAULT_PATIENCE = 4
RUN_FILES = ("last.pt", "best.pt", "history.json")


@dataclass
class TrainConfig:
    """Everything that determines a run (stored in every checkpoint)."""

    dataset: str
    model: str = "geoseek-default:random"
    out: str = "runs/geoseek"
    epochs: int | None = None  # None: DEFAULT_EPOCHS, or the resumed run's own
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 0.05
    warmup_epochs: float = 1.0
    loss_weights: tuple[float, float, float] = (1.0, 0.5, 0.5)
    seed: int = 0
    patience: int | None = None  # None: DEFAULT_PATIENCE, or the resumed run's own
    train_split: str = "train"
    val_split: str = "val"
    limit: int | None = None
    device: str = "auto"
    lock_text: bool = True  # the text tower is locked; its caption features are computed once
    workers: int = 2
    image_dir: str | None = None  # the folder holding the dataset json's images (None: found next to the json)
    mosaic: float = 0.0  # share of each batch's slots that are 2x2 multi-instance mosaics (training/mosaic.py)
    keep_epochs: int = 0  # keep the weights of the last N epochs in OUT/epochs/ (for geoseek average-checkpoints)
    extra: dict[str, Any] = field(default_factory=dict)


@torch.no_grad()
def split_recall(model: torch.nn.Module, data: CaptionedImages, sentences: torch.Tensor, device: torch.device) -> dict:
    """The trainer's val metric: R@1/5/10 both ways and mR of the global vectors of ``data`` (images at the
    model's input size, unaugmented) against ``sentences`` (M, D) of ``data.captions``, by the own-image rule."""
    model.eval()
    vecs = []
    for start in range(0, len(data), 256):
        x = augment(data.pixels[start : start + 256], torch.Generator(), enabled=False).to(device)
        vecs.append(F.normalize(model.encode_image(x).float(), dim=-1).cpu())
    # The standard own-image rule: checkpoints are chosen on it, never on the lenient variant.
    return dense_recall(torch.cat(vecs).numpy(), sentences.float().numpy(), data.caption_ids, match=MatchRule.IMAGE)


@dataclass
class TrainResult:
    best_epoch: int
    best_val: dict
    epochs_run: int
    seconds: float
    checkpoint: Path
    stopped_early: bool


def _param_groups(params: list[tuple[str, torch.nn.Parameter]], weight_decay: float) -> list[dict]:
    # No decay on gains, biases and temperatures (1-D or scalar), as in CLIP.
    decay = [p for n, p in params if p.ndim >= 2]
    rest = [p for n, p in params if p.ndim < 2]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}]


def _schedule(warmup: int, total: int):
    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(1, warmup)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))
    return f


class Trainer:
    """Holds the model, data and optimiser for one run; ``run()`` trains to the end or early stop."""

    def __init__(self, cfg: TrainConfig, *, resume: bool = False, progress: bool = True) -> None:
        self.cfg = cfg
        self.out = Path(cfg.out)
        self.progress = progress
        last = self.out / "last.pt"
        existing = [f for f in RUN_FILES if (self.out / f).exists()]
        if existing and not resume:
            raise FileExistsError(f"{self.out} already holds a run ({', '.join(existing)}); pass --resume to continue it "
                                  "or choose a new --out")
        if resume and not last.exists():
            raise FileNotFoundError(f"--resume: no {last} to resume from")
        if not cfg.lock_text:
            raise ValueError("training the text tower is not supported: it is locked and its caption features precomputed")
        self.resume_state = load_training_state(last) if resume else None
        if self.resume_state is not None:
            saved = self.resume_state["train"]["config"]
            keep = {k: saved[k] for k in ("dataset", "model", "batch_size", "lr", "weight_decay", "warmup_epochs",
                                          "loss_weights", "seed", "train_split", "val_split", "limit", "lock_text")}
            keep["mosaic"] = saved.get("mosaic", 0.0)  # runs from before mosaics had none
            # The run's own length and patience unless overridden (the LR schedule spans the epochs).
            for k in ("epochs", "patience"):
                if getattr(cfg, k) is None or getattr(cfg, k) == saved[k]:
                    keep[k] = saved[k]
                else:
                    log.warning("--resume: %s changed from %s to %s", k, saved[k], getattr(cfg, k))
            self.cfg = cfg = TrainConfig(**{**asdict(cfg), **keep, "loss_weights": tuple(keep["loss_weights"])})
        if cfg.epochs is None or cfg.patience is None:
            self.cfg = cfg = TrainConfig(**{**asdict(cfg), "epochs": cfg.epochs or DEFAULT_EPOCHS,
                                            "patience": cfg.patience or DEFAULT_PATIENCE})
        torch.manual_seed(cfg.seed)
        self.device = resolve_device(cfg.device)
        loaded = load_model(cfg.model)
        self.model, self.tokenizer, self.base_id = loaded.model, loaded.tokenizer, loaded.id
        self.model_cfg = model_config_for(cfg.model)
        if cfg.lock_text:
            lock_text_tower(self.model)
        self.model.to(self.device)
        size = self.model.visual.image_size
        self.image_size = int(size[0] if isinstance(size, (tuple, list)) else size)
        self.train = load_split(cfg.dataset, cfg.train_split, self.image_size, limit=cfg.limit, workers=cfg.workers,
                                image_dir=cfg.image_dir)
        self.val = load_split(cfg.dataset, cfg.val_split, self.image_size, limit=cfg.limit, workers=cfg.workers,
                              image_dir=cfg.image_dir)
        if len(self.train) < 2:
            raise ValueError(f"split '{cfg.train_split}' has {len(self.train)} image(s); contrastive training needs at least 2")
        self.model.eval()
        self.train_bank = caption_bank(self.model, self.tokenizer, self.train.captions, device=self.device)
        self.val_bank = caption_bank(self.model, self.tokenizer, self.val.captions, device=self.device)
        self.loss_fn = MSVLAMLoss(LevelWeights.of(*cfg.loss_weights)).to(self.device)
        named = [(n, p) for n, p in self.model.named_parameters() if p.requires_grad]
        named += [(n, p) for n, p in self.loss_fn.named_parameters()]
        self.optimizer = torch.optim.AdamW(_param_groups(named, cfg.weight_decay), lr=cfg.lr, betas=(0.9, 0.98), eps=1e-6)
        self.batch = min(cfg.batch_size, len(self.train))
        self.steps_per_epoch = max(1, len(self.train) // self.batch)
        total = self.steps_per_epoch * cfg.epochs
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, _schedule(int(cfg.warmup_epochs * self.steps_per_epoch), total))
        self.history: list[dict] = []
        self.start_epoch, self.best_mr, self.best_epoch, self.bad_epochs, self.seconds = 0, -1.0, -1, 0, 0.0
        if self.resume_state is not None:
            self._restore(self.resume_state)

    def _restore(self, st: dict) -> None:
        missing, unexpected = self.model.load_state_dict(st["state_dict"], strict=False)
        if unexpected or any(not k.startswith("text.") for k in missing):
            raise ValueError(f"{self.out / 'last.pt'} does not match model {self.cfg.model}")
        self.optimizer.load_state_dict(st["optimizer"])
        self.scheduler.load_state_dict(st["scheduler"])
        self.loss_fn.load_state_dict(st["loss_state"])
        t = st["train"]
        self.start_epoch, self.best_mr, self.best_epoch = t["epoch"] + 1, t["best_mR"], t["best_epoch"]
        self.bad_epochs, self.history, self.seconds = t["bad_epochs"], t["history"], t["seconds"]
        if t.get("val_rule") != MatchRule.IMAGE.value:
            # A run from before the own-image rule: its best val mR is a lenient figure that a standard one
            # cannot be compared with. Forget it, so best.pt and early stopping follow the standard rule.
            log.warning("%s was validated by another rule (%s); its best val mR %.2f is not compared with the "
                        "own-image rule's: the next epoch starts a new best", self.out / "last.pt",
                        t.get("val_rule", "lenient, before the own-image rule"), self.best_mr)
            self.best_mr, self.best_epoch, self.bad_epochs = -1.0, -1, 0
        log.info("resuming %s after epoch %d (best val mR %.2f at epoch %d)", self.out, t["epoch"] + 1, self.best_mr,
                 self.best_epoch + 1)

    # ---- one step -------------------------------------------------------------------------
    def _text(self, bank: tuple[torch.Tensor, ...], ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        sent, toks, mask = bank
        return sent[ids].to(self.device).float(), toks[ids].to(self.device).float(), mask[ids].to(self.device)

    def step(self, rows: torch.Tensor, gen: torch.Generator) -> dict[str, float]:
        """One optimiser step on the train images ``rows`` (1-D index tensor)."""
        data: CaptionedImages = self.train
        batch = mosaic_batch(data.pixels, data.caption_ids, rows, self.cfg.mosaic, gen)
        x = augment(batch.pixels, gen).to(self.device)
        per_image = batch.caption_ids
        all_ids = sorted({c for ids in per_image for c in ids})
        col = {c: j for j, c in enumerate(all_ids)}
        sentence_pos = torch.zeros(len(rows), len(all_ids), dtype=torch.bool)
        for i, ids in enumerate(per_image):
            sentence_pos[i, [col[c] for c in ids]] = True
        pick = torch.tensor([ids[int(torch.randint(len(ids), (1,), generator=gen))] for ids in batch.sample_from])
        sampled_pos = torch.tensor([[p in set(ids) for p in pick.tolist()] for ids in per_image])
        sentences, _, _ = self._text(self.train_bank, torch.tensor(all_ids))
        sampled, tokens, mask = self._text(self.train_bank, pick)
        self.model.train()
        image, dense = forward_with_dense(self.model.visual, x)
        out = self.loss_fn(image, dense, self.model.logit_scale, sentences, sentence_pos.to(self.device),
                           sampled, tokens, mask, sampled_pos.to(self.device))
        self.optimizer.zero_grad(set_to_none=True)
        out["loss"].backward()
        self.optimizer.step()
        self.scheduler.step()
        return {k: float(v.detach()) for k, v in out.items()}

    # ---- evaluation -----------------------------------------------------------------------
    def evaluate(self, data: CaptionedImages | None = None) -> dict:
        """Global-vector R@K both ways (own-image rule) on the val split (or ``data``)."""
        data = data or self.val
        self.model.eval()  # before the text features too: a text tower with dropout must not be in train mode
        bank = self.val_bank if data is self.val else caption_bank(self.model, self.tokenizer, data.captions, device=self.device)
        return split_recall(self.model, data, bank[0], self.device)

    # ---- the loop -------------------------------------------------------------------------
    def _meta(self, epoch: int) -> dict:
        # Plain Python values only (str(torch.__version__), not TorchVersion): checkpoints load with weights_only.
        return {"config": asdict(self.cfg), "epoch": epoch, "best_mR": self.best_mr, "best_epoch": self.best_epoch,
                "val_rule": MatchRule.IMAGE.value,
                "bad_epochs": self.bad_epochs, "history": self.history, "seconds": self.seconds,
                "base_model": self.base_id, "hardware": f"{platform.processor() or platform.machine()}, "
                f"{torch.get_num_threads()} threads, {self.device}", "torch": str(torch.__version__)}

    def _save(self, epoch: int, improved: bool) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        base = {"format": FORMAT, "model_cfg": self.model_cfg, "lock_text": self.cfg.lock_text, "train": self._meta(epoch)}
        if improved:
            save_atomic({**base, "state_dict": model_state(self.model, self.model_cfg, self.cfg.lock_text, half=True)},
                        self.out / "best.pt")
        weights = {**base, "state_dict": model_state(self.model, self.model_cfg, self.cfg.lock_text)}
        save_atomic({**weights, "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                     "loss_state": self.loss_fn.state_dict()}, self.out / "last.pt")
        if self.cfg.keep_epochs:
            self._keep_epoch(epoch, weights)
        (self.out / "history.json").write_text(json.dumps(self.history, indent=2))

    def _keep_epoch(self, epoch: int, weights: dict) -> None:
        """``weights`` (last.pt without the optimiser: float32) as OUT/epochs/epoch_NNN.pt, pruned to the last
        ``keep_epochs``."""
        folder = self.out / "epochs"
        folder.mkdir(exist_ok=True)
        save_atomic(weights, folder / f"epoch_{epoch + 1:03d}.pt")
        for old in sorted(folder.glob("epoch_*.pt"))[: -self.cfg.keep_epochs]:
            old.unlink()

    def run(self) -> TrainResult:
        cfg = self.cfg
        stopped = False
        epoch = self.start_epoch - 1
        for epoch in range(self.start_epoch, cfg.epochs):
            if self.bad_epochs >= cfg.patience:
                stopped = True
                break
            t0 = time.perf_counter()
            gen = torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)  # the epoch's only RNG
            order = torch.randperm(len(self.train), generator=gen)
            sums: dict[str, float] = {}
            bar = tqdm(range(self.steps_per_epoch), desc=f"epoch {epoch + 1}/{cfg.epochs}", disable=not self.progress, leave=False)
            for s in bar:
                stats = self.step(order[s * self.batch : (s + 1) * self.batch], gen)
                for k, v in stats.items():
                    sums[k] = sums.get(k, 0.0) + v
                bar.set_postfix(loss=f"{stats['loss']:.3f}")
            val = self.evaluate()
            self.seconds += time.perf_counter() - t0
            improved = val["mR"] > self.best_mr
            if improved:
                self.best_mr, self.best_epoch, self.bad_epochs = val["mR"], epoch, 0
            else:
                self.bad_epochs += 1
            row = {"epoch": epoch + 1, **{f"train_{k}": round(v / self.steps_per_epoch, 4) for k, v in sums.items()},
                   "val_mR": val["mR"], "val_t2i": val["t2i"], "val_i2t": val["i2t"], "seconds": round(self.seconds, 1),
                   "lr": self.scheduler.get_last_lr()[0]}
            self.history.append(row)
            self._save(epoch, improved)
            log.info("epoch %d: loss %.3f, val mR %.2f (best %.2f @ %d), %.0fs", epoch + 1, row["train_loss"],
                     val["mR"], self.best_mr, self.best_epoch + 1, self.seconds)
        else:
            stopped = self.bad_epochs >= cfg.patience and epoch + 1 < cfg.epochs
        return TrainResult(self.best_epoch + 1, self.history[self.best_epoch] if self.best_epoch >= 0 and self.best_epoch < len(self.history) else {},
                           len(self.history), self.seconds, self.out / "best.pt", stopped)
