"""Read the exact versions a project locks: pinned requirements, uv, Poetry, Pipenv, PEP 751,
conda environment files, conda-lock, or an installed environment.

Every reader keeps the file and 1-based line of each package so findings can point at them.
Readers are pure functions of the text (:func:`parse_lockfile`); :func:`read_lockfile` reads the
file and :func:`read_installed` asks an interpreter for its distributions. Lines that cannot be
understood raise :class:`~torchresolve.errors.InputError` naming file and line, except pins that
are wrong in a way the audit reports (an invalid specifier such as ``>=2.13.0+cpu``), which are
kept with :attr:`LockedPackage.problem` set.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import unquote, urlsplit

from packaging.markers import InvalidMarker, Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import (
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from torchresolve import _subprocess
from torchresolve._compat import tomllib
from torchresolve.errors import InputError, SubprocessError
from torchresolve.sources.conda import CONDA_TO_PYPI

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

__all__ = [
    "LockFile",
    "LockKind",
    "LockedPackage",
    "default_python",
    "detect_kind",
    "parse_lockfile",
    "read_installed",
    "read_lockfile",
]

LockKind = Literal[
    "requirements", "uv", "poetry", "pipfile", "pylock", "conda", "conda-lock", "installed"
]


@dataclass(frozen=True, slots=True, kw_only=True)
class LockedPackage:
    """One package at one locked version, and where it is locked."""

    name: NormalizedName
    """The pip-side name (``torch`` for conda's ``pytorch``)."""
    version: Version | None
    """The exact version; None when not exact or not a PEP 440 version (some conda packages)."""
    raw_version: str = ""
    """The version text as written (``2.1.0``, ``1.1.1w``, ``>=2.13.0+cpu``)."""
    file: Path | None = None
    line: int | None = None
    manager: Literal["pip", "conda"] = "pip"
    conda_name: str | None = None
    """The conda-side name when read from a conda file (``pytorch``, ``cudatoolkit``)."""
    build: str | None = None
    """The conda build string (``py3.9_cuda11.7_cudnn8.5.0_0``)."""
    problem: str | None = None
    """Why this entry is wrong as written (an invalid specifier); None when it is fine."""
    markers: tuple[Marker, ...] = ()
    """Environment markers: the entry applies where any of them holds (empty: everywhere)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LockFile:
    """The locked packages of one file (or installed environment)."""

    path: Path | None
    kind: LockKind
    packages: tuple[LockedPackage, ...]
    requires_python: SpecifierSet | None = None
    """The lock's own Python range, when it declares one."""
    python: Version | None = None
    """The exact Python the lock was made for (conda ``python=3.9``, an installed interpreter)."""
    notes: tuple[str, ...] = field(default_factory=tuple)

    def get(self, name: str) -> list[LockedPackage]:
        """Every locked entry of canonical ``name`` (several under different markers)."""
        return [p for p in self.packages if p.name == name]


# -- detection ---------------------------------------------------------------------------------


def detect_kind(path: Path, text: str) -> LockKind:
    """Tell the kind of a lock file from its name, then its content."""
    name = path.name.lower()
    if name == "uv.lock":
        return "uv"
    if name == "poetry.lock":
        return "poetry"
    if name == "pipfile.lock":
        return "pipfile"
    if re.fullmatch(r"pylock(\.[^.]+)?\.toml", name):
        return "pylock"
    if name.endswith(("conda-lock.yml", "conda-lock.yaml")):
        return "conda-lock"
    head = text.lstrip()[:4000]
    if name.endswith((".yml", ".yaml")):
        if re.search(r"(?m)^package:\s*$", head) and re.search(r"(?m)^metadata:\s*$", text):
            return "conda-lock"
        return "conda"
    if head.startswith("{") and '"_meta"' in head:
        return "pipfile"
    if re.search(r"(?m)^\[\[packages\]\]", text) and "lock-version" in head:
        return "pylock"
    if re.search(r"(?m)^\[\[package\]\]", text):
        if re.search(r"(?m)^\[metadata\]", text):
            return "poetry"
        return "uv"
    if re.search(r"(?m)^dependencies:\s*$", head):
        return "conda"
    return "requirements"


def read_lockfile(path: Path, kind: LockKind | None = None) -> LockFile:
    """Read a lock file of any supported kind (``kind`` None: detected).

    Pinned requirements files follow their ``-r``/``-c`` includes.

    :raises InputError: the file is missing, not text, or malformed (naming file and line).
    """
    text = _read_text(path)
    return parse_lockfile(text, path, kind)


def parse_lockfile(text: str, path: Path, kind: LockKind | None = None) -> LockFile:
    """Parse the text of a lock file; ``path`` is used for messages, kind detection and includes.

    :raises InputError: malformed content, naming ``path`` and the line.
    """
    if kind is None and path.name.lower() in {"pyproject.toml", "setup.py", "setup.cfg", "pipfile"}:
        raise InputError(
            "not a lock file: it declares ranges, not versions; audit its lock "
            "(uv.lock, poetry.lock, Pipfile.lock, pylock.toml) or pinned requirements",
            path=path,
        )
    chosen = detect_kind(path, text) if kind is None else kind
    if chosen == "requirements":
        return _parse_requirements(text, path, seen=set())
    if chosen in {"uv", "poetry", "pylock"}:
        return _parse_toml_lock(text, path, chosen)
    if chosen == "pipfile":
        return _parse_pipfile(text, path)
    if chosen == "conda":
        return _parse_conda_env(text, path)
    if chosen == "conda-lock":
        return _parse_conda_lock(text, path)
    raise InputError(f"cannot parse a lock of kind {chosen!r} from a file", path=path)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError("no such file", path=path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read: {exc}", path=path) from None


# -- requirements ------------------------------------------------------------------------------

_OPTION_WITH_FILE = re.compile(r"^(-r|--requirement|-c|--constraint)(?:\s+|=)(\S+)")
_HASH = re.compile(r"\s--hash[=\s]\S+")
_LOCAL_IN_RANGE = re.compile(r"(>=|<=|>|<|~=|!=)\s*[0-9][^,;\s]*\+[A-Za-z0-9.]+")


def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """Join backslash continuations; yield (first line number, text without comment)."""
    start = 0
    parts: list[str] = []
    for number, raw in enumerate(text.splitlines(), 1):
        if not parts:
            start = number
        line = raw.rstrip()
        if line.endswith("\\"):
            parts.append(line[:-1])
            continue
        parts.append(line)
        joined = " ".join(parts)
        parts = []
        # A comment starts at '#' preceded by whitespace or at the start (pip's rule).
        joined = re.sub(r"(^|\s)#.*$", "", joined).strip()
        if joined:
            yield start, joined
    if parts:
        joined = re.sub(r"(^|\s)#.*$", "", " ".join(parts)).strip()
        if joined:
            yield start, joined


def _parse_requirements(text: str, path: Path, *, seen: set[Path]) -> LockFile:
    seen.add(path.resolve())
    packages: list[LockedPackage] = []
    notes: list[str] = []
    for number, line in _logical_lines(text):
        include = _OPTION_WITH_FILE.match(line)
        if include:
            target = (path.parent / include.group(2)).resolve()
            if target not in seen:
                packages.extend(_parse_requirements(_read_text(target), target, seen=seen).packages)
            continue
        if line.startswith("-"):
            if line.startswith(("-e", "--editable")):
                notes.append(f"{path}:{number}: editable requirement not audited")
            continue  # index and other options do not lock anything
        body = _HASH.sub("", " " + line).strip()
        packages.append(_requirement_entry(body, path, number))
    return LockFile(path=path, kind="requirements", packages=tuple(packages), notes=tuple(notes))


def _requirement_entry(body: str, path: Path, number: int) -> LockedPackage:
    try:
        requirement = Requirement(body)
    except InvalidRequirement as exc:
        bad = _LOCAL_IN_RANGE.search(body)
        head = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", body)
        if bad and head:
            return LockedPackage(
                name=canonicalize_name(head.group(0)),
                version=None,
                raw_version=body[head.end() :].split(";", maxsplit=1)[0].strip(),
                file=path,
                line=number,
                problem=f"{bad.group(0)!r} is invalid: a local version (+...) is only allowed "
                "with == and ===",
            )
        raise InputError(f"not a requirement: {exc}", path=path, line=number) from None
    name = canonicalize_name(requirement.name)
    markers = (requirement.marker,) if requirement.marker is not None else ()
    if requirement.url:
        return LockedPackage(
            name=name,
            version=_version_from_url(requirement.url),
            raw_version=requirement.url,
            file=path,
            line=number,
            markers=markers,
        )
    exact = _exact(requirement.specifier)
    return LockedPackage(
        name=name,
        version=exact,
        raw_version=str(requirement.specifier),
        file=path,
        line=number,
        markers=markers,
    )


def _exact(spec: SpecifierSet) -> Version | None:
    items = list(spec)
    if len(items) == 1 and items[0].operator in {"==", "==="} and "*" not in items[0].version:
        try:
            return Version(items[0].version)
        except InvalidVersion:
            return None
    return None


def _version_from_url(url: str) -> Version | None:
    filename = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
    try:
        return parse_wheel_filename(filename)[1]
    except InvalidWheelFilename:
        return None


# -- TOML locks (uv, Poetry, PEP 751) ----------------------------------------------------------


def _load_toml(text: str, path: Path) -> dict[str, Any]:
    try:
        loaded: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+)", str(exc))
        line = int(match.group(1)) if match else None
        raise InputError(f"not valid TOML: {exc}", path=path, line=line) from None
    return loaded


def _block_lines(text: str, header: str) -> list[int]:
    """Line of the ``name = ...`` key of each ``[[header]]`` block, in order (0 when absent)."""
    lines: list[int] = []
    inside = False
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if stripped.startswith("["):
            if stripped == f"[[{header}]]":
                lines.append(0)
                inside = True
            elif not stripped.startswith(f"[{header}.") and not stripped.startswith(f"[[{header}."):
                inside = False
            continue
        if inside and lines and lines[-1] == 0 and re.match(r"name\s*=", stripped):
            lines[-1] = number
    return lines


def _parse_toml_lock(text: str, path: Path, kind: LockKind) -> LockFile:
    data = _load_toml(text, path)
    header = "packages" if kind == "pylock" else "package"
    entries = data.get(header, [])
    if not isinstance(entries, list):
        raise InputError(f"'{header}' must be an array of tables", path=path)
    lines = _block_lines(text, header)
    packages = []
    for position, entry in enumerate(entries):
        line = lines[position] if position < len(lines) and lines[position] else None
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise InputError(f"{header} entry {position + 1} has no name", path=path, line=line)
        raw = entry.get("version")
        raw_version = raw if isinstance(raw, str) else ""
        # uv: resolution-markers (a list, any holds); PEP 751: marker; Poetry: markers.
        found = entry.get("resolution-markers", entry.get("marker", entry.get("markers")))
        packages.append(
            LockedPackage(
                name=canonicalize_name(entry["name"]),
                version=_version_or_none(raw_version),
                raw_version=raw_version,
                file=path,
                line=line,
                markers=_markers(found, path, line),
            )
        )
    requires: object
    if kind == "poetry":
        metadata = data.get("metadata", {})
        requires = metadata.get("python-versions") if isinstance(metadata, dict) else None
        spec = _poetry_python(requires) if isinstance(requires, str) else None
    else:
        requires = data.get("requires-python")
        spec = _specifier_or_none(requires) if isinstance(requires, str) else None
    return LockFile(path=path, kind=kind, packages=tuple(packages), requires_python=spec)


def _markers(found: object, path: Path, line: int | None) -> tuple[Marker, ...]:
    """Markers written as a string or a list of strings; InputError names a bad one."""
    texts = [found] if isinstance(found, str) else found if isinstance(found, list) else []
    markers = []
    for text in texts:
        if not isinstance(text, str) or not text.strip():
            continue
        try:
            markers.append(Marker(text))
        except InvalidMarker as exc:
            raise InputError(f"invalid marker {text!r}: {exc}", path=path, line=line) from None
    return tuple(markers)


def _version_or_none(text: str) -> Version | None:
    try:
        return Version(text) if text else None
    except InvalidVersion:
        return None


def _specifier_or_none(text: str) -> SpecifierSet | None:
    try:
        return SpecifierSet(text)
    except InvalidSpecifier:
        return None


def _poetry_python(text: str) -> SpecifierSet | None:
    """Poetry's ``^3.8`` / ``~3.8`` / ``3.8.*`` / PEP 440 as a specifier set (first ``||`` arm)."""
    first = text.split("||", maxsplit=1)[0].strip()
    parts: list[str] = []
    for item in re.split(r"[,\s]+", first):
        if not item or item == "*":
            continue
        caret = re.fullmatch(r"\^(\d+)(?:\.(\d+))?(?:\.\d+)?", item)
        tilde = re.fullmatch(r"~(\d+)\.(\d+)(?:\.\d+)?", item)
        if caret:
            parts += [f">={item[1:]}", f"<{int(caret.group(1)) + 1}"]
        elif tilde:
            parts += [f">={item[1:]}", f"<{tilde.group(1)}.{int(tilde.group(2)) + 1}"]
        elif re.fullmatch(r"\d+(\.\d+)*(\.\*)?", item):
            parts.append(f"=={item}")
        else:
            parts.append(item)
    return _specifier_or_none(",".join(parts))


# -- Pipfile.lock ------------------------------------------------------------------------------


_JSON_KEY = re.compile(r'^\s*"([^"]+)"\s*:\s*\{')


def _parse_pipfile(text: str, path: Path) -> LockFile:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {exc.msg}", path=path, line=exc.lineno) from None
    if not isinstance(data, dict):
        raise InputError("a Pipfile.lock must be a JSON object", path=path)
    # One pass over the text finds the line of every package key of each section.
    where: dict[tuple[str, str], int] = {}
    section_now = ""
    for number, raw in enumerate(text.splitlines(), 1):
        key = _JSON_KEY.match(raw)
        if key is None:
            continue
        if (
            key.group(1) in {"default", "develop", "_meta"}
            and len(key.group(0)) - len(key.group(0).lstrip()) <= 4
        ):
            section_now = key.group(1)
        else:
            where.setdefault((section_now, key.group(1)), number)
    packages = []
    for section in ("default", "develop"):
        group = data.get(section, {})
        if not isinstance(group, dict):
            raise InputError(f"'{section}' must be an object", path=path)
        for name, entry in group.items():
            spec = entry.get("version", "") if isinstance(entry, dict) else ""
            line = where.get((section, name))
            found = entry.get("markers") if isinstance(entry, dict) else None
            packages.append(
                LockedPackage(
                    name=canonicalize_name(name),
                    version=_exact(_specifier_or_none(spec) or SpecifierSet()),
                    raw_version=spec,
                    file=path,
                    line=line,
                    markers=_markers(found, path, line),
                )
            )
    meta = data.get("_meta", {})
    requires = meta.get("requires", {}) if isinstance(meta, dict) else {}
    python = requires.get("python_version") if isinstance(requires, dict) else None
    return LockFile(
        path=path,
        kind="pipfile",
        packages=tuple(packages),
        requires_python=_specifier_or_none(f"=={python}.*") if isinstance(python, str) else None,
    )


# -- conda -------------------------------------------------------------------------------------

_CONDA_SPEC = re.compile(
    r"^(?:(?P<channel>[^:\s]+)::)?(?P<name>[A-Za-z0-9_][A-Za-z0-9_.-]*)"
    r"\s*(?P<op>==|=|>=|<=|>|<|!=|~=|\s)?\s*(?P<version>[^=\s]*)?(?:[=\s]+(?P<build>\S+))?$"
)


def _load_yaml(text: str, path: Path) -> Any:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    yaml = YAML(typ="rt")
    try:
        return yaml.load(text)
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise InputError(
            f"not valid YAML: {getattr(exc, 'problem', exc)}", path=path, line=line
        ) from None


def _item_line(seq: Any, index: int) -> int | None:
    try:
        return int(seq.lc.item(index)[0]) + 1
    except (AttributeError, KeyError, TypeError, IndexError):
        return None


def _conda_entry(spec: str, path: Path, line: int | None) -> LockedPackage | None:
    match = _CONDA_SPEC.match(spec.strip())
    if match is None:
        raise InputError(f"not a conda package spec: {spec!r}", path=path, line=line)
    conda_name = match.group("name").lower()
    op = (match.group("op") or "").strip()
    raw = match.group("version") or ""
    exact = None
    if raw and op in {"", "=", "=="} and not any(c in raw for c in "*<>|,"):
        exact = _version_or_none(raw)
    return LockedPackage(
        name=canonicalize_name(CONDA_TO_PYPI.get(conda_name, conda_name)),
        version=exact,
        raw_version=f"{op}{raw}" if op not in {"", "="} else raw,
        file=path,
        line=line,
        manager="conda",
        conda_name=conda_name,
        build=match.group("build"),
    )


def _parse_conda_env(text: str, path: Path) -> LockFile:
    data = _load_yaml(text, path)
    if not isinstance(data, dict) or not isinstance(data.get("dependencies"), list):
        raise InputError("a conda environment file needs a 'dependencies' list", path=path)
    deps = data["dependencies"]
    packages: list[LockedPackage] = []
    python: Version | None = None
    for index, item in enumerate(deps):
        line = _item_line(deps, index)
        if isinstance(item, dict) and isinstance(item.get("pip"), list):
            pip_items = item["pip"]
            for pip_index, pip_item in enumerate(pip_items):
                pip_line = _item_line(pip_items, pip_index)
                pip_text = str(pip_item).strip()
                if pip_text.startswith("-"):
                    continue
                packages.append(_requirement_entry(pip_text, path, pip_line or 0))
            continue
        if not isinstance(item, str):
            raise InputError(f"unexpected dependency entry {item!r}", path=path, line=line)
        entry = _conda_entry(item, path, line)
        if entry is None:
            continue
        if entry.name == "python":
            python = _python_minor(entry.raw_version)
            continue
        packages.append(entry)
    return LockFile(path=path, kind="conda", packages=tuple(packages), python=python)


def _python_minor(text: str) -> Version | None:
    match = re.match(r"(?:==|=)?(3)\.(\d+)", text)
    return Version(f"{match.group(1)}.{match.group(2)}") if match else None


_LOCK_ITEM = re.compile(r"^(?P<indent> *)- name: *(?P<value>.*)$")
_LOCK_KEYS = frozenset({"name", "version", "manager", "platform", "url"})


def _scalar(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        inner = text[1:-1]
        return inner.replace("''", "'") if text[0] == "'" else inner
    return text


def _scan_conda_lock(text: str) -> list[dict[str, Any]] | None:
    """Read the ``package`` list of a conda-lock file written by conda-lock, without YAML.

    conda-lock writes one layout (block style, ``name`` first in every item); a pure-Python
    YAML parse of a 300-package lock takes most of a second, this scan milliseconds. Anything
    outside that layout returns None, and the caller parses the YAML instead.
    """
    lines = text.splitlines()
    try:
        start = lines.index("package:")
    except ValueError:
        return None
    entries: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    key_indent = -1
    for number in range(start + 1, len(lines)):
        raw = lines[number]
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        item = _LOCK_ITEM.match(raw)
        if item is not None:
            current = {"name": _scalar(item.group("value")), "line": number + 1}
            entries.append(current)
            key_indent = len(item.group("indent")) + 2
            continue
        indent = len(raw) - len(raw.lstrip(" "))
        if indent == 0 and not stripped.startswith("-"):
            break  # the next top-level key
        if current is None or indent < key_indent:
            return None
        if indent == key_indent:
            key, colon, value = stripped.partition(":")
            if not colon:
                return None
            if key in _LOCK_KEYS:
                current[key] = _scalar(value)
    return entries or None


def _parse_conda_lock(text: str, path: Path) -> LockFile:
    scanned = _scan_conda_lock(text)
    if scanned is None:
        data = _load_yaml(text, path)
        if not isinstance(data, dict) or not isinstance(data.get("package"), list):
            raise InputError("a conda-lock file needs a 'package' list", path=path)
        items = data["package"]
        scanned = [
            {**{k: str(v) for k, v in e.items() if k in _LOCK_KEYS}, "line": _item_line(items, i)}
            for i, e in enumerate(items)
            if isinstance(e, dict)
        ]
    platforms = sorted({str(e.get("platform")) for e in scanned})
    # One platform is audited: a lock for linux-64 and osx-arm64 legitimately holds CUDA and
    # CPU builds side by side.
    platform = "linux-64" if "linux-64" in platforms else (platforms[0] if platforms else "")
    packages: list[LockedPackage] = []
    python: Version | None = None
    for entry in scanned:
        if str(entry.get("platform")) != platform:
            continue
        name = str(entry.get("name", "")).lower()
        raw = str(entry.get("version", ""))
        manager: Literal["pip", "conda"] = "pip" if entry.get("manager") == "pip" else "conda"
        if name == "python" and manager == "conda":
            python = _python_minor(raw)
            continue
        build = _conda_build_from_url(str(entry.get("url", ""))) if manager == "conda" else None
        packages.append(
            LockedPackage(
                name=canonicalize_name(
                    CONDA_TO_PYPI.get(name, name) if manager == "conda" else name
                ),
                version=_version_or_none(raw),
                raw_version=raw,
                file=path,
                line=entry.get("line"),
                manager=manager,
                conda_name=name if manager == "conda" else None,
                build=build,
            )
        )
    notes = (
        (f"audited platform {platform} of {', '.join(platforms)}",) if len(platforms) > 1 else ()
    )
    return LockFile(
        path=path, kind="conda-lock", packages=tuple(packages), python=python, notes=notes
    )


def _conda_build_from_url(url: str) -> str | None:
    """The build string of a conda package file name (``pytorch-2.1.0-<build>.tar.bz2``)."""
    filename = url.rsplit("/", 1)[-1]
    for suffix in (".tar.bz2", ".conda"):
        if filename.endswith(suffix):
            parts = filename[: -len(suffix)].rsplit("-", 2)
            return parts[2] if len(parts) == 3 else None
    return None


# -- installed environments --------------------------------------------------------------------

_PROBE = """\
import json, sys
from importlib import metadata
seen = []
for dist in metadata.distributions():
    name = dist.metadata["Name"]
    if name:
        seen.append([name, dist.version, str(getattr(dist, "_path", ""))])
print(json.dumps({"python": "%d.%d" % sys.version_info[:2], "packages": seen}))
"""


def default_python(environ: Mapping[str, str] | None = None) -> str:
    """The interpreter of the active environment: ``$VIRTUAL_ENV``/``$CONDA_PREFIX``, else PATH."""
    env = os.environ if environ is None else environ
    for variable in ("VIRTUAL_ENV", "CONDA_PREFIX"):
        root = env.get(variable)
        if root:
            candidate = Path(root) / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
            if candidate.exists():
                return str(candidate)
    found = shutil.which("python3", path=env.get("PATH")) or shutil.which(
        "python", path=env.get("PATH")
    )
    return found or sys.executable


def read_installed(
    python: str | None = None,
    *,
    runner: Any = None,
    timeout: float = 60.0,
) -> LockFile:
    """List the distributions installed for ``python`` (the active environment when None).

    :param runner: :func:`torchresolve._subprocess.run` or a stand-in with its signature.
    :raises InputError: the interpreter cannot be run or prints something unexpected.
    """
    interpreter = python or default_python()
    run = _subprocess.run if runner is None else runner
    try:
        done = run([interpreter, "-I", "-c", _PROBE], timeout=timeout)
        data = json.loads(done.stdout)
        packages = tuple(
            LockedPackage(
                name=canonicalize_name(name),
                version=_version_or_none(version),
                raw_version=version,
                file=None,
                line=None,
            )
            for name, version, _where in data["packages"]
        )
        minor = Version(data["python"])
    except SubprocessError as exc:
        raise InputError(f"cannot list installed packages: {exc}", path=interpreter) from None
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(
            f"unexpected answer from the interpreter: {exc}", path=interpreter
        ) from None
    # A distribution installed twice (two .dist-info) is listed once, first one wins like import.
    unique: dict[NormalizedName, LockedPackage] = {}
    for package in packages:
        unique.setdefault(package.name, package)
    return LockFile(
        path=Path(interpreter),
        kind="installed",
        packages=tuple(unique.values()),
        python=minor,
    )
