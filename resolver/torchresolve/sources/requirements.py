"""Reader of pip requirements files (``requirements*.txt``, ``*.in``) with pip's line syntax.

What pip does, in pip's order: physical lines ending in ``\\`` are joined (a comment line ends
the join), comments (``#`` at the start or after whitespace) are removed, the text before the
first token starting with ``-`` is the requirement and the rest are its options. ``${VAR}``
references are left as they are: the files are read, not installed.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from packaging.requirements import InvalidRequirement, Requirement

from torchresolve.errors import InputError
from torchresolve.sources.model import DependencyFile, Entry, IndexOptions

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

__all__ = [
    "LogicalLine",
    "RequirementsReader",
    "is_url_or_path",
    "logical_lines",
    "parse_requirement",
    "read_requirements",
    "split_comment",
]

# pip's COMMENT_RE: a '#' at the start of a line or after whitespace starts a comment; a '#'
# inside a URL (``#egg=``, ``#sha256=``) does not.
_COMMENT_RE = re.compile(r"(^|\s+)#.*$")
_URL_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://|^file:")
_NAME_AT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*\s*(\[[^\]]*\])?\s*@")
_ARCHIVE_SUFFIXES = (".whl", ".zip", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".tar")

# Options that take a value, by every spelling pip accepts; the value is the canonical name.
_VALUE_OPTIONS = {
    "-r": "requirement",
    "--requirement": "requirement",
    "-c": "constraint",
    "--constraint": "constraint",
    "-e": "editable",
    "--editable": "editable",
    "-i": "index-url",
    "--index-url": "index-url",
    "--extra-index-url": "extra-index-url",
    "-f": "find-links",
    "--find-links": "find-links",
    "--only-binary": "ignored",
    "--no-binary": "ignored",
    "--trusted-host": "ignored",
    "--use-feature": "ignored",
    "--hash": "hash",
    "--global-option": "ignored",
    "--config-settings": "ignored",
    "--install-option": "ignored",
}
_FLAG_OPTIONS = {
    "--no-index": "no-index",
    "--pre": "ignored",
    "--prefer-binary": "ignored",
    "--require-hashes": "ignored",
}
# Options pip accepts only after a requirement on the same line.
_PER_REQUIREMENT = frozenset({"hash", "ignored"})


@dataclass(frozen=True, slots=True, kw_only=True)
class LogicalLine:
    """Physical lines joined by trailing backslashes, with their place in the file."""

    line: int
    """1-based number of the first physical line."""
    start: int
    """Offset of the first character of the first physical line."""
    end: int
    """Offset just past the last physical line's text (its line break excluded)."""
    text: str
    """The joined text, continuation backslashes removed, comments still in."""


def _physical_lines(text: str) -> Iterator[tuple[int, int, str]]:
    """Yield ``(number, start offset, text without line break)`` for each physical line."""
    offset = 0
    for number, chunk in enumerate(text.splitlines(keepends=True), start=1):
        body = chunk.rstrip("\r\n")
        if number == 1 and body.startswith("\ufeff"):
            # a byte-order mark is not part of the first line's text (nor of its span)
            yield number, offset + 1, body[1:]
        else:
            yield number, offset, body
        offset += len(chunk)


def logical_lines(text: str) -> list[LogicalLine]:
    """Join continuation lines exactly as pip's ``join_lines`` does.

    :param text: the whole file.
    """
    result: list[LogicalLine] = []
    pending: list[str] = []
    first = start = 0
    for number, offset, raw in _physical_lines(text):
        body = raw
        is_comment = _COMMENT_RE.match(body) is not None
        if not body.endswith("\\") or is_comment:
            if is_comment:
                body = " " + body
            if pending:
                pending.append(body)
                result.append(
                    LogicalLine(
                        line=first, start=start, end=offset + len(raw), text="".join(pending)
                    )
                )
                pending = []
            else:
                result.append(
                    LogicalLine(line=number, start=offset, end=offset + len(raw), text=body)
                )
        else:
            if not pending:
                first, start = number, offset
            pending.append(body.strip("\\"))
    if pending:
        result.append(LogicalLine(line=first, start=start, end=len(text), text="".join(pending)))
    return result


def split_comment(text: str) -> tuple[str, str]:
    """Split a line into (text without comment, comment including its leading whitespace)."""
    match = _COMMENT_RE.search(text)
    if match is None:
        return text, ""
    return text[: match.start()], text[match.start() :]


def split_args_options(body: str) -> tuple[str, str]:
    """pip's ``break_args_options``: the requirement is every token before the first ``-``."""
    tokens = body.split(" ")
    for index, token in enumerate(tokens):
        if token.startswith("-"):
            return " ".join(tokens[:index]), " ".join(tokens[index:])
    return body, ""


def is_url_or_path(text: str) -> bool:
    """Whether a requirement text is a URL, VCS link or local path rather than PEP 508."""
    if _NAME_AT_RE.match(text):
        return False
    if _URL_RE.match(text):
        return True
    if text.startswith((".", "/", "~", "\\")) or re.match(r"^[A-Za-z]:[\\/]", text):
        return True
    head = re.split(r"\s*;", text, maxsplit=1)[0].strip()
    return "/" in head or "\\" in head or head.lower().endswith(_ARCHIVE_SUFFIXES)


def parse_requirement(text: str, *, path: Path, line: int) -> Requirement | None:
    """Parse one requirement; ``None`` for URLs, paths and text with unexpanded ``${VAR}``.

    :raises InputError: the text is not a valid PEP 508 requirement.
    """
    if is_url_or_path(text):
        return None
    try:
        return Requirement(text)
    except InvalidRequirement as exc:
        if "${" in text:
            return None
        detail = str(exc).splitlines()[0] if str(exc) else "invalid syntax"
        detail = detail[:1].lower() + detail[1:]
        raise InputError(
            f"'{text}' is not a valid requirement: {detail}", path=path, line=line
        ) from None


def _parse_options(text: str, *, path: Path, line: int) -> list[tuple[str, str, str]]:
    """Tokenize an options string into ``(canonical option, value, spelling)`` triples.

    :raises InputError: unknown option, missing value or unbalanced quotes.
    """
    try:
        tokens = shlex.split(text, posix=True)
    except ValueError as exc:
        raise InputError(f"cannot split options '{text}': {exc}", path=path, line=line) from None
    result: list[tuple[str, str, str]] = []
    position = 0
    while position < len(tokens):
        token = tokens[position]
        position += 1
        name, has_value, value = token.partition("=") if token.startswith("--") else (token, "", "")
        if name in _FLAG_OPTIONS:
            if has_value:
                raise InputError(f"option '{name}' takes no value", path=path, line=line)
            result.append((_FLAG_OPTIONS[name], "", name))
            continue
        if name not in _VALUE_OPTIONS and len(name) > 2 and name[:2] in _VALUE_OPTIONS:
            # optparse's attached short form: -rfile.txt
            name, has_value, value = name[:2], "=", name[2:]
        if name not in _VALUE_OPTIONS:
            raise InputError(f"unknown option '{token}'", path=path, line=line)
        if not has_value:
            if position >= len(tokens):
                raise InputError(f"option '{name}' needs a value", path=path, line=line)
            value = tokens[position]
            position += 1
        result.append((_VALUE_OPTIONS[name], value, name))
    return result


@dataclass(slots=True)
class RequirementsReader:
    """Accumulates entries and index options over a requirements file and its includes.

    Also used for the ``pip:`` section of environment.yml, one line at a time.
    """

    entries: list[Entry] = field(default_factory=list)
    texts: dict[Path, str] = field(default_factory=dict)
    index_url: str | None = None
    extra_index_urls: list[str] = field(default_factory=list)
    find_links: list[str] = field(default_factory=list)
    no_index: bool = False

    def index(self) -> IndexOptions:
        """The index options collected so far."""
        return IndexOptions(
            index_url=self.index_url,
            extra_index_urls=tuple(self.extra_index_urls),
            find_links=tuple(self.find_links),
            no_index=self.no_index,
        )

    def read_file(
        self, path: Path, *, constraint: bool = False, chain: tuple[Path, ...] = ()
    ) -> None:
        """Read ``path`` and everything it includes.

        :param chain: the files including this one, outermost first (for cycle detection).
        :raises InputError: unreadable file, bad line, include cycle.
        """
        text = read_text(path)
        self.texts[path] = text
        for logical in logical_lines(text):
            self.process_line(
                logical.text,
                path=path,
                line=logical.line,
                span=(logical.start, logical.end),
                constraint=constraint,
                chain=(*chain, path),
            )

    def process_line(
        self,
        text: str,
        *,
        path: Path,
        line: int,
        span: tuple[int, int] | None,
        constraint: bool,
        chain: tuple[Path, ...],
    ) -> None:
        """Handle one logical line of ``path`` (continuations already joined).

        :param span: where the line's text sits in ``path``'s text, for rewriting.
        :param chain: the files being read, outermost first, ``path`` last.
        """
        body = _COMMENT_RE.sub("", text).strip()
        if not body:
            return
        args, options_text = split_args_options(body)
        args = args.strip()
        options = _parse_options(options_text, path=path, line=line)
        if args:
            for option, _, spelling in options:
                if option not in _PER_REQUIREMENT:
                    raise InputError(
                        f"option '{spelling}' is not allowed after a requirement",
                        path=path,
                        line=line,
                    )
            self.entries.append(
                Entry(
                    requirement=parse_requirement(args, path=path, line=line),
                    raw=body,
                    path=path,
                    line=line,
                    hashes=tuple(value for option, value, _ in options if option == "hash"),
                    constraint=constraint,
                    span=span,
                )
            )
            return
        for option, value, _ in options:
            self._apply_option(
                option, value, path=path, line=line, constraint=constraint, chain=chain, raw=body
            )

    def _apply_option(
        self,
        option: str,
        value: str,
        *,
        path: Path,
        line: int,
        constraint: bool,
        chain: tuple[Path, ...],
        raw: str,
    ) -> None:
        if option in ("requirement", "constraint"):
            self._include(
                value,
                path=path,
                line=line,
                constraint=constraint or option == "constraint",
                chain=chain,
            )
        elif option == "editable":
            self.entries.append(
                Entry(
                    requirement=None,
                    raw=raw,
                    path=path,
                    line=line,
                    editable=True,
                    constraint=constraint,
                )
            )
        elif option == "index-url":
            self.index_url = value
        elif option == "extra-index-url":
            self.extra_index_urls.append(value)
        elif option == "find-links":
            self.find_links.append(value)
        elif option == "no-index":
            self.no_index = True
        elif option == "hash":
            raise InputError("option '--hash' needs a requirement before it", path=path, line=line)
        # "ignored": accepted because pip accepts it; it does not change what is required.

    def _include(
        self, target: str, *, path: Path, line: int, constraint: bool, chain: tuple[Path, ...]
    ) -> None:
        if _URL_RE.match(target):
            raise InputError(
                f"cannot include '{target}': remote requirements files are not supported",
                path=path,
                line=line,
            )
        included = path.parent / target
        seen = [_identity(item) for item in chain]
        if _identity(included) in seen:
            names = [str(item) for item in chain[seen.index(_identity(included)) :]]
            raise InputError(
                "include cycle: " + " -> ".join([*names, str(included)]), path=path, line=line
            )
        try:
            self.read_file(included, constraint=constraint, chain=chain)
        except _UnreadableError as exc:
            raise InputError(
                f"cannot read included file '{target}': {exc.reason}", path=path, line=line
            ) from None


class _UnreadableError(InputError):
    """A file could not be read; the includer re-raises it naming its own line."""

    def __init__(self, path: Path, reason: str) -> None:
        self.reason = reason
        super().__init__(f"cannot read file: {reason}", path=path)


def _identity(path: Path) -> Path:
    """The resolved path, so that ``a/../b.txt`` and ``b.txt`` are the same file."""
    return path.resolve()


def read_text(path: Path) -> str:
    """Read a text file as UTF-8, keeping its line breaks byte for byte.

    :raises InputError: the file is missing, unreadable or not UTF-8.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise _UnreadableError(path, exc.strerror or str(exc)) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte {exc.start})", path=path) from None


def read_requirements(path: Path) -> DependencyFile:
    """Read a requirements file and its ``-r``/``-c`` includes.

    :raises InputError: naming the file and line of the first bad line.
    """
    reader = RequirementsReader()
    reader.read_file(path)
    return DependencyFile(
        path=path,
        kind="requirements",
        entries=tuple(reader.entries),
        index=reader.index(),
        texts=dict(reader.texts),
    )
