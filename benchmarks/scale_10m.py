"""Ten million views on this machine: a real index directory of synthetic clustered vectors, built through
GeoSeek's own catalog, Parquet shards and publish step, then served by a fresh SearchEngine process.

    python benchmarks/scale_10m.py [--images 1000000] [--work /tmp/geoseek-10m] [--queries 200] [--rebuild]
                                   [--step build|publish|tune|serve|all]

Vectors: as benchmarks/synthetic_index.py (2,000 cluster centres; each image near one centre; 1 global, 3 region
and 6 object views per image with growing spread), so 1,000,000 images are 10,000,000 views of 384-d. They are
generated shard by shard (20,000 images) and never all held. Measured:
- build: wall time of writing the shards and catalog, and of publishing (column files + FAISS) with its peak
  RSS and, sampled every 0.2 s, its peak anonymous (held) and mapped-file pages; disk size of the shards,
  catalog and live version (``--step publish`` publishes the same shards again, as after a builder change);
- serving, in a fresh process whose page cache for the index was dropped first (posix_fadvise DONTNEED):
  load time, fused and global-only text->image latency (query vector given: text encoding excluded) on the
  cold pass and on a warm pass, RSS split into the process's own (anonymous) and mapped-file pages, and peak;
- agreement: the fused top-10 of each query against the exact fused top-10 (every view scored, max per image
  and level, the engine's fusion), computed in a separate process so it does not touch the server's pages.

``--step tune`` chooses HNSW's efSearch (geoseek.indexer.builder) and the PQ levels' REFINE_FACTOR
(geoseek.search.candidates) on other queries (seed 2) than those reported (seed 1): agreement and warm fused
latency for each pair, written to results/scale_10m_tune.json.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "scale_10m.json"
PER_IMAGE = {"global": 1, "region": 3, "object": 6}
SPREAD = {"global": 0.6, "region": 0.9, "object": 1.2}
SHARD_IMAGES = 20_000
DIM = 384


def _status() -> dict[str, int]:
    keys = ("VmHWM", "VmRSS", "RssAnon", "RssFile")
    out = {}
    for line in open("/proc/self/status"):
        name = line.split(":")[0]
        if name in keys:
            out[name] = int(line.split()[1]) // 1024
    return out


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _shard_vectors(first: int, n: int, centres: np.ndarray, owner: np.ndarray, seed: int) -> np.ndarray:
    """(n * 10, D) float32: image by image, its global, 3 region and 6 object views (rows of an image together)."""
    rng = np.random.default_rng([seed, first])
    per = sum(PER_IMAGE.values())
    out = np.empty((n, per, DIM), np.float32)
    col = 0
    base = centres[owner[first : first + n]][:, None, :]
    for level, k in PER_IMAGE.items():
        noise = rng.standard_normal((n, k, DIM), dtype=np.float32) * (SPREAD[level] / np.sqrt(DIM))
        out[:, col : col + k] = base + noise
        col += k
    return _unit(out.reshape(-1, DIM))


def build(work: Path, n_images: int, seed: int = 0) -> dict:
    """Write the index at work/ix through the catalog and shard writer, then publish it; returns timings."""
    import pyarrow as pa

    from geoseek.index.catalog import Catalog, ImageRow, ShardRow
    from geoseek.index.layout import IndexDir
    from geoseek.index.shards import write_shard
    from geoseek.schemas.jobs import IndexSettings

    idx = IndexDir(work / "ix")
    idx.root.mkdir(parents=True, exist_ok=True)
    idx.shards.mkdir(exist_ok=True)
    catalog = Catalog(idx.default_catalog_url)
    rng = np.random.default_rng(seed)
    centres = _unit(rng.standard_normal((2000, DIM)).astype(np.float32))
    owner = rng.integers(0, len(centres), n_images)
    levels = [lv for lv, k in PER_IMAGE.items() for _ in range(k)]
    per = len(levels)
    t = time.perf_counter()
    for s, first in enumerate(range(0, n_images, SHARD_IMAGES)):
        n = min(SHARD_IMAGES, n_images - first)
        ids = [f"syn{i:08d}" for i in range(first, first + n)]
        rows = n * per
        zeros4 = pa.FixedSizeListArray.from_arrays(pa.array(np.zeros(rows * 4, np.int32)), 4)
        nan = pa.array(np.full(rows, np.nan))
        views = {"node_id": [f"{i}/{j}" for i in ids for j in range(per)], "image_id": [i for i in ids for _ in range(per)],
                 "level": levels * n, "parent": pa.array(np.tile(np.array([-1] + [0] * (per - 1), np.int32), n)),
                 "depth": pa.array(np.tile(np.array([0, 1, 1, 1] + [2] * 6, np.int16), n)), "bbox": zeros4, "node_box": zeros4,
                 "complexity": pa.array(np.zeros(rows, np.float32)), "saliency": pa.array(np.zeros(rows, np.float32)),
                 "west": nan, "south": nan, "east": nan, "north": nan}
        name = f"syn-{s:05d}"
        texts = {"text_id": [], "image_id": [], "text": [], "split": []}
        write_shard(idx.shards, name, views, _shard_vectors(first, n, centres, owner, seed), texts, np.zeros((0, DIM)), DIM)
        images = [ImageRow(image_id=i, path=f"/synthetic/{i}.jpg", collection="synthetic", width=1024, height=1024,
                           format="jpeg", n_global=1, n_region=3, n_object=6, shard=name, extra={}) for i in ids]
        catalog.commit_shard(ShardRow(name=name, n_images=n, n_views=rows, n_captions=0), images, [],
                             {"settings": IndexSettings().model_dump_json()} if s == 0 else None)
        print(f"shard {s}: {first + n:,} images, {time.perf_counter() - t:.0f} s", file=sys.stderr, flush=True)
    write_s = time.perf_counter() - t
    return {"write_shards_s": round(write_s, 1), "write_peak_rss_mb": _status()["VmHWM"]}


class _PeakSampler(threading.Thread):
    """Samples the process's own (anonymous) and mapped-file resident pages every 0.2 s and keeps the maxima:
    VmHWM alone cannot tell memory the builder holds from file pages it has mapped."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = {"RssAnon": 0, "RssFile": 0}
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.2):
            now = _status()
            for key in self.peak:
                self.peak[key] = max(self.peak[key], now[key])


def publish(work: Path) -> dict:
    """Publish the shards at work/ix as a new version (column files + FAISS), in this process; time and memory."""
    from geoseek.index.catalog import Catalog
    from geoseek.index.layout import IndexDir
    from geoseek.indexer.runner import publish_version
    from geoseek.models import load_encoder
    from geoseek.schemas import ModelInfo
    from geoseek.schemas.jobs import IndexSettings

    enc = load_encoder("geoseek-default", device="cpu")  # the manifest names the real model, so a replica can serve text
    info = ModelInfo(spec="geoseek-default", id=enc.id, dim=enc.dim, image_size=enc.image_size, checksum=enc.checksum)
    del enc
    idx = IndexDir(work / "ix")
    before = _status()
    sampler = _PeakSampler()
    sampler.start()
    t = time.perf_counter()
    version = publish_version(idx, Catalog(idx.default_catalog_url), info, IndexSettings())
    publish_s = time.perf_counter() - t
    sampler.stop.set()
    sampler.join()
    manifest = idx.manifest(version)
    return {"version": version, "publish_s": round(publish_s, 1), "peak_rss_mb": _status()["VmHWM"],
            "peak_anon_mb": sampler.peak["RssAnon"], "peak_file_mb": sampler.peak["RssFile"],
            "rss_before_publish_mb": before["VmRSS"],
            "indices": {k: {"kind": v.kind, "count": v.count, **v.params} for k, v in manifest.indices.items()}}


def _drop_cache(folder: Path) -> None:
    """Evict the index's files from the page cache (no root needed), so the first pass reads from disk."""
    for p in folder.rglob("*"):
        if p.is_file():
            fd = os.open(p, os.O_RDONLY)
            try:
                os.fsync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


REPORT_SEED, TUNE_SEED = 1, 2
TUNE_OUT = ROOT / "benchmarks" / "results" / "scale_10m_tune.json"


def queries(root: Path, n: int, seed: int = REPORT_SEED) -> np.ndarray:
    """Queries near random global views (a text query lands near, not on, the images it describes)."""
    from geoseek.index.columns import read_columns
    from geoseek.index.layout import IndexDir

    idx = IndexDir(root)
    g = read_columns(idx.version_path(idx.current()), ["global"]).levels["global"].vectors
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(g), n, replace=False))
    base = np.asarray(g[rows], np.float32)
    return _unit(base + 0.8 * rng.standard_normal(base.shape).astype(np.float32) / np.sqrt(DIM))


def serve(root: Path, qfile: Path, out: Path) -> None:
    """In a fresh process: load, time a cold then a warm pass (fused and global-only), record RSS and top-10s."""
    from geoseek.search import SearchEngine

    q = np.load(qfile)
    t = time.perf_counter()
    engine = SearchEngine(root, device="cpu")
    load_s = time.perf_counter() - t
    after_load = _status()
    res: dict = {"load_s": round(load_s, 1), "rss_after_load_mb": after_load}
    top: dict[str, list] = {}
    for phase in ("cold", "warm"):
        for name, levels in (("fused", None), ("global_only", ["global"])):
            times, ids = [], []
            for v in q:
                t = time.perf_counter()
                r = engine.search_text_vector(v, k=10, levels=levels)
                times.append(1000 * (time.perf_counter() - t))
                ids.append([h.image_id for h in r.results])
            res[f"{phase}_{name}_ms"] = {"p50": round(float(np.percentile(times, 50)), 2),
                                         "p95": round(float(np.percentile(times, 95)), 2)}
            top[name] = ids
    res["rss_after_queries_mb"] = _status()
    res["weights"] = engine.state().manifest.fusion.text_to_image.normalised(["global", "region", "object"])
    out.write_text(json.dumps({"serve": res, "top10": top}))


def exact_top10(root: Path, q: np.ndarray, weights: dict[str, float], chunk: int = 1_000_000) -> list[list[str]]:
    """The exact fused top-10 of every query: every view scored, max per image per level, the engine's fusion."""
    from geoseek.index.columns import read_columns
    from geoseek.index.layout import IndexDir
    from geoseek.index.version import _ranges
    from geoseek.search.fusion import LevelScores, fuse

    idx = IndexDir(root)
    cols = read_columns(idx.version_path(idx.current()), list(PER_IMAGE))
    n_img = len(cols.image_ids)
    per_level = {}
    for level, c in cols.levels.items():
        best = np.full((n_img, len(q)), -np.inf, np.float32)
        image_idx = np.asarray(c.image_idx)
        starts, _ = _ranges(image_idx, n_img)
        for a in range(0, len(c.vectors), chunk):
            b = min(len(c.vectors), a + chunk)
            sims = np.asarray(c.vectors[a:b], np.float32) @ q.T
            owner = image_idx[a:b]
            cuts = np.flatnonzero(np.diff(owner)) + 1
            first = np.concatenate([[0], cuts])
            who = owner[first]  # distinct within a chunk (an image's rows are contiguous)
            best[who] = np.maximum(best[who], np.maximum.reduceat(sims, first, axis=0))
        per_level[level] = best
    out = []
    for j in range(len(q)):
        scores = {lv: LevelScores(per_level[lv][:, j], np.zeros(n_img, np.int64)) for lv in PER_IMAGE}
        fused, _ = fuse(scores, weights)
        order = np.argsort(-fused, kind="stable")[:10]
        out.append([cols.image_ids[i] for i in order])
    return out


def sizes(root: Path) -> dict[str, int]:
    """Bytes on disk of the live version's FAISS files, its column files and the shard pool."""
    live = root / "versions" / (root / "CURRENT").read_text().strip()
    out = {p.name: p.stat().st_size for p in sorted(live.glob("*.faiss"))}
    out["columns"] = sum(p.stat().st_size for p in (live / "columns").iterdir())
    out["shards"] = sum(p.stat().st_size for p in (root / "shards").iterdir())
    return out


def agreement(top: list[list[str]], exact: list[list[str]]) -> float:
    """Mean over queries of |top-10 & exact top-10| / 10."""
    return round(float(np.mean([len(set(a) & set(e)) / 10 for a, e in zip(top, exact)])), 4)


def _set_ef(engine, ef: int) -> None:
    """HNSW levels' efSearch (a search-time parameter) in the engine's loaded state."""
    for level in engine.state().levels.values():
        if level.index is not None and hasattr(level.index, "hnsw"):
            level.index.hnsw.efSearch = ef


def tune(root: Path, n_queries: int, efs: tuple[int, ...] = (128, 256, 512),
         factors: tuple[int, ...] = (0, 1, 4)) -> dict:
    """Agreement and warm fused latency per HNSW efSearch x PQ REFINE_FACTOR (0 = PQ's own order) on the tuning
    queries; the builder's recorded efSearch and the shipped factor are restored afterwards."""
    import geoseek.search.candidates as cand
    from geoseek.indexer.builder import HNSW_EF_SEARCH
    from geoseek.search import SearchEngine

    q = queries(root, n_queries, TUNE_SEED)
    engine = SearchEngine(root, device="cpu")
    exact = exact_top10(root, q, engine.state().manifest.fusion.text_to_image.normalised(list(PER_IMAGE)))
    chosen, detect = cand.REFINE_FACTOR, cand.approximate_scores
    rows = []
    for ef in efs:
        _set_ef(engine, ef)
        for f in factors:
            cand.approximate_scores = detect if f else (lambda index: False)
            cand.REFINE_FACTOR = max(f, 1)
            for v in q[:50]:  # warm the pages this configuration touches
                engine.search_text_vector(v, k=10)
            times, ids = [], []
            for v in q:
                t = time.perf_counter()
                r = engine.search_text_vector(v, k=10)
                times.append(1000 * (time.perf_counter() - t))
                ids.append([h.image_id for h in r.results])
            rows.append({"efSearch": ef, "refine_factor": f, "agreement": agreement(ids, exact),
                         "warm_fused_ms": {"p50": round(float(np.percentile(times, 50)), 2),
                                           "p95": round(float(np.percentile(times, 95)), 2)}})
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    cand.REFINE_FACTOR, cand.approximate_scores = chosen, detect
    return {"query_seed": TUNE_SEED, "queries": len(q), "refine_factor_default_at_run": chosen,
            "efSearch_default_at_run": HNSW_EF_SEARCH, "configs": rows,
            "note": "refine_factor 0 = candidates in PQ's own order (no re-ranking); the tuning queries are not "
                    "the reported ones; efSearch is set on the loaded HNSW levels (the index files are unchanged)"}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=1_000_000)
    ap.add_argument("--work", type=Path, default=Path("/tmp/geoseek-10m"))
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--rebuild", action="store_true")
    ap.add_argument("--step", choices=["build", "publish", "tune", "serve", "all"], default="all")
    args = ap.parse_args()
    work = args.work.resolve()
    root = work / "ix"
    result_file = work / "build.json"
    if args.step in ("build", "all") and (args.rebuild or not (root / "CURRENT").is_file()):
        subprocess.run(["rm", "-rf", str(root)], check=True)
        written = build(work, args.images)
        result_file.write_text(json.dumps({**written, **publish(work)}))
        if args.step == "build":
            return 0
    if args.step == "publish":  # the same shards published again as a new version (after a builder change)
        built = json.loads(result_file.read_text())
        result_file.write_text(json.dumps({**built, **publish(work)}))
        return 0
    if args.step == "tune":
        TUNE_OUT.write_text(json.dumps(tune(root, args.queries), indent=2) + "\n")
        return 0
    built = json.loads(result_file.read_text())
    q = queries(root, args.queries)
    np.save(work / "queries.npy", q)
    _drop_cache(root)
    served = work / "serve.json"
    subprocess.run([sys.executable, __file__, "--serve", str(root), str(work / "queries.npy"), str(served)], check=True)
    s = json.loads(served.read_text())
    exact = exact_top10(root, q, s["serve"]["weights"])
    agree = {name: agreement(ids, exact) for name, ids in s["top10"].items()}
    live = root / "versions" / (root / "CURRENT").read_text().strip()
    # Older versions left out; a version's vectors/ are hard links to the shards, so count each file once.
    files = {(st.st_dev, st.st_ino): st.st_size for p in root.rglob("*") if p.is_file()
             and (not p.is_relative_to(root / "versions") or p.is_relative_to(live)) for st in [p.stat()]}
    du = sum(files.values())
    out = {"images": args.images, "views": args.images * sum(PER_IMAGE.values()), "dim": DIM, "queries": len(q),
           "build": built, "disk_gb": round(du / 1e9, 2), "bytes": sizes(root), "serve": s["serve"],
           "fused_top10_agreement_with_exact": agree["fused"], "machine": "2 cores, 24 GB, CPU only"}
    OUT.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--serve":
        serve(Path(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4]))
        sys.exit(0)
    sys.exit(main())
