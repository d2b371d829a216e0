"""COGs over HTTP: a real Cloud-Optimized GeoTIFF (the Joplin post-tornado mosaic, georeferenced with its
tiles' grid) served on 127.0.0.1 by a server that answers range requests indexes to the same views and
vectors as the local file, fetching far fewer bytes than the file holds; dead URLs are skipped with their
reason while the run goes on; a second run adds nothing; thumbnails and zoom-refine crops read the URL."""
from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from geoseek.cli import app
from geoseek.datasets.remote import (
    RemoteError,
    RemoteInfo,
    as_source,
    is_remote,
    probe,
    remote_id,
)
from geoseek.datasets.sources import content_ids, discover
from geoseek.index.version import read_version
from geoseek.indexer import run_index
from geoseek.schemas import DRISParams
from geoseek.search.images import render_jpeg
from geoseek.search.refine import read_windows
from geoseek.views.rasters import RasterError, open_raster
from tests.conftest import JOPLIN
from tests.http_servers import serving

MOSAIC = JOPLIN / "post_mosaic_3072x2048.jpg"
WEST, NORTH, PIXEL = -94.49960529516346, 37.07511383680346, 6e-06  # mosaic_meta.json: the post tiles' grid


def _make_cog(path: Path) -> None:
    """The real Joplin mosaic as a COG: DEFLATE, 512 px tiles, internal overviews (average), EPSG:4326."""
    import rasterio
    from rasterio.io import MemoryFile
    from rasterio.shutil import copy
    from rasterio.transform import Affine

    rgb = np.asarray(Image.open(MOSAIC).convert("RGB")).transpose(2, 0, 1)
    profile = {"driver": "GTiff", "width": rgb.shape[2], "height": rgb.shape[1], "count": 3, "dtype": "uint8",
               "crs": "EPSG:4326", "transform": Affine(PIXEL, 0.0, WEST, 0.0, -PIXEL, NORTH)}
    with MemoryFile() as mem:
        with mem.open(**profile) as ds:
            ds.write(rgb)
        with mem.open() as src:
            copy(src, path, driver="COG", compress="DEFLATE", blocksize=512, overview_resampling="average")
    with rasterio.open(path) as ds:
        assert ds.overviews(1) and ds.profile["tiled"] and ds.block_shapes[0] == (512, 512)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def cog(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cog") / "joplin_post.tif"
    _make_cog(path)
    return path


@pytest.fixture()
def server(cog):
    with serving(cog.parent) as srv:
        yield srv


def _views(root: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    data = read_version(root, faiss_indices=False)
    return {level: (d.vectors.astype(np.float32), d.bbox) for level, d in data.levels.items()}


def test_sources_stay_urls():
    assert as_source("https://host/a/scene.tif") == "https://host/a/scene.tif"  # not Path's 'https:/host/...'
    assert as_source("a/scene.tif") == Path("a/scene.tif") and not is_remote(Path("https://host/x.tif"))
    items, skipped = discover(["https://host/cogs/scene.tif", "https://host/cogs/photo.jpg"])
    assert [(i.paths, i.collection) for i in items] == [(("https://host/cogs/scene.tif",), "cogs")]
    assert "GeoTIFF" in skipped[0].reason and skipped[0].path.endswith("photo.jpg")


def test_remote_id_follows_url_size_and_etag():
    url = "http://127.0.0.1/x.tif"
    a = remote_id(url, RemoteInfo(100, '"v1"', None))
    assert a == remote_id(url, RemoteInfo(100, '"v1"', "Mon, 01 Jan 2024 00:00:00 GMT"))  # the ETag decides
    assert a != remote_id(url, RemoteInfo(100, '"v2"', None))  # changed in place: a new image
    assert a != remote_id(url + "?copy", RemoteInfo(100, '"v1"', None))  # same bytes elsewhere: another image
    assert remote_id(url, RemoteInfo(100, None, "A")) != remote_id(url, RemoteInfo(100, None, "B"))
    assert len(a) == 20 and int(a, 16) >= 0


def test_a_cog_over_http_indexes_like_the_local_file(cog, server, tmp_path, tiny_vit_config, capsys):
    # A coarse plan (few region views, complexity measured on a small thumbnail) reads overviews and a few windows.
    # The default plan for this 6 MP scene and a 64 px encoder reads nearly every native pixel (the scene is
    # complex everywhere and small for its view budget), so it fetches about the whole file, and no more.
    spec = {"model": str(tiny_vit_config), "device": "cpu", "progress": False,
            "dris": DRISParams(cell_px=8, budget_per_tile=0.05)}
    local = run_index([cog], tmp_path / "local", **spec)
    assert local.new_images == 1 and not local.skipped

    url = f"{server.base}/{cog.name}"
    dead_port, missing = f"http://127.0.0.1:{_free_port()}/scene.tif", f"{server.base}/no_such_scene.tif"
    server.reset()
    remote = run_index([dead_port, url, missing], tmp_path / "remote", **spec)
    fetched, size = server.sent, cog.stat().st_size
    with capsys.disabled():
        print(f"\nCOG over HTTP: {fetched:,} bytes fetched of a {size:,}-byte file ({100 * fetched / size:.1f}%), "
              f"{sum(r.startswith('GET') for r in server.requests)} GETs")
    assert remote.new_images == 1 and remote.views == local.views
    reasons = {s.path: s.reason for s in remote.skipped}
    assert set(reasons) == {dead_port, missing}
    assert "cannot connect" in reasons[dead_port] and "404" in reasons[missing]
    assert not any(" None" in r for r in server.requests if r.startswith("GET"))  # every GET was a range request
    assert fetched < 0.5 * size

    a, b = _views(tmp_path / "local"), _views(tmp_path / "remote")
    assert {k: len(v[0]) for k, v in a.items()} == {k: len(v[0]) for k, v in b.items()}
    for level in a:
        assert np.array_equal(a[level][1], b[level][1]), level  # the same windows
        assert np.allclose(a[level][0], b[level][0], atol=1e-3), level  # the same vectors

    data = read_version(tmp_path / "remote", faiss_indices=False)
    (image_id,) = data.images.ids
    assert data.images.rows[image_id].path == url and image_id == content_ids((url,))[0]
    # Thumbnails and zoom-refine crops read the same URL later.
    jpeg = render_jpeg(data, image_id, (0, 0, 1024, 1024), 128)
    assert jpeg[:2] == b"\xff\xd8"
    (crop,) = read_windows([as_source(url)], [(512, 512, 1024, 1024)], 64)
    assert crop.size == (64, 64)

    # Resumable: the same URL again is recognised by its id, nothing is fetched beyond a HEAD.
    server.reset()
    again = run_index([url], tmp_path / "remote", **spec)
    assert again.new_images == 0 and again.already_indexed == 1 and server.sent == 0


def test_the_cli_keeps_urls_and_skips_dead_ones(cog, server, tmp_path, tiny_vit_config):
    url, dead = f"{server.base}/{cog.name}", f"{server.base}/gone.tif"
    result = CliRunner().invoke(app, ["index", url, dead, "--index", str(tmp_path / "ix"), "--model", str(tiny_vit_config),
                                      "--device", "cpu", "-q"])
    assert result.exit_code == 0, result.output
    assert "indexed 1 new image(s)" in result.output and "1 skipped" in result.output
    data = read_version(tmp_path / "ix", faiss_indices=False)
    assert [r.path for r in data.images.rows.values()] == [url]


def test_an_unreachable_url_is_a_raster_error_not_a_crash():
    with pytest.raises(RasterError, match="unreachable"):
        open_raster([f"http://127.0.0.1:{_free_port()}/x.tif"])


def test_a_server_that_never_answers_times_out():
    with socket.socket() as silent:  # listens (the kernel accepts the connection) and never replies
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        with pytest.raises(RemoteError, match=r"no answer within 0.5 s"):
            probe(f"http://127.0.0.1:{silent.getsockname()[1]}/x.tif", timeout_s=0.5)


def test_a_stac_item_collection_with_local_and_http_assets(cog, server, tmp_path, tiny_vit_config):
    """One Item's asset is a local file, another's a COG served over HTTP: both are indexed, keep their
    Items' datetimes and collections, and link back to their Items."""
    import json
    import shutil
    from datetime import datetime

    from geoseek.search import Filters, SearchEngine

    local = tmp_path / "local.tif"
    shutil.copy(cog, local)

    def item(item_id: str, href: str, when: str, collection: str) -> dict:
        return {"type": "Feature", "stac_version": "1.0.0", "id": item_id, "collection": collection,
                "geometry": None, "bbox": None, "properties": {"datetime": when},
                "links": [{"rel": "self", "href": f"https://stac.example/{collection}/{item_id}.json"}],
                "assets": {"visual": {"href": href, "type": "image/tiff; application=geotiff; profile=cloud-optimized"}}}

    # The two assets hold the same pixels; their ids differ (a local file is hashed, a URL is not), so both index.
    fc = {"type": "FeatureCollection", "features": [
        item("on-disk", str(local), "2011-05-24T17:00:00Z", "archive"),
        item("over-http", f"{server.base}/{cog.name}", "2020-03-10T16:30:00Z", "cloud")]}
    (tmp_path / "items.geojson").write_text(json.dumps(fc))
    report = run_index([tmp_path / "items.geojson"], tmp_path / "ix", model=str(tiny_vit_config), device="cpu",
                       progress=False, dris=DRISParams(cell_px=8, budget_per_tile=0.05))
    assert report.new_images == 2 and not report.skipped
    engine = SearchEngine(tmp_path / "ix", device="cpu")
    hits = {h.stac.id: h for h in engine.search_text("houses", k=5).results}
    assert hits["over-http"].path == f"{server.base}/{cog.name}" and hits["on-disk"].path == str(local)
    assert hits["over-http"].stac.href == "https://stac.example/cloud/over-http.json"  # the Item, where it lives
    assert (hits["on-disk"].datetime, hits["over-http"].datetime) == ("2011-05-24T17:00:00", "2020-03-10T16:30:00")
    late = engine.search_text("houses", k=5, filters=Filters(start=datetime(2015, 1, 1))).results
    assert [h.stac.id for h in late] == ["over-http"]
    assert [h.stac.id for h in engine.search_text("houses", k=5, filters=Filters(collections=("archive",))).results] == ["on-disk"]
