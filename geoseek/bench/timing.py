"""Timing helpers shared by the speed benchmarks: percentiles, interleaved runs, concurrency, encoder counts.

These machines are shared and noisy, so configurations are always timed in the same run and
interleaved (query i of every configuration before query i+1 of any), and compared as ratios.
"""
from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import numpy as np


def percentiles(ms: Sequence[float]) -> dict:
    """p50/p95/p99 (milliseconds) and the sample count of a list of timings in ms."""
    a = np.asarray(ms, dtype=np.float64)
    return {"p50_ms": round(float(np.percentile(a, 50)), 3), "p95_ms": round(float(np.percentile(a, 95)), 3),
            "p99_ms": round(float(np.percentile(a, 99)), 3), "n": int(len(a))}


def time_configs(configs: dict[str, Callable[[Any], Any]], queries: Sequence[Any], warmup: int = 1) -> dict[str, dict]:
    """Latency percentiles per configuration; each callable takes one query. Interleaved per query."""
    for fn in configs.values():
        for q in queries[:warmup]:
            fn(q)
    times: dict[str, list[float]] = {name: [] for name in configs}
    for q in queries:
        for name, fn in configs.items():
            t = time.perf_counter()
            fn(q)
            times[name].append(1000 * (time.perf_counter() - t))
    return {name: percentiles(v) for name, v in times.items()}


def concurrent_qps(configs: dict[str, Callable[[Any], Any]], queries: Sequence[Any], clients: int,
                   repeats: int = 3) -> dict[str, dict]:
    """Queries per second with ``clients`` threads issuing all ``queries``; median over ``repeats`` rounds.

    Rounds alternate between configurations so that a noisy spell hits each of them alike.
    """
    rounds: dict[str, list[float]] = {name: [] for name in configs}
    with ThreadPoolExecutor(max_workers=clients, thread_name_prefix="geoseek-bench") as pool:
        for _ in range(repeats):
            for name, fn in configs.items():
                t = time.perf_counter()
                list(pool.map(fn, queries))
                rounds[name].append(len(queries) / (time.perf_counter() - t))
    return {name: {"qps": round(statistics.median(v), 2), "rounds": [round(x, 2) for x in v], "clients": clients,
                   "queries_per_round": len(queries)} for name, v in rounds.items()}


@contextmanager
def count_encoder_images(encoder: Any) -> Iterator[dict[str, int]]:
    """Count the images that pass through ``encoder``'s image tower (one forward pass each) while active.

    Wraps the instance's image entry points; ``encode_dense`` goes through ``encode_images_and_dense``
    and is not counted twice.
    """
    counts = {"images": 0}
    names = ("encode_images", "encode_images_and_dense")
    originals = {n: getattr(encoder, n) for n in names}

    def wrap(fn: Callable) -> Callable:
        def counted(images, *args, **kwargs):
            counts["images"] += len(images)
            return fn(images, *args, **kwargs)
        return counted

    for n in names:
        setattr(encoder, n, wrap(originals[n]))
    try:
        yield counts
    finally:
        for n in names:
            delattr(encoder, n)  # back to the class's bound method
