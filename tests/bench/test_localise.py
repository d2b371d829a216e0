"""geoseek bench localise on the real Joplin scene: figures equal direct computations, refine follows the service's rule."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from geoseek.bench.localise import (
    box_overlap_and_cover,
    building_mask,
    load_boxes,
    localisation_benchmark,
)
from geoseek.bench.recall import BenchError
from geoseek.indexer import run_index
from geoseek.schemas import DRISParams
from geoseek.schemas.search import Box, ImageHit
from geoseek.search.engine import SearchEngine
from geoseek.search.refine import child_windows, refine_hits
from tests.conftest import JOPLIN, MINI

BOXES = JOPLIN / "post_mosaic_building_boxes.json"
MOSAIC = JOPLIN / "post_mosaic_3072x2048.jpg"
QUERIES = ["buildings", "houses destroyed by a tornado", "a road"]


def test_overlap_and_cover_on_hand_made_boxes():
    mask = building_mask(np.array([[10, 10, 20, 20]]), 50, 40)
    assert mask.shape == (40, 50) and mask.sum() == 100 and mask[10:20, 10:20].all()
    inside, beside, half, corner = [12, 12, 18, 18], [30, 10, 40, 20], [15, 10, 25, 20], [20, 0, 30, 10]
    overlap, cover = box_overlap_and_cover(np.array([inside, beside, half, corner]), mask)
    assert overlap.tolist() == [True, False, True, False]  # the last one only touches a corner: no area
    assert cover.tolist() == [1.0, 0.0, 0.5, 0.0]


def test_mask_uses_pixel_centres_and_never_drops_a_box():
    mask = building_mask(np.array([[10.4, 10.6, 20.4, 20.6], [5.1, 5.1, 5.2, 5.2]]), 50, 40)
    assert mask[11:21, 10:20].all() and mask.sum() == 101  # centres 10.5..19.5 x 11.5..20.5, plus one px for the sliver
    assert mask[5, 5]


def test_load_boxes_reads_the_frame_of_the_named_image(tmp_path):
    boxes, frame = load_boxes(BOXES)
    assert boxes.shape == (975, 4) and frame == (3072, 2048)
    orphan = tmp_path / "boxes.json"
    orphan.write_text(json.dumps({"image": "elsewhere.jpg", "boxes": [{"bbox_xyxy": [0, 0, 5, 5]}]}))
    with pytest.raises(BenchError, match="pixel frame"):
        load_boxes(orphan)
    orphan.write_text(json.dumps({"width": 64, "height": 32, "boxes": [{"bbox_xyxy": [0, 0, 5, 5]}]}))
    assert load_boxes(orphan)[1] == (64, 32)


@pytest.fixture(scope="module")
def joplin(tmp_path_factory, tiny_vit_config) -> SearchEngine:
    # The tiny ViT: its 4x4 patch grid yields object views; the tiny RN's grid is too coarse for any.
    index = tmp_path_factory.mktemp("joplin") / "index"
    run_index([MOSAIC], index, model=str(tiny_vit_config), device="cpu", progress=False)
    return SearchEngine(index, device="cpu")


@pytest.fixture(scope="module")
def result(joplin) -> dict:
    return localisation_benchmark(joplin.root, BOXES, QUERIES, engine=joplin)


def test_result_shape_and_ranges(result, joplin):
    state = joplin.state()
    assert json.loads(json.dumps(result)) == result  # JSON-ready
    assert result["levels"] == ["region", "object"] and result["top"] == 20 and result["refine"] is False
    assert result["views"] == {"region": state.levels["region"].size, "object": state.levels["object"].size}
    assert result["views"]["object"] > 0 and result["refine_encoder_calls"] == 0
    assert result["model"] == state.manifest.model.id and result["dris"]["uniform"] is False
    for lv in ("region", "object"):
        assert 0 <= result["chance"][lv]["overlap"] <= 1 and 0 <= result["chance"][lv]["cover"] <= 1
        for q in QUERIES:
            row = result["queries"][q][lv]
            assert row["hits"] == len(row["boxes"]) == min(20, result["views"][lv])
            assert 0 <= row["cover"] <= row["overlap"] <= 1  # cover > 0 implies overlap
            assert row["scores"] == sorted(row["scores"], reverse=True)
        assert result["mean"][lv]["cover"] == pytest.approx(np.mean([result["queries"][q][lv]["cover"] for q in QUERIES]))


def test_ranking_and_figures_equal_a_brute_force_computation(result, joplin):
    state = joplin.state()
    gt, frame = load_boxes(BOXES)
    mask = building_mask(gt, *frame)
    q = joplin.encoder.encode_texts(["buildings"])[0].astype(np.float64)
    for lv in ("region", "object"):
        data = state.levels[lv]
        brute = np.array([float(np.dot(v.astype(np.float64), q)) for v in data.vectors])
        best = np.argsort(-brute, kind="stable")[:20]
        row = result["queries"]["buildings"][lv]
        assert row["scores"] == pytest.approx(brute[best].tolist(), abs=1e-5)
        assert row["boxes"] == data.bbox[best].tolist()
    covers = [mask[y0:y1, x0:x1].mean() for x0, y0, x1, y1 in row["boxes"]]
    assert row["cover"] == pytest.approx(np.mean(covers))
    assert row["overlap"] == pytest.approx(np.mean([c > 0 for c in covers]))
    all_covers = [mask[y0:y1, x0:x1].mean() for x0, y0, x1, y1 in data.bbox.tolist()]
    assert result["chance"]["object"]["cover"] == pytest.approx(np.mean(all_covers))


def test_refine_spends_encoder_calls_and_matches_the_query_service(result, joplin):
    top = 5
    out = localisation_benchmark(joplin.root, BOXES, ["buildings"], top=top, refine=True, engine=joplin)
    before, after = result["queries"]["buildings"], out["queries"]["buildings"]
    assert after["object"]["boxes"] == before["object"]["boxes"][:top]  # object hits are not refined
    assert out["refine_encoder_calls"] > 0 and out["refine_encoder_calls"] % 4 == 0
    # Each score only rises, so the k-th best after refine is at least the k-th best before it.
    assert all(a >= b - 1e-6 for a, b in zip(after["region"]["scores"], before["region"]["scores"][:top]))
    parents = before["region"]["boxes"][:top]
    side = joplin.encoder.image_size
    children = [list(c) for b in parents for c in child_windows(Box(x0=b[0], y0=b[1], x1=b[2], y1=b[3]), side, 3072, 2048)]
    assert all(b in parents or b in children for b in after["region"]["boxes"])
    assert after["region"]["refined"] == sum(b not in parents for b in after["region"]["boxes"])
    # The service's refine_hits on the same hits gives the same boxes and scores.
    state = joplin.state()
    imgs = state.images
    hits = [ImageHit(image_id=imgs.ids[0], score=s, level_scores={"region": s}, path=imgs.paths[0], width=3072,
                     height=2048, collection="x", region_box=Box(x0=b[0], y0=b[1], x1=b[2], y1=b[3]))
            for b, s in zip(parents, before["region"]["scores"][:top])]
    q = joplin.encoder.encode_texts(["buildings"])[0]
    service = refine_hits(state, hits, q, joplin.encoder, {"region": 1.0}, top=top)
    assert [[h.region_box.x0, h.region_box.y0, h.region_box.x1, h.region_box.y1] for h in service] == after["region"]["boxes"]
    assert [h.score for h in service] == pytest.approx(after["region"]["scores"], abs=1e-5)


def test_refusals(tmp_path, joplin, tiny_vit_config):
    with pytest.raises(BenchError, match="levels"):
        localisation_benchmark(joplin.root, BOXES, ["buildings"], levels=("region", "roofs"), engine=joplin)
    with pytest.raises(BenchError, match="top"):
        localisation_benchmark(joplin.root, BOXES, ["buildings"], top=0, engine=joplin)
    for queries in ([], ["buildings", "  "]):
        with pytest.raises(BenchError, match="non-empty"):
            localisation_benchmark(joplin.root, BOXES, queries, engine=joplin)
    chip = tmp_path / "chip"
    run_index([MINI / "UCM" / "1.tif"], chip, model=str(tiny_vit_config), device="cpu", progress=False)
    with pytest.raises(BenchError, match="256x256 px but the boxes are drawn on a 3072x2048"):
        localisation_benchmark(chip, BOXES, ["buildings"], engine=SearchEngine(chip, device="cpu"))


def test_geotiff_tiles_and_uniform_tiling_give_the_same_frame(tmp_path, result, tiny_vit_config):
    tiles, uniform = tmp_path / "tiles", tmp_path / "uniform"
    opts = dict(model=str(tiny_vit_config), device="cpu", progress=False, levels=["global", "region"])
    run_index([JOPLIN / "tiles" / "post"], tiles, **opts)
    run_index([MOSAIC], uniform, dris=DRISParams(uniform=True), **opts)
    t = localisation_benchmark(tiles, BOXES, ["buildings"], levels=("region",), top=3, refine=True,
                               engine=SearchEngine(tiles, device="cpu"))
    assert t["refine_encoder_calls"] > 0  # children were read from the six GeoTIFF tiles
    # Same scene, same pixel frame: the DRIS plan (hence the chance figures) matches the JPEG's closely.
    assert t["views"]["region"] == pytest.approx(result["views"]["region"], rel=0.05)
    assert t["chance"]["region"]["cover"] == pytest.approx(result["chance"]["region"]["cover"], abs=0.01)
    u = localisation_benchmark(uniform, BOXES, ["buildings"], levels=("region",), refine=True,
                               engine=SearchEngine(uniform, device="cpu"))
    assert u["dris"]["uniform"] is True and u["views"]["region"] == 48 * 32  # 64 px tiles over 3072x2048
    assert u["chance"]["region"]["mean_area_px"] == 64 * 64
    gt, (width, height) = load_boxes(BOXES)  # uniform tiles partition the scene: chance cover = building fraction
    assert u["chance"]["region"]["cover"] == pytest.approx(float(building_mask(gt, width, height).mean()))
    assert u["refine_encoder_calls"] == 0  # native-resolution tiles have nothing finer to see



@pytest.mark.slow
def test_localise_cli_json_and_readable_errors(joplin, tmp_path):
    cmd = [sys.executable, "-m", "geoseek.cli", "bench", "localise", "--index", str(joplin.root),
           "--boxes", str(JOPLIN / "post_mosaic_building_boxes.json"), "--query", "a road", "--top", "5"]
    run = subprocess.run(cmd + ["--out", str(tmp_path / "loc.json")], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    res = json.loads((tmp_path / "loc.json").read_text())
    assert list(res["queries"]) == ["a road"] and res["top"] == 5 and res["queries"]["a road"]["object"]["hits"] <= 5
    bad = subprocess.run(cmd + ["--levels", "global,nonsense"], capture_output=True, text=True)
    assert bad.returncode == 2 and "levels" in bad.stderr and "Traceback" not in bad.stderr
