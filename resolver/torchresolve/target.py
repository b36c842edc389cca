"""The machine a proposal is for: Python, platform, GPU architecture, driver, CUDA choice.

These value types are shared by every seam (db queries, planning, audit, verify). They are
parsed from strings at the boundary with the ``parse_*`` functions, which raise
:class:`~torchresolve.errors.InputError` with a one-line message on bad input.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

from packaging.version import InvalidVersion, Version

from torchresolve.errors import InputError

__all__ = [
    "PLATFORMS",
    "GpuArch",
    "Platform",
    "Target",
    "parse_arch",
    "parse_cuda",
    "parse_driver",
    "parse_platform",
    "parse_python",
    "variant_cuda",
]

Platform = Literal["linux_x86_64", "linux_aarch64", "macos_arm64", "macos_x86_64", "windows"]
PLATFORMS: Final[tuple[Platform, ...]] = (
    "linux_x86_64",
    "linux_aarch64",
    "macos_arm64",
    "macos_x86_64",
    "windows",
)


@dataclass(frozen=True, slots=True, order=True)
class GpuArch:
    """An NVIDIA compute capability, e.g. ``GpuArch(9, 0)`` is ``sm_90`` (Hopper).

    >>> str(parse_arch("sm_86"))
    'sm_86'
    >>> parse_arch("9.0").capability
    '9.0'
    """

    major: int
    minor: int

    def __str__(self) -> str:
        return f"sm_{self.major}{self.minor}"

    @property
    def capability(self) -> str:
        """The compute capability as nvidia-smi prints it (``9.0``)."""
        return f"{self.major}.{self.minor}"


_ARCH_RE = re.compile(r"^(?:sm_|compute_)?(\d{1,2})(\d)[a-z]?$")
_CC_RE = re.compile(r"^(\d{1,2})\.(\d)$")


def parse_arch(text: str) -> GpuArch:
    """Parse ``sm_90``, ``sm_90a``, ``compute_90``, ``90`` or ``9.0`` into a :class:`GpuArch`.

    :raises InputError: the text is none of those forms.
    """
    raw = text.strip().lower()
    match = _CC_RE.match(raw) or _ARCH_RE.match(raw)
    if match is None:
        raise InputError(f"{text!r} is not a GPU architecture (expected sm_XX or X.Y)")
    return GpuArch(int(match.group(1)), int(match.group(2)))


def parse_python(text: str) -> Version:
    """Parse a target Python version (``3.11`` or ``3.11.4``) into ``Version('3.11')``.

    :raises InputError: not a CPython 3 version.
    """
    try:
        version = Version(text.strip())
    except InvalidVersion as exc:
        raise InputError(f"{text!r} is not a Python version (expected 3.X)") from exc
    if version.major != 3 or len(version.release) < 2:
        raise InputError(f"{text!r} is not a Python version (expected 3.X)")
    return Version(f"{version.major}.{version.minor}")


def parse_driver(text: str) -> Version:
    """Parse an NVIDIA driver version (``535.104.05``, ``470.57``, ``580``).

    :raises InputError: not a driver version.
    """
    if not re.fullmatch(r"\d{3,4}(\.\d{1,3}){0,2}", text.strip()):
        raise InputError(f"{text!r} is not an NVIDIA driver version (expected e.g. 535.104.05)")
    return Version(text.strip())


def parse_cuda(text: str) -> str:
    """Normalise a ``--cuda`` value: ``auto``, ``cpu``, ``X.Y``, or a variant name ``cuXYZ``.

    Returns ``"auto"``, ``"cpu"`` or ``"X.Y"``.

    :raises InputError: none of those forms.
    """
    raw = text.strip().lower()
    if raw in {"auto", "cpu"}:
        return raw
    if re.fullmatch(r"\d{2}\.\d", raw):
        return raw
    cuda = variant_cuda(raw) if raw.startswith("cu") else None
    if cuda is None:
        raise InputError(f"{text!r} is not a CUDA choice (expected auto, cpu, X.Y or cuXYZ)")
    return f"{cuda.major}.{cuda.minor}"


def variant_cuda(variant: str) -> Version | None:
    """The CUDA version of a PyTorch index variant name: ``cu118`` -> 11.8, ``cpu`` -> None.

    >>> variant_cuda("cu121")
    <Version('12.1')>
    """
    match = re.fullmatch(r"cu(\d{2})(\d)", variant)
    if match is None:
        match = re.fullmatch(r"cu(\d)(\d)", variant)  # cu92 and friends
    if match is None:
        return None
    return Version(f"{int(match.group(1))}.{match.group(2)}")


def parse_platform(text: str) -> Platform:
    """Parse a platform name; accepts the canonical names and uv-style triples.

    :raises InputError: unknown platform.
    """
    raw = text.strip().lower().replace("-", "_")
    aliases: dict[str, Platform] = {
        "linux": "linux_x86_64",
        "x86_64_manylinux_2_28": "linux_x86_64",
        "x86_64_unknown_linux_gnu": "linux_x86_64",
        "aarch64_unknown_linux_gnu": "linux_aarch64",
        "aarch64_manylinux_2_28": "linux_aarch64",
        "macos": "macos_arm64",
        "aarch64_apple_darwin": "macos_arm64",
        "x86_64_apple_darwin": "macos_x86_64",
        "win_amd64": "windows",
        "windows_x86_64": "windows",
        "x86_64_pc_windows_msvc": "windows",
    }
    for name in PLATFORMS:
        if raw == name:
            return name
    if raw in aliases:
        return aliases[raw]
    raise InputError(f"{text!r} is not a platform (expected one of {', '.join(PLATFORMS)})")


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """The machine a stack must run on.

    ``cuda`` is ``"cpu"``, a CUDA version ``"X.Y"`` the user insisted on, or ``None`` to let
    the planner choose the best CUDA variant for ``arch`` and ``driver``.
    """

    python: Version
    """Target CPython as ``Version('3.11')``."""
    platform: Platform = "linux_x86_64"
    gpu_name: str | None = None
    """The GPU's model name as nvidia-smi prints it, when known."""
    arch: GpuArch | None = None
    """Compute capability of the GPU; ``None`` when there is no GPU or it is unknown."""
    driver: Version | None = None
    """NVIDIA driver version; ``None`` when unknown (then no driver check is made)."""
    cuda: str | None = None
    detected: tuple[str, ...] = ()
    """How each field was obtained when it was not given (``"gpu: nvidia-smi"``)."""

    @property
    def wants_gpu(self) -> bool:
        """True when the stack must run on an NVIDIA GPU."""
        return self.cuda != "cpu" and (self.arch is not None or self.cuda is not None)
