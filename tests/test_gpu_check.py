"""benchmarks/gpu_check.py (`make gpu-check`) in its CPU-only mode: it runs, says what it skipped and why,
and records the CPU FAISS comparison. --cpu-only hides any GPU, so this is the same on the GPU machine."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT


@pytest.mark.slow  # it runs the gpu-marked tests in a pytest of its own (about a minute here)
def test_gpu_check_without_a_gpu_skips_the_gpu_steps_with_reasons(tmp_path):
    out = tmp_path / "gpu_check.json"
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--cpu-only", "--views", "20000",
                          "--out", str(out)], capture_output=True, text=True, cwd=ROOT, timeout=400, check=False)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    res = json.loads(out.read_text())
    steps = res["steps"]
    assert res["gpu"] is False and res["faiss_gpus"] == 0 and res["failed"] == {}
    assert set(steps) == {"environment", "gpu_tests", "bench_speed", "faiss_cpu", "faiss_gpu"}
    assert steps["environment"]["status"] == "ok" and steps["environment"]["faiss_gpus"] == 0
    assert set(res["skipped"]) == {"gpu_tests", "bench_speed", "faiss_gpu"}
    assert all("no GPU (--cpu-only hid it)" in steps[s]["reason"] for s in res["skipped"])
    # The gpu-marked tests still ran: the CUDA-only one skips, the others pass on their CPU branch.
    tests = {t["test"]: t for t in steps["gpu_tests"]["tests"]}
    assert tests["tests.models.test_encoder.TestCuda::test_cuda_matches_cpu"]["outcome"] == "skipped"
    assert steps["gpu_tests"]["counts"]["failed"] == 0 and steps["gpu_tests"]["counts"]["passed"] >= 4
    flat = steps["faiss_cpu"]["flat"]
    assert steps["faiss_cpu"]["status"] == "ok" and steps["faiss_cpu"]["data"]["views"] == 20000
    assert flat["batch"] == 200 and flat["k"] == 100 and 0 < flat["min_batch_ms"] <= flat["p50_batch_ms"]
    assert all(s["seconds"] <= s["limit_s"] + 5 for s in steps.values()) and res["seconds"] <= res["budget_s"] + 10
    lines = run.stdout.splitlines()
    for name, reason in res["skipped"].items():  # the summary printed at the end names each skip and its reason
        assert any(line.split()[:2] == [name, "skipped"] and reason in line for line in lines if line.strip()), name
