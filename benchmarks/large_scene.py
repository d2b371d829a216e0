"""A 10,000 x 10,000 px COG indexes in bounded memory: peak RSS of `geoseek index` on it, beside the
peak RSS of indexing one 150 px chip (the process's fixed cost: Python, torch, the model).

    python benchmarks/large_scene.py [--work /tmp/geoseek-large] [--side 10000]

The scene is the real post-tornado Joplin mosaic (examples' source, 3072 x 2048 px) resampled to
side x side px (bilinear), written as a tiled (512 px), DEFLATE, georeferenced GeoTIFF with internal
overviews 2..32: the layout of a COG. Resampled because no real scene of that size is in the
repository; the point is the reader's memory, which depends on the size, not on the content. A full
decode of the scene would be side*side*3 bytes (300 MB at 10,000 px) for the pixels alone.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "large_scene.json"
JOPLIN = ROOT.parent / "shared" / "data" / "joplin_xview2"


def make_scene(path: Path, side: int) -> None:
    """The Joplin mosaic resampled to side x side, written strip by strip (never whole in memory)."""
    import numpy as np
    import rasterio
    from PIL import Image
    from rasterio.enums import Resampling
    from rasterio.transform import from_bounds

    src = Image.open(JOPLIN / "post_mosaic_3072x2048.jpg").convert("RGB")
    with rasterio.open(sorted((JOPLIN / "tiles" / "post").glob("*.tif"))[0]) as t:
        crs, left, top, res = t.crs, t.bounds.left, t.bounds.top, t.res[0]
    right, bottom = left + 3072 * res, top - 2048 * res
    profile = dict(driver="GTiff", width=side, height=side, count=3, dtype="uint8", crs=crs, tiled=True, blockxsize=512,
                   blockysize=512, compress="deflate", transform=from_bounds(left, bottom, right, top, side, side))
    strip = 512
    with rasterio.open(path, "w", **profile) as dst:
        for y in range(0, side, strip):
            h = min(strip, side - y)
            box = (0, y * 2048 / side, 3072, (y + h) * 2048 / side)
            part = np.asarray(src.resize((side, h), Image.BILINEAR, box=box))
            dst.write(part.transpose(2, 0, 1), window=rasterio.windows.Window(0, y, side, h))
        dst.build_overviews([2, 4, 8, 16, 32], Resampling.average)


# Runs the geoseek CLI in this interpreter with an atexit hook: atexit runs before the interpreter tears its
# modules down, so VmHWM there is the peak of the work itself. torch's own teardown then adds about 200 MB of
# resident pages (`import torch` alone: see "torch_import" in the results), which ru_maxrss, the process
# peak, includes.
HOOK = """
import atexit, os, sys
def _hwm():
    with open(os.environ["GEOSEEK_BENCH_HWM"], "w") as f:
        f.write(next(l.split()[1] for l in open("/proc/self/status") if l.startswith("VmHWM")))
atexit.register(_hwm)
if sys.argv[1] == "--import-torch":
    import torch
else:
    from geoseek.cli import app
    sys.argv = ["geoseek", *sys.argv[1:]]
    app()
"""


def peak_rss_mb(args: list[str], work: Path) -> dict:
    """Peaks of one child running ``geoseek ARGS`` (or only ``import torch`` for ["--import-torch"]): the work's
    (VmHWM at exit, MB), the process's (ru_maxrss, MB, with the interpreter's teardown), seconds, last stderr line."""
    hwm = work / "hwm.txt"
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", "import resource, subprocess, sys; "
                           "p = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
                           "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); "
                           "print(p.stderr.strip().splitlines()[-1] if p.stderr.strip() else '', file=sys.stderr); "
                           "sys.exit(p.returncode)", sys.executable, "-c", HOOK, *args], capture_output=True, text=True,
                          env={**os.environ, "GEOSEEK_BENCH_HWM": str(hwm)})
    if proc.returncode != 0:
        raise SystemExit(f"failed: geoseek {' '.join(args)}\n{proc.stderr[-2000:]}")
    return {"work_peak_mb": round(int(hwm.read_text()) / 1024), "process_peak_mb": round(int(proc.stdout.strip()) / 1024),
            "seconds": round(time.perf_counter() - t, 1), "line": proc.stderr.strip()}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", type=Path, default=Path("/tmp/geoseek-large"))
    ap.add_argument("--side", type=int, default=10_000)
    args = ap.parse_args()
    work = args.work.resolve()
    (work / "scene").mkdir(parents=True, exist_ok=True)
    scene = work / "scene" / f"joplin_{args.side}.tif"
    if not scene.is_file():
        make_scene(scene, args.side)
    chip = work / "chip"
    chip.mkdir(exist_ok=True)
    (chip / "airport_1.jpg").write_bytes((ROOT / "examples" / "rsicd_aid" / "images" / "Airport" / "airport_348.jpg").read_bytes())
    index = ["index", "--device", "cpu", "--quiet"]
    subprocess.run(["rm", "-rf", str(work / "ix-chip"), str(work / "ix-scene")], check=True)
    torch_only = peak_rss_mb(["--import-torch"], work)
    chip_run = peak_rss_mb([*index, str(chip), "--index", str(work / "ix-chip")], work)
    scene_run = peak_rss_mb([*index, str(work / "scene"), "--index", str(work / "ix-scene")], work)
    info = json.loads(subprocess.run([sys.executable, "-m", "geoseek.cli", "info", "--index", str(work / "ix-scene"), "--json"],
                                     capture_output=True, text=True, check=True).stdout)
    out = {"scene": f"{args.side} x {args.side} px, 3 x uint8, tiled 512, DEFLATE, overviews 2-32 "
                    "(the Joplin mosaic resampled; see the docstring)",
           "scene_file_mb": round(scene.stat().st_size / 2**20, 1),
           "full_decode_mb": round(args.side * args.side * 3 / 2**20, 1),
           "peak_rss_mb": {name: {k: run[k] for k in ("work_peak_mb", "process_peak_mb")} for name, run in
                           (("torch_import", torch_only), ("one_150px_chip", chip_run), ("large_scene", scene_run))},
           "scene_over_chip_mb": scene_run["work_peak_mb"] - chip_run["work_peak_mb"],
           "seconds": {"one_150px_chip": chip_run["seconds"], "large_scene": scene_run["seconds"]},
           "views": info["views"], "index_line": scene_run["line"],
           "settings": {"GDAL_CACHEMAX": os.environ.get("GDAL_CACHEMAX", "GeoSeek's default (64 MB)"),
                        "batch_size": "default (16 on a CPU)"},
           "machine": "2 cores, CPU only, shipped default model"}
    OUT.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
