"""Column files: a published version's vectors and view metadata are memory-mapped .npy arrays derived from the
Parquet shards; reading them gives exactly what reading the shards gives, search answers the same, a version
without them (an older GeoSeek's) is still read from the shards, and image rows are fetched on demand."""
from __future__ import annotations

import shutil

import numpy as np

from geoseek.index.columns import COLUMNS_DIR
from geoseek.index.images import CatalogRows
from geoseek.index.layout import IndexDir
from geoseek.index.version import read_version
from geoseek.search import Filters, SearchEngine


def _without_columns(src, dst):
    """A copy of the index whose current version has no column files, as an older GeoSeek published it."""
    shutil.copytree(src, dst)
    idx = IndexDir(dst)
    shutil.rmtree(idx.version_path(idx.current()) / COLUMNS_DIR)
    return dst


def test_columns_are_memory_mapped_and_equal_to_the_shards(small_index, tmp_path):
    mapped = read_version(small_index.root)
    legacy = read_version(_without_columns(small_index.root, tmp_path / "legacy"))
    assert mapped.images.ids == legacy.images.ids and mapped.images.paths == legacy.images.paths
    for level, a in mapped.levels.items():
        b = legacy.levels[level]
        assert isinstance(a.vectors, np.memmap) and not isinstance(b.vectors, np.memmap)
        assert a.vectors.dtype == np.float16 and a.size == b.size > 0
        for field in ("vectors", "image_idx", "bbox", "node_box", "depth", "starts", "ends"):
            np.testing.assert_array_equal(np.asarray(getattr(a, field)), np.asarray(getattr(b, field)), err_msg=field)
        np.testing.assert_array_equal(np.asarray(a.bounds), b.bounds)  # NaN where not georeferenced, in both
    assert isinstance(mapped.text.vectors, np.memmap)
    np.testing.assert_array_equal(np.asarray(mapped.text.vectors), legacy.text.vectors)
    assert mapped.text.texts == legacy.text.texts


def test_search_answers_the_same_from_columns_and_from_shards(small_index, tmp_path):
    mapped = SearchEngine(small_index.root, device="cpu")
    legacy = SearchEngine(_without_columns(small_index.root, tmp_path / "legacy"), device="cpu", encoder=mapped.encoder)
    for query, filters in (("planes near a terminal", None), ("houses", Filters(bbox=(-94.6, 37.0, -94.4, 37.2)))):
        a, b = mapped.search_text(query, k=8, filters=filters), legacy.search_text(query, k=8, filters=filters)
        assert [(h.image_id, round(h.score, 6), h.region_box, h.datetime) for h in a.results] == \
               [(h.image_id, round(h.score, 6), h.region_box, h.datetime) for h in b.results]
    texts = mapped.search_image(small_index.chip0.read_bytes(), target="texts", k=5)
    assert [t.text_id for t in texts.results] == [t.text_id for t in legacy.search_image(small_index.chip0.read_bytes(),
                                                                                            target="texts", k=5).results]


def test_image_rows_are_fetched_when_asked_for(small_index):
    images = read_version(small_index.root).images
    rows = images.rows
    assert isinstance(rows, CatalogRows) and len(rows) == len(images.ids) and not rows._cache
    some = images.ids[:3]
    rows.prefetch(some)
    assert sorted(rows._cache) == sorted(some) and rows[some[1]].image_id == some[1]
    assert {r.image_id for r in rows.values()} == set(images.ids)  # iterating does not keep them all
    assert len(rows._cache) == 3
    assert any(r.endswith("geo_a") for r in images.source_roots)  # the folders the API shows paths below
