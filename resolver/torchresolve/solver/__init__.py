"""The solver seam: resolvelib over index metadata plus the curated database.

:func:`resolve` runs one resolution for a :class:`Factory` (which owns candidates, order and
dependencies) and returns a :class:`Resolution`; an impossible set raises
:class:`~torchresolve.errors.UnsatisfiableError` in plain words.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from packaging.utils import canonicalize_name
from packaging.version import Version
from resolvelib import ResolutionImpossible, ResolutionTooDeep, Resolver

from torchresolve.errors import ResolutionError
from torchresolve.solver.base import Candidate, Requirement, identify
from torchresolve.solver.explain import explain_impossible
from torchresolve.solver.factory import FAMILY, TORCH, Factory, Strategy, Wish
from torchresolve.solver.provider import Provider
from torchresolve.solver.reporter import Reporter

if TYPE_CHECKING:
    from collections.abc import Sequence

    from packaging.utils import NormalizedName
    from resolvelib.resolvers import Result

    from torchresolve.observer import Observer

__all__ = [
    "FAMILY",
    "TORCH",
    "Candidate",
    "Factory",
    "Requirement",
    "Resolution",
    "Strategy",
    "Wish",
    "identify",
    "resolve",
]

_MAX_ROUNDS = 20000


@dataclass(frozen=True, slots=True, kw_only=True)
class Resolution:
    """The outcome of one resolution.

    :ivar pins: project -> the chosen candidate (extras folded into the bare project).
    :ivar requirements: project -> every requirement on it in the final state with the
        candidate that asked (``None``: the input), for explanations.
    """

    pins: dict[NormalizedName, Candidate]
    requirements: dict[NormalizedName, list[tuple[Requirement, Candidate | None]]] = field(
        default_factory=dict
    )


def _rounds(
    factory: Factory, requirements: Sequence[Requirement], reporter: Reporter
) -> Result[Requirement, Candidate, str]:
    provider = Provider(factory, {r.identifier for r in requirements})
    resolver: Resolver[Requirement, Candidate, str] = Resolver(provider, reporter)
    return resolver.resolve(list(requirements), max_rounds=_MAX_ROUNDS)


def resolve(
    factory: Factory,
    requirements: Sequence[Requirement],
    *,
    observer: Observer | None = None,
    hint: str = "",
) -> Resolution:
    """Resolve ``requirements`` with ``factory``.

    Curated rules only constrain projects in ``factory.universe`` (a rule must not add a
    project nobody asked for); when the result brings in a project a rule constrains, the
    universe grows and the resolution runs again, at most a few times.

    :raises UnsatisfiableError: no consistent set exists; the message names the conflicts.
    :raises ResolutionError: the search gave up (too many rounds).
    """
    reporter = Reporter(observer)
    for _attempt in range(4):
        requested_by: dict[str, Candidate | None] = {}
        try:
            result = _rounds(factory, requirements, reporter)
        except ResolutionImpossible as exc:
            for info in exc.causes:
                requested_by.setdefault(info.requirement.identifier, info.parent)
            raise explain_impossible(
                exc.causes, requested_by=requested_by, rejected=factory.rejected, hint_extra=hint
            ) from None
        except ResolutionTooDeep as exc:
            raise ResolutionError(
                f"the search gave up after {exc.round_count} rounds; pin more packages"
            ) from None
        mapping: dict[str, Candidate] = result.mapping
        pins = {c.name: c for c in mapping.values() if not c.extras}
        new = set(pins) - factory.universe
        if not new:
            break
        factory.universe |= new
        if not any(
            canonicalize_name(rule.require.name) in new
            for candidate in pins.values()
            for rule in factory.db.rules_for(candidate.name, Version(candidate.version.public))
        ):
            break
    reqs: dict[NormalizedName, list[tuple[Requirement, Candidate | None]]] = {}
    criteria = result.criteria
    for identifier, criterion in criteria.items():
        for info in criterion.information:
            if identifier in mapping:
                reqs.setdefault(mapping[identifier].name, []).append(
                    (info.requirement, info.parent)
                )
    return Resolution(pins=pins, requirements=reqs)
