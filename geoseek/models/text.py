"""Caption features from a model's text tower: one sentence vector and per-token vectors.

The token vectors are the text tower's last hidden states through the same projection as the
sentence vector, so they live in the joint space (for the default model the projection is the
identity and the sentence vector is their masked mean). Special tokens, padding, punctuation
and stop-words are masked out of the token-level (FILIP) similarity: "a", "are", "the" would
otherwise dominate RSICD's short captions.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

STOPWORDS = (
    "a an the is are was were be been of in on at to and or with by for from as it its this that "
    "there here some many several lots lot much very two three four five which while into near next "
    ". , ; : ' \" - ( ) !"
).split()


def _is_hf(model: nn.Module) -> bool:
    text = getattr(model, "text", None)
    return text is not None and hasattr(text, "config") and hasattr(text, "transformer")


def pad_token_id(model: nn.Module) -> int:
    """The id a tokenizer pads with for ``model``'s text tower."""
    text = getattr(model, "text", None)
    if _is_hf(model):
        return int(text.config.pad_token_id)
    return 0  # open_clip's SimpleTokenizer pads with 0


def content_mask(tokens: torch.Tensor, pad_id: int, stop_ids: torch.Tensor) -> torch.Tensor:
    """(N, L) token ids -> (N, L) bool: real tokens minus the first/last special token and stop-words."""
    real = tokens != pad_id
    last = real.long().cumsum(dim=1).argmax(dim=1)  # position of the last real token (EOT / [SEP])
    mask = real.clone()
    mask[:, 0] = False
    mask[torch.arange(tokens.shape[0]), last] = False
    if stop_ids.numel():
        mask &= ~torch.isin(tokens, stop_ids)
    return mask


def stopword_ids(tokenizer: Callable[[Sequence[str]], torch.Tensor], pad_id: int) -> torch.Tensor:
    """Ids of the stop-words that the tokenizer keeps as one token (found by tokenising each alone)."""
    toks = tokenizer(list(STOPWORDS))
    ids = []
    for row in toks:
        real = row[row != pad_id]
        if real.numel() == 3:  # [start] word [end]
            ids.append(int(real[1]))
    return torch.tensor(sorted(set(ids)), dtype=torch.long)


def _project(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    proj = getattr(model, "text_projection", None)
    if proj is None:
        return x
    return proj(x) if isinstance(proj, nn.Module) else x @ proj


def text_tokens(model: nn.Module, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, L) ids -> sentence (N, D) and per-token (N, L, D) vectors, both unnormalised.

    Supports open_clip's Hugging Face text towers and its own CLIP text transformer.
    """
    text = getattr(model, "text", None)
    if _is_hf(model):
        attn = (tokens != text.config.pad_token_id).long()
        out = text.transformer(input_ids=tokens, attention_mask=attn)
        sentence = text.proj(text.pooler(out, attn))
        return sentence, text.proj(out.last_hidden_state)
    if text is not None:
        raise ValueError(f"token-level text features are not supported for text tower {type(text).__name__}")
    sentence = model.encode_text(tokens)
    cast = model.transformer.get_cast_dtype()
    x = model.token_embedding(tokens).to(cast) + model.positional_embedding.to(cast)
    x = model.ln_final(model.transformer(x, attn_mask=model.attn_mask))
    return sentence, _project(model, x)


@torch.no_grad()
def caption_bank(model: nn.Module, tokenizer, captions: Sequence[str], *, device: torch.device,
                 batch_size: int = 256, max_tokens: int = 32, dtype: torch.dtype = torch.float16,
                 stops: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Features of a locked text tower for every caption, computed once (one pass of a Hugging Face tower).

    Returns sentence (M, D) and tokens (M, T, D) as L2-normalised ``dtype`` (float16 for training banks,
    float32 for queries) on CPU, and the content mask (M, T) bool; T <= ``max_tokens`` (longer captions
    keep their first content tokens). ``stops``: ``stopword_ids`` of this tokenizer, when already known.
    """
    pad = pad_token_id(model)
    stops = stopword_ids(tokenizer, pad) if stops is None else stops
    sents, toks, masks = [], [], []
    for start in range(0, len(captions), batch_size):
        ids = tokenizer(list(captions[start : start + batch_size]))
        if _is_hf(model):  # masked mean pooling: trailing all-pad columns change nothing
            ids = ids[:, : max(int((ids != pad).sum(dim=1).max()), 2)]
        sentence, tokens = text_tokens(model, ids.to(device))
        mask = content_mask(ids, pad, stops)
        # Left-pack content tokens so a fixed width T keeps the words, not the padding.
        order = torch.argsort((~mask).int(), dim=1, stable=True)[:, :max_tokens]
        tokens = torch.gather(tokens.cpu(), 1, order[..., None].expand(-1, -1, tokens.shape[-1]))
        mask = torch.gather(mask, 1, order)
        width = max_tokens - tokens.shape[1]
        if width > 0:
            tokens = F.pad(tokens, (0, 0, 0, width))
            mask = F.pad(mask, (0, width))
        sents.append(F.normalize(sentence.float(), dim=-1).cpu().to(dtype))
        toks.append(F.normalize(tokens.float(), dim=-1).to(dtype))
        masks.append(mask)
    return torch.cat(sents), torch.cat(toks), torch.cat(masks)
