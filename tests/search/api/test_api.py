"""The HTTP API with TestClient against a real small index: every endpoint and every bad input."""
from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from geoseek.search import SearchEngine
from geoseek.search.api import ApiSettings, create_app
from tests.indexer.bad_inputs import make_bad_inputs


@pytest.fixture(scope="module")
def engine(small_index):
    return SearchEngine(small_index.root, device="cpu")


@pytest.fixture(scope="module")
def client(small_index, engine):
    app = create_app(ApiSettings(index=small_index.root, device="cpu", max_upload_bytes=2_000_000), engine=engine)
    with TestClient(app) as c:
        yield c


def test_health_stats_and_docs(client):
    assert client.get("/v1/health").json() == {"status": "ok", "version": "v0001"}
    stats = client.get("/v1/stats").json()
    assert stats["images"] == 15 and stats["captions"] == 60 and set(stats["views"]) == {"global", "region", "object"}
    assert stats["indices"]["global"]["kind"] == "flat"
    by_direction = stats["fusion_by_direction"]
    assert set(by_direction) == {"text_to_image", "image_to_text", "image_to_image"}
    assert stats["fusion"] == by_direction["text_to_image"]  # what a caption search (and the UI's sliders) start from
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    for p in ("/v1/search/text", "/v1/search/image", "/v1/images/{image_id}", "/v1/images/{image_id}/thumbnail",
              "/v1/images/{image_id}/crop", "/v1/health", "/v1/stats"):
        assert p in paths


def test_text_search_returns_images_with_boxes(client, engine):
    r = client.post("/v1/search/text", json={"query": "houses along a road", "k": 5})
    assert r.status_code == 200
    body = r.json()
    assert len(body["results"]) == 5 and body["levels"] == ["global", "region", "object"]
    expected = engine.search_text("houses along a road", k=5)
    assert [h["image_id"] for h in body["results"]] == [h.image_id for h in expected.results]
    hit = body["results"][0]
    assert {"image_id", "score", "level_scores", "path", "region_box", "object_box"} <= set(hit)
    g = client.post("/v1/search/text", json={"query": "houses along a road", "k": 3, "levels": ["global"]}).json()
    assert g["weights"] == {"global": 1.0} and set(g["results"][0]["level_scores"]) == {"global"}


@pytest.mark.parametrize("body,status,fragment", [
    ({"query": "", "k": 5}, 422, "at least 1 character"),
    ({"query": "   ", "k": 5}, 422, "blank"),
    ({"query": "x" * 10_000, "k": 5}, 422, "at most 1000"),
    ({"query": "ok", "k": 0}, 422, "greater than or equal to 1"),
    ({"query": "ok", "k": 100_000}, 422, "less than or equal to 1000"),
    ({"query": "ok", "bbox": [1, 2, 3]}, 422, "bbox"),
    ({"query": "ok", "bbox": [10, 10, 5, 5]}, 400, "not a WGS84 rectangle"),
    ({"query": "ok", "bbox": [0, 0, 500, 1]}, 400, "not a WGS84 rectangle"),
    ({"query": "ok", "levels": ["region"]}, 422, "must include 'global'"),
    ({"query": "ok", "levels": ["cloud"]}, 422, "levels"),
    ({"query": "ok", "weights": {"global": 0, "region": 0, "object": 0}}, 400, "sum to zero"),
    ({"query": "ok", "start": "2020-01-01T00:00:00", "end": "2010-01-01T00:00:00"}, 400, "start is after its end"),
    ({"k": 5}, 422, "query"),
])
def test_text_search_bad_input(client, body, status, fragment):
    r = client.post("/v1/search/text", json=body)
    assert r.status_code == status, r.text
    assert fragment in r.json()["detail"]


def test_text_search_wrong_content_type(client):
    r = client.post("/v1/search/text", content=b"query=houses", headers={"content-type": "application/x-www-form-urlencoded"})
    assert 400 <= r.status_code < 500 and "detail" in r.json()


def test_image_search_by_upload_and_by_id(client, small_index):
    data = small_index.chip0.read_bytes()
    r = client.post("/v1/search/image", files={"file": ("q.jpg", data, "image/jpeg")}, data={"k": "3"})
    assert r.status_code == 200, r.text
    paths = [h["path"] for h in r.json()["results"]]
    base = small_index.root.parent  # paths are shown below the source folder they were indexed from, its name first
    assert paths[:2] == [str(small_index.chip0.relative_to(base)), str(small_index.dup.relative_to(base))]
    own = r.json()["results"][0]["image_id"]
    by_id = client.post("/v1/search/image", data={"image_id": own, "k": "2"}).json()
    assert by_id["results"][0]["path"] == "dup/near_duplicate.jpg"
    texts = client.post("/v1/search/image", data={"image_id": own, "target": "texts", "k": "4", "levels": "global,region"}).json()
    assert len(texts["results"]) == 4 and all("text" in h for h in texts["results"])


def test_image_search_bad_input(client, tmp_path):
    bad = make_bad_inputs(tmp_path)
    cases = [
        ({"files": {"file": ("a.txt", b"hello", "text/plain")}}, 415, "not an image"),
        ({"files": {"file": ("a.jpg", b"hello", "image/jpeg")}}, 400, "not a readable image"),
        ({"files": {"file": ("a.jpg", b"", "image/jpeg")}}, 400, "empty"),
        ({"files": {"file": ("b.png", (tmp_path / "bomb.png").read_bytes(), "image/png")}}, 400, "decompression bomb"),
        ({"files": {"file": ("c.jpg", (tmp_path / "cmyk.jpg").read_bytes(), "image/jpeg")}}, 400, "band layout"),
        ({"files": {"file": ("t.jpg", (tmp_path / "truncated.jpg").read_bytes(), "image/jpeg")}}, 400, "truncated"),
        ({"files": {"file": ("g.gif", (tmp_path / "anim.gif").read_bytes(), "image/gif")}}, 415, "unsupported image format"),
        ({"files": {"file": ("big.jpg", b"\xff\xd8" + b"0" * 2_100_000, "image/jpeg")}}, 413, "limit"),
        ({"data": {"image_id": "nope"}}, 404, "unknown image id"),
        ({"data": {"k": "3"}}, 422, "exactly one"),
        ({"data": {"image_id": "x", "k": "0"}}, 422, "k"),
        ({"data": {"image_id": "x", "target": "maps"}}, 422, "target"),
        ({"data": {"image_id": "x", "bbox": "1,2"}}, 400, "four comma-separated"),
        ({"data": {"image_id": "x", "weights": "a,b,c"}}, 422, "weights"),
        ({"json": {"image_id": "x"}}, 415, "form"),
    ]
    assert set(bad) >= {"bomb.png", "cmyk.jpg", "truncated.jpg", "anim.gif"}
    for kwargs, status, fragment in cases:
        r = client.post("/v1/search/image", **kwargs)
        assert r.status_code == status, (kwargs.keys(), r.status_code, r.text)
        assert fragment in r.json()["detail"], r.json()


def test_image_record_thumbnail_and_crop(client, small_index, engine):
    st = engine.state()
    tile = next(i for i in st.images.ids if st.images.rows[i].path == str(small_index.tile_a))
    rec = client.get(f"/v1/images/{tile}").json()
    assert (rec["width"], rec["height"]) == (1024, 1024) and rec["crs"] == "EPSG:4326"
    assert rec["datetime"].startswith("2011-05-24") and len(rec["bounds_wgs84"]) == 4
    levels = {v["level"] for v in rec["views"]}
    assert levels == {"global", "region", "object"} and any(v["depth"] >= 2 for v in rec["views"])
    chip = next(i for i in st.images.ids if st.images.rows[i].path == str(small_index.chip0))
    assert len(client.get(f"/v1/images/{chip}").json()["captions"]) == 5
    t = client.get(f"/v1/images/{tile}/thumbnail", params={"size": 128})
    assert t.headers["content-type"] == "image/jpeg" and Image.open(io.BytesIO(t.content)).size == (128, 128)
    c = client.get(f"/v1/images/{tile}/crop", params={"box": "100,200,500,400", "size": 200})
    assert Image.open(io.BytesIO(c.content)).size == (200, 100)
    for path, params, status in [
        (f"/v1/images/{tile}/crop", {"box": "0,0,2000,10"}, 400),
        (f"/v1/images/{tile}/crop", {"box": "10,10,5,5"}, 400),
        (f"/v1/images/{tile}/crop", {"box": "a,b,c,d"}, 400),
        (f"/v1/images/{tile}/thumbnail", {"size": 5000}, 422),
        ("/v1/images/nope", {}, 404),
        ("/v1/images/nope/thumbnail", {}, 404),
        ("/v1/images/nope/crop", {"box": "0,0,1,1"}, 404),
    ]:
        r = client.get(path, params=params)
        assert r.status_code == status and "detail" in r.json(), (path, params, r.text)


def test_api_key_and_cors(small_index, engine):
    app = create_app(ApiSettings(index=small_index.root, api_key="s3cret"), engine=engine)
    with TestClient(app) as c:
        assert c.get("/v1/health").status_code == 200  # health stays open for probes
        r = c.post("/v1/search/text", json={"query": "houses"})
        assert r.status_code == 401 and "X-API-Key" in r.json()["detail"]
        assert c.post("/v1/search/text", json={"query": "houses"}, headers={"X-API-Key": "wrong"}).status_code == 401
        assert c.post("/v1/search/text", json={"query": "houses"}, headers={"X-API-Key": "s3cret"}).status_code == 200
        assert "access-control-allow-origin" not in c.get("/v1/health", headers={"Origin": "http://evil.example"}).headers


def test_model_and_index_load_at_startup(small_index):
    app = create_app(ApiSettings(index=small_index.root, device="cpu"))
    with TestClient(app) as c:
        assert app.state.engine is not None and app.state.engine._encoder is not None  # loaded before any request
        assert c.post("/v1/search/text", json={"query": "houses", "k": 1}).status_code == 200


@pytest.mark.slow
def test_cli_and_api_return_identical_results(client, small_index):
    out = subprocess.run([sys.executable, "-m", "geoseek.cli", "search", "text", "houses along a road", "--index",
                          str(small_index.root), "-k", "5", "--json", "--device", "cpu"], capture_output=True, text=True, check=True)
    cli = json.loads(out.stdout)
    api = client.post("/v1/search/text", json={"query": "houses along a road", "k": 5}).json()
    for a, b in zip(cli["results"], api["results"], strict=True):
        assert a["image_id"] == b["image_id"] and a["region_box"] == b["region_box"] and a["object_box"] == b["object_box"]
        assert a["score"] == pytest.approx(b["score"], abs=1e-6)


def test_mixed_timezones_and_corrupt_sources_are_client_errors(tmp_path, small_index, tiny_vit_config):
    from geoseek.indexer import run_index

    r_mixed = None
    src = tmp_path / "src"
    src.mkdir()
    data = small_index.chip0.read_bytes()
    (src / "c.jpg").write_bytes(data)
    run_index([src], tmp_path / "ix", model=str(tiny_vit_config), device="cpu", progress=False)
    app = create_app(ApiSettings(index=tmp_path / "ix", device="cpu"))
    with TestClient(app) as c:
        r_mixed = c.post("/v1/search/text", json={"query": "x", "start": "2020-01-01T00:00:00Z", "end": "2021-01-01T00:00:00"})
        assert r_mixed.status_code == 200
        iid = c.post("/v1/search/text", json={"query": "x", "k": 1}).json()["results"][0]["image_id"]
        (src / "c.jpg").write_bytes(data[: len(data) // 3])  # the source is damaged after indexing
        r = c.get(f"/v1/images/{iid}/thumbnail")
        assert r.status_code == 404 and "no longer readable" in r.json()["detail"]
        assert c.post("/v1/search/image", data={"image_id": iid, "target": "texts", "bbox": "0,0,1,1"}).status_code == 400


def test_image_to_text_gives_each_caption_once_unless_asked(client, engine):
    from geoseek.search.texts import caption_key

    own = engine.state().images.ids[0]
    form = {"image_id": own, "target": "texts", "k": "20"}
    grouped = client.post("/v1/search/image", data=form).json()["results"]
    every = client.post("/v1/search/image", data={**form, "distinct": "false"}).json()["results"]
    assert len({caption_key(h["text"]) for h in grouped}) == len(grouped) == 20
    assert [h["text_id"] for h in every] == [h.text_id for h in engine.search_image(own, "texts", 20, distinct=False).results]
    keys = [caption_key(t) for t in engine.state().text.texts]
    assert [h["count"] for h in grouped] == [keys.count(caption_key(h["text"])) for h in grouped]
    assert len({caption_key(h["text"]) for h in every}) < len(every)  # the raw list repeats captions here
