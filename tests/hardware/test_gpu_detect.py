"""GPU detection against fake ``nvidia-smi`` programs on PATH and an injected fake NVML."""

from __future__ import annotations

import shutil
import stat
import textwrap
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pytest
from packaging.version import Version

from torchresolve.errors import HardwareError, InputError
from torchresolve.hardware import ENV_DRIVER, ENV_GPU, NvmlDevice, detect
from torchresolve.target import GpuArch

if TYPE_CHECKING:
    from pathlib import Path

H100 = "0, NVIDIA H100 80GB HBM3, 9.0, 81559, 580.82.07"
HEADER = "| NVIDIA-SMI 580.82.07    Driver Version: 580.82.07    CUDA Version: 13.0     |"


def fake_smi(tmp_path: Path, body: str) -> dict[str, str]:
    """Install a fake ``nvidia-smi`` shell script and return an environment that finds it."""
    folder = tmp_path / "bin"
    folder.mkdir()
    script = folder / "nvidia-smi"
    script.write_text("#!/bin/sh\n" + textwrap.dedent(body), encoding="utf-8")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return {"PATH": str(folder)}


def query_script(query_output: str, header: str = HEADER) -> str:
    return f"""\
        case "$1" in
          --query-gpu=*) printf '%b\\n' "{query_output}" ;;
          *) printf '%s\\n' "{header}" ;;
        esac
        """


def no_lookup(name: str) -> GpuArch:
    raise InputError(f"unknown GPU {name!r}")


def test_h100_from_nvidia_smi(tmp_path: Path) -> None:
    env = fake_smi(tmp_path, query_script(H100))
    found = detect(environ=env, nvml=False, gpu_lookup=no_lookup)
    assert found.method == "nvidia-smi"
    assert [(g.name, g.arch, g.memory_mib) for g in found.gpus] == [
        ("NVIDIA H100 80GB HBM3", GpuArch(9, 0), 81559)
    ]
    assert found.driver == Version("580.82.07")
    assert found.driver_cuda == Version("13.0")


def test_two_gpus(tmp_path: Path) -> None:
    two = H100 + "\n" + H100.replace("0,", "1,", 1)
    env = fake_smi(tmp_path, query_script(two.replace("\n", "\\n")))
    found = detect(environ=env, nvml=False, gpu_lookup=no_lookup)
    assert [g.index for g in found.gpus] == [0, 1]
    assert all(g.arch == GpuArch(9, 0) for g in found.gpus)


def test_old_driver_without_compute_cap_falls_back_to_names(tmp_path: Path) -> None:
    body = """\
        case "$1" in
          *compute_cap*) echo 'Field "compute_cap" is not a valid field to query.'; exit 2 ;;
          --query-gpu=*) echo '0, Tesla V100-SXM2-16GB, 16160, 470.82.01' ;;
          *) echo '| NVIDIA-SMI 470.82.01    Driver Version: 470.82.01    CUDA Version: 11.4 |' ;;
        esac
        """
    env = fake_smi(tmp_path, body)
    seen: list[str] = []

    def lookup(name: str) -> GpuArch:
        seen.append(name)
        return GpuArch(7, 0)

    found = detect(environ=env, nvml=False, gpu_lookup=lookup)
    assert seen == ["Tesla V100-SXM2-16GB"]
    assert found.gpus[0].arch == GpuArch(7, 0)
    assert found.driver == Version("470.82.01")
    assert found.driver_cuda == Version("11.4")
    assert any("compute_cap" in note for note in found.notes)


def test_old_driver_unknown_gpu_keeps_gpu_without_arch(tmp_path: Path) -> None:
    body = """\
        case "$1" in
          *compute_cap*) echo 'Field "compute_cap" is not a valid field to query.'; exit 2 ;;
          *) echo '0, Mystery GPU, 1024, 470.82.01' ;;
        esac
        """
    found = detect(environ=fake_smi(tmp_path, body), nvml=False, gpu_lookup=no_lookup)
    assert found.gpus[0].arch is None
    assert any("Mystery GPU" in note for note in found.notes)
    assert found.driver_cuda is None


def test_garbage_output_is_a_clear_error(tmp_path: Path) -> None:
    env = fake_smi(tmp_path, "echo 'this is not csv at all'\n")
    with pytest.raises(HardwareError, match="this is not csv at all"):
        detect(environ=env, nvml=False, gpu_lookup=no_lookup)


def test_bad_capability_is_a_clear_error(tmp_path: Path) -> None:
    env = fake_smi(tmp_path, query_script("0, NVIDIA H100, nine, 81559, 580.82.07"))
    with pytest.raises(HardwareError, match="cannot be parsed"):
        detect(environ=env, nvml=False, gpu_lookup=no_lookup)


def test_no_devices_exit_status_means_no_gpu(tmp_path: Path) -> None:
    env = fake_smi(tmp_path, "echo 'No devices were found'; exit 9\n")
    found = detect(environ=env, nvml=False, gpu_lookup=no_lookup)
    assert not found.found
    assert found.method == "none"
    assert any("No devices were found" in note for note in found.notes)


def test_failing_tool_is_a_note(tmp_path: Path) -> None:
    env = fake_smi(
        tmp_path, "echo 'Failed to initialize NVML: Driver/library mismatch' >&2; exit 18\n"
    )
    found = detect(environ=env, nvml=False, gpu_lookup=no_lookup)
    assert found.method == "none"
    assert any("status 18" in note and "mismatch" in note for note in found.notes)


def test_hang_times_out(tmp_path: Path) -> None:
    sleep = shutil.which("sleep")
    assert sleep is not None
    env = fake_smi(tmp_path, f"exec {sleep} 30\n")
    found = detect(environ=env, nvml=False, gpu_lookup=no_lookup, timeout=0.5)
    assert found.method == "none"
    assert any("timed out" in note for note in found.notes)


def test_missing_tool(tmp_path: Path) -> None:
    found = detect(environ={"PATH": str(tmp_path)}, nvml=False, gpu_lookup=no_lookup)
    assert found.gpus == ()
    assert "nvidia-smi not found on PATH" in found.notes
    assert found.notes[-1] == "no NVIDIA GPU"


@dataclass
class FakeNvml:
    devices: list[NvmlDevice]
    driver: str = "580.82.07"
    cuda: int = 13000
    fail_init: bool = False
    calls: list[str] = field(default_factory=list)

    def init(self) -> None:
        self.calls.append("init")
        if self.fail_init:
            raise HardwareError("NVML nvmlInit_v2 failed with status 9")

    def shutdown(self) -> None:
        self.calls.append("shutdown")

    def driver_version(self) -> str:
        return self.driver

    def cuda_driver_version(self) -> int:
        return self.cuda

    def device_count(self) -> int:
        return len(self.devices)

    def device(self, index: int) -> NvmlDevice:
        return self.devices[index]


def test_nvml_is_preferred(tmp_path: Path) -> None:
    nvml = FakeNvml(
        [NvmlDevice(name="NVIDIA H100 80GB HBM3", capability=(9, 0), memory_total=85520809984)]
    )
    env = fake_smi(tmp_path, "echo 'must not be called'; exit 1\n")
    found = detect(environ=env, nvml=nvml, gpu_lookup=no_lookup)
    assert found.method == "nvml"
    assert found.gpus[0].arch == GpuArch(9, 0)
    assert found.gpus[0].memory_mib == 81559
    assert found.driver == Version("580.82.07")
    assert found.driver_cuda == Version("13.0")
    assert nvml.calls == ["init", "shutdown"]


def test_nvml_failure_falls_back_to_smi(tmp_path: Path) -> None:
    nvml = FakeNvml([], fail_init=True)
    found = detect(environ=fake_smi(tmp_path, query_script(H100)), nvml=nvml, gpu_lookup=no_lookup)
    assert found.method == "nvidia-smi"
    assert any("NVML unavailable" in note for note in found.notes)


def test_overrides_win(tmp_path: Path) -> None:
    env = fake_smi(tmp_path, "exit 1\n") | {ENV_GPU: "H100,sm_80", ENV_DRIVER: "535.104.05"}
    found = detect(environ=env, nvml=FakeNvml([]), gpu_lookup=lambda name: GpuArch(9, 0))
    assert found.method == "override"
    assert [g.arch for g in found.gpus] == [GpuArch(9, 0), GpuArch(8, 0)]
    assert found.driver == Version("535.104.05")


def test_bad_override_is_a_clear_error() -> None:
    with pytest.raises(HardwareError, match=ENV_DRIVER):
        detect(environ={ENV_DRIVER: "latest"}, nvml=False, gpu_lookup=no_lookup)
    with pytest.raises(HardwareError, match="unknown GPU 'Voodoo5'"):
        detect(environ={ENV_GPU: "Voodoo5"}, nvml=False, gpu_lookup=no_lookup)
