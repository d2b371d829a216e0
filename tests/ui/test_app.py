"""Every control of the Streamlit app (AppTest), against a real API started on 127.0.0.1."""
from __future__ import annotations

from datetime import date

import pytest
from streamlit.testing.v1 import AppTest

from geoseek.cli.launch import APP, free_port
from geoseek.ui.app import parse_bbox
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
