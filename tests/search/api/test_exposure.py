"""What the API tells a stranger: no absolute server path in any response under the default settings,
short error messages for long input, strict types, refused control characters, capped lists,
and the `paths` setting (relative / hidden / absolute) as the README documents it."""
from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from pydantic import ValidationError

from geoseek.indexer import run_index
from geoseek.schemas.errors import UnknownImageError
from geoseek.search import SearchEngine
from geoseek.search.api import ApiSettings, create_app
from geoseek.search.api.exposure import MAX_ECHO, PathMap, clip, strip_folders
from tests.conftest import RSICD, rsicd_images

LEGACY = Path(__file__).resolve().parents[2] / "data" / "legacy_index_v1"
ABSOLUTE = re.compile(r"(?:^|[\s'\"(\[=:])/[^\s/]")  # a path that starts at the file system root


def strings(value: object) -> Iterator[str]:
    """Every string in a JSON document, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings(v)


def assert_no_server_path(doc: object, *folders: Path) -> None:
    for s in strings(doc):
        assert not ABSOLUTE.search(s), s
        for folder in folders:
            assert str(folder) not in s, s


@pytest.fixture(scope="module")
def engine(small_index):
    return SearchEngine(small_index.root, device="cpu")


def _client(small_index, engine, **settings) -> TestClient:
    return TestClient(create_app(ApiSettings(index=small_index.root, device="cpu", **settings), engine=engine))


@pytest.fixture(scope="module")
def client(small_index, engine):
    with _client(small_index, engine) as c:
        yield c


@pytest.fixture(scope="module")
def broken(tmp_path_factory, tiny_vit_config):
    """An index of one TIFF (a single-file SRC) whose source is overwritten with garbage after indexing."""
    base = tmp_path_factory.mktemp("broken")
    src = base / "src"
    src.mkdir()
    Image.open(RSICD / rsicd_images(1)[0]["filepath"]).convert("RGB").save(src / "chip.tif")
    run_index([src / "chip.tif"], base / "ix", model=str(tiny_vit_config), device="cpu", progress=False)
    engine = SearchEngine(base / "ix", device="cpu")
    (src / "chip.tif").write_bytes(b"garbage" * 100)  # rasterio names the absolute path in its message
    return base, engine


def test_source_roots_are_recorded_at_indexing(engine, small_index, broken):
    rows = engine.state().images.rows.values()
    base = small_index.root.parent
    assert {r.extra["source_root"] for r in rows} == {str(base / d) for d in ("archive", "dup", "geo_a", "geo_b")}
    (row,) = broken[1].state().images.rows.values()
    assert row.extra["source_root"] == str(broken[0] / "src")  # a single file: its folder


def test_no_absolute_path_in_any_response(client, engine, small_index, tiny_vit_config):
    base, models = small_index.root.parent, tiny_vit_config.parent
    docs = []
    r = client.post("/v1/search/text", json={"query": "houses along a road", "k": 15})
    assert r.status_code == 200 and len(r.json()["results"]) == 15
    docs.append(r.json())
    docs.append(client.post("/v1/search/text", json={"query": "a road", "k": 3, "refine": True}).json())
    up = client.post("/v1/search/image", files={"file": ("q.jpg", small_index.chip0.read_bytes(), "image/jpeg")},
                     data={"k": "15"})
    assert up.status_code == 200
    docs.append(up.json())
    own = up.json()["results"][0]["image_id"]
    for form in ({"image_id": own, "k": "14"}, {"image_id": own, "target": "texts", "k": "10"}):
        r = client.post("/v1/search/image", data=form)
        assert r.status_code == 200
        docs.append(r.json())
    for iid in engine.state().images.ids:
        rec = client.get(f"/v1/images/{iid}")
        assert rec.status_code == 200
        docs.append(rec.json())
    stats = client.get("/v1/stats").json()
    assert stats["model"]["spec"] == tiny_vit_config.name  # a local model file, by its name
    docs += [stats, client.get("/v1/health").json()]
    errors = [client.get("/v1/images/nope"), client.get("/v1/images/nope/thumbnail"),
              client.post("/v1/search/text", json={"query": "\u0000"}),
              client.post("/v1/search/image", data={"image_id": "nope"}),
              client.get(f"/v1/images/{own}/crop", params={"box": "0,0,9999,9999"})]
    assert all(400 <= e.status_code < 500 for e in errors)
    docs += [e.json() for e in errors]
    assert_no_server_path(docs, base, models)
    shown = {h["path"] for h in docs[0]["results"]}
    assert str(small_index.tile_a.relative_to(base)) in shown and str(small_index.tile_b.relative_to(base)) in shown


def test_unreadable_source_message_carries_no_absolute_path(broken):
    base, engine = broken
    iid = engine.state().images.ids[0]
    with TestClient(create_app(ApiSettings(index=base / "ix", device="cpu"), engine=engine)) as c:
        for path in (f"/v1/images/{iid}/thumbnail", f"/v1/images/{iid}/crop?box=0,0,10,10"):
            r = c.get(path)
            assert r.status_code == 404 and "no longer readable" in r.json()["detail"]
            assert_no_server_path(r.json(), base)
            assert "src/chip.tif" in r.json()["detail"]  # below its source folder, like the record's path
        assert c.get(f"/v1/images/{iid}").json()["path"] == "src/chip.tif"
    with TestClient(create_app(ApiSettings(index=base / "ix", device="cpu", paths="absolute"), engine=engine)) as c:
        assert str(base / "src" / "chip.tif") in c.get(f"/v1/images/{iid}/thumbnail").json()["detail"]


@pytest.mark.parametrize("path", ["/v1/images/{}", "/v1/images/{}/thumbnail", "/v1/images/{}/crop?box=0,0,1,1"])
def test_long_image_id_gets_a_short_answer(client, path):
    r = client.get(path.format("a" * 10_000))
    assert 400 <= r.status_code < 500 and len(r.json()["detail"]) < 200, r.text[:300]
    r = client.post("/v1/search/image", data={"image_id": "a" * 10_000})
    assert r.status_code == 422 and len(r.json()["detail"]) < 200


def test_geoseek_errors_echo_at_most_a_hundred_characters(small_index, engine):
    app = create_app(ApiSettings(index=small_index.root, device="cpu"), engine=engine)

    def boom() -> None:
        raise UnknownImageError("x" * 10_000)

    app.add_api_route("/boom", boom)
    with TestClient(app) as c:
        r = c.get("/boom")
    assert r.status_code == 404
    assert r.json()["detail"] == f"unknown image id '{'x' * MAX_ECHO}…'"
    assert clip("abc", 2) == "ab…" and clip("abc") == "abc"


@pytest.mark.parametrize("body,fragment", [
    ({"query": "ok", "k": True}, "k"),
    ({"query": "ok", "k": "5"}, "k"),
    ({"query": "ok", "k": 5.0}, "k"),
    ({"query": "ok", "refine": "yes"}, "refine"),
    ({"query": "ok", "refine": 1}, "refine"),
    ({"query": "ok", "bbox": [True, False, True, True]}, "bbox"),
    ({"query": "ok", "bbox": ["1", "2", "3", "4"]}, "bbox"),
    ({"query": "ok", "weights": {"global": True, "region": 0, "object": 0}}, "weights must be numbers"),
    ({"query": "ok", "weights": {"global": 1, "region": 0, "object": 0, "x" * 10_000: 1}}, "only the keys"),
    ({"query": "ok", "start": 1_700_000_000}, "ISO 8601"),
    ({"query": 5}, "query"),
    ({"query": "\u0000"}, "query contains control characters"),
    ({"query": "houses\u0007 near a road"}, "query contains control characters"),
    ({"query": "houses\u009b"}, "query contains control characters"),
    ({"query": "ok", "collections": [f"c{i}" for i in range(10_000)]}, "at most 100 items"),
    ({"query": "ok", "collections": ["x" * 201]}, "at most 200 characters"),
    ({"query": "ok", "collections": ["a\u0000b"]}, "control characters"),
    ({"query": "ok", "levels": ["global", "region", "object", "global"]}, "at most 3 items"),
    ({"query": "ok", "levels": ["x" * 10_000]}, "levels"),
])
def test_text_search_strict_input_is_422_with_a_short_message(client, body, fragment):
    r = client.post("/v1/search/text", json=body)
    assert r.status_code == 422, r.text[:300]
    assert fragment in r.json()["detail"] and len(r.json()["detail"]) < 200, r.json()


def test_iso_dates_tabs_and_newlines_still_work(client, engine):
    r = client.post("/v1/search/text", json={"query": "houses along\ta road\n", "k": 3, "start": "2010-01-01T00:00:00Z",
                                             "end": "2021-01-01T00:00:00", "bbox": [-180, -90, 180.0, 90]})
    assert r.status_code == 200, r.text
    plain = client.post("/v1/search/text", json={"query": "houses along a road", "k": 3, "start": "2010-01-01T00:00:00Z",
                                                 "end": "2021-01-01T00:00:00", "bbox": [-180, -90, 180.0, 90]}).json()
    assert [h["image_id"] for h in r.json()["results"]] == [h["image_id"] for h in plain["results"]]


@pytest.mark.parametrize("form,fragment", [
    ({"image_id": "x", "k": "true"}, "k"),
    ({"image_id": "x", "k": "5.0"}, "k"),
    ({"image_id": "x", "k": "+5"}, "k"),
    ({"image_id": "x\u0000"}, "image_id contains control characters"),
    ({"image_id": "x", "levels": "global\u0001"}, "levels contains control characters"),
    ({"image_id": "x", "bbox": "1,2,3,\u00004"}, "bbox contains control characters"),
])
def test_image_search_form_is_strict(client, form, fragment):
    r = client.post("/v1/search/image", data=form)
    assert r.status_code == 422 and fragment in r.json()["detail"], r.text[:300]


def test_other_echoes_are_short(client):
    r = client.get("/v1/images/%00abc")
    assert r.status_code == 422 and "control characters" in r.json()["detail"]
    r = client.post("/v1/search/image", files={"file": ("a.txt", b"hello", "text/" + "x" * 900)})
    assert r.status_code == 415 and len(r.json()["detail"]) < 200
    r = client.post("/v1/search/image", data={"image_id": "x", "bbox": "y" * 120})
    assert r.status_code == 400 and len(r.json()["detail"]) < 200


def test_hidden_paths(small_index, engine):
    with _client(small_index, engine, paths="hidden") as c:
        hits = c.post("/v1/search/text", json={"query": "houses", "k": 15}).json()["results"]
        assert len(hits) == 15 and all(h["path"] == "" for h in hits)
        iid = hits[0]["image_id"]
        assert c.get(f"/v1/images/{iid}").json()["path"] == ""
        up = c.post("/v1/search/image", files={"file": ("q.jpg", small_index.chip0.read_bytes(), "image/jpeg")}).json()
        assert all(h["path"] == "" for h in up["results"])
        assert_no_server_path(c.get("/v1/stats").json(), small_index.root.parent)


def test_absolute_paths_as_the_catalog_has_them(small_index, engine):
    st = engine.state()
    with _client(small_index, engine, paths="absolute") as c:
        hits = c.post("/v1/search/text", json={"query": "houses", "k": 15}).json()["results"]
        assert {h["path"] for h in hits} == set(st.images.paths)
        chip = next(i for i in st.images.ids if st.images.rows[i].path == str(small_index.chip0))
        assert c.get(f"/v1/images/{chip}").json()["path"] == str(small_index.chip0)


def test_paths_setting_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("GEOSEEK_PATHS", "hidden")
    assert ApiSettings(index=tmp_path).paths == "hidden"
    monkeypatch.setenv("GEOSEEK_PATHS", "everything")
    with pytest.raises(ValidationError):
        ApiSettings(index=tmp_path)


def test_legacy_index_without_roots_falls_back_to_the_common_folder(tmp_path):
    index = tmp_path / "index"
    shutil.copytree(LEGACY / "index", index)
    engine = SearchEngine(index, device="cpu")
    st = engine.state()
    assert all("source_root" not in (r.extra or {}) for r in st.images.rows.values())
    iid = next(i for i in st.images.ids if st.images.rows[i].path.endswith("/archive/images/airport_348.jpg"))
    c = TestClient(create_app(ApiSettings(index=index, device="cpu"), engine=engine))  # no lifespan: no model load
    rec = c.get(f"/v1/images/{iid}").json()
    assert rec["path"] == "images/airport_348.jpg"
    pm = PathMap(st, "relative")
    assert all(not pm.path(i, st.images.rows[i].path).startswith("/") for i in st.images.ids)


def test_path_map_rules(small_index, engine):
    pm = PathMap(engine.state(), "relative")
    assert pm.relative("/srv/geo/[a.tif, b.tif]", "/srv/geo") == "geo/[a.tif, b.tif]"  # a mosaic's display path
    assert pm.relative("/srv/data/archive/images/x.jpg", "/srv/data/archive") == "archive/images/x.jpg"
    assert pm.relative("archive/images/x.jpg", "archive") == "archive/images/x.jpg"  # indexed with a relative SRC
    assert pm.relative("x.jpg", ".") == "x.jpg" and pm.relative("../data/x.jpg", "../data") == "data/x.jpg"
    assert pm.relative("/elsewhere/x.jpg", "/srv/geo") == "x.jpg"  # not below the root nor the common folder
    assert pm.relative("/x.jpg", "/") == "x.jpg"
    assert strip_folders("cannot open '/srv/a b/c/x.tif' or /opt/y.jpg") == "cannot open 'a b/c/x.tif' or y.jpg"
    assert strip_folders("see milvus://host:19530/db and 2020/01/02") == "see milvus://host:19530/db and 2020/01/02"
    assert strip_folders("ViT-B-32:/models/ft/x.pt") == "ViT-B-32:x.pt"
    with pytest.raises(ValueError):
        PathMap(engine.state(), "everything")  # type: ignore[arg-type]
