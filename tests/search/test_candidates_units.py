"""candidate_images over a real FAISS IndexFlatIP on synthetic vectors: every path (no filter, exact scan
of a sparse filter, over-fetch of a dense one, and its exact fall-back) must give exactly the brute-force
set of each query's n best images by their best allowed view."""
from __future__ import annotations

import faiss
import numpy as np
import pytest

import geoseek.search.candidates as cand
from geoseek.index.version import LevelData
from geoseek.search.candidates import candidate_images

DIM = 24
N_IMAGES = 160


def make_level(seed: int, n_images: int = N_IMAGES, max_rows: int = 7) -> LevelData:
    """Random unit float16 vectors, image rows contiguous, some images without rows, a flat IP index."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(0, max_rows + 1, n_images)
    counts[:: 23] = 0
    n = int(counts.sum())
    v = rng.standard_normal((n, DIM)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    vectors = v.astype(np.float16)
    image_idx = np.repeat(np.arange(n_images, dtype=np.int32), counts)
    ends = np.cumsum(counts)
    starts = ends - counts
    starts[counts == 0] = 0
    ends[counts == 0] = 0
    index = faiss.IndexFlatIP(DIM)
    index.add(vectors.astype(np.float32))  # the same float16 values the exact path scores
    boxes = np.zeros((n, 4), np.int32)
    return LevelData(index, vectors, image_idx, boxes, boxes.copy(), np.zeros(n, np.int16),
                     np.full((n, 4), np.nan), starts, ends)


def queries(seed: int, m: int) -> np.ndarray:
    q = np.random.default_rng(seed).standard_normal((m, DIM)).astype(np.float32)
    return q / np.linalg.norm(q, axis=1, keepdims=True)


def brute_best(level: LevelData, q: np.ndarray, row_mask) -> dict[int, np.ndarray]:
    """image -> (m,) its best allowed view's score per query; images with no allowed view are absent."""
    best: dict[int, np.ndarray] = {}
    for row in range(level.size):
        if row_mask is not None and not row_mask[row]:
            continue
        img = int(level.image_idx[row])
        s = q @ level.vectors[row].astype(np.float32)
        best[img] = np.maximum(best[img], s) if img in best else s
    return best


def brute_candidates(level: LevelData, q: np.ndarray, n: int, row_mask) -> set[int]:
    best = brute_best(level, q, row_mask)
    images = list(best)
    out: set[int] = set()
    for j in range(q.shape[0]):
        ranked = sorted(images, key=lambda i: -best[i][j])
        out.update(ranked[:n])
    return out


def top_rows_images(level: LevelData, q: np.ndarray, k: int) -> np.ndarray:
    """The k best images of query 0 by best view (brute force), for masks that push results deep."""
    best = brute_best(level, q[:1], None)
    return np.array(sorted(best, key=lambda i: -best[i][0])[:k])


@pytest.fixture()
def spy(monkeypatch):
    """Counts the index searches and exact scans candidate_images makes."""
    calls = {"search": 0, "exact": 0}
    real_search, real_exact = cand.index_search, cand._top_images_exact

    def search(*a, **kw):
        calls["search"] += 1
        return real_search(*a, **kw)

    def exact(*a, **kw):
        calls["exact"] += 1
        return real_exact(*a, **kw)

    monkeypatch.setattr(cand, "index_search", search)
    monkeypatch.setattr(cand, "_top_images_exact", exact)
    return calls


def check(level, q, n, mask):
    got = candidate_images(level, q, n, mask)
    assert got.ndim == 1 and np.issubdtype(got.dtype, np.integer)
    assert len(np.unique(got)) == len(got), "candidate images are unique"
    want = brute_candidates(level, q, n, mask)
    assert set(got.tolist()) == want
    return got


@pytest.mark.parametrize("n", [1, 4, 15])
@pytest.mark.parametrize("m", [1, 3])
def test_no_mask_matches_brute_force(spy, n, m):
    level = make_level(1)
    q = queries(100 + m, m)
    got = check(level, q, n, None)
    assert spy["search"] >= 1 and spy["exact"] == 0
    assert n <= len(got) <= n * m


def test_no_mask_n_at_least_images_returns_every_image_with_views(spy):
    level = make_level(2)
    with_views = set(np.flatnonzero(level.ends > level.starts).tolist())
    assert len(with_views) < N_IMAGES  # some images have no rows and must not be returned
    for n in (len(with_views), N_IMAGES, 10 * N_IMAGES):
        got = check(level, queries(3, 2), n, None)
        assert set(got.tolist()) == with_views
    assert spy["search"] == 0


@pytest.mark.parametrize("n", [1, 5, 12])
@pytest.mark.parametrize("m", [1, 4])
@pytest.mark.parametrize("density", [0.02, 0.1])
def test_sparse_mask_exact_scan(spy, n, m, density):
    level = make_level(4)
    rng = np.random.default_rng(int(density * 1000) + n + m)
    mask = rng.random(level.size) < density
    assert 0 < mask.sum() <= cand.BRUTE_FORCE_MAX
    check(level, queries(7 + m, m), n, mask)
    assert spy["search"] == 0 and spy["exact"] == 1


def test_sparse_mask_fewer_allowed_images_than_n():
    level = make_level(5)
    mask = np.zeros(level.size, bool)
    rows = np.flatnonzero(np.isin(level.image_idx, [7, 8, 40]))
    mask[rows[::2]] = True
    allowed_images = set(level.image_idx[mask].tolist())
    got = check(level, queries(1, 3), 10, mask)
    assert set(got.tolist()) == allowed_images


def test_mask_allowing_nothing_and_empty_level():
    level = make_level(6)
    assert candidate_images(level, queries(1, 2), 5, np.zeros(level.size, bool)).size == 0
    empty = LevelData(faiss.IndexFlatIP(DIM), np.zeros((0, DIM), np.float16), np.zeros(0, np.int32),
                      np.zeros((0, 4), np.int32), np.zeros((0, 4), np.int32), np.zeros(0, np.int16),
                      np.zeros((0, 4)), np.zeros(3, np.int64), np.zeros(3, np.int64))
    assert candidate_images(empty, queries(1, 1), 5, None).size == 0
    assert candidate_images(empty, queries(1, 1), 5, np.zeros(0, bool)).size == 0


@pytest.mark.parametrize("n", [1, 6, 20])
@pytest.mark.parametrize("m", [1, 3])
@pytest.mark.parametrize("density", [0.5, 0.9])
def test_dense_mask_over_fetch(monkeypatch, spy, n, m, density):
    """More allowed views than BRUTE_FORCE_MAX: FAISS results are over-fetched and filtered."""
    monkeypatch.setattr(cand, "BRUTE_FORCE_MAX", 50)
    level = make_level(8)
    mask = np.random.default_rng(n * 10 + m).random(level.size) < density
    assert mask.sum() > 50
    check(level, queries(20 + m, m), n, mask)
    assert spy["search"] >= 1 and spy["exact"] == 0


def test_dense_mask_over_fetch_grows(monkeypatch, spy):
    """The best views of query 0 are all masked out: the first fetch finds no allowed image, so it grows."""
    monkeypatch.setattr(cand, "BRUTE_FORCE_MAX", 50)
    level = make_level(9)
    q = queries(30, 2)
    n = 3
    per_image = -(-level.size // int((level.ends > level.starts).sum()))
    mask = ~np.isin(level.image_idx, top_rows_images(level, q, n * per_image + 2))
    assert mask.sum() > 50
    check(level, q, n, mask)
    assert spy["search"] >= 2 and spy["exact"] == 0


def test_dense_mask_deep_falls_back_to_exact(monkeypatch, spy):
    """With FETCH_MAX small, a filter whose views rank too deep is ranked exactly instead."""
    monkeypatch.setattr(cand, "BRUTE_FORCE_MAX", 50)
    monkeypatch.setattr(cand, "FETCH_MAX", 40)
    level = make_level(10)
    for n, m in [(3, 1), (5, 3), (12, 2)]:
        q = queries(40 + n, m)
        per_image = -(-level.size // int((level.ends > level.starts).sum()))
        mask = ~np.isin(level.image_idx, top_rows_images(level, q, n * per_image + 2))
        before = spy["exact"]
        check(level, q, n, mask)
        assert spy["exact"] == before + 1


def test_dense_mask_fewer_allowed_images_than_n(monkeypatch, spy):
    monkeypatch.setattr(cand, "BRUTE_FORCE_MAX", 50)
    level = make_level(11)
    allowed = np.flatnonzero(level.ends - level.starts >= 5)[:12]
    mask = np.isin(level.image_idx, allowed)
    assert mask.sum() > 50
    got = check(level, queries(2, 2), 12, mask)
    assert set(got.tolist()) == set(allowed.tolist())
    assert spy["search"] == 0


def test_exact_scan_is_chunked(monkeypatch, spy):
    """The exact path scores rows in chunks; a tiny chunk size gives the same answer."""
    monkeypatch.setattr(cand, "EXACT_CHUNK", 7)
    level = make_level(12)
    mask = np.random.default_rng(0).random(level.size) < 0.3
    check(level, queries(5, 3), 8, mask)
    assert spy["exact"] == 1


@pytest.mark.parametrize(("m", "n", "searched", "each"), [(1, 40, 1, 40), (4, 40, 4, 10), (8, 40, 8, 5),
                                                          (25, 40, 8, 5), (225, 40, 8, 5), (225, 4, 8, 1)])
def test_a_late_level_shares_its_candidate_budget(m, n, searched, each):
    """A late-interaction level's query vectors (tokens, cells) share the level's n images: at most
    LATE_SEARCH_VECTORS of them search, evenly spread from the first to the last, for ceil(n / searched) each."""
    q = np.arange(m, dtype=np.float32)[:, None] * np.ones((1, DIM), np.float32)
    picked, per = cand.late_search_queries(q, n)
    assert len(picked) == searched == min(m, cand.LATE_SEARCH_VECTORS) and per == each
    rows = picked[:, 0].astype(int).tolist()
    assert rows == sorted(set(rows)) and rows[0] == 0 and rows[-1] == m - 1
    if m > searched:  # evenly spread: the gaps differ by at most one
        gaps = np.diff(rows)
        assert gaps.max() - gaps.min() <= 1
