"""``torchresolve doctor`` with a stub torch imported by a real interpreter and GPU overrides."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from torchresolve.cli.main import main
from torchresolve.errors import InputError
from torchresolve.hardware.doctor import parse_probe

DB = Path(__file__).resolve().parent.parent / "fixtures" / "lockfiles" / "db"


def stub_torch(root: Path, version: str, cuda: str | None, arch: str, available: bool) -> Path:
    """Write a tiny importable ``torch`` that answers the probe like a real build."""
    package = root / "torch"
    (package / "cuda").mkdir(parents=True)
    (package / "backends").mkdir()
    (package / "__init__.py").write_text(
        f"__version__ = {version!r}\nfrom torch import _C, backends, cuda, version\n",
        encoding="utf-8",
    )
    (package / "version.py").write_text(f"cuda = {cuda!r}\nhip = None\n", encoding="utf-8")
    (package / "_C.py").write_text(
        f"def _cuda_getArchFlags():\n    return {arch!r}\n", encoding="utf-8"
    )
    (package / "cuda" / "__init__.py").write_text(
        "from torch.cuda import nccl\n"
        f"def is_available():\n    return {available!r}\n"
        "def device_count():\n    return 1\n",
        encoding="utf-8",
    )
    (package / "cuda" / "nccl.py").write_text(
        "def version():\n    return (2, 21, 5)\n", encoding="utf-8"
    )
    (package / "backends" / "__init__.py").write_text(
        "from torch.backends import cudnn\n", encoding="utf-8"
    )
    (package / "backends" / "cudnn.py").write_text(
        "def version():\n    return 90100\n", encoding="utf-8"
    )
    return root


def run_doctor(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    **stub: object,
) -> tuple[int, dict[str, object]]:
    monkeypatch.setenv("PYTHONPATH", str(stub_torch(tmp_path, **stub)))  # type: ignore[arg-type]
    monkeypatch.setenv("TORCHRESOLVE_GPU", "H100")
    monkeypatch.setenv("TORCHRESOLVE_DRIVER", "580.82.07")
    code = main(["doctor", "--python", sys.executable, "--json", "--db", str(DB)])
    return code, json.loads(capsys.readouterr().out)


def test_matching_build_is_ok(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, report = run_doctor(
        tmp_path,
        monkeypatch,
        capsys,
        version="2.6.0+cu124",
        cuda="12.4",
        arch="sm_50 sm_60 sm_70 sm_75 sm_80 sm_86 sm_90",
        available=True,
    )
    assert code == 0
    torch = report["torch"]
    assert isinstance(torch, dict)
    assert (torch["version"], torch["cuda"], torch["cudnn"], torch["nccl"]) == (
        "2.6.0+cu124",
        "12.4",
        "9.1.0",
        "2.21.5",
    )
    assert report["gpus"] == [
        {
            "index": 0,
            "name": "H100",
            "arch": "sm_90",
            "compute_capability": "9.0",
            "memory_mib": None,
        }
    ]
    verdict = report["verdict"]
    assert isinstance(verdict, dict)
    assert verdict["status"] == "ok" and verdict["command"] is None


def test_old_build_without_kernels_suggests_constraints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, report = run_doctor(
        tmp_path,
        monkeypatch,
        capsys,
        version="1.5.0",
        cuda="10.2",
        arch="sm_37 sm_50 sm_60 sm_70",
        available=True,
    )
    assert code == 1
    verdict = report["verdict"]
    assert isinstance(verdict, dict)
    assert verdict["status"] == "broken"
    assert any("no kernels for H100 (sm_90)" in r for r in verdict["reasons"])  # type: ignore[attr-defined]
    # no 1.5.0 build has sm_90 kernels: the smallest fix is the lowest newer release that does
    assert verdict["command"] == (
        "torchresolve constraints --torch '>=1.5.0' --minimal --gpu sm_90 --driver 580.82.07"
    )


def test_cpu_build_beside_a_gpu(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, report = run_doctor(
        tmp_path, monkeypatch, capsys, version="2.6.0+cpu", cuda=None, arch="", available=False
    )
    assert code == 1
    verdict = report["verdict"]
    assert isinstance(verdict, dict)
    assert "CPU-only" in verdict["reasons"][0]  # type: ignore[index]
    assert (
        verdict["command"]
        == "torchresolve constraints --torch 2.6.0 --gpu sm_90 --driver 580.82.07"
    )


def test_text_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(
        "PYTHONPATH",
        str(stub_torch(tmp_path, "2.6.0+cu124", "12.4", "sm_80 sm_90", available=True)),
    )
    monkeypatch.setenv("TORCHRESOLVE_GPU", "sm_90")
    monkeypatch.setenv("TORCHRESOLVE_DRIVER", "470.82.01")
    assert main(["doctor", "--python", sys.executable, "--db", str(DB)]) == 1
    out = capsys.readouterr().out
    assert "torch:       2.6.0+cu124 (CUDA 12.4)" in out
    assert "driver 470.82.01 is too old for the CUDA 12.4 runtime" in out
    # 2.6.0+cu118 runs on a 470 driver through CUDA 11 minor-version compatibility
    assert (
        "Fix:         torchresolve constraints --torch 2.6.0 --gpu sm_90 --driver 470.82.01" in out
    )


def test_missing_interpreter_is_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["doctor", "--python", str(tmp_path / "python")]) == 2
    assert "cannot run the interpreter" in capsys.readouterr().err


def test_garbled_probe_is_a_clear_error() -> None:
    with pytest.raises(InputError, match="no probe result"):
        parse_probe("Segmentation fault\n", "python")
    with pytest.raises(InputError, match="unexpected probe result"):
        parse_probe('TORCHRESOLVE-PROBE {"python": "3.11.7"}\n', "python")
