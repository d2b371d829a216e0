"""The search engine: text->image, image->text and image->image over one index directory.

Read-only. Each request takes the current IndexState once and uses it throughout, so when a new
index version is published the engine loads (and warms) it on a background thread and then swaps
one reference: a request sees the old version or the new one, never a mix, no request waits for the
load, and no restart is needed.
"""
from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from geoseek.index.columns import read_rows
from geoseek.index.layout import IndexDir
from geoseek.models import Encoder, load_encoder
from geoseek.schemas import Direction, Level, LevelWeights, parse_levels
from geoseek.schemas.errors import QueryError, UnknownImageError  # noqa: F401 - raised here, re-exported
from geoseek.schemas.search import (
    MAX_K,
    MAX_QUERY_CHARS,
    Box,
    ImageHit,
    SearchResponse,
    StacLink,
    TextHit,
)
from geoseek.search.candidates import CANDIDATES_PER_K, late_search_queries
from geoseek.search.filters import Filters, image_mask, view_mask
from geoseek.search.fusion import LevelScores, fuse, reduce_queries, rescore_level, weighted_sum
from geoseek.search.query import (
    EncodedText,
    QueryViews,
    encode_query_image,
    encode_text_queries,
    indexed_image_views,
    text_views,
)
from geoseek.search.object_box import window_box
from geoseek.search.refine import refine_hits
from geoseek.search.state import IndexState
from geoseek.search.texts import first_distinct

log = logging.getLogger(__name__)


_LEVEL_POOL = ThreadPoolExecutor(max_workers=3, thread_name_prefix="geoseek-level")


STORE_GRACE_S = 120.0  # an old version's store connection stays open this long for requests still using it


def _retire(state: IndexState) -> None:
    """Close a replaced version's vector store once requests that took it have finished."""
    if state.store is not None:
        timer = threading.Timer(STORE_GRACE_S, state.store.close)
        timer.daemon = True
        timer.start()




def _stac_link(extra: dict | None) -> StacLink | None:
    """The STAC Item an indexed image came from (``extra["stac"]``, written by the indexer), if any."""
    stac = (extra or {}).get("stac")
    return StacLink(id=stac["id"], collection=stac.get("collection"), href=stac.get("self")) if stac else None


def _check(k: int, levels: list[str] | str | None, indexed: list[str]) -> list[Level]:
    """Validate k and the requested levels against the levels this index has (default: all of them)."""
    if not 1 <= k <= MAX_K:
        raise QueryError(f"k must be between 1 and {MAX_K}; got {k}")
    return parse_levels(levels, indexed)


def _object_window(state: IndexState, queries: QueryViews, image: int, row_mask: np.ndarray | None) -> Box | None:
    """A hit's object box on a late-interaction object level (search.object_box); None keeps the best cell's."""
    region = state.levels.get("region")
    views = 1 + (int(region.ends[image] - region.starts[image]) if region is not None else 0)
    box = window_box(state.levels["object"], image, queries.by_level["object"], queries.by_level["global"][0],
                     views, row_mask)
    return None if box is None else Box(x0=box[0], y0=box[1], x1=box[2], y1=box[3])


class SearchEngine:
    """Loads an index (and its model) once; answers searches; picks up new versions atomically."""

    def __init__(self, index: str | Path, *, encoder: Encoder | None = None, device: str = "auto",
                 catalog_url: str | None = None, state: IndexState | None = None, store: str | None = None) -> None:
        """``store``: where nearest-neighbour search runs: 'faiss' (default, the index directory's
        indices), ``milvus://host:port`` or a Milvus Lite ``.db`` path (see vector_store)."""
        self.root = Path(index)
        self.catalog_url = catalog_url
        self.store_spec = store
        self._lock = threading.Lock()  # held by the one background version loader while it runs
        self._loader: threading.Thread | None = None
        self._model_lock = threading.Lock()
        self._gpu = device != "cpu"  # `--device cpu` keeps FAISS on the CPU too
        self._state = state or IndexState.load(self.root, catalog_url, store, gpu=self._gpu)
        self._fixed = state is not None  # an in-memory state (benchmarks) is not reloaded from disk
        self._retry_at = 0.0  # after a failed load of a new version, wait before trying again
        self._encoder = encoder
        self._device = device

    # -- state ---------------------------------------------------------------------------
    def state(self) -> IndexState:
        """The current version's state. When CURRENT has moved, the new version is loaded and warmed on
        a background thread and swapped in when ready; until then every request (this one included)
        is answered from the old version, so no request waits for a load."""
        state = self._state
        if self._fixed:
            return state
        current = IndexDir(self.root).current()
        if current and current != state.version and time.monotonic() >= self._retry_at:
            self._load_in_background(current)
        return state

    def _load_in_background(self, version: str) -> None:
        """Start one loader thread for ``version`` unless one is running (it holds ``_lock`` throughout)."""
        if not self._lock.acquire(blocking=False):
            return
        try:
            self._loader = threading.Thread(target=self._load_and_swap, args=(version,), daemon=True,
                                            name="geoseek-version-loader")
            self._loader.start()
        except BaseException:
            self._lock.release()
            raise

    def _load_and_swap(self, version: str) -> None:
        try:
            if self._state.version == version:
                return
            started = time.perf_counter()
            new = IndexState.load(self.root, self.catalog_url, self.store_spec, gpu=self._gpu)
            self._warm(new)
            old, self._state = self._state, new
            log.info("switched to index version %s (loaded and warmed in %.1f s in the background)", new.version,
                     time.perf_counter() - started)
            _retire(old)
        except Exception:  # noqa: BLE001 - a broken new version must not take the service down
            log.exception("could not load index version %s; still serving %s", version, self._state.version)
            self._retry_at = time.monotonic() + 10.0
        finally:
            self._lock.release()

    def wait_for_version(self, timeout: float = 60.0) -> str:
        """Block until a version load started by ``state()`` has finished (tests, scripts); the version served."""
        self.state()
        if self._loader is not None:
            self._loader.join(timeout)
        return self._state.version

    def _warm(self, state: IndexState) -> None:
        """One throw-away text->image and image->text search on a loaded version, so that its first real
        request finds FAISS pages mapped and per-version caches built."""
        levels = list(state.manifest.levels)
        q = np.zeros((1, state.manifest.model.dim), np.float32)
        q[0, 0] = 1.0
        views = QueryViews({lv: q for lv in levels})
        fusion = state.manifest.fusion
        self._rank_images(state, views, 10, levels, fusion.text_to_image.normalised(levels), Filters())
        self._rank_texts(state, views, 10, levels, fusion.image_to_text.normalised(levels))

    @property
    def encoder(self) -> Encoder:
        model = self._state.manifest.model
        if self._encoder is None:
            with self._model_lock:
                if self._encoder is None:
                    self._encoder = load_encoder(model.spec, device=self._device, orientations=model.orientations)
        if self._encoder.id != model.id:
            raise QueryError(f"index was built with {model.id}, engine encoder is {self._encoder.id}")
        # Image queries are encoded as the index's views were (same orientation averaging).
        if self._encoder.orientations != model.orientations:
            self._encoder = self._encoder.oriented(model.orientations)
        return self._encoder

    # -- shared core ---------------------------------------------------------------------
    @staticmethod
    def _weights(state: IndexState, levels: list[Level], weights: LevelWeights | None,
                 direction: Direction) -> dict[Level, float]:
        """The request's weights (else the index's for this search direction) normalised over ``levels``."""
        return (weights or state.manifest.fusion.of(direction)).normalised(levels)

    def _rank_images(self, state: IndexState, queries: QueryViews, k: int, levels: list[str],
                     weights: dict[str, float], filters: Filters, exclude: int | None = None) -> list[ImageHit]:
        allowed = image_mask(state, filters)
        if exclude is not None:
            allowed[exclude] = False
        masks = {lv: view_mask(state.levels[lv].bounds, state.levels[lv].image_idx, allowed, filters)
                 if filters.active or exclude is not None else None for lv in levels}
        store = state.vector_store

        # FAISS searches one query on one thread and releases the GIL (and Milvus waits on its
        # socket): run the levels side by side.
        def level_candidates(lv: str) -> np.ndarray:
            q, n = queries.by_level[lv], CANDIDATES_PER_K * k
            if lv in queries.late:
                q, n = late_search_queries(q, n)
            return store.nearest_images(lv, q, n, filters, exclude, masks[lv])

        found = _LEVEL_POOL.map(level_candidates, levels) if len(levels) > 1 else map(level_candidates, levels)
        cands = np.unique(np.concatenate(list(found)))
        if len(cands) == 0:
            return []
        per_level = {lv: rescore_level(state.levels[lv], cands, queries.by_level[lv], masks[lv], late=lv in queries.late)
                     for lv in levels}
        fused, pooled = fuse(per_level, weights)
        order = [j for j in np.argsort(-fused, kind="stable")[:k] if np.isfinite(fused[j])]
        prefetch = getattr(state.images.rows, "prefetch", None)
        if prefetch is not None:  # the hits' catalog rows in one query, not one each
            prefetch(state.images.ids[int(cands[j])] for j in order)
        windows = {j: _object_window(state, queries, int(cands[j]), masks.get("object")) for j in order} \
            if "object" in queries.late and "object" in levels else {}
        return [self._image_hit(state, int(cands[j]), j, fused, pooled, per_level, windows.get(j)) for j in order]

    @staticmethod
    def _image_hit(state: IndexState, image: int, j: int, fused: np.ndarray, pooled: dict[str, np.ndarray],
                   per_level: dict[str, LevelScores], object_window: Box | None = None) -> ImageHit:
        imgs = state.images
        row = imgs.rows[imgs.ids[image]]

        def box(level: str) -> Box | None:
            ls = per_level.get(level)
            r = int(ls.best_row[j]) if ls is not None else -1
            if r < 0:
                if level == "region":  # the pool fell back to the global view: the whole image
                    return Box(x0=0, y0=0, x1=int(imgs.width[image]), y1=int(imgs.height[image]))
                return None
            x0, y0, x1, y1 = (int(v) for v in state.levels[level].bbox[r])
            return Box(x0=x0, y0=y0, x1=x1, y1=y1)

        region_box = box("region") if "region" in per_level else None
        if region_box is not None and per_level["region"].score[j] < per_level["global"].score[j]:
            region_box = Box(x0=0, y0=0, x1=int(imgs.width[image]), y1=int(imgs.height[image]))
        return ImageHit(
            image_id=imgs.ids[image], score=float(fused[j]), level_scores={lv: float(s[j]) for lv, s in pooled.items()},
            path=imgs.paths[image], width=int(imgs.width[image]), height=int(imgs.height[image]),
            collection=str(imgs.collection[image]), datetime=row.datetime, bounds_wgs84=row.bounds_wgs84,
            region_box=region_box, object_box=object_window or (box("object") if "object" in per_level else None),
            stac=_stac_link(row.extra))

    # -- public API ----------------------------------------------------------------------
    def search_text(self, query: str, k: int = 10, levels: list[str] | None = None, weights: LevelWeights | None = None,
                    filters: Filters | None = None, refine: bool = False, refine_top: int = 5) -> SearchResponse:
        """Text -> image with hierarchical fusion; ``levels=['global']`` is the global-only baseline;
        ``refine`` zooms into the best region of the top ``refine_top`` hits."""
        start = time.perf_counter()
        if not query or not query.strip():
            raise QueryError("query is empty")
        if len(query) > MAX_QUERY_CHARS:
            raise QueryError(f"query is {len(query)} characters; the limit is {MAX_QUERY_CHARS}")
        levels = _check(k, levels, self._state.manifest.levels)
        q = self.encode_text_queries([query.strip()], levels)[0]
        return self.search_text_vector(q, k, levels, weights, filters, refine, refine_top, started=start)

    def encode_text_queries(self, texts: list[str], levels: list[str] | None = None) -> list[EncodedText]:
        """Texts -> encoded queries for this index: sentence vectors, plus content tokens where an object level
        of dense-grid cells is scored by the late interaction it was trained with."""
        return encode_text_queries(self.encoder, texts, self._state.manifest, levels)

    def search_text_vector(self, q: np.ndarray | EncodedText, k: int = 10, levels: list[str] | None = None, weights: LevelWeights | None = None,
                           filters: Filters | None = None, refine: bool = False, refine_top: int = 5,
                           started: float | None = None) -> SearchResponse:
        """Text -> image for an already encoded query -- what latency benchmarks time: an EncodedText
        (``encode_text_queries``), or a bare sentence vector (D,) scored without tokens."""
        start = time.perf_counter() if started is None else started
        state = self.state()
        levels = _check(k, levels, state.manifest.levels)
        w = self._weights(state, levels, weights, "text_to_image")
        views = text_views(q, levels, state.manifest)
        hits = self._rank_images(state, views, k, levels, w, filters or Filters())
        if refine:
            hits = refine_hits(state, hits, views.by_level["global"][0], self.encoder, w, top=refine_top)
        return SearchResponse(version=state.version, levels=levels, weights=w, took_ms=1000 * (time.perf_counter() - start),
                              results=hits)

    def query_views(self, image: bytes | str) -> tuple[IndexState, QueryViews, int | None]:
        """Query vectors for an uploaded image (bytes) or an indexed image id (str)."""
        state = self.state()
        if isinstance(image, str):
            if image not in state.images.index_of:
                raise UnknownImageError(image)
            return state, indexed_image_views(state, image), state.images.index_of[image]
        return state, encode_query_image(image, self.encoder, state.manifest), None

    def search_image(self, image: bytes | str, target: str = "images", k: int = 10, levels: list[str] | None = None,
                     weights: LevelWeights | None = None, filters: Filters | None = None,
                     distinct: bool = True) -> SearchResponse:
        """Image -> image (similar images; an indexed query image is left out) or image -> text (captions;
        ``distinct``: one hit per caption text, the default; False returns every carrier)."""
        start = time.perf_counter()
        if target not in ("images", "texts"):
            raise QueryError(f"target must be 'images' or 'texts'; got '{target}'")
        if target == "texts" and filters is not None and filters.active:
            raise QueryError("filters apply to images; captions (target=texts) cannot be filtered by bbox or date")
        levels = _check(k, levels, self._state.manifest.levels)
        state, views, own = self.query_views(image)
        w = self._weights(state, levels, weights, "image_to_image" if target == "images" else "image_to_text")
        if target == "images":
            results = self._rank_images(state, views, k, levels, w, filters or Filters(), exclude=own)
        else:
            results = self._rank_texts(state, views, k, levels, w, distinct)
        return SearchResponse(version=state.version, levels=levels, weights=w, took_ms=1000 * (time.perf_counter() - start),
                              results=results)

    def _rank_texts(self, state: IndexState, views: QueryViews, k: int, levels: list[str],
                    weights: dict[str, float], distinct: bool = True) -> list[TextHit]:
        """The k best captions; ``distinct``: one hit per caption text (with how many captions share it),
        widening the candidate search until k distinct texts are found or the gallery is exhausted."""
        text = state.text
        n_texts = len(text.text_ids)
        if not n_texts:
            return []
        depth = CANDIDATES_PER_K * k
        while True:
            cands = np.unique(np.concatenate([state.vector_store.nearest_texts(views.by_level[lv], min(depth, n_texts))
                                              for lv in levels]))
            vecs = read_rows(text.vectors, cands)
            pooled = {lv: reduce_queries(vecs @ views.by_level[lv].T, lv in views.late) for lv in levels}
            fused = weighted_sum(pooled, weights)
            order = np.argsort(-fused, kind="stable")
            if not distinct:
                picked = [(int(j), 1) for j in order[:k]]
                break
            by_row = {int(cands[j]): int(j) for j in order}
            picked = [(by_row[row], n) for row, n in first_distinct([int(cands[j]) for j in order], text, k)]
            if len(picked) >= k or depth >= n_texts:
                break
            depth *= 4
        return [TextHit(text_id=text.text_ids[cands[j]], text=text.texts[cands[j]], image_id=text.image_ids[cands[j]],
                        score=float(fused[j]), level_scores={lv: float(pooled[lv][j]) for lv in levels}, count=n)
                for j, n in picked]
