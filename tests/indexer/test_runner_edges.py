"""Edge cases found in review: odd images, foreign catalogs, tiles vs scenes, new captions, model identity."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from geoseek.index.catalog import Catalog
from geoseek.index.info import index_info
from geoseek.index.layout import IndexDir
from geoseek.indexer import IndexSettingsError, run_index
from geoseek.views.planner import ComplexCells
from tests.conftest import JOPLIN
from tests.indexer.bad_inputs import copy_good


def _index(srcs, index, spec, **kw):
    return run_index(srcs, index, model=kw.pop("model", str(spec)), batch_size=8, device="cpu", progress=False, **kw)


def test_degenerate_images_index_and_unexpected_errors_become_skips(tmp_path, tiny_vit_config, monkeypatch):
    src = tmp_path / "src"
    copy_good(src, 2)
    Image.new("RGB", (1, 1), (9, 9, 9)).save(src / "dot.png")
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (2, 3000, 3), dtype=np.uint8)).save(src / "strip.png")
    import geoseek.views.embed as embed

    real = embed.plan_views

    def flaky(width, height, *a, **kw):
        if (width, height) == (3000, 2):
            raise ValueError("boom from a library")
        return real(width, height, *a, **kw)

    monkeypatch.setattr(embed, "plan_views", flaky)
    rep = _index([src], tmp_path / "ix", tiny_vit_config)
    info = index_info(tmp_path / "ix")
    assert info.images == 3 == rep.new_images  # two chips and the 1x1 image
    assert {s.path.split("/")[-1]: s.reason for s in info.skipped} == {"strip.png": "unreadable: ValueError: boom from a library"}


def test_a_foreign_catalog_is_refused_and_deletes_nothing(tmp_path, tiny_vit_config):
    src = tmp_path / "src"
    copy_good(src, 2)
    _index([src], tmp_path / "ix", tiny_vit_config)
    shards = sorted((tmp_path / "ix" / "shards").iterdir())
    with pytest.raises(IndexSettingsError, match="has no record of the shards"):
        _index([src], tmp_path / "ix", tiny_vit_config, catalog_url=f"sqlite:///{tmp_path / 'other.db'}")
    assert sorted((tmp_path / "ix" / "shards").iterdir()) == shards
    _index([src], tmp_path / "ix2", tiny_vit_config, catalog_url=f"sqlite:///{tmp_path / 'c2.db'}")
    with pytest.raises(IndexSettingsError, match="belongs to another index directory"):
        _index([src], tmp_path / "ix3", tiny_vit_config, catalog_url=f"sqlite:///{tmp_path / 'c2.db'}")
    assert index_info(tmp_path / "ix").images == 2


def test_tiles_already_indexed_are_not_indexed_again_as_a_scene(tmp_path, tiny_vit_config):
    tiles = sorted((JOPLIN / "tiles" / "post").glob("*.tif"))
    one = tmp_path / "one"
    one.mkdir()
    shutil.copy(tiles[0], one / tiles[0].name)
    _index([one], tmp_path / "ix", tiny_vit_config)
    scene = tmp_path / "scene"
    shutil.copytree(JOPLIN / "tiles" / "post", scene)
    rep = _index([scene], tmp_path / "ix", tiny_vit_config)
    assert rep.new_images == 0
    assert any("1 of its tiles are already indexed" in s.reason for s in rep.skipped)
    # The other way round: a scene first, then one of its tiles alone, is already indexed.
    _index([scene], tmp_path / "ix2", tiny_vit_config)
    rep = _index([one], tmp_path / "ix2", tiny_vit_config)
    assert (rep.new_images, rep.already_indexed) == (0, 1)


def test_new_captions_of_indexed_images_are_added_once(tmp_path, small_archive, tiny_vit_config):
    ds = small_archive / "dataset.json"
    _index([ds], tmp_path / "ix", tiny_vit_config)
    before = index_info(tmp_path / "ix").captions
    data = json.loads(ds.read_text())
    data["images"][0]["sentences"].append({"raw": "a brand new caption about runways"})
    ds.write_text(json.dumps(data))
    _index([ds], tmp_path / "ix", tiny_vit_config)
    assert index_info(tmp_path / "ix").captions == before + 1
    _index([ds], tmp_path / "ix", tiny_vit_config)
    assert index_info(tmp_path / "ix").captions == before + 1
    cat = Catalog(IndexDir(tmp_path / "ix").default_catalog_url)
    ids = {c.text_id for c in cat.session().query(__import__("geoseek.index.catalog", fromlist=["CaptionRow"]).CaptionRow)}
    assert len(ids) == before + 1


def test_model_identity_is_by_weights_not_spelling(tmp_path, tiny_vit_config):
    from geoseek.models import load_model

    src = tmp_path / "src"
    copy_good(src, 1)
    model = load_model(str(tiny_vit_config)).model
    ckpt = tmp_path / "w.pt"
    torch.save(model.state_dict(), ckpt)
    _index([src], tmp_path / "ix", tiny_vit_config, model=f"{tiny_vit_config}:{ckpt}")
    # Another path to identical bytes is the same model.
    shutil.copy(ckpt, tmp_path / "same.pt")
    copy_good(tmp_path / "more", 2)
    rep = _index([tmp_path / "more"], tmp_path / "ix", tiny_vit_config, model=f"{tiny_vit_config}:{tmp_path / 'same.pt'}")
    assert rep.new_images == 1
    # Changed weights under the same file name are refused.
    with torch.no_grad():
        model.visual.proj.mul_(-1)
    torch.save(model.state_dict(), ckpt)
    with pytest.raises(IndexSettingsError, match="Index into a new directory"):
        _index([tmp_path / "more"], tmp_path / "ix", tiny_vit_config, model=f"{tiny_vit_config}:{ckpt}")


def test_partial_edge_cells_count():
    img = np.zeros((300, 300, 3), np.uint8)
    img[:, 200:] = np.random.default_rng(0).integers(0, 255, size=(300, 100, 3))  # busy strip in the partial cell
    cells = ComplexCells(img, 300, 300, 160, 0.04)
    assert cells.mask[:, 1].all() and not cells.mask[:, 0].any()
    assert cells.fraction((0, 0, 300, 300)) == pytest.approx(0.5)
    assert cells.fraction((160, 0, 300, 300)) == 1.0
