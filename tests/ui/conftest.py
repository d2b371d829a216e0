"""A real API on 127.0.0.1 over a small real index, shared by the UI tests."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import rasterio

from geoseek.cli.launch import served
from geoseek.indexer import run_index
from tests.conftest import RSICD, rsicd_images

ROOT = Path(__file__).resolve().parents[2]
SCENE = ROOT / "examples" / "joplin" / "tile_32524-5137.tif"
SCENE_DATE = "2011:05:25 12:00:00"  # written into the test's copy only (TIFFTAG_DATETIME)


@pytest.fixture(scope="session")
def ui_archive(tmp_path_factory) -> Path:
    """12 captioned RSICD/AID chips and one dated, georeferenced GeoTIFF of Joplin."""
    root = tmp_path_factory.mktemp("ui-archive")
    entries = rsicd_images(12)
    for e in entries:
        (root / e["filepath"]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(RSICD / e["filepath"], root / e["filepath"])
    (root / "dataset.json").write_text(json.dumps({"dataset": "ui-test", "images": entries}))
    (root / "scene").mkdir()
    shutil.copy(SCENE, root / "scene" / SCENE.name)
    with rasterio.open(root / "scene" / SCENE.name, "r+") as ds:
        ds.update_tags(TIFFTAG_DATETIME=SCENE_DATE)
    return root


@pytest.fixture(scope="session")
def ui_index(ui_archive, tmp_path_factory, tiny_vit_config) -> Path:
    index = tmp_path_factory.mktemp("ui-index") / "index"
    run_index([ui_archive / "dataset.json", ui_archive / "scene"], index, model=str(tiny_vit_config), device="cpu",
              progress=False)
    return index


@pytest.fixture(scope="session")
def api_url(ui_index):
    with served(ui_index) as base:
        yield base
