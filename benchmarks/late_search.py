"""What a query costs on a cells index, and what the cheaper candidate search changes: two rules measured in one run.

An index of grid cells scores its object level by late interaction over all of a query's vectors (a text's
content tokens, an image query's 25 cells per view). Candidate images used to be searched with every one of
those vectors for 4k images each (``per_vector``); search now shares the 4k among at most 8 of them
(``shared``, ``geoseek.search.candidates.late_search_queries``). Both are rescored exactly; this measures, on
the same engine, interleaved per query:

- latency (median and p95 ms, k = 10) of text->image search from an encoded query and of image->image search
  from an indexed image, fused (the index's weights) and global-only;
- agreement: the share of each fused top-10 that the two rules have in common, and how often the lists are equal;
- text encoding: the sentence and the tokens from one pass of the text tower (``encode_texts_with_tokens``)
  against two (``encode_texts`` and then ``encode_text_tokens``).

    python benchmarks/late_search.py --index W/nwpu-dris --index W/rsicd-official-test --out benchmarks/results/late_search.json
"""
from __future__ import annotations

import argparse
import json
import logging
import statistics
import time
from pathlib import Path

import numpy as np

import geoseek.search.engine as engine_module
from geoseek.bench.scene_data import PHRASES
from geoseek.search.engine import SearchEngine

log = logging.getLogger("late_search")
K = 10
RULES = {"per_vector": lambda q, n: (q, n), "shared": engine_module.late_search_queries}


def _ms(times: list[float]) -> dict[str, float]:
    return {"p50_ms": round(1000 * statistics.median(times), 2), "p95_ms": round(1000 * float(np.percentile(times, 95)), 2)}


def _clock(fn) -> tuple[float, object]:
    """(seconds ``fn()`` took, what it returned)."""
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def measure(index: Path, texts: list[str], n_images: int, seed: int) -> dict:
    """Both rules on one index, interleaved per query; JSON-ready."""
    engine = SearchEngine(index, device="cpu")
    state = engine.state()
    rng = np.random.default_rng(seed)
    images = list(rng.choice(state.images.ids, min(n_images, len(state.images.ids)), replace=False))
    encoded = engine.encode_text_queries(texts)
    engine.search_text_vector(encoded[0], k=K)  # warm: pages mapped, caches built
    times: dict[str, list[float]] = {}
    tops: dict[str, list[list[str]]] = {}
    jobs = [("text", lambda q=q, lv=lv: engine.search_text_vector(q, k=K, levels=lv), lv) for q in encoded
            for lv in (["global"], None)]
    jobs += [("image", lambda i=i, lv=lv: engine.search_image(i, k=K, levels=lv), lv) for i in images
             for lv in (["global"], None)]
    for j, (kind, fn, levels) in enumerate(jobs):
        # The two rules back to back on each query (same machine state), in alternating order: the second call of a
        # pair finds the first one's pages and caches warm, so neither rule always gets that.
        for rule in (list(RULES) if (j // 2) % 2 == 0 else list(RULES)[::-1]):  # jobs come in (global, fused) pairs
            engine_module.late_search_queries = RULES[rule]
            took, resp = _clock(fn)
            ids = [h.image_id for h in resp.results]
            key = f"{kind}/{'global' if levels else 'fused'}/{rule}"
            times.setdefault(key, []).append(took)
            tops.setdefault(key, []).append(ids)
    engine_module.late_search_queries = RULES["shared"]
    agreement = {}
    for kind in ("text", "image"):
        a, b = tops[f"{kind}/fused/per_vector"], tops[f"{kind}/fused/shared"]
        agreement[kind] = {"queries": len(a), "top10_overlap": round(float(np.mean([len(set(x) & set(y)) / K for x, y in zip(a, b)])), 4),
                           "identical_lists": round(float(np.mean([x == y for x, y in zip(a, b)])), 4)}
    enc = engine.encoder
    one, two = [], []
    for j, t in enumerate(texts):
        pair = [(one, lambda t=t: enc.encode_texts_with_tokens([t])),
                (two, lambda t=t: (enc.encode_texts([t]), enc.encode_text_tokens([t])))]
        for bucket, fn in (pair if j % 2 == 0 else pair[::-1]):
            bucket.append(_clock(fn)[0])
    latency = {key: _ms(v) for key, v in times.items()}
    for kind in ("text", "image"):
        latency[f"{kind}/fused/shared_over_per_vector"] = round(
            latency[f"{kind}/fused/shared"]["p50_ms"] / latency[f"{kind}/fused/per_vector"]["p50_ms"], 3)
    return {"index": str(index), "model": enc.id, "images": len(state.images.ids), "views": {lv: d.size for lv, d in state.levels.items()},
            "text_queries": len(texts), "image_queries": len(images), "k": K, "latency": latency, "agreement": agreement,
            "text_encoding": {"one_pass": _ms(one), "two_passes": _ms(two)}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", type=Path, action="append", required=True, help="a cells index (repeatable)")
    ap.add_argument("--images", type=int, default=40, help="indexed images used as image queries, per index")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    texts = [p for phrases in PHRASES.values() for p in phrases]  # the scene benchmark's 30 class phrases
    out = {"rules": {"per_vector": "every late query vector searches for 4k images (before)",
                     "shared": "at most 8 of them, evenly spread, share the 4k images (search now)"},
           "machine": "2-core shared CPU; compare the rules by their ratio, measured back to back per query in alternating order",
           "indexes": [measure(ix, texts, args.images, seed=0) for ix in args.index]}
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    for r in out["indexes"]:
        log.info("%s: %s; agreement %s", r["index"], {k: v for k, v in r["latency"].items() if "fused" in k}, r["agreement"])


if __name__ == "__main__":
    main()
