"""Regenerate every table and plot in benchmarks/results/ and rewrite benchmarks/README.md, in one command.

    python benchmarks/run_all.py [--work /tmp/geoseek-bench] [--only STEP ...] [--skip STEP ...]

Steps (each writes its JSON under benchmarks/results/; all use the shipped default model):
  rsicd       the headline: the official RSICD test split (standard own-image rule), global-only and
              fused with weights tuned on RSICD val (`geoseek bench tune-fusion`), beside published
              numbers (benchmarks/published_rsicd.json); needs `build_rsicd.py BUILT/rsicd`
  orientations  RSICD val indexes averaging 1, 2, 4 and 8 orientations per view (`geoseek index
              --orientations N`), each tuned with `geoseek bench tune-fusion`: how the default count was chosen
  similar     `geoseek bench similar` (image->image by class) on RSICD test and on the NWPU-RESISC45
              subset's test split; needs `build_resisc.py BUILT/resisc`
  scenes      `geoseek bench scenes` on nwpu_vhr10 (small objects in large scenes): a DRIS and a
              uniform-tiling index, every configuration (fused at 0.5/0.3/0.2), with chance
  late        benchmarks/late_search.py        query cost on cells indexes: shared vs per-vector candidate
                                               search, latency and top-10 agreement (after rsicd, scenes)
  dris        benchmarks/dris_joplin.py        DRIS vs uniform view plans on the Joplin scene
  throughput  benchmarks/throughput.py         indexing throughput, default vs ViT-B-32 tower
  full_index  benchmarks/full_index.py         the whole RSICD/AID archive, then search_latency.py
                                               and search_example.py on it
  recall      the fast smoke benchmark on rsicd_aid150 (150 px AID chips, NOT comparable to published
              RSICD numbers): benchmarks/default_model_recall.py (test split, rs_caption_mini,
              random-init floor), then `geoseek bench tune-fusion` on val and `geoseek bench recall`
              on test with the val-tuned weights and refine on; skipped for a shipped model trained on the
              official RSICD (its train split holds rsicd_aid150 test scenes)
  caption     `geoseek bench caption`: official RSICD test images captioned from an index of its train
              split, global-only vs fused (weights from the 'rsicd' step's val tuning)
  localise    `geoseek bench localise` on the Joplin mosaic: DRIS vs uniform x refine off/on
  speed       `geoseek bench speed` on the RSICD test index and on a five-scene index
  engines     benchmarks/engines.py: `geoseek index --engine local` vs `--engine ray`
  stores      benchmarks/stores.py: FAISS vs Milvus Lite as the store of the RSICD test index
  switch      benchmarks/version_switch.py: 16 clients x 50 requests on `geoseek serve` while two new
              versions are published (errors, latency around each switch, one version per response)
  scale10m    benchmarks/scale_10m.py: 10M synthetic views built, tuned (PQ re-ranking, other queries)
              and served; about 90 minutes on 2 cores and 26 GB of disk under WORK/10m
  summary     benchmarks/summary.py: benchmarks/README.md and the PNG plots

Every step shells out to the same `geoseek` commands a user runs. Steps run in the order above;
`rsicd` builds the official RSICD test index that `similar`, `late`, `speed` and `stores` measure, so run
them together. BUILT (`--built`, default ../data beside the checkout) is where
`../shared/tools/build_rsicd.py BUILT/rsicd` and `build_resisc.py BUILT/resisc` wrote their output.
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
BENCH = ROOT / "benchmarks"
RESULTS = BENCH / "results"
DATA = ROOT.parent / "shared" / "data"
RSICD = DATA / "rsicd_aid150" / "dataset_rsicd_aid150.json"
NWPU = DATA / "nwpu_vhr10"
JOPLIN = DATA / "joplin_xview2"
SCENES = [JOPLIN / "post_mosaic_3072x2048.jpg", JOPLIN / "pre_mosaic_2048x2048.jpg",
          *sorted((DATA / "dota_samples" / "images").iterdir())]
LOCALISE_QUERIES = ["buildings", "houses destroyed by a tornado", "a road"]
STEPS = ["orientations", "rsicd", "similar", "scenes", "late", "dris", "throughput", "full_index", "recall", "caption", "localise", "speed", "engines", "stores", "switch", "scale10m", "summary"]


def run(*args: str | Path) -> str:
    """Run a command, echo it, fail loudly; returns stdout."""
    cmd = [str(a) for a in args]
    print("$", " ".join(cmd[2:] if cmd[:3] == [sys.executable, "-m", "geoseek.cli"] else cmd), flush=True)
    t = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-4000:])
        raise SystemExit(f"step failed ({done.returncode}): {' '.join(cmd)}")
    print(f"  ({time.perf_counter() - t:.0f} s)", flush=True)
    return done.stdout


def geoseek(*args: str | Path) -> str:
    return run(sys.executable, "-m", "geoseek.cli", *args)


def script(name: str, *args: str | Path) -> str:
    return run(sys.executable, BENCH / name, *args)


def fresh_index(path: Path, *srcs: str | Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    geoseek("index", *srcs, "--index", path, "--quiet")
    return path


def index_model(index: Path) -> str:
    """The model id an index records (``geoseek info``), e.g. ``geoseek-default@a4ccca6fff10``."""
    return json.loads(geoseek("info", "--index", index, "--json"))["model"]["id"]


def trained_on_official_rsicd() -> bool:
    """Whether the shipped checkpoint was trained on the official RSICD json, whose train split holds rsicd_aid150
    test scenes (the data README: never train on one and score on the other)."""
    from geoseek.models.checkpoints import load_checkpoint

    ckpt = load_checkpoint(ROOT / "geoseek" / "models" / "weights" / "geoseek-default.pt")
    return Path(str(ckpt.get("train", {}).get("config", {}).get("dataset", ""))).name == "dataset_rsicd.json"


def built(path: Path, tool: str) -> Path:
    """``path`` (a file a builder in ../shared/tools writes), or a clear exit naming the builder to run."""
    if not path.exists():
        raise SystemExit(f"{path} is missing: run ../shared/tools/{tool} {path.parent} (after fetching its sources; "
                         "see ../shared/data/README.md) or pass --built")
    return path


def recall_rows(index: Path, dataset: Path, weights: str) -> dict:
    """bench recall on the test split: global-only, fused with the val-tuned weights, and the lenient global-only row."""
    base = ["bench", "recall", "--index", index, "--dataset", dataset, "--split", "test", "-q"]
    return {"global_only": json.loads(geoseek(*base, "--levels", "global")),
            "fused_tuned": json.loads(geoseek(*base, "--weights", weights)),
            "lenient_global_only": json.loads(geoseek(*base, "--levels", "global", "--match", "caption"))}


def weights_spec(weights: dict) -> str:
    """A tune-fusion result's weights (per direction, or one triple in results from before directions) as a
    benchmark's ``--weights`` value."""
    from geoseek.schemas import FusionWeights

    return FusionWeights.model_validate(weights).spec()


def tuned_weights(index: Path, dataset: Path, out: Path) -> tuple[dict, str]:
    tuned = json.loads(geoseek("bench", "tune-fusion", "--index", index, "--dataset", dataset, "--split", "val", "--out", out))
    return tuned, weights_spec(tuned["chosen"]["weights"])


def step_rsicd(work: Path, built_dir: Path) -> None:
    dataset = built(built_dir / "rsicd" / "dataset_rsicd.json", "build_rsicd.py")
    t = time.perf_counter()
    test = fresh_index(work / "rsicd-official-test", dataset, "--split", "test")
    index_seconds = round(time.perf_counter() - t, 1)
    val = fresh_index(work / "rsicd-official-val", dataset, "--split", "val")
    tuned, weights = tuned_weights(val, dataset, RESULTS / "tune_fusion_rsicd_official_val.json")
    out = {"dataset": "RSICD, official split (dataset_rsicd.json as build_rsicd.py writes it)",
           "index_command": "geoseek index BUILT/rsicd/dataset_rsicd.json --split test --index DIR", "index_seconds": index_seconds,
           "tuned_on_val": tuned["chosen"], **recall_rows(test, dataset, weights)}
    (RESULTS / "recall_rsicd_official_test.json").write_text(json.dumps(out, indent=2) + "\n")


def step_orientations(work: Path, built_dir: Path) -> None:
    """Val mR (own-image rule) and indexing time per orientation count: the choice behind the checkpoint's count."""
    dataset = built(built_dir / "rsicd" / "dataset_rsicd.json", "build_rsicd.py")
    rows = []
    for n in (1, 2, 4, 8):
        t = time.perf_counter()
        val = fresh_index(work / f"rsicd-val-orientations{n}", dataset, "--split", "val", "--orientations", str(n))
        seconds = round(time.perf_counter() - t, 1)
        tuned, _ = tuned_weights(val, dataset, work / f"tune_orientations{n}.json")
        rows.append({"orientations": n, "index_seconds": seconds, "global_only_mR": tuned["global_only"]["mR"],
                     "tuned": tuned["chosen"]})
    out = {"dataset": "RSICD val (official split), own-image rule", "model": index_model(val), "rows": rows,
           "command": "geoseek index BUILT/rsicd/dataset_rsicd.json --split val --orientations N --index DIR; "
                      "geoseek bench tune-fusion --index DIR --dataset BUILT/rsicd/dataset_rsicd.json --split val"}
    (RESULTS / "orientations_rsicd_val.json").write_text(json.dumps(out, indent=2) + "\n")


def step_similar(work: Path, built_dir: Path) -> None:
    rsicd = built(built_dir / "rsicd" / "dataset_rsicd.json", "build_rsicd.py")
    resisc = built(built_dir / "resisc" / "dataset.json", "build_resisc.py")
    test = work / "rsicd-official-test"
    if not (test / "CURRENT").is_file():
        raise SystemExit(f"{test} is missing: run the 'rsicd' step first")
    res_index = fresh_index(work / "resisc-test", resisc, "--split", "test")
    out = {}
    # The manifest's weights: those the shipped model recommends (tuned on RSICD val), which every new index starts
    # from. Only these: the generic weights were dropped when image->image over grid cells took 15 min for RESISC
    # (now about 2 min, since the late level's candidate search shares its budget).
    for name, index, dataset in (("rsicd_test", test, rsicd), ("resisc14_test", res_index, resisc)):
        base = ["bench", "similar", "--index", index, "--dataset", dataset, "--split", "test", "-q"]
        out[name] = {"index_weights": json.loads(geoseek(*base))}
    (RESULTS / "similar.json").write_text(json.dumps(out, indent=2) + "\n")


def step_scenes(work: Path) -> None:
    images, coco = NWPU / "images", NWPU / "annotations.json"
    seconds = {}
    for name, extra in (("dris", []), ("uniform", ["--uniform"])):
        t = time.perf_counter()
        fresh_index(work / f"nwpu-{name}", images, *extra)
        seconds[name] = round(time.perf_counter() - t, 1)
    # The manifest's weights give objects 0 (tuned for captions), which makes fused equal global+region;
    # fused here uses the generic 0.5/0.3/0.2 so that the three-level row is a real three-level fusion.
    base = ["bench", "scenes", "--coco", coco, "--images", images, "--weights", "0.5,0.3,0.2", "-q"]
    out = json.loads(geoseek(*base, "--index", work / "nwpu-dris", "--label", "dris",
                             "--compare-index", work / "nwpu-uniform", "--compare-label", "uniform"))
    out["index_seconds"] = seconds
    (RESULTS / "scenes_nwpu_vhr10.json").write_text(json.dumps(out, indent=2) + "\n")
    # The same scenes with the weights the model ships (tuned on RSICD val, stored in every new manifest).
    tuned = geoseek("bench", "scenes", "--coco", coco, "--images", images, "-q", "--index", work / "nwpu-dris", "--label", "dris")
    (RESULTS / "scenes_nwpu_vhr10_shipped_weights.json").write_text(tuned if tuned.endswith("\n") else tuned + "\n")
    # How a hit's object box is chosen: every candidate rule on one half of the scenes, checked on the other.
    script("box_rules.py", "--index", work / "nwpu-dris", "--out", RESULTS / "box_rules_nwpu_vhr10.json")


def step_late(work: Path) -> None:
    """Query cost on cells indexes, shared vs per-vector candidate search (needs the rsicd and scenes steps' indexes)."""
    indexes = [work / "nwpu-dris", work / "rsicd-official-test"]
    for ix in indexes:
        if not (ix / "CURRENT").is_file():
            raise SystemExit(f"{ix} is missing: run the 'scenes' and 'rsicd' steps first")
    script("late_search.py", *(a for ix in indexes for a in ("--index", ix)), "--out", RESULTS / "late_search.json")


def step_full_index(work: Path) -> None:
    script("full_index.py", "--index", work / "full")
    script("search_latency.py", "--index", work / "full")
    script("search_example.py", "--index", work / "full")


def step_recall(work: Path) -> None:
    if trained_on_official_rsicd():
        print("  skipped: the shipped model was trained on RSICD train, which holds rsicd_aid150 test scenes; "
              "its results file keeps the earlier model's numbers, labelled with that model", flush=True)
        return
    script("default_model_recall.py", "--work", work / "recall")
    val = fresh_index(work / "val", RSICD, "--split", "val")
    tuned, weights = tuned_weights(val, RSICD, RESULTS / "tune_fusion_rsicd_aid150_val.json")
    test = work / "recall" / "rsicd-test"
    out = {"dataset": "rsicd_aid150 (150 px AID chips): a smoke benchmark, NOT comparable to published RSICD numbers",
           "tuned_on_val": tuned["chosen"], **recall_rows(test, RSICD, weights),
           "fused_tuned_refine": json.loads(geoseek("bench", "recall", "--index", test, "--dataset", RSICD, "--split",
                                                    "test", "-q", "--weights", weights, "--refine"))}
    (RESULTS / "recall_rsicd_aid150_test.json").write_text(json.dumps(out, indent=2) + "\n")


def step_caption(work: Path, built_dir: Path) -> None:
    """Retrieval captioning of the official RSICD test images from the captions of its train split, with the
    weights tuned on RSICD val (the 'rsicd' step writes them)."""
    dataset = built(built_dir / "rsicd" / "dataset_rsicd.json", "build_rsicd.py")
    train = fresh_index(work / "rsicd-official-train", dataset, "--split", "train")
    weights = weights_spec(json.loads((RESULTS / "tune_fusion_rsicd_official_val.json").read_text())["chosen"]["weights"])
    base = ["bench", "caption", "--index", train, "--dataset", dataset, "--split", "test", "-q"]
    out = {"global_only": json.loads(geoseek(*base, "--levels", "global")),
           "fused_tuned": json.loads(geoseek(*base, "--weights", weights)),
           "fused_default_weights": json.loads(geoseek(*base, "--weights", "0.5,0.3,0.2"))}
    (RESULTS / "caption_rsicd_test.json").write_text(json.dumps(out, indent=2) + "\n")


def step_localise(work: Path) -> None:
    scene = JOPLIN / "post_mosaic_3072x2048.jpg"
    out = {}
    for tiling, extra in (("dris", []), ("uniform", ["--uniform"])):
        index = fresh_index(work / f"joplin-{tiling}", scene, *extra)
        queries = [a for q in LOCALISE_QUERIES for a in ("--query", q)]
        for refine in (False, True):
            res = geoseek("bench", "localise", "--index", index, "--boxes", JOPLIN / "post_mosaic_building_boxes.json",
                          *queries, *(["--refine"] if refine else []))
            out[f"{tiling}_refine_{'on' if refine else 'off'}"] = json.loads(res)
    (RESULTS / "localise_joplin.json").write_text(json.dumps(out, indent=2) + "\n")


def test_index(work: Path) -> Path:
    """The official RSICD test index the 'rsicd' step builds (speed and stores measure it)."""
    test = work / "rsicd-official-test"
    if not (test / "CURRENT").is_file():
        raise SystemExit(f"{test} is missing: run the 'rsicd' step first")
    return test


def step_speed(work: Path) -> None:
    test = test_index(work)
    geoseek("bench", "speed", "--index", test, "--out", RESULTS / "speed_rsicd_test.json")
    scenes = fresh_index(work / "scenes", *SCENES)
    geoseek("bench", "speed", "--index", scenes, "--sample", len(SCENES), "--out", RESULTS / "speed_scenes.json")


def step_scale_10m(work: Path) -> None:
    """Build the 10M-view index, measure the PQ re-ranking factors on tuning queries, then serve the reported ones."""
    script("scale_10m.py", "--work", work / "10m", "--step", "build")
    script("scale_10m.py", "--work", work / "10m", "--step", "tune")
    script("scale_10m.py", "--work", work / "10m", "--step", "serve")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/geoseek-bench"), help="scratch indexes")
    ap.add_argument("--built", type=Path, default=ROOT.parent / "data",
                    help="where build_rsicd.py / build_resisc.py wrote rsicd/ and resisc/")
    ap.add_argument("--only", nargs="+", choices=STEPS, help="run only these steps")
    ap.add_argument("--skip", nargs="+", choices=STEPS, default=[], help="skip these steps")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    actions = {
        "orientations": lambda w: step_orientations(w, args.built),
        "rsicd": lambda w: step_rsicd(w, args.built),
        "similar": lambda w: step_similar(w, args.built),
        "scenes": step_scenes,
        "late": step_late,
        "dris": lambda w: script("dris_joplin.py"),
        "throughput": lambda w: script("throughput.py"),
        "full_index": step_full_index,
        "recall": step_recall,
        "caption": lambda w: step_caption(w, args.built),
        "localise": step_localise,
        "speed": step_speed,
        "engines": lambda w: script("engines.py"),
        "stores": lambda w: script("stores.py", "--index", test_index(w)),
        "switch": lambda w: script("version_switch.py", "--work", w / "switch"),
        "scale10m": step_scale_10m,
        "summary": lambda w: script("summary.py"),
    }
    started = time.perf_counter()
    for name in STEPS:
        if (args.only and name not in args.only) or name in args.skip:
            continue
        print(f"== {name}", flush=True)
        actions[name](args.work)
    print(f"done in {(time.perf_counter() - started) / 60:.1f} min; see benchmarks/README.md", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
