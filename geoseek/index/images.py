"""The image records of one index version: columns for what every search scans, catalog rows on demand.

Filters and hits need each image's id, path, size, datetime and collection: these are arrays (``ImageTable``).
The full catalog row (georeference, STAC link, display, tiles) is needed only for the few images a request
returns, so ``CatalogRows`` fetches those rows when asked and keeps the most recent ones; holding every row
as an ORM object costs about 3 KB per image (3 GB at a million images).
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

import numpy as np
from sqlalchemy import select

from geoseek.index.catalog import Catalog, ImageRow
from geoseek.schemas.errors import IndexFormatError

CHUNK = 900  # ids per IN (...) query: under SQLite's bound-parameter limit


@dataclass
class ImageTable:
    ids: list[str]
    index_of: dict[str, int]
    paths: list[str]
    width: np.ndarray
    height: np.ndarray
    datetime: np.ndarray  # numpy datetime64[s], NaT where unknown
    collection: np.ndarray  # object array of str
    rows: Mapping[str, ImageRow]  # image id -> catalog row (a dict, or CatalogRows fetching on demand)
    source_roots: list[str] | None = None  # the distinct source folders images were indexed from (None: see rows)


class CatalogRows(Mapping[str, ImageRow]):
    """The catalog rows of a version's images by id, fetched on first use and kept (the ``keep`` most recent)."""

    def __init__(self, catalog: Catalog, index_of: dict[str, int], keep: int = 8192) -> None:
        self.catalog, self.index_of, self.keep = catalog, index_of, keep
        self._cache: OrderedDict[str, ImageRow] = OrderedDict()
        self._lock = threading.Lock()

    def _query(self, ids: list[str]) -> dict[str, ImageRow]:
        found: dict[str, ImageRow] = {}
        with self.catalog.session() as s:
            for start in range(0, len(ids), CHUNK):
                found.update((r.image_id, r) for r in s.query(ImageRow).filter(ImageRow.image_id.in_(ids[start : start + CHUNK])))
        return found

    def prefetch(self, ids: Iterable[str]) -> None:
        """Fetch the rows of ``ids`` not yet kept, in one query per 900 (a search's hits before they are built)."""
        with self._lock:
            missing = [i for i in dict.fromkeys(ids) if i not in self._cache and i in self.index_of]
        if not missing:
            return
        found = self._query(missing)
        with self._lock:
            self._cache.update(found)
            while len(self._cache) > max(self.keep, len(found)):
                self._cache.popitem(last=False)

    def __getitem__(self, image_id: str) -> ImageRow:
        with self._lock:
            row = self._cache.get(image_id)
            if row is not None:
                self._cache.move_to_end(image_id)
                return row
        if image_id not in self.index_of:
            raise KeyError(image_id)
        self.prefetch([image_id])
        with self._lock:
            row = self._cache.get(image_id)
        if row is None:
            raise IndexFormatError(f"catalog lacks image {image_id} of this index version")
        return row

    def __iter__(self) -> Iterator[str]:
        return iter(self.index_of)

    def __len__(self) -> int:
        return len(self.index_of)

    def values(self):  # one query per 900 rows, not one per row; not kept
        ids = list(self.index_of)
        for start in range(0, len(ids), CHUNK):
            found = self._query(ids[start : start + CHUNK])
            yield from (found[i] for i in ids[start : start + CHUNK] if i in found)


def load_images(catalog: Catalog, ids: list[str]) -> ImageTable:
    """The version's image columns from the catalog, in FAISS global-row order; rows are fetched on demand."""
    cols: dict[str, tuple] = {}
    with catalog.session() as s:
        q = select(ImageRow.image_id, ImageRow.path, ImageRow.width, ImageRow.height, ImageRow.datetime, ImageRow.collection)
        for start in range(0, len(ids), CHUNK):
            for r in s.execute(q.where(ImageRow.image_id.in_(ids[start : start + CHUNK]))):
                cols[r[0]] = r[1:]
        roots = s.execute(select(ImageRow.extra["source_root"].as_string()).distinct()).scalars().all()
    missing = [i for i in ids if i not in cols]
    if missing:
        raise IndexFormatError(f"catalog lacks {len(missing)} image(s) of this index version (e.g. {missing[0]})")
    ordered = [cols[i] for i in ids]
    index_of = {i: k for k, i in enumerate(ids)}
    dt = np.array([np.datetime64(r[3]) if r[3] else np.datetime64("NaT") for r in ordered], dtype="datetime64[s]")
    return ImageTable(ids, index_of, [r[0] for r in ordered], np.array([r[1] for r in ordered], dtype=np.int64),
                      np.array([r[2] for r in ordered], dtype=np.int64), dt,
                      np.array([r[4] for r in ordered], dtype=object), CatalogRows(catalog, index_of),
                      sorted(r for r in roots if r))
