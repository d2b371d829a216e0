"""The search engine against a real small index, checked against brute force over the stored vectors."""
from __future__ import annotations

import math
import shutil
import threading
from datetime import datetime

import numpy as np
import pytest

from geoseek.indexer import run_index
from geoseek.schemas import LevelWeights
from geoseek.schemas.search import Box
from geoseek.search import (
    Filters,
    QueryError,
    QueryImageError,
    SearchEngine,
    UnknownImageError,
)
from geoseek.search.texts import caption_key
from tests.conftest import RSICD
from tests.search.conftest import SmallIndex, build_small_index


@pytest.fixture(scope="module")
def engine(small_index: SmallIndex) -> SearchEngine:
    return SearchEngine(small_index.root, device="cpu")


def brute_level(engine, q, level, tokens=None):
    """Per-image max over that image's views of `level` (region includes global), -inf where none.

    With ``tokens`` (T, D) the object level is the late interaction: the mean over tokens of each token's best view."""
    st = engine.state()
    d = st.levels[level]
    if level == "object" and tokens is not None:
        per_token = np.full((len(st.images.ids), len(tokens)), -np.inf, np.float32)
        np.maximum.at(per_token, d.image_idx, d.vectors.astype(np.float32) @ tokens.T)
        out = per_token.mean(axis=1)
        return np.where(np.isfinite(out), out, brute_level(engine, q, "region"))
    sims = d.vectors.astype(np.float32) @ q
    out = np.full(len(st.images.ids), -np.inf, np.float32)
    np.maximum.at(out, d.image_idx, sims)
    if level == "region":
        out = np.maximum(out, brute_level(engine, q, "global"))
    if level == "object":
        out = np.where(np.isfinite(out), out, brute_level(engine, q, "region"))
    return out


def test_global_only_is_exact_flat_search(engine):
    q = engine.encoder.encode_texts(["many planes are parked near a terminal"])[0]
    resp = engine.search_text("many planes are parked near a terminal", k=5, levels=["global"])
    expected = np.argsort(-brute_level(engine, q, "global"), kind="stable")[:5]
    assert [h.image_id for h in resp.results] == [engine.state().images.ids[i] for i in expected]
    assert resp.levels == ["global"] and resp.weights == {"global": 1.0}


def test_fused_scores_are_exact_weighted_sums_of_pooled_levels(engine):
    text = "a river with green trees on both sides"
    q = engine.encoder.encode_texts([text])[0]
    resp = engine.search_text(text, k=8, weights=LevelWeights(**{"global": 2, "region": 1, "object": 1}))
    assert resp.weights == pytest.approx({"global": 0.5, "region": 0.25, "object": 0.25})
    # The small index stores dense-grid cells: its object level is scored against the query's content tokens.
    assert engine.state().manifest.objects.views == "cells"
    tokens = engine.encoder.encode_text_tokens([text])[0]
    assert tokens.shape[0] == len("river green trees both sides".split())
    brute = {lv: brute_level(engine, q, lv, tokens) for lv in ("global", "region", "object")}
    fused = sum(resp.weights[lv] * brute[lv] for lv in brute)
    ids = engine.state().images.ids
    assert [h.image_id for h in resp.results] == [ids[i] for i in np.argsort(-fused, kind="stable")[:8]]
    for h in resp.results:  # and each level's score is the brute-force one
        i = ids.index(h.image_id)
        assert h.level_scores["object"] == pytest.approx(float(brute["object"][i]), abs=1e-5)
    for h in resp.results:
        i = ids.index(h.image_id)
        for lv in brute:
            assert h.level_scores[lv] == pytest.approx(float(brute[lv][i]), abs=1e-5)
        assert h.score == pytest.approx(sum(resp.weights[lv] * h.level_scores[lv] for lv in brute), abs=1e-5)
        assert h.region_box is not None and 0 <= h.region_box.x0 < h.region_box.x1 <= h.width
        assert h.object_box is None or 0 <= h.object_box.y0 < h.object_box.y1 <= h.height
    assert [h.score for h in resp.results] == sorted((h.score for h in resp.results), reverse=True)


def test_image_to_image_finds_the_near_duplicate(engine, small_index):
    resp = engine.search_image(small_index.chip0.read_bytes(), k=3)
    top = [h.path for h in resp.results]
    assert top[0] == str(small_index.chip0) and top[1] == str(small_index.dup)
    by_id = engine.search_image(resp.results[0].image_id, k=3)  # the query image itself is left out
    assert by_id.results[0].path == str(small_index.dup)
    assert resp.results[0].image_id not in {h.image_id for h in by_id.results}


def test_image_to_text_matches_brute_force(engine, small_index):
    resp = engine.search_image(small_index.chip0.read_bytes(), target="texts", k=5, levels=["global"])
    st = engine.state()
    views = engine.query_views(small_index.chip0.read_bytes())[1]
    sims = (st.text.vectors.astype(np.float32) @ views.by_level["global"].T).max(axis=1)
    every = np.argsort(-sims, kind="stable")
    raw = engine.search_image(small_index.chip0.read_bytes(), target="texts", k=5, levels=["global"], distinct=False)
    assert [h.text_id for h in raw.results] == [st.text.text_ids[i] for i in every[:5]]
    keys = [caption_key(t) for t in st.text.texts]
    distinct = [i for n, i in enumerate(every) if keys[i] not in {keys[j] for j in every[:n]}][:5]
    assert [h.text_id for h in resp.results] == [st.text.text_ids[i] for i in distinct]
    assert len({caption_key(h.text) for h in resp.results}) == 5
    assert [h.count for h in resp.results] == [keys.count(keys[i]) for i in distinct]
    assert all(h.text and h.image_id for h in resp.results)
    fused = engine.search_image(small_index.chip0.read_bytes(), target="texts", k=5)
    assert len(fused.results) == 5 and fused.levels == ["global", "region", "object"]


def test_filters_restrict_without_losing_recall(engine, small_index):
    st = engine.state()
    a = st.images.rows[next(i for i in st.images.ids if st.images.rows[i].path == str(small_index.tile_a))]
    w, s, e, n = a.bounds_wgs84
    box = (w + 0.2 * (e - w), s + 0.2 * (n - s), w + 0.4 * (e - w), s + 0.4 * (n - s))
    resp = engine.search_text("houses", k=5, filters=Filters(bbox=box))
    assert [h.path for h in resp.results] == [str(small_index.tile_a)]
    # The best region/object lie inside (intersect) the requested rectangle.
    d = st.levels["region"]
    hit = resp.results[0]
    rows = np.flatnonzero((d.image_idx == st.images.index_of[hit.image_id]) & (d.bbox == [hit.region_box.x0, hit.region_box.y0,
                                                                                           hit.region_box.x1, hit.region_box.y1]).all(1))
    if len(rows):  # not the global fall-back
        bw, bs, be, bn = d.bounds[rows[0]]
        assert bw <= box[2] and be >= box[0] and bs <= box[3] and bn >= box[1]
    # The object box is a window of cells the filter allows: every cell inside it intersects the rectangle.
    o, ob = st.levels["object"], hit.object_box
    i = st.images.index_of[hit.image_id]
    inside = [r for r in range(int(o.starts[i]), int(o.ends[i])) if ob.x0 <= o.bbox[r][0] and o.bbox[r][2] <= ob.x1
              and ob.y0 <= o.bbox[r][1] and o.bbox[r][3] <= ob.y1]
    assert inside and ob != Box(x0=0, y0=0, x1=hit.width, y1=hit.height)
    for r in inside:
        cw, cs, ce, cn = o.bounds[r]
        assert cw <= box[2] and ce >= box[0] and cs <= box[3] and cn >= box[1]
    dated = engine.search_text("houses", k=5, filters=Filters(start=datetime(2011, 1, 1), end=datetime(2011, 12, 31)))
    assert [h.path for h in dated.results] == [str(small_index.tile_a)]
    assert dated.results[0].datetime.startswith("2011-05-24")
    chips = engine.search_text("houses", k=30, filters=Filters(collections=("chips",)))
    assert len(chips.results) == 12 and all(h.collection == "chips" for h in chips.results)
    # Same ranking as the unfiltered search restricted to the allowed images.
    everything = engine.search_text("houses", k=100)
    assert [h.image_id for h in chips.results] == [h.image_id for h in everything.results if h.collection == "chips"]


def test_refine_zooms_into_coarse_regions_and_never_lowers_a_score(tmp_path, small_index):
    from geoseek.schemas import DRISParams

    # A tight view budget leaves coarse regions: that is where looking closer can help.
    run_index([small_index.tile_a.parent, small_index.tile_b.parent], tmp_path / "ix", model=small_index.spec, device="cpu",
              progress=False, dris=DRISParams(budget_per_tile=0.03))
    eng = SearchEngine(tmp_path / "ix", device="cpu")
    for query in ("houses", "a road", "trees"):
        plain = {h.image_id: h for h in eng.search_text(query, k=2).results}
        refined = eng.search_text(query, k=2, refine=True)
        for h in refined.results:
            old = plain[h.image_id]
            assert h.score >= old.score - 1e-6
            assert h.level_scores["global"] == old.level_scores["global"]
            b, ob = h.region_box, old.region_box
            if b != ob:  # a zoomed child: inside the old best region, at most half its size per side
                assert ob.x0 <= b.x0 < b.x1 <= ob.x1 or (b.x1 - b.x0) <= eng.encoder.image_size
                assert h.level_scores["region"] > old.level_scores["region"]
    changed = [h for q in ("houses", "a road", "trees") for h in eng.search_text(q, k=2, refine=True).results
               if h.region_box != {x.image_id: x for x in eng.search_text(q, k=2).results}[h.image_id].region_box]
    assert changed, "refine never found a better child on coarse regions"
    # Native-resolution regions have nothing finer to look at: refine leaves them alone.
    fine = SearchEngine(small_index.root, device="cpu")
    f = Filters(start=datetime(2000, 1, 1))
    assert [h.model_dump() for h in fine.search_text("houses", k=2, filters=f, refine=True).results] == \
        [h.model_dump() for h in fine.search_text("houses", k=2, filters=f).results]


@pytest.mark.parametrize("kwargs,msg", [
    ({"query": ""}, "empty"),
    ({"query": "   "}, "empty"),
    ({"query": "x" * 10_000}, "limit is 1000"),
    ({"query": "ok", "k": 0}, "k must be between"),
    ({"query": "ok", "k": 5000}, "k must be between"),
    ({"query": "ok", "levels": ["region"]}, "must include 'global'"),
    ({"query": "ok", "weights": LevelWeights(**{"global": 0, "region": 0, "object": 0})}, "sum to zero"),
])
def test_bad_text_queries(engine, kwargs, msg):
    with pytest.raises(QueryError, match=msg):
        engine.search_text(**kwargs)


def test_bad_image_queries(engine, tmp_path):
    from tests.indexer.bad_inputs import make_bad_inputs

    with pytest.raises(UnknownImageError):
        engine.search_image("no-such-image-id")
    with pytest.raises(QueryImageError, match="not a readable image"):
        engine.search_image(b"plain text, not an image")
    with pytest.raises(QueryImageError, match="empty"):
        engine.search_image(b"")
    expected = make_bad_inputs(tmp_path)
    for name in ("bomb.png", "cmyk.jpg", "truncated.jpg", "thirteen_band.tif"):
        with pytest.raises(QueryImageError, match=expected[name].split(":")[0]):
            engine.search_image((tmp_path / name).read_bytes())
    with pytest.raises(QueryError, match="target must be"):
        engine.search_image(engine.state().images.ids[0], target="maps")


def test_new_version_is_picked_up_atomically_while_serving(tmp_path, tiny_vit_config):
    small = build_small_index(tmp_path, str(tiny_vit_config))
    eng = SearchEngine(small.root, device="cpu")
    v1 = eng.state().version
    seen, errors = [], []
    stop = threading.Event()

    def client():
        while not stop.is_set():
            try:
                r = eng.search_text("houses", k=50)
                seen.append((r.version, len(r.results)))
            except Exception as exc:  # any failure fails the test
                errors.append(exc)

    threads = [threading.Thread(target=client) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        extra = tmp_path / "extra"
        extra.mkdir()
        shutil.copy(RSICD / "images" / "Beach" / "beach_1.jpg", extra / "beach_1.jpg")
        run_index([extra], small.root, model=str(tiny_vit_config), device="cpu", progress=False)
        for _ in range(200):
            if any(v != v1 for v, _ in seen):
                break
            threading.Event().wait(0.05)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors
    versions = {v for v, _ in seen}
    assert versions <= {v1, "v0002"} and "v0002" in versions
    counts = {v: {n for vv, n in seen if vv == v} for v in versions}
    assert counts["v0002"] == {16} and counts[v1] == {15}  # each response is wholly one version


def test_levels_default_to_the_index_levels(tmp_path, small_index):
    run_index([small_index.tile_a.parent], tmp_path / "ix", model=small_index.spec, device="cpu", progress=False,
              levels=["global", "region"])
    eng = SearchEngine(tmp_path / "ix", device="cpu")
    resp = eng.search_text("houses", k=1)
    assert resp.levels == ["global", "region"] and set(resp.results[0].level_scores) == {"global", "region"}
    with pytest.raises(QueryError, match="this index's levels global,region"):
        eng.search_text("houses", levels=["global", "object"])


def test_datetimes_with_offsets_are_converted_not_dropped(engine, small_index):
    from datetime import timedelta, timezone

    tz = timezone(timedelta(hours=10))
    # Tile A was taken 2011-05-24T17:00 (UTC): 2011-05-25T03:00+10:00.
    just_after = Filters(start=datetime(2011, 5, 25, 3, 30, tzinfo=tz), end=datetime(2012, 1, 1))
    just_before = Filters(start=datetime(2011, 5, 25, 2, 30, tzinfo=tz), end=datetime(2012, 1, 1))
    assert engine.search_text("houses", k=5, filters=just_after).results == []
    assert [h.path for h in engine.search_text("houses", k=5, filters=just_before).results] == [str(small_index.tile_a)]


def test_filtered_exact_path_ranks_images_like_the_unfiltered_search(engine):
    # All chips allowed, scanned exactly: the ranking equals the unfiltered one restricted to chips.
    chips = engine.search_text("a large green field", k=12, filters=Filters(collections=("chips",)))
    everything = engine.search_text("a large green field", k=100)
    assert [h.image_id for h in chips.results] == [h.image_id for h in everything.results if h.collection == "chips"][:12]


def test_filters_with_caption_targets_and_huge_uploads_are_refused(engine, tmp_path):
    from tests.indexer.bad_inputs import _png_with_header_size

    with pytest.raises(QueryError, match="captions"):
        engine.search_image(engine.state().images.ids[0], target="texts", filters=Filters(bbox=(0, 0, 1, 1)))
    _png_with_header_size(tmp_path / "huge.png", 9000, 9000)
    with pytest.raises(QueryImageError, match="limit for queries"):
        engine.search_image((tmp_path / "huge.png").read_bytes())


def test_a_new_version_loads_in_the_background_and_no_request_waits(engine, monkeypatch):
    import dataclasses
    import time

    from geoseek.index.layout import IndexDir
    from geoseek.search.state import IndexState

    eng = SearchEngine(engine.root, device="cpu", encoder=engine.encoder)
    old = eng.state()
    gate = threading.Event()
    real_load = IndexState.load

    def slow_load(*args, **kwargs):
        gate.wait(30)  # the load takes as long as the test wants
        return dataclasses.replace(real_load(*args, **kwargs), version="v0099")

    monkeypatch.setattr(IndexState, "load", classmethod(lambda cls, *a, **kw: slow_load(*a, **kw)))
    class Moved(IndexDir):  # what the engine sees: CURRENT names a new version
        def current(self) -> str:
            return "v0099"

    monkeypatch.setattr("geoseek.search.engine.IndexDir", Moved)
    took = []
    for _ in range(5):  # while the new version loads, requests answer at once, from the old one
        t0 = time.perf_counter()
        assert eng.search_text("houses", k=3).version == old.version
        took.append(time.perf_counter() - t0)
    assert max(took) < 5 and eng._loader is not None and eng._loader.is_alive()
    gate.set()
    assert eng.wait_for_version(60) == "v0099"
    assert eng.search_text("houses", k=3).version == "v0099"
    assert not eng._loader.is_alive()


def test_object_levels_of_segments_keep_the_one_vector_rule(engine):
    """An index from before cells (``objects.views: segments``) is scored as it was: one sentence vector against
    each segment, the best one wins; only a cells index is scored by late interaction over the query's tokens."""
    from geoseek.schemas import ObjectParams
    from geoseek.search.query import EncodedText, late_levels, text_views

    manifest = engine.state().manifest
    old = manifest.model_copy(update={"objects": ObjectParams(views="segments")})
    assert late_levels(manifest) == {"object"} and late_levels(old) == frozenset()
    q = engine.encode_text_queries(["storage tanks beside a river"])[0]
    assert isinstance(q, EncodedText) and q.tokens is not None and len(q.tokens) == 4  # storage tanks beside river
    views = text_views(q, ["global", "region", "object"], old)
    assert views.late == frozenset() and all(v.shape == (1, q.sentence.shape[0]) for v in views.by_level.values())
    cells = text_views(q, ["global", "object"], manifest)
    assert cells.late == {"object"} and cells.by_level["object"].shape == q.tokens.shape
    assert text_views(q, ["global"], manifest).late == frozenset()  # global-only search never needs the tokens
    assert engine.encode_text_queries(["a river"], ["global"])[0].tokens is None


def test_object_boxes_of_large_images_are_region_windows_of_a_sub_view(engine, small_index):
    """On a cells index a hit's object box is a region-loss window of cells (3 x 3 of the default model's 5 x 5 grid)
    of one of the image's region views, not of its root; a chip's is a window of its one view."""
    from geoseek.models.dense import window_side

    st = engine.state()
    obj, reg = st.levels["object"], st.levels["region"]
    resp = engine.search_text("houses and trees beside a road", k=len(st.images.ids))
    checked = {"scene": 0, "chip": 0}
    for h in resp.results:
        i = st.images.index_of[h.image_id]
        b = h.object_box
        assert b is not None
        if reg.ends[i] > reg.starts[i]:
            windows = [tuple(int(v) for v in reg.bbox[r]) for r in range(int(reg.starts[i]), int(reg.ends[i]))]
            checked["scene"] += 1
        else:
            windows = [(0, 0, h.width, h.height)]
            checked["chip"] += 1
        views = 1 + int(reg.ends[i] - reg.starts[i])  # the root and the region views, each with a full grid of cells
        side = round(math.sqrt((obj.ends[i] - obj.starts[i]) / views))
        share = window_side(side) / side
        inside = [w for w in windows if w[0] <= b.x0 < b.x1 <= w[2] and w[1] <= b.y0 < b.y1 <= w[3]
                  and abs((b.x1 - b.x0) - share * (w[2] - w[0])) <= 2 and abs((b.y1 - b.y0) - share * (w[3] - w[1])) <= 2]
        assert inside, (h.image_id, b, windows)
        cells = {tuple(int(v) for v in obj.bbox[r]) for r in range(int(obj.starts[i]), int(obj.ends[i]))}
        assert (b.x0, b.y0) in {(c[0], c[1]) for c in cells} and (b.x1, b.y1) in {(c[2], c[3]) for c in cells}
    assert checked["scene"] >= 2 and checked["chip"] >= 1


def test_a_late_level_searches_with_a_shared_candidate_budget(engine, small_index, monkeypatch):
    """An image query's object level has one query vector per cell of each of its views: at most 8 of them search
    the index, sharing the level's 4k images, and the exact rescoring still finds the brute-force fused top k."""
    from geoseek.search.candidates import LATE_SEARCH_VECTORS
    from geoseek.search.fusion import fuse, rescore_level

    st = engine.state()
    data = small_index.chip0.read_bytes()
    views = engine.query_views(data)[1]
    cells = len(views.by_level["object"])
    assert cells > LATE_SEARCH_VECTORS and views.late == {"object"}
    from geoseek.search.faiss_store import FaissStore

    calls = []
    original = FaissStore.nearest_images

    def spy(self, level, queries, n, *rest):
        calls.append((level, len(queries), n))
        return original(self, level, queries, n, *rest)

    monkeypatch.setattr(FaissStore, "nearest_images", spy)
    k = 2
    resp = engine.search_image(data, k=k)
    assert sorted(calls) == sorted([("global", 1, 4 * k), ("region", len(views.by_level["region"]), 4 * k),
                                    ("object", LATE_SEARCH_VECTORS, 1)])  # ceil(8 / 8) images each
    every = np.arange(len(st.images.ids))
    per_level = {lv: rescore_level(st.levels[lv], every, views.by_level[lv], late=lv in views.late) for lv in resp.levels}
    fused, _ = fuse(per_level, resp.weights)
    assert [h.image_id for h in resp.results] == [st.images.ids[i] for i in np.argsort(-fused, kind="stable")[:k]]


def test_a_text_without_tokens_is_scored_by_its_sentence(engine):
    from geoseek.search.query import EncodedText

    q = engine.encode_text_queries(["storage tanks beside a river"])[0]
    empty = engine.search_text_vector(EncodedText(q.sentence, np.zeros((0, q.sentence.shape[0]), np.float32)), k=5)
    bare = engine.search_text_vector(q.sentence, k=5)
    assert [(h.image_id, h.score) for h in empty.results] == [(h.image_id, h.score) for h in bare.results]
    assert len(bare.results) == 5
