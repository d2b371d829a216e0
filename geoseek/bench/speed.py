"""``geoseek bench speed``: indexing throughput, query latency, QPS and memory, each next to the baseline.

The baseline is what a user would otherwise run (clip-retrieval style): one global embedding per
image in a flat FAISS index, same encoder. Every other configuration is measured in the same
run and reported with its ratio to the baseline:

- indexing (a sample of the index's own images re-indexed into scratch directories): global-only
  vs fused with DRIS vs fused with uniform tiling (and CUDA when torch sees a GPU): images/s,
  encoder calls (image-tower forward passes) per image, views and bytes per image;
- query latency p50/p95/p99 over pre-encoded text queries (the index's own captions, or a fixed
  list when it has none), interleaved per query: global-only vs fused, refine off vs on, FAISS
  flat vs HNSW vs IVF-PQ (built in memory from the same vectors; with their recall of the exact
  top-k), CPU vs GPU when FAISS sees one;
- QPS with N concurrent threads issuing text queries (text encoding included);
- index memory in bytes per image.
"""
from __future__ import annotations

import logging
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable

import faiss
import numpy as np
import torch

from geoseek.bench.timing import concurrent_qps, count_encoder_images, time_configs
from geoseek.bench.variants import (
    VariantError,
    bytes_per_image,
    cpu_only,
    kinds_of,
    on_gpu,
    with_kind,
)
from geoseek.indexer import run_index
from geoseek.models import Encoder, load_encoder
from geoseek.schemas.sources import image_files
from geoseek.search.engine import SearchEngine
from geoseek.search.state import IndexState

log = logging.getLogger(__name__)

BASELINE = "global_flat"
# Used when the index holds no captions (e.g. a folder of scenes): typical analyst queries.
FALLBACK_QUERIES = [
    "buildings", "houses destroyed by a tornado", "a road", "a river with a bridge", "storage tanks",
    "a parking lot with many cars", "ships in a harbour", "an airport with planes", "a farmland",
    "a dense residential area", "a green park", "a baseball field", "a forest", "a beach", "a stadium",
    "a railway station", "an industrial area", "a church", "a desert", "a pond surrounded by trees",
]


def query_texts(state: IndexState, n: int) -> list[str]:
    """``n`` distinct query strings spread over the index's captions (fixed analyst queries without captions)."""
    pool = sorted({t.strip() for t in state.text.texts if t.strip()}) or FALLBACK_QUERIES
    picked = pool[:: max(1, len(pool) // n)][:n]
    return (picked * (-(-n // len(picked))))[:n]


def sample_sources(state: IndexState, n: int) -> list[Path]:
    """Source files of ``n`` images spread over the index (a mosaic contributes its tiles)."""
    ids = state.images.ids[:: max(1, len(state.images.ids) // n)][:n]
    paths: list[Path] = []
    for iid in ids:
        row = state.images.rows[iid]
        paths += [Path(p) for p in image_files(row.path, row.extra)]
    missing = [p for p in paths if not p.exists()]
    if missing:
        raise FileNotFoundError(f"{len(missing)} source file(s) of the index are gone (e.g. {missing[0]}); "
                                "indexing speed re-reads them")
    return paths


def _with_ratios(rows: dict[str, dict], key: str) -> dict[str, dict]:
    base = rows[BASELINE][key] if BASELINE in rows else None
    for row in rows.values():
        if base:
            row[f"{key}_ratio_to_baseline"] = round(row[key] / base, 3)
    return rows


def indexing_speed(state: IndexState, encoder: Encoder, sample: int, repeats: int, workers: int,
                   queries: np.ndarray) -> dict:
    """Re-index a sample of the index's images under each configuration; medians of ``repeats`` runs."""
    srcs = sample_sources(state, sample)
    manifest = state.manifest
    spec = manifest.model.spec
    levels = list(manifest.levels)
    configs: dict[str, dict] = {BASELINE: {"levels": ["global"], "encoder": encoder},
                                "fused_dris": {"levels": levels, "dris": manifest.dris.model_copy(update={"uniform": False}),
                                               "encoder": encoder},
                                "fused_uniform": {"levels": levels, "dris": manifest.dris.model_copy(update={"uniform": True}),
                                                  "encoder": encoder}}
    if torch.cuda.is_available():
        cuda = load_encoder(spec, device="cuda")
        configs["fused_dris_cuda"] = dict(configs["fused_dris"], encoder=cuda)
    runs: dict[str, list[float]] = {name: [] for name in configs}
    rows: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="geoseek-speed-") as tmp:
        for rep in range(repeats):
            for name, cfg in configs.items():
                out = Path(tmp) / f"{name}-{rep}"
                with count_encoder_images(cfg["encoder"]) as calls:
                    t = time.perf_counter()
                    report = run_index(srcs, out, model=spec, progress=False, workers=workers, **cfg)
                    runs[name].append(time.perf_counter() - t)
                if rep == 0:
                    rows[name] = _sample_index_row(out, report.new_images, calls["images"], cfg, encoder, queries)
                shutil.rmtree(out, ignore_errors=True)
    for name, row in rows.items():
        med = statistics.median(runs[name])
        row.update(seconds_median=round(med, 3), seconds_all=[round(s, 3) for s in runs[name]],
                   images_per_s=round(row["images"] / med, 2))
    _with_ratios(rows, "images_per_s")
    _with_ratios(rows, "encoder_calls_per_image")
    return {"sample_images": rows[BASELINE]["images"], "workers": workers, "repeats": repeats,
            "note": "images only (no captions); encoder calls = image-tower forward passes", "configs": rows}


def _sample_index_row(index: Path, images: int, calls: int, cfg: dict, encoder: Encoder, queries: np.ndarray) -> dict:
    """Views, memory and fused search latency of one freshly built sample index."""
    state = IndexState.load(index)
    levels = list(state.manifest.levels)
    engine = SearchEngine(index, encoder=encoder, state=state)
    lat = time_configs({"search": lambda v: engine.search_text_vector(v, k=10)}, list(queries))["search"]
    return {"images": images, "encoder_calls_per_image": round(calls / max(1, images), 3),
            "device": str(cfg["encoder"].device), "levels": levels,
            "views_per_image": {lv: round(d.size / max(1, images), 2) for lv, d in state.levels.items()},
            "bytes_per_image": bytes_per_image(state, levels, rescoring=len(levels) > 1),
            "search_latency_on_sample": lat}


def _engines(engine: SearchEngine) -> tuple[dict[str, SearchEngine], dict[str, str]]:
    """Engines over the same vectors: flat (exact), hnsw, ivfpq and gpu where they can be built."""
    state = engine.state()
    kinds = {lv: state.manifest.indices[lv].kind for lv in state.levels}
    flat = cpu_only(state) if set(kinds.values()) == {"flat"} else with_kind(state, "flat")
    out = {"flat": SearchEngine(engine.root, encoder=engine.encoder, state=flat)}
    skipped = {}
    builders: dict[str, Callable[[], IndexState]] = {"hnsw": lambda: with_kind(state, "hnsw"),
                                                     "ivfpq": lambda: with_kind(state, "ivfpq"), "gpu": lambda: on_gpu(flat)}
    for name, build in builders.items():
        try:
            out[name] = SearchEngine(engine.root, encoder=engine.encoder, state=build())
        except VariantError as exc:
            skipped[name] = str(exc)
            log.info("speed: no %s variant: %s", name, exc)
    return out, skipped


def _top_ids(engine: SearchEngine, q: np.ndarray, k: int, levels: list[str] | None) -> set[str]:
    return {h.image_id for h in engine.search_text_vector(q, k=k, levels=levels).results}


def query_speed(engine: SearchEngine, texts: list[str], k: int, clients: int, repeats: int, refine_top: int) -> dict:
    """Latency (interleaved), ANN recall vs exact, QPS under concurrency and bytes per image."""
    state = engine.state()
    levels = list(state.manifest.levels)
    engines, skipped = _engines(engine)
    vecs = engine.encode_text_queries(texts)
    flat = engines["flat"]
    configs: dict[str, Callable] = {BASELINE: lambda v: flat.search_text_vector(v, k=k, levels=["global"])}
    if len(levels) > 1:
        configs["fused_flat"] = lambda v: flat.search_text_vector(v, k=k)
        configs["fused_flat_refine"] = lambda v: flat.search_text_vector(v, k=k, refine=True, refine_top=refine_top)
    for name, eng in engines.items():
        if name != "flat":
            configs[f"global_{name}"] = lambda v, e=eng: e.search_text_vector(v, k=k, levels=["global"])
            if len(levels) > 1:
                configs[f"fused_{name}"] = lambda v, e=eng: e.search_text_vector(v, k=k)
    with count_encoder_images(engine.encoder) as calls:  # only refine encodes images here
        latency = time_configs(configs, vecs)
    _with_ratios(latency, "p50_ms")
    if "fused_flat_refine" in latency:
        latency["fused_flat_refine"]["encoder_calls_per_query"] = round(calls["images"] / (len(vecs) + 1), 2)
    recall = {}
    for name, eng in engines.items():
        if name == "flat":
            continue
        for mode, lv in (("global", ["global"]), ("fused", None)):
            if mode == "fused" and len(levels) == 1:
                continue
            # Share of the exact top-k that the variant also returns (fewer than k when the gallery is small).
            overlap = [len(_top_ids(eng, v, k, lv) & exact) / max(1, len(exact))
                       for v in vecs for exact in [_top_ids(flat, v, k, lv)]]
            recall[f"{mode}_{name}"] = round(float(np.mean(overlap)), 4)
    qps_configs = {BASELINE: lambda t: flat.search_text(t, k=k, levels=["global"])}
    if len(levels) > 1:
        qps_configs["fused_flat"] = lambda t: flat.search_text(t, k=k)
    qps = _with_ratios(concurrent_qps(qps_configs, texts, clients, repeats), "qps")
    memory = {BASELINE: bytes_per_image(flat.state(), ["global"], rescoring=False)}
    for name, eng in engines.items():
        if name != "gpu" and len(levels) > 1:
            memory[f"fused_{name}"] = bytes_per_image(eng.state(), levels, rescoring=True)
    for row in memory.values():
        row["total_ratio_to_baseline"] = round(row["total"] / memory[BASELINE]["total"], 3)
    return {"queries": len(texts), "k": k, "refine_top": refine_top, "latency_excl_text_encoding": latency,
            f"recall_at_{k}_vs_exact": recall, "variant_kinds": {n: kinds_of(e.state()) for n, e in engines.items()}, "qps_incl_text_encoding": qps, "bytes_per_image": memory,
            "variants_skipped": skipped}


def speed_benchmark(index: Path, *, sample: int = 64, queries: int = 200, k: int = 10, clients: int = 8,
                    repeats: int = 3, workers: int = 2, refine_top: int = 5, indexing: bool = True,
                    engine: SearchEngine | None = None) -> dict:
    """Every speed figure for one index, with the global-only flat baseline measured in the same run."""
    if min(sample, queries, k, clients, repeats, workers, refine_top) < 1:
        raise ValueError("sample, queries, k, clients, repeats, workers and refine-top must all be >= 1")
    started = time.perf_counter()
    engine = engine or SearchEngine(index)
    state = engine.state()
    texts = query_texts(state, queries)
    result = {
        "index": str(index), "index_version": state.version, "model": state.manifest.model.id,
        "images": len(state.images.ids), "views": {lv: d.size for lv, d in state.levels.items()},
        "index_kinds": {lv: state.manifest.indices[lv].kind for lv in state.levels},
        "dris_uniform": state.manifest.dris.uniform, "baseline": BASELINE,
        "machine": {"cpu": platform.processor() or platform.machine(), "torch_threads": torch.get_num_threads(),
                    "cuda": torch.cuda.is_available(), "faiss_gpus": faiss.get_num_gpus()},
        "query": query_speed(engine, texts, k, clients, repeats, refine_top),
    }
    if indexing:
        small = engine.encoder.encode_texts(texts[: min(50, len(texts))])
        result["indexing"] = indexing_speed(state, engine.encoder, sample, repeats, workers, small)
    result["seconds"] = round(time.perf_counter() - started, 1)
    return result
