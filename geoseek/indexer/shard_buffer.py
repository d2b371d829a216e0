"""The shard buffer: embedded images (and new captions of indexed ones) accumulate here and are
written as one shard's two Parquet files, then committed to the catalog in one transaction."""
from __future__ import annotations

import numpy as np

from geoseek.datasets.sources import SourceItem
from geoseek.index.catalog import CaptionRow, Catalog, ImageRow, ShardRow
from geoseek.index.layout import IndexDir
from geoseek.index.shards import write_shard
from geoseek.models import Encoder
from geoseek.views.embed import VIEW_COLUMNS, EmbeddedImage


def _datetime(p) -> str | None:
    """A STAC Item's datetime where the image came from one (the catalogue's word), else the raster's own."""
    stac = p.item.extra.get("stac") or {}
    return stac.get("datetime") or p.datetime


def _row_extra(item: SourceItem, display: dict | None = None) -> dict:
    """The catalog row's ``extra``: the item's own, a mosaic's tile paths, the source root it came from
    (``source_root``, as given to the indexer: the API shows paths relative to it) and the ``display`` (bands and
    8-bit scaling, ``geoseek.views.bands.Display`` as JSON) it was indexed with, so later reads show the same."""
    extra = dict(item.extra)
    if display is not None:
        extra["display"] = display
    if len(item.paths) > 1:
        extra["band_files" if item.stacked else "tiles"] = [str(x) for x in item.paths]
    if item.root is not None:
        extra["source_root"] = str(item.root)
    return extra


class ShardBuffer:
    """Accumulates embedded images and writes/commits them as one shard."""

    def __init__(self, idx: IndexDir, catalog: Catalog, encoder: Encoder, run: str, meta: dict[str, str]) -> None:
        self.idx, self.catalog, self.encoder, self.run = idx, catalog, encoder, run
        self.meta = meta  # written with the first shard, so a run that commits nothing decides nothing
        self.images: list[EmbeddedImage] = []
        self.extra_captions: list[CaptionRow] = []
        self.seq = 0
        self.text_cache: dict[str, np.ndarray] = {}

    def add(self, embedded: list[EmbeddedImage]) -> None:
        self.images += embedded

    def add_captions(self, known: dict[str, SourceItem]) -> int:
        """Queue captions of already-indexed images that the catalog does not have yet; returns how many."""
        existing = self.catalog.captions_of(list(known))
        for image_id, item in known.items():
            have = existing.get(image_id, [])
            seen = set(have)
            for text in item.captions:
                if text not in seen:
                    seen.add(text)
                    self.extra_captions.append(CaptionRow(text_id=f"{image_id}:{len(have)}", image_id=image_id, text=text,
                                                          split=item.split))
                    have = have + [text]
        return len(self.extra_captions)

    def _encode_texts(self, texts: list[str]) -> np.ndarray:
        if len(self.text_cache) > 500_000:  # bounded: repeated captions are the common case, not the rule
            self.text_cache.clear()
        missing = sorted({t for t in texts if t not in self.text_cache})
        for t, v in zip(missing, self.encoder.encode_texts(missing)):
            self.text_cache[t] = v
        return np.stack([self.text_cache[t] for t in texts]) if texts else np.zeros((0, self.encoder.dim), np.float32)

    def _path(self, p) -> str:
        """The catalog path: the file, or for a mosaic its manifest ``mosaics/<id>.json`` in the index
        directory (a real file listing the tiles, written before the shard that names it is committed), or for a
        band stack its VRT ``stacks/<id>.vrt`` (GDAL and QGIS open it as the 3-band image)."""
        if len(p.item.paths) == 1:
            return p.item.display_path
        if p.item.stacked:
            return self.idx.write_stack(p.image_id, p.vrt)
        g = p.georef
        return self.idx.write_mosaic(p.image_id, [str(x) for x in p.item.paths], width=p.width, height=p.height,
                                     crs=g.crs if g else None, bounds=list(g.bounds) if g else None,
                                     bounds_wgs84=list(g.bounds_wgs84) if g else None)

    def flush(self) -> int:
        """Write and commit the buffered images as one shard; returns views written."""
        if not self.images and not self.extra_captions:
            return 0
        name = f"{self.run}-{self.seq:05d}"
        self.seq += 1
        views = {k: [v for e in self.images for v in e.rows[k]] for k in VIEW_COLUMNS}
        vvecs = np.concatenate([e.vectors for e in self.images]) if self.images else np.zeros((0, self.encoder.dim), np.float32)
        texts = {"text_id": [], "image_id": [], "text": [], "split": []}
        images, captions = [], []
        for c in self.extra_captions:
            c.shard = name
            for key, val in zip(texts, (c.text_id, c.image_id, c.text, c.split)):
                texts[key].append(val)
            captions.append(c)
        for e in self.images:
            p = e.prepared
            for k, text in enumerate(p.item.captions):
                tid = f"{p.image_id}:{k}"
                for key, val in zip(texts, (tid, p.image_id, text, p.item.split)):
                    texts[key].append(val)
                captions.append(CaptionRow(text_id=tid, image_id=p.image_id, text=text, split=p.item.split, shard=name))
            g = p.georef
            images.append(ImageRow(
                image_id=p.image_id, path=self._path(p), collection=p.item.collection, split=p.item.split,
                width=p.width, height=p.height, format=p.format, crs=g.crs if g else None,
                bounds=list(g.bounds) if g else None, bounds_wgs84=list(g.bounds_wgs84) if g else None,
                gsd=list(g.gsd) if g else None, datetime=_datetime(p), n_global=e.counts["global"],
                n_region=e.counts["region"], n_object=e.counts["object"], shard=name,
                extra=_row_extra(p.item, p.display)))
        tvecs = self._encode_texts(texts["text"])
        write_shard(self.idx.shards, name, views, vvecs, texts, tvecs, self.encoder.dim)
        self.catalog.commit_shard(ShardRow(name=name, n_images=len(images), n_views=len(vvecs), n_captions=len(captions)),
                                  images, captions, self.meta)
        self.images, self.extra_captions, self.meta = [], [], {}
        return len(vvecs)
