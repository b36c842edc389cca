"""The doctor's verdict from a detection and a probed torch build (no database needed)."""

from __future__ import annotations

import pytest
from packaging.version import Version

from torchresolve.hardware import Detection, GpuInfo
from torchresolve.hardware.doctor import TorchBuild, diagnose
from torchresolve.target import GpuArch

H100 = GpuInfo(index=0, name="NVIDIA H100 80GB HBM3", arch=GpuArch(9, 0), memory_mib=81559)
CU130 = ("sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120")


def detection(driver_cuda: str, gpus: tuple[GpuInfo, ...] = (H100,)) -> Detection:
    return Detection(
        gpus=gpus, driver=Version("580.82.07"), driver_cuda=Version(driver_cuda), method="nvml"
    )


def build(cuda: str | None = "13.0", arch: tuple[str, ...] = CU130, **extra: object) -> TorchBuild:
    return TorchBuild(
        python="3.12.3",
        executable="python",
        version=Version("2.11.0+cu130" if cuda else "2.11.0+cpu"),
        cuda=Version(cuda) if cuda else None,
        arch_list=arch,
        cuda_available=bool(cuda),
        **extra,  # type: ignore[arg-type]
    )


def test_cu130_on_h100_with_a_580_driver_is_ok() -> None:
    verdict = diagnose(detection("13.0"), build())
    assert verdict.status == "ok"
    assert verdict.command is None


@pytest.mark.parametrize(("driver_cuda", "status"), [("12.8", "broken"), ("13.0", "ok")])
def test_driver_cuda_decides_without_a_database(driver_cuda: str, status: str) -> None:
    assert diagnose(detection(driver_cuda), build()).status == status


def test_same_major_older_driver_is_minor_version_compatibility() -> None:
    verdict = diagnose(detection("12.4"), build(cuda="12.8"))
    assert verdict.status == "warning"
    assert any("minor-version compatibility" in r for r in verdict.reasons)


def test_ptx_only_is_a_warning() -> None:
    verdict = diagnose(detection("13.0"), build(arch=("sm_80", "compute_80")))
    assert verdict.status == "warning"
    assert any("PTX" in r for r in verdict.reasons)


def test_arch_specific_cubins_count_as_their_arch() -> None:
    verdict = diagnose(detection("13.0"), build(arch=("sm_90a",)))
    assert verdict.status == "ok"


def test_missing_kernels_gives_the_constraints_command() -> None:
    verdict = diagnose(detection("13.0"), build(arch=("sm_50", "sm_60", "sm_70")))
    assert verdict.status == "broken"
    assert verdict.command == (
        "torchresolve constraints --torch '>=2.11.0' --minimal --gpu sm_90 --driver 580.82.07"
    )


def test_cuda_unavailable_is_reported() -> None:
    probe = build(cuda_error="RuntimeError: no CUDA-capable device is detected")
    probe = TorchBuild(
        **{**{f: getattr(probe, f) for f in probe.__slots__}, "cuda_available": False}
    )
    verdict = diagnose(detection("13.0"), probe)
    assert verdict.status == "broken"
    assert "no CUDA-capable device" in verdict.reasons[-1]


def test_no_gpu_and_no_torch() -> None:
    assert diagnose(Detection(), build()).status == "no-gpu"
    missing = TorchBuild(python="3.12.3", executable="python", error="ModuleNotFoundError: torch")
    verdict = diagnose(detection("13.0"), missing)
    assert verdict.status == "no-torch"
    assert verdict.command == "torchresolve constraints --gpu sm_90 --driver 580.82.07"
