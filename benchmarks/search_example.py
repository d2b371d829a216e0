"""The rsicd_aid150 example query through the CLI and through the API; both outputs are saved and compared.

    geoseek search text "many planes are parked near a terminal" --index /tmp/x -k 5 --json
    POST /v1/search/text {"query": "many planes are parked near a terminal", "k": 5}   (real server on 127.0.0.1)

    python benchmarks/search_example.py [--index /tmp/x]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from geoseek.cli.launch import served  # noqa: E402
from geoseek.index.info import index_info  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "search_example_rsicd.json"
QUERY = "many planes are parked near a terminal"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", type=Path, default=Path("/tmp/x"))
    args = ap.parse_args()
    cli = json.loads(subprocess.run([sys.executable, "-m", "geoseek.cli", "search", "text", QUERY, "--index", str(args.index),
                                     "-k", "5", "--json", "--device", "cpu"], check=True, capture_output=True, text=True).stdout)
    with served(args.index) as base:
        api = httpx.post(f"{base}/v1/search/text", json={"query": QUERY, "k": 5}, timeout=60).json()
    keys = ("image_id", "path", "region_box", "object_box", "level_scores")
    same = all(all(a[k] == b[k] for k in keys) and abs(a["score"] - b["score"]) < 1e-6
               for a, b in zip(cli["results"], api["results"], strict=True))
    model = index_info(args.index).model
    OUT.write_text(json.dumps({"query": QUERY, "model": model["id"] if model else None, "identical": same, "cli": cli,
                               "api": api}, indent=2) + "\n")
    for h in cli["results"]:
        print(f"{h['score']:.4f} {h['path']} region={h['region_box']} object={h['object_box']}")
    print("CLI and API identical:", same)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
