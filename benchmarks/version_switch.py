"""Version switches under load: `geoseek serve` answers 16 clients while two new index versions are published.

    python benchmarks/version_switch.py [--work /tmp/geoseek-switch] [--clients 16] [--requests 50]
        [--src SRC ... [--split test] | --copy-index DIR] [--server-code CHECKOUT]

1. Indexes the demo sample (examples/rsicd_aid + examples/joplin), or ``--src``, with the shipped
   default model.
2. Starts `geoseek serve` on 127.0.0.1 and a publisher process that has already loaded the indexer
   and the model, so that a publish is one `geoseek index` of one new image (about a second), not a
   10 s cold start competing with the server for the two cores.
3. Runs N asyncio/httpx clients x M text queries each (text encoding included; k=500, more than the
   index holds, so a response's hit count says which version's images it ranked). Two new versions
   (one image each) are published while they run.
4. Reports errors, latency percentiles, per-version hit counts, and for each switch the latency of
   the requests in flight between the publish (CURRENT replaced) and one second after the server's
   first answer from the new version: the window in which a loading version could stall a request.

Bounded: clients x requests requests, a 10-minute limit; 127.0.0.1 only.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

from geoseek.bench.timing import percentiles
from geoseek.cli.launch import free_port, start_api, stop, wait_until_up

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "version_switch.json"
EXAMPLES = ROOT / "examples"
K = 500

PUBLISHER = r"""
import sys, time
from pathlib import Path
from geoseek.indexer import run_index
from geoseek.models import DEFAULT_SPEC, load_encoder
encoder = load_encoder(DEFAULT_SPEC, device="cpu")  # model in memory before the run starts
print("ready", flush=True)
for line in sys.stdin:
    src, index = line.rstrip("\n").split("\t")
    stats = run_index([Path(src)], Path(index), encoder=encoder, device="cpu", progress=False)
    print(f"published {stats.version} {time.time():.3f}", flush=True)
"""


def new_images(work: Path, n: int) -> list[Path]:
    """``n`` folders of one new image each: sample chips mirrored, so no index holds them yet."""
    from PIL import Image, ImageOps

    folders = []
    for i, src in enumerate(sorted((EXAMPLES / "rsicd_aid").rglob("*.jpg"))[:n]):
        d = work / f"new{i + 1}"
        d.mkdir(parents=True, exist_ok=True)
        ImageOps.mirror(Image.open(src).convert("RGB")).save(d / f"mirrored_{src.name}", quality=95)
        folders.append(d)
    return folders


async def clients(base: str, queries: list[str], n_clients: int, per_client: int) -> list[dict]:
    """Every request: start/end (epoch s), latency (ms), status, version, hit count."""
    import httpx

    log: list[dict] = []
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        async def worker(w: int) -> None:
            for i in range(per_client):
                q = queries[(w * per_client + i) % len(queries)]
                t0, w0 = time.perf_counter(), time.time()
                row = {"client": w, "start": w0}
                try:
                    r = await http.post("/v1/search/text", json={"query": q, "k": K})
                    row["status"] = r.status_code
                    if r.status_code == 200:
                        body = r.json()
                        row["version"], row["hits"] = body["version"], len(body["results"])
                except httpx.HTTPError as exc:
                    row["status"] = type(exc).__name__
                row["ms"] = 1000 * (time.perf_counter() - t0)
                row["end"] = w0 + row["ms"] / 1000
                log.append(row)

        await asyncio.gather(*(worker(w) for w in range(n_clients)))
    return log


def publish_during(publisher: subprocess.Popen, folders: list[Path], index: Path, delay_s: float,
                   published: list[tuple[str, float]]) -> None:
    """After ``delay_s``, publish each folder as a new version, ``delay_s`` apart."""
    for folder in folders:
        time.sleep(delay_s)
        publisher.stdin.write(f"{folder}\t{index}\n")
        publisher.stdin.flush()
        _, version, at = publisher.stdout.readline().split()
        published.append((version, float(at)))


def summarise(log: list[dict], published: list[tuple[str, float]], base_version: str, base_images: int) -> dict:
    ok = [r for r in log if r["status"] == 200]
    p95 = percentiles([r["ms"] for r in log])["p95_ms"]
    expected = {base_version: base_images, **{v: base_images + i + 1 for i, (v, _) in enumerate(published)}}
    # With k above every version's image count, a response's hit count names the version it ranked.
    checkable = max(expected.values()) <= K
    wrong = [r for r in ok if r["version"] not in expected or (checkable and r["hits"] != expected[r["version"]])]
    # A client never sees an older version after a newer one.
    order = {v: i for i, v in enumerate(expected)}
    backwards = 0  # steps where a client's next response came from an older version than its last
    for c in {r["client"] for r in ok}:
        seen = [order.get(r["version"], 0) for r in sorted((r for r in ok if r["client"] == c), key=lambda r: r["start"])]
        backwards += sum(b < a for a, b in zip(seen, seen[1:]))
    switches = []
    for version, at in published:
        first = min((r["end"] for r in ok if r["version"] == version), default=None)
        until = (first if first is not None else at) + 1.0
        around = [r["ms"] for r in log if r["end"] >= at and r["start"] <= until]
        switches.append({"version": version, "published_at": round(at, 3),
                         "first_answer_after_publish_s": None if first is None else round(first - at, 3),
                         "requests_in_window": len(around), "max_ms_in_window": round(max(around, default=0.0), 1),
                         "max_over_run_p95": round(max(around, default=0.0) / p95, 2),
                         "within_2x_p95": max(around, default=0.0) <= 2 * p95})
    return {"requests": len(log), "errors": len(log) - len(ok),
            "latency_incl_text_encoding": percentiles([r["ms"] for r in log]),
            "responses_per_version": {v: sum(1 for r in ok if r["version"] == v) for v in expected},
            "hits_expected_per_version": expected,
            "responses_not_wholly_one_version": len(wrong) if checkable else f"not checked (index over k={K} images)", "clients_seeing_an_older_version_after_a_newer": backwards,
            "switches": switches}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", type=Path, default=Path("/tmp/geoseek-switch"))
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--requests", type=int, default=50, help="per client")
    ap.add_argument("--delay", type=float, default=4.0, help="seconds before each publish")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--src", nargs="+", type=Path, help="what to index (default: the demo sample)")
    ap.add_argument("--split", help="only this split of a dataset --src")
    ap.add_argument("--server-code", type=Path, help="run server and publisher from this checkout (before/after)")
    ap.add_argument("--copy-index", type=Path, help="start from a copy of this index instead of indexing --src")
    args = ap.parse_args()
    args.work, args.out = args.work.resolve(), args.out.resolve()
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    index = args.work / "index"
    srcs = [s.resolve() for s in args.src or [EXAMPLES / "rsicd_aid", EXAMPLES / "joplin"]]
    t = time.perf_counter()
    if args.copy_index:
        shutil.copytree(args.copy_index, index)
    else:
        subprocess.run([sys.executable, "-m", "geoseek.cli", "index", *map(str, srcs), "--index", str(index), "--quiet",
                        *(["--split", args.split] if args.split else [])], check=True)
    index_s = time.perf_counter() - t
    if args.server_code:
        # `python -m` puts the working directory first on sys.path: leave this checkout, or its
        # geoseek would shadow the one named here.
        os.environ["PYTHONPATH"] = str(args.server_code.resolve())
        os.chdir(args.work)
    folders = new_images(args.work, 2)
    data = json.loads((EXAMPLES / "rsicd_aid" / "dataset.json").read_text()) if (EXAMPLES / "rsicd_aid" / "dataset.json").is_file() else None
    queries = sorted({s["raw"].strip() for e in data["images"] for s in e["sentences"]}) if data else []
    queries = queries or ["an airport with planes", "a river between fields", "houses destroyed by a tornado",
                          "a beach by the sea", "storage tanks", "a stadium", "a bridge over a river", "dense residential area"]
    port = free_port()
    server_log = args.work / "serve.log"
    server = start_api(index, port, "cpu", log_file=server_log)
    publisher = subprocess.Popen([sys.executable, "-c", PUBLISHER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_up(base + "/v1/health", server, 180, "geoseek serve")
        assert publisher.stdout.readline().strip() == "ready"
        import httpx

        health = httpx.get(base + "/v1/stats", timeout=10).json()
        asyncio.run(clients(base, queries, 2, 5))  # warm the server (first requests build caches)
        published: list[tuple[str, float]] = []
        pub = threading.Thread(target=publish_during, args=(publisher, folders, index, args.delay, published))
        t0 = time.perf_counter()
        pub.start()
        log = asyncio.run(asyncio.wait_for(clients(base, queries, args.clients, args.requests), timeout=600))
        wall = time.perf_counter() - t0
        pub.join(timeout=120)
    finally:
        stop(server)
        publisher.kill()
    out = {"sources": [str(s) for s in srcs], "split": args.split,
           "index_seconds": None if args.copy_index else round(index_s, 1),
           "server_code": str(args.server_code) if args.server_code else "this checkout",
           "what": f"{args.clients} clients x {args.requests} text queries (k={K}, text encoding included) against "
                   "`geoseek serve` on 127.0.0.1 while two new versions are published; CPU only (2 cores)",
           "command": "python benchmarks/version_switch.py", "index_images_at_start": health["images"],
           "wall_s": round(wall, 1), "qps": round(len(log) / wall, 1),
           **summarise(log, published, health["version"], health["images"]),
           "server_log_switch_lines": [ln.strip() for ln in server_log.read_text().splitlines() if "switched to" in ln]}
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))
    mixed = out["responses_not_wholly_one_version"]
    return 0 if out["errors"] == 0 and (mixed == 0 or isinstance(mixed, str)) else 1


if __name__ == "__main__":
    sys.exit(main())
