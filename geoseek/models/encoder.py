"""The Encoder: one loaded CLIP-style model behind a small numpy API."""
from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from geoseek.models.dense import forward_with_dense
from geoseek.models.orientations import averaged_forward, averaged_pooled, orientation_group
from geoseek.models.text import caption_bank, pad_token_id, stopword_ids
from geoseek.schemas.levels import FusionWeights

log = logging.getLogger(__name__)

OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)


def resolve_device(device: str = "auto") -> torch.device:
    """'auto' -> CUDA when available, else CPU; 'cuda' without a GPU is an error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for but no CUDA device is available")
    if device not in ("cpu",) and not device.startswith("cuda"):
        raise ValueError(f"unknown device '{device}'; use auto, cpu or cuda")
    return torch.device(device)


TEXT_BATCH = 64


def default_batch_size(device: torch.device) -> int:
    """Images per forward pass when none is asked for: 64 on a GPU, 16 on a CPU. On this 2-core machine batch 16
    indexes chips as fast as 64 (147 vs 123 chips/s, medians of one interleaved run) at 150 MB less peak memory
    (benchmarks/results/batch_size.json), so large batches only pay where there is parallel hardware."""
    return 64 if device.type == "cuda" else 16


class Encoder:
    """Encodes images, dense patch grids and texts into one L2-normalised float32 space.

    Images are resized (squashed, bicubic) to ``image_size`` x ``image_size``: views are
    already cropped by the planner, so no centre crop throws content away. Image vectors and grids
    are averaged over ``orientations`` turns of each image (``geoseek.models.orientations``; 1: none).
    """

    def __init__(
        self,
        model: torch.nn.Module,
        tokenizer: Callable[[Sequence[str]], torch.Tensor],
        *,
        spec: str,
        model_id: str,
        checksum: str | None,
        device: str = "auto",
        batch_size: int | None = None,
        recommended_fusion: FusionWeights | None = None,
        orientations: int = 1,
        recommended_orientations: int = 1,
    ) -> None:
        self.device = resolve_device(device)
        self.model = model.to(self.device).eval()
        self.tokenizer = tokenizer
        self.spec = spec
        self.id = model_id
        self.checksum = checksum
        self.batch_size = batch_size or default_batch_size(self.device)
        # The level weights a trained checkpoint recommends for new indexes, or None.
        self.recommended_fusion = recommended_fusion
        orientation_group(orientations)  # a bad count fails here, not at the first image
        self.orientations = orientations
        # The orientation count the checkpoint's fusion was tuned with (what new indexes use when none is asked for).
        self.recommended_orientations = recommended_orientations
        # The tokenizer's stop-word ids, found once here: not lazily, as concurrent requests would share the tokenizer.
        self._stops = stopword_ids(tokenizer, pad_token_id(model))
        size = model.visual.image_size
        self.image_size = int(size[0] if isinstance(size, (tuple, list)) else size)
        cfg = getattr(model.visual, "preprocess_cfg", {}) or {}
        self._mean = torch.tensor(cfg.get("mean", OPENAI_MEAN), dtype=torch.float32).view(1, 3, 1, 1)
        self._std = torch.tensor(cfg.get("std", OPENAI_STD), dtype=torch.float32).view(1, 3, 1, 1)
        with torch.no_grad():
            probe = self.model.encode_text(self.tokenizer(["probe"]).to(self.device))
        self.dim = int(probe.shape[-1])

    def oriented(self, orientations: int) -> Encoder:
        """This encoder (same model in memory) averaging over ``orientations`` instead; self when already so."""
        if orientations == self.orientations:
            return self
        orientation_group(orientations)
        other = copy.copy(self)
        other.orientations = orientations
        return other

    def pixels(self, images: Sequence[Image.Image]) -> torch.Tensor:
        """Images -> normalised pixel tensor (N, 3, S, S) on CPU."""
        s = self.image_size
        arr = np.stack([np.asarray(im.convert("RGB").resize((s, s), Image.BICUBIC), dtype=np.uint8) for im in images])
        t = torch.from_numpy(arr).permute(0, 3, 1, 2).float().div_(255.0)
        return (t - self._mean) / self._std

    @torch.no_grad()
    def encode_images_and_dense(self, images: Sequence[Image.Image]) -> tuple[np.ndarray, np.ndarray]:
        """One forward pass per batch: pooled (N, D) and dense (N, h, w, D), both L2-normalised float32."""
        pooled_out, dense_out = [], []
        for start in range(0, len(images), self.batch_size):
            px = self.pixels(images[start : start + self.batch_size]).to(self.device)
            pooled, dense = averaged_forward(lambda x: forward_with_dense(self.model.visual, x), px, self.orientations)
            pooled_out.append(pooled.cpu().numpy())
            dense_out.append(dense.cpu().numpy())
        if not pooled_out:
            return np.zeros((0, self.dim), np.float32), np.zeros((0, 1, 1, self.dim), np.float32)
        return np.concatenate(pooled_out), np.concatenate(dense_out)

    @torch.no_grad()
    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Images -> (N, D) L2-normalised float32."""
        out = []
        for start in range(0, len(images), self.batch_size):
            px = self.pixels(images[start : start + self.batch_size]).to(self.device)
            out.append(averaged_pooled(self.model.encode_image, px, self.orientations).cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, self.dim), np.float32)

    def encode_dense(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Images -> dense patch embeddings (N, h, w, D), each cell L2-normalised float32."""
        return self.encode_images_and_dense(images)[1]

    def _pad_id(self) -> int | None:
        """Pad token of a Hugging Face text tower (masked mean pooling), else None.

        Only there is trimming all-pad columns exact: CLIP's own text transformer pools at the
        end-of-text token under a fixed-size causal mask, so its input keeps its full length.
        """
        text = getattr(self.model, "text", None)
        if text is None or not hasattr(text, "config"):
            return None
        return getattr(text.config, "pad_token_id", None)

    @torch.no_grad()
    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Texts -> (N, D) L2-normalised float32."""
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        pad = self._pad_id()
        order = np.argsort([-len(t) for t in texts], kind="stable")  # similar lengths share a batch
        out = np.zeros((len(texts), self.dim), np.float32)
        # Texts are small: batches of at least TEXT_BATCH (on this CPU 64 encodes 300 captions/s, 16 only 260).
        batch = max(self.batch_size, TEXT_BATCH)
        for start in range(0, len(texts), batch):
            idx = order[start : start + batch]
            tokens = self.tokenizer([texts[i] for i in idx])
            if pad is not None:
                used = (tokens != pad).any(dim=0).nonzero()
                tokens = tokens[:, : int(used.max()) + 1] if len(used) else tokens
            out[idx] = F.normalize(self.model.encode_text(tokens.to(self.device)).float(), dim=-1).cpu().numpy()
        return out

    def encode_text_tokens(self, texts: Sequence[str], max_tokens: int = 32) -> list[np.ndarray]:
        """Texts -> per text its content-token vectors (T_i, D), L2-normalised float32 (see ``encode_texts_with_tokens``)."""
        return self.encode_texts_with_tokens(texts, max_tokens)[1]

    @torch.no_grad()
    def encode_texts_with_tokens(self, texts: Sequence[str], max_tokens: int = 32) -> tuple[np.ndarray, list[np.ndarray]]:
        """Texts -> their sentence vectors (N, D) and per text its content-token vectors (T_i, D), all L2-normalised
        float32, from one pass of the text tower for Hugging Face towers such as the default's MiniLM (open_clip's
        own CLIP text transformer runs twice: once pooled, once for its token states).

        The tokens are the caption side of the object loss (FILIP), with its masking (special tokens, punctuation
        and stop-words out; the first ``max_tokens`` content tokens). A text without content tokens, or a text
        tower without token-level outputs, gives its sentence vector as the single token (1, D)."""
        if not texts:
            return np.zeros((0, self.dim), np.float32), []
        try:
            sentences, tokens, mask = caption_bank(self.model, self.tokenizer, list(texts), device=self.device,
                                                   max_tokens=max_tokens, dtype=torch.float32, stops=self._stops)
        except ValueError:  # a text tower with no token-level features: the sentence vector stands in
            sentences = self.encode_texts(texts)
            return sentences, [v[None] for v in sentences]
        sent = sentences.numpy()
        return sent, [tokens[i][mask[i]].numpy() if mask[i].any() else sent[i][None] for i in range(len(texts))]
