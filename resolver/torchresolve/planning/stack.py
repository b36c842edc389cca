"""Choosing a torch build (release + variant) for a target machine, and its exact companions.

A *build* is one torch release in one variant (``2.0.0`` as ``cu118``). :func:`builds_for`
lists every build with the plain-words reasons it cannot run on the target;
:func:`select_stack` picks one and pins the torch family around it, or raises
:class:`StackRefused` saying why the nearest releases were refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal
from urllib.parse import urlsplit

from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from torchresolve.db.model import Variant, format_driver
from torchresolve.errors import InputError, ResolutionError
from torchresolve.pins import Pin, PinSet

if TYPE_CHECKING:
    from torchresolve.db.model import Database, TorchRelease
    from torchresolve.target import Target

__all__ = [
    "PYTORCH_INDEX",
    "Build",
    "Stack",
    "StackRefused",
    "builds_for",
    "is_pytorch_index",
    "select_stack",
    "variant_index_url",
]

PYTORCH_INDEX: Final = "https://download.pytorch.org/whl"

# The variant index publishes these with the build's local label; torchaudio, torchtext and
# torchdata were long published without one, and ``==X`` also matches ``X+cu118`` (PEP 440),
# so they are pinned without a label and pip/uv still take the variant's build.
_LABELLED: Final = frozenset({"torch", "torchvision"})
# Packages with CUDA builds come from the variant index; torchtext and torchdata are pure
# Python there and on the default index, which is the one sure to serve them.
_FROM_VARIANT: Final = frozenset({"torch", "torchvision", "torchaudio"})
_SHOWN_RELEASES: Final = 3
_SHOWN_REASONS: Final = 3


def is_pytorch_index(url: str) -> bool:
    """Whether ``url`` points at the PyTorch wheel index (a variant index or find-links page)."""
    return urlsplit(url).netloc == urlsplit(PYTORCH_INDEX).netloc


def variant_index_url(variant: str, base: str = PYTORCH_INDEX) -> str:
    """The PyTorch wheel index serving ``variant`` (``cu118`` -> ``.../whl/cu118``).

    :param base: the PyTorch index or a mirror of it with the same layout.
    """
    return f"{base.rstrip('/')}/{variant}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Build:
    """One torch release in one variant, and whether it can run on the target."""

    release: TorchRelease
    variant: Variant
    local: str
    """``+cu118`` when served by the variant index; ``""`` for the default (PyPI) build."""
    problems: tuple[str, ...]
    """Plain-words reasons the build cannot run on the target; empty when usable."""
    index_url: str | None
    """``None`` for the default build; else the PyTorch variant index."""
    notes: tuple[str, ...] = ()
    """Remarks that do not refuse the build (PTX JIT, a driver below the toolkit's)."""

    @property
    def usable(self) -> bool:
        """True when nothing refuses the build."""
        return not self.problems

    @property
    def torch_version(self) -> Version:
        """The exact torch version to pin, local label included."""
        return Version(f"{self.release.version}{self.local}")

    def __str__(self) -> str:
        return f"torch {self.release.version}{self.local or '+' + self.variant.name}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Stack:
    """The chosen build with the exact torch family pins and the numpy range it needs."""

    build: Build
    pins: PinSet
    numpy: SpecifierSet
    reasons: tuple[str, ...]


class StackRefused(ResolutionError):
    """No torch release matching the request can run on the target.

    :param spec: the torch versions asked for (``None``: any).
    :param reasons: per release (ascending by version), why it was refused.
    :param prefer: which end of the range was wanted; the releases nearest to it are shown.
    """

    def __init__(
        self,
        spec: SpecifierSet | None,
        reasons: dict[Version, tuple[str, ...]],
        *,
        prefer: Literal["minimal", "latest"] = "latest",
    ) -> None:
        self.spec = spec
        self.reasons = reasons
        self.prefer = prefer
        super().__init__(str(self))

    def __str__(self) -> str:
        wanted = f"torch{self.spec}" if self.spec else "torch"
        if not self.reasons:
            return f"no torch release in the database matches {wanted}"
        order = sorted(self.reasons, reverse=self.prefer == "latest")
        shown = order[:_SHOWN_RELEASES]
        parts = [f"{v}: {'; '.join(self.reasons[v])}" for v in shown]
        more = len(order) - len(shown)
        tail = f" ({more} more release{'s' if more > 1 else ''} refused)" if more else ""
        return f"no build of {wanted} can run on this target: {' | '.join(parts)}{tail}"


# -- builds --------------------------------------------------------------------------------


def _default_variant(release: TorchRelease, target: Target) -> str:
    """The variant the default index serves for the target's platform."""
    # torch.toml records the default build for Linux x86_64; elsewhere the index has CPU
    # wheels only (macOS, Windows, and aarch64 Linux for the releases we care about).
    return release.pypi_variant if target.platform == "linux_x86_64" else "cpu"


def _python_range(versions: tuple[Version, ...]) -> str:
    if not versions:
        return "none"
    ordered = sorted(versions)
    if len(ordered) == 1:
        return str(ordered[0])
    return f"{ordered[0]}-{ordered[-1]}"


def _gpu_label(db: Database, target: Target) -> str:
    if target.gpu_name:
        try:
            return db.gpu(target.gpu_name).short_name
        except InputError:
            return target.gpu_name
    return "GPU"


def _arch_span(variant: Variant) -> str:
    names = [str(a) for a in variant.arch] + [f"compute_{p.major}{p.minor}" for p in variant.ptx]
    if not names:
        return "none"
    return names[0] if len(names) == 1 else f"{names[0]}..{names[-1]}"


def _driver_os(target: Target) -> Literal["linux", "windows"]:
    return "windows" if target.platform == "windows" else "linux"


def _cuda_problems(db: Database, target: Target, build_name: str, variant: Variant) -> list[str]:
    """Why a CUDA build cannot run on the target's GPU and driver."""
    problems: list[str] = []
    if target.arch is not None and variant.kernels_for(target.arch) is None:
        problems.append(
            f"{build_name} has kernels for {_arch_span(variant)}; "
            f"the {_gpu_label(db, target)} is {target.arch}"
        )
    cuda = variant.cuda
    if target.driver is not None and cuda is not None:
        floor = db.min_driver(cuda, _driver_os(target))
        required = floor.required
        if required is not None and target.driver < required:
            toolkit = (
                f"; the CUDA {cuda} toolkit driver is {format_driver(floor.toolkit)}"
                if floor.toolkit
                else ""
            )
            how = " with minor-version compatibility" if floor.minor_compat else ""
            problems.append(
                f"driver {format_driver(target.driver)} is older than CUDA {cuda} needs "
                f"(>= {format_driver(required)}{how}{toolkit})"
            )
    return problems


def _notes(db: Database, target: Target, variant: Variant) -> list[str]:
    notes: list[str] = []
    if target.arch is not None and variant.kernels_for(target.arch) == "ptx":
        notes.append(
            f"the {_gpu_label(db, target)} ({target.arch}) runs this build through PTX JIT "
            "compilation: slow first start, possibly slower kernels"
        )
    cuda = variant.cuda
    if target.driver is not None and cuda is not None:
        floor = db.min_driver(cuda, _driver_os(target))
        if floor.toolkit is not None and target.driver < floor.toolkit:
            notes.append(
                f"driver {format_driver(target.driver)} runs CUDA {cuda} through minor-version "
                f"compatibility only (the toolkit driver is {format_driver(floor.toolkit)}): "
                "PTX JIT of newer code may fail"
            )
    return notes


def _build(
    db: Database, target: Target, release: TorchRelease, variant: Variant, pytorch_index: str
) -> Build:
    default = variant.name == _default_variant(release, target)
    local = "" if default else f"+{variant.name}"
    name = f"torch {release.version}+{variant.name}"
    problems: list[str] = []
    if not release.has_wheel(target.python, target.platform):
        have = _python_range(release.python.get(target.platform, ()))
        problems.append(
            f"torch {release.version} has no wheels for CPython {target.python} on "
            f"{target.platform} (it has {have})"
        )
    if not default and target.platform.startswith("macos"):
        problems.append(f"the PyTorch index has no {variant.name} builds for macOS")
    if variant.is_rocm:
        problems.append(f"{name} is a ROCm build for AMD GPUs")
    elif target.cuda == "cpu":
        if variant.cuda is not None:
            problems.append(f"{name} is a CUDA build; the target is CPU-only")
    elif variant.cuda is None:
        if target.cuda is not None or target.arch is not None:
            problems.append(f"{name} is the CPU build; the target wants CUDA")
    else:
        if target.cuda is not None and variant.cuda != Version(target.cuda):
            problems.append(f"{name} is built for CUDA {variant.cuda}, not {target.cuda}")
        problems.extend(_cuda_problems(db, target, name, variant))
    return Build(
        release=release,
        variant=variant,
        local=local,
        problems=tuple(problems),
        index_url=None if default else variant_index_url(variant.name, pytorch_index),
        notes=tuple(_notes(db, target, variant)) if variant.cuda is not None else (),
    )


def _variants(release: TorchRelease, target: Target) -> list[Variant]:
    variants = list(release.variants.values())
    default = _default_variant(release, target)
    if default not in release.variants:
        # The default CPU wheel of macOS/Windows is not a variant of the PyTorch index.
        variants.append(Variant(name=default, source="the default index's CPU wheel"))
    return variants


def builds_for(
    db: Database,
    target: Target,
    torch_spec: SpecifierSet | None = None,
    *,
    pytorch_index: str = PYTORCH_INDEX,
) -> list[Build]:
    """Every build of every release matching ``torch_spec``, usable or not.

    Ascending by release; within a release the default build first, then by CUDA version.
    """
    builds: list[Build] = []
    for release in db.torch_releases:
        if torch_spec is not None and not torch_spec.contains(release.version, prereleases=True):
            continue
        found = [_build(db, target, release, v, pytorch_index) for v in _variants(release, target)]
        found.sort(key=lambda b: (b.index_url is not None, b.variant.cuda or Version("0")))
        builds.extend(found)
    return builds


# -- selection -----------------------------------------------------------------------------


def _choose(builds: list[Build], target: Target) -> Build | None:
    """The build of one release to use: the default one if it fits, else the lowest CUDA."""
    usable = [b for b in builds if b.usable]
    if not usable:
        return None
    for build in usable:
        if build.index_url is None:
            return build
    return min(usable, key=lambda b: b.variant.cuda or Version("0"))


def _refusal(builds: list[Build], target: Target) -> tuple[str, ...]:
    """The reasons that matter for one release whose builds were all refused."""
    release = builds[0].release
    wheel = [p for p in builds[0].problems if " has no wheels for " in p]
    if wheel:
        # No wheel for the interpreter refuses every build alike: nothing else matters.
        return tuple(wheel)
    if target.cuda not in (None, "cpu"):
        wanted = Version(target.cuda)
        if not any(b.variant.cuda == wanted for b in builds):
            have = sorted({str(b.variant.cuda) for b in builds if b.variant.cuda is not None})
            listed = ", ".join(have) if have else "none"
            return (f"torch {release.version} has no CUDA {wanted} build (it has CUDA {listed})",)
        builds = [b for b in builds if b.variant.cuda == wanted]
    elif target.cuda == "cpu":
        builds = [b for b in builds if b.variant.cuda is None and not b.variant.is_rocm] or builds
    else:
        builds = [b for b in builds if b.variant.cuda is not None] or builds
    # The builds nearest to fitting (fewest problems) say what would have to change.
    fewest = min(len(b.problems) for b in builds)
    reasons: list[str] = []
    for build in builds:
        if len(build.problems) != fewest:
            continue
        for problem in build.problems:
            if problem not in reasons:
                reasons.append(problem)
    if len(reasons) > _SHOWN_REASONS:
        more = len(reasons) - _SHOWN_REASONS
        reasons = [*reasons[:_SHOWN_REASONS], f"{more} more like these"]
    return tuple(reasons)


def _numpy(db: Database, release: TorchRelease) -> tuple[SpecifierSet, list[str]]:
    spec = SpecifierSet(f"<{release.numpy_abi + 1}")
    reasons = [
        f"numpy{spec}: torch {release.version} was built against the numpy "
        f"{release.numpy_abi}.x C API"
    ]
    for rule in db.rules_for("torch", release.version):
        if (
            canonicalize_name(rule.require.name) == "numpy"
            and rule.severity == "error"
            and rule.require.specifier != spec
        ):
            spec &= rule.require.specifier
            reasons.append(f"numpy{rule.require.specifier}: {rule.reason} ({rule.id})")
    return spec, reasons


def _pins(build: Build, target: Target) -> PinSet:
    release = build.release
    wanted = {canonicalize_name("torch"): release.version, **release.companions()}
    pins: list[Pin] = []
    for name, version in wanted.items():
        local = build.local if name in _LABELLED else ""
        reason = (
            f"torch {release.version} ({build.variant.name})"
            if name == "torch"
            else f"released with torch {release.version}"
        )
        pins.append(
            Pin(
                name=name,
                version=Version(f"{version}{local}"),
                index=build.index_url if name in _FROM_VARIANT else None,
                reason=reason,
            )
        )
    extra = (build.index_url,) if build.index_url is not None else ()
    return PinSet(pins=tuple(pins), target=target, extra_index_urls=extra)


def select_stack(
    db: Database,
    target: Target,
    torch_spec: SpecifierSet | None,
    prefer: Literal["minimal", "latest"],
    *,
    pytorch_index: str = PYTORCH_INDEX,
) -> Stack:
    """Pick the lowest (``minimal``) or newest (``latest``) release with a usable build.

    With ``target.cuda`` ``None`` and a GPU, each release uses its default build when it fits,
    else its lowest CUDA variant that fits.

    :param pytorch_index: the PyTorch wheel index, or a mirror of it with the same layout.
    :raises StackRefused: no matching release has a usable build; carries per-release reasons.
    """
    by_release: dict[Version, list[Build]] = {}
    for build in builds_for(db, target, torch_spec, pytorch_index=pytorch_index):
        by_release.setdefault(build.release.version, []).append(build)
    order = sorted(by_release, reverse=prefer == "latest")
    refused: dict[Version, tuple[str, ...]] = {}
    for version in order:
        builds = by_release[version]
        chosen = _choose(builds, target)
        if chosen is None:
            refused[version] = _refusal(builds, target)
            continue
        numpy, numpy_reasons = _numpy(db, chosen.release)
        served = "the default index" if chosen.index_url is None else chosen.index_url
        reasons = [
            f"torch {chosen.torch_version} ({chosen.variant.name}) from {served}",
            *chosen.notes,
            *numpy_reasons,
        ]
        which = "newer" if prefer == "latest" else "older"
        nearest = list(refused.items())[-_SHOWN_RELEASES:]
        reasons.extend(
            f"{which} torch {v} refused: {'; '.join(why) or 'no build fits'}" for v, why in nearest
        )
        if len(refused) > len(nearest):
            reasons.append(f"{len(refused) - len(nearest)} {which} releases refused as well")
        return Stack(build=chosen, pins=_pins(chosen, target), numpy=numpy, reasons=tuple(reasons))
    raise StackRefused(torch_spec, refused, prefer=prefer)
