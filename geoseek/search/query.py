"""Query views: an uploaded image becomes its own global, region and object views (same pipeline as
indexing); a text becomes its sentence vector, and at an object level of dense-grid cells also its
content-token vectors, scored by the late interaction the object loss trains."""
from __future__ import annotations

import io
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from geoseek.datasets.formats import IMAGE_SUFFIXES
from geoseek.datasets.sources import SourceItem
from geoseek.models import Encoder
from geoseek.schemas import IndexManifest
from geoseek.schemas.errors import QueryImageError, UnsupportedImageError  # noqa: F401 - QueryImageError re-exported
from geoseek.search.state import IndexState
from geoseek.views.embed import ViewEmbedder, prepare_image
from geoseek.views.rasters import RasterError


@dataclass
class QueryViews:
    """Query vectors per level: (m, D) float32 each.

    Levels in ``late`` are scored by late interaction (the mean over the m query vectors of each one's
    best view); the others by the best (query, view) pair.
    """

    by_level: dict[str, np.ndarray]
    late: frozenset[str] = frozenset()


def late_levels(manifest: IndexManifest) -> frozenset[str]:
    """The levels of an index scored by late interaction: the object level when it stores dense-grid cells."""
    return frozenset({"object"}) if "object" in manifest.levels and manifest.objects.views == "cells" else frozenset()


@dataclass(frozen=True)
class EncodedText:
    """An encoded text query: its sentence vector (D,) and, for an index with a late-interaction level,
    its content-token vectors (T, D) (``Encoder.encode_texts_with_tokens``; None: the sentence stands in)."""

    sentence: np.ndarray
    tokens: np.ndarray | None = None


def encode_text_queries(encoder: Encoder, texts: list[str], manifest: IndexManifest,
                        levels: list[str] | None = None) -> list[EncodedText]:
    """Texts -> what text->image search scores them with; tokens only where one of ``levels`` (default: the
    index's) is scored by late interaction."""
    if not late_levels(manifest) & set(levels or manifest.levels):
        return [EncodedText(v) for v in encoder.encode_texts(texts)]
    sentences, tokens = encoder.encode_texts_with_tokens(texts)  # both from one pass of the default text tower
    return [EncodedText(v, t) for v, t in zip(sentences, tokens)]


def text_views(query: np.ndarray | EncodedText, levels: list[str], manifest: IndexManifest) -> QueryViews:
    """A text's query views: its sentence vector at every level, its tokens at a late-interaction level.
    A bare (D,) vector, or an EncodedText without tokens (None or none at all), is scored by its sentence."""
    query = query if isinstance(query, EncodedText) else EncodedText(np.asarray(query))
    q = np.asarray(query.sentence, np.float32).reshape(1, -1)
    late = late_levels(manifest) & set(levels)
    tokens = None if query.tokens is None or len(query.tokens) == 0 else np.asarray(query.tokens, np.float32)
    by_level = {lv: tokens if lv in late and tokens is not None else q
                for lv in levels}
    return QueryViews(by_level, frozenset(late))


MAX_QUERY_PIXELS = 64_000_000  # a query image is planned and encoded inside one request


def _check_pixels(data: bytes) -> None:
    try:
        with Image.open(io.BytesIO(data)) as im:
            w, h = im.size
    except Exception:  # noqa: BLE001 - unreadable headers are reported by the full checks that follow
        return
    if w * h > MAX_QUERY_PIXELS:
        raise QueryImageError(f"query image is {w}x{h} ({w * h:,} px); the limit for queries is {MAX_QUERY_PIXELS:,} px")


def _suffix_for(data: bytes) -> str:
    if data[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):  # (Big)TIFF: rasterio reads more of them than PIL
        return ".tif"
    try:
        fmt = (Image.open(io.BytesIO(data)).format or "").lower()
    except Image.DecompressionBombError as exc:
        raise QueryImageError(f"decompression bomb guard: {exc}") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise QueryImageError(f"not a readable image ({type(exc).__name__})") from None
    suffix = {"jpeg": ".jpg", "tiff": ".tif"}.get(fmt, f".{fmt}")
    if suffix not in IMAGE_SUFFIXES:
        raise UnsupportedImageError(f"unsupported image format '{fmt}'; use JPEG, PNG, WebP, BMP or TIFF")
    return suffix


def encode_query_image(data: bytes, encoder: Encoder, manifest: IndexManifest) -> QueryViews:
    """Validate (same checks as indexing: bombs, band layout, truncation), plan views, encode them."""
    if not data:
        raise QueryImageError("the query image is empty (0 bytes)")
    _check_pixels(data)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"query{_suffix_for(data)}"
        path.write_bytes(data)
        try:
            prepared = prepare_image(SourceItem((path,), "query"), "query", encoder.image_size, manifest.dris,
                                     regions="region" in manifest.levels)
        except RasterError as exc:
            raise QueryImageError(str(exc)) from None
    embedded = ViewEmbedder(encoder, manifest.levels, manifest.objects)([prepared])[0]
    levels = np.array(embedded.rows["level"])
    return _pooled({lv: embedded.vectors[levels == lv] for lv in manifest.levels}, late_levels(manifest))


def _pooled(by_level: dict[str, np.ndarray], late: frozenset[str]) -> QueryViews:
    """Apply the index side's pooling rules to query views: regions include the global view;
    no object views means the region views stand in."""
    if "region" in by_level:
        by_level["region"] = np.concatenate([by_level["global"], by_level["region"]])
    if "object" in by_level and len(by_level["object"]) == 0:
        by_level["object"] = by_level.get("region", by_level["global"])
    return QueryViews(by_level, late)


def indexed_image_views(state: IndexState, image_id: str) -> QueryViews:
    """The stored view vectors of an indexed image, as query vectors."""
    i = state.images.index_of[image_id]
    # From the version's arrays, which every store keeps in memory: no round trip to a Milvus server per query.
    return _pooled({lv: d.vectors[d.starts[i] : d.ends[i]].astype(np.float32) for lv, d in state.levels.items()},
                   late_levels(state.manifest))
