"""Index the whole RSICD/AID archive (10,000 files, 50,000 captions) with the default model.

Runs exactly what a user runs and records the wall time and `geoseek info --json`:

    geoseek index ../shared/data/rsicd_aid150/dataset_rsicd_aid150.json --index DIR
    geoseek info --index DIR --json

    python benchmarks/full_index.py [--index /tmp/x]
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
DATASET = ROOT.parent / "shared" / "data" / "rsicd_aid150" / "dataset_rsicd_aid150.json"
OUT = ROOT / "benchmarks" / "results" / "full_index_rsicd_aid150.json"
GEOSEEK = [sys.executable, "-m", "geoseek.cli"]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", type=Path, default=Path("/tmp/x"))
    args = ap.parse_args()
    shutil.rmtree(args.index, ignore_errors=True)
    t = time.perf_counter()
    subprocess.run([*GEOSEEK, "index", str(DATASET), "--index", str(args.index), "--quiet"], check=True)
    seconds = time.perf_counter() - t
    info = json.loads(subprocess.run([*GEOSEEK, "info", "--index", str(args.index), "--json"], check=True,
                                     capture_output=True, text=True).stdout)
    entries = json.loads(DATASET.read_text())["images"]
    result = {
        "command": f"geoseek index ../shared/data/rsicd_aid150/dataset_rsicd_aid150.json --index {args.index}",
        "wall_seconds": round(seconds, 1),
        "dataset_entries": len(entries),
        "dataset_captions": sum(len(e["sentences"]) for e in entries),
        "info": info,
    }
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "info"}))
    print(json.dumps({k: info[k] for k in ("images", "captions", "views", "views_per_image")}))
    print("skipped:", *(f"{s['path']}: {s['reason']}" for s in info["skipped"]), sep="\n  ")
    return 0


if __name__ == "__main__":
    sys.exit(main())
