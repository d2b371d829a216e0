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


def test_builder_chunks_read_a_memory_map_without_mapping_it(tmp_path):
    """The builder's float32 chunks and training sample equal the array's rows, from a whole memory map (read
    with file reads), a slice of one (read through the map) and a plain array alike."""
    from geoseek.index.columns import chunks, sample_rows

    a = np.random.default_rng(0).standard_normal((1000, 24)).astype(np.float16)
    np.save(tmp_path / "v.npy", a)
    mapped = np.load(tmp_path / "v.npy", mmap_mode="r")
    rows = np.sort(np.random.default_rng(1).choice(1000, 77, replace=False))
    for arr, ref in ((mapped, a), (mapped[130:], a[130:]), (a, a)):
        parts = list(chunks(arr, rows=300))
        assert [len(p) for p in parts] == [300] * (len(ref) // 300) + ([len(ref) % 300] if len(ref) % 300 else [])
        assert all(p.dtype == np.float32 for p in parts)
        np.testing.assert_array_equal(np.concatenate(parts), ref.astype(np.float32))
        inside = rows[rows < len(ref)]
        np.testing.assert_array_equal(sample_rows(arr, inside, chunk=128), ref[inside].astype(np.float32))
    assert sample_rows(mapped, np.zeros(0, np.int64)).shape == (0, 24)


def test_large_vector_files_are_read_with_pread_and_answer_the_same(small_index, tmp_path, monkeypatch):
    """Above PREAD_MIN_BYTES a level's rows are read with pread (read_rows), not through the map: the same rows
    in any order and multiplicity, the same search answers, and no vector page left mapped in the process."""
    import geoseek.index.columns as columns

    default = SearchEngine(small_index.root, device="cpu")
    assert not hasattr(default.state().levels["object"].vectors, "row_fd")  # a small index reads through the map
    monkeypatch.setattr(columns, "PREAD_MIN_BYTES", 0)
    pread = SearchEngine(small_index.root, device="cpu", encoder=default.encoder)
    vectors = pread.state().levels["object"].vectors
    assert isinstance(vectors.row_fd, int)
    for query, filters in (("planes near a terminal", None), ("houses", Filters(bbox=(-94.6, 37.0, -94.4, 37.2)))):
        a, b = default.search_text(query, k=8, filters=filters), pread.search_text(query, k=8, filters=filters)
        assert [(h.image_id, round(h.score, 6), h.object_box) for h in a.results] == \
               [(h.image_id, round(h.score, 6), h.object_box) for h in b.results]
    assert _resident_kb(vectors) == 0, "vector pages were read through the map"
    rows = np.array([5, 3, 4, 3, vectors.shape[0] - 1, 0, 1, 2, 9])
    np.testing.assert_array_equal(columns.read_rows(vectors, rows), np.asarray(vectors)[rows].astype(np.float32))
    assert columns.read_rows(vectors, np.zeros(0, np.int64)).shape == (0, vectors.shape[1])


def _resident_kb(arr: np.ndarray) -> int:
    """Resident kB of the mapping that holds ``arr``'s data, from /proc/self/smaps."""
    addr, inside = arr.ctypes.data, False
    for line in open("/proc/self/smaps"):
        head = line.split()
        if "-" in head[0] and len(head) >= 5 and not head[0].endswith(":"):
            lo, hi = (int(x, 16) for x in head[0].split("-"))
            inside = lo <= addr < hi
        elif inside and head[0] == "Rss:":
            return int(head[1])
    raise AssertionError("no mapping holds the array")
