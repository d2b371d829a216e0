"""STAC in: Items of an ItemCollection or a Catalog become images with the Item's id, datetime,
bbox, collection and self link; the filters use them and the hits link back to the Item."""
from __future__ import annotations

import json
import shutil
from datetime import datetime, timezone
from pathlib import Path

import pystac
import pytest

from geoseek.datasets.sources import discover
from geoseek.indexer import run_index
from geoseek.search import Filters, SearchEngine
from tests.conftest import JOPLIN

UTM = Path(__file__).resolve().parents[1] / "data" / "rasters" / "rgb-byte-tenth.tif"
TILE = JOPLIN / "tiles" / "post" / "tile_31500-5137.tif"
IMG = "image/tiff; application=geotiff"


def _item(item_id: str, when: datetime, collection: str, assets: dict[str, pystac.Asset]) -> pystac.Item:
    item = pystac.Item(id=item_id, geometry=None, bbox=None, datetime=when, properties={}, collection=collection)
    for key, asset in assets.items():
        item.add_asset(key, asset)
    return item


def _rgb(href: str) -> pystac.Asset:
    return pystac.Asset(href=href, media_type=IMG, extra_fields={"eo:bands": [{"name": "B4", "common_name": "red"},
                                                                            {"name": "B3", "common_name": "green"},
                                                                            {"name": "B2", "common_name": "blue"}]})


@pytest.fixture()
def collection_file(tmp_path) -> Path:
    """items.geojson: two usable Items (a visual asset; an RGB asset), one with separate band files, one at an
    http URL nothing answers (discovered; skipped when its id is asked for) and one in object storage."""
    shutil.copy(UTM, tmp_path / "bahamas.tif")
    shutil.copy(TILE, tmp_path / "joplin.tif")
    items = [
        _item("bahamas-2019", datetime(2019, 6, 1, 10, 0, tzinfo=timezone.utc), "bahamas-demo",
              {"visual": pystac.Asset(href="./bahamas.tif", media_type=IMG, roles=["visual"]),
               "thumbnail": pystac.Asset(href="./thumb.jpg", media_type="image/jpeg")}),
        _item("joplin-2011", datetime(2011, 5, 24, 12, 0, tzinfo=timezone.utc), "xview2", {"image": _rgb("./joplin.tif")}),
        _item("bands-only", datetime(2020, 1, 1, tzinfo=timezone.utc), "s2",
              {k: pystac.Asset(href=f"./{k}.tif", media_type=IMG) for k in ("red", "green", "blue")}),
        _item("remote", datetime(2020, 1, 1, tzinfo=timezone.utc), "s2",
              {"visual": pystac.Asset(href="http://127.0.0.1:9/TCI.tif", media_type=IMG)}),
        _item("bucket", datetime(2020, 1, 1, tzinfo=timezone.utc), "s2",
              {"visual": pystac.Asset(href="s3://bucket/TCI.tif", media_type=IMG)}),
    ]
    path = tmp_path / "items.geojson"
    fc = pystac.ItemCollection(items).to_dict()
    for f in fc["features"]:  # relative hrefs resolve against the collection file's folder
        for a in f["assets"].values():
            a["href"] = a["href"] if "://" in a["href"] else str(tmp_path / Path(a["href"]).name)
        f["links"] = [{"rel": "self", "href": str(tmp_path / f"{f['id']}.json")}]
    path.write_text(json.dumps(fc))
    return path


def test_items_become_images_and_the_rest_are_skipped_with_reasons(collection_file):
    items, skipped = discover([collection_file])
    assert [(str(i.paths[0]).split("/")[-1], i.collection, i.extra["stac"]["id"]) for i in items] == [
        ("bahamas.tif", "bahamas-demo", "bahamas-2019"), ("joplin.tif", "xview2", "joplin-2011"), ("TCI.tif", "s2", "remote")]
    assert items[2].paths == ("http://127.0.0.1:9/TCI.tif",)  # a URL stays a string, read over HTTP
    assert items[0].extra["stac"]["datetime"] == "2019-06-01T10:00:00" and items[0].extra["stac"]["asset"] == "visual"
    reasons = {s.path.split("#")[-1]: s.reason for s in skipped}
    # Its assets are keyed red/green/blue but say nothing of their bands: not guessed from the keys.
    assert "no one-band GeoTIFF assets named red, green and blue" in reasons["bands-only"] and "--asset R,G,B" in reasons["bands-only"]
    assert "object storage" in reasons["bucket"] and "remote" not in reasons
    chosen, _ = discover([collection_file], asset="thumbnail")
    assert [i.paths[0].name for i in chosen] == ["thumb.jpg"]


def test_stac_datetimes_collections_and_links_drive_search(collection_file, tmp_path, tiny_vit_config):
    report = run_index([collection_file], tmp_path / "ix", model=str(tiny_vit_config), device="cpu", progress=False)
    assert report.new_images == 2 and len(report.skipped) == 3
    assert any(s.path == "http://127.0.0.1:9/TCI.tif" and "cannot connect" in s.reason for s in report.skipped)
    engine = SearchEngine(tmp_path / "ix", device="cpu")
    hits = engine.search_text("buildings", k=5).results
    assert {h.stac.id for h in hits} == {"bahamas-2019", "joplin-2011"}
    by_id = {h.stac.id: h for h in hits}
    # The Item's datetime, not the file's TIFF tags, is the image's datetime.
    assert by_id["joplin-2011"].datetime == "2011-05-24T12:00:00" and by_id["bahamas-2019"].collection == "bahamas-demo"
    assert by_id["joplin-2011"].stac.href == str(tmp_path / "joplin-2011.json")
    late = engine.search_text("buildings", k=5, filters=Filters(start=datetime(2015, 1, 1))).results
    assert [h.stac.id for h in late] == ["bahamas-2019"]
    xview = engine.search_text("buildings", k=5, filters=Filters(collections=("xview2",))).results
    assert [h.stac.id for h in xview] == ["joplin-2011"]


def test_a_static_catalog_is_walked(tmp_path):
    shutil.copy(UTM, tmp_path / "bahamas.tif")
    cat = pystac.Catalog(id="demo", description="a local catalogue")
    col = pystac.Collection(id="bahamas-demo", description="one scene",
                            extent=pystac.Extent(pystac.SpatialExtent([[-180, -90, 180, 90]]),
                                                 pystac.TemporalExtent([[datetime(2019, 1, 1, tzinfo=timezone.utc), None]])))
    col.add_item(_item("bahamas-2019", datetime(2019, 6, 1, tzinfo=timezone.utc), "bahamas-demo",
                       {"visual": pystac.Asset(href=str(tmp_path / "bahamas.tif"), media_type=IMG)}))
    cat.add_child(col)
    cat.normalize_hrefs(str(tmp_path / "catalog"))
    cat.save(catalog_type=pystac.CatalogType.SELF_CONTAINED)
    items, skipped = discover([tmp_path / "catalog" / "catalog.json"])
    assert [i.extra["stac"]["id"] for i in items] == ["bahamas-2019"] and not skipped
    assert items[0].extra["stac"]["collection"] == "bahamas-demo"
    assert Path(items[0].extra["stac"]["self"]).is_file()  # the Item's own json, written by pystac
