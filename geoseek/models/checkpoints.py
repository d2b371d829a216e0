"""The one way GeoSeek reads a ``.pt`` file: ``torch.load(weights_only=True)`` plus a tiny allow-list.

A checkpoint path comes from the user (``--model run/best.pt``, ``--to-checkpoint``, ``--resume``), so
it may be a downloaded file; full unpickling would let it run code. ``weights_only`` admits only
tensors and plain containers/scalars, plus the globals listed in :data:`SAFE_GLOBALS`. New
checkpoints hold only plain Python values (the trainer stores ``str(torch.__version__)``); the list
exists for files written before that.
"""
from __future__ import annotations

import os
import pickle
import re
from typing import Any

import torch
from torch.torch_version import TorchVersion

from geoseek.models.specs import ModelSpecError

# Non-tensor types found in GeoSeek's own checkpoints, and nothing else:
# - TorchVersion: ``train.torch`` in checkpoints written before it was stored as a plain str
#   (among them the shipped geoseek-default.pt). A str subclass; building one runs no code.
SAFE_GLOBALS: list[Any] = [TorchVersion]

_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")
_REASON = re.compile(r"WeightsUnpickler error:\s*(.+)")


def load_checkpoint(path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a GeoSeek checkpoint without running code from it.

    Returns what the file holds (GeoSeek writes dicts; the callers check the keys). A file that
    needs any other global to unpickle raises ModelSpecError (a ValueError) naming the path and
    the global; one that weights_only cannot parse at all raises ModelSpecError saying it is not
    a readable checkpoint. Other failures (missing file, broken zip) propagate as torch raises them.
    """
    try:
        with torch.serialization.safe_globals(SAFE_GLOBALS):
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        msg = str(exc)
        found = _GLOBAL.search(msg)
        if found:
            problem = f"the file contains objects GeoSeek will not unpickle ('{found.group(1)}')"
        else:  # not a torch file, or a pickle using opcodes weights_only refuses
            reason = _REASON.search(msg)
            problem = f"not a readable checkpoint ({reason.group(1).strip() if reason else type(exc).__name__})"
        raise ModelSpecError(f"{path}: {problem}; only checkpoints written by GeoSeek are accepted") from None
