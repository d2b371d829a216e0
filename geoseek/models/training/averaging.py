"""Checkpoint averaging: the element-wise mean of the weights of several epochs of one run.

Late in a run the weights of neighbouring epochs scatter around a minimum; their mean often
retrieves better than any one of them (weight averaging, as in SWA). The inputs are checkpoints
written by ``geoseek train`` for the same model config (``best.pt``, ``last.pt`` or the per-epoch
files of ``--keep-epochs``). Batch-norm running statistics are averaged like the weights: on
RSICD val that beat re-estimating them on augmented train batches (model card, 2026-12-07).
The result is written like ``best.pt`` (float16, no optimiser state) and is a model spec.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Sequence

from geoseek.models.checkpoints import load_checkpoint
from geoseek.models.training.checkpoint import FORMAT, half_state, save_atomic
from geoseek.schemas.errors import ModelSpecError

log = logging.getLogger(__name__)


def _read(path: Path) -> dict[str, Any]:
    ckpt = load_checkpoint(path)
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT or "state_dict" not in ckpt:
        raise ModelSpecError(f"{path} is not a checkpoint written by geoseek train")
    return ckpt


def average_checkpoints(paths: Sequence[str | Path]) -> dict[str, Any]:
    """The checkpoint whose floating-point tensors are the mean of those of ``paths`` (computed in float32,
    stored as float16 like ``best.pt``; integer tensors such as batch counters come from the last path).

    Raises ModelSpecError for fewer than two paths, or for checkpoints of different model configs or keys.
    """
    if len(paths) < 2:
        raise ModelSpecError(f"averaging needs at least two checkpoints, got {len(paths)}")
    first = _read(Path(paths[0]))
    cfg, keys = first["model_cfg"], set(first["state_dict"])
    sums = {k: v.float().clone() for k, v in first["state_dict"].items() if v.is_floating_point()}
    last, sources = first, [_source(Path(paths[0]), first)]
    for p in paths[1:]:
        ckpt = _read(Path(p))
        if json.dumps(ckpt["model_cfg"], sort_keys=True) != json.dumps(cfg, sort_keys=True):
            raise ModelSpecError(f"{p} holds another model config than {paths[0]}")
        if set(ckpt["state_dict"]) != keys:
            raise ModelSpecError(f"{p} holds other weights than {paths[0]}: "
                                 f"{sorted(set(ckpt['state_dict']) ^ keys)[:5]}")
        for k in sums:
            sums[k] += ckpt["state_dict"][k].float()
        last = ckpt
        sources.append(_source(Path(p), ckpt))
    state = half_state({k: sums[k] / len(paths) if k in sums else v for k, v in last["state_dict"].items()})
    train = {**last.get("train", {}), "averaged_from": sources}
    return {"format": FORMAT, "model_cfg": cfg, "lock_text": last.get("lock_text", True), "train": train,
            "state_dict": state}


def _source(path: Path, ckpt: dict[str, Any]) -> dict[str, Any]:
    epoch = ckpt.get("train", {}).get("epoch")
    return {"path": str(path), "epoch": None if epoch is None else int(epoch) + 1}  # 1-based, as history.json


def validate(path: str | Path, dataset: str | Path, split: str = "val", *, image_dir: str | Path | None = None,
             device: str = "auto") -> dict:
    """The trainer's val metric for the checkpoint at ``path`` on ``split`` of ``dataset`` (R@K both ways, mR)."""
    from geoseek.models.encoder import resolve_device
    from geoseek.models.factory import load_model
    from geoseek.models.text import caption_bank
    from geoseek.models.training.data import load_split
    from geoseek.models.training.trainer import split_recall

    loaded = load_model(str(path))
    dev = resolve_device(device)
    model = loaded.model.to(dev).eval()
    size = model.visual.image_size
    data = load_split(dataset, split, int(size[0] if isinstance(size, (tuple, list)) else size), image_dir=image_dir)
    sentences = caption_bank(model, loaded.tokenizer, data.captions, device=dev)[0]
    return split_recall(model, data, sentences, dev)


def write_average(paths: Sequence[str | Path], out: str | Path, *, dataset: str | Path | None = None,
                  split: str = "val", image_dir: str | Path | None = None, device: str = "auto") -> dict[str, Any]:
    """Average ``paths`` into ``out`` (refusing to overwrite an input); with ``dataset``, also score it on ``split``
    and store that in the checkpoint's ``train['averaged_val']``. Returns the written checkpoint's ``train``."""
    out = Path(out)
    if any(Path(p).resolve() == out.resolve() for p in paths):
        raise ModelSpecError(f"--out {out} is one of the inputs; choose another file")
    ckpt = average_checkpoints(paths)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_atomic(ckpt, out)
    if dataset is not None:
        ckpt["train"]["averaged_val"] = {"split": split, **validate(out, dataset, split, image_dir=image_dir, device=device)}
        save_atomic(ckpt, out)
        log.info("%s: average of %d checkpoints, %s mR %.2f", out, len(paths), split, ckpt["train"]["averaged_val"]["mR"])
    return ckpt["train"]
