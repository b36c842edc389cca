"""The solver's value types: what resolvelib juggles.

A :class:`Requirement` is one constraint on one project (and extras) coming from the input file,
a package's metadata, the torch family pairing or a curated rule. A :class:`Candidate` is one
concrete, installable release of a project for the target. Both are immutable and hashable so
resolvelib can keep them in its criteria.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Literal, NamedTuple

from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name

if TYPE_CHECKING:
    from datetime import datetime

    from packaging.version import Version

    from torchresolve.index import DistFile

__all__ = [
    "Candidate",
    "Origin",
    "Preference",
    "Requirement",
    "identify",
]

Origin = Literal["input", "metadata", "family", "rule", "extra", "curated"]


def identify(name: str, extras: frozenset[str] = frozenset()) -> str:
    """The resolvelib identifier of a project with extras: ``name`` or ``name[a,b]``.

    A project with extras is a separate identifier that depends on the bare project at the same
    version, as pip does, so extras of one release never mix with another release.
    """
    canonical = canonicalize_name(name)
    if not extras:
        return canonical
    return f"{canonical}[{','.join(sorted(extras))}]"


@dataclass(frozen=True, slots=True, kw_only=True)
class Requirement:
    """One constraint on one project.

    ``exact``, when set, must equal the candidate's version including its local label
    (``2.0.0+cu118``); PEP 440's ``==`` ignores local labels, which is too loose for pairing
    torch with its family.
    """

    name: NormalizedName
    specifier: SpecifierSet = field(default_factory=SpecifierSet)
    extras: frozenset[str] = frozenset()
    exact: Version | None = None
    origin: Origin = "metadata"
    note: str = field(default="", compare=False)
    """For ``rule`` and ``family`` origins: the rule id or pairing it comes from."""
    era: datetime | None = field(default=None, compare=False)
    """Upload date of the candidate that asked for this, for era-aware candidate order."""

    @property
    def identifier(self) -> str:
        """The resolvelib identifier this requirement constrains."""
        return identify(self.name, self.extras)

    def __str__(self) -> str:
        extras = f"[{','.join(sorted(self.extras))}]" if self.extras else ""
        spec = f"=={self.exact}" if self.exact is not None else str(self.specifier)
        return f"{self.name}{extras}{spec}"

    def accepts(self, version: Version) -> bool:
        """Whether ``version`` satisfies this requirement (prereleases allowed when asked for)."""
        if self.exact is not None:
            return version == self.exact
        return self.specifier.contains(version, prereleases=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class Candidate:
    """One installable release of a project (with extras) for the target.

    Equality and hashing use name, version and extras only.
    """

    name: NormalizedName
    version: Version
    extras: frozenset[str] = frozenset()
    file: DistFile | None = field(default=None, compare=False, hash=False)
    """The file whose metadata gives the dependencies (the PyPI build for variant builds)."""
    index_url: str | None = field(default=None, compare=False, hash=False)
    """The index that serves this build when it is not the default index."""
    released: datetime | None = field(default=None, compare=False, hash=False)
    """Upload time of the file, for era-aware ordering of dependencies."""

    @property
    def identifier(self) -> str:
        """The resolvelib identifier of this candidate."""
        return identify(self.name, self.extras)

    def __str__(self) -> str:
        extras = f"[{','.join(sorted(self.extras))}]" if self.extras else ""
        return f"{self.name}{extras}=={self.version}"

    def with_extras(self, extras: frozenset[str]) -> Candidate:
        """The same release offered for ``name[extras]``."""
        return replace(self, extras=extras)


class Preference(NamedTuple):
    """Sort key of an identifier for resolvelib: smaller is resolved first.

    The torch build decides almost everything else, so it goes first, then its family, then
    projects that caused the last backtrack, then what the user named, then pinned requirements.
    """

    not_torch: bool
    not_family: bool
    not_backtrack_cause: bool
    not_direct: bool
    not_pinned: bool
    identifier: str


def canonical(name: str) -> NormalizedName:
    """``canonicalize_name`` (re-exported for the solver's modules)."""
    return canonicalize_name(name)
