"""One hit per distinct caption: the grouping key and the pick, on hand-made caption lists."""
from __future__ import annotations

import numpy as np

from geoseek.index.version import TextData
from geoseek.search.texts import caption_key, first_distinct


def _texts(texts: list[str]) -> TextData:
    n = len(texts)
    return TextData(index=None, vectors=np.zeros((n, 4), np.float16), text_ids=[f"t{i}" for i in range(n)], texts=texts,
                    image_ids=[f"img{i}" for i in range(n)])


def test_caption_key_ignores_case_spacing_and_a_trailing_full_stop():
    assert caption_key("Many  buildings are in a dense residential area .") == caption_key("many buildings are in a dense residential area")
    assert caption_key("a river.") != caption_key("a lake.")


def test_first_distinct_keeps_the_best_ranked_carrier_and_counts_all_of_them():
    text = _texts(["a bridge .", "A bridge", "a river", "a bridge.", "a port", "a river ."])
    # ranked: 3 (bridge), 1 (bridge), 5 (river), 4 (port), 0 (bridge), 2 (river)
    assert first_distinct([3, 1, 5, 4, 0, 2], text, k=10) == [(3, 3), (5, 2), (4, 1)]
    assert first_distinct([3, 1, 5, 4, 0, 2], text, k=2) == [(3, 3), (5, 2)]


class _ExactTexts:
    """A caption store answering exactly from the vectors, recording how deep each search went."""

    def __init__(self, vectors: np.ndarray) -> None:
        self.vectors, self.depths = vectors.astype(np.float32), []

    def nearest_texts(self, q: np.ndarray, n: int) -> np.ndarray:
        self.depths.append(n)
        return np.argsort(-(self.vectors @ q.T).max(axis=1), kind="stable")[:n]


def test_rank_texts_searches_deeper_until_k_distinct_captions():
    from types import SimpleNamespace

    from geoseek.search.engine import SearchEngine
    from geoseek.search.query import QueryViews

    rng = np.random.default_rng(0)
    q = np.zeros((1, 8), np.float32)
    q[0, 0] = 1.0
    near = np.tile(q, (40, 1)) + 0.01 * rng.standard_normal((40, 8))  # 40 carriers of one caption, nearest the query
    far = 0.5 * np.eye(8)[1:].repeat(2, axis=0)[:10] + 0.01 * rng.standard_normal((10, 8))
    vecs = np.vstack([near, far]).astype(np.float16)
    text = TextData(index=None, vectors=vecs, text_ids=[f"t{i}" for i in range(50)],
                    texts=["a bridge over a river ."] * 40 + [f"scene number {i}" for i in range(10)],
                    image_ids=[f"img{i}" for i in range(50)])
    store = _ExactTexts(vecs)
    state = SimpleNamespace(text=text, vector_store=store)
    hits = SearchEngine._rank_texts(None, state, QueryViews({"global": q}), 5, ["global"], {"global": 1.0})
    assert len(hits) == 5 and len({h.text for h in hits}) == 5
    assert hits[0].text == "a bridge over a river ." and hits[0].count == 40
    assert all(h.count == 1 for h in hits[1:])
    assert store.depths[0] < 40 and store.depths[-1] == 50  # the first search saw only carriers of one caption
    raw = SearchEngine._rank_texts(None, state, QueryViews({"global": q}), 5, ["global"], {"global": 1.0}, distinct=False)
    assert len({h.text for h in raw}) == 1 and len(raw) == 5
