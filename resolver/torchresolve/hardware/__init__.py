"""GPU and driver detection: NVML, then nvidia-smi, never silent about fallbacks."""

from __future__ import annotations

from torchresolve.hardware.detect import ENV_DRIVER, ENV_GPU, detect, parse_smi_query
from torchresolve.hardware.model import Detection, GpuInfo
from torchresolve.hardware.nvml import Nvml, NvmlDevice

__all__ = [
    "ENV_DRIVER",
    "ENV_GPU",
    "Detection",
    "GpuInfo",
    "Nvml",
    "NvmlDevice",
    "detect",
    "parse_smi_query",
]
