"""The curated constraint database: torch releases, builds, GPUs, CUDA drivers, rules.

Load it with :func:`load_database`; query the returned :class:`Database`.
"""

from __future__ import annotations

from torchresolve.db.gpus import match_gpu, normalize_gpu_name
from torchresolve.db.loader import DATA_FILES, load_database
from torchresolve.db.model import (
    Advisory,
    Blocker,
    Change,
    CudaToolkit,
    Database,
    DriverFloor,
    FirstWheel,
    GpuModel,
    MinorCompat,
    Rule,
    TorchRelease,
    Variant,
    format_driver,
)

__all__ = [
    "DATA_FILES",
    "Advisory",
    "Blocker",
    "Change",
    "CudaToolkit",
    "Database",
    "DriverFloor",
    "FirstWheel",
    "GpuModel",
    "MinorCompat",
    "Rule",
    "TorchRelease",
    "Variant",
    "format_driver",
    "load_database",
    "match_gpu",
    "normalize_gpu_name",
]
