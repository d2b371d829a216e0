"""Model spec strings: what the user types after ``--model``, parsed into a ModelSpec.

Grammar (first match wins):
- ``geoseek-default`` (or ``default``): the offline default model (MiniLM text tower, small image tower).
- ``geoseek-default:random``: the default architecture, seeded random image tower (what training starts from).
- a named remote-sensing CLIP: ``remoteclip-vit-b-32``, ``remoteclip-vit-l-14``, ``georsclip-vit-b-32``.
- ``hf-hub:org/repo``: an open_clip model published on the Hugging Face hub.
- ``local-dir:/path`` or a directory holding ``open_clip_config.json`` and weights.
- a checkpoint file written by ``geoseek train`` (``*.pt`` carrying its own config).
- ``ARCH[:PRETRAINED]``: ARCH is an open_clip model name or a path to a model-config JSON;
  PRETRAINED is an open_clip pretrained tag or a checkpoint file path. No PRETRAINED = random init.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from geoseek.schemas.errors import ModelSpecError  # noqa: F401 - raised here, re-exported

DEFAULT_SPEC = "geoseek-default"


@dataclass(frozen=True)
class HubCheckpoint:
    """An open_clip architecture plus one checkpoint file in a Hugging Face hub repo."""

    arch: str
    repo_id: str
    filename: str


# Remote-sensing CLIPs: plain open_clip state dicts published as single files on the hub.
NAMED_CHECKPOINTS: dict[str, HubCheckpoint] = {
    "remoteclip-vit-b-32": HubCheckpoint("ViT-B-32", "chendelong/RemoteCLIP", "RemoteCLIP-ViT-B-32.pt"),
    "remoteclip-vit-l-14": HubCheckpoint("ViT-L-14", "chendelong/RemoteCLIP", "RemoteCLIP-ViT-L-14.pt"),
    "georsclip-vit-b-32": HubCheckpoint("ViT-B-32", "Zilun/GeoRSCLIP", "ckpt/RS5M_ViT-B-32.pt"),
}

SpecKind = Literal["default", "default-random", "named", "hf-hub", "local-dir", "geoseek-checkpoint", "open_clip"]



@dataclass(frozen=True)
class ModelSpec:
    raw: str
    kind: SpecKind
    arch: str | None = None  # open_clip name, or path to a config JSON
    pretrained: str | None = None  # open_clip tag or checkpoint path
    path: str | None = None  # hub repo, local dir or geoseek checkpoint


def _looks_like_path(text: str) -> bool:
    return text.startswith(("/", "./", "../", "~")) or text.endswith((".pt", ".pth", ".bin", ".safetensors", ".json"))


def parse_spec(spec: str) -> ModelSpec:
    """Parse a ``--model`` string into a ModelSpec (no I/O beyond checking local paths)."""
    raw = spec.strip()
    if not raw:
        raise ModelSpecError("empty model spec; use e.g. 'geoseek-default', 'ViT-B-32:laion2b_s34b_b79k' or a checkpoint path")
    low = raw.lower()
    if low in (DEFAULT_SPEC, "default"):
        return ModelSpec(raw, "default")
    if low in (f"{DEFAULT_SPEC}:random", "default:random"):
        return ModelSpec(raw, "default-random")
    if low in NAMED_CHECKPOINTS:
        named = NAMED_CHECKPOINTS[low]
        return ModelSpec(raw, "named", arch=named.arch, path=low)
    if low.startswith("hf-hub:"):
        repo = raw.split(":", 1)[1]
        if repo.count("/") != 1:
            raise ModelSpecError(f"'{raw}': expected hf-hub:ORG/REPO")
        return ModelSpec(raw, "hf-hub", path=repo)
    if low.startswith("local-dir:"):
        return ModelSpec(raw, "local-dir", path=str(Path(raw.split(":", 1)[1]).expanduser()))
    as_path = Path(raw).expanduser()
    if as_path.is_dir():
        if not (as_path / "open_clip_config.json").is_file():
            raise ModelSpecError(f"'{raw}' is a directory without open_clip_config.json")
        return ModelSpec(raw, "local-dir", path=str(as_path))
    if as_path.suffix in (".pt", ".pth") and ":" not in raw:
        if not as_path.is_file():
            raise ModelSpecError(f"checkpoint file not found: {raw}")
        return ModelSpec(raw, "geoseek-checkpoint", path=str(as_path))
    arch, _, pretrained = raw.partition(":")
    if _looks_like_path(arch) and not Path(arch).expanduser().is_file():
        raise ModelSpecError(f"model config not found: {arch}")
    if pretrained and _looks_like_path(pretrained) and not Path(pretrained).expanduser().is_file():
        raise ModelSpecError(f"checkpoint file not found: {pretrained}")
    return ModelSpec(raw, "open_clip", arch=arch, pretrained=pretrained or None)
