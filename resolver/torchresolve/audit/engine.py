"""The audit rules: a pure function from locked packages, a target and the database to findings."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from packaging.markers import UndefinedComparison, UndefinedEnvironmentName
from packaging.utils import canonicalize_name
from packaging.version import Version

from torchresolve.audit.fix import FixPlan, plan_fix
from torchresolve.audit.model import AuditContext, Finding, Severity
from torchresolve.db.model import format_driver
from torchresolve.target import variant_cuda

if TYPE_CHECKING:
    from collections.abc import Sequence

    from packaging.utils import NormalizedName

    from torchresolve.db import Database, TorchRelease, Variant
    from torchresolve.sources.lockfiles import LockedPackage

__all__ = ["applies", "audit", "build_of", "python_targets"]

FAMILY: tuple[NormalizedName, ...] = tuple(
    canonicalize_name(n) for n in ("torchvision", "torchaudio", "torchtext", "torchdata")
)
TORCH = canonicalize_name("torch")
NUMPY = canonicalize_name("numpy")
# Conda packages that pin the CUDA runtime of a conda torch (or of everything in the env).
_CONDA_CUDA = {"pytorch-cuda", "cudatoolkit", "cuda-version", "cuda-runtime", "cuda-cudart"}
_LABELLED = {canonicalize_name(n) for n in ("torch", "torchvision", "torchaudio")}
_SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}


def audit(locked: Sequence[LockedPackage], context: AuditContext, db: Database) -> list[Finding]:
    """Check a locked set of packages against the target and the database.

    Pure: reads nothing but its arguments. Findings come sorted by severity, then file line.

    :param locked: every locked package (several entries of one name are all checked).
    :param context: the target machine and the index facts the caller looked up.
    :param db: the curated database.
    """
    locked = [p for p in locked if applies(p, context)]
    by_name: dict[NormalizedName, list[LockedPackage]] = {}
    for package in locked:
        by_name.setdefault(package.name, []).append(package)
    torch = _first_exact(by_name.get(TORCH, []))
    release = db.torch(torch.version) if torch is not None and torch.version else None
    if release is None and torch is None:
        release = _release_from_companions(by_name, db)
    plan = plan_fix(by_name, torch, release, context, db)
    findings: list[Finding] = []
    findings += _invalid_specifiers(locked)
    if torch is not None and torch.version is not None and release is None:
        findings.append(
            Finding(
                rule="unknown-torch",
                severity="info",
                packages=(_shown(torch),),
                message=f"torch {torch.version} is not in the curated database; "
                "torch-specific rules were skipped",
                file=torch.file,
                line=torch.line,
            )
        )
    findings += _family_pairing(by_name, torch, release, db, plan)
    findings += _mixed_cuda(locked, release, context, plan)
    if release is not None:
        findings += _python_wheels(torch, release, context, plan)
        findings += _hardware(torch, release, context, db, plan)
    findings += _wheel_floors(locked, context, db)
    findings += _vulnerable(locked, db, plan)
    findings += _data_rules(by_name, context, db, findings)
    findings += _numpy_abi(by_name, torch, release, findings)
    findings += _yanked(locked, context)
    findings.sort(key=lambda f: (_SEVERITY_ORDER[f.severity], str(f.file or ""), f.line or 0))
    return findings


# -- helpers -----------------------------------------------------------------------------------

_PLATFORM_ENV: dict[str, dict[str, str]] = {
    "linux_x86_64": {
        "sys_platform": "linux",
        "platform_system": "Linux",
        "platform_machine": "x86_64",
        "os_name": "posix",
    },
    "linux_aarch64": {
        "sys_platform": "linux",
        "platform_system": "Linux",
        "platform_machine": "aarch64",
        "os_name": "posix",
    },
    "macos_arm64": {
        "sys_platform": "darwin",
        "platform_system": "Darwin",
        "platform_machine": "arm64",
        "os_name": "posix",
    },
    "macos_x86_64": {
        "sys_platform": "darwin",
        "platform_system": "Darwin",
        "platform_machine": "x86_64",
        "os_name": "posix",
    },
    "windows": {
        "sys_platform": "win32",
        "platform_system": "Windows",
        "platform_machine": "AMD64",
        "os_name": "nt",
    },
}
# When the target Python is unknown, an entry applies if its markers hold for any of these.
_ANY_PYTHON = tuple(Version(f"3.{minor}") for minor in range(6, 16))


def applies(package: LockedPackage, context: AuditContext) -> bool:
    """True when ``package``'s markers hold on the target platform for a target Python.

    A lock may hold several entries of one name for different platforms (uv forks, marker
    lines in requirements): only those for the audited target are checked.
    """
    if not package.markers:
        return True
    base = {
        **_PLATFORM_ENV.get(context.platform, _PLATFORM_ENV["linux_x86_64"]),
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "extra": "",
    }
    for python in context.pythons or _ANY_PYTHON:
        env = {**base, "python_version": str(python), "python_full_version": f"{python}.0"}
        for marker in package.markers:
            try:
                if marker.evaluate(env):
                    return True
            except (UndefinedComparison, UndefinedEnvironmentName):  # unknown: keep the entry
                return True
    return False


def _first_exact(entries: list[LockedPackage]) -> LockedPackage | None:
    for entry in entries:
        if entry.version is not None:
            return entry
    return None


def _names(finding: Finding) -> set[str]:
    """The canonical pip names of the packages a finding involves."""
    from torchresolve.sources.conda import CONDA_TO_PYPI

    names: set[str] = set()
    for shown in finding.packages:
        raw = re.split(r"[=<>!~ ]", shown, maxsplit=1)[0]
        names.add(canonicalize_name(CONDA_TO_PYPI.get(raw, raw)))
    return names


def _shown(package: LockedPackage) -> str:
    if package.manager == "conda" and package.conda_name:
        build = f"={package.build}" if package.build else ""
        return f"{package.conda_name}={package.raw_version}{build}"
    if package.version is not None:
        return f"{package.name}=={package.version}"
    return f"{package.name}{package.raw_version}" if package.raw_version else str(package.name)


def _release_from_companions(
    by_name: dict[NormalizedName, list[LockedPackage]], db: Database
) -> TorchRelease | None:
    for name in FAMILY:
        entry = _first_exact(by_name.get(name, []))
        if entry is not None and entry.version is not None:
            found = db.release_for_companion(name, entry.version)
            if found is not None:
                return found
    return None


def build_of(package: LockedPackage, release: TorchRelease | None) -> str | None:
    """The build variant of a locked package: ``cpu``, ``cu118``, ``rocm6.1``; None if unknown.

    A pip version's local label decides (``+cu118``); a pip torch without one is the index's
    default build; a conda package is read from its build string or its version (for
    ``pytorch-cuda``, ``cudatoolkit`` and friends).
    """
    if package.manager == "conda":
        name = package.conda_name or package.name
        if name == "cpuonly":
            return "cpu"
        if name in _CONDA_CUDA:
            match = re.match(r"(\d+)\.(\d+)", package.raw_version.lstrip("=<>!~"))
            return f"cu{match.group(1)}{match.group(2)}" if match else None
        build = (package.build or "").lower()
        dotted = re.search(r"cuda(\d+)\.(\d+)", build)
        if dotted:
            return f"cu{dotted.group(1)}{dotted.group(2)}"
        packed = re.search(r"cuda(\d{2,3})(?:_|$)", build)
        if packed:
            return f"cu{packed.group(1)}"
        short = re.search(r"(?:^|_)cu(\d{2,3})(?:_|$)", build)
        if short:
            return f"cu{short.group(1)}"
        if build.startswith("cpu") or "_cpu" in build:
            return "cpu"
        return None
    if package.version is None:
        return None
    if package.version.local:
        return str(package.version.local)
    if package.name == TORCH and release is not None:
        return release.pypi_variant
    return None


def _variant_of(torch: LockedPackage | None, release: TorchRelease) -> Variant | None:
    name = build_of(torch, release) if torch is not None else release.pypi_variant
    return release.variants.get(name) if name else None


# -- rules -------------------------------------------------------------------------------------


def _invalid_specifiers(locked: Sequence[LockedPackage]) -> list[Finding]:
    found = []
    for package in locked:
        if package.problem is None:
            continue
        fixed = re.sub(r"\+[A-Za-z0-9.]+", "", package.raw_version)
        found.append(
            Finding(
                rule="invalid-specifier",
                severity="error",
                packages=(f"{package.name}{package.raw_version}",),
                message=f"{package.name}: {package.problem}; pip and uv reject this line",
                file=package.file,
                line=package.line,
                fix=(f"{package.name}{fixed}",),
            )
        )
    return found


def _family_pairing(
    by_name: dict[NormalizedName, list[LockedPackage]],
    torch: LockedPackage | None,
    release: TorchRelease | None,
    db: Database,
    plan: FixPlan,
) -> list[Finding]:
    if torch is None or torch.version is None or release is None:
        return []
    expected = release.companions()
    found = []
    for name in FAMILY:
        for entry in by_name.get(name, []):
            if entry.version is None:
                continue
            want = expected.get(name)
            have = Version(entry.version.public)
            if want is None:
                message = (
                    f"{name} {entry.version} has no release paired with torch {release.version}"
                )
            elif have == want:
                continue
            else:
                paired = db.release_for_companion(name, entry.version)
                needs = f" (it pairs with torch {paired.version})" if paired else ""
                message = (
                    f"{name} {entry.version} does not pair with torch {torch.version}{needs}; "
                    f"torch {release.version} needs {name}=={want}"
                )
            found.append(
                Finding(
                    rule="family-pairing",
                    severity="error",
                    packages=(_shown(torch), _shown(entry)),
                    message=message,
                    file=entry.file,
                    line=entry.line,
                    fix=plan.family,
                )
            )
    return found


def _mixed_cuda(
    locked: Sequence[LockedPackage],
    release: TorchRelease | None,
    context: AuditContext,
    plan: FixPlan,
) -> list[Finding]:
    builds: list[tuple[LockedPackage, str]] = []
    for package in locked:
        relevant = package.name in _LABELLED or (package.conda_name or "") in _CONDA_CUDA
        relevant = relevant or package.conda_name == "cpuonly"
        if not relevant:
            continue
        if package.manager == "pip" and package.name == TORCH and not package.version:
            continue
        pip_torch = package.manager == "pip" and package.name == TORCH
        default_build = pip_torch and package.version is not None and not package.version.local
        if default_build and context.platform != "linux_x86_64":
            continue  # the index's default build is CPU-only off Linux x86_64
        build = build_of(package, release if package.name == TORCH else None)
        if build is not None:
            builds.append((package, build))
    kinds = {_build_key(b) for _, b in builds}
    if len(kinds) <= 1:
        return []
    listed = ", ".join(f"{_shown(p)} ({b})" for p, b in builds)
    first = builds[0][0]
    torch_build = next((b for p, b in builds if p.name == TORCH), builds[0][1])
    # The fix moves everything to the planned build (which may be a newer torch), else to
    # the torch's own build.
    target = plan.variant if plan.variant is not None else torch_build
    fix: list[str] = list(plan.family) if plan.variant is not None else []
    for package, build in builds:
        if build == target or package.version is None:
            continue
        if package.manager == "pip" and package.name in _LABELLED:
            if not fix or package.name not in " ".join(fix):
                fix.append(f"{package.name}=={package.version.public}+{target}")
        elif package.manager == "conda":
            cuda = variant_cuda(target)
            if package.conda_name not in _CONDA_CUDA and plan.variant is not None:
                continue  # the planned family pins already cover the conda torch family
            if package.conda_name in _CONDA_CUDA and cuda is not None:
                fix.append(f"{package.conda_name}={cuda}")
            elif cuda is not None:
                fix.append(f"{package.conda_name}={package.version}=*cuda{cuda}*")
            else:
                fix.append(f"{package.conda_name}={package.version}=*cpu*")
    return [
        Finding(
            rule="mixed-cuda",
            severity="error",
            packages=tuple(_shown(p) for p, _ in builds),
            message=f"builds for different CUDA variants in one environment: {listed}",
            file=first.file,
            line=next((p.line for p, b in builds if b != torch_build), first.line),
            fix=tuple(fix),
        )
    ]


def _build_key(build: str) -> str:
    cuda = variant_cuda(build)
    return f"cuda{cuda.major}.{cuda.minor}" if cuda is not None else build


def _python_wheels(
    torch: LockedPackage | None, release: TorchRelease, context: AuditContext, plan: FixPlan
) -> list[Finding]:
    missing = [p for p in context.pythons if not release.has_wheel(p, context.platform)]
    if not missing:
        return []
    have = ", ".join(str(v) for v in release.python.get(context.platform, ())) or "none"
    wanted = ", ".join(str(v) for v in missing)
    origin = f" ({context.python_origin})" if context.python_origin else ""
    return [
        Finding(
            rule="python-wheels",
            severity="error",
            packages=(_shown(torch) if torch else f"torch=={release.version}",),
            message=f"torch {release.version} has no {context.platform} wheel for Python "
            f"{wanted}{origin}; it has wheels for {have}",
            file=torch.file if torch else None,
            line=torch.line if torch else None,
            fix=plan.family,
        )
    ]


def _wheel_floors(
    locked: Sequence[LockedPackage], context: AuditContext, db: Database
) -> list[Finding]:
    """Pins older than the first release with wheels for a target CPython (``wheels.toml``).

    Such a pin installs only by compiling its sdist, which for numpy, scipy, pandas and the like
    fails on a Python newer than the release (a warning: a build toolchain may still manage).
    """
    found: list[Finding] = []
    for package in locked:
        # The torch family has its own, exact rule (python-wheels on the release's wheel list).
        if package.version is None or package.name == TORCH or package.name in FAMILY:
            continue
        floors = [
            (python, floor)
            for python in context.pythons
            if (floor := db.first_wheel(package.name, python)) is not None
            and Version(package.version.public) < floor
        ]
        if not floors:
            continue
        python, floor = max(floors, key=lambda item: item[1])
        found.append(
            Finding(
                rule="python-wheels",
                severity="warning",
                packages=(_shown(package),),
                message=f"{package.name} {package.version} has no wheel for CPython {python}: "
                f"the first release with one is {floor}; older releases must build from source",
                file=package.file,
                line=package.line,
                fix=(f"{package.name}>={floor}",),
            )
        )
    return found


def _hardware(
    torch: LockedPackage | None,
    release: TorchRelease,
    context: AuditContext,
    db: Database,
    plan: FixPlan,
) -> list[Finding]:
    variant = _variant_of(torch, release)
    if variant is None:
        return []
    shown = _shown(torch) if torch else f"torch=={release.version}"
    where = {"file": torch.file if torch else None, "line": torch.line if torch else None}
    found: list[Finding] = []
    gpu = f"{context.gpu_name} ({context.arch})" if context.gpu_name else str(context.arch)
    if context.arch is not None and variant.cuda is not None:
        kernels = variant.kernels_for(context.arch)
        archs = " ".join(variant.arch_names()) or "none"
        arch_severity: Severity | None = None
        if kernels is None:
            arch_severity = "error"
            problem = f"has no kernels for {gpu}: the build carries {archs}"
        elif kernels == "ptx":
            arch_severity = "warning"
            problem = (
                f"runs on {gpu} only by JIT-compiling PTX (slow first start, some kernels "
                f"fail): it carries {archs}"
            )
        if arch_severity is not None:
            found.append(
                Finding(
                    rule="gpu-arch",
                    severity=arch_severity,
                    packages=(shown,),
                    message=f"torch {release.version} ({variant.name}) {problem}",
                    fix=plan.family,
                    **where,  # type: ignore[arg-type]
                )
            )
    if context.driver is not None and variant.cuda is not None:
        floor = db.min_driver(variant.cuda)
        severity: Severity | None = None
        if floor.required is not None and context.driver < floor.required:
            severity = "error"
            need = f"needs driver >= {format_driver(floor.required)}"
        elif floor.toolkit is not None and context.driver < floor.toolkit:
            severity = "warning"
            need = (
                f"runs through CUDA minor-version compatibility only (full support needs "
                f">= {format_driver(floor.toolkit)}; PTX JIT fails)"
            )
        if severity is not None:
            found.append(
                Finding(
                    rule="driver-too-old",
                    severity=severity,
                    packages=(shown,),
                    message=f"driver {format_driver(context.driver)} is too old for the CUDA "
                    f"{variant.cuda} runtime of torch {release.version} ({variant.name}): {need}",
                    fix=plan.family,
                    **where,  # type: ignore[arg-type]
                )
            )
    return found


def _vulnerable(locked: Sequence[LockedPackage], db: Database, plan: FixPlan) -> list[Finding]:
    found = []
    for package in locked:
        if package.version is None:
            continue
        public = Version(package.version.public)
        for advisory in db.advisories:
            if advisory.package != package.name:
                continue
            if not advisory.affected.contains(public, prereleases=True):
                continue
            fixed = f"; fixed in {advisory.fixed}" if advisory.fixed else "; no fixed release"
            fix: tuple[str, ...] = ()
            if package.name == TORCH:
                fix = plan.family
            elif advisory.fixed is not None:
                fix = (f"{package.name}>={advisory.fixed}",)
            found.append(
                Finding(
                    rule="known-vulnerability",
                    severity="error",
                    packages=(_shown(package),),
                    message=f"{advisory.id}: {package.name} {package.version}: "
                    f"{advisory.summary}{fixed}",
                    file=package.file,
                    line=package.line,
                    fix=fix,
                    reference=advisory.source or advisory.id,
                )
            )
    return found


def _data_rules(
    by_name: dict[NormalizedName, list[LockedPackage]],
    context: AuditContext,
    db: Database,
    already: list[Finding],
) -> list[Finding]:
    covered = {frozenset(_names(f)) for f in already}
    found = []
    for name, entries in by_name.items():
        for entry in entries:
            if entry.version is None:
                continue
            for rule in db.rules_for(name, Version(entry.version.public)):
                required = canonicalize_name(rule.require.name)
                if required == "python":
                    bad = [
                        str(p)
                        for p in context.pythons
                        if not rule.require.specifier.contains(p, prereleases=True)
                    ]
                    if not bad:
                        continue
                    packages: tuple[str, ...] = (_shown(entry),)
                    detail = f"Python {', '.join(bad)} is outside {rule.require.specifier}"
                    fix: tuple[str, ...] = ()
                else:
                    other = _first_exact(by_name.get(required, []))
                    if other is None or other.version is None:
                        continue
                    if rule.require.specifier.contains(
                        Version(other.version.public), prereleases=True
                    ):
                        continue
                    if frozenset({str(name), str(required)}) in covered:
                        continue  # a built-in rule already reported this pair
                    packages = (_shown(entry), _shown(other))
                    detail = f"{required} {other.version} is not {rule.require.specifier}"
                    fix = (str(rule.require),)
                found.append(
                    Finding(
                        rule=rule.id,
                        severity=rule.severity,
                        packages=packages,
                        message=f"{name} {entry.version} needs {rule.require} ({detail}): "
                        f"{rule.reason}",
                        file=entry.file,
                        line=entry.line,
                        fix=fix,
                        reference=rule.source,
                    )
                )
    return found


def _numpy_abi(
    by_name: dict[NormalizedName, list[LockedPackage]],
    torch: LockedPackage | None,
    release: TorchRelease | None,
    already: list[Finding],
) -> list[Finding]:
    numpy = _first_exact(by_name.get(NUMPY, []))
    if torch is None or release is None or numpy is None or numpy.version is None:
        return []
    if release.numpy_abi != 1 or numpy.version.major < 2:
        return []
    if any(NUMPY in _names(f) for f in already):
        return []  # a data rule of kind numpy-abi already said it, with its source
    return [
        Finding(
            rule="numpy-abi",
            severity="error",
            packages=(_shown(torch), _shown(numpy)),
            message=f"torch {release.version} was built against the numpy 1.x C API; "
            f"numpy {numpy.version} breaks its numpy interop at import",
            file=numpy.file,
            line=numpy.line,
            fix=("numpy<2",),
        )
    ]


def _yanked(locked: Sequence[LockedPackage], context: AuditContext) -> list[Finding]:
    found = []
    for package in locked:
        if package.version is None:
            continue
        reason = context.yanked.get((package.name, package.version))
        if reason is None:
            continue
        found.append(
            Finding(
                rule="yanked",
                severity="warning",
                packages=(_shown(package),),
                message=f"{package.name} {package.version} was yanked from the index"
                + (f": {reason}" if reason else ""),
                file=package.file,
                line=package.line,
                fix=(f"{package.name}!={package.version}",),
            )
        )
    return found


def python_targets(
    requires_python: object, *, lowest: int = 6, highest: int = 16
) -> tuple[Version, ...]:
    """The CPython minors a lock's ``requires-python`` commits to.

    A range bounded above gives every minor in it; an open range gives its lowest minor (the
    lock promises that one works; newer ones are checked when asked for with ``--python``).
    """
    from packaging.specifiers import SpecifierSet

    if not isinstance(requires_python, SpecifierSet):
        return ()
    minors = [
        Version(f"3.{m}")
        for m in range(lowest, highest + 1)
        if requires_python.contains(Version(f"3.{m}"), prereleases=True)
        or requires_python.contains(Version(f"3.{m}.0"), prereleases=True)
    ]
    if not minors:
        return ()
    if requires_python.contains(Version(f"3.{highest}"), prereleases=True):
        return (minors[0],)
    return tuple(minors)
