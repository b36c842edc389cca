"""The upgrade planner: from an old dependency file to an explained proposal for a target.

Steps:

1. direct requirements that cannot be installed on the target at all (a placeholder, a renamed
   project, no wheel for the target Python at any version) become blockers and leave the set;
2. the usable torch builds for the target come from :func:`~torchresolve.planning.stack.builds_for`,
   ordered by the torch choice (current pin first, then ascending; or newest first);
3. resolvelib runs over the rest with the :class:`~torchresolve.solver.Factory`, which pairs
   the family exactly, injects curated rules and orders candidates by era;
4. the result is explained: a reason per change, behaviour changes crossed, index lines.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Literal

from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from torchresolve.errors import IndexQueryError, InputError, UnsatisfiableError
from torchresolve.pins import Pin, PinSet
from torchresolve.planning.memo import plan_key
from torchresolve.planning.model import BlockedPackage, PlannedChange, Proposal
from torchresolve.planning.stack import builds_for, is_pytorch_index
from torchresolve.solver import (
    FAMILY,
    TORCH,
    Factory,
    Requirement,
    Resolution,
    Strategy,
    Wish,
    resolve,
)
from torchresolve.solver.factory import marker_environment

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from torchresolve.db import Database
    from torchresolve.index import IndexClient
    from torchresolve.observer import Observer
    from torchresolve.planning.memo import PlanMemo
    from torchresolve.planning.stack import Build
    from torchresolve.sources import DependencyFile
    from torchresolve.target import Target

__all__ = ["TorchChoice", "order_builds", "plan_upgrade", "torch_choice"]

TorchChoice = Literal["minimal", "latest"] | Version
"""``--torch``: ``minimal``, ``latest`` or one exact release."""


def torch_choice(text: str) -> TorchChoice:
    """Parse ``--torch``: ``minimal``, ``latest`` or a version.

    :raises InputError: none of those.
    """
    raw = text.strip().lower()
    if raw == "minimal":
        return "minimal"
    if raw == "latest":
        return "latest"
    try:
        return Version(raw)
    except InvalidVersion:
        raise InputError(f"--torch {text!r}: expected minimal, latest or a version") from None


def order_builds(
    builds: Sequence[Build], choice: TorchChoice, current: Version | None
) -> list[Build]:
    """The usable builds in the order torch candidates are tried.

    ``minimal``: the current release first (when usable), then the releases above it
    ascending, then those below descending; ``latest``: newest first. Within a release the
    default index's build comes first, then the variants by ascending CUDA (as listed).
    """
    usable = [b for b in builds if b.usable]
    if choice == "latest":
        releases = sorted({b.release.version for b in usable}, reverse=True)
    else:
        ascending = sorted({b.release.version for b in usable})
        pivot = current if current is not None and choice == "minimal" else None
        if pivot is None:
            releases = ascending
        else:
            releases = [v for v in ascending if v >= Version(pivot.public)]
            releases += [v for v in reversed(ascending) if v < Version(pivot.public)]
    rank = {v: i for i, v in enumerate(releases)}
    return sorted(usable, key=lambda b: rank[b.release.version])


def _release_datetime(build: Build) -> datetime:
    released = build.release.released
    return datetime(released.year, released.month, released.day, 23, 59, tzinfo=timezone.utc)


def _way_out(name: str, newest: Version | None, successor: str | None, target: Target) -> str:
    options: list[str] = []
    if successor:
        options.append(f"replace it with {successor}")
    if newest is not None and newest < target.python:
        options.append(f"use Python {newest} (the last with wheels)")
    options.append(f"drop {name}")
    return "; or ".join(options)


def _blockers(
    factory: Factory, db: Database, wishes: Mapping[NormalizedName, Wish], target: Target
) -> list[BlockedPackage]:
    found: list[BlockedPackage] = []
    curated = {b.package: b for b in db.blockers}
    py = f"CPython {target.python} on {target.platform}"
    for name, wish in wishes.items():
        requirement = f"{name}{wish.specifier}"
        blocker = curated.get(name)
        if blocker is not None:
            last = blocker.last_python
            found.append(
                BlockedPackage(
                    name=name,
                    requirement=requirement,
                    reason=blocker.reason,
                    way_out=_way_out(name, last, blocker.successor, target),
                )
            )
            continue
        if name == TORCH or name in FAMILY:
            continue  # judged by the torch builds, with reasons per release
        try:
            project = factory.project(name)
        except IndexQueryError as exc:
            if "404" not in exc.problem:
                raise
            found.append(
                BlockedPackage(
                    name=name,
                    requirement=requirement,
                    reason=f"{name} is not on the index",
                    way_out=f"check the name, or drop {name}",
                )
            )
            continue
        way_out = _way_out(name, None, None, target)
        if project.listed == 0:
            reason = f"{name} is not on the index"
        elif not project.files:
            reason = f"no release of {name} has a wheel for {py}"
            way_out = _way_out(name, factory.newest_python(name), None, target)
        elif not factory.allow_sdist and _only_dynamic_sdists(factory, name):
            reason = f"{name} has only sdists whose dependencies are known after a build"
            way_out = f"use --allow-sdist; or drop {name}"
        else:
            continue
        found.append(
            BlockedPackage(name=name, requirement=requirement, reason=reason, way_out=way_out)
        )
    return found


def _only_dynamic_sdists(factory: Factory, name: NormalizedName) -> bool:
    """True when no release has a wheel and the newest sdist's metadata is dynamic."""
    files = factory.project(name).files
    if any(f.kind == "wheel" for f in files.values()):
        return False
    return not factory.metadata(files[max(files)]).known


def _relevant_builds(builds: Sequence[Build], pinned: Version | None) -> list[Build]:
    """The builds of the old pin whose refusal explains the move: the pinned variant
    (``+cu101``) when the database has it, else the default index's build."""
    if pinned is None:
        return []
    same = [b for b in builds if b.release.version == Version(pinned.public)]
    label = pinned.local
    for wanted in (
        [b for b in same if label is not None and b.variant.name == label],
        [b for b in same if b.index_url is None],
    ):
        if wanted:
            return wanted
    return same


def _skipped_releases(
    factory: Factory, chosen: Build, wishes: Mapping[NormalizedName, Wish]
) -> str:
    """``1.13.1 skipped: torchvision 0.14.1 has no wheel for cp311`` for releases tried first."""
    parts: list[str] = []
    for build in factory.builds:
        release = build.release
        if release.version == chosen.release.version:
            break
        for name, companion in release.companions().items():
            refused = factory.rejected.get(name, {}).get(companion)
            if name in wishes and refused:
                part = f"{release.version} skipped: {name} {companion}: {refused}"
                if part not in parts:
                    parts.append(part)
    return "; ".join(parts[:2])


def _torch_reason(
    old_builds: Sequence[Build], chosen: Build, choice: TorchChoice, kept: bool, target: Target
) -> str:
    what = [f"{target.python} wheels"]
    if target.arch is not None and target.cuda != "cpu":
        what.append(f"{target.arch} kernels")
    if target.driver is not None and chosen.variant.cuda is not None:
        what.append(f"CUDA {chosen.variant.cuda} within driver {target.driver}")
    if target.cuda == "cpu":
        what.append("a CPU build")
    has = ", ".join(what)
    if kept:
        return f"kept: still has {has}"
    problems: list[str] = []
    for build in old_builds:
        for problem in build.problems:
            if problem not in problems:
                problems.append(problem)
    why = f"{'; '.join(problems[:2])}; " if problems else ""
    if choice == "latest":
        return f"{why}newest release with {has}"
    if isinstance(choice, Version):
        return f"{why}requested with --torch"
    return f"{why}lowest release with {has}"


def _reason(
    name: NormalizedName,
    wish: Wish,
    new: Version,
    factory: Factory,
    resolution: Resolution,
) -> str:
    old = wish.pinned
    if old is not None and old == new:
        return "kept: still installable and compatible"
    if old is None and wish.specifier.contains(new, prereleases=True):
        return "unpinned: " + (
            "newest release" if factory.strategy == "latest" else "release from the stack's era"
        )
    parts: list[str] = []
    candidates = [old] if old is not None else []
    if old is None:
        # A range the new stack cannot honour: explain through the newest release it admits.
        admitted = [
            v
            for v in factory.project(name).released
            if wish.specifier.contains(v, prereleases=True)
        ]
        if admitted:
            candidates = [max(admitted)]
            parts.append(f"nothing in {wish.specifier} fits")
    for version in candidates:
        refused = factory.rejected.get(name, {}).get(Version(version.public))
        if refused:
            parts.append(f"{version}: {refused}")
            continue
        if name in FAMILY:
            continue
        blocked = _blocked_dependency(factory, name, version)
        if blocked:
            parts.append(f"{version} {blocked}")
            continue
        against = [
            f"{parent.name} {parent.version} needs {req}" if parent else f"needs {req}"
            for req, parent in resolution.requirements.get(name, [])
            if not req.accepts(version)
        ]
        if against:
            parts.append(f"{version} conflicts: {'; '.join(sorted(set(against))[:2])}")
    if name in FAMILY and TORCH in resolution.pins:
        parts = [p for p in parts if "conflicts" not in p]
        parts.append(f"paired with torch {resolution.pins[TORCH].version}")
    if not parts:
        parts.append("moved to fit the new stack")
    return "; ".join(parts)


def _blocked_dependency(factory: Factory, name: NormalizedName, version: Version) -> str:
    """``needs tokenizers==0.7.0: no wheel for cp311`` when a dependency of the old pin fails."""
    file = factory.project(name).files.get(version)
    if file is None:
        return ""
    from torchresolve.solver import Candidate

    try:
        requirements = factory.dependencies(Candidate(name=name, version=version, file=file))
    except Exception:  # an explanation must never sink the proposal
        return ""
    for req in requirements:
        if req.name == TORCH or req.extras:
            continue
        project = factory.project(req.name)
        if any(req.accepts(v) for v in project.files):
            continue
        refused = factory.rejected.get(req.name, {})
        why = next((refused[v] for v in sorted(refused, reverse=True) if req.accepts(v)), "")
        return f"needs {req}: " + (why or "no release for the target")
    return ""


def _crossed(db: Database, name: NormalizedName, old: Version | None, new: Version) -> list[str]:
    if old is None:
        return []
    public_new = Version(new.public)
    return [
        f"{name} {change.version}: {change.summary} ({change.source})"
        for change in db.changes
        if change.package == name and Version(old.public) < change.version <= public_new
    ]


def _advisories(db: Database, name: NormalizedName, version: Version) -> list[str]:
    """One line naming the known advisories that still affect ``name version``."""
    public = Version(version.public)
    hits = [a for a in db.advisories if a.package == name and a.affected.contains(public, True)]
    if not hits:
        return []
    fixed = [a.fixed for a in hits if a.fixed is not None]
    detail = f"{hits[0].id}: {hits[0].summary}" if len(hits) == 1 else ", ".join(a.id for a in hits)
    tail = f"; all fixed by {max(fixed)}" if fixed and len(fixed) == len(hits) else ""
    return [
        f"{name} {version} has {len(hits)} known advisor{'y' if len(hits) == 1 else 'ies'}"
        f" ({detail}){tail}"
    ]


def _floor(wish: Wish) -> Version | None:
    if wish.pinned is not None:
        return wish.pinned
    lows = [Version(s.version) for s in wish.specifier if s.operator in {">=", "~=", "=="}]
    return max(lows) if lows else None


def _new_specifier(wish: Wish, new: Version) -> SpecifierSet | None:
    if wish.pinned is not None:
        return None if wish.pinned == new else SpecifierSet(f"=={new}")
    if wish.specifier.contains(new, prereleases=True):
        return None
    return SpecifierSet(f"=={new}")


def _wishes(dep: DependencyFile, target: Target) -> dict[NormalizedName, Wish]:
    environment = marker_environment(target)
    wishes: dict[NormalizedName, Wish] = {}
    for requirement in dep.requirements():
        if requirement.marker is not None and not requirement.marker.evaluate(environment):
            continue
        name = canonicalize_name(requirement.name)
        extras = frozenset(canonicalize_name(e) for e in requirement.extras)
        previous = wishes.get(name)
        if previous is not None:
            wishes[name] = Wish(
                name=name,
                specifier=previous.specifier & requirement.specifier,
                extras=previous.extras | extras,
            )
        else:
            wishes[name] = Wish(
                name=name, specifier=requirement.specifier, extras=extras, marker=requirement.marker
            )
    return wishes


def plan_upgrade(
    dep: DependencyFile,
    target: Target,
    *,
    client: IndexClient,
    db: Database,
    torch: TorchChoice = "minimal",
    strategy: Strategy = "minimal",
    allow_sdist: bool = False,
    default_index: str = "",
    observer: Observer | None = None,
    memo: PlanMemo | None = None,
) -> Proposal:
    """Plan the upgrade of ``dep`` for ``target``.

    :param client: the index client (files and metadata).
    :param db: the curated database.
    :param torch: ``minimal`` (lowest release that works, the current pin kept when it does),
        ``latest``, or an exact release.
    :param strategy: order of the other packages' candidates.
    :param allow_sdist: accept sdist-only releases with dynamic metadata.
    :param default_index: the index URL the proposal's first index line names.
    :param memo: stored plans: the plan stored for the same input, target, options and
        database is answered when the client's cache still holds the same rows for every
        project it read (see :mod:`torchresolve.planning.memo`); a new plan is stored.
    :raises UnsatisfiableError: nothing consistent exists; the message says what conflicts.
    :raises IndexQueryError: the index could not be read.
    """
    started = time.perf_counter()
    if observer is not None:
        observer.phase_started("resolve")
    key = ""
    if memo is not None:
        options = {
            "torch": str(torch),
            "strategy": strategy,
            "allow_sdist": str(allow_sdist),
            "default_index": default_index,
        }
        key = plan_key(dep, target, db=db, client=client, options=options)
        stored = memo.get(key, client)
        if stored is not None:
            if observer is not None:
                observer.note(
                    "same input, target, database and index pages as a stored plan: answered"
                    " from the cache (--refresh plans anew)"
                )
                observer.phase_finished("resolve", time.perf_counter() - started)
            return stored
    wishes = _wishes(dep, target)
    if not wishes:
        raise InputError("no requirements to upgrade", path=dep.path)
    torch_wish = wishes.get(TORCH)
    current = torch_wish.pinned if torch_wish is not None else None
    spec = SpecifierSet(f"=={torch}") if isinstance(torch, Version) else None
    all_builds = builds_for(db, target, spec)
    builds = order_builds(all_builds, torch, current)
    # Unpinned packages of a torch project prefer the chosen torch's era; without torch there
    # is no era to anchor to and they take the newest release.
    anchored = builds and strategy == "minimal" and bool(({TORCH} | FAMILY) & set(wishes))
    era = _release_datetime(builds[0]) if anchored else None
    factory = Factory(
        client=client,
        db=db,
        target=target,
        builds=builds,
        wishes=wishes,
        strategy=strategy,
        era=era,
        universe=set(wishes) | ({TORCH} if set(wishes) & FAMILY else set()),
        allow_sdist=allow_sdist,
        observer=observer,
    )
    try:
        proposal = _plan(
            factory,
            dep,
            target,
            wishes=wishes,
            all_builds=all_builds,
            builds=builds,
            current=current,
            torch=torch,
            strategy=strategy,
            era=era,
            default_index=default_index,
        )
    finally:
        factory.close()
    if memo is not None:
        memo.put(key, proposal, client)
    if observer is not None:
        observer.phase_finished("resolve", time.perf_counter() - started)
    return proposal


def _plan(
    factory: Factory,
    dep: DependencyFile,
    target: Target,
    *,
    wishes: dict[NormalizedName, Wish],
    all_builds: Sequence[Build],
    builds: Sequence[Build],
    current: Version | None,
    torch: TorchChoice,
    strategy: Strategy,
    era: datetime | None,
    default_index: str,
) -> Proposal:
    db = factory.db
    # Project pages are independent: read them together (errors surface when used).
    factory.schedule(sorted(set(wishes) | {TORCH}))
    blocked = _blockers(factory, db, wishes, target)
    for blocker in blocked:
        wishes.pop(blocker.name)
    factory.wishes = dict(wishes)
    uses_torch = bool(({TORCH} | FAMILY) & set(wishes))
    if uses_torch and not builds:
        refused = [b for b in all_builds if b.release.version == current] or all_builds[-3:]
        raise UnsatisfiableError(
            conflicts=sorted({p for b in refused for p in b.problems})[:6]
            or ["no torch release in the database matches"],
            hint="choose another --torch, --cuda or --python",
        )
    requirements = [
        Requirement(name=w.name, extras=w.extras, origin="input", era=era) for w in wishes.values()
    ]
    hint = "try --torch latest, another --cuda, or --allow-sdist"
    resolution = resolve(factory, requirements, observer=factory.observer, hint=hint)
    chosen = factory.build_for(resolution.pins[TORCH].version) if TORCH in resolution.pins else None
    if era is not None and chosen is not None and _release_datetime(chosen) != era:
        # The first usable build did not fit (e.g. its torchvision has no wheel): the stack's
        # era is the chosen release's, so resolve again with that preference.
        era = _release_datetime(chosen)
        factory.set_era(era)
        requirements = [
            Requirement(name=w.name, extras=w.extras, origin="input", era=era)
            for w in wishes.values()
        ]
        resolution = resolve(factory, requirements, observer=factory.observer, hint=hint)
    return _proposal(
        dep,
        factory,
        resolution,
        target=target,
        wishes=wishes,
        blocked=blocked,
        all_builds=all_builds,
        choice=torch,
        strategy=strategy,
        default_index=default_index,
    )


def _proposal(
    dep: DependencyFile,
    factory: Factory,
    resolution: Resolution,
    *,
    target: Target,
    wishes: Mapping[NormalizedName, Wish],
    blocked: Sequence[BlockedPackage],
    all_builds: Sequence[Build],
    choice: TorchChoice,
    strategy: Strategy,
    default_index: str,
) -> Proposal:
    db = factory.db
    torch = resolution.pins.get(TORCH)
    build = factory.build_for(torch.version) if torch is not None else None
    index_urls = [default_index] if default_index else []
    if build is not None and build.index_url is not None:
        index_urls.append(build.index_url)
    changes: list[PlannedChange] = []
    warnings: list[str] = []
    for name, wish in wishes.items():
        chosen = resolution.pins.get(name)
        if chosen is None:
            continue
        if name == TORCH and build is not None:
            pinned = Version(wish.pinned.public) if wish.pinned is not None else None
            old_builds = _relevant_builds(all_builds, wish.pinned)
            kept = pinned is not None and Version(chosen.version.public) == pinned
            reason = _torch_reason(old_builds, build, choice, kept, target)
            skipped = _skipped_releases(factory, build, wishes)
            if skipped:
                reason += f" ({skipped})"
        else:
            reason = _reason(name, wish, chosen.version, factory, resolution)
        changes.append(
            PlannedChange(
                name=name,
                old=str(wish.specifier),
                new=chosen.version,
                reason=reason,
                specifier=_new_specifier(wish, chosen.version),
            )
        )
        warnings.extend(_crossed(db, name, _floor(wish), chosen.version))
    if build is not None:
        warnings.extend(build.notes)
        named = (dep.index.index_url or "", *dep.index.extra_index_urls, *dep.index.find_links)
        if build.index_url is not None and not any(is_pytorch_index(u) for u in named):
            warnings.append(
                f"torch {build.torch_version} comes from {build.index_url}: add"
                f" '--extra-index-url {build.index_url}' to {dep.path.name} (the constraints"
                " output carries it)"
            )
    warnings.extend(factory.notes)
    for candidate in resolution.pins.values():
        warnings.extend(factory.candidate_notes.get(candidate.with_extras(frozenset()), []))
    for candidate in sorted(resolution.pins.values(), key=lambda c: c.name):
        warnings.extend(_advisories(db, candidate.name, candidate.version))
    pins = tuple(
        Pin(
            name=candidate.name,
            version=candidate.version,
            index=candidate.index_url,
            hashes=tuple(
                f"sha256:{candidate.file.hashes['sha256']}"
                for _ in (0,)
                if candidate.file is not None
                and candidate.index_url is None
                and "sha256" in candidate.file.hashes
            ),
            reason=next((c.reason for c in changes if c.name == candidate.name), "dependency"),
        )
        for candidate in sorted(resolution.pins.values(), key=lambda c: c.name)
    )
    pinset = PinSet(
        pins=pins,
        target=target,
        index_url=None,
        extra_index_urls=tuple(index_urls[1:]) if default_index else tuple(index_urls),
    )
    return Proposal(
        target=target,
        variant=build.variant.name if build is not None else None,
        cuda=str(build.variant.cuda) if build is not None and build.variant.cuda else None,
        changes=tuple(changes),
        pins=pinset,
        index_urls=tuple(index_urls),
        warnings=tuple(dict.fromkeys(warnings)),
        blockers=tuple(blocked),
        strategy=strategy,
        torch_choice=str(choice),
    )
