"""The smoke suite: pure helpers, the protocol without torch, crash recovery, and real runs
against the torch of the test environment (CPU) or a GPU (``-m gpu``)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from torchresolve.verify import VerifyOptions, verify
from torchresolve.verify import _smoke as smoke_script
from torchresolve.verify.smoke import SMOKE_SCRIPT, SmokeOptions, run_smoke

HAS_TORCH = importlib.util.find_spec("torch") is not None


@pytest.mark.parametrize(
    ("arch_list", "capability", "expected"),
    [
        (["sm_80", "sm_90"], (9, 0), ("sass", "sm_90")),
        (["sm_80"], (8, 6), ("sass", "sm_80")),  # same major, lower minor: binary compatible
        (["sm_90a"], (9, 0), ("sass", "sm_90a")),
        (["sm_90a"], (9, 1), ("", "")),  # arch-specific code runs on that arch only
        (["sm_80", "sm_90", "compute_90"], (12, 0), ("ptx", "compute_90")),
        (["sm_80", "compute_80"], (7, 5), ("", "")),
        (["sm_50", "sm_60", "sm_70"], (9, 0), ("", "")),
    ],
)
def test_kernels_for_a_compute_capability(
    arch_list: list[str], capability: tuple[int, int], expected: tuple[str, str]
) -> None:
    assert smoke_script.kernels_for(arch_list, *capability) == expected


def test_reference_nms_suppresses_overlaps_by_score() -> None:
    boxes = [[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 11.0, 11.0], [20.0, 20.0, 30.0, 30.0]]
    assert smoke_script.reference_nms(boxes, [0.5, 0.9, 0.1], 0.5) == [1, 2]
    assert smoke_script.reference_nms(boxes, [0.5, 0.9, 0.1], 0.9) == [1, 0, 2]


def _events(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_script_without_torch_skips_or_fails_as_required(tmp_path: Path) -> None:
    """Run by path with a bare venv's python: it must not need torchresolve or torch."""
    venv = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    out = tmp_path / "out.jsonl"
    argv: list[str | Path] = [
        venv / "bin" / "python",
        SMOKE_SCRIPT,
        "--out",
        out,
        "--require",
        "torch",
        "--gpu",
        "no",
    ]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    events = _events(out)
    assert events[0]["event"] == "start" and events[-1]["event"] == "end"
    results = {e["name"]: e for e in events if e["event"] == "result"}
    assert results["imports.torch"]["status"] == "fail"
    assert results["imports.torch"]["reason"] == "torch is required but not installed"
    assert results["imports.numpy"]["status"] == "skip"
    assert results["numerics"]["status"] == "skip"
    assert done.returncode == 1


CRASHING_SUITE = """
import argparse, json, os, sys
p = argparse.ArgumentParser()
p.add_argument("--out"); p.add_argument("--gpu")
p.add_argument("--exclude", action="append", default=[])
a = p.parse_args()
out = open(a.out, "a")
def emit(e):
    out.write(json.dumps(e) + "\\n"); out.flush()
emit({"event": "start", "pid": os.getpid()})
for group in ("first", "boom", "last"):
    if group in a.exclude:
        continue
    emit({"event": "begin", "group": group})
    if group == "boom":
        os.abort()
    emit({"event": "result", "name": group + ".ok", "status": "pass", "reason": "fine",
          "seconds": 0.0, "details": {}})
emit({"event": "end"})
"""


def test_a_crashed_group_fails_and_the_rest_still_runs(tmp_path: Path) -> None:
    script = tmp_path / "suite.py"
    script.write_text(CRASHING_SUITE)
    results = run_smoke(Path(sys.executable), SmokeOptions(script=script, timeout=60), environ={})
    assert [(r.name, r.status) for r in results] == [
        ("first.ok", "pass"),
        ("boom", "fail"),
        ("last.ok", "pass"),
    ]
    assert "died during this group" in results[1].reason


CPU_MUST_PASS = (
    "versions.torch",
    "imports.torch",
    "numerics.float32",
    "amp.bfloat16",
    "ddp.single_process",
    "checkpoint.zip",
    "checkpoint.legacy",
    "checkpoint.whole_module",
    "checkpoint.user:user.pt",
)


@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed in the test environment")
def test_cpu_smoke_suite_in_place_against_the_test_environment(tmp_path: Path) -> None:
    import torch

    proposal = tmp_path / "proposal.txt"
    # The distribution's version: PyPI's CUDA wheels say 2.x.y while torch.__version__ adds +cuXYZ.
    proposal.write_text(f"torch=={metadata.version('torch')}\n")
    checkpoint = tmp_path / "user.pt"
    torch.save({"weight": torch.ones(2)}, checkpoint)
    report = verify(
        proposal,
        VerifyOptions(in_place=Path(sys.executable), gpu="no", checkpoints=(checkpoint,)),
    )
    statuses = {c.name: c.status for c in report.checks}
    failures = [(c.name, c.reason) for c in report.checks if c.status == "fail"]
    assert not failures
    for name in CPU_MUST_PASS:
        assert statuses[name] == "pass", name
    assert statuses["device.cuda"] == "skip"
    assert statuses["ddp.multi_process"] == "skip"
    if importlib.util.find_spec("numpy") is not None:
        assert statuses["numpy.interop"] == "pass"


@pytest.mark.slow
@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed in the test environment")
def test_two_process_ddp_with_gloo_on_cpu(tmp_path: Path) -> None:
    """The multi-process worker path, which otherwise only runs with two GPUs."""
    out = tmp_path / "ddp.jsonl"
    argv: list[str | Path] = [sys.executable, SMOKE_SCRIPT, "--out", out, "--gpu", "no",
                              "--only", "ddp", "--ddp-world", "2"]  # fmt: skip
    subprocess.run(argv, capture_output=True, timeout=300, check=False)
    results = {e["name"]: e for e in _events(out) if e["event"] == "result"}
    assert results["ddp.multi_process"]["status"] == "pass", results["ddp.multi_process"]
    assert results["ddp.multi_process"]["details"] == {
        "backend": "gloo",
        "world_size": 2,
        "ranks": [{"all_reduce": True, "in_sync": True, "value": 3.0}] * 2,
    }


@pytest.mark.gpu
def test_gpu_smoke_suite_in_place() -> None:
    """Needs torch with CUDA and a GPU: every device check must pass."""
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    results = run_smoke(Path(sys.executable), SmokeOptions(gpu="yes"), environ=dict(os.environ))
    statuses = {r.name: r.status for r in results}
    assert not [(r.name, r.reason) for r in results if r.status == "fail"]
    for name in ("device.cuda", "device.arch", "device.cudnn", "device.nccl",
                 "numerics.float32", "numerics.bfloat16", "numerics.float16", "amp.float16",
                 "ddp.single_process"):  # fmt: skip
        assert statuses[name] == "pass", name
