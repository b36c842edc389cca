"""Reader of pyproject.toml: PEP 621, PEP 735 dependency groups and Poetry dependencies.

Poetry constraints (``^1.5``, ``~1.5``, ``*``, tables with ``version``/``extras``/``markers``/
``python``) are converted to PEP 440 on reading; the entry keeps ``syntax="poetry"`` so that
:func:`~torchresolve.sources.rewrite` writes Poetry syntax back.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from torchresolve.errors import InputError
from torchresolve.sources._tomlspans import KeyPath, decode_string, string_spans
from torchresolve.sources.model import DependencyFile, Entry
from torchresolve.sources.requirements import parse_requirement, read_text

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["poetry_constraint", "read_pyproject", "specifier_to_poetry"]

_POETRY_CLAUSE = re.compile(r"(\^|~=|~|===|==|!=|>=|<=|>|<|=)?\s*([0-9A-Za-z*][^\s,]*)")


def _bump(release: tuple[int, ...], index: int) -> str:
    """The version just above every version starting with ``release[: index + 1]``."""
    head = [*release[:index], release[index] + 1]
    return ".".join(str(part) for part in head)


def _poetry_single(part: str) -> list[str]:
    """PEP 440 clauses for one Poetry clause (``^1.5``, ``~1.5``, ``>=1,<2``...)."""
    part = part.strip()
    if part in ("*", ""):
        return []
    if part.startswith("^") or (part.startswith("~") and not part.startswith("~=")):
        text = part[1:].strip()
        version = Version(text)
        release = version.release
        if part.startswith("^"):
            first = next((i for i, number in enumerate(release) if number), len(release) - 1)
            index = min(first, len(release) - 1)
        else:
            index = 1 if len(release) >= 2 else 0
        return [f">={text}", f"<{_bump(release, index)}"]
    for operator in ("==", "!=", ">=", "<=", "~=", ">", "<"):
        if part.startswith(operator):
            return [f"{operator}{part[len(operator) :].strip()}"]
    if part.startswith("="):
        return [f"=={part[1:].strip()}"]
    return [f"=={part}"]


def poetry_constraint(text: str) -> SpecifierSet:
    """Convert a Poetry version constraint to a PEP 440 specifier set.

    :raises ValueError: ``||`` alternatives (no single PEP 440 equivalent) or a bad version.
    """
    if "||" in text or "|" in text:
        raise ValueError("alternatives ('||') have no single PEP 440 equivalent")
    clauses: list[str] = []
    # Poetry separates AND clauses by commas or by whitespace (">=1.2 <2.0"), and allows a
    # space between an operator and its version (">= 1.2").
    for match in _POETRY_CLAUSE.finditer(text):
        clauses.extend(_poetry_single((match.group(1) or "") + match.group(2)))
    try:
        return SpecifierSet(",".join(clauses))
    except InvalidSpecifier as exc:
        raise ValueError(str(exc)) from None


def specifier_to_poetry(spec: SpecifierSet) -> str:
    """Write a specifier set in Poetry's idiom: ``2.1.2`` for an exact pin, ``*`` for any."""
    items = list(spec)
    if not items:
        return "*"
    if len(items) == 1 and items[0].operator == "==":
        return items[0].version
    return str(spec)


def _python_marker(spec: SpecifierSet) -> str:
    """A marker expression equivalent to a Python version specifier set."""
    clauses = []
    for item in sorted(spec, key=str):
        variable = "python_full_version" if item.version.count(".") >= 2 else "python_version"
        clauses.append(f'{variable} {item.operator} "{item.version}"')
    return " and ".join(clauses)


class _PyprojectReader:
    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.text = text
        self.spans = string_spans(text)
        self.entries: list[Entry] = []

    def locate(self, key: KeyPath, value: str) -> tuple[int, tuple[int, int] | None]:
        """Line and span of the string at ``key``; the span only if it decodes to ``value``."""
        span = self.spans.get(key)
        if span is None:
            return 1, None
        line = self.text.count("\n", 0, span[0]) + 1
        if decode_string(self.text[span[0] : span[1]]) != value:
            return line, None
        return line, span

    def error(self, problem: str, key: KeyPath, line: int | None = None) -> InputError:
        if line is None:
            line = self.locate(key, "")[0] if key in self.spans else None
        dotted = ".".join(str(part) for part in key)
        return InputError(problem, path=self.path, line=line, key=dotted or None)

    def table(self, parent: dict[str, Any], key: KeyPath) -> dict[str, Any]:
        """The table at ``key`` (the last part of it, looked up in ``parent``), or ``{}``."""
        value = parent.get(str(key[-1]), {})
        if not isinstance(value, dict):
            raise self.error(f"expected a table, found {value!r}", key)
        return value

    def pep508_list(self, values: Any, key: KeyPath, group: str | None) -> None:
        if not isinstance(values, list):
            raise self.error("expected a list of requirement strings", key)
        for index, value in enumerate(values):
            item_key = (*key, index)
            if isinstance(value, dict) and key[0] == "dependency-groups":
                continue  # {include-group = "..."}: checked by _check_groups
            if not isinstance(value, str):
                raise self.error(f"expected a requirement string, found {value!r}", item_key)
            line, span = self.locate(item_key, value)
            self.entries.append(
                Entry(
                    requirement=parse_requirement(value.strip(), path=self.path, line=line),
                    raw=value,
                    path=self.path,
                    line=line,
                    group=group,
                    syntax="pep508",
                    span=span,
                )
            )

    def poetry_table(self, table: Any, key: KeyPath, group: str | None) -> SpecifierSet | None:
        """Read a Poetry dependencies table; return its ``python`` requirement, if any."""
        if not isinstance(table, dict):
            raise self.error("expected a table of dependencies", key)
        python: SpecifierSet | None = None
        for name, value in table.items():
            if name.lower() == "python":
                if not isinstance(value, str):
                    raise self.error("expected a version constraint string", (*key, name))
                python = self.poetry_spec(value, (*key, name))
                continue
            if isinstance(value, list):
                for index, item in enumerate(value):
                    self.poetry_dependency(name, item, (*key, name, index), group)
            else:
                self.poetry_dependency(name, value, (*key, name), group)
        return python

    def poetry_spec(self, constraint: str, key: KeyPath) -> SpecifierSet:
        try:
            return poetry_constraint(constraint)
        except (ValueError, InvalidVersion) as exc:
            line = self.locate(key, constraint)[0]
            raise self.error(
                f"'{constraint}' is not a valid Poetry version constraint: {exc}", key, line
            ) from None

    def poetry_dependency(self, name: str, value: Any, key: KeyPath, group: str | None) -> None:
        version_key = key if isinstance(value, str) else (*key, "version")
        if isinstance(value, str):
            value = {"version": value}
        if not isinstance(value, dict):
            raise self.error(f"expected a version string or a table, found {value!r}", key)
        version = value.get("version")
        line, span = self.locate(version_key, version) if isinstance(version, str) else (1, None)
        if not isinstance(version, str):
            line = self._line_near(key)
        extras = value.get("extras", [])
        extras_text = f"[{','.join(extras)}]" if extras else ""
        markers = [f"({value['markers']})"] if value.get("markers") else []
        if isinstance(value.get("python"), str):
            python = self.poetry_spec(value["python"], (*key, "python"))
            markers.append(f"({_python_marker(python)})")
        if isinstance(value.get("platform"), str):
            markers.append(f'sys_platform == "{value["platform"]}"')
        marker_text = f"; {' and '.join(markers)}" if markers else ""
        requirement: Requirement | None
        if isinstance(version, str):
            spec = self.poetry_spec(version, version_key)
            text = f"{name}{extras_text}{spec}{marker_text}"
        elif isinstance(value.get("url"), str):
            text = f"{name}{extras_text} @ {value['url']}{' ' + marker_text if markers else ''}"
        else:
            text = ""  # git / path dependencies: kept as they are
        try:
            requirement = Requirement(text) if text else None
        except InvalidRequirement as exc:
            detail = str(exc).splitlines()[0]
            raise self.error(f"'{name}' is not a valid dependency: {detail}", key, line) from None
        self.entries.append(
            Entry(
                requirement=requirement,
                raw=version if isinstance(version, str) else str(value),
                path=self.path,
                line=line,
                group=group,
                editable=bool(value.get("develop")),
                syntax="poetry",
                span=span,
            )
        )

    def _line_near(self, key: KeyPath) -> int:
        """The line of the first string found under ``key`` (a table without a version)."""
        starts = [span[0] for path, span in self.spans.items() if path[: len(key)] == key]
        return self.text.count("\n", 0, min(starts)) + 1 if starts else 1

    def check_groups(self, groups: dict[str, Any]) -> None:
        """PEP 735: every ``include-group`` names a group, and includes form no cycle."""

        def visit(group: str, chain: tuple[str, ...]) -> None:
            if group in chain:
                cycle = " -> ".join([*chain[chain.index(group) :], group])
                raise self.error(f"dependency group include cycle: {cycle}", ("dependency-groups",))
            for index, item in enumerate(groups.get(group, [])):
                if isinstance(item, dict):
                    target = item.get("include-group")
                    if not isinstance(target, str) or len(item) != 1:
                        raise self.error(
                            f'expected {{include-group = "..."}}, found {item!r}',
                            ("dependency-groups", group, index),
                        )
                    if target not in groups:
                        raise self.error(
                            f"group '{group}' includes unknown group '{target}'",
                            ("dependency-groups", group),
                        )
                    visit(target, (*chain, group))

        for group in groups:
            visit(group, ())


def read_pyproject(path: Path) -> DependencyFile:
    """Read the dependencies of a pyproject.toml.

    :raises InputError: invalid TOML, requirement or constraint, naming file and line.
    """
    # Imported here: a requirements file (the common input) does not need it (~9 ms).
    import tomlkit
    import tomlkit.exceptions

    text = read_text(path)
    try:
        data: dict[str, Any] = tomlkit.parse(text).unwrap()
    except tomlkit.exceptions.ParseError as exc:
        raise InputError(f"invalid TOML: {exc}", path=path, line=exc.line) from None
    reader = _PyprojectReader(path, text)
    python: SpecifierSet | None = None
    project = reader.table(data, ("project",))
    if "dependencies" in project:
        reader.pep508_list(project["dependencies"], ("project", "dependencies"), None)
    extras = reader.table(project, ("project", "optional-dependencies"))
    for extra, values in extras.items():
        reader.pep508_list(values, ("project", "optional-dependencies", extra), extra)
    if "requires-python" in project:
        key: KeyPath = ("project", "requires-python")
        try:
            python = SpecifierSet(str(project["requires-python"]))
        except InvalidSpecifier as exc:
            raise reader.error(str(exc), key, reader.locate(key, "")[0]) from None
    groups = reader.table(data, ("dependency-groups",))
    for group, values in groups.items():
        reader.pep508_list(values, ("dependency-groups", group), group)
    reader.check_groups(groups)
    poetry = reader.table(reader.table(data, ("tool",)), ("tool", "poetry"))
    if "dependencies" in poetry:
        poetry_python = reader.poetry_table(
            poetry["dependencies"], ("tool", "poetry", "dependencies"), None
        )
        python = python if python is not None else poetry_python
    if "dev-dependencies" in poetry:
        reader.poetry_table(
            poetry["dev-dependencies"], ("tool", "poetry", "dev-dependencies"), "dev"
        )
    for group, table in reader.table(poetry, ("tool", "poetry", "group")).items():
        key = ("tool", "poetry", "group", group, "dependencies")
        if not isinstance(table, dict):
            raise reader.error(f"expected a table, found {table!r}", key[:-1])
        reader.poetry_table(reader.table(table, key), key, group)
    return DependencyFile(
        path=path,
        kind="pyproject",
        entries=tuple(reader.entries),
        python=python,
        texts={path: text},
    )
