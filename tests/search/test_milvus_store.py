"""The Milvus vector store against Milvus Lite (the real engine, in-process): same answers as FAISS flat.

A synthetic version (600 images, several region/object views each, random bounds, dates and
collections) makes n-best-images cut through the data, which the small real index is too small for;
the real index then checks the whole path: `--store` on the engine and the CLI.
"""
from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from datetime import datetime

import faiss
import httpx
import numpy as np
import pytest

from geoseek.cli.launch import served
from geoseek.index.catalog import ImageRow
from geoseek.index.version import ImageTable, LevelData, TextData, _ranges
from geoseek.search import Filters, SearchEngine
from geoseek.search.faiss_store import FaissStore
from geoseek.search.milvus_store import (
    MilvusStore,
    collection_names,
    filter_expression,
    parse_uri,
)
from geoseek.search.state import IndexState
from geoseek.search.stores import check_store_spec
from geoseek.search.vector_store import StoreError

D = 32
N_IMAGES = 600
FILTERS = [
    Filters(),
    Filters(bbox=(-94.6, 37.0, -94.4, 37.2)),
    Filters(start=datetime(2015, 1, 1)),
    Filters(end=datetime(2012, 6, 30)),
    Filters(start=datetime(2011, 1, 1), end=datetime(2019, 12, 31), collections=("b", "a")),
    Filters(bbox=(-94.7, 36.9, -94.5, 37.1), collections=("a",)),
    Filters(collections=('c "x" \\ y',)),  # quotes and a backslash survive the Milvus expression
]


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float16)


def _level(rng, counts: np.ndarray, centre_bounds: np.ndarray) -> LevelData:
    image_idx = np.repeat(np.arange(N_IMAGES, dtype=np.int32), counts)
    vectors = _unit(rng.standard_normal((len(image_idx), D)))
    index = faiss.IndexFlatIP(D)
    index.add(vectors.astype(np.float32))
    # A view's bounds: a random part of its image's bounds (NaN stays NaN: no georeference).
    img = centre_bounds[image_idx]
    f = np.sort(rng.random((len(image_idx), 2, 2)), axis=2)
    w = img[:, 0] + (img[:, 2] - img[:, 0]) * f[:, 0, 0]
    e = img[:, 0] + (img[:, 2] - img[:, 0]) * f[:, 0, 1]
    s = img[:, 1] + (img[:, 3] - img[:, 1]) * f[:, 1, 0]
    n = img[:, 1] + (img[:, 3] - img[:, 1]) * f[:, 1, 1]
    e[rng.random(len(e)) < 0.05] = np.nan  # a view with one unknown bound meets no bbox, in both stores
    boxes = rng.integers(0, 200, (len(image_idx), 4)).astype(np.int32)
    boxes[:, 2:] = boxes[:, :2] + 50
    starts, ends = _ranges(image_idx, N_IMAGES)
    return LevelData(index, vectors, image_idx, boxes, boxes.copy(), np.ones(len(image_idx), np.int16),
                     np.stack([w, s, e, n], axis=1), starts, ends)


def synthetic_state(template: IndexState, seed: int = 0) -> IndexState:
    """A version with random unit vectors and metadata, on the template's manifest (new version id)."""
    rng = np.random.default_rng(seed)
    ids = [f"img{i:04d}" for i in range(N_IMAGES)]
    west = rng.uniform(-94.8, -94.4, N_IMAGES)
    south = rng.uniform(36.9, 37.3, N_IMAGES)
    bounds = np.stack([west, south, west + 0.05, south + 0.05], axis=1)
    bounds[rng.random(N_IMAGES) < 0.15] = np.nan
    years = rng.integers(2008, 2024, N_IMAGES)
    when = [None if rng.random() < 0.1 else f"{y}-0{1 + i % 9}-15T10:00:00" for i, y in enumerate(years)]
    collection = np.array(rng.choice(["a", "b", 'c "x" \\ y'], N_IMAGES), dtype=object)
    rows = {i: ImageRow(image_id=i, path=f"/nowhere/{i}.png", collection=str(c), width=256, height=256, format="PNG",
                        datetime=t, bounds_wgs84=None if np.isnan(b[0]) else list(b))
            for i, c, t, b in zip(ids, collection, when, bounds)}
    dt = np.array([np.datetime64(t) if t else np.datetime64("NaT") for t in when], dtype="datetime64[s]")
    images = ImageTable(ids, {i: k for k, i in enumerate(ids)}, [rows[i].path for i in ids], np.full(N_IMAGES, 256),
                        np.full(N_IMAGES, 256), dt, collection, rows)
    levels = {"global": _level(rng, np.ones(N_IMAGES, int), bounds),
              "region": _level(rng, rng.integers(1, 7, N_IMAGES), bounds),
              "object": _level(rng, rng.integers(0, 5, N_IMAGES), bounds)}
    text_vectors = _unit(rng.standard_normal((2 * N_IMAGES, D)))
    text_index = faiss.IndexFlatIP(D)
    text_index.add(text_vectors.astype(np.float32))
    text = TextData(text_index, text_vectors, [f"t{i}" for i in range(2 * N_IMAGES)],
                    [f"caption {i}" for i in range(2 * N_IMAGES)], [ids[i // 2] for i in range(2 * N_IMAGES)])
    manifest = template.manifest.model_copy(update={"version": f"synthetic-{seed}", "levels": list(levels)})
    return IndexState(manifest.version, manifest, images, levels, text)


@pytest.fixture(scope="module")
def stores(small_index, tmp_path_factory):
    state = synthetic_state(IndexState.load(small_index.root))
    db = tmp_path_factory.mktemp("milvus") / "synthetic.db"
    milvus = MilvusStore.open(str(db), state)
    yield state, FaissStore(state), milvus, db
    milvus.close()


def test_both_stores_return_an_images_stored_view_vectors(stores):
    state, faiss_store, milvus, _ = stores
    for level, d in state.levels.items():
        counts = d.ends - d.starts
        for image in [int(np.argmax(counts)), int(np.flatnonzero(counts)[0]), *np.flatnonzero(counts == 0)[:1].tolist()]:
            want = d.vectors[d.starts[image] : d.ends[image]].astype(np.float32)  # float16 in memory, float32 in Milvus
            for store in (faiss_store, milvus):
                got = store.view_vectors(level, image)
                assert got.dtype == np.float32 and got.shape == (int(counts[image]), d.vectors.shape[1])
                np.testing.assert_array_equal(got, want)


def _best_per_image(state: IndexState, level: str, q: np.ndarray, mask: np.ndarray) -> np.ndarray:
    d = state.levels[level]
    sims = np.where(mask, d.vectors.astype(np.float32) @ q, -np.inf)
    best = np.full(N_IMAGES, -np.inf, np.float32)
    np.maximum.at(best, d.image_idx, sims)
    return best


def _check_top_n(found: np.ndarray, best: np.ndarray, n: int) -> None:
    """``found`` is the n best images by ``best`` (the true best allowed view per image), ties at the n-th aside."""
    finite = np.flatnonzero(np.isfinite(best))
    assert set(found) <= set(finite) and len(found) == min(n, len(finite))
    if len(finite) > n:
        nth = np.sort(best[finite])[::-1][n - 1]
        truth = set(finite[best[finite] > nth + 1e-5])
        assert truth <= set(found), "an image clearly in the top n is missing"
        assert np.all(best[found] >= nth - 1e-5), "an image clearly outside the top n was returned"


@pytest.mark.parametrize("faiss_path", ["exact scan", "over-fetch", "over-fetch then exact"])
def test_candidate_images_are_the_true_top_n_in_both_stores(stores, monkeypatch, faiss_path):
    """Both stores return the true n best images per query under every filter and an exclusion; the
    FAISS store is driven through each of its paths (exact scan of allowed views, over-fetching the
    index, and the fallback when allowed views rank too deep)."""
    from geoseek.search import candidates
    from geoseek.search.filters import image_mask, view_mask

    if faiss_path != "exact scan":
        monkeypatch.setattr(candidates, "BRUTE_FORCE_MAX", 0)
    if faiss_path == "over-fetch then exact":
        monkeypatch.setattr(candidates, "FETCH_MAX", 100)
    state, flat, milvus, _ = stores
    rng = np.random.default_rng(1)
    queries = _unit(rng.standard_normal((4, D))).astype(np.float32)
    compared = 0
    for f in FILTERS:
        for exclude in (None, 7):
            allowed = image_mask(state, f)
            if exclude is not None:
                allowed[exclude] = False
            for level in state.levels:
                d = state.levels[level]
                mask = view_mask(d.bounds, d.image_idx, allowed, f) if f.active or exclude is not None else None
                full = np.ones(d.size, bool) if mask is None else mask
                for n in (12, 40):
                    for q in queries:
                        best = _best_per_image(state, level, q, full)
                        _check_top_n(flat.nearest_images(level, q[None], n, f, exclude, mask), best, n)
                        _check_top_n(milvus.nearest_images(level, q[None], n, f, exclude, mask), best, n)
                        compared += 1
                    # Several query vectors at once (image queries): the union of each one's n best.
                    for store in (flat, milvus):
                        union = set().union(*(set(store.nearest_images(level, q[None], n, f, exclude, mask))
                                              for q in queries))
                        assert set(store.nearest_images(level, queries, n, f, exclude, mask)) == union
    assert compared == len(FILTERS) * 2 * 3 * 2 * len(queries)
    assert set(flat.nearest_texts(queries, 9)) == set(milvus.nearest_texts(queries, 9))


def _same_ranking(a, b) -> None:
    assert [h.image_id for h in a.results] == [h.image_id for h in b.results]
    for x, y in zip(a.results, b.results):
        assert x.score == pytest.approx(y.score, abs=1e-5)
        assert x.level_scores == pytest.approx(y.level_scores, abs=1e-5)
        assert (x.region_box, x.object_box) == (y.region_box, y.object_box)


def test_fused_search_through_milvus_equals_faiss_flat(stores, small_index):
    state, _, milvus, _ = stores
    on_faiss = SearchEngine(small_index.root, state=state)
    on_milvus = SearchEngine(small_index.root, state=dataclasses.replace(state, store=milvus))
    rng = np.random.default_rng(2)
    for f in FILTERS:
        for q in _unit(rng.standard_normal((3, D))).astype(np.float32):
            for levels in (None, ["global"]):
                a = on_faiss.search_text_vector(q, k=10, levels=levels, filters=f)
                b = on_milvus.search_text_vector(q, k=10, levels=levels, filters=f)
                assert a.results, "every filter here leaves some images"
                _same_ranking(a, b)
    for image in ("img0003", "img0411"):  # image -> image leaves the query image out; image -> text
        _same_ranking(on_faiss.search_image(image, k=10), on_milvus.search_image(image, k=10))
        a, b = on_faiss.search_image(image, target="texts", k=10), on_milvus.search_image(image, target="texts", k=10)
        assert [h.text_id for h in a.results] == [h.text_id for h in b.results]


def test_reopening_reuses_and_completes_the_collections(stores):
    """A second open finds the collections complete; a partly filled one (an interrupted fill) is completed."""
    state, _, milvus, db = stores
    name = collection_names(state)["object"]
    milvus.client.delete(name, filter="row < 100")
    assert milvus.count(name) == state.levels["object"].size - 100
    again = MilvusStore.open(str(db), state)
    try:
        assert again.count(name) == state.levels["object"].size
        assert again.count(collection_names(state)["text"]) == len(state.text.text_ids)
    finally:
        again.close()


def test_other_index_types_get_their_own_collections(stores):
    """IVF_FLAT (Milvus Lite's other index) is a separate set of collections; HNSW is refused by Lite, clearly."""
    state, _, milvus, db = stores
    ivf = MilvusStore.open(f"{db}?index=ivf_flat", state)
    try:
        assert set(ivf.names.values()).isdisjoint(milvus.names.values())
        q = _unit(np.random.default_rng(5).standard_normal((1, D))).astype(np.float32)
        best = _best_per_image(state, "region", q[0], np.ones(state.levels["region"].size, bool))
        _check_top_n(ivf.nearest_images("region", q, 10, Filters(), None, None), best, 10)  # nprobe 64 of 1024: exact here
    finally:
        ivf.close()
    with pytest.raises(StoreError, match="HNSW"):
        MilvusStore.open(f"{db}?index=hnsw", state)
    assert not any("_hnsw_" in c for c in milvus.client.list_collections())  # no unusable collection left behind


def test_store_failures_are_clear_errors_and_foreign_files_are_left_alone(stores, small_index, tmp_path):
    import sqlite3

    from fastapi.testclient import TestClient

    from geoseek.search.api import ApiSettings, create_app
    from geoseek.search.filters import FilterError

    state, _, _, db = stores
    # An existing SQLite file that is not Milvus Lite's, or any other file, is refused and not touched.
    other = tmp_path / "catalog.db"
    with sqlite3.connect(other) as conn:
        conn.execute("create table keep (x)")
        conn.execute("insert into keep values (42)")
    text = tmp_path / "notes.db"
    text.write_text("not a database")
    for path in (other, text):
        with pytest.raises(StoreError, match="not a Milvus Lite database"):
            check_store_spec(str(path))
    with sqlite3.connect(other) as conn:
        assert conn.execute("select name from sqlite_master").fetchall() == [("keep",)]
    assert text.read_text() == "not a database"
    with pytest.raises(FilterError, match="control characters"):
        filter_expression(Filters(collections=("a\nb",)), None)
    # Milvus gone mid-service: the API answers 503 with the reason, the CLI exits 2 with it.
    broken = MilvusStore.open(str(db), state)
    broken.close()
    engine = SearchEngine(small_index.root, state=dataclasses.replace(state, store=broken))
    with pytest.raises(StoreError, match="search in geoseek_"):
        engine.search_text_vector(np.ones(D, np.float32) / np.sqrt(D), k=5)
    with TestClient(create_app(ApiSettings(index=small_index.root), engine=engine)) as client:
        resp = client.post("/v1/search/image", data={"image_id": "img0003", "k": 5})
    assert resp.status_code == 503 and "Milvus search" in resp.json()["detail"]


def test_filter_expressions_and_bad_store_specs(tmp_path):
    f = Filters(bbox=(-95.0, 36.5, -94.0, 37.5), end=datetime(2020, 1, 1), collections=('a "b"',))
    expr = filter_expression(f, exclude=3)
    assert "west <= -94.0 and east >= -95.0 and south <= 37.5 and north >= 36.5" in expr
    assert "t <= 1577836800" in expr and 'collection in ["a \\"b\\""]' in expr and "image_idx != 3" in expr
    assert filter_expression(Filters(), None) == ""
    assert parse_uri("milvus://db.example:19530?index=hnsw") == ("http://db.example:19530", "HNSW")
    lite = f"{tmp_path}/x.db?index=ivf_flat"  # a Lite file with an index type, as the README shows
    assert check_store_spec(lite) == lite and parse_uri(lite) == (f"{tmp_path}/x.db", "IVF_FLAT")
    for bad, msg in [("redis://x:1", "not 'faiss'"), ("/no/such/dir/x.db", "does not exist")]:
        with pytest.raises(StoreError, match=msg):
            check_store_spec(bad)
    for bad, msg in [("milvus://hostonly", "needs a host and port"), ("milvus://h:1?index=BOGUS", "index type")]:
        with pytest.raises(StoreError, match=msg):
            parse_uri(bad)


@pytest.mark.slow
def test_engine_and_cli_with_a_milvus_lite_store(small_index, tmp_path):
    """The real index through --store: the engine and `geoseek search text` answer as with FAISS."""
    db = tmp_path / "geoseek.db"
    faiss_engine = SearchEngine(small_index.root, device="cpu")
    milvus_engine = SearchEngine(small_index.root, device="cpu", store=str(db), encoder=faiss_engine.encoder)
    assert milvus_engine.state().store.kind == "milvus"
    assert all(d.index is None for d in milvus_engine.state().levels.values())  # no FAISS file loaded
    # Rescoring reads the version's memory-mapped column files, so a replica's own memory does not grow with
    # the collection Milvus holds.
    assert all(isinstance(d.vectors, np.memmap) for d in milvus_engine.state().levels.values())
    for text in ("many planes are parked near a terminal", "houses and roads"):
        _same_ranking(faiss_engine.search_text(text, k=6), milvus_engine.search_text(text, k=6))
    bbox = Filters(bbox=(-94.6, 37.0, -94.4, 37.2))
    _same_ranking(faiss_engine.search_text("houses", k=5, filters=bbox), milvus_engine.search_text("houses", k=5, filters=bbox))
    milvus_engine.state().store.close()

    def cli(*extra: str) -> list[str]:
        out = subprocess.run([sys.executable, "-m", "geoseek.cli", "search", "text", "a river", "--index", str(small_index.root),
                              "-k", "5", "--device", "cpu", "--json", *extra], capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr
        return [r["image_id"] for r in json.loads(out.stdout)["results"]]

    assert cli("--store", str(tmp_path / "cli.db")) == cli()
    with served(small_index.root, store=str(tmp_path / "api.db")) as api:  # geoseek serve --store, a real server
        stats = httpx.get(f"{api}/v1/stats", timeout=30).json()
        got = httpx.post(f"{api}/v1/search/text", json={"query": "a river", "k": 5}, timeout=60).json()
    assert stats["store"] == "milvus"
    assert [r["image_id"] for r in got["results"]] == cli()
    busy = subprocess.run([sys.executable, "-m", "geoseek.cli", "search", "text", "x", "--index", str(small_index.root),
                           "--store", str(db)], capture_output=True, text=True, timeout=300)
    assert busy.returncode == 2 and "serves one process at a time" in busy.stderr  # this test process holds db
    bad = subprocess.run([sys.executable, "-m", "geoseek.cli", "search", "text", "x", "--index", str(small_index.root),
                          "--store", "nosuch://x"], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "not 'faiss'" in bad.stderr


@pytest.mark.slow
def test_a_new_index_version_gets_its_own_collections_and_the_old_store_is_closed(tmp_path, tiny_vit_config, monkeypatch):
    """Publishing a version while serving from Milvus: the engine fills the new version's collections,
    answers from them, and closes the old version's store after the grace period."""
    import shutil
    import time

    from geoseek.indexer import run_index
    from geoseek.search import engine as engine_module
    from tests.conftest import RSICD
    from tests.search.conftest import build_small_index

    monkeypatch.setattr(engine_module, "STORE_GRACE_S", 0.2)
    small = build_small_index(tmp_path, str(tiny_vit_config))
    eng = SearchEngine(small.root, device="cpu", store=str(tmp_path / "serve.db"))
    old = eng.state()
    assert len(eng.search_text("a beach", k=50).results) == 15
    extra = tmp_path / "extra"
    extra.mkdir()
    shutil.copy(RSICD / "images" / "Beach" / "beach_1.jpg", extra / "beach_1.jpg")
    run_index([extra], small.root, model=str(tiny_vit_config), device="cpu", progress=False)
    assert eng.search_text("a beach", k=50).version == old.version  # answered while the new one loads
    assert eng.wait_for_version(120) != old.version
    resp = eng.search_text("a beach", k=50)
    new = eng.state()
    assert resp.version == new.version != old.version and len(resp.results) == 16
    assert new.store.kind == "milvus" and set(new.store.names.values()).isdisjoint(old.store.names.values())
    assert new.store.count(new.store.names["global"]) == 16
    time.sleep(1.0)  # past the grace period: the old version's connection is closed
    with pytest.raises(StoreError):
        old.store.nearest_images("global", np.ones((1, new.levels["global"].vectors.shape[1]), np.float32), 5,
                                 Filters(), None, None)
    new.store.close()


@pytest.mark.slow
def test_store_sync_fills_once_before_serving(small_index, tmp_path):
    """`geoseek store sync` fills the current version's collections; a second run (or a replica) adds nothing."""
    db = tmp_path / "sync.db"

    def sync(store: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "geoseek.cli", "store", "sync", "--index", str(small_index.root),
                               "--store", store], capture_output=True, text=True, timeout=300)

    first = sync(str(db))
    assert first.returncode == 0, first.stderr
    state = IndexState.load(small_index.root, gpu=False)
    expected = {lv: d.size for lv, d in state.levels.items()} | {"text": len(state.text.text_ids)}
    lines = {line.split(":")[0].rsplit("_", 1)[1]: line for line in first.stdout.splitlines() if line.startswith("geoseek_")}
    assert {name: int(line.split(": ")[1].split()[0]) for name, line in lines.items()} == expected
    assert all(f"({n} added)" in lines[name] for name, n in expected.items())
    again = sync(str(db))
    assert again.returncode == 0 and again.stdout.count("(0 added)") == len(expected)
    refused = sync("faiss")
    assert refused.returncode == 2 and "fills a Milvus store" in refused.stderr
