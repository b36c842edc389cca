"""Read a proposal (the requirements or constraints file written by ``upgrade``) for checking.

The installer receives the file itself (``-r FILE``), so index lines, hashes and local versions
reach it untouched; this module only extracts what verification compares: each requirement, and
the index options (for the report).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from torchresolve.errors import InputError

if TYPE_CHECKING:
    from pathlib import Path

    from packaging.utils import NormalizedName

__all__ = ["Proposal", "ProposedRequirement", "read_proposal"]

# Options that take a value, as pip spells them in a requirements file.
_VALUE_OPTIONS = {
    "-i": "index_url",
    "--index-url": "index_url",
    "--extra-index-url": "extra_index_urls",
    "-f": "find_links",
    "--find-links": "find_links",
}
_INCLUDES = ("-r", "--requirement", "-c", "--constraint")
_IGNORED_FLAGS = ("--pre", "--prefer-binary", "--require-hashes", "--only-binary", "--no-binary")


@dataclass(frozen=True, slots=True, kw_only=True)
class ProposedRequirement:
    """One requirement line: ``torch==2.1.2+cu118 ; python_version >= "3.8"``."""

    requirement: Requirement
    path: Path
    line: int

    @property
    def name(self) -> NormalizedName:
        """The canonical project name."""
        return canonicalize_name(self.requirement.name)


@dataclass(frozen=True, slots=True, kw_only=True)
class Proposal:
    """What the file asks for; ``requirements`` in file order, includes followed."""

    path: Path
    requirements: tuple[ProposedRequirement, ...]
    index_url: str | None
    extra_index_urls: tuple[str, ...]
    find_links: tuple[str, ...]
    no_index: bool

    def names(self) -> frozenset[NormalizedName]:
        """The canonical names of every proposed project."""
        return frozenset(r.name for r in self.requirements)


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """Lines with comments removed and ``\\`` continuations joined, numbered from 1."""
    out: list[tuple[int, str]] = []
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw
        if line.lstrip().startswith("#"):
            line = ""
        elif " #" in line or "\t#" in line:
            line = line[: min(i for i in (line.find(" #"), line.find("\t#")) if i >= 0)]
        if not pending:
            start = number
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        joined = (pending + line).strip()
        pending = ""
        if joined:
            out.append((start, joined))
    if pending.strip():
        out.append((start, pending.strip()))
    return out


def read_proposal(path: Path) -> Proposal:
    """Parse ``path`` (and files it includes with ``-r``/``-c``).

    :raises InputError: the file is missing or a line is neither an option nor a requirement
        (naming file and line); editable, URL and path requirements cannot be compared to a
        version and are refused too.
    """
    requirements: list[ProposedRequirement] = []
    options: dict[str, list[str]] = {"index_url": [], "extra_index_urls": [], "find_links": []}
    no_index = False
    seen: set[Path] = set()

    def read(file: Path) -> None:
        nonlocal no_index
        resolved = file.resolve()
        if resolved in seen:
            return
        seen.add(resolved)
        try:
            text = file.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise InputError("no such file", path=file) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read: {exc}", path=file) from None
        for number, line in _logical_lines(text):
            if line.startswith("-"):
                try:
                    words = shlex.split(line)
                except ValueError as exc:
                    raise InputError(
                        f"cannot parse option: {exc}", path=file, line=number
                    ) from None
                head, _, inline = words[0].partition("=")
                value = inline or (words[1] if len(words) > 1 else "")
                if head in _VALUE_OPTIONS:
                    if not value:
                        raise InputError(f"{head} needs a value", path=file, line=number)
                    options[_VALUE_OPTIONS[head]].append(value)
                elif head in _INCLUDES:
                    if not value:
                        raise InputError(f"{head} needs a file", path=file, line=number)
                    read(file.parent / value)
                elif head == "--no-index":
                    no_index = True
                elif head in ("-e", "--editable"):
                    raise InputError(
                        "an editable requirement has no version to verify", path=file, line=number
                    )
                elif head not in _IGNORED_FLAGS and not head.startswith("--hash"):
                    raise InputError(f"unsupported option {head}", path=file, line=number)
                continue
            text_req = line.split(" --hash", 1)[0].strip()
            try:
                requirement = Requirement(text_req)
            except InvalidRequirement as exc:
                raise InputError(f"not a requirement: {exc}", path=file, line=number) from None
            if requirement.url:
                raise InputError(
                    f"{requirement.name} is a URL requirement; verify compares versions, "
                    "pin it as name==version",
                    path=file,
                    line=number,
                )
            requirements.append(
                ProposedRequirement(requirement=requirement, path=file, line=number)
            )

    read(path)
    return Proposal(
        path=path,
        requirements=tuple(requirements),
        index_url=options["index_url"][-1] if options["index_url"] else None,
        extra_index_urls=tuple(options["extra_index_urls"]),
        find_links=tuple(options["find_links"]),
        no_index=no_index,
    )
