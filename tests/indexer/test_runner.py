"""The whole indexer on real data with a tiny model: counts, shards, FAISS, re-runs, bad input."""
from __future__ import annotations

import json
import shutil

import faiss
import numpy as np
import pyarrow.parquet as pq
import pytest

from geoseek.datasets.layouts import DatasetError
from geoseek.index.catalog import Catalog
from geoseek.index.info import index_info
from geoseek.index.layout import IndexDir
from geoseek.index.shards import read_vectors
from geoseek.indexer import IndexSettingsError, run_index
from tests.conftest import JOPLIN, MINI
from tests.indexer.bad_inputs import copy_good, make_bad_inputs


def _index(srcs, index, spec, **kw):
    kw.setdefault("progress", False)
    return run_index(srcs, index, model=kw.pop("model", str(spec)), batch_size=kw.pop("batch_size", 16), device="cpu", **kw)


def _all_views(index):
    idx = IndexDir(index)
    m = idx.manifest()
    return pq.read_table([idx.version_path(m.version) / "vectors" / f for f in m.view_shards]) if m.view_shards else None


def test_archive_with_captions_tiles_and_bad_files(tmp_path, small_archive, tiny_vit_config):
    bad = tmp_path / "bad"
    expected = make_bad_inputs(bad)
    tiles = tmp_path / "scene"
    shutil.copytree(JOPLIN / "tiles" / "post", tiles)
    index = tmp_path / "ix"
    report = _index([small_archive / "dataset.json", tiles, bad, MINI / "captions.json"], index, tiny_vit_config)
    info = index_info(index)
    assert info.images == 24 + 1 + 29 == report.new_images
    assert info.captions == 24 * 5 + 29 * 5
    assert info.version == "v0001" and info.versions == ["v0001"]
    # Every bad file is skipped with its own reason; the run went on.
    reasons = {s.path.split("/")[-1]: s.reason for s in info.skipped}
    for name, fragment in expected.items():
        assert fragment in reasons[name], name
    # Views: one global per image, regions only for images larger than the encoder input.
    assert info.views["global"] == 54
    assert info.views["region"] > 0 and info.views["object"] > 0
    table = _all_views(index)
    assert table.num_rows == sum(info.views.values())
    assert len(set(table.column("node_id").to_pylist())) == table.num_rows
    assert table.schema.field("vector").type.value_type == "halffloat"
    vecs = read_vectors(table)
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=2e-3)
    # The tiled scene is one georeferenced image whose views carry WGS84 bounds inside the scene.
    cat = Catalog(IndexDir(index).default_catalog_url)
    from geoseek.index.catalog import ImageRow

    with cat.session() as s:
        scene = [r for r in s.query(ImageRow).all() if r.crs][0]
    assert (scene.width, scene.height) == (3072, 2048) and len(scene.extra["tiles"]) == 6
    rows = table.filter(np.array([i == scene.image_id for i in table.column("image_id").to_pylist()]))
    west = np.array(rows.column("west").to_pylist())
    assert np.isfinite(west).all() and (west >= scene.bounds_wgs84[0] - 1e-9).all()
    # FAISS indices hold exactly the Parquet rows of their level, in order.
    m = IndexDir(index).manifest()
    vdir = IndexDir(index).version_path(m.version)
    for level in ("global", "region", "object"):
        ix = faiss.read_index(str(vdir / f"{level}.faiss"))
        sel = np.array(table.column("level").to_pylist()) == level
        assert ix.ntotal == sel.sum() == info.views[level]
        first = vecs[sel][0]
        _, ids = ix.search(first[None], 1)
        assert ids[0, 0] == 0
    assert faiss.read_index(str(vdir / "text.faiss")).ntotal == info.captions


def test_rerun_adds_only_new_images_and_failures_lose_nothing(tmp_path, tiny_vit_config):
    src = tmp_path / "src"
    copy_good(src, 3)
    index = tmp_path / "ix"
    _index([src], index, tiny_vit_config)
    first = index_info(index)
    again = _index([src], index, tiny_vit_config)
    assert (again.new_images, again.already_indexed) == (0, 3)
    assert index_info(index).version == "v0001"  # nothing new: no new version
    # A corrupt dataset.json is refused before anything changes.
    (tmp_path / "broken.json").write_text('{"images": [{"filepath": "a.jpg"')
    with pytest.raises(DatasetError, match="not valid JSON"):
        _index([tmp_path / "broken.json"], index, tiny_vit_config)
    # A different model is refused: vectors of two models must not share an index.
    with pytest.raises(IndexSettingsError, match="built with --model"):
        _index([src], index, tiny_vit_config, model="geoseek-default")
    assert index_info(index) == first
    # New files are added; the old ones are not re-embedded.
    more = tmp_path / "more"
    more.mkdir()
    shutil.copy(MINI / "Sydney" / "1.tif", more / "s1.tif")
    shutil.copy(src / sorted(p.name for p in src.iterdir())[0], more / "copy_of_first.jpg")
    rep = _index([src, more], index, tiny_vit_config)
    assert (rep.new_images, rep.already_indexed) == (1, 4)
    info = index_info(index)
    assert info.images == 4 and info.version == "v0002"
    assert _all_views(index).num_rows == sum(info.views.values())


def test_explicit_catalog_url_and_levels(tmp_path, tiny_vit_config):
    src = tmp_path / "src"
    copy_good(src, 2)
    shutil.copy(MINI / "Sydney" / "2.tif", src / "big.tif")
    url = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    _index([src], tmp_path / "ix", tiny_vit_config, catalog_url=url, levels=["global"])
    assert (tmp_path / "elsewhere.db").is_file() and not (tmp_path / "ix" / "catalog.sqlite").exists()
    info = index_info(tmp_path / "ix", url)
    assert info.views == {"global": 3, "region": 0, "object": 0}
    with pytest.raises(IndexSettingsError, match="must include 'global'"):
        _index([src], tmp_path / "ix2", tiny_vit_config, levels=["region"])


@pytest.mark.gpu  # IVF-PQ is trained on the GPU when FAISS sees one
def test_ann_index_kinds_chosen_by_size(tmp_path, tiny_vit_config):
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(JOPLIN / "post_mosaic_3072x2048.jpg", src / "scene.jpg")
    index = tmp_path / "ix"
    _index([src], index, tiny_vit_config, flat_max=10, hnsw_max=200)
    m = IndexDir(index).manifest()
    assert m.indices["global"].kind == "flat"
    kinds = {lvl: m.indices[lvl].kind for lvl in ("region", "object")}
    counts = {lvl: m.indices[lvl].count for lvl in ("region", "object")}
    for lvl in kinds:  # below 1024 vectors ANN is not worth it; above hnsw_max it is IVF-PQ
        assert kinds[lvl] == ("flat" if counts[lvl] < 1024 else "ivfpq"), (lvl, counts[lvl])
    assert "ivfpq" in kinds.values(), counts  # the scene has enough object views to need it


@pytest.mark.gpu  # IVF-PQ is trained on the GPU when FAISS sees one
def test_hnsw_and_ivfpq_builders_find_neighbours():
    from geoseek.indexer.builder import build_index, choose_kind

    rng = np.random.default_rng(0)
    x = rng.normal(size=(5000, 32)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    assert [choose_kind(n) for n in (10, 200_000, 10_000_000)] == ["flat", "hnsw", "ivfpq"]
    for kind in ("hnsw", "ivfpq"):
        index, params = build_index(x, kind)
        if kind == "ivfpq":
            index.nprobe = params["nprobe"]
        _, ids = index.search(x[:50], 5)
        hit = np.mean([i in row for i, row in enumerate(ids)])
        assert hit >= (0.95 if kind == "hnsw" else 0.5), (kind, hit)


def test_version_switch_is_atomic_and_old_versions_pruned(tmp_path, tiny_vit_config):
    from geoseek.index.layout import KEEP_VERSIONS

    files = copy_good(tmp_path / "pool", KEEP_VERSIONS + 2)
    index = tmp_path / "ix"
    for i, f in enumerate(files):
        one = tmp_path / f"batch{i}"
        one.mkdir()
        shutil.copy(f, one / f.name)
        _index([one], index, tiny_vit_config)
    idx = IndexDir(index)
    assert idx.current() == f"v{len(files):04d}"
    assert len(idx.list_versions()) == KEEP_VERSIONS
    assert not list((index / "versions").glob(".*"))
    assert json.loads((idx.version_path(idx.current()) / "manifest.json").read_text())["images"] == len(files)


def _turned_bytes(path) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.open(path).convert("RGB").transpose(Image.Transpose.ROTATE_90).save(buf, format="PNG")
    return buf.getvalue()


def test_orientations_are_an_index_setting_that_image_queries_follow(tmp_path):
    from geoseek.search import SearchEngine

    model = "geoseek-default"  # trained: a random-init tiny tower is nearly the same vector for every turn anyway
    src = tmp_path / "src"
    paths = copy_good(src, 3)
    four, one = tmp_path / "four", tmp_path / "one"
    _index([src], four, model, orientations=4)
    _index([src], one, model, orientations=1)
    assert IndexDir(four).manifest().model.orientations == 4 and IndexDir(one).manifest().model.orientations == 1
    assert index_info(four).model["orientations"] == 4
    # An upload of an indexed image turned by 90 degrees: averaged over the four turns, query and index agree.
    turned = _turned_bytes(paths[1])
    scores = {}
    for name, ix in (("four", four), ("one", one)):
        hit = SearchEngine(ix, device="cpu").search_image(turned, k=1, levels=["global"]).results[0]
        assert hit.path.endswith(paths[1].name), name
        scores[name] = hit.score
    assert scores["four"] == pytest.approx(1.0, abs=2e-3) and scores["one"] < scores["four"] - 1e-3
    # Later runs keep the index's count, and refuse another one before writing anything.
    with pytest.raises(IndexSettingsError, match=r"--orientations = 4; got 2\. Index into a new directory"):
        _index([src], four, model, orientations=2)
    copy_good(src, 4)
    report = _index([src], four, model)
    assert report.new_images == 1 and IndexDir(four).manifest().model.orientations == 4
