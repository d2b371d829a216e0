import json
import shutil

import pytest

from geoseek.datasets.sources import DatasetError, discover, group_tiles, read_dataset
from tests.conftest import JOPLIN, MINI, RSICD


def test_karpathy_dataset_json(small_archive):
    items, skipped = read_dataset(small_archive / "dataset.json")
    assert len(items) == 24 and not skipped
    assert all(len(i.captions) >= 1 and i.split in ("train", "val", "test") for i in items)
    assert items[0].collection == "mini"
    assert items[0].paths[0].is_file()


def test_captions_list_format():
    items, _ = read_dataset(MINI / "captions.json")
    assert len(items) == 29
    assert {i.paths[0].suffix for i in items} == {".jpg", ".tif"}
    assert all(len(i.captions) == 5 for i in items)


def test_empty_captions_are_reported_and_a_missing_file_refuses_the_dataset(tmp_path):
    shutil.copy(RSICD / "images" / "Airport" / "airport_1.jpg", tmp_path / "a.jpg")
    entry = {"filepath": "a.jpg", "sentences": [{"raw": "planes"}, {"raw": "  "}]}
    (tmp_path / "d.json").write_text(json.dumps({"images": [entry]}))
    items, skipped = read_dataset(tmp_path / "d.json")
    assert [i.captions for i in items] == [["planes"]]
    assert [s.reason for s in skipped] == ["1 empty caption(s) for a.jpg not indexed"]
    # A listed file that is missing is an error, not a silently smaller dataset (tests/indexer/test_layouts.py has more).
    data = json.loads((tmp_path / "d.json").read_text())
    data["images"].append({"filepath": "gone.jpg", "sentences": [{"raw": "x"}]})
    (tmp_path / "d.json").write_text(json.dumps(data))
    with pytest.raises(DatasetError, match="1 of 2 listed image"):
        read_dataset(tmp_path / "d.json")


@pytest.mark.parametrize("content,msg", [
    ('{"images": [', "not valid JSON"),
    ('[1, 2]', "expected an object with an 'images' list"),
    ('{"images": [{"sentences": []}]}', "neither 'filepath' nor 'filename'"),
    ('{"images": [{"filepath": "../../etc/passwd"}]}', "outside the archive root"),
    ('{"images": [{"filepath": "/etc/hostname"}]}', "outside the archive root"),
])
def test_bad_dataset_json_is_refused(tmp_path, content, msg):
    (tmp_path / "dataset.json").write_text(content)
    with pytest.raises(DatasetError, match=msg):
        read_dataset(tmp_path / "dataset.json")


def test_folder_scan_with_sidecar_captions_and_tiles(tmp_path):
    shutil.copytree(JOPLIN / "tiles", tmp_path / "tiles")
    shutil.copy(RSICD / "images" / "Airport" / "airport_1.jpg", tmp_path / "a.jpg")
    (tmp_path / "a.txt").write_text("planes at a terminal\n\na runway\n")
    (tmp_path / "notes.md").write_text("hello")
    items, skipped = discover([tmp_path])
    by_name = {i.paths[0].name: i for i in items}
    assert by_name["a.jpg"].captions == ["planes at a terminal", "a runway"]
    scenes = [i for i in items if len(i.paths) > 1]
    assert len(scenes) == 1 and len(scenes[0].paths) == 6
    assert [s.reason for s in skipped] == ["unsupported format '.md'"]
    items, _ = discover([tmp_path], mosaic=False)
    assert len(items) == 7


def test_tiles_that_do_not_touch_stay_separate():
    tiles = sorted((JOPLIN / "tiles" / "post").glob("*.tif"))
    # tile x=31500 and x=33548 are two tiles apart: not touching, two scenes.
    far = [t for t in tiles if "-5137" in t.name and ("31500" in t.name or "33548" in t.name)]
    assert group_tiles(far) == [(far[0],), (far[1],)]
    assert group_tiles(tiles) == [tuple(tiles)]


@pytest.mark.parametrize("entry,msg", [
    ({"filepath": 7}, "must be strings"),
    ({"filepath": "a.jpg", "split": 3}, "must be strings"),
    ({"filepath": "a.jpg", "sentences": "one caption"}, "must be lists"),
    ({"filepath": "a.jpg", "sentences": [{"raw": 5}]}, "must be a string"),
    ({"filepath": "a.jpg", "captions": [None]}, "must be a string"),
])
def test_dataset_json_with_wrong_types_is_refused(tmp_path, entry, msg):
    (tmp_path / "dataset.json").write_text(json.dumps({"images": [entry]}))
    with pytest.raises(DatasetError, match=msg):
        read_dataset(tmp_path / "dataset.json")
