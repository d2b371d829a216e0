"""Every control of the Streamlit app (AppTest), against a real API started on 127.0.0.1."""
from __future__ import annotations

import json
from datetime import date

import pytest
from shapely.geometry import Polygon
from streamlit.testing.v1 import AppTest

from geoseek.cli.launch import APP, free_port
from geoseek.ui.app import parse_bbox
from geoseek.ui.draw import whole_image
from geoseek.client import ApiClient, ApiError
from tests.conftest import RSICD, rsicd_images

SCENE_BBOX = "-94.4934,37.0706,-94.4889,37.0750"  # inside the Joplin tile's footprint


@pytest.fixture()
def app(api_url, monkeypatch) -> AppTest:
    monkeypatch.setenv("GEOSEEK_API_URL", api_url)
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    return at


def search(at: AppTest, query: str) -> AppTest:
    at.text_input(key="query").input(query)
    next(b for b in at.button if b.label == "Search").click()
    at.run()
    assert not at.exception, at.exception
    return at


def test_sidebar_shows_the_index_and_the_manifest_weights(app, api_url):
    stats = ApiClient(api_url).stats()
    assert any(f"{stats['images']:,} images" in s.value for s in app.success)
    for lv in ("global", "region", "object"):
        assert app.slider(key=f"w_{lv}").value == pytest.approx(stats["fusion"][lv])


def test_text_search_shows_thumbnails_scores_and_details(app):
    search(app, "many buildings and a road")
    resp = app.session_state["text_results"]
    assert len(resp["results"]) == 12 and resp["levels"] == ["global", "region", "object"]
    assert len(app.image) >= 12  # one overlay per result
    shown = [m.value for m in app.markdown if "fused" in m.value]
    assert len(shown) == 12 and all("global" in s and "region" in s and "object" in s for s in shown)
    first = resp["results"][0]
    app.button(key=f"text-details-{first['image_id']}").click().run()
    assert any(first["path"].rsplit("/", 1)[-1] in h.value for h in app.subheader)
    assert any("Captions" in m.value for m in app.markdown)


def test_weight_sliders_and_global_only_reach_the_request(app):
    app.slider(key="w_global").set_value(1.0)
    app.slider(key="w_region").set_value(0.0)
    app.slider(key="w_object").set_value(0.0)
    search(app, "a green park")
    resp = app.session_state["text_results"]
    assert resp["weights"] == {"global": 1.0, "region": 0.0, "object": 0.0}
    assert all(h["score"] == pytest.approx(h["level_scores"]["global"], abs=1e-5) for h in resp["results"])
    app.toggle(key="global_only").set_value(True)
    search(app, "a green park")
    assert app.session_state["text_results"]["levels"] == ["global"]
    assert app.slider(key="w_region").disabled


def test_bbox_and_date_filters(app):
    app.text_input(key="bbox").input(SCENE_BBOX)
    search(app, "houses")
    hits = app.session_state["text_results"]["results"]
    assert len(hits) == 1 and hits[0]["bounds_wgs84"] is not None  # only the georeferenced scene is inside
    app.text_input(key="bbox").input("")
    app.checkbox(key="use_dates").check().run()
    app.date_input(key="dates").set_value((date(2011, 5, 1), date(2011, 5, 31)))
    search(app, "houses")
    assert [h["datetime"][:10] for h in app.session_state["text_results"]["results"]] == ["2011-05-25"]
    app.date_input(key="dates").set_value((date(2015, 1, 1), date(2016, 1, 1)))
    search(app, "houses")
    assert app.session_state["text_results"]["results"] == []
    assert any("No images match" in i.value for i in app.info)


def test_bad_input_and_api_errors_are_readable_messages(app, monkeypatch):
    app.text_input(key="bbox").input("1,2,3")
    search(app, "houses")
    assert any("bounding box must be four numbers" in e.value for e in app.error)
    app.text_input(key="bbox").input("")
    search(app, "x" * 1001)  # the API refuses it (422): shown as text, not a traceback
    assert any("HTTP 422" in e.value for e in app.error) and not app.exception
    dead = f"http://127.0.0.1:{free_port()}"
    app.text_input(key="api").input(dead).run()
    assert any("cannot reach the GeoSeek API" in e.value for e in app.error)
    search(app, "houses")
    assert any("cannot reach the GeoSeek API" in e.value for e in app.error) and not app.exception


def test_upload_finds_similar_images_and_captions(app, api_url):
    chip = rsicd_images(12)[3]
    data = (RSICD / chip["filepath"]).read_bytes()
    app.file_uploader(key="upload").set_value((chip["filename"], data, "image/jpeg"))
    app.run()
    app.button(key="image-search").click().run()
    assert not app.exception, app.exception
    res = app.session_state["image_results"]
    assert res["texts"]["results"] and res["images"]["results"]
    # The uploaded chip is itself indexed: it is its own best match.
    assert res["images"]["results"][0]["path"].endswith(chip["filename"])
    direct = ApiClient(api_url).search_image(data, chip["filename"], "texts", k=12, weights=res["texts"]["weights"])
    assert [h["text_id"] for h in res["texts"]["results"]] == [h["text_id"] for h in direct["results"]]
    shown = app.dataframe[0].value  # each distinct caption once, with how many captions in the index carry it
    assert list(shown["caption"]) == [h["text"] for h in direct["results"]]
    assert len(set(shown["caption"])) == len(shown)
    assert list(shown["in index"]) == [h["count"] for h in direct["results"]]


def test_upload_of_a_non_image_is_a_readable_error(app):
    app.file_uploader(key="upload").set_value(("notes.png", b"this is not an image", "image/png"))
    app.run()
    app.button(key="image-search").click().run()
    assert app.error and not app.exception
    assert "HTTP 4" in app.error[0].value


def test_parse_bbox_and_client_errors():
    assert parse_bbox(" ") is None
    assert parse_bbox("-94.5,37,-94.4,37.1") == (-94.5, 37.0, -94.4, 37.1)
    with pytest.raises(ValueError, match="min < max"):
        parse_bbox("10,10,5,20")
    with pytest.raises(ApiError, match="cannot reach"):
        ApiClient(f"http://127.0.0.1:{free_port()}", timeout=2).stats()


def test_image_search_honours_the_date_filter(app, ui_archive):
    scene = next((ui_archive / "scene").glob("*.tif"))
    app.checkbox(key="use_dates").check().run()
    app.date_input(key="dates").set_value((date(2011, 5, 1), date(2011, 5, 31)))
    app.file_uploader(key="upload").set_value((scene.name, scene.read_bytes(), "image/tiff"))
    app.run()
    app.button(key="image-search").click().run()
    assert not app.exception, app.exception
    hits = app.session_state["image_results"]["images"]["results"]
    assert [h["path"].rsplit("/", 1)[-1] for h in hits] == [scene.name]  # the only dated image
    assert app.session_state["image_results"]["texts"]["results"]  # captions are not date-filtered


def test_result_count_and_refine_reach_the_request(app, api_url):
    app.slider(key="k").set_value(4)
    search(app, "a road between buildings")
    assert len(app.session_state["text_results"]["results"]) == 4  # 13 images are indexed
    app.checkbox(key="refine").check()
    app.text_input(key="bbox").input(SCENE_BBOX)  # the large scene: its regions can be split at native resolution
    search(app, "a road between buildings")
    got = app.session_state["text_results"]["results"]
    weights = app.session_state["text_results"]["weights"]
    bbox = parse_bbox(SCENE_BBOX)
    refined = ApiClient(api_url).search_text("a road between buildings", k=4, weights=weights, bbox=bbox, refine=True)
    plain = ApiClient(api_url).search_text("a road between buildings", k=4, weights=weights, bbox=bbox)
    assert [(h["image_id"], h["score"], h["region_box"]) for h in got] == \
           [(h["image_id"], h["score"], h["region_box"]) for h in refined["results"]]
    assert got[0]["region_box"] != plain["results"][0]["region_box"]  # refine zoomed into a child region


def deck(at: AppTest, n: int = 0) -> dict:
    """The deck.gl JSON of the n-th map on the page."""
    charts = at.get("deck_gl_json_chart")
    assert len(charts) > n, "no map"
    return json.loads(charts[n].proto.json)


def layers(spec: dict) -> dict[str, dict]:
    return {layer["id"]: layer for layer in spec["layers"]}


def test_map_draws_exact_footprints_the_chosen_boxes_a_graticule_and_a_scale(app, api_url):
    app.text_input(key="bbox").input(SCENE_BBOX)
    search(app, "houses")
    hit = app.session_state["text_results"]["results"][0]
    got = layers(deck(app))
    exact = ApiClient(api_url).search_text("houses", k=12, bbox=parse_bbox(SCENE_BBOX), geojson=True)
    kinds = {f["properties"]["kind"]: f["geometry"]["coordinates"][0] for f in exact["features"]}
    assert {k: g["coordinates"][0] for k, g in hit["shapes"].items()} == kinds  # the hit's shapes: the GeoJSON's
    assert got["footprints"]["data"][0]["polygon"] == kinds["footprint"]  # the API's exact polygon
    assert got["footprint-labels"]["data"][0]["text"] == "#1"
    foot = Polygon(kinds["footprint"])
    for kind in ("region", "object"):
        if hit[f"{kind}_box"] and not whole_image(hit[f"{kind}_box"], hit):
            ring = got[f"chosen-{kind}"]["data"][0]["polygon"]
            assert ring == kinds[kind] and foot.buffer(1e-9).contains(Polygon(ring))
    assert "chosen-region" in got or "chosen-object" in got
    assert got["graticule"]["data"] and all(t["text"].endswith(("°N", "°W")) for t in got["graticule-labels"]["data"])
    assert got["scale-label"]["data"][0]["text"].endswith((" m", " km"))
    assert not any(k.startswith("basemap") for k in got) and got.get("mapStyle") is None
    assert any("No basemap" in c.value for c in app.caption)  # offline: no tile requested
    assert any(c.value.startswith("centre 37.07") and "W" in c.value for c in app.caption)


def test_map_basemap_tiles_come_from_the_configured_server(api_url, tile_server, monkeypatch):
    monkeypatch.setenv("GEOSEEK_API_URL", api_url)
    monkeypatch.setenv("GEOSEEK_BASEMAP_URL", tile_server.template)
    monkeypatch.setenv("GEOSEEK_BASEMAP_ATTRIBUTION", "test tiles")
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.run()
    at.text_input(key="bbox").input(SCENE_BBOX)
    search(at, "houses")
    tiles = [layer for layer in deck(at)["layers"] if layer["@@type"] == "BitmapLayer"]
    assert 1 <= len(tiles) <= 36
    base = tile_server.template.split("{z}")[0]
    assert all(t["image"].startswith(base) and t["image"].endswith(".png") for t in tiles)
    w, s, e, n = parse_bbox(SCENE_BBOX)
    assert any(t["bounds"][0] <= w and t["bounds"][2] >= e - 1e-3 for t in tiles)  # tiles lie under the scene
    assert any("test tiles" in c.value and "127.0.0.1" in c.value for c in at.caption)


def test_map_highlights_the_hit_whose_details_are_open_and_a_bad_basemap_url_is_a_message(app, monkeypatch):
    search(app, "houses")  # 12 of 13 images: the Joplin scene among the chips
    hits = app.session_state["text_results"]["results"]
    scene = next(h for h in hits if h.get("bounds_wgs84"))
    assert app.selectbox(key="text-map-hit").value == scene["image_id"]
    app.button(key=f"text-details-{scene['image_id']}").click().run()
    assert app.selectbox(key="text-map-hit").value == scene["image_id"] and not app.exception
    monkeypatch.setenv("GEOSEEK_BASEMAP_URL", "ftp://tiles.example/{z}/{x}.png")
    app.run()
    assert any("No basemap" in e.value and "http://" in e.value for e in app.error) and not app.exception
    assert not any(layer["@@type"] == "BitmapLayer" for layer in deck(app)["layers"])


@pytest.fixture()
def search_calls(monkeypatch) -> list[tuple[str, dict]]:
    """(path, JSON body or form) of every /v1/search request the app's client sends from now on."""
    calls: list[tuple[str, dict]] = []
    send = ApiClient._call

    def counted(self, method: str, path: str, **kwargs):
        if path.startswith("/v1/search/"):
            calls.append((path, kwargs.get("json") or kwargs.get("data") or {}))
        return send(self, method, path, **kwargs)

    monkeypatch.setattr(ApiClient, "_call", counted)
    return calls


def test_one_search_is_one_request_that_brings_the_map_shapes(app, search_calls, ui_archive):
    app.checkbox(key="refine").check()  # zoom refine runs once, on the server, for this one request
    app.text_input(key="bbox").input(SCENE_BBOX)
    search(app, "houses")
    assert [(path, body["shapes"], body["refine"]) for path, body in search_calls] == [("/v1/search/text", True, True)]
    hit = app.session_state["text_results"]["results"][0]
    assert layers(deck(app))["footprints"]["data"][0]["polygon"] == hit["shapes"]["footprint"]["coordinates"][0]
    app.run()  # a rerun (e.g. a widget change) draws the map again from the kept results: no request
    assert len(search_calls) == 1
    search_calls.clear()
    scene = next((ui_archive / "scene").glob("*.tif"))
    app.file_uploader(key="upload").set_value((scene.name, scene.read_bytes(), "image/tiff"))
    app.run()
    app.button(key="image-search").click().run()
    assert not app.exception, app.exception
    # One upload per target: similar images (with their shapes) and captions (which have no place).
    assert [(path, form["target"], form.get("shapes")) for path, form in search_calls] == \
           [("/v1/search/image", "images", "true"), ("/v1/search/image", "texts", None)]
    similar = app.session_state["image_results"]["images"]["results"]
    assert similar[0]["shapes"]["footprint"]["coordinates"][0] == layers(deck(app))["footprints"]["data"][0]["polygon"]
