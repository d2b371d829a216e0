"""A real API on 127.0.0.1 over a small real index, and a tiny XYZ tile server, shared by the UI tests."""
from __future__ import annotations

import io
import json
import re
import shutil
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
import rasterio
from PIL import Image, ImageDraw

from geoseek.cli.launch import served
from geoseek.indexer import run_index
from tests.conftest import RSICD, rsicd_images
from tests.http_servers import LoggingServer, run_in_thread

ROOT = Path(__file__).resolve().parents[2]
SCENE = ROOT / "examples" / "joplin" / "tile_32524-5137.tif"
SCENE_DATE = "2011:05:25 12:00:00"  # written into the test's copy only (TIFFTAG_DATETIME)
TILE_FILL = (236, 232, 220)  # the test tile server's tiles


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


class TileServer(LoggingServer):
    """Answers GET /z/x/y.png with a generated 256 x 256 PNG (a pale tile with its z/x/y written on it) and
    keeps the path of every request it gets."""

    def __init__(self) -> None:
        super().__init__(_TileHandler)

    @property
    def template(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/{{z}}/{{x}}/{{y}}.png"

    def tiles(self) -> list[str]:
        """The /z/x/y.png paths requested so far."""
        with self.lock:
            return [p for p in self.requests if re.fullmatch(r"/\d+/\d+/\d+\.png", p)]


class _TileHandler(BaseHTTPRequestHandler):
    server: TileServer

    def log_message(self, *args) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        with self.server.lock:
            self.server.requests.append(self.path)
        m = re.fullmatch(r"/(\d+)/(\d+)/(\d+)\.png", self.path)
        if m is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        im = Image.new("RGB", (256, 256), TILE_FILL)
        d = ImageDraw.Draw(im)
        d.rectangle((0, 0, 255, 255), outline=(170, 190, 210), width=2)
        d.text((10, 10), "/".join(m.groups()), fill=(120, 120, 140))
        buf = io.BytesIO()
        im.save(buf, "PNG")
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(buf.tell()))
        self.send_header("Access-Control-Allow-Origin", "*")  # deck.gl fetches tiles cross-origin, as from OSM
        self.end_headers()
        self.wfile.write(buf.getvalue())


@pytest.fixture(scope="session")
def tile_server():
    with run_in_thread(TileServer()) as server:
        yield server
