"""GPU and driver detection (NVML, then nvidia-smi, never silent about fallbacks) and the
doctor's verdict on whether the installed torch can use the GPU."""

from __future__ import annotations

from torchresolve.hardware.detect import ENV_DRIVER, ENV_GPU, detect, parse_smi_query
from torchresolve.hardware.doctor import TorchBuild, Verdict, diagnose, probe_torch
from torchresolve.hardware.model import Detection, GpuInfo
from torchresolve.hardware.nvml import Nvml, NvmlDevice

__all__ = [
    "ENV_DRIVER",
    "ENV_GPU",
    "Detection",
    "GpuInfo",
    "Nvml",
    "NvmlDevice",
    "TorchBuild",
    "Verdict",
    "detect",
    "diagnose",
    "parse_smi_query",
    "probe_torch",
]
