"""A mosaic scene has a real identifier: its catalog path is a manifest in the index directory
(mosaics/<image id>.json) that lists its tiles, not a made-up 'folder/[a.tif, b.tif]'."""
from __future__ import annotations

import json

from fastapi.testclient import TestClient

from geoseek.indexer import run_index
from geoseek.search import SearchEngine
from geoseek.search.api import ApiSettings, create_app
from tests.conftest import JOPLIN


def test_a_mosaic_is_named_by_its_manifest(tmp_path, tiny_vit_config):
    tiles = sorted((JOPLIN / "tiles" / "post").glob("*.tif"))
    index = tmp_path / "ix"
    run_index([JOPLIN / "tiles" / "post"], index, model=str(tiny_vit_config), device="cpu", progress=False)
    engine = SearchEngine(index, device="cpu")
    (image_id,) = engine.state().images.ids
    hit = engine.search_text("houses", k=1).results[0]
    assert hit.path == f"mosaics/{image_id}.json" and hit.width == 3072 and hit.height == 2048
    manifest = json.loads((index / hit.path).read_text())
    assert manifest["format"] == "geoseek-mosaic/1" and manifest["image_id"] == image_id
    assert manifest["tiles"] == [str(t) for t in tiles] and manifest["crs"] and len(manifest["bounds_wgs84"]) == 4
    with TestClient(create_app(ApiSettings(index=index, device="cpu"), engine=engine)) as c:
        body = c.post("/v1/search/text", json={"query": "houses", "k": 1}).json()
        assert body["results"][0]["path"] == hit.path  # relative to the index: nothing of the server's folders
        assert c.get(f"/v1/images/{image_id}/thumbnail", params={"size": 64}).status_code == 200  # read from the tiles
