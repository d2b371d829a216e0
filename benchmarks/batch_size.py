"""The encoder batch size on this CPU: indexing speed and peak memory at batch 16, 32 and 64.

Speed: 256 RSICD/AID chips indexed end to end (as benchmarks/throughput.py does), the three batch sizes
interleaved in each of REPEATS rounds, in one process with the models loaded once; medians quoted.
Memory: the peak RSS (VmHWM) of a fresh process that loads the default model and encodes 256 view crops with
their dense grids (what indexing a large scene does, chunk by chunk), one process per batch size.

    python benchmarks/batch_size.py [--repeats 3]
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "batch_size.json"
SIZES = (16, 32, 64)
CHIP = ROOT / "examples" / "rsicd_aid" / "images" / "Airport" / "airport_348.jpg"

ENCODE_PEAK = """
import sys
from PIL import Image
from geoseek.models import load_encoder
enc = load_encoder(device="cpu", batch_size=int(sys.argv[1]))
crop = Image.open(sys.argv[2]).convert("RGB").resize((enc.image_size, enc.image_size))
enc.encode_images_and_dense([crop] * 256)
print(next(l.split()[1] for l in open("/proc/self/status") if l.startswith("VmHWM")))
"""


def index_speed(repeats: int) -> dict[int, dict]:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from throughput import chips_folder

    from geoseek.indexer import run_index
    from geoseek.models import load_encoder

    times: dict[int, list[float]] = {b: [] for b in SIZES}
    with tempfile.TemporaryDirectory() as tmp:
        chips = chips_folder(Path(tmp) / "chips")
        encoders = {b: load_encoder("geoseek-default", device="cpu", batch_size=b) for b in SIZES}
        for _ in range(repeats):
            for b in SIZES:
                with tempfile.TemporaryDirectory() as d:
                    t = time.perf_counter()
                    run_index([chips], Path(d) / "ix", model="geoseek-default", progress=False, encoder=encoders[b])
                    times[b].append(round(time.perf_counter() - t, 2))
    return {b: {"all_seconds": ts, "chips_per_s": round(256 / statistics.median(ts), 1)} for b, ts in times.items()}


def encode_peak_mb(batch: int) -> int:
    out = subprocess.run([sys.executable, "-c", ENCODE_PEAK, str(batch), str(CHIP)], capture_output=True, text=True,
                         check=True).stdout
    return round(int(out.strip().splitlines()[-1]) / 1024)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    speed = index_speed(args.repeats)
    out = {"machine": "2 cores, CPU only, shipped default model", "repeats": args.repeats,
           "index_256_chips": speed, "encode_256_crops_peak_rss_mb": {b: encode_peak_mb(b) for b in SIZES},
           "default_on_cpu": 16}
    OUT.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
