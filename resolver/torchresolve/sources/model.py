"""The typed result of reading a dependency file: entries with their file and line."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

    from packaging.requirements import Requirement
    from packaging.specifiers import SpecifierSet

__all__ = ["CondaEnv", "DependencyFile", "Entry", "EntrySyntax", "FileKind", "IndexOptions"]

FileKind = Literal["requirements", "pyproject", "conda"]

EntrySyntax = Literal["pip-line", "pep508", "poetry", "conda"]
"""How the text of an entry is written, which decides how :func:`rewrite` edits it:

* ``pip-line``: a requirements-file line (options, hashes and comments allowed);
* ``pep508``: a bare PEP 508 string inside a TOML string literal;
* ``poetry``: a Poetry version constraint (``^1.5``) inside a TOML string literal;
* ``conda``: a conda match spec (``pytorch::pytorch=1.5.0=py3.7_0``) in a YAML scalar.
"""


@dataclass(frozen=True, slots=True, kw_only=True)
class IndexOptions:
    """Index options found in the files (``-i``, ``--extra-index-url``, ``-f``, ``--no-index``).

    Later files and lines override ``index_url``; the other lists accumulate in file order.
    """

    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    no_index: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Entry:
    """One dependency as written in a file.

    ``requirement`` is ``None`` for lines kept as they are: editables, local paths, URLs and VCS
    links without a ``name @`` prefix, and conda packages that do not exist on PyPI
    (``python``, ``cudatoolkit``, ``mkl``...).
    """

    requirement: Requirement | None
    raw: str
    """The entry's text as written (a requirements line without its comment, a TOML string's
    value, a conda spec)."""
    path: Path
    """The file that holds the entry (an ``-r`` included file, not the file that includes it)."""
    line: int
    """1-based line of the entry's first character in ``path``."""
    group: str | None = None
    """Extra, dependency group or Poetry group; ``None`` for main dependencies."""
    editable: bool = False
    hashes: tuple[str, ...] = ()
    """``sha256:<hex>`` strings from ``--hash`` options."""
    conda_name: str | None = None
    """The conda-side name when read from an environment.yml conda spec (``pytorch``)."""
    constraint: bool = False
    """True when the entry came from a ``-c`` constraints file."""
    syntax: EntrySyntax = "pip-line"
    span: tuple[int, int] | None = None
    """Character offsets ``[start, end)`` in the text of ``path`` of the text that
    :func:`~torchresolve.sources.rewrite` may replace: the physical lines of a requirements
    line, a TOML string literal with its quotes, a YAML scalar's content inside its quotes.
    ``None`` when the entry cannot be rewritten in place."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CondaEnv:
    """The conda-only parts of an environment.yml, kept for writers and reports."""

    name: str | None = None
    channels: tuple[str, ...] = ()
    prefix: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DependencyFile:
    """A parsed dependency file and every file it includes."""

    path: Path
    kind: FileKind
    entries: tuple[Entry, ...]
    index: IndexOptions = field(default_factory=IndexOptions)
    python: SpecifierSet | None = None
    """The Python requirement the file states (``requires-python``, Poetry's ``python``,
    conda's ``python=3.7``), when it states one."""
    conda: CondaEnv | None = None
    texts: Mapping[Path, str] = field(default_factory=dict, compare=False, repr=False)
    """The original text of every file read, keyed like :attr:`Entry.path`; what
    :func:`~torchresolve.sources.rewrite` edits."""

    def requirements(self) -> list[Requirement]:
        """The requirements of all non-constraint entries that have one, in file order."""
        return [
            entry.requirement
            for entry in self.entries
            if entry.requirement is not None and not entry.constraint
        ]

    def constraints(self) -> list[Requirement]:
        """The requirements of the entries that came from ``-c`` constraints files."""
        return [
            entry.requirement
            for entry in self.entries
            if entry.requirement is not None and entry.constraint
        ]
