"""End to end in a real browser: Debian's chromium, headless, driven by Playwright, on the demo sample.

The API and the UI run as real servers on 127.0.0.1 over an index of examples/ built with the
shipped default model (what `geoseek demo` serves). Screenshots go to a temporary folder, or to the
folder named by GEOSEEK_SCREENSHOTS_DIR: `make screenshots` points it at docs/screenshots/ (tracked,
linked from the README), so a plain test run never rewrites them.
"""
from __future__ import annotations

import io
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from geoseek.cli.launch import served, served_ui
from geoseek.indexer import run_index
from geoseek.ui.draw import OBJECT, REGION
from tests.ui.conftest import TILE_FILL

pytestmark = pytest.mark.slow  # starts servers or processes end to end (`pytest -m 'not slow'` skips it)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    """Where the screenshots go: $GEOSEEK_SCREENSHOTS_DIR if set (`make screenshots`), else a temporary folder."""
    folder = os.environ.get("GEOSEEK_SCREENSHOTS_DIR")
    if not folder:
        return tmp_path_factory.mktemp("screenshots")
    path = Path(folder).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def demo_urls(tmp_path_factory, tile_server):
    """The API and the UI on the demo sample; the UI's basemap is the local tile server (set for its process only)."""
    index = tmp_path_factory.mktemp("demo") / "index"
    run_index([EXAMPLES / "rsicd_aid" / "dataset.json", EXAMPLES / "joplin"], index, device="cpu", progress=False)
    with served(index) as api:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("GEOSEEK_BASEMAP_URL", tile_server.template)
            mp.setenv("GEOSEEK_BASEMAP_ATTRIBUTION", "test tiles (127.0.0.1)")
            ui_served = served_ui(api)  # the UI process starts here, with this environment
        with ui_served as ui:
            yield api, ui


@pytest.fixture(scope="module")
def page(demo_urls):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        page.set_default_timeout(90_000)
        yield page
        browser.close()


def box_pixels(png: bytes) -> int:
    """Pixels of exactly the region or object box colour in an image."""
    a = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).reshape(-1, 3)
    return int(sum((a == np.array(c)).all(axis=1).sum() for c in (REGION, OBJECT)))


def result_images(page) -> list:
    return page.locator("[data-testid='stImage'] img").all()


def test_text_query_shows_thumbnails_with_boxes(page, demo_urls, shots):
    _, ui = demo_urls
    page.goto(ui)
    page.get_by_text("captions ·").first.wait_for()  # the sidebar has reached the API
    page.get_by_label("Describe what you are looking for").fill("many planes are parked near a terminal")
    page.keyboard.press("Enter")
    page.get_by_text("results in").first.wait_for()
    page.locator("[data-testid='stImage'] img").nth(11).wait_for()
    imgs = result_images(page)
    assert len(imgs) >= 12
    # The boxes are drawn into the thumbnails: fetch what the browser shows and look for their colours.
    with_boxes = sum(box_pixels(page.request.get(img.get_attribute("src")).body()) > 0 for img in imgs[:12])
    assert with_boxes >= 6, with_boxes
    assert page.get_by_text("fused").count() >= 12
    page.screenshot(path=str(shots / "text-search.png"), full_page=False)
    _open_details(page, "Georeference and metadata", shots / "details.png")


def _open_details(page, shows: str, shot: Path) -> None:
    """Open the first hit's details, wait until ``shows`` is on the page, screenshot it as ``shot``."""
    page.get_by_role("button", name="Details").first.click()
    page.get_by_text(shows).wait_for()
    page.get_by_text("Details ·").scroll_into_view_if_needed()
    page.screenshot(path=str(shot), full_page=False)


def test_scene_query_shows_the_map_on_a_basemap_and_the_dris_tree(page, demo_urls, shots, tile_server):
    _, ui = demo_urls
    page.goto(ui)
    page.get_by_label("Describe what you are looking for").fill("houses destroyed by a tornado")
    page.get_by_label("Bounding box (WGS84)").fill("-94.4934,37.0706,-94.4889,37.0750")
    page.keyboard.press("Enter")  # the bbox field first, then search
    page.get_by_label("Describe what you are looking for").click()
    page.keyboard.press("Enter")
    page.get_by_text("1 georeferenced result").wait_for()
    page.get_by_text("test tiles (127.0.0.1)").wait_for()  # the basemap's attribution under the map
    chart = page.locator("[data-testid='stDeckGlJsonChart']").first
    chart.scroll_into_view_if_needed()
    deadline = time.monotonic() + 60
    while not tile_server.tiles() and time.monotonic() < deadline:  # the browser fetches the tiles itself
        page.wait_for_timeout(250)
    assert tile_server.tiles(), tile_server.requests
    page.wait_for_timeout(2000)  # let the tiles that arrived be drawn
    shot = chart.screenshot(path=str(shots / "scene-map.png"))
    a = np.asarray(Image.open(io.BytesIO(shot)).convert("RGB")).reshape(-1, 3)
    assert (a == np.array(TILE_FILL)).all(axis=1).mean() > 0.05  # the served tiles are on screen
    _open_details(page, "EPSG:4326", shots / "scene-details.png")


def test_upload_finds_similar_images_and_captions(page, demo_urls, shots):
    _, ui = demo_urls
    page.goto(ui)
    page.get_by_role("tab", name="Search by image").click()
    chip = next((EXAMPLES / "rsicd_aid" / "images" / "Airport").glob("*.jpg"))
    page.locator("input[type='file']").set_input_files(str(chip))
    page.get_by_role("button", name="Find similar images and captions").click()
    page.get_by_text("Captions that describe it", exact=True).wait_for()
    page.get_by_text("Similar images", exact=True).wait_for()
    page.locator("[data-testid='stDataFrame']").first.wait_for()
    page.locator("[data-testid='stImage'] img").nth(8).wait_for()
    assert len(result_images(page)) >= 9  # the upload preview + the similar images
    page.screenshot(path=str(shots / "image-search.png"), full_page=True)
