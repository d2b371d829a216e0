"""Datasets in the layouts they are distributed in: Karpathy jsons beside their image folders,
class folders (ImageFolder), COCO detection jsons. Tiny copies of real images in tmp_path."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from geoseek.cli import app
from geoseek.datasets.sources import (
    DatasetError,
    content_id,
    discover,
    read_dataset,
    read_image_folder,
    scan_folder,
)
from geoseek.index.catalog import Catalog, ImageRow
from geoseek.index.layout import IndexDir
from geoseek.indexer import run_index
from tests.conftest import MINI, RSICD

AID = [RSICD / "images" / "Airport" / "airport_1.jpg", RSICD / "images" / "Airport" / "airport_2.jpg",
       RSICD / "images" / "Beach" / "beach_1.jpg", RSICD / "images" / "Beach" / "beach_2.jpg"]


def _karpathy(names: list[str], splits: list[str] | None = None, labels: list[str] | None = None) -> dict:
    """A distributed-style Karpathy json: entries with only ``filename`` (RSICD, UCM, Sydney, RSITMD)."""
    splits = splits or ["test"] * len(names)
    labels = labels or ["airport"] * len(names)
    return {"dataset": "rs", "images": [
        {"filename": n, "imgid": i, "split": s, "label": lab, "sentids": [i],
         "sentences": [{"raw": f"caption {i}", "tokens": ["caption"], "imgid": i, "sentid": i}]}
        for i, (n, s, lab) in enumerate(zip(names, splits, labels))]}


def _layout(root: Path, json_name: str, folder: str, sources: list[Path], **kw) -> Path:
    """Copy ``sources`` into root/folder under their own names and write the json beside the folder."""
    (root / folder).mkdir(parents=True, exist_ok=True)
    for src in sources:
        shutil.copy(src, root / folder / src.name)
    path = root / json_name
    path.write_text(json.dumps(_karpathy([s.name for s in sources], **kw)))
    return path


@pytest.mark.parametrize("json_name,folder,sources", [
    ("dataset_rsicd.json", "RSICD_images", AID),                                    # RSICD
    ("dataset.json", "imgs", [MINI / "UCM" / f"{n}.tif" for n in (1, 2, 3)]),      # UCM-Captions, Sydney-Captions
    ("dataset_RSITMD.json", "images", AID[:2]),                                    # RSITMD
    ("dataset.json", ".", AID[:3]),                                                # paths relative to the json
])
def test_karpathy_json_beside_its_image_folder(tmp_path, json_name, folder, sources):
    path = _layout(tmp_path, json_name, folder, sources)
    items, skipped = read_dataset(path)
    assert not skipped
    assert [i.paths[0] for i in items] == [tmp_path / folder / s.name for s in sources]
    assert [i.captions for i in items] == [[f"caption {n}"] for n in range(len(sources))]
    assert all(i.split == "test" and i.extra["label"] == "airport" and i.collection == "rs" for i in items)


def test_the_folder_is_chosen_by_its_entries_not_by_existing(tmp_path):
    path = _layout(tmp_path, "dataset.json", "imgs", AID)
    (tmp_path / "RSICD_images").mkdir()  # tried before imgs/, exists, holds one of the four files
    shutil.copy(AID[0], tmp_path / "RSICD_images" / AID[0].name)
    items, _ = read_dataset(path)
    assert {i.paths[0].parent for i in items} == {tmp_path / "imgs"}


def test_image_dir_names_the_folder_and_stays_the_archive_root(tmp_path):
    (tmp_path / "ann").mkdir()
    path = tmp_path / "ann" / "dataset_rsicd.json"
    path.write_text(json.dumps(_karpathy([p.name for p in AID])))
    pics = tmp_path / "pics"
    pics.mkdir()
    for p in AID:
        shutil.copy(p, pics / p.name)
    with pytest.raises(DatasetError, match="--image-dir"):
        read_dataset(path)
    items, _ = discover([path], image_dir=pics)
    assert [i.paths[0] for i in items] == [pics / p.name for p in AID]
    # The named folder is the root: a path climbing out of it is refused, and so is a symlink out of it.
    path.write_text(json.dumps(_karpathy(["../ann/dataset_rsicd.json"])))
    with pytest.raises(DatasetError, match="outside the archive root"):
        read_dataset(path, image_dir=pics)
    (pics / "link.jpg").symlink_to(AID[0])
    path.write_text(json.dumps(_karpathy(["link.jpg"])))
    with pytest.raises(DatasetError, match="outside the archive root"):
        read_dataset(path, image_dir=pics)
    with pytest.raises(DatasetError, match="not a folder"):
        read_dataset(path, image_dir=tmp_path / "nowhere")
    with pytest.raises(DatasetError, match="no SRC is a .json"):
        discover([pics], image_dir=pics)


def test_missing_files_are_one_clear_error(tmp_path, monkeypatch):
    path = _layout(tmp_path, "dataset_rsicd.json", "RSICD_images", AID[:1])
    path.write_text(json.dumps(_karpathy([AID[0].name, "gone_1.jpg", "gone_2.jpg", "gone_3.jpg", "gone_4.jpg"])))
    with pytest.raises(DatasetError) as err:
        read_dataset(path)
    msg = str(err.value)
    # Counted and shown under the best folder tried (RSICD_images holds 1 of 5), with the way out.
    assert "4 of 5 listed image(s) not found" in msg
    shown = [str(tmp_path / "RSICD_images" / f"gone_{n}.jpg") for n in (1, 2, 3)]
    assert all(s in msg for s in shown) and "gone_4.jpg" not in msg and ", ..." in msg
    assert "--image-dir" in msg and str(tmp_path / "RSICD_images") in msg
    # The CLI says the same, before any model is loaded (in-process: leave this process's logging alone).
    monkeypatch.setattr("geoseek.cli.index.setup_logging", lambda verbose: None)
    out = CliRunner().invoke(app, ["index", str(path), "--index", str(tmp_path / "ix"), "--quiet"])
    assert out.exit_code == 2 and "4 of 5 listed image(s) not found" in out.output and "--image-dir" in out.output


def test_split_selection_needs_only_its_files_and_names_the_splits_present(tmp_path):
    path = _layout(tmp_path, "dataset_rsicd.json", "RSICD_images", AID[:2])
    data = _karpathy([p.name for p in AID[:2]] + ["train_only.jpg"] * 3, splits=["test", "test", "train", "train", "val"])
    path.write_text(json.dumps(data))
    items, _ = discover([path], splits=["test"])  # the missing train/val files are not needed
    assert len(items) == 2
    with pytest.raises(DatasetError, match=r"no images in split\(s\) tst \(splits present: test 2, train 2, val 1\)"):
        discover([path], splits=["tst"])
    with pytest.raises(DatasetError, match="3 of 5 listed"):
        discover([path])


def _class_folders(root: Path, split: str | None = None) -> Path:
    """root/[split/]<class>/<name>.jpg with two AID classes, two images each."""
    for src in AID:
        dst = root / (split or "") / src.parent.name.lower() / src.name
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, dst)
    return root


def test_class_folders_carry_labels_and_index_the_same_items(tmp_path):
    root = _class_folders(tmp_path / "resisc")
    (root / "README.md").write_text("not an image; beside the class folders, it changes nothing")
    items, skipped = read_image_folder(root)
    plain, plain_skipped = scan_folder(root)
    assert [i.paths for i in items] == [i.paths for i in plain] and skipped == plain_skipped
    assert [content_id(i.paths) for i in items] == [content_id(i.paths) for i in plain]
    assert [i.extra["label"] for i in items] == ["airport", "airport", "beach", "beach"]
    assert all(i.split is None for i in items)
    assert len(discover([root], splits=["test"])[0]) == 4  # no split folders: the folder is kept whole


def test_split_class_folders(tmp_path):
    root = tmp_path / "resisc"
    _class_folders(root, "train")
    _class_folders(root, "test")
    items, _ = discover([root], splits=["test"])
    assert len(items) == 4 and {i.split for i in items} == {"test"}
    assert {i.paths[0].parent.parent.name for i in items} == {"test"}
    assert sorted(i.extra["label"] for i in items) == ["airport", "airport", "beach", "beach"]
    # The split folder itself as SRC: its name is the split.
    items, _ = discover([root / "test"])
    assert {(i.split, i.extra["label"]) for i in items} == {("test", "airport"), ("test", "beach")}
    with pytest.raises(DatasetError, match=r"splits present: test 4, train 4"):
        discover([root], splits=["val"])


def test_split_folders_without_classes_and_split_name_spellings(tmp_path):
    root = tmp_path / "sp"
    for split, src in (("Train", AID[0]), ("validation", AID[1]), ("test", AID[2])):
        (root / split).mkdir(parents=True)
        shutil.copy(src, root / split / src.name)
    items, _ = discover([root], splits=["val"])  # 'validation' is the val split; split names are not classes
    assert [(i.paths[0].name, i.split) for i in items] == [(AID[1].name, "val")] and "label" not in items[0].extra
    items, _ = read_image_folder(root)
    assert sorted(i.split for i in items) == ["test", "train", "val"] and all("label" not in i.extra for i in items)


def test_a_conventional_folder_that_links_out_of_the_archive_is_not_followed(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copy(AID[0], outside / AID[0].name)
    archive = tmp_path / "archive"
    archive.mkdir()
    (archive / "RSICD_images").symlink_to(outside, target_is_directory=True)
    path = archive / "dataset_rsicd.json"
    path.write_text(json.dumps(_karpathy([AID[0].name])))
    with pytest.raises(DatasetError, match="not found"):
        read_dataset(path)
    items, _ = read_dataset(path, image_dir=outside)  # named explicitly, the folder may be anywhere
    assert [i.paths[0] for i in items] == [outside / AID[0].name]


@pytest.mark.parametrize("layout", ["mixed depth", "one class", "split-like names missing"])
def test_other_folders_get_no_labels(tmp_path, layout):
    root = _class_folders(tmp_path / "a")
    if layout == "mixed depth":
        shutil.copy(AID[0], root / "loose.jpg")
    elif layout == "one class":
        shutil.rmtree(root / "beach")
    else:  # <x>/<class>/<name> where x is not a split name is an archive's own filing
        root = tmp_path / "b"
        _class_folders(root, "2021")
    items, _ = read_image_folder(root)
    assert items and all("label" not in i.extra and i.split is None for i in items)


def _coco(root: Path) -> Path:
    (root / "images").mkdir(parents=True)
    for n, src in enumerate(AID[:3]):
        shutil.copy(src, root / "images" / f"{n:03d}.jpg")
    data = {"info": {}, "categories": [{"id": 1, "name": "airplane"}, {"id": 2, "name": "ship"}],
            "images": [{"id": 10 + n, "file_name": f"{n:03d}.jpg", "width": 150, "height": 150} for n in range(3)],
            "annotations": [{"id": 1, "image_id": 10, "category_id": 2, "bbox": [0, 0, 5, 5]},
                            {"id": 2, "image_id": 10, "category_id": 1, "bbox": [5, 5, 5, 5]},
                            {"id": 3, "image_id": 10, "category_id": 2, "bbox": [9, 9, 5, 5]},
                            {"id": 4, "image_id": 11, "category_id": 1, "bbox": [1, 1, 5, 5]}]}
    (root / "annotations.json").write_text(json.dumps(data))
    return root / "annotations.json"


def test_coco_detection_json(tmp_path):
    path = _coco(tmp_path / "vhr")
    items, skipped = discover([path])
    assert not skipped and [i.paths[0].name for i in items] == ["000.jpg", "001.jpg", "002.jpg"]
    assert [i.extra for i in items] == [{"categories": ["airplane", "ship"], "coco_id": 10},
                                        {"categories": ["airplane"], "coco_id": 11}, {"categories": [], "coco_id": 12}]
    assert all(i.captions == [] and i.split is None and i.collection == "vhr" for i in items)
    shutil.move(tmp_path / "vhr" / "images", tmp_path / "elsewhere")
    with pytest.raises(DatasetError, match="3 of 3 listed image"):
        discover([path])
    assert len(discover([path], image_dir=tmp_path / "elsewhere")[0]) == 3
    data = json.loads(path.read_text())
    data["annotations"][0]["category_id"] = 99
    path.write_text(json.dumps(data))
    with pytest.raises(DatasetError, match=r"annotations\[0\] needs .* 'category_id' listed in categories"):
        discover([path], image_dir=tmp_path / "elsewhere")


def test_rsicd_layout_end_to_end(tmp_path, tiny_rn_config):
    """run_index on a distributed RSICD layout, test split only: images, captions, labels in the catalog."""
    path = _layout(tmp_path / "rsicd", "dataset_rsicd.json", "RSICD_images", AID,
                   splits=["train", "test", "test", "val"], labels=["airport", "airport", "beach", "beach"])
    report = run_index([path], tmp_path / "ix", model=str(tiny_rn_config), device="cpu", progress=False,
                       levels=["global"], splits=["test"])
    assert report.new_images == 2 and not report.skipped
    with Catalog(IndexDir(tmp_path / "ix").default_catalog_url).session() as s:
        rows = sorted((r.path, r.split, r.extra["label"]) for r in s.query(ImageRow).all())
    base = tmp_path / "rsicd" / "RSICD_images"
    assert rows == [(str(base / AID[1].name), "test", "airport"), (str(base / AID[2].name), "test", "beach")]
