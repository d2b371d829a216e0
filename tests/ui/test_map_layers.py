"""The results map's layers (geoseek/ui/map_layers.py) and the UI settings, without Streamlit.

Exact shapes come from the API's own GeoJSON code (box_polygon, which a hit's ``shapes`` are made of) on a real UTM raster, where a box is
not a rectangle in longitude/latitude; distances are checked against PROJ's geodesic (an azimuthal
equidistant projection centred on the bar's start measures true ellipsoidal distance from it).
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import rasterio
from rasterio.warp import transform as reproject
from shapely.geometry import Polygon, box

from geoseek.schemas.search import Box
from geoseek.search.geojson import box_polygon
from geoseek.ui.map_layers import (
    MAX_TILES,
    covering_tiles,
    decimals_for,
    fmt_lat,
    fmt_lon,
    graticule,
    metres_per_degree_lon,
    nice,
    results_deck,
    scale_bar,
    tile_bounds,
    tile_xy,
)
from geoseek.ui.settings import OSM_ATTRIBUTION, UiSettings, check_tile_template, load_settings

UTM = Path(__file__).resolve().parents[1] / "data" / "rasters" / "rgb-byte-tenth.tif"
JOPLIN = (-94.4934, 37.0706, -94.4889, 37.0750)  # the UI tests' scene (WGS84 bounds)
OSM = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"


def geodesic_m(lon0: float, lat0: float, lon1: float, lat1: float) -> float:
    """Ellipsoidal (WGS84) distance through PROJ: in an azimuthal equidistant projection centred on the first
    point, the distance from the centre is the geodesic one."""
    aeqd = f"+proj=aeqd +lat_0={lat0} +lon_0={lon0} +datum=WGS84 +units=m"
    (x,), (y,) = reproject("EPSG:4326", aeqd, [lon1], [lat1])
    return math.hypot(x, y)


def test_tiles_of_known_places():
    assert tile_xy(-94.49, 37.07, 0) == (0, 0)
    w, s, e, n = tile_bounds(0, 0, 0)  # z=0: one tile, the whole Web Mercator square
    assert (w, e) == (-180.0, 180.0) and s == pytest.approx(-85.0511288) and n == pytest.approx(85.0511288)
    assert covering_tiles((-180.0, -85.0, 180.0, 85.0), 0) == (0, [(0, 0)])
    # Joplin at z=15, by the OSM wiki's formula (asinh(tan)), not the module's log(tan + sec)
    lat = math.radians(37.07)
    assert tile_xy(-94.49, 37.07, 15) == (int((-94.49 + 180) / 360 * 2**15),
                                           int((1 - math.asinh(math.tan(lat)) / math.pi) / 2 * 2**15)) == (7783, 12746)
    w, s, e, n = tile_bounds(7783, 12746, 15)
    assert w <= -94.49 < e and s <= 37.07 < n and e - w == pytest.approx(360 / 2**15)
    assert tile_xy(w, n - 1e-9, 15) == (7783, 12746) and tile_xy(e + 1e-9, n - 1e-9, 15) == (7784, 12746)


def test_covering_tiles_are_capped_and_cover_the_extent():
    extent = (-95.0, 36.5, -94.0, 37.5)
    z, tiles = covering_tiles(extent, 19)
    assert 1 <= len(tiles) <= MAX_TILES and z < 19
    (x0, y0), (x1, y1) = tile_xy(extent[0], extent[3], z + 1), tile_xy(extent[2], extent[1], z + 1)
    assert (x1 - x0 + 1) * (y1 - y0 + 1) > MAX_TILES  # one zoom more would need too many: the highest that fits
    union = [tile_bounds(x, y, z) for x, y in tiles]
    assert min(b[0] for b in union) <= extent[0] and max(b[2] for b in union) >= extent[2]
    assert min(b[1] for b in union) <= extent[1] and max(b[3] for b in union) >= extent[3]


def test_nice_steps_graticule_and_labels():
    assert [nice(v) for v in (0.0013, 7.0, 180.0, 1.0)] == pytest.approx([0.001, 5.0, 100.0, 1.0])
    assert [nice(v, up=True) for v in (0.0013, 7.0, 1.0)] == pytest.approx([0.002, 10.0, 1.0])
    assert [decimals_for(s) for s in (0.002, 0.5, 1.0, 10.0)] == [3, 1, 0, 0]
    assert fmt_lat(37.072, 3) == "37.072°N" and fmt_lon(-94.49, 2) == "94.49°W"
    assert fmt_lat(-12.5, 1) == "12.5°S" and fmt_lon(3.0, 0) == "3°E"
    step, (lines, labels) = graticule(JOPLIN, (-94.51, 37.06, -94.47, 37.08))
    assert step == pytest.approx(0.002)
    texts = {r["text"] for r in labels.data}
    assert {"94.490°W", "94.500°W", "37.070°N", "37.072°N"} <= texts
    lons = sorted({p["path"][0][0] for p in lines.data if p["path"][0][0] == p["path"][1][0]})
    assert lons[0] >= -94.51 and lons[-1] <= -94.47 and all(b - a == pytest.approx(step) for a, b in zip(lons, lons[1:]))


@pytest.mark.parametrize("fit", [JOPLIN, (-78.96, 23.56, -76.57, 25.55), (10.0, 59.0, 10.02, 59.01)])
def test_scale_bar_length_is_geodesic(fit):
    metres, ((lon0, lat0), (lon1, lat1)), layers = scale_bar(fit)
    assert metres / 10 ** math.floor(math.log10(metres)) in (1, 2, 5)
    assert (fit[2] - fit[0]) * metres_per_degree_lon(lat0) / 4 / 2.5 <= metres  # at most a quarter, not far below
    assert geodesic_m(lon0, lat0, lon1, lat1) == pytest.approx(metres, rel=0.01)
    assert fit[0] < lon0 < lon1 < fit[2] and fit[1] < lat0 < fit[3]
    label = layers[1].data[0]["text"]
    assert label == (f"{metres:g} m" if metres < 1000 else f"{metres / 1000:g} km")


def utm_hit() -> dict:
    """A hit on the UTM raster with its exact ``shapes`` (footprint, region, object) from the API's box_polygon,
    as a search with shapes=true returns it."""
    with rasterio.open(UTM) as ds:
        transform, crs, width, height = ds.transform, ds.crs, ds.width, ds.height
    boxes = {"footprint": Box(x0=0, y0=0, x1=width, y1=height), "region": Box(x0=40, y0=4, x1=75, y1=36),
             "object": Box(x0=50, y0=10, x1=60, y1=22)}
    shapes = {k: box_polygon(b, transform, crs) for k, b in boxes.items()}
    ring = shapes["footprint"]["coordinates"][0]
    bounds = [min(p[0] for p in ring), min(p[1] for p in ring), max(p[0] for p in ring), max(p[1] for p in ring)]
    return {"image_id": "utm", "path": "scenes/utm.tif", "score": 0.4, "width": width, "height": height,
            "bounds_wgs84": bounds, "region_box": boxes["region"].model_dump(), "object_box": boxes["object"].model_dump(),
            "shapes": shapes}


def layer_map(view) -> dict[str, dict]:
    return {layer["id"]: layer for layer in json.loads(view.deck.to_json())["layers"]}


def test_exact_footprint_and_the_chosen_boxes_lie_inside_it():
    hit = utm_hit()
    chip = {"image_id": "chip", "path": "a/b.jpg", "score": 0.9, "width": 100, "height": 100, "shapes": None}  # no place
    view = results_deck([chip, hit], None, None)
    got = layer_map(view)
    exact = {kind: g["coordinates"][0] for kind, g in hit["shapes"].items()}
    assert got["footprints"]["data"][0]["polygon"] == exact["footprint"]  # not the bounds rectangle
    assert not Polygon(exact["footprint"]).equals(box(*hit["bounds_wgs84"]))  # the UTM box is rotated
    assert got["footprint-labels"]["data"][0]["text"] == "#2"  # the hit's rank in the whole list
    foot = Polygon(exact["footprint"])
    for kind in ("region", "object"):
        ring = got[f"chosen-{kind}"]["data"][0]["polygon"]
        assert ring == exact[kind] and foot.contains(Polygon(ring))
    assert Polygon(exact["region"]).contains(Polygon(exact["object"]))
    assert view.tiles == [] and not any(k.startswith("basemap") for k in got)
    assert {"graticule", "graticule-labels", "scale-bar", "scale-label"} <= got.keys()
    assert view.summary.startswith("centre 24.") and "°W" in view.summary and "scale bar" in view.summary


def test_without_shapes_the_boxes_are_interpolated_in_the_bounds_and_the_chosen_hit_is_honoured():
    hit = {k: v for k, v in utm_hit().items() if k != "shapes"}  # an API that did not send them
    other = {**hit, "image_id": "other", "region_box": {"x0": 0, "y0": 40, "x1": 30, "y1": 71}, "object_box": None,
             "shapes": None}
    got = layer_map(results_deck([hit, other], "other", None))
    rect = box(*hit["bounds_wgs84"])
    assert [Polygon(f["polygon"]).equals(rect) for f in got["footprints"]["data"]] == [True, True]
    region = Polygon(got["chosen-region"]["data"][0]["polygon"])
    assert rect.contains(region) and region.centroid.x < rect.centroid.x and region.centroid.y < rect.centroid.y
    assert "chosen-object" not in got  # the chosen hit has none
    # Shapes without a box's kind: that box is interpolated, the others stay exact.
    full = utm_hit()
    part = {**full, "shapes": {k: v for k, v in full["shapes"].items() if k != "region"}}
    got = layer_map(results_deck([part], None, None))
    assert got["footprints"]["data"][0]["polygon"] == full["shapes"]["footprint"]["coordinates"][0]
    assert got["chosen-object"]["data"][0]["polygon"] == full["shapes"]["object"]["coordinates"][0]
    interpolated = Polygon(got["chosen-region"]["data"][0]["polygon"])
    assert interpolated.equals(box(*interpolated.bounds)) and rect.contains(interpolated)  # a lon/lat rectangle
    assert results_deck([{"image_id": "c", "path": "c.jpg", "score": 1.0, "width": 1, "height": 1}], None, None) is None


def test_basemap_tiles_cover_the_view():
    hit = {"image_id": "j", "path": "j.tif", "score": 0.5, "width": 750, "height": 733, "bounds_wgs84": list(JOPLIN),
           "region_box": None, "object_box": None}
    view = results_deck([hit], None, OSM)
    bitmaps = [layer for layer in json.loads(view.deck.to_json())["layers"] if layer["@@type"] == "BitmapLayer"]
    assert 1 <= len(bitmaps) <= MAX_TILES and [b["image"] for b in bitmaps] == view.tiles
    assert all(u.startswith("https://tile.openstreetmap.org/") and u.endswith(".png") for u in view.tiles)
    z = {int(u.split("/")[3]) for u in view.tiles}
    assert len(z) == 1 and 14 <= z.pop() <= 19
    union = [b["bounds"] for b in bitmaps]
    assert min(b[0] for b in union) <= JOPLIN[0] and max(b[2] for b in union) >= JOPLIN[2]
    assert min(b[1] for b in union) <= JOPLIN[1] and max(b[3] for b in union) >= JOPLIN[3]
    assert json.loads(view.deck.to_json())["layers"][0]["@@type"] == "BitmapLayer"  # underneath everything


@pytest.mark.parametrize("url, says", [
    ("https://tile.openstreetmap.org/{z}/{x}.png", "{y} missing"),
    ("ftp://tiles.example.org/{z}/{x}/{y}.png", "http:// or https://"),
    ("tile.openstreetmap.org/{z}/{x}/{y}.png", "http:// or https://"),
    ("https:///{z}/{x}/{y}.png", "http:// or https://"),
    ('https://t.example.org/{z}/{x}/{y}.png?"', "quotes or spaces"),
])
def test_a_malformed_tile_url_is_a_clear_error(url, says, monkeypatch):
    with pytest.raises(ValueError, match="GEOSEEK_BASEMAP_URL") as err:
        check_tile_template(url)
    assert says in str(err.value)
    monkeypatch.setenv("GEOSEEK_BASEMAP_URL", url)
    settings, problem = load_settings()
    assert settings.basemap_url is None and says in problem and "validation error" not in problem


def test_settings_and_attribution(monkeypatch):
    for name in ("GEOSEEK_BASEMAP_URL", "GEOSEEK_BASEMAP_ATTRIBUTION"):
        monkeypatch.delenv(name, raising=False)
    assert load_settings() == (UiSettings(), None) and UiSettings().basemap_url is None
    assert UiSettings().attribution() == ""
    monkeypatch.setenv("GEOSEEK_BASEMAP_URL", OSM)
    assert UiSettings().basemap_url == OSM and UiSettings().attribution() == OSM_ATTRIBUTION
    monkeypatch.setenv("GEOSEEK_BASEMAP_URL", "http://127.0.0.1:9/{z}/{x}/{y}.png")
    assert UiSettings().attribution() == ""
    monkeypatch.setenv("GEOSEEK_BASEMAP_ATTRIBUTION", "© my tiles")
    assert UiSettings().attribution() == "© my tiles"
    monkeypatch.setenv("GEOSEEK_BASEMAP_URL", " ")
    assert UiSettings().basemap_url is None and UiSettings().attribution() == ""
