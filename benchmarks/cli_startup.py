"""CLI start-up: wall time of `geoseek --help`, `geoseek info`, an argument error, and one text search
in this process vs through a running `geoseek serve` (`--api`), median of N runs each.

    python benchmarks/cli_startup.py [--index DIR] [--runs 5] [--code CHECKOUT]

Indexes the demo sample into a scratch folder when no --index is given. ``--code`` times another
checkout of GeoSeek (e.g. a worktree of an older commit) instead of this one, for a before/after.
Runs from a scratch working directory so `python -m geoseek.cli` imports the code being timed.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from geoseek.cli.launch import free_port, start_api, stop, wait_until_up

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "cli_startup.json"
QUERY = "storage tanks next to a river"


def timed(cmd: list[str], runs: int, env: dict[str, str], cwd: Path) -> dict:
    """Median and all wall times (s) of ``runs`` runs of ``cmd``; exit codes recorded."""
    times, codes = [], set()
    for _ in range(runs):
        t = time.perf_counter()
        codes.add(subprocess.run(cmd, capture_output=True, env=env, cwd=cwd).returncode)
        times.append(time.perf_counter() - t)
    return {"median_s": round(statistics.median(times), 2), "runs_s": [round(x, 2) for x in times], "exit_codes": sorted(codes)}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", type=Path)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--code", type=Path, help="time this checkout of GeoSeek instead of this one")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="geoseek-startup-"))
    env = dict(os.environ)
    if args.code:
        env["PYTHONPATH"] = str(args.code.resolve())
    geoseek = [sys.executable, "-m", "geoseek.cli"]
    index = args.index.resolve() if args.index else scratch / "index"
    if not args.index:
        subprocess.run([*geoseek, "index", str(ROOT / "examples" / "rsicd_aid"), str(ROOT / "examples" / "joplin"),
                        "--index", str(index), "--quiet"], check=True, env=env, cwd=scratch)
    code = args.code.resolve() if args.code else ROOT
    commit = subprocess.run(["git", "-C", str(code), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    out = {"code": str(args.code) if args.code else "this checkout", "commit": commit, "index": str(index), "runs": args.runs,
           "help": timed([*geoseek, "--help"], args.runs, env, scratch),
           "info": timed([*geoseek, "info", "--index", str(index)], args.runs, env, scratch),
           "argument_error": timed([*geoseek, "search", "text"], args.runs, env, scratch),
           "search_in_process": timed([*geoseek, "search", "text", QUERY, "--index", str(index), "-k", "5"], args.runs, env,
                                      scratch)}
    port = free_port()
    os.environ.update(env)  # the server runs the same code
    cwd = Path.cwd()
    os.chdir(scratch)
    server = start_api(index, port, "cpu")
    try:
        wait_until_up(f"http://127.0.0.1:{port}/v1/health", server, 180, "geoseek serve")
        out["search_via_api"] = timed([*geoseek, "search", "text", QUERY, "--api", f"http://127.0.0.1:{port}", "-k", "5"],
                                      args.runs, env, scratch)
    except subprocess.SubprocessError as exc:
        out["search_via_api"] = {"error": str(exc)}
    finally:
        stop(server)
        os.chdir(cwd)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
