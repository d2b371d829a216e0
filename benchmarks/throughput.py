"""Indexing throughput on this machine: images/s, encoded views/s and vectors/s.

Two encoders: the offline default (small RN image tower, 160 px) and an open_clip ViT-B-32
(224 px; random weights: speed does not depend on them). Two image inputs: 256 RSICD/AID chips
(150 px, one view each) and the Joplin 3072x2048 scene (DRIS views), indexed end to end
(read, plan, encode, objects, Parquet, FAISS) without captions; caption encoding is measured
separately on 1,000 unique RSICD captions. Each configuration runs REPEATS times (indexing into
a fresh directory, model already loaded); medians are quoted, and ViT-B-32 / default ratios
are computed from medians of the same run.

    python benchmarks/throughput.py [--repeats 3]
"""
from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from geoseek.indexer import run_index
from geoseek.index.info import index_info
from geoseek.models import load_encoder

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
OUT = ROOT / "benchmarks" / "results"
MODELS = {"geoseek-default": "geoseek-default", "open_clip ViT-B-32 (random init)": "ViT-B-32"}


def rsicd() -> dict:
    return json.loads((DATA / "rsicd_aid150" / "dataset_rsicd_aid150.json").read_text())


def chips_folder(folder: Path, n: int = 256) -> Path:
    """A folder of n RSICD/AID chips spread across classes (no captions)."""
    images = rsicd()["images"]
    folder.mkdir(parents=True, exist_ok=True)
    for e in images[:: len(images) // n][:n]:
        shutil.copy(DATA / "rsicd_aid150" / e["filepath"], folder / e["filename"])
    return folder


def caption_rate(encoder, repeats: int, n: int = 1000) -> dict:
    texts = sorted({s["raw"] for e in rsicd()["images"] for s in e["sentences"] if s["raw"].strip()})[:n]
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        encoder.encode_texts(texts)
        times.append(time.perf_counter() - t)
    return {"captions": len(texts), "median_seconds": round(statistics.median(times), 2),
            "captions_per_s": round(len(texts) / statistics.median(times), 1)}


def measure(encoder, spec: str, src: Path, repeats: int) -> dict:
    runs = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            rep = run_index([src], Path(tmp) / "ix", model=spec, progress=False, encoder=encoder)
            secs = time.perf_counter() - t
            info = index_info(Path(tmp) / "ix")
        views = info.views["global"] + info.views["region"]
        runs.append({"seconds": secs, "images": rep.new_images, "views": views, "vectors": sum(info.views.values())})
    med = statistics.median(r["seconds"] for r in runs)
    r0 = runs[0]
    return {"median_seconds": round(med, 2), "images": r0["images"], "encoded_views": r0["views"],
            "vectors": r0["vectors"], "images_per_s": round(r0["images"] / med, 2),
            "views_per_s": round(r0["views"] / med, 2), "vectors_per_s": round(r0["vectors"] / med, 2),
            "all_seconds": [round(r["seconds"], 2) for r in runs]}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        chips = chips_folder(Path(tmp) / "chips")
        scene = Path(tmp) / "scene"
        scene.mkdir()
        shutil.copy(DATA / "joplin_xview2" / "post_mosaic_3072x2048.jpg", scene / "joplin.jpg")
        results = {}
        for label, spec in MODELS.items():
            enc = load_encoder(spec, device="cpu")
            results[label] = {"model_id": enc.id, "input_px": enc.image_size, "dim": enc.dim,
                              "chips_256": measure(enc, spec, chips, args.repeats),
                              "joplin_scene": measure(enc, spec, scene, args.repeats),
                              "caption_encoding": caption_rate(enc, args.repeats)}
            print(label, json.dumps(results[label]), flush=True)
    a, b = (results[k] for k in MODELS)
    out = {
        "machine": {"cpu_threads": torch.get_num_threads(), "processor": platform.processor() or platform.machine(),
                    "torch": torch.__version__, "device": "cpu"},
        "repeats": args.repeats,
        "results": results,
        "ratio_vitb32_to_default_images_per_s": {
            k: round(b[k]["images_per_s"] / a[k]["images_per_s"], 3) for k in ("chips_256", "joplin_scene")},
        "ratio_vitb32_to_default_captions_per_s": round(
            b["caption_encoding"]["captions_per_s"] / a["caption_encoding"]["captions_per_s"], 3),
    }
    (OUT / "throughput.json").write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out["ratio_vitb32_to_default_images_per_s"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
