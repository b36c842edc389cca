"""Creates requirements and candidates: the one place that talks to the index and the database.

The provider stays thin; everything that knows about wheels, the torch family, curated rules
and candidate order lives here.

Candidate order (the heart of "upgrade as little as possible"):

* an exact pin from the input comes first when it still has a wheel for the target, then the
  versions above it ascending, then the ones below descending (``minimal``);
* other projects prefer the newest release uploaded before their *era* (the oldest upload date
  of the candidates that depend on them, or the chosen torch release for direct requirements),
  then the later ones ascending: a kept 2020 pin gets 2020-era dependencies, unless those have no
  wheel for the target;
* ``latest`` orders everything newest first.

Reading the index (a cold cache): once a read has gone to the network, project pages are read
by a pool of threads, and a crawl runs ahead of the resolver: each page read starts the read of
its most likely candidate's metadata, whose dependencies' pages are read in turn. The resolver
then finds most of what it asks for already read, so a cold run reaches the network in a few
wide waves instead of one level of the tree per resolver round. The crawl only fills caches;
candidate order and choices are the same with or without it. A warm cache is read in the
resolver's thread, with no pool at all.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import threading
from concurrent.futures import CancelledError, Future
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import partial
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from torchresolve.errors import IndexQueryError
from torchresolve.solver.base import Candidate, Requirement

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

    from packaging.markers import Marker
    from packaging.requirements import Requirement as PackagingRequirement

    from torchresolve.db import Database, Rule, TorchRelease
    from torchresolve.index import DistFile, IndexClient, Metadata
    from torchresolve.observer import Observer
    from torchresolve.planning.stack import Build
    from torchresolve.target import Target

__all__ = ["FAMILY", "Factory", "Strategy", "Wish", "marker_environment"]

Strategy = Literal["minimal", "latest"]

TORCH: NormalizedName = canonicalize_name("torch")
FAMILY: frozenset[NormalizedName] = frozenset(
    canonicalize_name(n) for n in ("torchvision", "torchaudio", "torchtext", "torchdata")
)
LABELLED: frozenset[NormalizedName] = frozenset({TORCH, canonicalize_name("torchvision")})
"""Projects whose variant builds carry the local label (``+cu118``); the PyTorch index long
published torchaudio/torchtext/torchdata without one (the convention of planning.stack)."""
PYTHON = "python"
_PREFETCH = 1
"""Metadata of this many candidates per project is read first (the resolver almost always takes
the first; on a cold cache the crawl has read it ahead, see :meth:`Factory._speculate`)...

The same in a warm and a cold run, so a cold run leaves the cache a warm run needs."""
_PREFETCH_MORE = 8
"""...and this many together (in parallel) once the first ones were refused (a backtracking
walk)."""
_WORKERS = 8
_SPECULATE_MAX = 200
"""At most this many metadata reads are started ahead of the resolver (the crawl's budget: a
pathological tree cannot turn one upgrade into thousands of requests)."""
_SPECULATE_PER_PROJECT = 1
"""Metadata of this many likely candidates per project is read ahead (the first candidate is
the one the resolver takes almost always; the resolver prefetches more when it needs them)."""

# Task priorities of the background pool, most urgent first.
_DEMAND = 0
"""The resolver asked for it (a prefetch of the candidates it is about to try)."""
_SCHEDULED = 1
"""A read the resolver will likely need: a page of a dependency of a pinned candidate or of a
direct requirement, the metadata of a prefetched candidate after the first."""
_SPECULATIVE = 2
"""The crawl ahead of the resolver: likely candidates' metadata and their dependencies' pages."""

_T = TypeVar("_T")


class _Task(Generic[_T]):
    """One job of :class:`_Pool`: run once, by a pool thread or by the thread that needs it."""

    __slots__ = ("fn", "future", "priority", "taken")

    def __init__(self, fn: Callable[[], _T], priority: int) -> None:
        self.fn = fn
        self.priority = priority
        self.future: Future[_T] = Future()
        self.taken = False
        """Set (under the pool's lock) by whoever runs it: a pool thread or :meth:`_Pool.result`."""

    def run(self) -> None:
        try:
            result = self.fn()
        except BaseException as exc:  # every outcome goes to the waiters
            self.future.set_exception(exc)
        else:
            self.future.set_result(result)


class _Pool:
    """Threads that run tasks most urgent first (a priority queue, unlike ``ThreadPoolExecutor``).

    The resolver's own reads must not queue behind the crawl ahead of it: a task it needs now
    is run in its own thread when no pool thread took it yet (:meth:`result`), and a prefetch
    raises the priority of a queued read (:meth:`promote`). Threads start on demand (up to
    ``workers``); :meth:`close` drops the tasks nobody started.
    """

    def __init__(self, workers: int, name: str) -> None:
        self._workers = workers
        self._name = name
        self._heap: list[tuple[int, int, _Task[Any]]] = []
        self._order = itertools.count()
        self._cond = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._closed = False

    def submit(self, fn: Callable[[], _T], priority: int) -> _Task[_T] | None:
        """Queue ``fn``; ``None`` once the pool is closed."""
        task = _Task(fn, priority)
        with self._cond:
            if self._closed:
                return None
            self._push(task, priority)
        return task

    def promote(self, task: _Task[_T], priority: int) -> None:
        """Run ``task`` sooner: at ``priority`` if that is more urgent and it has not started."""
        with self._cond:
            if not task.taken and not self._closed and priority < task.priority:
                task.priority = priority
                self._push(task, priority)  # the stale entry is skipped when popped

    def result(self, task: _Task[_T]) -> _T:
        """The result of ``task``: run here when no pool thread took it yet, else waited for.

        A task that failed in a pool thread, or was dropped by :meth:`close`, is run again
        here: its caller asks again and gets (and reports) its own failure.

        :raises: whatever the task raises when run here.
        """
        with self._cond:
            mine = not task.taken
            task.taken = True
        if mine:
            task.run()
            return task.future.result()
        try:
            return task.future.result()
        except (Exception, CancelledError):
            return task.fn()

    def close(self) -> None:
        """Drop the queued tasks (their futures are cancelled) and wait for the running ones."""
        with self._cond:
            self._closed = True
            dropped = [task for _, _, task in self._heap if not task.taken]
            for task in dropped:
                task.taken = True
            self._heap.clear()
            self._cond.notify_all()
            threads = list(self._threads)
        for task in dropped:
            task.future.cancel()
        for thread in threads:
            thread.join()

    def _push(self, task: _Task[_T], priority: int) -> None:
        # Called with the lock held.
        heapq.heappush(self._heap, (priority, next(self._order), task))
        if len(self._heap) > self._idle and len(self._threads) < self._workers:
            thread = threading.Thread(
                target=self._work, name=f"{self._name}-{len(self._threads)}", daemon=True
            )
            self._threads.append(thread)
            thread.start()
        else:
            self._cond.notify()

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._heap and not self._closed:
                    self._idle += 1
                    self._cond.wait()
                    self._idle -= 1
                if not self._heap:
                    return
                _, _, task = heapq.heappop(self._heap)
                if task.taken:
                    continue
                task.taken = True
            task.run()


def _companion_version(name: NormalizedName, companion: Version, build: Build) -> Version:
    """The version a family member of ``build`` installs as (local label where it carries one,
    see :data:`LABELLED`)."""
    return Version(f"{companion}{build.local if name in LABELLED else ''}")


def _is_cuda_runtime(name: str) -> bool:
    # The PyPI torch wheels pull the CUDA runtime as nvidia-* wheels (and triton); a build
    # from a PyTorch variant index bundles its own runtime instead.
    return name.startswith("nvidia-") or name in {"triton", "pytorch-triton"}


def _hint_of(requirement: Requirement) -> _Hint:
    exact = requirement.exact
    specifier = requirement.specifier if exact is None else SpecifierSet(f"=={exact}")
    return _Hint(era=requirement.era, specifier=specifier, extras=requirement.extras)


def marker_environment(target: Target) -> dict[str, str]:
    """PEP 508 marker variables of the target interpreter (``extra`` set to ``""``)."""
    system, machine, sys_platform, os_name = {
        "linux_x86_64": ("Linux", "x86_64", "linux", "posix"),
        "linux_aarch64": ("Linux", "aarch64", "linux", "posix"),
        "macos_arm64": ("Darwin", "arm64", "darwin", "posix"),
        "macos_x86_64": ("Darwin", "x86_64", "darwin", "posix"),
        "windows": ("Windows", "AMD64", "win32", "nt"),
    }[target.platform]
    python = f"{target.python.major}.{target.python.minor}"
    return {
        "python_version": python,
        "python_full_version": f"{python}.0",
        "implementation_name": "cpython",
        "implementation_version": f"{python}.0",
        "platform_python_implementation": "CPython",
        "platform_system": system,
        "platform_machine": machine,
        "sys_platform": sys_platform,
        "os_name": os_name,
        "platform_release": "",
        "platform_version": "",
        "extra": "",
    }


def _newest_python(file: DistFile) -> Version | None:
    """The newest CPython 3 minor ``file`` installs on (wheel tags, else requires-python)."""
    minors = [
        int(tag.interpreter[3:])
        for tag in file.tags
        if tag.interpreter.startswith("cp3") and tag.interpreter[3:].isdigit()
    ]
    if minors:
        return Version(f"3.{max(minors)}")
    if file.requires_python is None or file.kind != "wheel":
        return None
    allowed = [m for m in range(40) if file.requires_python.contains(Version(f"3.{m}.99"))]
    if not allowed or allowed[-1] == 39:
        return None  # no upper bound: not a Python limit
    return Version(f"3.{allowed[-1]}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Wish:
    """What the input file said about one direct requirement."""

    name: NormalizedName
    specifier: SpecifierSet
    extras: frozenset[str] = frozenset()
    marker: Marker | None = None

    @property
    def pinned(self) -> Version | None:
        """The version of an ``==X`` pin (without wildcards), else ``None``."""
        specs = list(self.specifier)
        if len(specs) == 1 and specs[0].operator in {"==", "==="} and "*" not in specs[0].version:
            return Version(specs[0].version)
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class _Hint:
    """What the crawl ahead of the resolver guesses about a project's requirement: the first
    one seen (from the input or a read-ahead candidate's metadata) orders its candidates."""

    era: datetime | None = None
    specifier: SpecifierSet | None = None
    extras: frozenset[str] = frozenset()


@dataclass(slots=True)
class _Project:
    """What the factory knows about one project for the target."""

    files: dict[Version, DistFile] = field(default_factory=dict)
    """The best compatible file per version (a wheel when there is one)."""
    released: dict[Version, datetime] = field(default_factory=dict)
    """The first upload of each version (any file), for era ordering."""
    listed: int = 0
    """How many versions the index lists at all."""
    compiled: bool = False
    """True when some wheel is platform-specific: an sdist-only release then needs a compiler."""
    versions: list[Version] = field(default_factory=list)
    """``files``' versions ascending (sorted once: candidate order asks for it per era)."""
    stamps: dict[Version, datetime] | None = None
    """``released`` with naive times read as UTC (see :meth:`utc_released`)."""
    candidates: dict[Version, Candidate] = field(default_factory=dict)
    """The plain index candidate of each version, built once."""

    def utc_released(self) -> dict[Version, datetime]:
        """``released`` with naive times read as UTC, computed once (era order compares them
        for every identifier that asks)."""
        if self.stamps is None:
            self.stamps = {
                v: t if t.tzinfo else t.replace(tzinfo=timezone.utc)
                for v, t in self.released.items()
            }
        return self.stamps


class Factory:
    """Makes candidates and dependencies for one resolution.

    :param client: the index client (``files``, ``metadata``, ``metadata_many``).
    :param db: the curated database.
    :param target: the machine the proposal is for.
    :param builds: the usable torch builds in preference order (the planner's choice).
    :param wishes: the direct requirements with their old specifiers (orders candidates).
    :param strategy: ``minimal`` or ``latest`` for projects other than torch.
    :param era: upload date that direct unpinned requirements prefer releases before.
    :param universe: projects known to be in the resolution; curated rules and family pairings
        that require a project outside it are not injected (they would add the project).
    :param allow_sdist: accept sdist-only releases whose dependencies cannot be read statically.
    """

    def __init__(
        self,
        *,
        client: IndexClient,
        db: Database,
        target: Target,
        builds: Sequence[Build],
        wishes: Mapping[NormalizedName, Wish],
        strategy: Strategy = "minimal",
        era: datetime | None = None,
        universe: Iterable[NormalizedName] = (),
        allow_sdist: bool = False,
        observer: Observer | None = None,
    ) -> None:
        self.client = client
        self.db = db
        self.target = target
        self.builds = tuple(builds)
        self.wishes = dict(wishes)
        self.strategy: Strategy = strategy
        self.era = era
        self.universe: set[NormalizedName] = set(universe) | set(self.wishes)
        self.allow_sdist = allow_sdist
        self.observer = observer
        self.environment = marker_environment(target)
        self._refusals: dict[tuple[str, Version], str | None] = {}
        self._accepted: dict[tuple[int, Version], tuple[Requirement, bool]] = {}
        self._markers: dict[tuple[int, frozenset[str]], tuple[PackagingRequirement, bool]] = {}
        self._pool: _Pool | None = None
        self._background = False
        self._probed = False
        self._deferred: dict[NormalizedName, None] = {}
        self._requests_seen = client.stats.requests
        # Guarded by _lock (pool threads add to them): pages being read, what the crawl knows
        # of each project's requirement, projects it read ahead, metadata reads under way.
        self._lock = threading.Lock()
        self._pending: dict[NormalizedName, _Task[_Project]] = {}
        self._hints: dict[NormalizedName, _Hint] = {}
        self._crawled: set[NormalizedName] = set()
        self._reading: dict[str, _Task[Metadata]] = {}
        self._speculated = 0
        # Written by pool threads too; single item reads and writes of a dict are atomic.
        self._projects: dict[NormalizedName, _Project] = {}
        self._metadata: dict[str, Metadata] = {}
        self._ordered: dict[tuple[NormalizedName, datetime | None], list[Candidate]] = {}
        self.rejected: dict[NormalizedName, dict[Version, str]] = {}
        """Why a version of a project was not offered (no wheel, Python rule...)."""
        self.notes: list[str] = []
        """Plain-words remarks for the report."""
        self.candidate_notes: dict[Candidate, list[str]] = {}
        """Remarks about one candidate (metadata fallbacks), for the report if it is chosen."""
        self._noted: set[str] = set()
        self._builds_by_version: dict[Version, Build] = {}
        for build in self.builds:
            self._builds_by_version.setdefault(build.torch_version, build)

    # -- facts ---------------------------------------------------------------------------
    def build_for(self, version: Version) -> Build | None:
        """The torch build a torch candidate version came from."""
        return self._builds_by_version.get(version)

    def note(self, message: str, about: Candidate | None = None) -> None:
        """Record a remark for the report once.

        :param about: the candidate it concerns; the report keeps it only if that candidate
            is part of the result.
        """
        if message in self._noted:
            return
        self._noted.add(message)
        if about is None:
            self.notes.append(message)
        else:
            self.candidate_notes.setdefault(about, []).append(message)

    def schedule(self, names: Iterable[NormalizedName]) -> None:
        """Start reading the index pages of ``names`` in the background.

        Dependencies are scheduled as soon as a candidate's requirements are known, so the
        pages download while the resolver works on something else. Until a read has gone to
        the network (:meth:`_watch_network`), the names are only noted: a warm cache answers
        from disk, where background threads add start-up and lock contention (on two cores,
        ~0.1 s of a 0.8 s run) and hide nothing; the reads then happen when a project is
        asked for.

        Once reads go to the network, each page read in the background also starts the crawl
        ahead of the resolver (:meth:`_speculate`). The first names scheduled are checked
        against the cache first: when one of them would not be answered from it (a cold or
        stale cache), reads go to the background at once instead of after a first read in
        this thread (~0.3 s of a cold run).
        """
        names = list(names)
        if not self._background and not self._probed and names:
            self._probed = True
            if self.client.sources_digest(names[0]) is None:
                self._go_background()
        self._schedule(((name, None) for name in names), _SCHEDULED)

    def _schedule(
        self, items: Iterable[tuple[NormalizedName, _Hint | None]], priority: int
    ) -> None:
        with self._lock:
            for name, hint in items:
                if hint is not None:
                    self._hints.setdefault(name, hint)
                if name in self._projects or name in self._pending:
                    continue
                if not self._background:
                    self._deferred[name] = None
                    continue
                task = self._executor().submit(partial(self._read_ahead, name), priority)
                if task is not None:  # None: closed, the resolution is over
                    self._pending[name] = task

    def _watch_network(self) -> None:
        """Switch to background reads once the client has made a request.

        The names noted by :meth:`schedule` so far are submitted then, so a cold run reads
        them in parallel after its first network read.
        """
        if self._background or self.client.stats.requests == self._requests_seen:
            return
        self._go_background()

    def _go_background(self) -> None:
        """Read in the background from now on, starting with the names noted so far."""
        with self._lock:
            if self._background:
                return
            self._background = True
            deferred = list(self._deferred)
            self._deferred.clear()
            loaded = list(self._projects.items())
        self.schedule(deferred)
        for name, project in loaded:  # read before the switch: crawl from them too
            self._speculate(name, project)

    def project(self, name: NormalizedName) -> _Project:
        """Compatible files of ``name`` for the target, read from the index once.

        :raises IndexQueryError: the index could not be read.
        """
        found = self._projects.get(name)
        if found is not None:
            return found
        with self._lock:
            pending = self._pending.get(name)
        if pending is not None and self._pool is not None:
            return self._pool.result(pending)
        try:
            project = self._load_project(name)
        finally:
            self._watch_network()
        if self._background:
            self._speculate(name, project)
        return project

    def _executor(self) -> _Pool:
        if self._pool is None:
            self._pool = _Pool(_WORKERS, "index")
        return self._pool

    def _read_ahead(self, name: NormalizedName) -> _Project:
        """Read the page of ``name`` (a pool task), then crawl on from its likely candidate."""
        project = self._load_project(name)
        self._speculate(name, project)
        return project

    def _load_project(self, name: NormalizedName) -> _Project:
        project = _Project()
        python, platform = self.target.python, self.target.platform
        rejected = self.rejected.setdefault(name, {})
        # Only the files the target takes are built; the others are summarised (upload times,
        # yanked versions, platform-specific wheels) from the index's rows.
        listing = self.client.files_for(name, python, platform)
        by_version: dict[Version, list[DistFile]] = {v: [] for v in listing.versions}
        for file in listing.files:
            by_version[file.version].append(file)
        project.compiled = listing.compiled
        project.listed = len(by_version)
        project.released = dict(listing.released)
        py = f"cp{python.major}{python.minor}"
        for version, group in by_version.items():
            usable = [f for f in group if f.yanked is None]
            wheels = [f for f in usable if f.kind == "wheel"]
            sdists = [f for f in usable if f.kind == "sdist"]
            if wheels:
                project.files[version] = wheels[0]
            elif sdists and (self.allow_sdist or not project.compiled):
                project.files[version] = sdists[0]
            elif sdists:
                rejected[version] = (
                    f"no wheel for {py} {platform} (sdist only; --allow-sdist to try)"
                )
            elif version in listing.yanked:
                rejected[version] = "yanked"
            else:
                rejected[version] = f"no wheel for {py} {platform}"
        project.versions = sorted(project.files)
        project.utc_released()
        with self._lock:
            self._projects[name] = project
        return project

    def newest_python(self, name: NormalizedName) -> Version | None:
        """The newest CPython that any wheel of ``name`` installs on (advice for blockers)."""
        found = [_newest_python(f) for f in self.client.files(name)]
        known = [v for v in found if v is not None]
        return max(known) if known else None

    def metadata(self, file: DistFile) -> Metadata:
        """The metadata of ``file``, fetched once.

        A read already started in the background (a prefetch, the crawl) is waited for, or
        run here when no pool thread took it yet; one that failed is asked again here.

        :raises IndexQueryError: the metadata could not be read.
        """
        found = self._metadata.get(file.url)
        if found is not None:
            return found
        task: _Task[Metadata] | None = None
        if self._background:
            with self._lock:
                task = self._reading.get(file.url)
        if task is not None and self._pool is not None:
            found = self._pool.result(task)
        else:
            try:
                found = self.client.metadata(file)
            finally:
                self._watch_network()
        self._metadata[file.url] = found
        return found

    def _prefetch(self, files: Iterable[DistFile]) -> None:
        """Fetch the metadata of ``files`` in parallel once reads go to the network.

        Before that (a warm cache), they are read here one by one, watching for the first
        request. After it, the reads are queued before the crawl's and not waited for:
        :meth:`metadata` waits for (or runs) the one the resolver actually asks for.
        """
        wanted = [f for f in files if f.url not in self._metadata]
        if len(wanted) < 2:
            return
        while wanted and not self._background:
            # Read from the cache in this thread until a read goes to the network.
            file = wanted.pop(0)
            # A failure is asked again, and reported, when the candidate is tried.
            with contextlib.suppress(IndexQueryError):
                self._metadata[file.url] = self.client.metadata(file)
            self._watch_network()
        for i, file in enumerate(wanted):
            # The resolver tries the first one next; the others only if it is refused.
            self._read_metadata(file, _DEMAND if i == 0 else _SCHEDULED, None)

    def _read_metadata(
        self, file: DistFile, priority: int, crawl: Callable[[Metadata], None] | None
    ) -> bool:
        """Queue a background read of ``file``'s metadata (one per file), then ``crawl`` it.

        :returns: whether a new read was queued (an existing one is only promoted).
        """
        with self._lock:
            if file.url in self._metadata:
                return False
            task = self._reading.get(file.url)
            if task is None:
                task = self._executor().submit(partial(self._fetch, file, crawl), priority)
                if task is not None:
                    self._reading[file.url] = task
                return task is not None
        if self._pool is not None:
            self._pool.promote(task, priority)
        return False

    def _fetch(self, file: DistFile, crawl: Callable[[Metadata], None] | None) -> Metadata:
        meta = self.client.metadata(file)
        self._metadata[file.url] = meta
        if crawl is not None:
            # The crawl only warms caches: its failure must not fail the read.
            with contextlib.suppress(Exception):
                crawl(meta)
        return meta

    # -- the crawl ahead of the resolver ---------------------------------------------------
    def _speculate(self, name: NormalizedName, project: _Project) -> None:
        """Read the metadata of ``name``'s likely candidates ahead of the resolver.

        Their dependencies' pages are then read (and crawled from) in turn, so a cold run asks
        the index for the whole likely tree in a few wide waves instead of one level per
        resolver round. Everything read only fills the caches: the resolver still decides
        (candidate order, choices) exactly as without it. Runs only once reads go to the
        network; each project is crawled once, within :data:`_SPECULATE_MAX` reads.
        """
        with self._lock:
            if not self._background or name in self._crawled:
                return
            self._crawled.add(name)
            hint = self._hints.get(name) or _Hint()
        try:
            likely = self._likely(name, project, hint)
        except Exception:  # a guess only warms caches: it must not fail the resolver's read
            return
        for file, strip in likely:
            with self._lock:
                if self._speculated >= _SPECULATE_MAX:
                    return
                self._speculated += 1  # counted before the read is queued: a hard budget
            released = project.released.get(file.version)
            crawl = partial(self._crawl, hint.extras, strip, released)
            if not self._read_metadata(file, _SPECULATIVE, crawl):
                with self._lock:
                    self._speculated -= 1  # already read or under way

    def _likely(
        self, name: NormalizedName, project: _Project, hint: _Hint
    ) -> list[tuple[DistFile, bool]]:
        """The files of the candidates the resolver will most likely try first, each with
        whether its CUDA runtime requirements are dropped (a variant build of the family)."""
        if name == TORCH or name in FAMILY:
            for build in self.builds:
                public = (
                    build.release.version if name == TORCH else build.release.companions().get(name)
                )
                file = project.files.get(public) if public is not None else None
                if file is not None:  # variant builds of these drop their CUDA runtime
                    return [(file, bool(build.local) and name in LABELLED)]
            return []
        era = hint.era if hint.era is not None else self.era
        versions = self._order_versions(name, project, era)
        specifier = hint.specifier
        allow_pre = specifier is not None and bool(specifier.prereleases)
        found: list[tuple[DistFile, bool]] = []
        for version in versions:
            if version.is_prerelease and not allow_pre:
                continue  # the resolver skips them too unless asked for
            if specifier is not None and not specifier.contains(version, prereleases=True):
                continue
            found.append((project.files[version], False))
            if len(found) >= _SPECULATE_PER_PROJECT:
                break
        return found

    def _crawl(
        self, extras: frozenset[str], strip: bool, released: datetime | None, meta: Metadata
    ) -> None:
        """Schedule the pages of the dependencies ``meta`` has on the target (the markers are
        read as :meth:`_metadata_requirements` reads them)."""
        found: list[tuple[NormalizedName, _Hint | None]] = []
        for req in meta.requires_dist:
            if not (
                self._marker_matches(req, frozenset())
                or (extras and self._marker_matches(req, extras))
            ):
                continue
            name = canonicalize_name(req.name)
            if strip and _is_cuda_runtime(name):
                continue
            hint = _Hint(
                era=released,
                specifier=req.specifier,
                extras=frozenset(canonicalize_name(e) for e in req.extras),
            )
            found.append((name, hint))
        self._schedule(found, _SPECULATIVE)

    def close(self) -> None:
        """Stop the background threads: queued reads are dropped, running ones waited for."""
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def python_refusal(self, name: str, version: Version) -> str | None:
        """The reason a curated ``python`` rule refuses ``name version`` on the target."""
        key = (name, version)
        if key in self._refusals:
            return self._refusals[key]
        refusal = self._refusals[key] = self._python_refusal(name, version)
        return refusal

    def _python_refusal(self, name: str, version: Version) -> str | None:
        public = Version(version.public)
        for rule in self.db.rules_for(name, public):
            if canonicalize_name(rule.require.name) != PYTHON or rule.severity != "error":
                continue
            marker = rule.require.marker
            if marker is not None and not marker.evaluate(self.environment):
                continue
            if not rule.require.specifier.contains(self.target.python, prereleases=True):
                return f"{rule.reason} (rule {rule.id})"
        return None

    # -- candidates ----------------------------------------------------------------------
    def find_matches(
        self,
        name: NormalizedName,
        extras: frozenset[str],
        requirements: Sequence[Requirement],
        incompatible: set[Candidate],
    ) -> Callable[[], Iterator[Candidate]]:
        """Candidates of ``name[extras]`` satisfying ``requirements``, most preferred first.

        Returns a callable producing a lazy iterator, so metadata is fetched only for the
        candidates resolvelib actually tries.
        """
        if name == TORCH:
            ordered = self._torch_candidates()
        elif name in FAMILY:
            ordered = self._family_candidates(name)
        else:
            ordered = self._index_candidates(name, requirements)
        allow_pre = any(r.exact is not None or r.specifier.prereleases for r in requirements)

        def accept(candidate: Candidate) -> bool:
            if candidate in incompatible:
                return False
            if candidate.version.is_prerelease and not allow_pre:
                return False
            return all(self.accepts(r, candidate.version) for r in requirements)

        def produce() -> Iterator[Candidate]:
            # Lazy: resolvelib usually needs the first one or two candidates only.
            accepted = (c for c in ordered if accept(c))
            size = _PREFETCH
            while chunk := list(itertools.islice(accepted, size)):
                size = _PREFETCH_MORE
                self._prefetch(c.file for c in chunk if c.file is not None)
                for candidate in chunk:
                    if self._admissible(candidate):
                        yield candidate.with_extras(extras) if extras else candidate

        return produce

    def accepts(self, requirement: Requirement, version: Version) -> bool:
        """``requirement.accepts(version)``, memoised per requirement object.

        resolvelib keeps the same requirement objects in its criteria and asks for matches
        (and whether the pins still satisfy them) again after every pin, so each
        (requirement, version) pair would be tested many times.
        """
        key = (id(requirement), version)
        known = self._accepted.get(key)
        if known is None:
            known = self._accepted[key] = (requirement, requirement.accepts(version))
        return known[1]

    def _admissible(self, candidate: Candidate) -> bool:
        """Late checks needing metadata: sdists with dynamic metadata, Python rules."""
        reason = self.python_refusal(candidate.name, candidate.version)
        if reason is None and candidate.file is not None and candidate.file.kind == "sdist":
            meta = self.metadata(candidate.file)
            if not meta.known and not self.allow_sdist:
                reason = "only an sdist with dynamic metadata (use --allow-sdist)"
        if reason is not None:
            self.rejected.setdefault(candidate.name, {})[candidate.version] = reason
            return False
        return True

    def _torch_candidates(self) -> list[Candidate]:
        project = self.project(TORCH)
        found: list[Candidate] = []
        for build in self.builds:
            public = build.release.version
            found.append(
                Candidate(
                    name=TORCH,
                    version=build.torch_version,
                    file=project.files.get(public),
                    index_url=build.index_url,
                    released=project.released.get(public),
                )
            )
        return found

    def _family_candidates(self, name: NormalizedName) -> list[Candidate]:
        project = self.project(name)
        found: list[Candidate] = []
        seen: set[Version] = set()
        for build in self.builds:
            companion = build.release.companions().get(name)
            if companion is None:
                continue
            version = _companion_version(name, companion, build)
            if version in seen:
                continue
            seen.add(version)
            file = project.files.get(companion)
            if file is None:
                self.rejected.setdefault(name, {}).setdefault(
                    companion,
                    f"no wheel for cp{self.target.python.major}{self.target.python.minor}",
                )
                continue
            found.append(
                Candidate(
                    name=name,
                    version=version,
                    file=file,
                    index_url=build.index_url,
                    released=project.released.get(companion),
                )
            )
        return found

    def _index_candidates(
        self, name: NormalizedName, requirements: Sequence[Requirement]
    ) -> list[Candidate]:
        anchors = [r.era for r in requirements if r.era is not None]
        era = min(anchors) if anchors else self.era
        key = (name, era)
        cached = self._ordered.get(key)
        if cached is None:
            cached = self._ordered[key] = self._order_candidates(name, era)
        return cached

    def set_era(self, era: datetime | None) -> None:
        """Change the era of direct requirements (after the torch release was settled)."""
        self.era = era
        self._ordered.clear()

    def _order_candidates(self, name: NormalizedName, era: datetime | None) -> list[Candidate]:
        project = self.project(name)
        files = project.files
        made = project.candidates
        found: list[Candidate] = []
        for v in self._order_versions(name, project, era):
            candidate = made.get(v)
            if candidate is None:
                candidate = made[v] = Candidate(
                    name=name, version=v, file=files[v], released=project.released.get(v)
                )
            found.append(candidate)
        return found

    def _order_versions(
        self, name: NormalizedName, project: _Project, era: datetime | None
    ) -> list[Version]:
        """The versions of ``name`` in candidate order (reads ``project`` only: the crawl
        calls it from pool threads)."""
        versions = project.versions
        wish = self.wishes.get(name)
        if self.strategy == "latest":
            ordered = list(reversed(versions))
        elif wish is not None and wish.pinned is not None:
            pin = wish.pinned
            ordered = [v for v in versions if v == pin]
            ordered += [v for v in versions if v > pin]
            ordered += [v for v in reversed(versions) if v < pin]
        elif wish is not None:
            # A range from the input is honoured first; beyond it only when needed.
            inside = [v for v in versions if wish.specifier.contains(v, prereleases=True)]
            ordered = self._era_order(project, inside, era) + self._closest_outside(
                project, versions, wish.specifier
            )
        else:
            ordered = self._era_order(project, versions, era)
        # Releases with a wheel first: an sdist-only release is a last resort (its metadata
        # may need a download and may be unknown).
        files = project.files
        return [v for v in ordered if files[v].kind == "wheel"] + [
            v for v in ordered if files[v].kind != "wheel"
        ]

    @staticmethod
    def _closest_outside(
        project: _Project, versions: Sequence[Version], specifier: SpecifierSet
    ) -> list[Version]:
        """Versions outside a range from the input, closest to the range first.

        A range the target cannot honour (``numpy>=1.18,<1.19`` on CPython 3.11) moves as
        little as it can: the versions above the newest release the range admits, ascending,
        then the ones below it, descending. The admitted releases are taken from every known
        upload, not only the target's wheels, so an unusable range still anchors the move.
        """
        outside = [v for v in versions if not specifier.contains(v, prereleases=True)]
        admitted = [v for v in project.released if specifier.contains(v, prereleases=True)]
        if not admitted:
            return list(reversed(outside))
        anchor = max(admitted)
        return [v for v in outside if v > anchor] + [v for v in reversed(outside) if v < anchor]

    @staticmethod
    def _era_order(
        project: _Project, versions: Sequence[Version], era: datetime | None
    ) -> list[Version]:
        if era is None:
            return list(reversed(versions))
        far = datetime.max.replace(tzinfo=timezone.utc)
        stamps = project.utc_released()
        stamp = era if era.tzinfo else era.replace(tzinfo=timezone.utc)
        before = [v for v in reversed(versions) if stamps.get(v, far) <= stamp]
        after = [v for v in versions if stamps.get(v, far) > stamp]
        return before + after

    # -- dependencies --------------------------------------------------------------------
    def dependencies(self, candidate: Candidate) -> list[Requirement]:
        """Requirements of ``candidate`` on the target: metadata, pairing and curated rules."""
        if candidate.extras:
            base = Requirement(
                name=candidate.name, exact=candidate.version, origin="extra", era=None
            )
            return [base, *self._metadata_requirements(candidate, candidate.extras)]
        found = self._metadata_requirements(candidate, frozenset())
        if candidate.name == TORCH:
            found = self._torch_extras(candidate, found)
        elif candidate.name in FAMILY:
            found = [r for r in found if r.name != TORCH]
            torch = self._torch_of_companion(candidate)
            if torch is not None:
                labelled = candidate.name in LABELLED
                found.append(
                    Requirement(
                        name=TORCH,
                        exact=torch if labelled else None,
                        specifier=SpecifierSet() if labelled else SpecifierSet(f"=={torch}"),
                        origin="family",
                        note=f"{candidate.name} {candidate.version} is built for torch {torch}",
                    )
                )
        found.extend(self._rule_requirements(candidate, {r.name for r in found}))
        if self._background:  # the hints only guide the crawl
            self._schedule(((r.name, _hint_of(r)) for r in found), _SCHEDULED)
        else:
            self.schedule(r.name for r in found)
        return found

    def _metadata_requirements(
        self, candidate: Candidate, extras: frozenset[str]
    ) -> list[Requirement]:
        if candidate.file is None:
            return []
        meta = self.metadata(candidate.file)
        if not meta.known:
            self.note(
                f"{candidate.name} {candidate.version}: dependencies unknown (sdist with dynamic"
                " metadata); taken as none",
                candidate,
            )
        strip_runtime = candidate.name in {TORCH, *FAMILY} and candidate.version.local is not None
        found: list[Requirement] = []
        for req in meta.requires_dist:
            if not self._marker_matches(req, extras):
                continue
            name = canonicalize_name(req.name)
            if strip_runtime and _is_cuda_runtime(name):
                continue
            found.append(
                Requirement(
                    name=name,
                    specifier=req.specifier,
                    extras=frozenset(canonicalize_name(e) for e in req.extras),
                    origin="metadata",
                    era=candidate.released,
                )
            )
        if strip_runtime:
            self.note(
                f"dependencies of {candidate.name} {candidate.version} are read from the"
                f" default index's {candidate.version.public} minus its nvidia-*/triton"
                " requirements (the PyTorch index is not queried for metadata)",
                candidate,
            )
        return found

    def _marker_matches(self, req: PackagingRequirement, extras: frozenset[str]) -> bool:
        # The index parses each distinct Requires-Dist line once per process, so the same
        # requirement object recurs across candidates: memoised by identity (kept alive).
        key = (id(req), extras)
        known = self._markers.get(key)
        if known is None:
            known = self._markers[key] = (req, self._evaluate_marker(req, extras))
        return known[1]

    def _evaluate_marker(self, req: PackagingRequirement, extras: frozenset[str]) -> bool:
        if req.marker is None:
            return not extras
        if not extras:
            return req.marker.evaluate(self.environment)
        # With extras, only the requirements that name one of them belong to this identifier.
        return any(
            req.marker.evaluate({**self.environment, "extra": extra}) for extra in extras
        ) and not req.marker.evaluate(self.environment)

    def _torch_of_companion(self, candidate: Candidate) -> Version | None:
        release = self.db.release_for_companion(candidate.name, Version(candidate.version.public))
        if release is None:
            return None
        local = f"+{candidate.version.local}" if candidate.version.local else ""
        return Version(f"{release.version}{local}")

    def _torch_extras(self, candidate: Candidate, found: list[Requirement]) -> list[Requirement]:
        build = self.build_for(candidate.version)
        if build is None:
            return found
        release: TorchRelease = build.release
        names = {r.name for r in found}
        for name, companion in release.companions().items():
            if name in self.universe:
                found.append(
                    Requirement(
                        name=name,
                        exact=_companion_version(name, companion, build),
                        origin="family",
                        note=f"torch {candidate.version} pairs with {name} {companion}",
                    )
                )
        numpy = canonicalize_name("numpy")
        if release.numpy_abi == 1 and numpy in self.universe and numpy not in names:
            found.append(
                Requirement(
                    name=numpy,
                    specifier=SpecifierSet("<2"),
                    origin="curated",
                    note=f"torch {release.version} is built against the numpy 1.x C API",
                )
            )
        return found

    def _rule_requirements(
        self, candidate: Candidate, present: set[NormalizedName]
    ) -> Iterator[Requirement]:
        del present  # rules add constraints even when metadata already names the project
        for rule in self.db.rules_for(candidate.name, Version(candidate.version.public)):
            yield from self._rule_requirement(rule)

    def _rule_requirement(self, rule: Rule) -> Iterator[Requirement]:
        name = canonicalize_name(rule.require.name)
        if name == PYTHON or rule.severity != "error" or name not in self.universe:
            return
        if rule.require.marker is not None and not rule.require.marker.evaluate(self.environment):
            return
        yield Requirement(
            name=name,
            specifier=rule.require.specifier,
            extras=frozenset(),
            origin="rule",
            note=f"{rule.id}: {rule.reason}",
        )
