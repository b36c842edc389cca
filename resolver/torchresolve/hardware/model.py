"""What GPU detection reports."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from packaging.version import Version

    from torchresolve.target import GpuArch

__all__ = ["Detection", "GpuInfo"]


@dataclass(frozen=True, slots=True, kw_only=True)
class GpuInfo:
    """One visible NVIDIA GPU."""

    index: int
    name: str
    """Model name as the driver reports it (``NVIDIA H100 80GB HBM3``)."""
    arch: GpuArch | None
    memory_mib: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Detection:
    """The result of looking for NVIDIA GPUs on this machine."""

    gpus: tuple[GpuInfo, ...] = ()
    driver: Version | None = None
    driver_cuda: Version | None = None
    """Newest CUDA version the driver supports (``CUDA Version`` in nvidia-smi)."""
    method: str = "none"
    """``nvml``, ``nvidia-smi``, ``override`` or ``none``."""
    notes: tuple[str, ...] = ()
    """Every fallback taken and why, for the explanation (never silent)."""

    @property
    def found(self) -> bool:
        """True when at least one GPU was seen."""
        return bool(self.gpus)
