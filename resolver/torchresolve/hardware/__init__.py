"""GPU and driver detection: NVML, then nvidia-smi, never silent about fallbacks."""

from __future__ import annotations

from torchresolve.hardware.detect import detect
from torchresolve.hardware.model import Detection, GpuInfo

__all__ = ["Detection", "GpuInfo", "detect"]
