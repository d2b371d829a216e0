"""Write one training json: RSICD train + val and the NWPU-RESISC45 subset's train split, whose images get
class-phrase captions (RESISC has class labels only).

Usage: python benchmarks/build_train_mix.py BUILT OUT.json   (BUILT: where build_rsicd.py and build_resisc.py
wrote rsicd/ and resisc/); then `geoseek train --data OUT.json --image-dir BUILT ...`.

Each RESISC train image carries three captions, one per template below, filled with its class's phrase: the
trainer's multi-positive targets then treat same-class RESISC images in a batch as positives. RSICD test and
RESISC test are never written; RSICD val stays the validation split.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

PHRASES = {"airplane": "several airplanes", "airport": "an airport", "beach": "a beach",
           "commercial_area": "a commercial area", "desert": "a desert", "farmland": "farmland", "forest": "a forest",
           "industrial_area": "an industrial area", "island": "an island", "lake": "a lake", "mountain": "a mountain",
           "residential": "a residential area", "river": "a river", "wetland": "a wetland"}
TEMPLATES = ("an aerial image of {}", "a remote sensing image of {}", "{} seen from above")


def mix(built: Path) -> list[dict]:
    """The entries of the mixed json, paths relative to ``built``."""
    rsicd = json.loads((built / "rsicd" / "dataset_rsicd.json").read_text())
    images = [{"filepath": f"rsicd/RSICD_images/{e['filename']}", "split": e["split"], "label": e["label"],
               "sentences": [{"raw": s["raw"]} for s in e["sentences"]]}
              for e in rsicd["images"] if e["split"] in ("train", "val")]
    resisc = json.loads((built / "resisc" / "dataset.json").read_text())
    images += [{"filepath": f"resisc/{e['filepath']}", "split": "train", "label": e["label"],
                "sentences": [{"raw": t.format(PHRASES[e["label"]])} for t in TEMPLATES]}
               for e in resisc["images"] if e["split"] == "train"]
    return images


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("built", type=Path)
    ap.add_argument("out", type=Path)
    args = ap.parse_args()
    images = mix(args.built)
    args.out.write_text(json.dumps({"dataset": "rsicd+resisc14", "images": images}))
    print(f"{len(images)} images written to {args.out}")


if __name__ == "__main__":
    main()
