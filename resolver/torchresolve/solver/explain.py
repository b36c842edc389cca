"""Turns resolvelib's ``ResolutionImpossible`` into plain words."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from torchresolve.errors import UnsatisfiableError

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping

    from packaging.utils import NormalizedName
    from packaging.version import Version

    from torchresolve.solver.base import Candidate, Requirement

__all__ = ["explain_impossible"]


def _who(parent: Candidate | None) -> str:
    return "the input file" if parent is None else f"{parent.name} {parent.version}"


def _chain(parent: Candidate | None, requested_by: Mapping[str, Candidate | None]) -> list[str]:
    """``[input file, transformers 2.11.0, tokenizers==0.7.0]``-style path to ``parent``."""
    path: list[str] = []
    seen: set[str] = set()
    while parent is not None and parent.identifier not in seen:
        seen.add(parent.identifier)
        path.append(f"{parent.name} {parent.version}")
        parent = requested_by.get(parent.identifier)
    path.append("the input file")
    return list(reversed(path))


def explain_impossible(
    causes: Collection[Any],
    *,
    requested_by: Mapping[str, Candidate | None],
    rejected: Mapping[NormalizedName, Mapping[Version, str]],
    hint_extra: str = "",
) -> UnsatisfiableError:
    """Build the :class:`UnsatisfiableError` for resolvelib's causes.

    :param causes: ``RequirementInformation(requirement, parent)`` pairs from the exception.
    :param requested_by: identifier -> the candidate that first asked for it (``None``: input).
    :param rejected: per project, why versions were not offered (no wheel, Python rule).
    :param hint_extra: target-specific advice appended to the hint.
    """
    conflicts: list[str] = []
    chains: list[list[str]] = []
    names: dict[NormalizedName, list[Requirement]] = {}
    for info in causes:
        requirement: Requirement = info.requirement
        parent: Candidate | None = info.parent
        names.setdefault(requirement.name, []).append(requirement)
        why = f" ({requirement.note})" if requirement.note else ""
        line = f"{_who(parent)} requires {requirement}{why}"
        if line not in conflicts:
            conflicts.append(line)
            chains.append([*_chain(parent, requested_by), str(requirement)])
    relax: list[str] = []
    for name, reqs in names.items():
        refused: Mapping[Version, str] = rejected.get(name) or {}
        wanted = [v for v, _ in refused.items() if all(r.accepts(v) for r in reqs)]
        for version in sorted(wanted)[-3:]:
            conflicts.append(f"{name} {version} cannot be used: {refused[version]}")
        relax.extend(str(r) for r in reqs if r.origin == "input")
    if len(chains) > 0 and any(len(c) > 2 for c in chains):
        conflicts.append("via " + "; ".join(" -> ".join(c) for c in chains if len(c) > 2))
    hint = f"relax {', '.join(sorted(set(relax)))}" if relax else "relax the pins named above"
    if hint_extra:
        hint += f"; {hint_extra}"
    return UnsatisfiableError(conflicts=conflicts, hint=hint, chains=chains)
