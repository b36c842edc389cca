"""On a machine with an NVIDIA GPU: detection, the doctor's verdict and stack selection agree
with what the driver and the installed torch say. Deselected by default (``-m gpu``)."""

from __future__ import annotations

import os
import sys

import pytest

from torchresolve.db import load_database
from torchresolve.hardware import detect, diagnose, probe_torch
from torchresolve.planning.stack import select_stack
from torchresolve.target import Target, parse_python

pytestmark = pytest.mark.gpu

# The real environment (PATH finds nvidia-smi) without torchresolve's own overrides.
ENVIRON = {k: v for k, v in os.environ.items() if not k.startswith("TORCHRESOLVE_")}


@pytest.fixture
def torch_cuda() -> None:
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device visible to torch")


def test_nvml_sees_what_torch_sees(torch_cuda: None) -> None:
    import torch

    found = detect(environ=ENVIRON)
    assert found.method == "nvml", found.notes
    assert len(found.gpus) == torch.cuda.device_count()
    major, minor = torch.cuda.get_device_capability(0)
    first = found.gpus[0]
    assert first.arch is not None
    assert (first.arch.major, first.arch.minor) == (major, minor)
    assert first.name == torch.cuda.get_device_name(0)
    assert found.driver is not None
    assert found.driver_cuda is not None


def test_nvidia_smi_fallback_agrees_with_nvml(torch_cuda: None) -> None:
    by_nvml = detect(environ=ENVIRON)
    by_smi = detect(environ=ENVIRON, nvml=False)
    assert by_smi.method == "nvidia-smi", by_smi.notes
    assert [(g.name, g.arch) for g in by_smi.gpus] == [(g.name, g.arch) for g in by_nvml.gpus]
    assert by_smi.driver == by_nvml.driver


def test_doctor_reads_the_running_build_and_finds_it_usable(torch_cuda: None) -> None:
    import torch

    build = probe_torch(sys.executable)
    assert build.version is not None
    assert str(build.version) == torch.__version__
    assert build.arch_list == tuple(torch.cuda.get_arch_list())
    verdict = diagnose(detect(environ=ENVIRON), build, load_database())
    assert verdict.status in {"ok", "warning"}, verdict.reasons


def test_the_planner_accepts_the_running_release_for_this_gpu(torch_cuda: None) -> None:
    """The installed build runs here, so the curated data must not refuse its release."""
    import torch
    from packaging.specifiers import SpecifierSet
    from packaging.version import Version

    found = detect(environ=ENVIRON)
    target = Target(
        python=parse_python(f"{sys.version_info.major}.{sys.version_info.minor}"),
        gpu_name=found.gpus[0].name,
        arch=found.gpus[0].arch,
        driver=found.driver,
    )
    public = Version(torch.__version__).public
    stack = select_stack(load_database(), target, SpecifierSet(f"=={public}"), "minimal")
    assert str(stack.build.release.version) == public
