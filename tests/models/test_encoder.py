"""Encoders on tiny models built from JSON configs, and the offline default model."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from geoseek.models import load_encoder, load_model, resolve_device
from geoseek.models.factory import file_sha256
from tests.conftest import JOPLIN, MINI, RSICD


def real_images(n: int) -> list[Image.Image]:
    paths = sorted((RSICD / "images" / "Airport").glob("*.jpg"))[: n - 1] + [MINI / "UCM" / sorted(p.name for p in (MINI / "UCM").iterdir())[0]]
    return [Image.open(p).convert("RGB") for p in paths]


@pytest.fixture(scope="module")
def vit(tiny_vit_config):
    return load_encoder(str(tiny_vit_config), device="cpu", batch_size=3)


def test_image_vectors_are_unit_float32_and_batch_independent(vit):
    ims = real_images(7)
    a = vit.encode_images(ims)
    assert a.shape == (7, 32) and a.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    one_by_one = np.concatenate([vit.encode_images([im]) for im in ims])
    np.testing.assert_allclose(a, one_by_one, atol=1e-5)
    np.testing.assert_array_equal(a, vit.encode_images(ims))  # deterministic in eval mode


def test_vit_dense_grid_shares_the_space_of_pooled_vectors(vit):
    pooled, dense = vit.encode_images_and_dense(real_images(4))
    assert dense.shape == (4, 4, 4, 32)  # 64 px / 16 px patches
    np.testing.assert_allclose(np.linalg.norm(dense, axis=-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(pooled, vit.encode_images(real_images(4)), atol=1e-5)
    # Patches of an image are closer to their own pooled vector than to another image's.
    own = np.einsum("nhwd,nd->n", dense, pooled).mean()
    other = np.einsum("nhwd,nd->n", dense, np.roll(pooled, 1, axis=0)).mean()
    assert own > other


def test_resnet_dense_is_maskclip_style(tiny_rn_config):
    enc = load_encoder(str(tiny_rn_config), device="cpu")
    ims = real_images(3)
    pooled, dense = enc.encode_images_and_dense(ims)
    assert dense.shape == (3, 2, 2, 32)  # 64 px / stride 32
    np.testing.assert_allclose(pooled, enc.encode_images(ims), atol=1e-5)
    # Attention pooling is a convex mix of the per-cell values: pooled lies inside their cone.
    assert (np.einsum("nhwd,nd->nhw", dense, pooled) > -1).all()
    assert np.einsum("nhwd,nd->n", dense, pooled).mean() > 0


def test_text_vectors(vit):
    t = vit.encode_texts(["many planes are parked near a terminal", "a river", "a river"])
    assert t.shape == (3, 32)
    np.testing.assert_allclose(np.linalg.norm(t, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(t[1], t[2])
    assert not np.allclose(t[0], t[1])


def test_text_tokens_are_the_object_losss_content_tokens():
    """Query tokens are what the FILIP loss matched in training: content words only, unit vectors, the
    text tower's last hidden states (whose masked mean, for MiniLM, is the sentence vector)."""
    enc = load_encoder("geoseek-default", device="cpu")
    text = "Many buildings and green trees are around a playground ."
    tokens = enc.encode_text_tokens([text, "the", "a river"])
    ids = enc.tokenizer([text])[0]
    words = enc.model.text.config  # MiniLM: one word piece per word of this sentence
    assert words.pad_token_id == 0
    assert tokens[0].shape == (5, 384)  # buildings green trees around playground ("many", "and", "are", "a", "." out)
    np.testing.assert_allclose(np.linalg.norm(tokens[0], axis=1), 1.0, atol=1e-5)
    assert int((ids != 0).sum()) == 12  # [CLS] + 10 words + [SEP]: 7 tokens masked
    # A text of stop-words only falls back to its sentence vector; a short one keeps its one content word.
    np.testing.assert_allclose(tokens[1][0], enc.encode_texts(["the"])[0], atol=1e-6)
    assert tokens[2].shape == (1, 384) and not np.allclose(tokens[2][0], enc.encode_texts(["a river"])[0], atol=1e-2)
    # The tokens follow the words: the same word in two texts gives a similar vector, other words less so.
    river = enc.encode_text_tokens(["a wide river"])[0][-1]
    assert float(river @ tokens[2][0]) > max(float(river @ t) for t in tokens[0])


def test_a_token_query_runs_the_text_tower_once():
    """Sentence and tokens of a query come from one pass of the text tower, and equal what the separate calls give."""
    enc = load_encoder("geoseek-default", device="cpu")
    texts = ["storage tanks beside a river", "the", "many planes are parked near a terminal"]
    calls = []
    hook = enc.model.text.transformer.register_forward_hook(lambda *_: calls.append(1))
    try:
        sentences, tokens = enc.encode_texts_with_tokens(texts)
    finally:
        hook.remove()
    assert len(calls) == 1
    np.testing.assert_allclose(sentences, enc.encode_texts(texts), atol=1e-5)
    for got, want in zip(tokens, enc.encode_text_tokens(texts)):
        np.testing.assert_array_equal(got, want)
    # storage tanks beside river; "the" has none, so its sentence stands in; planes parked terminal.
    assert [t.shape[0] for t in tokens] == [4, 1, 3]
    assert enc.encode_texts_with_tokens([])[0].shape == (0, 384)


def test_random_init_is_seeded_and_id_says_so(tiny_vit_config):
    la = load_model(str(tiny_vit_config))
    a, id_a, sum_a = la.model, la.id, la.checksum
    lb = load_model(str(tiny_vit_config))
    b, sum_b = lb.model, lb.checksum
    assert "random-init" in id_a and sum_a == sum_b
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)


def test_local_checkpoint_loads_its_weights(tmp_path, tiny_vit_config):
    model = load_model(str(tiny_vit_config)).model
    with torch.no_grad():
        model.visual.proj.mul_(-1.0)  # weights differ from the seeded init
    ckpt = tmp_path / "tuned.pt"
    torch.save(model.state_dict(), ckpt)
    enc = load_encoder(f"{tiny_vit_config}:{ckpt}", device="cpu")
    assert enc.checksum == file_sha256(ckpt) and "random-init" not in enc.id
    assert torch.equal(enc.model.visual.proj, model.visual.proj)


def test_named_remote_sensing_clip_downloads_its_checkpoint(tmp_path, tiny_vit_config, monkeypatch):
    """remoteclip-*/georsclip-*: architecture + one file from the hub repo; the download is mocked."""
    import huggingface_hub

    from geoseek.models import specs

    model = load_model(str(tiny_vit_config)).model
    with torch.no_grad():
        model.visual.proj.add_(1.0)
    ckpt = tmp_path / "RemoteCLIP-ViT-B-32.pt"
    torch.save(model.state_dict(), ckpt)  # a plain open_clip state dict, as RemoteCLIP publishes
    calls = []

    def fake_download(repo_id, filename, **kw):
        calls.append((repo_id, filename))
        return str(ckpt)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    # Same code path as the real ViT-B-32 entry, with a tiny architecture so the test stays fast.
    monkeypatch.setitem(specs.NAMED_CHECKPOINTS, "remoteclip-vit-b-32",
                        specs.HubCheckpoint(str(tiny_vit_config), "chendelong/RemoteCLIP", "RemoteCLIP-ViT-B-32.pt"))
    enc = load_encoder("remoteclip-vit-b-32", device="cpu")
    assert calls == [("chendelong/RemoteCLIP", "RemoteCLIP-ViT-B-32.pt")]
    assert enc.id == "remoteclip-vit-b-32"
    assert torch.equal(enc.model.visual.proj, model.visual.proj)


def test_named_model_offline_fails_with_a_clear_message(monkeypatch):
    import huggingface_hub

    from geoseek.models import ModelSpecError

    def offline(*a, **kw):
        raise OSError("network unreachable")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", offline)
    with pytest.raises(ModelSpecError, match="could not download Zilun/GeoRSCLIP/ckpt/RS5M_ViT-B-32.pt"):
        load_model("georsclip-vit-b-32")


def test_hf_hub_and_local_dir_specs(tmp_path, monkeypatch):
    """hf-hub:ORG/REPO resolves open_clip_config.json + weights through the hub client (mocked here)."""
    import json

    import open_clip.pretrained

    from tests.conftest import TINY_VIT

    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "open_clip_config.json").write_text(json.dumps({"model_cfg": TINY_VIT, "preprocess_cfg": {}}))
    from geoseek.models import build_from_config

    model = build_from_config(TINY_VIT)
    with torch.no_grad():
        model.visual.proj.mul_(2.0)
    torch.save(model.state_dict(), repo / "open_clip_pytorch_model.bin")
    asked = []

    def fake(repo_id, filename, revision=None, cache_dir=None, **kw):
        asked.append((repo_id, filename))
        path = repo / filename
        if not path.exists():
            from huggingface_hub.errors import EntryNotFoundError

            raise EntryNotFoundError(filename)
        return str(path)

    monkeypatch.setattr(open_clip.pretrained, "hf_hub_download", fake)
    enc = load_encoder("hf-hub:someone/tiny-rs-clip", device="cpu")
    assert ("someone/tiny-rs-clip", "open_clip_config.json") in asked
    assert torch.equal(enc.model.visual.proj, model.visual.proj)
    local = load_encoder(str(repo), device="cpu")
    assert torch.equal(local.model.visual.proj, model.visual.proj)


def test_default_model_text_tower_is_pretrained_minilm_and_locked():
    from sentence_transformers import SentenceTransformer

    from geoseek.models.factory import minilm_location

    enc = load_encoder("geoseek-default", device="cpu")
    assert enc.id.startswith("geoseek-default@") and enc.dim == 384
    texts = ["many planes are parked near a terminal", "a river beside green farmland"]
    st = SentenceTransformer(minilm_location(), device="cpu").encode(texts, normalize_embeddings=True)
    np.testing.assert_allclose(enc.encode_texts(texts), st, atol=1e-5)
    assert not any(p.requires_grad for p in enc.model.text.parameters())
    assert any(p.requires_grad for p in enc.model.visual.parameters())
    big = Image.open(JOPLIN / "post_mosaic_3072x2048.jpg").convert("RGB").crop((0, 0, 400, 300))
    pooled, dense = enc.encode_images_and_dense([big])
    assert pooled.shape == (1, 384) and dense.shape == (1, 5, 5, 384)


@pytest.mark.gpu
def test_device_resolution():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="unknown device"):
        resolve_device("tpu")


@pytest.mark.gpu
class TestCuda:
    """Runs only where a GPU exists (the device machine); CPU machines skip this class."""

    @pytest.fixture(autouse=True)
    def _need_gpu(self):
        if not torch.cuda.is_available():
            pytest.skip("no CUDA device on this machine")

    def test_cuda_matches_cpu(self, tiny_vit_config):
        ims = real_images(4)
        cpu = load_encoder(str(tiny_vit_config), device="cpu").encode_images(ims)
        gpu = load_encoder(str(tiny_vit_config), device="cuda").encode_images(ims)
        np.testing.assert_allclose(cpu, gpu, atol=1e-3)


@pytest.mark.gpu
def test_cuda_requested_without_gpu_is_an_error():
    if torch.cuda.is_available():
        assert resolve_device("cuda").type == "cuda"
    else:
        with pytest.raises(ValueError, match="no CUDA device"):
            resolve_device("cuda")
