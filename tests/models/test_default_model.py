"""The shipped default model: loads offline, is the trained checkpoint, and beats its untrained self."""
from __future__ import annotations

import pytest
import torch
from PIL import Image

from geoseek.metrics import dense_recall
from geoseek.models import load_encoder
from geoseek.models.factory import checkpoint_sha256, default_weights_path
from tests.conftest import RSICD, rsicd_images


def _recall(spec: str, entries: list[dict]) -> float:
    enc = load_encoder(spec, device="cpu")
    texts: dict[str, int] = {}
    ids = [[texts.setdefault(s["raw"].strip(), len(texts)) for s in e["sentences"] if s["raw"].strip()] for e in entries]
    imgs = enc.encode_images([Image.open(RSICD / e["filepath"]) for e in entries])
    return dense_recall(imgs, enc.encode_texts(list(texts)), ids)["mR"]


def test_default_is_the_shipped_trained_checkpoint():
    path = default_weights_path()
    assert path.is_file() and path.stat().st_size < 10_000_000  # a few MB: the text tower is not copied
    enc = load_encoder("geoseek-default", device="cpu")
    assert enc.id == f"geoseek-default@{checkpoint_sha256(torch.load(path, weights_only=False))[:12]}"
    assert enc.recommended_fusion is not None  # weights for every direction, tuned on RSICD val
    assert all(set(w) == {"global", "region", "object"} for w in enc.recommended_fusion.as_dict().values())
    assert load_encoder("geoseek-default:random", device="cpu").id.endswith("random-init-seed0")


@pytest.mark.slow
def test_trained_default_retrieves_far_better_than_untrained():
    entries = rsicd_images(120, split="test")  # real test chips, spread over the 30 classes
    trained, untrained = _recall("geoseek-default", entries), _recall("geoseek-default:random", entries)
    assert trained > untrained + 15, (trained, untrained)
