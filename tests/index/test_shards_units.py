"""Parquet shards round-trip synthetic rows (float16 vectors), and the index directory's versions,
CURRENT switch, pruning, writer lock and manifest-only publishing, on tmp_path."""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import geoseek.index.layout as layout
from geoseek.index.layout import KEEP_VERSIONS, IndexDir
from geoseek.index.shards import (
    read_boxes,
    read_strings,
    read_texts,
    read_vectors,
    read_views,
    write_shard,
)
from geoseek.schemas import FusionWeights, IndexManifest, LevelWeights
from geoseek.schemas.errors import IndexFormatError, IndexLockedError
from geoseek.schemas.manifest import (
    DRISParams,
    LevelIndexInfo,
    ModelInfo,
    ObjectParams,
    ViewCounts,
)

DIM = 12
LEVEL_OF = ["global", "region", "region", "object"]


def synthetic_rows(seed: int, n_images: int = 5):
    """Views (a global, two regions and an object per image) and 0-2 captions per image, as write_shard takes them."""
    rng = np.random.default_rng(seed)
    views = {k: [] for k in ("node_id", "image_id", "level", "parent", "depth", "bbox", "node_box", "complexity",
                             "saliency", "west", "south", "east", "north")}
    texts = {k: [] for k in ("text_id", "image_id", "text", "split")}
    for i in range(n_images):
        iid = f"s{seed}-img{i}"
        georef = i % 2 == 0
        for j, level in enumerate(LEVEL_OF):
            box = [int(x) for x in rng.integers(0, 5000, 4)]
            views["node_id"].append(f"{iid}/{j}")
            views["image_id"].append(iid)
            views["level"].append(level)
            views["parent"].append(-1 if j == 0 else 0)
            views["depth"].append(0 if j == 0 else 1)
            views["bbox"].append(box)
            views["node_box"].append([box[0], box[1], box[2] + 1, box[3] + 1])
            views["complexity"].append(float(rng.random()))
            views["saliency"].append(float(rng.random()))
            for k, c in enumerate(("west", "south", "east", "north")):
                views[c].append(float(rng.uniform(-100, 100)) + k if georef else float("nan"))
        for t in range(i % 3):
            texts["text_id"].append(f"{iid}#{t}")
            texts["image_id"].append(iid)
            texts["text"].append(f"caption {t} of image {i}: some ünïcode")
            texts["split"].append("train" if t == 0 else "test")
    view_vectors = rng.standard_normal((len(views["node_id"]), DIM)).astype(np.float32) * 3
    text_vectors = rng.standard_normal((len(texts["text_id"]), DIM)).astype(np.float32)
    return views, view_vectors, texts, text_vectors


def f16(x: np.ndarray) -> np.ndarray:
    return x.astype(np.float16).astype(np.float32)


def test_write_shard_round_trip(tmp_path):
    views, vv, texts, tv = synthetic_rows(1)
    write_shard(tmp_path, "a", views, vv, texts, tv, DIM)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.texts.parquet", "a.views.parquet"]  # no temp file left

    t = read_views([tmp_path / "a.views.parquet"])
    assert t.num_rows == len(views["node_id"])
    assert list(read_strings(t, "image_id")) == views["image_id"]
    assert list(read_strings(t, "level")) == views["level"]
    np.testing.assert_array_equal(read_boxes(t, "bbox"), np.array(views["bbox"], np.int32))
    np.testing.assert_array_equal(read_boxes(t, "node_box"), np.array(views["node_box"], np.int32))
    assert read_boxes(t, "bbox").dtype == np.int32 and read_boxes(t, "bbox").shape == (t.num_rows, 4)
    assert t.column("depth").to_pylist() == views["depth"]
    for c in ("west", "south", "east", "north"):
        np.testing.assert_array_equal(t.column(c).to_numpy(zero_copy_only=False), np.array(views[c]))  # NaN == NaN here
    got = read_vectors(t)
    assert got.dtype == np.float32 and got.shape == vv.shape
    np.testing.assert_array_equal(got, f16(vv))
    assert not np.array_equal(got, vv)  # the shard really stores float16
    half = read_vectors(t, dtype=np.float16)
    assert half.dtype == np.float16
    np.testing.assert_array_equal(half, vv.astype(np.float16))

    # Columns outside the search set on request.
    extra = read_views([tmp_path / "a.views.parquet"], columns=["node_id", "parent", "complexity", "saliency"])
    assert extra.column_names == ["node_id", "parent", "complexity", "saliency"]
    assert extra.column("node_id").to_pylist() == views["node_id"]
    assert extra.column("parent").to_pylist() == views["parent"]
    np.testing.assert_array_equal(extra.column("complexity").to_numpy(), np.array(views["complexity"], np.float32))

    tt = read_texts([tmp_path / "a.texts.parquet"])
    assert tt.column("text_id").to_pylist() == texts["text_id"]
    assert tt.column("image_id").to_pylist() == texts["image_id"]
    assert tt.column("text").to_pylist() == texts["text"]
    np.testing.assert_array_equal(read_vectors(tt), f16(tv))
    assert read_texts([tmp_path / "a.texts.parquet"], columns=["split"]).column("split").to_pylist() == texts["split"]


def test_several_shards_keep_file_order(tmp_path):
    rows = {name: synthetic_rows(seed) for name, seed in (("b", 2), ("a", 3), ("c", 4))}
    for name, (views, vv, texts, tv) in rows.items():
        write_shard(tmp_path, name, views, vv, texts, tv, DIM)
    order = ["b", "a", "c"]  # not alphabetical: the caller's order is kept
    view_files = [tmp_path / f"{n}.views.parquet" for n in order]
    text_files = [tmp_path / f"{n}.texts.parquet" for n in order]
    t = read_views(view_files)
    assert list(read_strings(t, "image_id")) == sum((rows[n][0]["image_id"] for n in order), [])
    np.testing.assert_array_equal(read_vectors(t), f16(np.concatenate([rows[n][1] for n in order])))
    np.testing.assert_array_equal(read_vectors(read_texts(text_files)), f16(np.concatenate([rows[n][3] for n in order])))


def test_shard_without_captions(tmp_path):
    views, vv, texts, tv = synthetic_rows(5, n_images=1)  # image 0 has 0 captions
    assert tv.shape == (0, DIM)
    write_shard(tmp_path, "e", views, vv, texts, tv, DIM)
    tt = read_texts([tmp_path / "e.texts.parquet"])
    assert tt.num_rows == 0 and read_vectors(tt).shape == (0, DIM)
    assert read_views([tmp_path / "e.views.parquet"]).num_rows == len(LEVEL_OF)


def test_read_views_unknown_column(tmp_path):
    views, vv, texts, tv = synthetic_rows(6)
    write_shard(tmp_path, "a", views, vv, texts, tv, DIM)
    with pytest.raises(ValueError, match=r"not shard columns: \['colour', 'text'\]"):
        read_views([tmp_path / "a.views.parquet"], columns=["image_id", "colour", "text"])
    with pytest.raises(ValueError, match="level"):
        read_texts([tmp_path / "a.texts.parquet"], columns=["level"])  # a views column, not a texts one


def test_rewrite_replaces_atomically_and_leaves_no_temp(tmp_path, monkeypatch):
    views, vv, texts, tv = synthetic_rows(7)
    write_shard(tmp_path, "a", views, vv, texts, tv, DIM)
    replaced = []
    real_replace = os.replace

    def spy(src, dst):
        # At the moment of the rename, the target still holds the complete old file.
        replaced.append((Path(src).name, Path(dst).name, read_views([Path(dst)]).num_rows if str(dst).endswith("views.parquet") else None))
        return real_replace(src, dst)

    monkeypatch.setattr("geoseek.index.shards.os.replace", spy)
    views2, vv2, texts2, tv2 = synthetic_rows(8, n_images=2)
    write_shard(tmp_path, "a", views2, vv2, texts2, tv2, DIM)
    assert [(s, d) for s, d, _ in replaced] == [(".a.texts.parquet.tmp", "a.texts.parquet"),
                                                (".a.views.parquet.tmp", "a.views.parquet")]
    assert replaced[1][2] == len(views["node_id"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.texts.parquet", "a.views.parquet"]
    np.testing.assert_array_equal(read_vectors(read_views([tmp_path / "a.views.parquet"])), f16(vv2))


# -- IndexDir --------------------------------------------------------------------------------------

def manifest(version: str = "v0001", fusion: FusionWeights | None = None) -> IndexManifest:
    extra = {"fusion": fusion} if fusion is not None else {}
    return IndexManifest(version=version, geoseek_version="-", faiss_version="-",
                         model=ModelInfo(spec="synthetic", id="synthetic", dim=DIM, image_size=64),
                         levels=["global"], dris=DRISParams(), objects=ObjectParams(), images=1, captions=0,
                         views=ViewCounts(**{"global": 1}),
                         indices={"global": LevelIndexInfo(kind="flat", count=1, file="global.faiss")},
                         view_shards=["a.views.parquet"], text_shards=["a.texts.parquet"], **extra)


def publish_one(idx: IndexDir, payload: str = "x") -> str:
    v = idx.next_version()
    staging = idx.staging(v)
    (staging / "global.faiss").write_text(payload)
    (staging / "vectors" / "a.views.parquet").write_text(payload + "-views")
    idx.write_manifest(staging, manifest(v))
    idx.publish(staging, v)
    return v


def test_next_version_and_list_versions(tmp_path):
    idx = IndexDir(tmp_path / "ix")
    assert idx.list_versions() == [] and idx.next_version() == "v0001"
    assert idx.current() is None and idx.manifest() is None and not idx.exists()
    idx.create()
    assert idx.exists()
    for name in ("v0007", "v0002", ".v0009.staging", "v12", "vx001", "notes"):
        (idx.versions / name).mkdir()
    assert idx.list_versions() == ["v0002", "v0007"]
    assert idx.next_version() == "v0008"
    (idx.versions / "v0123").mkdir()
    assert idx.next_version() == "v0124"


def test_staging_and_publish_switch_current(tmp_path, monkeypatch):
    idx = IndexDir(tmp_path / "ix")
    idx.create()
    v1 = publish_one(idx, "one")
    assert v1 == "v0001" and idx.current() == "v0001"
    assert (idx.root / "CURRENT").read_text() == "v0001\n"
    assert idx.manifest().version == "v0001"

    # A second staging of the same version starts empty.
    staging = idx.staging("v0002")
    assert staging.name == ".v0002.staging" and (staging / "vectors").is_dir()
    (staging / "stale").write_text("left by a killed run")
    staging = idx.staging("v0002")
    assert sorted(p.name for p in staging.iterdir()) == ["vectors"]
    (staging / "global.faiss").write_text("two")
    idx.write_manifest(staging, manifest("v0002"))
    assert idx.current() == "v0001"  # staging is invisible to readers

    seen = []
    real_replace = os.replace

    def spy(src, dst):
        src, dst = Path(src), Path(dst)
        if dst.name == "CURRENT":
            # CURRENT switches by one rename of a complete file, after the version is in place.
            seen.append((src.read_text(), dst.read_text(), (idx.versions / "v0002" / "manifest.json").is_file(),
                         staging.exists()))
        return real_replace(src, dst)

    monkeypatch.setattr(layout.os, "replace", spy)
    idx.publish(staging, "v0002")
    assert seen == [("v0002\n", "v0001\n", True, False)]
    assert idx.current() == "v0002" and idx.manifest().version == "v0002"
    assert (idx.versions / "v0002" / "global.faiss").read_text() == "two"
    assert not staging.exists()
    assert not any(p.name.endswith(".tmp") for p in idx.root.iterdir())
    assert idx.list_versions() == ["v0001", "v0002"]


def test_prune_keeps_newest_and_current(tmp_path):
    idx = IndexDir(tmp_path / "ix")
    idx.create()
    published = [publish_one(idx, str(i)) for i in range(KEEP_VERSIONS + 3)]
    assert published == [f"v{i:04d}" for i in range(1, KEEP_VERSIONS + 4)]
    assert idx.list_versions() == published[-KEEP_VERSIONS:]
    assert idx.current() == published[-1]
    # Rolled back to an old version: pruning keeps it as well as the newest ones.
    for v in ("v0001", "v0002"):
        (idx.versions / v).mkdir()
    (idx.root / "CURRENT").write_text("v0001\n")
    idx.prune()
    assert idx.list_versions() == ["v0001"] + published[-KEEP_VERSIONS:]


def test_lock_is_exclusive(tmp_path):
    root = tmp_path / "ix"
    idx = IndexDir(root)
    with idx.lock():
        # Same process, another IndexDir object: flock is per open file, so this conflicts too.
        with pytest.raises(IndexLockedError) as err:
            with IndexDir(root).lock():
                pass
        assert str(root) in str(err.value) and "--wait" in str(err.value)
        assert isinstance(err.value, RuntimeError)

        errors = []

        def other():
            try:
                with IndexDir(root).lock(wait_s=0.3):
                    errors.append(None)
            except IndexLockedError as exc:
                errors.append(exc)

        t0 = time.monotonic()
        th = threading.Thread(target=other)
        th.start()
        th.join(10)
        assert len(errors) == 1 and isinstance(errors[0], IndexLockedError)
        assert str(root) in str(errors[0]) and "waited" in str(errors[0])
        assert time.monotonic() - t0 >= 0.3
    with idx.lock():  # released: free again
        pass


def test_lock_waits_for_the_holder(tmp_path):
    root = tmp_path / "ix"
    held, release = threading.Event(), threading.Event()

    def holder():
        with IndexDir(root).lock():
            held.set()
            release.wait(10)

    th = threading.Thread(target=holder)
    th.start()
    assert held.wait(10)
    threading.Timer(0.3, release.set).start()
    t0 = time.monotonic()
    with IndexDir(root).lock(wait_s=20):
        waited = time.monotonic() - t0
    th.join(10)
    assert waited >= 0.2


def test_publish_manifest_shares_files_by_hard_link(tmp_path):
    idx = IndexDir(tmp_path / "ix")
    idx.create()
    v1 = publish_one(idx, "payload")
    new = manifest("v0001", fusion=FusionWeights.same(LevelWeights.of(0.2, 0.5, 0.3)))
    v2 = idx.publish_manifest(new, based_on=v1)
    assert v2 == "v0002" and idx.current() == "v0002"
    old_dir, new_dir = idx.version_path(v1), idx.version_path(v2)
    shared = sorted(p.relative_to(old_dir) for p in old_dir.rglob("*") if p.is_file() and p.name != "manifest.json")
    assert shared == sorted(p.relative_to(new_dir) for p in new_dir.rglob("*") if p.is_file() and p.name != "manifest.json")
    assert len(shared) == 2
    for rel in shared:
        a, b = (old_dir / rel).stat(), (new_dir / rel).stat()
        assert a.st_ino == b.st_ino and b.st_nlink >= 2
    assert (old_dir / "manifest.json").stat().st_ino != (new_dir / "manifest.json").stat().st_ino
    m = idx.manifest()
    assert m.version == "v0002"  # renamed to the new version whatever the caller passed
    assert m.fusion == FusionWeights.same(LevelWeights.of(0.2, 0.5, 0.3))
    assert idx.manifest(v1).version == "v0001" and idx.manifest(v1).fusion != m.fusion


def test_link_shard_from_pool(tmp_path):
    idx = IndexDir(tmp_path / "ix")
    idx.create()
    views, vv, texts, tv = synthetic_rows(9)
    write_shard(idx.shards, "s1", views, vv, texts, tv, DIM)
    staging = idx.staging("v0001")
    idx.link_shard("s1", staging)
    for kind in ("views", "texts"):
        assert (staging / "vectors" / f"s1.{kind}.parquet").stat().st_ino == (idx.shards / f"s1.{kind}.parquet").stat().st_ino
    np.testing.assert_array_equal(read_vectors(read_views([staging / "vectors" / "s1.views.parquet"])), f16(vv))
    with pytest.raises(IndexFormatError, match="s2"):
        idx.link_shard("s2", staging)


def test_versions_sort_by_number_and_prune_keeps_the_newest(tmp_path):
    """v10000 is newer than v9999: listing and pruning go by the number, not the text."""
    from geoseek.index.layout import KEEP_VERSIONS, IndexDir

    idx = IndexDir(tmp_path)
    idx.create()
    names = ["v9997", "v9998", "v9999", "v10000", "v10001"]
    for v in names:
        (idx.versions / v).mkdir()
    (tmp_path / "CURRENT").write_text("v10001\n")
    assert idx.list_versions() == names and idx.next_version() == "v10002"
    idx.prune()
    assert idx.list_versions() == names[-KEEP_VERSIONS:]
