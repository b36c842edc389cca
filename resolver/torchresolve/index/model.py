"""Value types of the index seam: one distribution file, and the metadata read from it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import datetime

    from packaging.requirements import Requirement
    from packaging.specifiers import SpecifierSet
    from packaging.tags import Tag
    from packaging.utils import NormalizedName
    from packaging.version import Version

__all__ = ["DistFile", "FileKind", "Metadata", "MetadataOrigin", "TargetFiles"]

FileKind = Literal["wheel", "sdist"]
MetadataOrigin = Literal["pep658", "range", "download", "pkg-info", "json-api", "unknown"]


@dataclass(frozen=True, slots=True, kw_only=True)
class DistFile:
    """One file of one release of a project, as listed by an index page or a find-links source.

    Equality and hashing use the identity fields (project, filename, url, version, index);
    the descriptive fields (hashes, upload time, size) do not take part.

    :ivar project: the canonical project name.
    :ivar url: the absolute URL of the file (``file://`` for local find-links directories).
    :ivar tags: the wheel's compatibility tags; empty for an sdist.
    :ivar yanked: ``None`` when not yanked; the reason (possibly ``""``) when yanked (PEP 592).
    :ivar hashes: hash name -> hex digest as the index gave them (``sha256`` when offered).
    :ivar index_url: the index or find-links location the file was listed by.
    :ivar metadata_url: the PEP 658/714 metadata URL when the index offers one, else ``None``.
    """

    project: NormalizedName
    filename: str
    url: str
    version: Version
    kind: FileKind
    tags: frozenset[Tag] = frozenset()
    requires_python: SpecifierSet | None = None
    yanked: str | None = None
    upload_time: datetime | None = field(default=None, compare=False)
    hashes: Mapping[str, str] = field(default_factory=dict, compare=False)
    size: int | None = field(default=None, compare=False)
    index_url: str = ""
    metadata_url: str | None = field(default=None, compare=False)

    @property
    def sha256(self) -> str | None:
        """The sha256 digest the index published for this file, if any."""
        return self.hashes.get("sha256")


@dataclass(frozen=True, slots=True, kw_only=True)
class TargetFiles:
    """The files of one project that install on one target, and what all its files tell.

    What :meth:`~torchresolve.index.IndexClient.files_for` answers: only the files that
    :func:`~torchresolve.index.supports` accepts are built; the others contribute their
    version, upload time, yanked flag and tags to the summary fields.

    :ivar project: the canonical project name.
    :ivar files: the files ``supports`` accepts for the target (yanked ones included), in
        the order :meth:`~torchresolve.index.IndexClient.files` lists them.
    :ivar versions: every listed version (of any file), in order of first listing.
    :ivar released: the earliest upload time of each version over all its files; versions
        without any upload time are absent.
    :ivar yanked: the versions whose every file is yanked.
    :ivar compiled: some wheel (for any target) carries a platform-specific tag.
    """

    project: NormalizedName
    files: tuple[DistFile, ...] = ()
    versions: tuple[Version, ...] = ()
    released: Mapping[Version, datetime] = field(default_factory=dict)
    yanked: frozenset[Version] = frozenset()
    compiled: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Metadata:
    """The dependency metadata of one distribution file.

    :ivar origin: how it was obtained: ``pep658`` (the index's metadata file), ``range`` (HTTP
        range requests into the wheel), ``download`` (the whole file), ``pkg-info`` (static
        PEP 643 metadata of an sdist), ``json-api`` (the project JSON API), ``unknown``.
    :ivar known: ``False`` when the dependencies could not be determined (an sdist with dynamic
        metadata and no other source); ``requires_dist`` is then empty and means nothing.
    :ivar problems: plain-words notes on what went wrong on the way (skipped requirement lines,
        fallbacks that failed); empty when everything was clean.
    """

    name: NormalizedName
    version: Version
    requires_dist: tuple[Requirement, ...] = ()
    requires_python: SpecifierSet | None = None
    provides_extra: frozenset[str] = frozenset()
    origin: MetadataOrigin = "unknown"
    known: bool = True
    problems: tuple[str, ...] = ()
