"""How a hit's object box is chosen on a cells index: candidate rules on NWPU VHR-10, chosen on one half of the
scenes and checked on the other (``geoseek.search.object_box`` holds the rule chosen).

The ranking is the engine's, with the index's fusion weights, exactly as ``geoseek bench scenes`` scores it; only
the box of each relevant top-10 hit changes between rules. The scenes are split by the parity of the sha256 of
their image id: ``select`` (even) chooses, ``check`` (odd) reports. The choice: the rule with the most boxes
holding an object of the class on ``select`` among those whose mean area is at most 10% of the scene (the
target of issue 15). Chance is the same box sizes placed at random in the same scenes (scene_boxes).

    python benchmarks/box_rules.py --index W/nwpu-dris --out benchmarks/results/box_rules_nwpu_vhr10.json
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
from pathlib import Path

import numpy as np

from geoseek.bench.scene_boxes import box_scores, random_placements
from geoseek.bench.scene_data import load_phrases, load_scenes
from geoseek.search.engine import SearchEngine
from geoseek.search.object_box import cells_box as union
from geoseek.search.object_box import grid_shape, window_box, windows

log = logging.getLogger("box_rules")
NWPU = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "nwpu_vhr10"
TOP, DRAWS, AREA_MAX = 10, 100, 0.10
CHOSEN = "win3_best_non_root_view"  # what geoseek.search.object_box implements


def rule_boxes(cells: np.ndarray, bbox: np.ndarray, views: int, tokens: np.ndarray, sentence: np.ndarray) -> dict:
    """Every candidate rule's box for one image: cells (n, D) float32 row-major per view, bbox (n, 4)."""
    per = len(cells) // views
    shape = grid_shape(bbox[:per])
    sims = cells @ tokens.T  # (n, T)
    row = sims.mean(axis=1)  # a cell's late-interaction score
    per_view = sims.reshape(views, per, -1).max(axis=1).mean(axis=1)  # FILIP of each view
    v_all = int(np.argmax(per_view))
    v_sub = int(np.argmax(per_view[1:]) + 1) if views > 1 else 0
    w3, w2 = windows(*shape), windows(*shape, side=(2, 2))

    def pooled(v: int, win: np.ndarray) -> np.ndarray:  # window vectors against the sentence
        m = cells[v * per + win].mean(axis=1)
        return (m / np.linalg.norm(m, axis=1, keepdims=True)) @ sentence

    def around(cell: int, win: np.ndarray) -> tuple[int, int, int, int]:  # best window holding a given cell
        v, local = divmod(cell, per)
        ok = win[(win == local).any(axis=1)]
        return union(bbox[v * per + ok[int(np.argmax(pooled(v, ok)))]])

    def in_view(v: int, win: np.ndarray, score: np.ndarray) -> tuple[int, int, int, int]:
        return union(bbox[v * per + win[int(np.argmax(score))]])

    best_cell = int(np.argmax(row))
    sub_row = row.copy()
    sub_row[: per if views > 1 else 0] = -np.inf
    every = np.stack([pooled(v, w3) for v in range(views)])
    vw, jw = np.unravel_index(int(np.argmax(every)), every.shape)
    vb = bbox[v_all * per:(v_all + 1) * per]
    return {
        "best_cell": tuple(int(x) for x in bbox[best_cell]),  # what search returned before this change
        "best_cell_of_best_view": tuple(int(x) for x in vb[int(np.argmax(row[v_all * per:(v_all + 1) * per]))]),
        "token_cells_of_best_view": union(vb[np.unique(sims[v_all * per:(v_all + 1) * per].argmax(axis=0))]),
        "token_cells_of_image": union(bbox[np.unique(sims.argmax(axis=0))]),
        "win2_best_view": in_view(v_all, w2, row[v_all * per + w2].mean(axis=1)),
        "win2_around_best_cell": around(best_cell, w2),
        "win2_around_best_non_root_cell": around(int(np.argmax(sub_row)), w2),
        "win3_best_view": in_view(v_all, w3, pooled(v_all, w3)),
        "win3_best_non_root_view": in_view(v_sub, w3, pooled(v_sub, w3)),
        "win3_best_of_all_views": union(bbox[vw * per + w3[jw]]),
        "win3_around_best_cell": around(best_cell, w3),
        "win3_around_best_non_root_cell": around(int(np.argmax(sub_row)), w3),
        "best_view": union(vb),
    }


def half_of(image_id: str) -> str:
    return "select" if int(hashlib.sha256(image_id.encode()).hexdigest(), 16) % 2 == 0 else "check"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", type=Path, required=True, help="a DRIS cells index of nwpu_vhr10/images")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    engine = SearchEngine(args.index, device="cpu")
    st = engine.state()
    scenes = load_scenes(NWPU / "annotations.json", NWPU / "images")
    phrases = load_phrases(scenes.classes, None)
    texts = [(c, p) for c in scenes.classes if scenes.relevant(c) for p in phrases[c]]
    encoded = engine.encode_text_queries([p for _, p in texts])
    obj, reg = st.levels["object"], st.levels["region"]
    rng = np.random.default_rng(0)
    scored: dict[tuple[str, str], list[tuple[bool, float, float]]] = {}
    agree = 0
    for (cls, _), q in zip(texts, encoded):
        resp = engine.search_text_vector(q, k=len(st.images.ids))
        for h in resp.results[:TOP]:
            if h.image_id not in scenes.relevant(cls):
                continue
            i = st.images.index_of[h.image_id]
            rows = np.arange(obj.starts[i], obj.ends[i])
            views = 1 + int(reg.ends[i] - reg.starts[i])
            boxes = rule_boxes(obj.vectors[rows].astype(np.float32), obj.bbox[rows], views,
                               q.tokens.astype(np.float32), q.sentence.astype(np.float32))
            shipped = window_box(obj, i, q.tokens.astype(np.float32), q.sentence.astype(np.float32), views)
            agree += shipped == boxes[CHOSEN] == (h.object_box.x0, h.object_box.y0, h.object_box.x1, h.object_box.y1)
            gt, area = scenes.boxes[cls][h.image_id], float(h.width * h.height)
            for name, box in boxes.items():
                hit, _ = box_scores(np.array([box]), gt)
                chance, _ = box_scores(random_placements(box, h.width, h.height, DRAWS, rng), gt)
                share = (box[2] - box[0]) * (box[3] - box[1]) / area
                for part in (half_of(h.image_id), "all"):
                    scored.setdefault((name, part), []).append((bool(hit[0]), share, float(chance.mean())))
    table: dict[str, dict] = {}
    for (name, part), vals in scored.items():
        a = np.array(vals, np.float64)
        table.setdefault(name, {})[part] = {"n": len(a), "contains": round(a[:, 0].mean(), 4),
                                            "area_share": round(a[:, 1].mean(), 4), "chance_contains": round(a[:, 2].mean(), 4)}
    eligible = {n: t["select"]["contains"] for n, t in table.items() if t["select"]["area_share"] <= AREA_MAX}
    out = {"index": str(args.index), "model": st.manifest.model.id, "weights": st.manifest.fusion.text_to_image.normalised(list(st.manifest.levels)),
           "top": TOP, "draws": DRAWS, "area_max": AREA_MAX, "split": "sha256(image_id) even: select, odd: check",
           "chosen_on_select": max(eligible, key=eligible.get), "implemented": CHOSEN,
           "engine_boxes_equal_implemented": f"{agree} of {len(scored[(CHOSEN, 'all')])}", "rules": table}
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    log.info("chosen on select: %s; %s", out["chosen_on_select"], table[CHOSEN])


if __name__ == "__main__":
    main()
