"""The resolvelib provider: a thin adapter from resolvelib's questions to the :class:`Factory`.

Like pip's provider, this class only translates. It does not talk to the index or the database
itself, it holds no state of its own besides the set of direct identifiers, and every decision
about which candidates exist, in which order, and what they depend on is the factory's.

resolvelib asks five things:

* ``identify``: the key under which requirements and candidates are grouped (``name[extras]``);
* ``get_preference``: which identifier to pin next. torch goes first because its build decides
  the family, numpy's ABI and what transformers may be; then the family; then identifiers that
  caused the last backtrack (pip's heuristic, it fails fast); then what the user named;
* ``find_matches``: the candidates of an identifier that satisfy the requirements gathered so
  far, most preferred first, lazily;
* ``is_satisfied_by``: whether a pinned candidate still satisfies a new requirement;
* ``get_dependencies``: the requirements a candidate brings, curated rules included.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from resolvelib import AbstractProvider
from resolvelib.structs import RequirementInformation

from torchresolve.solver.base import Candidate, Preference, Requirement
from torchresolve.solver.factory import FAMILY, TORCH

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

    from packaging.utils import NormalizedName

    from torchresolve.solver.factory import Factory

__all__ = ["Provider"]

Info = RequirementInformation[Requirement, Candidate]


class Provider(AbstractProvider[Requirement, Candidate, str]):
    """``AbstractProvider[Requirement, Candidate, str]`` over a :class:`Factory`."""

    def __init__(self, factory: Factory, direct: Iterable[str]) -> None:
        self.factory = factory
        self.direct = frozenset(direct)

    def identify(self, requirement_or_candidate: Requirement | Candidate) -> str:
        return requirement_or_candidate.identifier

    def get_preference(
        self,
        identifier: str,
        resolutions: Mapping[str, Candidate],
        candidates: Mapping[str, Iterator[Candidate]],
        information: Mapping[str, Iterator[Info]],
        backtrack_causes: Sequence[Info],
    ) -> Preference:
        infos = list(information[identifier])
        name = infos[0].requirement.name if infos else identifier
        causes = {info.requirement.identifier for info in backtrack_causes}
        causes |= {info.parent.identifier for info in backtrack_causes if info.parent}
        pinned = any(info.requirement.exact is not None for info in infos) or any(
            spec.operator in {"==", "==="} for info in infos for spec in info.requirement.specifier
        )
        return Preference(
            not_torch=name != TORCH,
            not_family=name not in FAMILY,
            not_backtrack_cause=identifier not in causes,
            not_direct=identifier not in self.direct,
            not_pinned=not pinned,
            identifier=identifier,
        )

    def find_matches(
        self,
        identifier: str,
        requirements: Mapping[str, Iterator[Requirement]],
        incompatibilities: Mapping[str, Iterator[Candidate]],
    ) -> Callable[[], Iterator[Candidate]]:
        reqs = list(requirements[identifier])
        name: NormalizedName = reqs[0].name
        extras = reqs[0].extras
        return self.factory.find_matches(name, extras, reqs, set(incompatibilities[identifier]))

    def is_satisfied_by(self, requirement: Requirement, candidate: Candidate) -> bool:
        return self.factory.accepts(requirement, candidate.version)

    def get_dependencies(self, candidate: Candidate) -> list[Requirement]:
        return self.factory.dependencies(candidate)
