"""Which wheels a target interpreter accepts: tags for a (Python, platform) pair."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from packaging import tags as _tags
from packaging.version import Version

if TYPE_CHECKING:
    from packaging.tags import Tag

    from torchresolve.index.model import DistFile
    from torchresolve.target import Platform

__all__ = ["python_full_version", "supports", "target_tags"]

# The newest glibc assumed on a Linux target. 2.35 is Ubuntu 22.04, the oldest distribution
# a new H100 machine is likely to run; wheels that need a newer glibc are not offered.
_GLIBC_MAX = 35
_MACOS = (14, 0)


def _platforms(platform: Platform) -> list[str]:
    if platform in ("linux_x86_64", "linux_aarch64"):
        arch = platform.removeprefix("linux_")
        names = []
        for minor in range(_GLIBC_MAX, 4, -1):
            names.append(f"manylinux_2_{minor}_{arch}")
            legacy = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}.get(minor)
            if legacy and (arch == "x86_64" or legacy == "manylinux2014"):
                names.append(f"{legacy}_{arch}")
        names.append(f"linux_{arch}")
        return names
    if platform == "macos_arm64":
        return list(_tags.mac_platforms(_MACOS, "arm64"))
    if platform == "macos_x86_64":
        return list(_tags.mac_platforms(_MACOS, "x86_64"))
    return ["win_amd64"]


@cache
def target_tags(python: Version, platform: Platform) -> frozenset[Tag]:
    """The wheel tags a CPython ``python`` interpreter on ``platform`` accepts.

    :param python: ``Version('3.11')``; only major and minor are used.
    :param platform: one of :data:`torchresolve.target.PLATFORMS`.
    """
    version = (python.major, python.minor)
    abi = f"cp{python.major}{python.minor}" + ("m" if version < (3, 8) else "")
    platforms = _platforms(platform)
    found = set(_tags.cpython_tags(version, abis=[abi], platforms=platforms))
    found.update(
        _tags.compatible_tags(
            version, interpreter=f"cp{version[0]}{version[1]}", platforms=platforms
        )
    )
    return frozenset(found)


def python_full_version(python: Version) -> Version:
    """The version used to test ``requires-python`` for a target ``X.Y``: ``X.Y.99``.

    A target names a minor version; any patch release of it should pass ``>=3.8.1``.
    """
    return Version(f"{python.major}.{python.minor}.99")


def supports(file: DistFile, python: Version, platform: Platform) -> bool:
    """Whether ``file`` can be installed for ``python`` on ``platform``.

    A wheel must carry one accepted tag; every file must allow ``python`` by its
    ``requires-python``. Yanked files are not excluded here (pip still installs a yanked file
    pinned with ``==``); the caller decides.
    """
    if file.requires_python is not None and not file.requires_python.contains(
        python_full_version(python), prereleases=True
    ):
        return False
    if file.kind == "sdist":
        return True
    return not file.tags.isdisjoint(target_tags(python, platform))
