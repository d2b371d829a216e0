"""Recall of a model on rsicd_aid150 test and on rs_caption_mini, global-only vs fused, with the
exact `geoseek` commands a user runs (default: the shipped default model):

    geoseek index ../shared/data/rsicd_aid150/dataset_rsicd_aid150.json --split test --index DIR
    geoseek bench recall --index DIR --dataset ../shared/data/rsicd_aid150/dataset_rsicd_aid150.json --split test --levels global
    geoseek bench recall --index DIR --dataset ../shared/data/rsicd_aid150/dataset_rsicd_aid150.json --split test

and the same on the 29 rs_caption_mini images (all in its 'train' split), for the trained model
and for the untrained (random-init) tower as a floor.

    python benchmarks/default_model_recall.py [--model SPEC] [--work /tmp/geoseek-recall]
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
RSICD = DATA / "rsicd_aid150" / "dataset_rsicd_aid150.json"
MINI = DATA / "rs_caption_mini" / "captions.json"
OUT = ROOT / "benchmarks" / "results" / "default_model_recall.json"
GEOSEEK = [sys.executable, "-m", "geoseek.cli"]


def geoseek(*args: str) -> str:
    return subprocess.run([*GEOSEEK, *args], check=True, capture_output=True, text=True).stdout


def recall_pair(dataset: Path, split: str, index: Path, model: str) -> dict:
    shutil.rmtree(index, ignore_errors=True)
    t = time.perf_counter()
    geoseek("index", str(dataset), "--split", split, "--index", str(index), "--model", model, "--quiet")
    seconds = time.perf_counter() - t
    base = ["bench", "recall", "--index", str(index), "--dataset", str(dataset), "--split", split, "-q"]
    return {"index_seconds": round(seconds, 1),
            "global_only": json.loads(geoseek(*base, "--levels", "global")),
            "fused": json.loads(geoseek(*base)),
            # GeoSeek's generic defaults, for models that ship no tuned weights: shows what objects add.
            "fused_default_weights": json.loads(geoseek(*base, "--weights", "0.5,0.3,0.2"))}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="geoseek-default")
    ap.add_argument("--work", type=Path, default=Path("/tmp/geoseek-recall"))
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    result = {
        "model": args.model,
        "rsicd_aid150_test": recall_pair(RSICD, "test", args.work / "rsicd-test", args.model),
        "rs_caption_mini": recall_pair(MINI, "train", args.work / "mini", args.model),
        "rs_caption_mini_random_init": recall_pair(MINI, "train", args.work / "mini-random", "geoseek-default:random"),
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    for name, r in result.items():
        if isinstance(r, dict):
            print(f"{name:32s} global-only mR {r['global_only']['mR']:6.2f}   fused mR {r['fused']['mR']:6.2f}   "
                  f"fused 0.5/0.3/0.2 mR {r['fused_default_weights']['mR']:6.2f}   "
                  f"t2i R@10 {r['global_only']['t2i']['R@10']:6.2f} / {r['fused']['t2i']['R@10']:6.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
