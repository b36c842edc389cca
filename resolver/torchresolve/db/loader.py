"""Reading and validating ``data/*.toml`` into a :class:`~torchresolve.db.model.Database`.

Every value is checked as it is read: a wrong type, an unknown key, a missing key or a value
that does not parse (version, specifier, requirement, architecture, date) raises
:class:`~torchresolve.errors.DataError` naming the file and the key path
(``torch[12].variant[3].arch[0]``). The parsed database is cached per process: the CLI
loads it on every run.
"""

from __future__ import annotations

import functools
from datetime import date
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal, TypeVar, cast

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from torchresolve._compat import tomllib
from torchresolve.db._cache import documents_key, read_documents, write_documents
from torchresolve.db.model import (
    Advisory,
    Blocker,
    Change,
    CudaToolkit,
    Database,
    FirstWheel,
    GpuModel,
    MinorCompat,
    Rule,
    TorchRelease,
    Variant,
)
from torchresolve.errors import DataError, InputError
from torchresolve.target import PLATFORMS, GpuArch, Platform, parse_arch

if TYPE_CHECKING:
    from collections.abc import Callable
    from importlib.abc import Traversable

__all__ = ["DATA_FILES", "load_database"]

DATA_FILES: Final[tuple[str, ...]] = (
    "torch.toml",
    "cuda.toml",
    "gpus.toml",
    "ecosystem.toml",
    "wheels.toml",
    "changes.toml",
    "advisories.toml",
    "blockers.toml",
)
"""The files of the database; ``REQUIRED_FILES`` must exist, the others load as empty."""

_T = TypeVar("_T")

REQUIRED_FILES: Final[frozenset[str]] = frozenset({"torch.toml", "cuda.toml", "gpus.toml"})

_RULE_KINDS = frozenset({"numpy-abi", "runtime-min", "python-range", "pairing", "import-failure"})
_TYPE_NAMES = {
    str: "a string",
    int: "an integer",
    list: "an array",
    dict: "a table",
    date: "a date",
    bool: "a boolean",
    float: "a number",
}


def _type_name(value: object) -> str:
    for kind, name in _TYPE_NAMES.items():
        if type(value) is kind:
            return name
    return type(value).__name__


class _Table:
    """One TOML table being read, remembering which keys were used."""

    def __init__(self, data: object, *, file: str, key: str) -> None:
        self.file = file
        self.key = key
        if not isinstance(data, dict):
            raise DataError(f"expected a table, got {_type_name(data)}", path=file, key=key)
        self.data: dict[str, Any] = data
        self.used: set[str] = set()

    def path(self, name: str) -> str:
        return f"{self.key}.{name}" if self.key else name

    def fail(self, name: str, problem: str) -> DataError:
        return DataError(problem, path=self.file, key=self.path(name))

    def raw(self, name: str, kind: type, *, required: bool) -> Any:
        self.used.add(name)
        if name not in self.data:
            if required:
                raise self.fail(name, "missing required key")
            return None
        value = self.data[name]
        if type(value) is not kind:
            raise self.fail(name, f"expected {_TYPE_NAMES[kind]}, got {_type_name(value)}")
        return value

    def text(self, name: str) -> str:
        return cast("str", self.raw(name, str, required=True))

    def opt_text(self, name: str) -> str | None:
        return cast("str | None", self.raw(name, str, required=False))

    def integer(self, name: str) -> int:
        return cast("int", self.raw(name, int, required=True))

    def day(self, name: str) -> date:
        return cast("date", self.raw(name, date, required=True))

    def version(self, name: str, *, required: bool = True) -> Version | None:
        text = self.raw(name, str, required=required)
        return None if text is None else _parse(self.file, self.path(name), text, _version)

    def req_version(self, name: str) -> Version:
        version = self.version(name)
        assert version is not None  # required=True raised otherwise
        return version

    def choice(self, name: str, choices: frozenset[str]) -> str:
        text = self.text(name)
        if text not in choices:
            expected = ", ".join(sorted(choices))
            raise self.fail(name, f"{text!r} is not one of {expected}")
        return text

    def items(self, name: str, kind: type, *, required: bool) -> list[tuple[str, Any]]:
        """The elements of array ``name`` with their key paths, each checked to be ``kind``."""
        values = self.raw(name, list, required=required) or []
        out: list[tuple[str, Any]] = []
        for i, value in enumerate(values):
            where = f"{self.path(name)}[{i}]"
            if type(value) is not kind:
                raise DataError(
                    f"expected {_TYPE_NAMES[kind]}, got {_type_name(value)}",
                    path=self.file,
                    key=where,
                )
            out.append((where, value))
        return out

    def tables(self, name: str) -> list[_Table]:
        return [
            _Table(value, file=self.file, key=where)
            for where, value in self.items(name, dict, required=False)
        ]

    def sub(self, name: str, *, required: bool) -> _Table | None:
        value = self.raw(name, dict, required=required)
        return None if value is None else _Table(value, file=self.file, key=self.path(name))

    def finish(self) -> None:
        """Reject keys nobody read: a typo must not silently drop a fact."""
        for name in self.data:
            if name not in self.used:
                raise self.fail(name, "unknown key")


def _version(text: str) -> Version:
    try:
        return Version(text)
    except InvalidVersion as exc:
        raise ValueError(f"{text!r} is not a valid version") from exc


def _specifier(text: str) -> SpecifierSet:
    try:
        return SpecifierSet(text)
    except InvalidSpecifier as exc:
        raise ValueError(f"{text!r} is not a valid version specifier") from exc


def _requirement(text: str) -> Requirement:
    try:
        return Requirement(text)
    except InvalidRequirement as exc:
        raise ValueError(f"{text!r} is not a valid PEP 508 requirement") from exc


def _python(text: str) -> Version:
    version = _version(text)
    # CPython 2.7 is a fact of the oldest releases (torch 1.4.0 has cp27 wheels).
    if version.major not in (2, 3) or len(version.release) != 2:
        raise ValueError(f'{text!r} is not a Python version (expected "3.X")')
    return version


def _arch(text: str, prefix: str) -> GpuArch:
    if not text.startswith(prefix):
        raise ValueError(f"{text!r} is not an architecture (expected {prefix}XY)")
    try:
        return parse_arch(text)
    except InputError as exc:
        raise ValueError(f"{text!r} is not an architecture (expected {prefix}XY)") from exc


def _parse(file: str, key: str, text: str, parser: Callable[[str], _T]) -> _T:
    try:
        return parser(text)
    except ValueError as exc:
        raise DataError(str(exc), path=file, key=key) from exc


# -- per file -----------------------------------------------------------------------------


def _variant(table: _Table) -> Variant:
    arch: list[GpuArch] = []
    specific: list[str] = []
    for where, text in table.items("arch", str, required=True):
        gpu = _parse(table.file, where, text, lambda t: _arch(t, "sm_"))
        # sm_90a-style cubins run only on exactly that GPU: they give no compatibility.
        if text[-1].isalpha():
            specific.append(text)
        else:
            arch.append(gpu)
    ptx = [
        _parse(table.file, where, text, lambda t: _arch(t, "compute_"))
        for where, text in table.items("ptx", str, required=False)
        if not text[-1].isalpha()
    ]
    variant = Variant(
        name=table.text("name"),
        arch=tuple(sorted(set(arch))),
        arch_specific=tuple(specific),
        ptx=tuple(sorted(set(ptx))),
        cudnn=table.opt_text("cudnn"),
        nccl=table.opt_text("nccl"),
        source=table.text("source"),
    )
    table.finish()
    return variant


def _release(table: _Table) -> TorchRelease:
    version = table.req_version("version")
    python: dict[Platform, tuple[Version, ...]] = {}
    py_table = table.sub("python", required=True)
    assert py_table is not None
    for platform in PLATFORMS:
        if platform in py_table.data:
            python[platform] = tuple(
                _parse(table.file, where, text, _python)
                for where, text in py_table.items(platform, str, required=True)
            )
    py_table.finish()
    variants: dict[str, Variant] = {}
    for sub in table.tables("variant"):
        variant = _variant(sub)
        if variant.name in variants:
            raise DataError(f"duplicate variant {variant.name!r}", path=sub.file, key=sub.key)
        variants[variant.name] = variant
    pypi_variant = table.text("pypi_variant")
    if variants and pypi_variant not in variants:
        raise table.fail("pypi_variant", f"{pypi_variant!r} is not one of the variants listed")
    numpy_abi = table.integer("numpy_abi")
    if numpy_abi not in (1, 2):
        raise table.fail("numpy_abi", f"{numpy_abi} is not a numpy C API major (1 or 2)")
    sources: dict[str, str] = {}
    src_table = table.sub("sources", required=False)
    if src_table is not None:
        for name in src_table.data:
            sources[name] = src_table.text(name)
    release = TorchRelease(
        version=version,
        released=table.day("released"),
        python=python,
        pypi_variant=pypi_variant,
        variants=variants,
        numpy_abi=numpy_abi,
        torchvision=table.version("torchvision", required=False),
        torchaudio=table.version("torchaudio", required=False),
        torchtext=table.version("torchtext", required=False),
        torchdata=table.version("torchdata", required=False),
        sources=sources,
    )
    table.finish()
    return release


def _read_torch(root: _Table) -> tuple[TorchRelease, ...]:
    releases: dict[Version, TorchRelease] = {}
    for table in root.tables("torch"):
        release = _release(table)
        if release.version in releases:
            raise DataError(
                f"duplicate torch release {release.version}", path=table.file, key=table.key
            )
        releases[release.version] = release
    return tuple(releases[v] for v in sorted(releases))


def _read_gpus(root: _Table) -> tuple[GpuModel, ...]:
    models = []
    for table in root.tables("gpu"):
        capability = table.text("capability")
        arch = _parse(table.file, table.path("capability"), capability, _capability)
        models.append(
            GpuModel(
                name=table.text("name"),
                aliases=tuple(text for _, text in table.items("aliases", str, required=False)),
                arch=arch,
                family=table.opt_text("family") or "",
                source=table.text("source"),
            )
        )
        table.finish()
    return tuple(models)


def _capability(text: str) -> GpuArch:
    parts = text.split(".")
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise ValueError(f'{text!r} is not a compute capability (expected "X.Y")')
    return GpuArch(int(parts[0]), int(parts[1]))


def _read_cuda(root: _Table) -> tuple[tuple[CudaToolkit, ...], tuple[MinorCompat, ...]]:
    toolkits = []
    for table in root.tables("cuda"):
        toolkits.append(
            CudaToolkit(
                version=table.req_version("version"),
                min_driver_linux=table.req_version("min_driver_linux"),
                min_driver_windows=table.version("min_driver_windows", required=False),
                source=table.text("source"),
            )
        )
        table.finish()
    compat = []
    for table in root.tables("minor_compat"):
        compat.append(
            MinorCompat(
                major=table.integer("major"),
                min_driver_linux=table.req_version("min_driver_linux"),
                min_driver_windows=table.version("min_driver_windows", required=False),
                source=table.text("source"),
            )
        )
        table.finish()
    return tuple(sorted(toolkits, key=lambda t: t.version)), tuple(compat)


def _read_rules(root: _Table) -> tuple[Rule, ...]:
    rules: list[Rule] = []
    seen: set[str] = set()
    for table in root.tables("rule"):
        rule_id = table.text("id")
        if rule_id in seen:
            raise table.fail("id", f"duplicate rule id {rule_id!r}")
        seen.add(rule_id)
        rules.append(
            Rule(
                id=rule_id,
                when=_parse(table.file, table.path("when"), table.text("when"), _requirement),
                require=_parse(
                    table.file, table.path("require"), table.text("require"), _requirement
                ),
                kind=table.choice("kind", _RULE_KINDS),
                severity=cast(
                    "Literal['error', 'warning']",
                    table.choice("severity", frozenset({"error", "warning"})),
                ),
                reason=table.text("reason"),
                source=table.text("source"),
            )
        )
        table.finish()
    return tuple(rules)


def _read_wheels(root: _Table) -> tuple[FirstWheel, ...]:
    entries = []
    for table in root.tables("first_wheel"):
        entries.append(
            FirstWheel(
                package=canonicalize_name(table.text("package")),
                python=_parse(table.file, table.path("python"), table.text("python"), _python),
                version=table.req_version("version"),
                source=table.text("source"),
            )
        )
        table.finish()
    return tuple(entries)


def _read_changes(root: _Table) -> tuple[Change, ...]:
    entries = []
    for table in root.tables("change"):
        entries.append(
            Change(
                package=canonicalize_name(table.text("package")),
                version=table.req_version("version"),
                summary=table.text("summary"),
                source=table.text("source"),
            )
        )
        table.finish()
    return tuple(sorted(entries, key=lambda c: (c.package, c.version)))


def _read_advisories(root: _Table) -> tuple[Advisory, ...]:
    entries = []
    for table in root.tables("advisory"):
        entries.append(
            Advisory(
                id=table.text("id"),
                package=canonicalize_name(table.text("package")),
                affected=_parse(
                    table.file, table.path("affected"), table.text("affected"), _specifier
                ),
                fixed=table.version("fixed", required=False),
                summary=table.text("summary"),
                source=table.text("source"),
            )
        )
        table.finish()
    return tuple(entries)


def _read_blockers(root: _Table) -> tuple[Blocker, ...]:
    entries = []
    for table in root.tables("blocker"):
        successor = table.opt_text("successor")
        last_python = table.opt_text("last_python")
        entries.append(
            Blocker(
                package=canonicalize_name(table.text("package")),
                kind=cast(
                    "Literal['placeholder', 'renamed', 'abandoned']",
                    table.choice("kind", frozenset({"placeholder", "renamed", "abandoned"})),
                ),
                successor=None if successor is None else canonicalize_name(successor),
                last_python=None
                if last_python is None
                else _parse(table.file, table.path("last_python"), last_python, _python),
                reason=table.text("reason"),
                source=table.text("source"),
            )
        )
        table.finish()
    return tuple(entries)


# -- entry point --------------------------------------------------------------------------


def _read_bytes(source: Traversable, name: str) -> bytes | None:
    """The bytes of file ``name``, or ``None`` when an optional file is absent."""
    entry = source / name
    if not entry.is_file():
        if name in REQUIRED_FILES:
            raise DataError("file is missing", path=str(entry))
        return None
    return entry.read_bytes()


def _parse_toml(label: str, body: bytes) -> dict[str, Any]:
    try:
        document: dict[str, Any] = tomllib.loads(body.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise DataError(f"not UTF-8 text: {exc}", path=label) from exc
    except tomllib.TOMLDecodeError as exc:
        raise DataError(f"not valid TOML: {exc}", path=label) from exc
    return document


def _documents(
    source: Traversable, cache_root: Path | None
) -> tuple[dict[str, dict[str, Any] | None], str]:
    """The parsed TOML document of every data file (``None`` for an absent optional file),
    and the digest of the files' names and bytes.

    With ``cache_root``, documents stored for files of the same bytes are read back instead
    of parsing the TOML again (see :mod:`torchresolve.db._cache`), and new ones are stored.
    """
    files = {name: _read_bytes(source, name) for name in DATA_FILES}
    key = documents_key(files)
    if cache_root is not None:
        stored = read_documents(cache_root, key, DATA_FILES)
        if stored is not None:
            return stored, key
    documents = {
        name: None if body is None else _parse_toml(str(source / name), body)
        for name, body in files.items()
    }
    if cache_root is not None:
        write_documents(cache_root, key, documents)
    return documents, key


def _parse_database(source: Traversable, cache_root: Path | None = None) -> Database:
    empty = _Table({}, file="", key="")
    documents, digest = _documents(source, cache_root)
    tables = {
        name: empty if document is None else _Table(document, file=str(source / name), key="")
        for name, document in documents.items()
    }
    releases = _read_torch(tables["torch.toml"])
    toolkits, compat = _read_cuda(tables["cuda.toml"])
    database = Database(
        torch_releases=releases,
        gpus=_read_gpus(tables["gpus.toml"]),
        cuda_toolkits=toolkits,
        minor_compat=compat,
        rules=_read_rules(tables["ecosystem.toml"]),
        first_wheels=_read_wheels(tables["wheels.toml"]),
        changes=_read_changes(tables["changes.toml"]),
        advisories=_read_advisories(tables["advisories.toml"]),
        blockers=_read_blockers(tables["blockers.toml"]),
        digest=digest,
    )
    for table in tables.values():
        table.finish()
    return database


@functools.lru_cache(maxsize=8)
def _cached(folder: str | None, stamp: tuple[float, ...], cache_root: str | None) -> Database:
    # ``stamp`` (the files' mtimes) only keys the cache: an edited fixture is read again.
    del stamp
    source: Traversable = resources.files("torchresolve._data") if folder is None else Path(folder)
    return _parse_database(source, None if cache_root is None else Path(cache_root))


def load_database(
    data_dir: Path | None = None, *, cache_dir: Path | Literal[False] | None = None
) -> Database:
    """Load and validate the database; parsed once per process and folder.

    :param data_dir: a folder of ``*.toml`` files; ``None`` reads the shipped
        ``torchresolve._data`` package.
    :param cache_dir: the torchresolve cache folder, where the files' parsed TOML is kept
        (under ``db/``, keyed by the files' sha256) so later processes skip the TOML parser;
        ``None`` uses :func:`~torchresolve.index.cache.default_cache_dir`, ``False`` none.
        The values are validated on every load either way.
    :raises DataError: a file is missing, not TOML, or has a wrong, unknown or missing key.
    """
    if cache_dir is None:
        from torchresolve.index.cache import default_cache_dir

        cache_dir = default_cache_dir()
    root = None if cache_dir is False else str(cache_dir)
    if data_dir is None:
        return _cached(None, (), root)
    folder = data_dir.resolve()
    stamp = tuple(
        (folder / name).stat().st_mtime_ns if (folder / name).is_file() else -1.0
        for name in DATA_FILES
    )
    return _cached(str(folder), stamp, root)
