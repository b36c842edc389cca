"""What an audit looks at and what it reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, Literal

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

    from packaging.utils import NormalizedName
    from packaging.version import Version

    from torchresolve.target import GpuArch, Platform

__all__ = ["RULES", "SEVERITIES", "AuditContext", "Finding", "Severity"]

Severity = Literal["error", "warning", "info"]
SEVERITIES: Final[tuple[Severity, ...]] = ("error", "warning", "info")

RULES: Final[Mapping[str, str]] = {
    "invalid-specifier": "A requirement is not valid PEP 440 (a local version in a range)",
    "family-pairing": "torchvision/torchaudio/torchtext/torchdata must match the locked torch",
    "mixed-cuda": "All CUDA builds in one environment must use the same variant",
    "python-wheels": "The locked torch must have wheels for the target Python",
    "numpy-abi": "numpy must match the C API torch was compiled against",
    "gpu-arch": "The torch build must carry kernels for the GPU",
    "driver-too-old": "The NVIDIA driver must support the build's CUDA runtime",
    "known-vulnerability": "A locked version has a known vulnerability",
    "yanked": "A locked version was yanked from the index",
    "unknown-torch": "The locked torch is not in the curated database",
    "ecosystem": "A rule of the curated ecosystem database is violated",
}
"""Every rule id the audit can report, with a one-line description (data rules add theirs)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """One problem found in a lock, with where it is and the change that fixes it."""

    rule: str
    severity: Severity
    packages: tuple[str, ...]
    """The packages involved as written in the lock (``torch==2.5.1+cu121``)."""
    message: str
    file: Path | None = None
    line: int | None = None
    fix: tuple[str, ...] = ()
    """Requirement lines that fix it, as a consistent set (the torch family moves together)."""
    reference: str = ""
    """Where the fact comes from (an advisory id, a release note, the data rule's source)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditContext:
    """The machine and facts the lock is audited against."""

    pythons: tuple[Version, ...] = ()
    """Target CPython minors; empty when unknown (then the wheel rule is skipped)."""
    python_origin: str = ""
    """How ``pythons`` was decided, for messages (``--python``, ``requires-python >=3.8``)."""
    platform: Platform = "linux_x86_64"
    arch: GpuArch | None = None
    gpu_name: str | None = None
    driver: Version | None = None
    yanked: Mapping[tuple[NormalizedName, Version], str] = field(default_factory=dict)
    """(name, version) -> yank reason, as looked up on the index by the caller."""
