"""Write a tiny index with the pre-refactor code (run with /work/cimain's venv) and record its answers."""
import json
import shutil
import sys
from pathlib import Path

import numpy as np

out = Path(sys.argv[1]); shared = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "rsicd_aid150"
if out.exists(): shutil.rmtree(out)
src = out / "archive"; (src / "images").mkdir(parents=True)
data = json.loads((shared / "dataset_rsicd_aid150.json").read_text())
entries = [e for e in data["images"] if e["split"] == "test"][::25][:8]
new = []
for e in entries:
    shutil.copy(shared / e["filepath"], src / "images" / Path(e["filepath"]).name)
    new.append({**e, "filepath": "images/" + Path(e["filepath"]).name})
shutil.copy("/work/shared/data/dota_samples/images/mmrotate_dota_demo_1616x1565.jpg", src / "images" / "dota_demo.jpg")
new.append({"filename": "dota_demo.jpg", "filepath": "images/dota_demo.jpg", "split": "test", "imgid": 99999,
            "sentences": [{"raw": "many planes are parked at the airport apron .", "sentid": 999990}]})
(src / "dataset.json").write_text(json.dumps({"dataset": "legacy", "images": new}, indent=0))
from geoseek.indexer import run_index

rep = run_index([src / "dataset.json"], out / "index", device="cpu", shard_size=4)
print(rep)
from geoseek.search.engine import SearchEngine

eng = SearchEngine(out / "index", device="cpu")
st = eng.state()
def dump(resp):
    d = json.loads(resp.model_dump_json())
    for r in d["results"]:
        r.pop("path", None)
    d.pop("took_ms")
    return d
answers = []
for row in (0, 7, 20):
    q = st.text.vectors[row].astype(np.float32)
    for levels in (["global"], None):
        answers.append({"kind": "text_vector", "text_row": row, "levels": levels, "k": 5,
                        "response": dump(eng.search_text_vector(q, 5, levels))})
for iid in st.images.ids[:3]:
    for target in ("images", "texts"):
        answers.append({"kind": "image", "image_id": iid, "target": target, "k": 4,
                        "response": dump(eng.search_image(iid, target, 4))})
answers.append({"kind": "text", "query": "many planes are parked at the airport apron", "k": 5,
                "response": dump(eng.search_text("many planes are parked at the airport apron", 5))})
answers.append({"kind": "text", "query": "a bridge over a river", "k": 3, "refine": True,
                "response": dump(eng.search_text("a bridge over a river", 3, refine=True))})
up = (src / "images" / "bridge_47.jpg").read_bytes()
for target in ("images", "texts"):
    answers.append({"kind": "upload", "file": "archive/images/bridge_47.jpg", "target": target, "k": 4,
                    "response": dump(eng.search_image(up, target, 4))})
(out / "expected.json").write_text(json.dumps({"levels": st.manifest.levels, "n_images": len(st.images.ids),
    "views": {lv: st.levels[lv].size for lv in st.levels}, "answers": answers}, indent=1))
print({lv: st.levels[lv].size for lv in st.levels})
