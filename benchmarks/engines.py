"""Local engine vs Ray engine for `geoseek index` on this machine, same input, same model.

Input: 256 RSICD/AID chips (a folder, no captions) and the Joplin 3072x2048 scene. Each engine
indexes into a fresh directory REPEATS times, alternating, through the `geoseek index` command a
user runs (so each run pays its own start-up: model load, and for Ray its local cluster and
actors). Medians and the Ray/local ratio are written to benchmarks/results/engines.json, with a
check that both engines produced the same index (views and search results).

    python benchmarks/engines.py [--repeats 3]
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
OUT = ROOT / "benchmarks" / "results" / "engines.json"
sys.path.insert(0, str(Path(__file__).resolve().parent))
from throughput import chips_folder  # noqa: E402


def index(src: Path, out: Path, engine: str) -> float:
    shutil.rmtree(out, ignore_errors=True)
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "geoseek.cli", "index", str(src), "--index", str(out), "--engine", engine,
                    "--device", "cpu", "-q"], check=True, capture_output=True)
    return time.perf_counter() - t


def same_index(a: Path, b: Path) -> bool:
    from geoseek.search import SearchEngine

    ea, eb = SearchEngine(a, device="cpu"), SearchEngine(b, device="cpu")
    sa, sb = ea.state(), eb.state()
    if {lv: d.size for lv, d in sa.levels.items()} != {lv: d.size for lv, d in sb.levels.items()}:
        return False
    queries = ["many buildings near a road", "a river with a bridge", "planes at an airport"]
    return all([h.image_id for h in ea.search_text(q, k=10).results] == [h.image_id for h in eb.search_text(q, k=10).results]
               for q in queries)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        src = chips_folder(Path(tmp) / "src")
        shutil.copy(DATA / "joplin_xview2" / "post_mosaic_3072x2048.jpg", src / "joplin.jpg")
        times: dict[str, list[float]] = {"local": [], "ray": []}
        for _ in range(args.repeats):
            for engine in times:
                times[engine].append(index(src, Path(tmp) / engine, engine))
        identical = same_index(Path(tmp) / "local", Path(tmp) / "ray")
    med = {e: statistics.median(v) for e, v in times.items()}
    result = {"input": "256 RSICD/AID chips + the Joplin 3072x2048 scene (257 images)", "cpus": 2, "repeats": args.repeats,
              "command": "geoseek index SRC --index DIR --engine local|ray --device cpu",
              "seconds_median": {e: round(v, 2) for e, v in med.items()},
              "seconds_all": {e: [round(x, 2) for x in v] for e, v in times.items()},
              "ray_over_local": round(med["ray"] / med["local"], 2), "identical_index": identical,
              "note": "wall time of the whole command, start-up included (Ray starts a local cluster and its actors)"}
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
