"""The smallest consistent change that fixes a lock: one torch build, its family, numpy.

The torch family always moves together: a fix never bumps torch without torchvision and
torchaudio, and it keeps the lock's CUDA variant unless the GPU or the driver rules it out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from packaging.utils import canonicalize_name
from packaging.version import Version

from torchresolve.planning.stack import variant_index_url

if TYPE_CHECKING:
    from packaging.utils import NormalizedName

    from torchresolve.audit.model import AuditContext
    from torchresolve.db import Database, TorchRelease, Variant
    from torchresolve.sources.lockfiles import LockedPackage

__all__ = ["FixPlan", "plan_fix"]

_TORCH = canonicalize_name("torch")
_NUMPY = canonicalize_name("numpy")
# As in planning.stack: torchvision carries the variant label; torchaudio, torchtext and
# torchdata were long published without one, and ``==X`` also matches ``X+cu118`` (PEP 440).
_LABELLED = ("torchvision",)
_UNLABELLED = ("torchaudio", "torchtext", "torchdata")


@dataclass(frozen=True, slots=True, kw_only=True)
class FixPlan:
    """The torch build a fixed lock should use, as requirement lines."""

    release: TorchRelease | None
    variant: str | None
    family: tuple[str, ...] = ()
    """Exact pins of torch and the companions the lock has (``torch==2.6.0+cu124``...), and
    ``python>=X.Y`` when the lock's Python must rise too."""
    constraints: tuple[str, ...] = ()
    """The pins plus the numpy bound the chosen torch needs: a pip constraints file."""
    python_floor: Version | None = None
    """The lowest Python the chosen torch has wheels for, when the lock's Python is lower."""
    index_url: str | None = None
    """The PyTorch variant index serving the build, when it is not the default index's."""
    reasons: tuple[str, ...] = ()


def plan_fix(
    by_name: dict[NormalizedName, list[LockedPackage]],
    torch: LockedPackage | None,
    release: TorchRelease | None,
    context: AuditContext,
    db: Database,
) -> FixPlan:
    """Choose the lowest torch release (>= the locked one) and a build that pass every rule.

    :returns: an empty plan when no locked torch (or companion) is known to the database, or
        when no release in the database fits.
    """
    if release is None:
        return FixPlan(release=None, variant=None)
    local = torch.version.local if torch is not None and torch.version is not None else None
    current = _current_variant(torch, release, by_name)
    reasons: list[str] = []
    chosen = _choose(release, current, context, db, context.pythons)
    python_floor: Version | None = None
    if chosen is None and context.pythons:
        # No release fits the lock's Python: the fix must raise Python too.
        chosen = _choose(release, current, context, db, ())
        if chosen is not None:
            have = chosen[0].python.get(context.platform, ())
            python_floor = min(have) if have else None
            if python_floor is not None:
                reasons.append(f"torch {chosen[0].version} needs Python >= {python_floor}")
    if chosen is None:
        return FixPlan(
            release=None,
            variant=None,
            reasons=("no torch release in the database fits this target",),
        )
    picked, variant = chosen
    if picked.version != release.version:
        reasons.append(f"torch {release.version} -> {picked.version}")
    name = variant.name if variant is not None else None
    # Conda channels and the default index publish without local labels; the PyTorch
    # variant index with them.
    conda = torch is not None and torch.manager == "conda"
    labelled = not conda and name is not None and (local is not None or name != picked.pypi_variant)
    suffix = f"+{name}" if labelled else ""
    family = [f"torch=={picked.version}{suffix}"]
    companions = picked.companions()
    for companion in (*_LABELLED, *_UNLABELLED):
        key = canonicalize_name(companion)
        if key in by_name and key in companions:
            label = suffix if companion in _LABELLED else ""
            family.append(f"{companion}=={companions[key]}{label}")
    constraints = list(family)
    if python_floor is not None:
        family.append(f"python>={python_floor}")
    numpy = next((p for p in by_name.get(_NUMPY, []) if p.version is not None), None)
    if picked.numpy_abi == 1 and numpy is not None:
        constraints.append("numpy<2")
    return FixPlan(
        release=picked,
        variant=name,
        family=tuple(family),
        constraints=tuple(constraints),
        index_url=variant_index_url(name) if labelled and name else None,
        python_floor=python_floor,
        reasons=tuple(reasons),
    )


def _choose(
    release: TorchRelease,
    current: str | None,
    context: AuditContext,
    db: Database,
    pythons: tuple[Version, ...],
) -> tuple[TorchRelease, Variant | None] | None:
    for candidate in db.torch_releases:
        if candidate.version < release.version or _vulnerable(candidate, db):
            continue
        if not all(candidate.has_wheel(p, context.platform) for p in pythons):
            continue
        variant = _pick_variant(candidate, current, context, db)
        if variant is not False:
            return candidate, variant
    return None


def _current_variant(
    torch: LockedPackage | None,
    release: TorchRelease,
    by_name: dict[NormalizedName, list[LockedPackage]],
) -> str | None:
    """The lock's torch build; a conda torch without a build string takes its CUDA package's."""
    from torchresolve.audit.engine import build_of

    if torch is None:
        return None
    found = build_of(torch, release)
    if found is None and torch.manager == "conda":
        for conda_name in ("cpuonly", "pytorch-cuda", "cudatoolkit", "cuda-version"):
            for entry in by_name.get(canonicalize_name(conda_name), []):
                found = build_of(entry, None)
                if found is not None:
                    return found
    return found


def _vulnerable(release: TorchRelease, db: Database) -> bool:
    return any(
        a.package == _TORCH and a.affected.contains(release.version, prereleases=True)
        for a in db.advisories
    )


def _pick_variant(
    release: TorchRelease, current: str | None, context: AuditContext, db: Database
) -> Variant | Literal[False] | None:
    """The build of ``release`` to use; None when builds are unknown; False when none fits."""
    if not release.variants:
        return None
    if current == "cpu":
        return release.variants.get("cpu") or release.variants.get(release.pypi_variant)
    if current is None and context.arch is None:
        return release.variants.get(release.pypi_variant)

    def fits(variant: Variant) -> bool:
        if variant.cuda is None:
            return False
        if context.arch is not None and variant.kernels_for(context.arch) != "sass":
            return False
        if context.driver is not None:
            floor = db.min_driver(variant.cuda).required
            if floor is not None and context.driver < floor:
                return False
        return True

    order: list[Variant] = []
    for name in (current, release.pypi_variant):
        if name is not None and name in release.variants:
            order.append(release.variants[name])
    order += sorted(release.variants.values(), key=lambda v: v.cuda or Version("0"), reverse=True)
    for variant in order:
        if fits(variant):
            return variant
    return False
