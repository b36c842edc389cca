"""Installing a proposal (uv or pip) and reading back what an environment holds."""

from __future__ import annotations

import importlib.util
import json
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path  # noqa: TC003 -- dataclass field types are resolved at runtime
from typing import TYPE_CHECKING, Literal

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from torchresolve import _subprocess
from torchresolve.errors import InputError

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from packaging.utils import NormalizedName

__all__ = [
    "Distribution",
    "Installer",
    "Inventory",
    "choose_installer",
    "read_inventory",
]

InstallerKind = Literal["uv", "pip"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Installer:
    """A way to install into a venv from outside it.

    :param kind: ``uv`` or ``pip``.
    :param program: ``(uv,)``, ``(python, -m, pip)`` of this process (pip >= 22.3 installs into
        another interpreter with ``--python``), or ``()`` for the venv's own pip.
    """

    kind: InstallerKind
    program: tuple[str, ...]

    @property
    def needs_pip_in_venv(self) -> bool:
        """Whether the venv must carry its own pip (this process has no usable pip)."""
        return self.kind == "pip" and not self.program

    def install_argv(
        self,
        python: Path,
        requirements: Sequence[str],
        *,
        files: Sequence[Path] = (),
        no_index: bool = False,
        find_links: Sequence[str] = (),
        allow_sdist: bool = False,
        no_deps: bool = False,
        index_url: str | None = None,
        extra_index_urls: Sequence[str] = (),
    ) -> list[str]:
        """The command installing ``requirements`` and ``-r`` each of ``files`` into ``python``.

        Index options inside ``files`` reach the installer through the file itself; the
        arguments here add to them (``find_links``, ``no_index``) or stand in for them when
        only ``requirements`` are given (``index_url``, ``extra_index_urls``).
        """
        if self.kind == "uv":
            # pip's behaviour with several indexes: best version across all, not the first
            # index that knows the name (the PyTorch index also serves numpy, but old ones).
            argv = [*self.program, "pip", "install", "--python", str(python)]
            argv += ["--index-strategy", "unsafe-best-match"]
            argv += [] if allow_sdist else ["--no-build"]
        else:
            head = [*self.program] if self.program else [str(python), "-m", "pip"]
            argv = [*head]
            if self.program:
                argv += ["--python", str(python)]
            argv += ["install", "--no-input", "--disable-pip-version-check"]
            argv += [] if allow_sdist else ["--only-binary", ":all:"]
        if index_url is not None:
            argv += ["--index-url", index_url]
        for url in extra_index_urls:
            argv += ["--extra-index-url", url]
        if no_index:
            argv.append("--no-index")
        for link in find_links:
            argv += ["--find-links", link]
        if no_deps:
            argv.append("--no-deps")
        for file in files:
            argv += ["-r", str(file)]
        argv += list(requirements)
        return argv


def _own_pip() -> tuple[str, ...]:
    """``(python, -m, pip)`` when this interpreter's pip can target another one (>= 22.3)."""
    if importlib.util.find_spec("pip") is None:
        return ()
    try:
        if Version(metadata.version("pip")) >= Version("22.3"):
            return (sys.executable, "-m", "pip")
    except (metadata.PackageNotFoundError, InvalidVersion):
        pass
    return ()


def choose_installer(
    choice: Literal["auto", "uv", "pip"], *, uv: Path | None, layered: bool
) -> Installer:
    """Pick the installer.

    ``auto`` takes uv when available, except over a base environment: uv only counts packages in
    the venv's own site-packages as installed, while pip also sees the base's (through the
    ``.pth`` layer) and installs only what is missing.

    :raises InputError: ``uv`` asked for but not found.
    """
    if choice == "uv" or (choice == "auto" and uv is not None and not layered):
        if uv is None:
            raise InputError("--installer uv: uv is not installed (pip install uv)")
        return Installer(kind="uv", program=(str(uv),))
    return Installer(kind="pip", program=_own_pip())


@dataclass(frozen=True, slots=True, kw_only=True)
class Distribution:
    """One installed distribution as the environment's ``importlib.metadata`` sees it."""

    name: NormalizedName
    version: str
    location: str
    requires: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Inventory:
    """What an interpreter can import: the first distribution of each name on ``sys.path``
    (the one that wins), plus the marker environment of that interpreter."""

    distributions: Mapping[NormalizedName, Distribution]
    markers: Mapping[str, str]

    def version(self, name: str) -> str | None:
        """The installed version of ``name``, or ``None``."""
        dist = self.distributions.get(canonicalize_name(name))
        return dist.version if dist else None

    def unmet(self, names: frozenset[NormalizedName] | None = None) -> list[str]:
        """Unsatisfied dependencies, one sentence each; only those of or on ``names`` if given.

        Requirements behind extras are ignored (the extra may not be wanted).
        """
        problems = []
        environment = {**self.markers, "extra": ""}
        for dist in self.distributions.values():
            for text in dist.requires:
                try:
                    req = Requirement(text)
                except InvalidRequirement:
                    continue
                if req.marker is not None and not req.marker.evaluate(environment):
                    continue
                dep = canonicalize_name(req.name)
                if names is not None and dist.name not in names and dep not in names:
                    continue
                have = self.distributions.get(dep)
                if have is None:
                    problems.append(f"{dist.name} {dist.version} requires {req}: not installed")
                elif not req.specifier.contains(have.version, prereleases=True):
                    problems.append(
                        f"{dist.name} {dist.version} requires {req}: {have.version} installed"
                    )
        return sorted(problems)


# Runs inside the target interpreter (any Python 3): the winning distribution per name, and the
# PEP 508 marker environment, computed there because markers depend on that interpreter.
_INVENTORY = r"""
import json, os, platform, sys
try:
    from importlib import metadata
    dists = [(d.metadata["Name"], d.version, str(getattr(d, "_path", "")), d.requires or [])
             for d in metadata.distributions()]
except ImportError:
    import pkg_resources
    dists = [(d.project_name, d.version, d.location, [str(r) for r in d.requires()])
             for d in pkg_resources.working_set]
impl = sys.implementation
version = "%d.%d.%d" % impl.version[:3]
if impl.version.releaselevel != "final":
    version += impl.version.releaselevel[0] + str(impl.version.serial)
markers = {
    "implementation_name": impl.name,
    "implementation_version": version,
    "os_name": os.name,
    "platform_machine": platform.machine(),
    "platform_release": platform.release(),
    "platform_system": platform.system(),
    "platform_version": platform.version(),
    "python_full_version": platform.python_version(),
    "platform_python_implementation": platform.python_implementation(),
    "python_version": ".".join(platform.python_version_tuple()[:2]),
    "sys_platform": sys.platform,
}
print(json.dumps({"dists": dists, "markers": markers}))
"""


def read_inventory(
    python: Path, *, timeout: float, environ: Mapping[str, str] | None = None
) -> Inventory:
    """Ask ``python`` what it has installed.

    :raises SubprocessError: the interpreter could not run the inventory script.
    """
    done = _subprocess.run([python, "-c", _INVENTORY], timeout=timeout, env=environ)
    data = json.loads(done.stdout)
    dists: dict[NormalizedName, Distribution] = {}
    for raw_name, version, location, requires in data["dists"]:
        if not raw_name:
            continue
        name = canonicalize_name(raw_name)
        # sys.path order: the first one found is the one imports get, later ones are shadowed.
        dists.setdefault(
            name,
            Distribution(name=name, version=version, location=location, requires=tuple(requires)),
        )
    return Inventory(distributions=dists, markers=data["markers"])
