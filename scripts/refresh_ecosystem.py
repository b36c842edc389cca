"""Re-derive from the live package index what it can confirm about the ecosystem data.

The curated files ``data/wheels.toml``, ``data/ecosystem.toml`` and ``data/blockers.toml`` hold
facts that the package index can confirm: the first release of a package with CPython wheels for
a given interpreter, the ``tokenizers`` / ``huggingface-hub`` / ``torch`` ranges transformers
releases declare, and that placeholder projects still refuse to install. :func:`check` re-derives
those facts and returns one line per disagreement; ``refresh_data.py`` (the torch data refresh)
calls it.

Only JSON pages (PEP 691), the small PEP 658 ``.metadata`` files and HTTP range reads of wheels
are fetched; no large file is ever downloaded whole.

Run standalone::

    python scripts/refresh_ecosystem.py                 # print disagreements, exit 1 if any
    python scripts/refresh_ecosystem.py --write-wheels data/wheels.toml   # regenerate the floors
"""

from __future__ import annotations

import argparse
import email.parser
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

import requests
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import (
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

# Run as a script, the package comes from this checkout's source root.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "resolver"))

from torchresolve.index import load_index_config
from torchresolve.index.http import Fetcher
from torchresolve.index.wheelzip import open_remote_wheel, read_wheel_metadata

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

from torchresolve._compat import tomllib

__all__ = [
    "FIRST_WHEEL_PACKAGES",
    "MAX_DOWNLOAD",
    "PYTHONS",
    "FirstWheel",
    "IndexReader",
    "check",
    "declared_ranges",
    "default_index_url",
    "first_wheels",
    "main",
    "platform_of",
    "render_wheels",
]

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
PYTHONS: tuple[str, ...] = ("3.8", "3.9", "3.10", "3.11", "3.12", "3.13", "3.14")
FIRST_WHEEL_PACKAGES: tuple[str, ...] = (
    "numpy",
    "scipy",
    "pandas",
    "scikit-learn",
    "pillow",
    "tokenizers",
    "sentencepiece",
    "h5py",
    "matplotlib",
    "opencv-python",
    "torch",
)
# Dependencies of transformers whose declared ranges ecosystem.toml records.
DECLARED = ("tokenizers", "huggingface-hub", "torch", "numpy")
# Transformers releases re-read by check(): one per minor series that the rules distinguish.
SAMPLE_TRANSFORMERS: tuple[str, ...] = (
    "2.5.1",
    "3.5.1",
    "4.0.0",
    "4.10.0",
    "4.12.0",
    "4.20.0",
    "4.30.0",
    "4.36.0",
    "4.40.0",
    "4.42.0",
    "4.46.0",
    "4.50.0",
    "4.52.0",
    "4.57.0",
    "5.0.0",
    "5.16.0",
)
_JSON = "application/vnd.pypi.simple.v1+json"
# A wheel is downloaded whole only when the server ignores range requests and the file is at
# most this large. It must exceed the tail that torchresolve.index.wheelzip asks for (64 KiB):
# the fetcher's limit applies to partial answers too.
MAX_DOWNLOAD = 4 * 1024 * 1024


def default_index_url(environ: Mapping[str, str] | None = None) -> str:
    """The simple index pip would use (``PIP_INDEX_URL``, pip.conf, else PyPI's), ending in ``/``.

    Delegates to :func:`torchresolve.index.load_index_config`, the one implementation of pip's
    order of precedence.

    :param environ: the environment; ``None`` reads ``os.environ``.
    """
    return load_index_config(environ=environ).index_url.rstrip("/") + "/"


def platform_of(tag_platform: str) -> tuple[str, ...]:
    """Map a wheel platform tag to database platform names (none when not tracked)."""
    if tag_platform.startswith(("manylinux", "musllinux", "linux")):
        if tag_platform.startswith("musllinux"):
            return ()
        if tag_platform.endswith("_x86_64"):
            return ("linux_x86_64",)
        if tag_platform.endswith("_aarch64"):
            return ("linux_aarch64",)
        return ()
    if tag_platform.startswith("macosx"):
        if tag_platform.endswith("_arm64"):
            return ("macos_arm64",)
        if tag_platform.endswith("_x86_64"):
            return ("macos_x86_64",)
        if tag_platform.endswith("_universal2"):
            return ("macos_arm64", "macos_x86_64")
        return ()
    if tag_platform == "win_amd64":
        return ("windows",)
    return ()


@dataclass(slots=True)
class IndexReader:
    """Reads project pages, wheel metadata and single wheel members from a simple index.

    :param session: the HTTP session every request goes through.
    :param index_url: the simple index root, ending in ``/``.
    :param timeout: seconds per request.
    """

    session: requests.Session
    index_url: str
    timeout: float = 30.0
    _pages: dict[NormalizedName, list[dict[str, Any]]] = field(default_factory=dict)
    _fetcher: Fetcher = field(init=False)

    def __post_init__(self) -> None:
        self._fetcher = Fetcher(self.session, timeout=self.timeout)

    def files(self, project: str) -> list[dict[str, Any]]:
        """The PEP 691 file entries of ``project`` (cached per reader).

        :raises requests.HTTPError: when the index answers with an error.
        """
        name = canonicalize_name(project)
        if name not in self._pages:
            response = self.session.get(
                f"{self.index_url}{name}/", headers={"Accept": _JSON}, timeout=self.timeout
            )
            response.raise_for_status()
            files = list(response.json()["files"])
            # PEP 691 allows file URLs relative to the page; make them absolute once here.
            for entry in files:
                entry["url"] = urljoin(response.url, str(entry["url"]))
            self._pages[name] = files
        return self._pages[name]

    def wheel(self, project: str, version: str) -> dict[str, Any] | None:
        """The first pure or manylinux x86_64 wheel of ``project==version``, if any."""
        wanted = Version(version)
        best: dict[str, Any] | None = None
        for entry in self.files(project):
            parsed = _parse_wheel(entry["filename"])
            if parsed is None or parsed[0] != wanted:
                continue
            platforms = {tag.platform for tag in parsed[1]}
            if "any" in platforms:
                return entry
            if best is None and any(
                p.endswith("_x86_64") and p.startswith("manylinux") for p in platforms
            ):
                best = entry
        return best

    def metadata(self, entry: Mapping[str, Any]) -> email.message.Message:
        """The core metadata of a wheel: PEP 658 file, else a range read of the archive."""
        url = str(entry["url"])
        response = self.session.get(url + ".metadata", timeout=self.timeout)
        if response.status_code == 200:
            text = response.text
        else:
            project = Path(str(entry["filename"])).name.split("-")[0]
            text = read_wheel_metadata(
                self._fetcher, url, project=project, max_download=MAX_DOWNLOAD
            ).text
        return email.parser.Parser().parsestr(text, headersonly=True)

    def member(self, entry: Mapping[str, Any], member: str) -> bytes:
        """One file inside a wheel, read with HTTP range requests.

        :raises KeyError: when the wheel has no such member.
        :raises IndexQueryError: when the server fails or ignores range requests.
        """
        with open_remote_wheel(self._fetcher, str(entry["url"])) as archive:
            return archive.read(member)


def _parse_wheel(filename: str) -> tuple[Version, frozenset[Any]] | None:
    if not filename.endswith(".whl"):
        return None
    try:
        _name, version, _build, tags = parse_wheel_filename(filename)
    except (InvalidWheelFilename, InvalidVersion):
        return None
    return version, tags


def _serves_cpython(tags: Iterable[Any], python: str) -> bool:
    """Whether a wheel with ``tags`` installs on CPython ``python`` on glibc Linux x86_64.

    Free-threaded builds (``cp313t``) do not count: they serve a different interpreter.
    """
    major, minor = (int(part) for part in python.split("."))
    nodot = f"{major}{minor}"
    for tag in tags:
        # glibc Linux only: musllinux wheels serve Alpine-like systems, not the usual target.
        if "linux_x86_64" not in platform_of(tag.platform):
            continue
        if tag.interpreter == f"cp{nodot}" and tag.abi in (f"cp{nodot}", f"cp{nodot}m"):
            return True
        if tag.abi == "abi3" and tag.interpreter.startswith("cp3"):
            floor = int(tag.interpreter[3:])
            if floor <= minor and major == 3:
                return True
    return False


@dataclass(frozen=True, slots=True, kw_only=True)
class FirstWheel:
    """The first final release of ``package`` with a Linux x86_64 wheel for ``python``."""

    package: str
    python: str
    version: Version


def first_wheels(
    reader: IndexReader,
    packages: Sequence[str] = FIRST_WHEEL_PACKAGES,
    pythons: Sequence[str] = PYTHONS,
) -> list[FirstWheel]:
    """Compute the first release with CPython wheels per package and interpreter.

    Pre-releases and yanked files are ignored; releases are ordered by version, not date (a
    1.x bug-fix uploaded after 2.0 does not count as "first" unless it is the lowest version).
    A package with no wheel yet for an interpreter gets no entry.
    """
    found: list[FirstWheel] = []
    for package in packages:
        versions: dict[Version, list[tuple[frozenset[Any], SpecifierSet]]] = {}
        for entry in reader.files(package):
            if entry.get("yanked"):
                continue
            parsed = _parse_wheel(str(entry["filename"]))
            if parsed is None or parsed[0].is_prerelease or parsed[0].is_devrelease:
                continue
            try:
                requires = SpecifierSet(str(entry.get("requires-python") or ""))
            except InvalidSpecifier:  # a few old uploads carry junk; pip ignores it too
                requires = SpecifierSet()
            versions.setdefault(parsed[0], []).append((parsed[1], requires))
        for python in pythons:
            first = next(
                (
                    version
                    for version in sorted(versions)
                    if any(
                        _serves_cpython(tags, python) and requires.contains(python)
                        for tags, requires in versions[version]
                    )
                ),
                None,
            )
            if first is not None:
                found.append(FirstWheel(package=package, python=python, version=first))
    return found


def render_wheels(floors: Sequence[FirstWheel]) -> str:
    """The text of ``data/wheels.toml`` for ``floors`` (pure)."""
    lines = [
        "# First release with CPython wheels (Linux x86_64, manylinux) per interpreter.",
        "# Generated by scripts/refresh_ecosystem.py --write-wheels from the index's file lists;",
        "# abi3 wheels count for every interpreter at or above their floor, free-threaded",
        "# (cp3XXt) wheels do not count. Pre-releases and yanked files are ignored.",
        "",
    ]
    for floor in floors:
        lines += [
            "[[first_wheel]]",
            f'package = "{floor.package}"',
            f'python = "{floor.python}"',
            f'version = "{floor.version}"',
            'source = "index metadata: wheel filenames"',
            "",
        ]
    return "\n".join(lines)


def declared_ranges(reader: IndexReader, version: str) -> dict[str, str]:
    """What the wheel of ``transformers==version`` declares.

    :returns: ``{"python": Requires-Python, dep: specifier}`` for each name in ``DECLARED``
        (extras-only requirements included: transformers declares torch through an extra).
    :raises LookupError: when the release has no wheel.
    """
    entry = reader.wheel("transformers", version)
    if entry is None:
        raise LookupError(f"transformers {version} has no wheel on the index")
    message = reader.metadata(entry)
    declared: dict[str, str] = {}
    if message.get("Requires-Python"):
        declared["python"] = str(SpecifierSet(str(message["Requires-Python"])))
    for line in message.get_all("Requires-Dist") or []:
        try:
            requirement = Requirement(str(line))
        except InvalidRequirement:
            continue
        name = canonicalize_name(requirement.name)
        if name in DECLARED and name not in declared:
            declared[name] = str(requirement.specifier)
    return declared


def _load(name: str, data_dir: Path) -> dict[str, Any]:
    with (data_dir / name).open("rb") as handle:
        data: dict[str, Any] = tomllib.load(handle)
    return data


def _check_wheels(reader: IndexReader, data_dir: Path) -> list[str]:
    recorded = _load("wheels.toml", data_dir).get("first_wheel", [])
    packages = sorted({str(item["package"]) for item in recorded})
    derived = {(f.package, f.python): f.version for f in first_wheels(reader, packages)}
    problems: list[str] = []
    seen: set[tuple[str, str]] = set()
    for item in recorded:
        key = (str(item["package"]), str(item["python"]))
        seen.add(key)
        have = Version(str(item["version"]))
        want = derived.get(key)
        if want is None:
            problems.append(f"wheels.toml: {key[0]} cp{key[1]}: index has no such wheel")
        elif want != have:
            problems.append(f"wheels.toml: {key[0]} cp{key[1]}: recorded {have}, index {want}")
    for key, version in sorted(derived.items()):
        if key not in seen:
            problems.append(f"wheels.toml: {key[0]} cp{key[1]}: missing, index says {version}")
    return problems


def _check_declared(
    reader: IndexReader, data_dir: Path, sample: Sequence[str] | None = None
) -> list[str]:
    """Compare the "as declared" rules of ecosystem.toml with the sampled wheels' metadata.

    A transformers rule whose source starts with ``index metadata`` says: every release matching
    ``when`` declares ``require`` (``python`` meaning Requires-Python). The check reads the
    sampled releases plus the newest one and reports each such rule whose specifier differs from
    what the release declares (compared as specifier sets, so the order of clauses is free).
    """
    rules = _load("ecosystem.toml", data_dir).get("rule", [])
    problems: list[str] = []
    releases = sorted(
        {
            parsed[0]
            for parsed in (_parse_wheel(str(e["filename"])) for e in reader.files("transformers"))
            if parsed is not None and not parsed[0].is_prerelease
        }
    )
    # The newest release too: the open-ended rules ("transformers>=5.20") must still hold.
    chosen = list(SAMPLE_TRANSFORMERS if sample is None else sample)
    if releases and str(releases[-1]) not in chosen:
        chosen.append(str(releases[-1]))
    for version in chosen:
        try:
            declared = declared_ranges(reader, version)
        except LookupError as exc:
            problems.append(f"ecosystem.toml: {exc}")
            continue
        for rule in rules:
            if not str(rule.get("source", "")).startswith("index metadata"):
                continue
            when = Requirement(str(rule["when"]))
            if canonicalize_name(when.name) != "transformers":
                continue
            if not when.specifier.contains(version, prereleases=True):
                continue
            require = Requirement(str(rule["require"]))
            name = canonicalize_name(require.name)
            key = "python" if name == "python" else name
            have = declared.get(key)
            if have is None or SpecifierSet(have) != require.specifier:
                problems.append(
                    f"ecosystem.toml: rule {rule['id']}: transformers {version} declares "
                    f"{key}{have or ' (nothing)'}, rule says {require}"
                )
    return problems


def _newest_version(entries: Iterable[Mapping[str, Any]]) -> tuple[Version, bool] | None:
    """The newest final version among ``entries`` and whether it has any wheel."""
    versions: dict[Version, bool] = {}
    for entry in entries:
        filename = str(entry["filename"])
        parsed = _parse_wheel(filename)
        if parsed is not None:
            versions[parsed[0]] = True
            continue
        stem = filename.removesuffix(".tar.gz").removesuffix(".zip")
        try:
            version = Version(stem.rsplit("-", 1)[1])
        except (IndexError, InvalidVersion):
            continue
        versions.setdefault(version, False)
    if not versions:
        return None
    newest = max(versions)
    return newest, versions[newest]


def _check_blockers(reader: IndexReader, data_dir: Path) -> list[str]:
    """Placeholders must still ship no wheel in their newest release, renamed projects that
    do not exist must still not exist, and nothing may have gained wheels for an interpreter
    newer than ``last_python``."""
    problems: list[str] = []
    for item in _load("blockers.toml", data_dir).get("blocker", []):
        package = str(item["package"])
        try:
            entries = reader.files(package)
        except requests.HTTPError as exc:
            if exc.response is not None and exc.response.status_code == 404:
                if item["kind"] != "renamed":
                    problems.append(f"blockers.toml: {package}: no longer on the index")
                continue
            raise
        newest = _newest_version(entries)
        if item["kind"] == "placeholder" and newest is not None and newest[1]:
            problems.append(
                f"blockers.toml: {package}: newest release {newest[0]} ships wheels; "
                "it may no longer be a placeholder"
            )
        last_python = item.get("last_python")
        if last_python is None:
            continue
        newer = [p for p in PYTHONS if Version(p) > Version(str(last_python))]
        for python in newer:
            if any(
                parsed is not None and _serves_cpython(parsed[1], python)
                for parsed in (_parse_wheel(str(e["filename"])) for e in entries)
            ):
                problems.append(
                    f"blockers.toml: {package}: has cp{python} wheels, recorded last_python "
                    f"{last_python}"
                )
                break
    return problems


def check(
    *,
    session: requests.Session | None = None,
    index_url: str | None = None,
    data_dir: Path | None = None,
    timeout: float = 30.0,
    transformers_sample: Sequence[str] | None = None,
) -> list[str]:
    """Re-derive what the index can confirm and return the disagreements, one line each.

    :param session: HTTP session; ``None`` makes one.
    :param index_url: simple index root; ``None`` uses :func:`default_index_url`.
    :param data_dir: folder of the TOML files; ``None`` is the repository's ``data/``.
    :param timeout: seconds per request.
    :param transformers_sample: transformers releases whose declared ranges are re-read
        (the newest release is always added); ``None`` uses ``SAMPLE_TRANSFORMERS``.
    :returns: an empty list when the data agrees with the index.
    :raises requests.RequestException: when the index cannot be reached.
    """
    reader = IndexReader(
        session=session or requests.Session(),
        index_url=index_url or default_index_url(),
        timeout=timeout,
    )
    folder = data_dir or DATA_DIR
    return [
        *_check_wheels(reader, folder),
        *_check_declared(reader, folder, transformers_sample),
        *_check_blockers(reader, folder),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: print the disagreements (exit 1 when any) or regenerate wheels.toml."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--index-url", default=None)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument(
        "--write-wheels", metavar="PATH", default=None, help="regenerate wheels.toml ('-' = stdout)"
    )
    parser.add_argument(
        "--declared",
        metavar="VERSION",
        nargs="*",
        default=None,
        help="print what these transformers releases declare",
    )
    args = parser.parse_args(argv)
    session = requests.Session()
    reader = IndexReader(session=session, index_url=args.index_url or default_index_url())
    if args.write_wheels:
        from torchresolve._fileio import write_output

        write_output(args.write_wheels, render_wheels(first_wheels(reader)))
        return 0
    if args.declared is not None:
        for version in args.declared:
            sys.stdout.write(f"{version}: {declared_ranges(reader, version)}\n")
        return 0
    problems = check(session=session, index_url=reader.index_url, data_dir=args.data_dir)
    for line in problems:
        sys.stdout.write(line + "\n")
    sys.stdout.write(f"{len(problems)} disagreement(s)\n")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
