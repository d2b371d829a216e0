"""GeoJSON out: footprints and boxes as WGS84 polygons, exact through the raster's transform.

Checked on real rasters: the Joplin tiles (EPSG:4326) against Microsoft's building footprints
(joplin.geojson), and a UTM scene (tests/data/rasters/rgb-byte-tenth.tif, see SOURCES.md) where a
box is not a rectangle in longitude/latitude.
"""
from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from shapely.geometry import box as shapely_box
from shapely.geometry import shape
from typer.testing import CliRunner

from geoseek.cli import app
from geoseek.indexer import run_index
from geoseek.schemas.search import Box
from geoseek.search import SearchEngine
from geoseek.search.geojson import MEDIA_TYPE, box_polygon, feature_collection, image_transform
from tests.conftest import JOPLIN, RSICD

UTM = Path(__file__).resolve().parents[1] / "data" / "rasters" / "rgb-byte-tenth.tif"


@pytest.fixture(scope="module")
def joplin(tmp_path_factory, tiny_vit_config):
    """An index of the six Joplin tiles (one scene), the UTM scene and one plain JPEG."""
    base = tmp_path_factory.mktemp("geojson")
    for name, src in (("joplin", JOPLIN / "tiles" / "post"), ("utm", None), ("plain", None)):
        (base / name).mkdir()
        if src is not None:
            for t in src.glob("*.tif"):
                shutil.copy(t, base / name / t.name)
    shutil.copy(UTM, base / "utm" / UTM.name)
    shutil.copy(RSICD / "images" / "Beach" / "beach_1.jpg", base / "plain" / "beach_1.jpg")
    run_index([base / "joplin", base / "utm", base / "plain"], base / "ix", model=str(tiny_vit_config), device="cpu",
              progress=False)
    return SearchEngine(base / "ix", device="cpu")


def test_polygons_validate_and_boxes_lie_inside_their_footprint(joplin):
    resp = joplin.search_text("houses", k=10)
    fc = feature_collection(resp, joplin.state().images)
    assert fc["type"] == "FeatureCollection" and fc["hits"] == 3 and fc["not_georeferenced"] == 1  # the JPEG
    by_image: dict[str, dict] = {}
    for f in fc["features"]:
        geom = shape(f["geometry"])
        assert geom.is_valid and geom.geom_type == "Polygon" and geom.area > 0
        assert geom.exterior.is_ccw  # RFC 7946: exterior rings counter-clockwise
        by_image.setdefault(f["properties"]["image_id"], {})[f["properties"]["kind"]] = geom
    assert len(by_image) == 2
    for kinds in by_image.values():
        foot = kinds["footprint"]
        for kind in ("region", "object"):
            if kind in kinds:
                # Edges are sampled: a box on the image's edge (an edge cell) follows the true curved UTM edge
                # more finely than the footprint's chords, so it may stick out by a sliver, never more.
                outside = kinds[kind].difference(foot).area / kinds[kind].area
                assert outside < 1e-3, (kind, outside)
    assert any("object" in k for k in by_image.values())


def test_a_building_maps_onto_its_footprint(joplin):
    """The pixel box of each building in the scene, turned into a polygon, is that building's box on the map."""
    state = joplin.state()
    iid = next(i for i in state.images.ids if state.images.rows[i].width == 3072)
    transform, crs = image_transform(state.images.rows[iid])
    scene = shapely_box(*state.images.rows[iid].bounds)
    buildings = [shape(f["geometry"]) for f in json.loads((JOPLIN / "joplin.geojson").read_text())["features"]]
    inside = [b for b in buildings if scene.contains(b)]
    assert len(inside) > 100
    ious = []
    for b in inside[:200]:
        w, s, e, n = b.bounds
        (c0, r0), (c1, r1) = ~transform @ (w, n), ~transform @ (e, s)
        pixel = Box(x0=math.floor(c0), y0=math.floor(r0), x1=math.ceil(c1), y1=math.ceil(r1))
        poly = shape(box_polygon(pixel, transform, crs))
        env = shapely_box(w, s, e, n)
        ious.append(poly.intersection(env).area / poly.union(env).area)
    # Whole-pixel rounding of ~10-40 px buildings costs a few per cent of IoU; a misplaced box costs all of it.
    assert np.median(ious) > 0.85 and min(ious) > 0.6, (np.median(ious), min(ious))


def test_a_utm_box_is_transformed_vertex_by_vertex_not_interpolated(joplin):
    import rasterio
    from rasterio.warp import transform as reproject

    with rasterio.open(UTM) as ds:
        transform, crs, w, h = ds.transform, ds.crs.to_string(), ds.width, ds.height
    ring = box_polygon(Box(x0=0, y0=0, x1=w, y1=h), transform, crs)["coordinates"][0]
    # Back to pixels: every vertex lies on the box's edges (exact through the transform) ...
    xs, ys = reproject("EPSG:4326", crs, [p[0] for p in ring], [p[1] for p in ring])
    cols, rows = ~transform @ (np.array(xs), np.array(ys))
    on_edge = np.minimum.reduce([np.abs(cols), np.abs(cols - w), np.abs(rows), np.abs(rows - h)])
    assert on_edge.max() < 1e-3
    # ... and the mid-edge vertices are off the straight line between the corners (the grid is curved).
    corners = {(round(c), round(r)): p for c, r, p in zip(cols, rows, ring)}
    mid = ring[len(ring) // 8]  # on the bottom edge, half-way
    a, b = np.array(corners[(0, h)]), np.array(corners[(w, h)])
    assert np.linalg.norm(np.array(mid) - (a + b) / 2) > 1e-4  # degrees: about 10 m or more
    state = joplin.state()
    iid = next(i for i, path in zip(state.images.ids, state.images.paths) if path.endswith(UTM.name))
    resp = joplin.search_image(iid, k=3)
    assert resp.results  # query by the UTM image works; its own footprint is the ring above
    foot = next(f for f in feature_collection(joplin.search_text("sea", k=10), state.images)["features"]
                if f["properties"]["image_id"] == iid and f["properties"]["kind"] == "footprint")
    assert shape(foot["geometry"]).equals_exact(shape({"type": "Polygon", "coordinates": [ring]}), 1e-9)


def test_geojson_from_the_cli_and_the_api(joplin):
    from fastapi.testclient import TestClient

    from geoseek.search.api import ApiSettings, create_app

    res = CliRunner().invoke(app, ["search", "text", "houses", "-k", "5", "--index", str(joplin.root), "--device", "cpu",
                                   "--format", "geojson"])
    assert res.exit_code == 0, res.output
    cli = json.loads(res.stdout)
    assert cli["type"] == "FeatureCollection" and cli["not_georeferenced"] == 1 and "no georeference" in res.stderr
    with TestClient(create_app(ApiSettings(index=joplin.root, device="cpu"), engine=joplin)) as c:
        r = c.post("/v1/search/text", json={"query": "houses", "k": 5}, headers={"Accept": MEDIA_TYPE})
        assert r.status_code == 200 and r.headers["content-type"].startswith(MEDIA_TYPE)
        api = r.json()
        assert [f["geometry"] for f in api["features"]] == [f["geometry"] for f in cli["features"]]
        assert all(not f["properties"]["path"].startswith("/") for f in api["features"])  # paths as the API shows them
        iid = api["features"][0]["properties"]["image_id"]
        texts = c.post("/v1/search/image", data={"image_id": iid, "target": "texts"}, headers={"Accept": MEDIA_TYPE})
        assert texts.status_code == 406 and "captions" in texts.json()["detail"]
        plain = c.post("/v1/search/text", json={"query": "houses", "k": 5})
        assert plain.headers["content-type"].startswith("application/json") and "results" in plain.json()


def test_shapes_in_the_json_response_are_the_geojson_polygons(joplin):
    """shapes=true: one JSON call gives each image hit's exact polygons, the same as the GeoJSON output's."""
    from fastapi.testclient import TestClient

    from geoseek.client import ApiClient
    from geoseek.search.api import ApiSettings, create_app

    with TestClient(create_app(ApiSettings(index=joplin.root, device="cpu"), engine=joplin)) as c:
        client = ApiClient(str(c.base_url))
        client._http = c  # the client's own requests, served in this process
        fc = client.search_text("houses", k=5, geojson=True)
        geo = {(f["properties"]["image_id"], f["properties"]["kind"]): f["geometry"] for f in fc["features"]}
        plain = c.post("/v1/search/text", json={"query": "houses", "k": 5}).json()
        assert plain["results"] and all("shapes" not in h for h in plain["results"])  # not asked: as before
        got = client.search_text("houses", k=5, shapes=True)
        assert [{k: v for k, v in h.items() if k != "shapes"} for h in got["results"]] == plain["results"]
        by_hit = {(h["image_id"], kind): g for h in got["results"] for kind, g in (h["shapes"] or {}).items()}
        assert by_hit == geo and len({iid for iid, _ in geo}) == 2
        assert [h["shapes"] is None for h in got["results"]].count(True) == fc["not_georeferenced"] == 1  # the JPEG
        for h in got["results"]:
            assert h["shapes"] is None or set(h["shapes"]) == {"footprint"} | {k for k in ("region", "object") if h[f"{k}_box"]}
        # Image -> image, by id and by upload: the same shapes as that search's GeoJSON.
        iid = next(h["image_id"] for h in got["results"] if h["shapes"])
        for kw in ({"image_id": iid}, {}):
            data = b"" if kw else UTM.read_bytes()
            similar = client.search_image(data, UTM.name, "images", k=3, shapes=True, **kw)
            fc = client.search_image(data, UTM.name, "images", k=3, geojson=True, **kw)
            geo = {(f["properties"]["image_id"], f["properties"]["kind"]): f["geometry"] for f in fc["features"]}
            assert {(h["image_id"], kind): g for h in similar["results"] for kind, g in (h["shapes"] or {}).items()} == geo
            assert all("shapes" not in h for h in client.search_image(data, UTM.name, "images", k=3, **kw)["results"])
        texts = c.post("/v1/search/image", data={"image_id": iid, "target": "texts", "shapes": "true"})
        assert texts.status_code == 422 and "captions" in texts.json()["detail"]
        bad = c.post("/v1/search/text", json={"query": "houses", "shapes": "yes"})
        assert bad.status_code == 422  # a JSON boolean, like refine
