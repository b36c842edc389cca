"""Placeholder until the detection seam lands: reports no GPU."""

from __future__ import annotations

from torchresolve.hardware.model import Detection

__all__ = ["detect"]


def detect() -> Detection:
    """Detect NVIDIA GPUs and the driver on this machine."""
    return Detection(notes=("GPU detection not implemented yet",))
