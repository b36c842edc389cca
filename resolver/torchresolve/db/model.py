"""The typed records of the curated database and the queries over them.

Everything here is built by :mod:`torchresolve.db.loader` from ``data/*.toml`` (see
``docs/data-schema.md``); strings have already become :class:`Version`, :class:`SpecifierSet`,
:class:`Requirement` and :class:`GpuArch`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from packaging.utils import canonicalize_name
from packaging.version import Version

from torchresolve.db.gpus import match_gpu
from torchresolve.target import variant_cuda

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import date

    from packaging.requirements import Requirement
    from packaging.specifiers import SpecifierSet
    from packaging.utils import NormalizedName

    from torchresolve.target import GpuArch, Platform

__all__ = [
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
]

_COMPANIONS = ("torchvision", "torchaudio", "torchtext", "torchdata")


def format_driver(version: Version) -> str:
    """An NVIDIA driver version as NVIDIA writes it: ``Version('520.61.5')`` -> ``520.61.05``.

    :class:`Version` drops the leading zero of the last part, which NVIDIA always prints.
    """
    parts = version.release
    if len(parts) == 3:
        return f"{parts[0]}.{parts[1]:02d}.{parts[2]:02d}"
    return ".".join(str(p) for p in parts)


@dataclass(frozen=True, slots=True, kw_only=True)
class Variant:
    """One build of a torch release: ``cpu``, ``cu118``, ``rocm5.4.2``...

    ``arch`` holds the SASS architectures compiled into the build, without the
    arch-specific ``sm_90a``-style cubins (those run only on exactly that GPU and are kept
    in ``arch_specific`` as written); ``ptx`` the PTX targets (``compute_XY``).
    """

    name: str
    arch: tuple[GpuArch, ...] = ()
    arch_specific: tuple[str, ...] = ()
    ptx: tuple[GpuArch, ...] = ()
    cudnn: str | None = None
    nccl: str | None = None
    source: str = ""

    @property
    def cuda(self) -> Version | None:
        """CUDA runtime version of the build (``cu118`` -> 11.8); ``None`` for cpu/ROCm."""
        return variant_cuda(self.name)

    @property
    def is_rocm(self) -> bool:
        """True for an AMD ROCm build."""
        return self.name.startswith("rocm")

    def kernels_for(self, arch: GpuArch) -> Literal["sass", "ptx"] | None:
        """How this build runs on a GPU of ``arch``, or ``None`` when it cannot.

        SASS for ``sm_XY`` runs on any GPU of the same major with a minor >= Y (binary
        compatibility holds only within a major); PTX for ``compute_XY`` is JIT-compiled by
        the driver for any GPU >= XY.
        """
        if any(a.major == arch.major and a.minor <= arch.minor for a in self.arch):
            return "sass"
        if any(p <= arch for p in self.ptx):
            return "ptx"
        return None

    def arch_names(self) -> list[str]:
        """Every architecture of the build as written in the data (``sm_XX``, ``compute_XX``)."""
        names = [str(a) for a in self.arch] + list(self.arch_specific)
        return names + [f"compute_{p.major}{p.minor}" for p in self.ptx]


@dataclass(frozen=True, slots=True, kw_only=True)
class TorchRelease:
    """One torch release with its builds, supported Pythons and exact companions."""

    version: Version
    released: date
    python: Mapping[Platform, tuple[Version, ...]] = field(hash=False)
    pypi_variant: str
    variants: Mapping[str, Variant] = field(hash=False)
    numpy_abi: int
    torchvision: Version | None = None
    torchaudio: Version | None = None
    torchtext: Version | None = None
    torchdata: Version | None = None
    sources: Mapping[str, str] = field(hash=False, default_factory=dict)

    @property
    def pypi_cuda(self) -> Version | None:
        """CUDA version of the default Linux x86_64 wheel on the index (``None``: CPU)."""
        return variant_cuda(self.pypi_variant)

    def companions(self) -> dict[NormalizedName, Version]:
        """The companion packages released with this torch, by canonical name."""
        found: dict[NormalizedName, Version] = {}
        for name in _COMPANIONS:
            version = getattr(self, name)
            if version is not None:
                found[canonicalize_name(name)] = version
        return found

    def has_wheel(self, python: Version, platform: Platform) -> bool:
        """True when the index has a wheel for CPython ``python`` on ``platform``."""
        wanted = Version(f"{python.major}.{python.minor}")
        return wanted in self.python.get(platform, ())


@dataclass(frozen=True, slots=True, kw_only=True)
class GpuModel:
    """A GPU model and its compute capability."""

    name: str
    aliases: tuple[str, ...] = ()
    arch: GpuArch
    family: str = ""
    source: str = ""

    @property
    def short_name(self) -> str:
        """The first alias (``H100``), else the full name: for messages."""
        return self.aliases[0] if self.aliases else self.name


@dataclass(frozen=True, slots=True, kw_only=True)
class CudaToolkit:
    """A CUDA toolkit release and the driver its GA release needs."""

    version: Version
    min_driver_linux: Version
    min_driver_windows: Version | None = None
    source: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class MinorCompat:
    """The minor-version-compatibility driver floor of a CUDA major."""

    major: int
    min_driver_linux: Version
    min_driver_windows: Version | None = None
    source: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class DriverFloor:
    """The drivers a CUDA runtime needs on one OS.

    ``minor_compat`` is the lowest driver that runs the runtime thanks to CUDA minor-version
    compatibility (CUDA 11 and later); ``toolkit`` the driver of the toolkit's GA release,
    which also covers PTX JIT and every feature.
    """

    cuda: Version
    toolkit: Version | None
    minor_compat: Version | None

    @property
    def required(self) -> Version | None:
        """The lowest driver that runs the runtime at all (``None`` when unknown)."""
        return self.minor_compat if self.minor_compat is not None else self.toolkit


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    """``a package version matching when needs require`` (see ecosystem.toml)."""

    id: str
    when: Requirement
    require: Requirement
    kind: str
    severity: Literal["error", "warning"]
    reason: str
    source: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Change:
    """A behaviour change a user crosses when upgrading ``package`` to ``version``."""

    package: NormalizedName
    version: Version
    summary: str
    source: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Advisory:
    """A known vulnerability."""

    id: str
    package: NormalizedName
    affected: SpecifierSet
    fixed: Version | None
    summary: str
    source: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Blocker:
    """A package that cannot be installed as named."""

    package: NormalizedName
    kind: Literal["placeholder", "renamed", "abandoned"]
    successor: NormalizedName | None
    last_python: Version | None
    reason: str
    source: str


@dataclass(frozen=True, slots=True, kw_only=True)
class FirstWheel:
    """The first release of ``package`` with wheels for CPython ``python``."""

    package: NormalizedName
    python: Version
    version: Version
    source: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Database:
    """The whole curated database, validated, with its queries."""

    torch_releases: tuple[TorchRelease, ...]
    """Ascending by version."""
    gpus: tuple[GpuModel, ...] = ()
    cuda_toolkits: tuple[CudaToolkit, ...] = ()
    minor_compat: tuple[MinorCompat, ...] = ()
    rules: tuple[Rule, ...] = ()
    changes: tuple[Change, ...] = ()
    advisories: tuple[Advisory, ...] = ()
    blockers: tuple[Blocker, ...] = ()
    first_wheels: tuple[FirstWheel, ...] = ()
    digest: str = field(default="", compare=False)
    """The sha256 of the data files' names and bytes it was read from (``""`` when built in
    memory): what a stored result computed from this database is keyed by."""
    _rules_by_name: Mapping[NormalizedName, tuple[Rule, ...]] = field(
        init=False, repr=False, compare=False, hash=False
    )
    """``rules`` grouped by the canonical name of their ``when`` (kept in file order), so
    :meth:`rules_for`, asked for every candidate a resolution tries, scans only that
    project's rules."""

    def __post_init__(self) -> None:
        grouped: dict[NormalizedName, list[Rule]] = {}
        for rule in self.rules:
            grouped.setdefault(canonicalize_name(rule.when.name), []).append(rule)
        # A frozen dataclass: the derived index is set once, here.
        object.__setattr__(
            self, "_rules_by_name", {name: tuple(rules) for name, rules in grouped.items()}
        )

    def torch(self, version: Version | str) -> TorchRelease | None:
        """The release ``version`` (a local label such as ``+cu118`` is ignored), or ``None``."""
        wanted = Version(str(version)) if isinstance(version, str) else version
        public = Version(wanted.public)
        for release in self.torch_releases:
            if release.version == public:
                return release
        return None

    def release_for_companion(self, name: str, version: Version) -> TorchRelease | None:
        """The torch release whose companion ``name`` is ``version`` (local label ignored).

        ``torchvision 0.6.0`` -> torch 1.5.0. ``None`` when no release lists that pair.
        """
        key = canonicalize_name(name)
        public = Version(version.public)
        for release in self.torch_releases:
            if release.companions().get(key) == public:
                return release
        return None

    def gpu(self, query: str) -> GpuModel:
        """The GPU model named ``query``: a model name, an alias, ``sm_XX`` or ``X.Y``.

        :raises InputError: unknown or ambiguous name (the message lists close matches).
        """
        return match_gpu(self.gpus, query)

    def cuda_toolkit(self, version: Version) -> CudaToolkit | None:
        """The toolkit ``X.Y`` (patch ignored), or ``None`` when not in the database."""
        for toolkit in self.cuda_toolkits:
            if toolkit.version.release[:2] == version.release[:2]:
                return toolkit
        return None

    def min_driver(self, cuda: Version, os: Literal["linux", "windows"] = "linux") -> DriverFloor:
        """The driver floors of CUDA runtime ``cuda`` on ``os`` (fields ``None`` when unknown)."""
        toolkit = self.cuda_toolkit(cuda)
        toolkit_driver = None
        if toolkit is not None:
            toolkit_driver = (
                toolkit.min_driver_linux if os == "linux" else toolkit.min_driver_windows
            )
        compat_driver = None
        for compat in self.minor_compat:
            if compat.major == cuda.major:
                compat_driver = (
                    compat.min_driver_linux if os == "linux" else compat.min_driver_windows
                )
        return DriverFloor(cuda=cuda, toolkit=toolkit_driver, minor_compat=compat_driver)

    def rules_for(self, name: str, version: Version) -> tuple[Rule, ...]:
        """The rules whose ``when`` matches ``name`` at ``version`` (pre-releases included)."""
        candidates = self._rules_by_name.get(canonicalize_name(name), ())
        return tuple(
            rule for rule in candidates if rule.when.specifier.contains(version, prereleases=True)
        )

    def first_wheel(self, package: str, python: Version) -> Version | None:
        """The first version of ``package`` with wheels for CPython ``python``, if recorded."""
        key = canonicalize_name(package)
        wanted = Version(f"{python.major}.{python.minor}")
        for entry in self.first_wheels:
            if entry.package == key and entry.python == wanted:
                return entry.version
        return None
