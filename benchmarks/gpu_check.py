"""The prepared GPU check (`make gpu-check`): run it whenever a session has the GPU machine.

Steps, each timed, bounded by a timeout and recorded as ok, skipped (with the reason) or failed (with the error):
  environment  torch and its CUDA device, faiss and faiss.get_num_gpus()
  gpu_tests    pytest on the tests marked `gpu` (CUDA encoder, FAISS GPU copies, bench speed's GPU variant).
               Without a GPU they still run (the CUDA-only ones skip, the others take their CPU branch),
               and the step is recorded as skipped, because nothing ran on a GPU.
  bench_speed  `geoseek bench speed` on an index of examples/ (241 images, shipped model): its CUDA indexing
               row and FAISS GPU latency rows beside the CPU rows of the same run; skipped without a GPU.
  faiss_cpu    flat inner-product search on the CPU: 200 queries, k=100, over 1M clustered 384-d unit vectors
               (benchmarks/synthetic_index.py's generator), p50 per batch; 100k vectors without a GPU.
  faiss_gpu    the same on the GPU (faiss.index_cpu_to_all_gpus, and GeoSeek's float16 copy
               geoseek.search.gpu.gpu_copy), and IVF-PQ as the builder makes it (GPU-trained), GPU vs CPU;
               top-10 agreement with the CPU answers. Skipped without a GPU.
It writes benchmarks/results/gpu_check.json and prints what it skipped and why. The whole run stays under
--budget seconds (default 290): each step gets min(its own limit, what is left).

    python benchmarks/gpu_check.py [--views N] [--ivfpq] [--cpu-only] [--skip STEP ...] [--budget S] [--out F.json]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "gpu_check.json"
EXAMPLES = [ROOT / "examples" / "rsicd_aid" / "dataset.json", ROOT / "examples" / "joplin" / "tile_32524-5137.tif"]
TEST_DATA = ROOT.parent / "shared" / "data"  # tests/conftest.py refuses to run without it
STEPS = ["environment", "gpu_tests", "bench_speed", "faiss"]  # faiss records faiss_cpu and faiss_gpu
LIMITS = {"environment": 60, "gpu_tests": 120, "bench_speed": 90, "faiss": 120}  # seconds; --budget bounds the sum
Step = dict[str, Any]


def skipped(reason: str, **extra: Any) -> Step:
    return {"status": "skipped", "reason": reason, **extra}


def failed(error: str, **extra: Any) -> Step:
    return {"status": "failed", "error": error, **extra}


def run(cmd: list[str], timeout: float, env: dict[str, str]) -> tuple[int | None, str]:
    """(exit status, or None on timeout; the last 3,000 characters of its output) of ``cmd`` run in the
    repository root. On timeout its whole process group is killed."""
    proc = subprocess.Popen([str(c) for c in cmd], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=max(1.0, timeout))
        return proc.returncode, out[-3000:]
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        return None, proc.communicate()[0][-3000:]


def why(rc: int | None, tail: str, limit: float) -> str:
    return f"timed out after {limit:.0f} s: {tail}" if rc is None else f"exited {rc}: {tail}"


def worker(name: str, args: list[str], timeout: float, env: dict[str, str]) -> tuple[int | None, str, dict]:
    """Run one of this script's workers in a child process; returns (status, output tail, what it wrote so far)."""
    with tempfile.TemporaryDirectory(prefix="geoseek-gpu-check-") as tmp:
        out = Path(tmp) / f"{name}.json"
        rc, tail = run([sys.executable, __file__, "--worker", name, "--out", out, *args], timeout, env)
        return rc, tail, json.loads(out.read_text()) if out.exists() else {}


# ---- workers (child processes: they import torch / faiss, the parent never does) ----

def probe_environment() -> dict:
    """Versions and devices as torch and faiss see them."""
    import faiss
    import torch

    info: dict[str, Any] = {"torch": torch.__version__, "torch_cuda_build": torch.version.cuda,
                            "cuda": torch.cuda.is_available(), "faiss": faiss.__version__,
                            "faiss_gpu_build": hasattr(faiss, "StandardGpuResources"),
                            "faiss_gpus": faiss.get_num_gpus(), "faiss_omp_threads": faiss.omp_get_max_threads()}
    if info["cuda"]:
        props = torch.cuda.get_device_properties(0)
        info.update(cuda_devices=torch.cuda.device_count(), device=props.name,
                    device_memory_gib=round(props.total_memory / 2**30, 1))
    return info


def timed_search(index: Any, queries, k: int, repeats: int) -> tuple[dict, Any]:
    """One warm-up batch, then ``repeats`` timed batches of all ``queries``; returns the timings and the ids."""
    index.search(queries, k)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        _, ids = index.search(queries, k)
        times.append(1000 * (time.perf_counter() - t))
    p50 = statistics.median(times)
    return {"p50_batch_ms": round(p50, 2), "min_batch_ms": round(min(times), 2), "max_batch_ms": round(max(times), 2),
            "p50_per_query_ms": round(p50 / len(queries), 4), "batches": repeats, "batch": len(queries), "k": k}, ids


def agreement(a, b, n: int = 10) -> float:
    """Mean share of the top-``n`` ids of each query that two searches have in common."""
    return round(sum(len(set(x[:n]) & set(y[:n])) for x, y in zip(a, b)) / (n * len(a)), 4)


def faiss_compare(views: int, n_queries: int, k: int, repeats: int, cpu_repeats: int, ivfpq: bool, out: Path) -> None:
    """FAISS search CPU vs GPU over synthetic clustered views (``repeats`` timed batches on the GPU, ``cpu_repeats``
    on the CPU, whose batches take seconds at 1M); writes ``out`` after every part, so a timeout keeps them."""
    import faiss
    import numpy as np

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from synthetic_index import _unit, clustered, queries_near

    from geoseek.indexer.builder import build_index
    from geoseek.search.gpu import gpu_copy

    res: dict[str, Any] = {"cpu": {}, "gpu": {}}

    def save() -> None:  # whole files only: the parent may kill this process at any moment
        out.with_suffix(".tmp").write_text(json.dumps(res))
        os.replace(out.with_suffix(".tmp"), out)

    t = time.perf_counter()
    rng = np.random.default_rng(0)
    centres = _unit(rng.standard_normal((2000, 384)).astype(np.float32))  # as synthetic_state: 2,000 clusters
    vecs = clustered(views, 1, centres, rng.integers(0, len(centres), views), rng, spread=0.9)  # its region spread
    queries = queries_near({"global": vecs}, n_queries)
    res["data"] = {"views": views, "dim": 384, "queries": n_queries, "k": k, "generate_s": round(time.perf_counter() - t, 2),
                   "source": "benchmarks/synthetic_index.py clustered(): 2,000 centres, spread 0.9; queries_near()"}
    t = time.perf_counter()
    cpu = faiss.IndexFlatIP(384)
    cpu.add(vecs)
    setup = time.perf_counter() - t
    row, exact = timed_search(cpu, queries, k, cpu_repeats)
    res["cpu"]["flat"] = {**row, "setup_s": round(setup, 2), "threads": faiss.omp_get_max_threads()}
    save()
    ngpu = faiss.get_num_gpus()
    if ngpu:
        t = time.perf_counter()
        gpu = faiss.index_cpu_to_all_gpus(cpu)
        setup = time.perf_counter() - t
        row, ids = timed_search(gpu, queries, k, repeats)
        res["gpu"]["flat"] = {**row, "setup_s": round(setup, 2), "gpus": ngpu, "top10_agreement_with_cpu": agreement(ids, exact),
                              "p50_speedup_vs_cpu": round(res["cpu"]["flat"]["p50_batch_ms"] / row["p50_batch_ms"], 1)}
        del gpu
        save()
        t = time.perf_counter()
        copy = gpu_copy(cpu, vecs.astype(np.float16))  # what the engine loads: float16 vectors, float16 flat copy
        if copy is None:
            raise RuntimeError("geoseek.search.gpu.gpu_copy returned None with a GPU (see the log above)")
        setup = time.perf_counter() - t
        row, ids = timed_search(copy, queries, k, repeats)
        res["gpu"]["geoseek_fp16_copy"] = {**row, "setup_s": round(setup, 2), "top10_agreement_with_cpu": agreement(ids, exact),
                                           "p50_speedup_vs_cpu": round(res["cpu"]["flat"]["p50_batch_ms"] / row["p50_batch_ms"], 1)}
        del copy
        save()
    if ngpu or ivfpq:
        t = time.perf_counter()
        index, params = build_index(vecs, "ivfpq")  # trained on the GPU when FAISS sees one
        faiss.extract_index_ivf(index).nprobe = int(params["nprobe"])
        build_s = round(time.perf_counter() - t, 2)
        row, cpu_ids = timed_search(index, queries, k, cpu_repeats)
        res["cpu"]["ivfpq"] = {**row, "build_s": build_s, "trained_on": "gpu" if ngpu else "cpu", "params": params,
                               "top10_agreement_with_exact": agreement(cpu_ids, exact)}
        save()
        if ngpu:
            t = time.perf_counter()
            copy = gpu_copy(index, vecs)
            if copy is None:
                raise RuntimeError("geoseek.search.gpu.gpu_copy could not copy the IVF-PQ index (see the log above)")
            setup = time.perf_counter() - t
            row, ids = timed_search(copy, queries, k, repeats)
            res["gpu"]["ivfpq"] = {**row, "setup_s": round(setup, 2), "top10_agreement_with_cpu_ivfpq": agreement(ids, cpu_ids),
                                   "top10_agreement_with_exact": agreement(ids, exact),
                                   "p50_speedup_vs_cpu": round(res["cpu"]["ivfpq"]["p50_batch_ms"] / row["p50_batch_ms"], 1)}
            save()
    res["done"] = True
    save()


# ---- steps (parent process) ----

def environment(ctx: dict, limit: float) -> Step:
    rc, tail, info = worker("environment", [], limit, ctx["env"])
    if rc != 0 or not info:
        return failed(f"the torch/faiss probe {why(rc, tail, limit)}")
    ctx.update(cuda=info["cuda"], faiss_gpus=info["faiss_gpus"])
    summary = (f"torch {info['torch']} (CUDA {'yes: ' + info['device'] if info['cuda'] else 'no'}), "
               f"faiss {info['faiss']} ({info['faiss_gpus']} GPU(s))")
    return {"status": "ok", "summary": summary, **info}


def gpu_tests(ctx: dict, limit: float) -> Step:
    files = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests").rglob("test_*.py") if "mark.gpu" in p.read_text())
    if not files:
        return failed("no test under tests/ is marked @pytest.mark.gpu")
    if not TEST_DATA.is_dir():
        return skipped(f"the tests need the shared data folder {TEST_DATA} (tests/conftest.py); it is not on this machine",
                       files=files)
    with tempfile.TemporaryDirectory(prefix="geoseek-gpu-check-") as tmp:
        xml = Path(tmp) / "junit.xml"
        # pytest-timeout stops a hung test a little before this step's limit, so the report still gets written;
        # a basetemp of its own keeps it from pruning the numbered temp folders of a pytest run around it.
        cmd = [sys.executable, "-m", "pytest", "-m", "gpu", "-q", "-p", "no:cacheprovider", "-o",
               f"timeout={max(10, int(limit) - 15)}", f"--junitxml={xml}", f"--basetemp={Path(tmp) / 'pytest'}", *files]
        rc, tail = run(cmd, limit, ctx["env"])
        cases = junit_cases(xml) if xml.exists() else []
    counts = {o: sum(c["outcome"] == o for c in cases) for o in ("passed", "failed", "skipped")}
    step = {"command": "python -m pytest -m gpu " + " ".join(files), "counts": counts, "tests": cases,
            "summary": ", ".join(f"{n} {o}" for o, n in counts.items())}
    if rc != 0 or counts["failed"] or not cases:
        return failed(f"pytest {why(rc, tail, limit)}", **step)
    if not (ctx["cuda"] or ctx["faiss_gpus"]):
        return skipped(f"{no_gpu(ctx)}: the {len(cases)} gpu-marked tests ran anyway ({step['summary']}); "
                       "the CUDA-only ones skip and the others check the CPU fall-back", **step)
    return {"status": "ok", **step}


def junit_cases(xml: Path) -> list[dict]:
    """One row per test of a pytest JUnit XML report: id, outcome, seconds and the skip/failure message."""
    rows = []
    for case in ET.parse(xml).iter("testcase"):
        row = {"test": f"{case.get('classname')}::{case.get('name')}", "outcome": "passed",
               "seconds": round(float(case.get("time") or 0), 2)}
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                row.update(outcome="skipped" if child.tag == "skipped" else "failed", message=(child.get("message") or "")[:300])
        rows.append(row)
    return rows


def bench_speed(ctx: dict, limit: float) -> Step:
    if not (ctx["cuda"] or ctx["faiss_gpus"]):
        return skipped(f"{no_gpu(ctx)}: bench speed has a CUDA indexing row and FAISS GPU rows only with a GPU")
    deadline = time.monotonic() + limit
    geoseek = [sys.executable, "-m", "geoseek.cli"]
    with tempfile.TemporaryDirectory(prefix="geoseek-gpu-check-") as tmp:
        index, out = Path(tmp) / "index", Path(tmp) / "speed.json"
        t = time.perf_counter()
        rc, tail = run([*geoseek, "index", *EXAMPLES, "--index", index], deadline - time.monotonic(), ctx["env"])
        if rc != 0:
            return failed(f"indexing examples/ {why(rc, tail, limit)}")
        index_s = round(time.perf_counter() - t, 1)
        cmd = ["bench", "speed", "--index", index, "--sample", "32", "--queries", "100", "--clients", "4", "--repeats", "2"]
        rc, tail = run([*geoseek, *cmd, "--out", out], deadline - time.monotonic(), ctx["env"])
        if rc != 0 or not out.exists():
            return failed(f"geoseek bench speed {why(rc, tail, limit)}")
        res = json.loads(out.read_text())
    q, indexing = res["query"], res["indexing"]["configs"]
    keep = ("device", "images", "images_per_s", "images_per_s_ratio_to_baseline", "encoder_calls_per_image", "seconds_median")
    step = {"command": "geoseek index examples/rsicd_aid/dataset.json examples/joplin/*.tif; geoseek " + " ".join(map(str, cmd[:2] + cmd[4:])),
            "index_build_s": index_s, "images": res["images"], "views": res["views"], "machine": res["machine"],
            "indexing": {n: {k: r[k] for k in keep if k in r} for n, r in indexing.items()},
            "latency_excl_text_encoding": q["latency_excl_text_encoding"], "recall_at_10_vs_exact": q["recall_at_10_vs_exact"],
            "variants_skipped": q["variants_skipped"], "qps_incl_text_encoding": q["qps_incl_text_encoding"]}
    want = (["fused_dris_cuda"] if ctx["cuda"] else []) + (["global_gpu", "fused_gpu"] if ctx["faiss_gpus"] else [])
    missing = [r for r in want if r not in indexing and r not in q["latency_excl_text_encoding"]]
    if missing:
        return failed(f"bench speed gave no {', '.join(missing)} row(s) on a machine with a GPU", **step)
    lat, ix = q["latency_excl_text_encoding"], indexing
    parts = [f"{n} {lat[n]['p50_ms']} ms p50 (flat: {lat[n.replace('gpu', 'flat')]['p50_ms']})" for n in want if n in lat]
    parts += [f"indexing {ix[n]['images_per_s']} images/s on CUDA (CPU: {ix['fused_dris']['images_per_s']})" for n in want if n in ix]
    return {"status": "ok", "summary": "; ".join(parts), **step}


def faiss_steps(ctx: dict, limit: float) -> tuple[Step, Step]:
    views = ctx["views"] or (1_000_000 if ctx["faiss_gpus"] else 100_000)
    args = ["--views", str(views)] + (["--ivfpq"] if ctx["ivfpq"] else [])
    t = time.perf_counter()
    rc, tail, res = worker("faiss", args, limit, ctx["env"])
    seconds = round(time.perf_counter() - t, 1)
    error = None if rc == 0 and res.get("done") else f"the FAISS worker {why(rc, tail, limit)}"
    cpu_rows, gpu_rows, data = res.get("cpu", {}), res.get("gpu", {}), res.get("data", {})
    flat = cpu_rows.get("flat")
    cpu: Step = {"status": "ok" if flat else "failed", "data": data, **cpu_rows,
                 "summary": f"{views:,} views: flat p50 {flat['p50_batch_ms']} ms per batch of {flat['batch']} queries "
                            f"(k={flat['k']}, {flat['threads']} threads)" if flat else ""}
    if not flat:
        cpu["error"] = error or "no CPU result"
    if not ctx["faiss_gpus"]:
        gpu = skipped(f"{no_gpu(ctx)}: faiss.get_num_gpus() == 0, so only the CPU side ran, at {views:,} views")
    elif error or not gpu_rows:
        gpu = failed(error or "no GPU result", **gpu_rows)
    else:
        gpu = {"status": "ok", "data": data, **gpu_rows, "summary": "; ".join(
            f"{n} p50 {r['p50_batch_ms']} ms ({r['p50_speedup_vs_cpu']}x CPU, top-10 agreement "
            f"{r.get('top10_agreement_with_cpu', r.get('top10_agreement_with_cpu_ivfpq'))})" for n, r in gpu_rows.items())}
    if error and cpu["status"] == "ok" and gpu["status"] != "failed":
        cpu.update(status="failed", error=error)  # e.g. the optional IVF-PQ part timed out after the flat rows
    cpu["seconds"] = gpu["seconds"] = seconds  # one child process measured both
    return cpu, gpu


def no_gpu(ctx: dict) -> str:
    return ("no GPU" + (" (--cpu-only hid it)" if ctx["cpu_only"] else "")
            + f": torch CUDA {'yes' if ctx['cuda'] else 'no'}, FAISS GPUs {ctx['faiss_gpus']}")


def machine() -> dict:
    info: dict[str, Any] = {"host": platform.node(), "platform": platform.platform(), "python": platform.python_version(),
                            "cpus": os.cpu_count(), "executable": sys.executable}
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        info["memory_gib"] = round(int(meminfo.read_text().split()[1]) / 2**20, 1)
    if shutil.which("nvidia-smi"):
        try:
            smi = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
                                 capture_output=True, text=True, timeout=20, check=False)
            info["nvidia_smi"] = smi.stdout.strip().splitlines() or smi.stderr.strip()[-300:]
        except (OSError, subprocess.SubprocessError) as exc:
            info["nvidia_smi"] = f"{type(exc).__name__}: {exc}"
    return info


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--views", type=int, default=0, help="vectors for the FAISS steps (default 1M with a GPU, 100k without)")
    ap.add_argument("--ivfpq", action="store_true", help="also build and search IVF-PQ without a GPU (on the CPU)")
    ap.add_argument("--cpu-only", action="store_true", help="hide any GPU from every step (CUDA_VISIBLE_DEVICES='')")
    ap.add_argument("--skip", nargs="*", default=[], choices=STEPS, help="steps not to run")
    ap.add_argument("--budget", type=float, default=290.0, help="seconds for the whole run")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--worker", choices=["environment", "faiss"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker == "environment":
        args.out.write_text(json.dumps(probe_environment()))
        return 0
    if args.worker == "faiss":
        faiss_compare(args.views, 200, 100, 5, 3, args.ivfpq, args.out)
        return 0
    started, deadline = time.perf_counter(), time.monotonic() + args.budget
    host = machine()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    if args.cpu_only:
        env["CUDA_VISIBLE_DEVICES"] = ""
    ctx: dict[str, Any] = {"env": env, "views": args.views, "ivfpq": args.ivfpq, "cpu_only": args.cpu_only,
                           "cuda": False, "faiss_gpus": 0, "gpu": False}
    steps: dict[str, Step] = {}
    funcs = {"environment": environment, "gpu_tests": gpu_tests, "bench_speed": bench_speed, "faiss": faiss_steps}
    for name in STEPS:
        limit = min(LIMITS[name], deadline - time.monotonic())
        names = ["faiss_cpu", "faiss_gpu"] if name == "faiss" else [name]
        print(f"gpu-check: {name} (at most {limit:.0f} s) ...", flush=True)
        t = time.perf_counter()
        if name in args.skip:
            out: Any = skipped("--skip")
        elif name != "environment" and steps["environment"]["status"] != "ok":
            out = skipped("the environment step failed (torch or faiss did not load)")
        elif limit < 15:
            out = skipped(f"the run's time budget ({args.budget:.0f} s, --budget) was spent")
        else:
            try:
                out = funcs[name](ctx, limit)
            except Exception as exc:  # noqa: BLE001 - one broken step must not lose the others' results
                out = failed(f"{type(exc).__name__}: {exc}")
        for n, step in zip(names, out if isinstance(out, tuple) else [out] * len(names)):
            steps[n] = {**step, "seconds": step.get("seconds", round(time.perf_counter() - t, 1)), "limit_s": round(limit)}
        ctx["gpu"] = bool(ctx["cuda"] and ctx["faiss_gpus"])
    result = {"gpu": ctx["gpu"], "torch_cuda": ctx["cuda"], "faiss_gpus": ctx["faiss_gpus"],
              "seconds": round(time.perf_counter() - started, 1), "budget_s": args.budget,
              "date": time.strftime("%Y-%m-%d %H:%M:%S %z"), "command": " ".join(["benchmarks/gpu_check.py", *sys.argv[1:]]),
              "machine": host, "skipped": {n: s["reason"] for n, s in steps.items() if s["status"] == "skipped"},
              "failed": {n: s["error"][:500] for n, s in steps.items() if s["status"] == "failed"}, "steps": steps}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"\ngpu-check: gpu={result['gpu']} (torch CUDA {ctx['cuda']}, FAISS GPUs {ctx['faiss_gpus']}), "
          f"{result['seconds']} s; wrote {args.out}")
    for n, s in steps.items():
        detail = s.get("summary") if s["status"] == "ok" else s.get("reason") or s.get("error", "")[:300]
        print(f"  {n:<12} {s['status']:<8} {s['seconds']:>6.1f} s  {detail}")
    return 1 if result["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
