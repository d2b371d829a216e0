"""Exact per-level rescoring, level fusion and level/weight parsing on synthetic arrays, each
checked against a brute-force answer written here (Python loops over images and rows)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from geoseek.index.version import LevelData, _ranges
from geoseek.schemas.errors import LevelError
from geoseek.schemas.levels import DIRECTIONS, LEVELS, FusionWeights, LevelWeights, parse_levels
from geoseek.search.fusion import LevelScores, fuse, rescore_level, weighted_sum

DIM = 16


def unit16(rng: np.random.Generator, n: int, dim: int = DIM) -> np.ndarray:
    v = rng.standard_normal((n, dim)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return v.astype(np.float16)


def make_level(counts: list[int], vectors: np.ndarray) -> LevelData:
    """A LevelData whose image i owns counts[i] contiguous rows (0 rows: starts = ends = 0)."""
    counts_a = np.asarray(counts, np.int64)
    n = int(counts_a.sum())
    assert vectors.shape[0] == n
    image_idx = np.repeat(np.arange(len(counts), dtype=np.int32), counts_a)
    ends = np.cumsum(counts_a)
    starts = ends - counts_a
    starts[counts_a == 0] = 0
    ends[counts_a == 0] = 0
    boxes = np.tile(np.array([0, 0, 32, 32], np.int32), (n, 1))
    return LevelData(index=None, vectors=vectors, image_idx=image_idx, bbox=boxes, node_box=boxes.copy(),
                     depth=np.zeros(n, np.int16), bounds=np.full((n, 4), np.nan), starts=starts, ends=ends)


def random_level(seed: int, n_images: int = 40, max_rows: int = 6) -> LevelData:
    rng = np.random.default_rng(seed)
    counts = rng.integers(0, max_rows + 1, n_images)
    counts[[3, 17]] = 0  # always some images without rows
    return make_level(list(counts), unit16(rng, int(counts.sum())))


def brute_rescore(level: LevelData, candidates, queries, row_mask):
    """Per candidate: max over its allowed rows and all queries; first row reaching it; -inf/-1 if none."""
    q = queries.astype(np.float32)
    scores, rows = [], []
    for c in candidates:
        best, best_row = -math.inf, -1
        for r in range(int(level.starts[c]), int(level.ends[c])):
            if row_mask is not None and not row_mask[r]:
                continue
            v = level.vectors[r].astype(np.float32)
            s = max(float(np.dot(v, q[j])) for j in range(q.shape[0]))
            if s > best:  # strict: the first row keeps a tie
                best, best_row = s, r
        scores.append(best)
        rows.append(best_row)
    return np.array(scores), np.array(rows)


def test_ranges_convention_matches_reader():
    """The helper above builds starts/ends exactly as read_version does (so the tests use real layouts)."""
    level = random_level(0)
    starts, ends = _ranges(level.image_idx, len(level.starts))
    np.testing.assert_array_equal(starts, level.starts)
    np.testing.assert_array_equal(ends, level.ends)


@pytest.mark.parametrize("n_queries", [1, 3])
@pytest.mark.parametrize("density", [None, 0.5, 0.15])
def test_rescore_level_matches_brute_force(n_queries, density):
    level = random_level(1)
    rng = np.random.default_rng(10 + n_queries)
    queries = unit16(rng, n_queries).astype(np.float32)
    mask = None if density is None else rng.random(level.size) < density
    # Every image, in a shuffled order, plus repeats and the images without rows.
    candidates = np.concatenate([rng.permutation(len(level.starts)), [5, 5, 3]])
    got = rescore_level(level, candidates, queries, mask)
    want_score, want_row = brute_rescore(level, candidates, queries, mask)
    assert got.score.shape == got.best_row.shape == (len(candidates),)
    assert got.score.dtype == np.float32 and got.best_row.dtype == np.int64
    np.testing.assert_array_equal(np.isfinite(got.score), np.isfinite(want_score))
    finite = np.isfinite(want_score)
    np.testing.assert_allclose(got.score[finite], want_score[finite], rtol=0, atol=1e-5)
    assert np.all(got.score[~finite] == -np.inf)
    np.testing.assert_array_equal(got.best_row, want_row)
    # The images without rows (3 and 17), and any image the mask shuts out, have no score.
    for pos, c in enumerate(candidates):
        if c in (3, 17):
            assert got.score[pos] == -np.inf and got.best_row[pos] == -1
    if density is not None:  # the test did exercise images whose rows are all masked out
        has_rows = level.ends[candidates] > level.starts[candidates]
        assert (has_rows & ~finite).any()


def test_rescore_level_best_row_is_first_on_exact_ties():
    """Rows with exactly equal scores (small dyadic values, so float32 products are exact): the first wins."""
    vec = np.zeros((7, 4), np.float16)
    vec[0, 0] = 0.5   # image 0: rows 0..2 -> scores 0.5, 1.0, 1.0
    vec[1, 1] = 1.0
    vec[2, 1] = 1.0
    vec[3, 2] = 0.25  # image 1 has no rows; image 2: rows 3..6 -> 0.25, 0.75, 0.75, 0.75
    vec[4, 3] = 0.75
    vec[5, 3] = 0.75
    vec[6, 3] = 0.75
    level = make_level([3, 0, 4], vec)
    queries = np.array([[1, 1, 1, 1], [0, 0, 0, 0.5]], np.float32)
    got = rescore_level(level, np.array([2, 0, 1]), queries)
    np.testing.assert_array_equal(got.score, np.array([0.75, 1.0, -np.inf], np.float32))
    np.testing.assert_array_equal(got.best_row, [4, 1, -1])
    # With the first tied rows masked out, the next tied row is the best.
    mask = np.ones(7, bool)
    mask[[1, 4]] = False
    got = rescore_level(level, np.array([0, 2]), queries, mask)
    np.testing.assert_array_equal(got.best_row, [2, 5])


def test_rescore_level_candidates_without_rows_and_empty_candidates():
    level = random_level(2)
    got = rescore_level(level, np.array([3, 17]), unit16(np.random.default_rng(0), 2).astype(np.float32))
    assert list(got.score) == [-np.inf, -np.inf] and list(got.best_row) == [-1, -1]
    got = rescore_level(level, np.zeros(0, np.int64), unit16(np.random.default_rng(0), 1).astype(np.float32))
    assert got.score.shape == (0,) and got.best_row.shape == (0,)
    # A mask that allows nothing: every candidate is -inf / -1.
    got = rescore_level(level, np.arange(10), unit16(np.random.default_rng(0), 1).astype(np.float32),
                        np.zeros(level.size, bool))
    assert np.all(got.score == -np.inf) and np.all(got.best_row == -1)


def brute_fuse(g, r, o, weights):
    """Per image, in plain Python: region pools with global; object falls back to region (or global)."""
    out, pooled = [], {"global": [], "region": [], "object": []}
    for i in range(len(g)):
        terms = {"global": g[i]}
        if r is not None:
            terms["region"] = max(r[i], g[i])
        if o is not None:
            terms["object"] = o[i] if math.isfinite(o[i]) else terms.get("region", g[i])
        for k, v in terms.items():
            pooled[k].append(v)
        out.append(sum(w * terms[k] for k, w in weights.items()))
    return np.array(out), {k: np.array(v) for k, v in pooled.items() if v}


def _ls(score) -> LevelScores:
    score = np.asarray(score, np.float32)
    return LevelScores(score, np.where(np.isfinite(score), 0, -1).astype(np.int64))


@pytest.mark.parametrize("levels", [("global",), ("global", "region"), ("global", "object"),
                                    ("global", "region", "object")])
def test_fuse_matches_brute_force(levels):
    rng = np.random.default_rng(len(levels) * 7 + ("object" in levels))
    n = 50
    g = rng.uniform(-0.2, 0.6, n).astype(np.float32)
    r = rng.uniform(-0.2, 0.8, n).astype(np.float32)
    r[rng.random(n) < 0.3] = -np.inf  # images too small for region views
    o = rng.uniform(-0.2, 0.9, n).astype(np.float32)
    o[rng.random(n) < 0.3] = -np.inf  # images without object views
    per = {"global": _ls(g)}
    if "region" in levels:
        per["region"] = _ls(r)
    if "object" in levels:
        per["object"] = _ls(o)
    weights = LevelWeights.of(0.5, 0.3, 0.2).normalised(list(levels))
    fused, pooled = fuse(per, weights)
    want, want_pooled = brute_fuse(g, r if "region" in levels else None, o if "object" in levels else None, weights)
    assert fused.dtype == np.float32 and fused.shape == (n,)
    np.testing.assert_allclose(fused, want, rtol=1e-6, atol=1e-6)
    assert set(pooled) == set(levels)
    for lv in levels:
        np.testing.assert_allclose(pooled[lv], want_pooled[lv], rtol=0, atol=0)
    # Region pooling never lowers an image below its global score; no pooled level is -inf here.
    if "region" in levels:
        assert np.all(pooled["region"] >= g)
    assert all(np.all(np.isfinite(pooled[lv])) for lv in levels)


def test_fuse_object_fallback_is_region_pool_not_raw_region():
    """An image with neither region nor object views: object term = region pool = its global score."""
    per = {"global": _ls([0.4, 0.1]), "region": _ls([-np.inf, 0.3]), "object": _ls([-np.inf, -np.inf])}
    fused, pooled = fuse(per, {"global": 0.5, "region": 0.25, "object": 0.25})
    np.testing.assert_allclose(pooled["region"], [0.4, 0.3])
    np.testing.assert_allclose(pooled["object"], [0.4, 0.3])
    np.testing.assert_allclose(fused, [0.4, 0.5 * 0.1 + 0.25 * 0.3 + 0.25 * 0.3], rtol=1e-6)


def test_weighted_sum_arrays_and_scalars():
    rng = np.random.default_rng(3)
    scores = {lv: rng.standard_normal(8) for lv in LEVELS}
    weights = {"global": 0.2, "object": 0.8}  # only the weighted levels count
    got = weighted_sum(scores, weights)
    want = [0.2 * scores["global"][i] + 0.8 * scores["object"][i] for i in range(8)]
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert weighted_sum({"global": 2.0, "region": 4.0}, {"global": 0.25, "region": 0.75}) == pytest.approx(3.5)
    assert weighted_sum({"global": 1.0}, {}) == 0.0
    with pytest.raises(KeyError):
        weighted_sum({"global": 1.0}, {"global": 0.5, "region": 0.5})


# -- parse_levels -------------------------------------------------------------------------------

@pytest.mark.parametrize("value, want", [
    ("region, global", ["global", "region"]),
    ("object,global,region", ["global", "region", "object"]),
    (" global ,global, object ", ["global", "object"]),
    (["object", "global"], ["global", "object"]),
    (("region", "global", "region"), ["global", "region"]),
    ("global", ["global"]),
    ("global,,region,", ["global", "region"]),
])
def test_parse_levels_canonical_order(value, want):
    assert parse_levels(value) == want


@pytest.mark.parametrize("empty", [None, "", "   ", []])
def test_parse_levels_empty_means_all_available(empty):
    assert parse_levels(empty) == list(LEVELS)
    assert parse_levels(empty, available=("object", "global")) == ["global", "object"]
    assert parse_levels(empty, available=["global"]) == ["global"]


@pytest.mark.parametrize("value, available, words", [
    ("global,scene", LEVELS, ["scene"]),
    ("Global", LEVELS, ["Global"]),  # names are case-sensitive
    ("region", LEVELS, ["global"]),  # global is required
    ("region,object", LEVELS, ["global"]),
    ("global,object", ("global", "region"), ["global,region", "object"]),
    (["global", "region"], ("global",), ["region"]),
    (None, ("region", "object"), ["global"]),  # an index without a global level cannot be searched
])
def test_parse_levels_errors(value, available, words):
    with pytest.raises(LevelError) as err:
        parse_levels(value, available)
    assert isinstance(err.value, ValueError)
    for w in words:
        assert w in str(err.value)


# -- LevelWeights ---------------------------------------------------------------------------------

def test_level_weights_parse_and_normalise():
    w = LevelWeights.parse(" 2, 1 ,1")
    assert (w.global_, w.region, w.object) == (2.0, 1.0, 1.0)
    assert w.as_dict() == {"global": 2.0, "region": 1.0, "object": 1.0}
    for levels in (["global"], ["global", "region"], ["global", "object"], list(LEVELS)):
        got = w.normalised(levels)
        assert list(got) == levels
        assert sum(got.values()) == pytest.approx(1.0)
        raw = {"global": 2.0, "region": 1.0, "object": 1.0}
        total = sum(raw[lv] for lv in levels)
        for lv in levels:
            assert got[lv] == pytest.approx(raw[lv] / total)
    assert LevelWeights.parse("0,0,3").normalised(["global", "object"]) == {"global": 0.0, "object": 1.0}


def test_level_weights_normalised_zero_sum():
    with pytest.raises(LevelError, match="sum to zero"):
        LevelWeights.parse("0,0,1").normalised(["global", "region"])


@pytest.mark.parametrize("text", ["", "1,2", "1,2,3,4", "a,b,c", "1;2;3", "-1,1,1", "0,0,0", "101,0,0",
                                  "nan,1,1", "inf,1,1", "1,,1"])
def test_level_weights_parse_errors_name_the_option(text):
    with pytest.raises(LevelError) as err:
        LevelWeights.parse(text, option="--fusion-weights")
    assert "--fusion-weights" in str(err.value)
    with pytest.raises(LevelError, match="--weights"):
        LevelWeights.parse(text)


def test_level_weights_bounds_inclusive():
    assert LevelWeights.parse("100,0,0").normalised(list(LEVELS)) == {"global": 1.0, "region": 0.0, "object": 0.0}
    assert LevelWeights.parse("0,0.5,0").region == 0.5


# -- FusionWeights --------------------------------------------------------------------------------

def test_fusion_weights_parse_one_triple_or_one_per_direction():
    same = FusionWeights.parse("0.5,0.2,0.3")
    assert all(same.of(d) == LevelWeights.of(0.5, 0.2, 0.3) for d in DIRECTIONS)
    each = FusionWeights.parse("text_to_image=0.1,0.4,0.5; image_to_text=1,0,0;image_to_image=0.5,0.2,0.3")
    assert each.text_to_image == LevelWeights.of(0.1, 0.4, 0.5) and each.image_to_text == LevelWeights.of(1, 0, 0)
    assert FusionWeights.parse(each.spec()) == each  # what run_all passes on from tune-fusion


@pytest.mark.parametrize("text, words", [
    ("text_to_image=1,0,0;image_to_text=1,0,0", "not image_to_image"),
    ("text_to_image=1,0,0;sideways=1,0,0;image_to_image=1,0,0", "'sideways' is not a direction"),
    ("text_to_image=1,0,0;text_to_image=1,0,0;image_to_image=1,0,0", "named twice"),
    ("text_to_image=1,0;image_to_text=1,0,0;image_to_image=1,0,0", "--weights text_to_image '1,0' must be three"),
])
def test_fusion_weights_parse_errors(text, words):
    with pytest.raises(LevelError, match=words):
        FusionWeights.parse(text)


def test_fusion_weights_read_one_stored_triple_as_every_direction():
    # What manifests and checkpoints held before directions.
    old = FusionWeights.model_validate({"global": 0.3, "region": 0.1, "object": 0.6})
    assert old == FusionWeights.same(LevelWeights.of(0.3, 0.1, 0.6))
    assert FusionWeights.model_validate(old.as_dict()) == old


def brute_late(level: LevelData, candidates, queries, row_mask):
    """Late interaction by loops: per candidate, the mean over queries of each query's best allowed row; the best row
    is the allowed row with the highest mean similarity (first on ties)."""
    q = queries.astype(np.float32)
    scores, rows = [], []
    for c in candidates:
        allowed = [r for r in range(int(level.starts[c]), int(level.ends[c])) if row_mask is None or row_mask[r]]
        if not allowed:
            scores.append(-math.inf)
            rows.append(-1)
            continue
        sims = np.array([[float(np.dot(level.vectors[r].astype(np.float32), q[j])) for j in range(len(q))] for r in allowed])
        scores.append(float(sims.max(axis=0).mean()))
        rows.append(allowed[int(np.argmax(sims.mean(axis=1)))])
    return np.array(scores), np.array(rows)


@pytest.mark.parametrize("density", [None, 0.4])
def test_late_interaction_is_the_mean_of_each_querys_best_view(density):
    level = random_level(3)
    rng = np.random.default_rng(31)
    tokens = unit16(rng, 5).astype(np.float32)
    mask = None if density is None else rng.random(level.size) < density
    candidates = np.concatenate([rng.permutation(len(level.starts)), [4, 4]])
    got = rescore_level(level, candidates, tokens, mask, late=True)
    want_score, want_row = brute_late(level, candidates, tokens, mask)
    finite = np.isfinite(want_score)
    np.testing.assert_array_equal(np.isfinite(got.score), finite)
    np.testing.assert_allclose(got.score[finite], want_score[finite], rtol=0, atol=1e-5)
    np.testing.assert_array_equal(got.best_row, want_row)
    # It is not the max rule: with several tokens the mean of per-token maxima is lower than their max.
    plain = rescore_level(level, candidates, tokens, mask)
    assert np.all(got.score[finite] < plain.score[finite])
    # One query: late interaction and the max rule agree.
    one = tokens[:1]
    np.testing.assert_allclose(rescore_level(level, candidates, one, mask, late=True).score[finite],
                               rescore_level(level, candidates, one, mask).score[finite], atol=1e-6)
