"""Minimal-change rewriting of dependency files: only the changed specifiers differ.

Every edit replaces the span an entry recorded when it was read (:attr:`Entry.span`), in the
entry's own file, so an ``-r`` included file changes in its own text and every byte outside the
edited spans stays as it was. Nothing here touches the file system.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import shlex
from typing import TYPE_CHECKING

from packaging.utils import NormalizedName, canonicalize_name

from torchresolve.sources._tomlspans import decode_string, encode_like
from torchresolve.sources.conda import format_conda_spec, parse_conda_spec
from torchresolve.sources.pyproject import specifier_to_poetry
from torchresolve.sources.requirements import logical_lines, split_args_options, split_comment

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

    from packaging.specifiers import SpecifierSet

    from torchresolve.sources.model import DependencyFile, Entry

__all__ = ["CUDA_VERSION", "replace_specifier", "rewrite", "unified_diff", "unrewritable"]

CUDA_VERSION = NormalizedName("cuda-version")
"""Pseudo-name in a change map: the CUDA version a conda environment should pin; it replaces
``cudatoolkit`` (conda-forge's ``cuda-version`` package selects the CUDA 12+ stack)."""

_HEAD_RE = re.compile(
    r"^(?P<name>[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)(?P<extras>\s*\[[^\]]*\])?"
    r"(?P<spec>[^;]*?)(?P<tail>\s*;.*)?$",
    re.DOTALL,
)


def replace_specifier(requirement: str, specifier: SpecifierSet) -> str:
    """Replace the version part (or ``@ url``) of a PEP 508 string; name, extras, markers and
    surrounding whitespace stay as written.

    :raises ValueError: ``requirement`` does not start with a project name.
    """
    stripped = requirement.strip()
    match = _HEAD_RE.match(stripped)
    if match is None:
        raise ValueError(f"not a requirement: {requirement!r}")
    lead = requirement[: len(requirement) - len(requirement.lstrip())]
    trail = requirement[len(requirement.rstrip()) :]
    extras = match.group("extras") or ""
    tail = match.group("tail") or ""
    return f"{lead}{match.group('name')}{extras}{specifier}{tail}{trail}"


def _rewrite_pip_line(old: str, specifier: SpecifierSet) -> str:
    """New text of a requirements line (possibly several physical lines).

    Without ``--hash`` options only the specifier changes. With them the hashes are dropped
    (they pin the old version's files) and the line is rebuilt as one physical line, keeping
    other options and the trailing comment; so is a requirement split over several lines.
    """
    first_break = re.search(r"\r?\n", old)
    first = old if first_break is None else old[: first_break.start()]
    first_body, _ = split_comment(first)
    if first_body.rstrip().endswith("\\"):
        first_body = first_body.rstrip()[:-1]
    first_args, _ = split_args_options(first_body)
    joined = logical_lines(old)[0].text
    body, comment = split_comment(joined)
    args, options_text = split_args_options(body.strip())
    if "--hash" not in old and first_args.strip() == args.strip():
        end = len(first_args.rstrip())
        return replace_specifier(old[:end], specifier) + old[end:]
    # Hashes to drop, or a requirement continued over several lines: rebuild on one line.
    kept: list[str] = []
    tokens = shlex.split(options_text)
    position = 0
    while position < len(tokens):
        token = tokens[position]
        position += 1
        if token == "--hash":
            position += 1
        elif not token.startswith("--hash="):
            kept.append(shlex.quote(token))
    lead = first[: len(first) - len(first.lstrip())]
    new = lead + replace_specifier(args.strip(), specifier)
    if kept:
        new += " " + " ".join(kept)
    return new + comment.rstrip()


def _rewrite_entry(entry: Entry, old: str, specifier: SpecifierSet, *, rename: str | None) -> str:
    if entry.syntax == "pip-line":
        return _rewrite_pip_line(old, specifier)
    if entry.syntax == "pep508":
        return encode_like(replace_specifier(decode_string(old), specifier), old)
    if entry.syntax == "poetry":
        return encode_like(specifier_to_poetry(specifier), old)
    spec = parse_conda_spec(old)
    if rename is not None:
        spec = dataclasses.replace(spec, channel=None, style="=")
    return format_conda_spec(spec, specifier, name=rename)


def _change_for(
    entry: Entry, changes: Mapping[NormalizedName, SpecifierSet]
) -> tuple[SpecifierSet, str | None] | None:
    """The new specifier for an entry, and the new conda name when it is renamed."""
    if entry.requirement is not None:
        name = canonicalize_name(entry.requirement.name)
        if name in changes:
            return changes[name], None
    if entry.conda_name is not None:
        conda = canonicalize_name(entry.conda_name)
        if entry.requirement is None and conda in changes:
            return changes[conda], None
        if conda == "cudatoolkit" and CUDA_VERSION in changes:
            return changes[CUDA_VERSION], "cuda-version"
    return None


def rewrite(dep: DependencyFile, changes: Mapping[NormalizedName, SpecifierSet]) -> dict[Path, str]:
    """Apply new specifiers to the entries of ``dep``, each in its own file.

    Entries of packages absent from ``changes`` are untouched, and so are entries kept as they
    are (``requirement`` is ``None``, e.g. ``-e .``) unless a conda name matches. Packages in
    ``changes`` without an entry are not added. ``cuda-version`` in ``changes`` replaces a
    conda ``cudatoolkit`` spec. Pure: reads only ``dep.texts``.

    :param changes: canonical name -> new specifier set, written canonically (``torch==2.1.2``).
    :returns: the new text of every file whose text changes; other files are absent.
    """
    edits: dict[Path, dict[tuple[int, int], str]] = {}
    for entry in dep.entries:
        if entry.span is None:
            continue
        change = _change_for(entry, changes)
        if change is None:
            continue
        specifier, rename = change
        start, end = entry.span
        old = dep.texts[entry.path][start:end]
        new = _rewrite_entry(entry, old, specifier, rename=rename)
        if new != old:
            edits.setdefault(entry.path, {})[(start, end)] = new
    result: dict[Path, str] = {}
    for path, spans in edits.items():
        text = dep.texts[path]
        for (start, end), new in sorted(spans.items(), reverse=True):
            text = text[:start] + new + text[end:]
        result[path] = text
    return result


def unrewritable(
    dep: DependencyFile, changes: Mapping[NormalizedName, SpecifierSet]
) -> tuple[Entry, ...]:
    """Entries that ``changes`` names but :func:`rewrite` cannot edit in place (their text could
    not be located exactly, e.g. a TOML string with escapes); callers should tell the user."""
    return tuple(
        entry
        for entry in dep.entries
        if entry.span is None and _change_for(entry, changes) is not None
    )


def unified_diff(old: str, new: str, path: Path) -> str:
    """A unified diff of two versions of ``path`` (``a/`` and ``b/`` prefixes, like git)."""
    name = path.as_posix()
    lines = difflib.unified_diff(
        old.splitlines(keepends=True),
        new.splitlines(keepends=True),
        fromfile=f"a/{name}",
        tofile=f"b/{name}",
    )
    out: list[str] = []
    for line in lines:
        out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(out)
