"""Compare data/torch.toml with what the package index says.

Reads the facts that index metadata can confirm, using only the index's project JSON pages and
HTTP range requests into wheels (never a whole wheel):

* ``released``: upload date of the first file of each torch release;
* ``[torch.python]``: CPython versions with wheels per platform, from wheel filename tags;
* ``pypi_variant``: ``torch/version.py`` (``cuda = '12.1'``) of one Linux x86_64 wheel, checked
  against the ``nvidia-cuda-runtime-cuXX`` pin in its METADATA;
* companions: ``Requires-Dist: torch==X`` in the METADATA of torchvision, torchaudio, torchtext
  and torchdata wheels.

Prints every disagreement with data/torch.toml and exits 1 when there is any, 0 when none.
``--json`` prints a machine-readable report instead. Unless ``--no-ecosystem`` is given, the
disagreements of ``scripts/refresh_ecosystem.py``'s ``check()`` are included.

The index URL is the one pip would use (``torchresolve.index.load_index_config``); the JSON
API is the simple URL with ``/simple/`` replaced by ``/pypi/``
(``torchresolve.index.json_api_url``). Wheels are read with ``torchresolve.index``'s fetcher
and wheel reader.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime
from email.parser import HeaderParser
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

import requests
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import InvalidWheelFilename, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from torchresolve._compat import tomllib

sys.path.insert(0, str(Path(__file__).resolve().parent))
from refresh_ecosystem import MAX_DOWNLOAD, default_index_url, platform_of
from refresh_ecosystem import check as ecosystem_check
from torchresolve.errors import IndexQueryError
from torchresolve.index import json_api_url
from torchresolve.index.http import Fetcher
from torchresolve.index.wheelzip import (
    NoRangeSupport,
    find_metadata_member,
    open_remote_wheel,
    read_wheel_metadata,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

__all__ = [
    "CompanionFacts",
    "IndexFacts",
    "Report",
    "TorchFacts",
    "collect",
    "compare",
    "default_index_url",
    "main",
    "platform_of",
    "read_arch_list",
    "wheel_pythons",
]

ROOT = Path(__file__).resolve().parent.parent
TORCH_TOML = ROOT / "data" / "torch.toml"
FIRST_TORCH = Version("1.4.0")
COMPANIONS = ("torchvision", "torchaudio", "torchtext", "torchdata")
# Companion releases older than the first torch in the database cannot pair with it.
COMPANION_FLOOR = {
    "torchvision": Version("0.5.0"),
    "torchaudio": Version("0.4.0"),
    "torchtext": Version("0.5.0"),
    "torchdata": Version("0.3.0"),
}
PLATFORMS = ("linux_x86_64", "linux_aarch64", "macos_arm64", "macos_x86_64", "windows")
TIMEOUT = 60.0
WORKERS = 8

_VERSION_PY_CUDA = re.compile(r"^cuda\s*(?::[^=\n]*)?=\s*(?P<value>'[^']*'|\"[^\"]*\"|None)", re.M)
_VERSION_PY_HIP = re.compile(r"^hip\s*(?::[^=\n]*)?=\s*(?P<value>'[^']*'|\"[^\"]*\"|None)", re.M)
_CUDA_RUNTIME = re.compile(r"^(?:nvidia-cuda-runtime(?:-cu(?P<major>\d+))?|cuda-toolkit)$")
# torch.cuda.get_arch_list() returns the CUDA_ARCH_FLAGS string compiled into libtorch_python.so:
# a NUL-terminated run like "sm_50 sm_60 sm_70 compute_70" (the linker may merge its start into
# the tail of another string, so only the end is anchored).
_ARCH_FLAGS = re.compile(rb"((?:(?:sm|compute)_[0-9]{2,3}[af]? )*(?:sm|compute)_[0-9]{2,3}[af]?)\0")
_ARCH_MEMBER = re.compile(r"^torch/(?:lib/libtorch_python\.so|_C\.[^/]*\.so)$")
_CUDNN = re.compile(r"^nvidia-cudnn(?:-cu\d+)?$")
_NCCL = re.compile(r"^nvidia-nccl(?:-cu\d+)?$")


# --------------------------------------------------------------------------- facts


@dataclass(frozen=True, slots=True, kw_only=True)
class TorchFacts:
    """What the index says about one torch release."""

    version: Version
    released: date
    python: Mapping[str, tuple[str, ...]]
    variant_wheel: str | None = None  # the Linux x86_64 wheel read for pypi_variant
    cuda: str | None = None  # torch/version.py ``cuda``; None for a CPU build or when unread
    hip: str | None = None
    runtime_cuda_major: str | None = None  # from the nvidia-cuda-runtime-cuXX Requires-Dist
    runtime_cuda: str | None = None  # X.Y of the nvidia-cuda-runtime / cuda-toolkit pin when exact
    cudnn: str | None = None  # X.Y.Z of the nvidia-cudnn pin in METADATA
    nccl: str | None = None  # X.Y.Z of the nvidia-nccl pin in METADATA
    arch: tuple[str, ...] | None = None  # get_arch_list() of the wheel; None when not read
    error: str | None = None

    @property
    def pypi_variant(self) -> str | None:
        """``cuXY`` from version.py, ``rocmX.Y``, ``cpu``, or None when unread."""
        if self.error is not None or self.variant_wheel is None:
            return None
        if self.cuda:
            major, minor = self.cuda.split(".")[:2]
            return f"cu{major}{minor}"
        if self.hip:
            return "rocm" + ".".join(self.hip.split(".")[:2])
        return "cpu"


@dataclass(frozen=True, slots=True, kw_only=True)
class CompanionFacts:
    """The torch requirements one companion release declares in its wheels' METADATA.

    Two Linux x86_64 wheels are read (oldest and newest CPython): wheels for a CPython added
    later are sometimes rebuilt against the next torch (torchtext 0.16.2 cp312 pins 2.2.0).
    """

    project: str
    version: Version
    # (wheel filename, torch requirement or None when the wheel declares none)
    torch: tuple[tuple[str, Requirement | None], ...]
    error: str | None = None

    @property
    def exact_torch(self) -> frozenset[Version]:
        """Every torch version pinned with ``torch==X`` by the wheels read."""
        out: set[Version] = set()
        for _, req in self.torch:
            pinned = None if req is None else _exact(req)
            if pinned is not None:
                with contextlib.suppress(InvalidVersion):
                    out.add(Version(pinned))
        return frozenset(out)

    @property
    def loose(self) -> tuple[str, ...]:
        """Declarations that are not an exact pin (``torch>=2.14.0``, or none at all)."""
        seen: list[str] = []
        for _, req in self.torch:
            text = "no torch requirement" if req is None else str(req)
            if (req is None or _exact(req) is None) and text not in seen:
                seen.append(text)
        return tuple(seen)


@dataclass(frozen=True, slots=True, kw_only=True)
class IndexFacts:
    """Everything :func:`collect` read."""

    torch: Mapping[Version, TorchFacts]
    companions: Mapping[str, Mapping[Version, CompanionFacts]]
    requests_made: int = 0
    bytes_read: int = 0


def wheel_pythons(filename: str) -> dict[str, set[str]]:
    """Platform -> CPython ``X.Y`` versions that a wheel filename serves.

    Free-threaded builds (ABI ``cp313t``) are left out: the database tracks the default ABI.
    """
    try:
        _, _, _, tags = parse_wheel_filename(filename)
    except InvalidWheelFilename:
        return {}
    out: dict[str, set[str]] = {}
    for tag in tags:
        match = re.fullmatch(r"cp(\d)(\d+)", tag.interpreter)
        if match is None or tag.abi.endswith("t"):
            continue
        for plat in platform_of(tag.platform):
            out.setdefault(plat, set()).add(f"{match[1]}.{match[2]}")
    return out


def _build_number(filename: str) -> int:
    try:
        build = parse_wheel_filename(filename)[2]
    except InvalidWheelFilename:
        return -1
    return build[0] if build else -1


def _linux_wheels(
    files: Sequence[Mapping[str, Any]],
) -> list[tuple[tuple[int, int], Mapping[str, Any]]]:
    """The Linux x86_64 default-ABI wheels in listing order, each keyed by (newest CPython it
    serves as ``X * 100 + Y``, build number)."""
    linux: list[tuple[tuple[int, int], Mapping[str, Any]]] = []
    for entry in files:
        name = str(entry["filename"])
        pythons = wheel_pythons(name).get("linux_x86_64") if name.endswith(".whl") else None
        if pythons:
            major, minor = max(tuple(int(p) for p in v.split(".")) for v in pythons)
            linux.append(((major * 100 + minor, _build_number(name)), entry))
    return linux


def _pick_linux_wheel(files: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The Linux x86_64 default-ABI wheel pip would prefer: newest CPython, highest build tag."""
    linux = _linux_wheels(files)
    # max() keeps the first of equal keys: the wheel listed first wins a tie.
    return max(linux, key=lambda item: item[0])[1] if linux else None


def _requires_dist(metadata: str) -> list[Requirement]:
    message = HeaderParser().parsestr(metadata, headersonly=True)
    out: list[Requirement] = []
    for raw in message.get_all("Requires-Dist") or []:
        try:
            out.append(Requirement(raw))
        except InvalidRequirement:
            continue
    return out


def _py_string(match: re.Match[str] | None) -> str | None:
    if match is None:
        return None
    value = match["value"]
    return None if value == "None" else value[1:-1] or None


def read_arch_list(zf: zipfile.ZipFile) -> tuple[str, ...] | None:
    """The ``torch.cuda.get_arch_list()`` of a torch wheel, read from its binary.

    Reads one member (``torch/lib/libtorch_python.so``, a few megabytes compressed) and looks for
    the NUL-terminated ``CUDA_ARCH_FLAGS`` string. None when the wheel has no CUDA build.

    :raises IndexQueryError: when the member cannot be read.
    """
    names = sorted((n for n in zf.namelist() if _ARCH_MEMBER.match(n)), reverse=True)
    for name in names:
        data = zf.read(name)
        # Kernel symbol names can also end in "_sm_80"; the flags string is the longest run.
        found = [m.group(1).decode() for m in _ARCH_FLAGS.finditer(data)]
        if found:
            return tuple(max(found, key=lambda f: (f.count(" "), len(f))).split())
    return None


def _torch_facts(
    version: Version,
    files: Sequence[Mapping[str, Any]],
    page_url: str,
    fetcher: Fetcher,
    *,
    arch: bool = True,
) -> TorchFacts:
    pythons: dict[str, set[str]] = {}
    for entry in files:
        for plat, vers in wheel_pythons(str(entry["filename"])).items():
            pythons.setdefault(plat, set()).update(vers)
    released = min(datetime.fromisoformat(str(f["upload_time"])).date() for f in files)
    python = {
        plat: tuple(sorted(vers, key=lambda v: tuple(int(p) for p in v.split("."))))
        for plat, vers in sorted(pythons.items())
    }
    wheel = _pick_linux_wheel(files)
    if wheel is None:
        return TorchFacts(version=version, released=released, python=python)
    filename = str(wheel["filename"])
    try:
        with open_remote_wheel(fetcher, urljoin(page_url, str(wheel["url"]))) as zf:
            version_py = zf.read("torch/version.py").decode("utf-8", "replace")
            member = find_metadata_member(zf.namelist(), "torch")
            if member is None:
                raise KeyError("no .dist-info/METADATA")
            metadata = zf.read(member).decode("utf-8", "replace")
            arch_list = read_arch_list(zf) if arch else None
    except (IndexQueryError, KeyError, zipfile.BadZipFile, EOFError) as exc:
        return TorchFacts(
            version=version,
            released=released,
            python=python,
            variant_wheel=filename,
            error=f"{filename}: {exc}",
        )
    runtime_major: str | None = None
    runtime: str | None = None
    cudnn: str | None = None
    nccl: str | None = None
    for req in _requires_dist(metadata):
        name = req.name.lower()
        pinned = _exact(req)
        if _CUDNN.match(name) and pinned:
            cudnn = ".".join(pinned.split(".")[:3])
        elif _NCCL.match(name) and pinned:
            nccl = ".".join(pinned.split(".")[:3])
        match = _CUDA_RUNTIME.match(name)
        if match is None:
            continue
        if pinned:
            runtime = ".".join(pinned.split(".")[:2])
            runtime_major = pinned.split(".")[0]
        elif match["major"]:
            runtime_major = match["major"]
    return TorchFacts(
        version=version,
        released=released,
        python=python,
        variant_wheel=filename,
        cuda=_py_string(_VERSION_PY_CUDA.search(version_py)),
        hip=_py_string(_VERSION_PY_HIP.search(version_py)),
        runtime_cuda_major=runtime_major,
        runtime_cuda=runtime,
        cudnn=cudnn,
        nccl=nccl,
        arch=arch_list,
    )


def _exact(req: Requirement) -> str | None:
    specs = list(req.specifier)
    if len(specs) == 1 and specs[0].operator in ("==", "==="):
        return specs[0].version
    return None


def _companion_wheels(files: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    linux = _linux_wheels(files)
    if linux:
        linux.sort(key=lambda item: item[0])
        picked = [linux[0][1], linux[-1][1]]
        return picked if picked[0] is not picked[1] else picked[:1]
    wheels = [f for f in files if str(f["filename"]).endswith(".whl")]
    # Pure-Python wheels carry the same METADATA; prefer the smallest file.
    return [min(wheels, key=lambda f: int(f.get("size") or 0))] if wheels else []


def _companion_facts(
    *,
    project: str,
    version: Version,
    files: Sequence[Mapping[str, Any]],
    page_url: str,
    fetcher: Fetcher,
) -> CompanionFacts:
    wheels = _companion_wheels(files)
    if not wheels:
        return CompanionFacts(project=project, version=version, torch=(), error="no wheel")
    found: list[tuple[str, Requirement | None]] = []
    for wheel in wheels:
        filename = str(wheel["filename"])
        url = urljoin(page_url, str(wheel["url"]))
        try:
            metadata = read_wheel_metadata(
                fetcher, url, project=project, max_download=MAX_DOWNLOAD
            ).text
        except (IndexQueryError, NoRangeSupport) as exc:
            return CompanionFacts(
                project=project, version=version, torch=tuple(found), error=str(exc)
            )
        torch_req = next(
            (r for r in _requires_dist(metadata) if r.name.lower() == "torch" and not r.marker),
            None,
        )
        found.append((filename, torch_req))
    return CompanionFacts(project=project, version=version, torch=tuple(found))


def _api_url(index_url: str, project: str) -> str:
    url = json_api_url(index_url, project)
    if url is None:
        raise ValueError(f"index URL does not end in /simple/: {index_url}")
    return url


def _project_page(fetcher: Fetcher, index_url: str, project: str) -> tuple[str, dict[str, Any]]:
    url = _api_url(index_url, project)
    response = fetcher.get(url, kind="page")
    if response.status != 200:
        raise IndexQueryError(url, f"HTTP {response.status}")
    data: dict[str, Any] = json.loads(response.body)
    return url, data


def _releases(data: Mapping[str, Any], floor: Version) -> dict[Version, list[Mapping[str, Any]]]:
    out: dict[Version, list[Mapping[str, Any]]] = {}
    for raw, files in data["releases"].items():
        try:
            version = Version(raw)
        except InvalidVersion:
            continue
        live = [f for f in files if not f.get("yanked")]
        if version >= floor and not version.is_prerelease and live:
            out[version] = live
    return out


def collect(
    session: requests.Session,
    index_url: str,
    *,
    timeout: float = TIMEOUT,
    workers: int = WORKERS,
    companions: Iterable[str] = COMPANIONS,
    arch: bool = True,
) -> IndexFacts:
    """Read every index fact about torch >= 1.4.0 and its companions.

    :param session: HTTP session (range requests and JSON pages only).
    :param index_url: the simple index URL, ending in ``/simple/``; the JSON API is next to it.
    :param timeout: seconds per request.
    :param workers: size of the thread pool.
    :param companions: companion projects to read.
    :param arch: also read the arch list of each PyPI Linux wheel (one extra member, ~10 MB).
    :raises ValueError: when ``index_url`` does not end in ``/simple/``.
    :raises IndexQueryError: when a project page cannot be read.
    """
    names = ("torch", *tuple(companions))
    for name in names:
        _api_url(index_url, name)  # a wrong index URL fails before any request
    fetcher = Fetcher(session, timeout=timeout)
    pages = {name: _project_page(fetcher, index_url, name) for name in names}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        torch_url, torch_data = pages["torch"]
        torch_jobs = {
            version: pool.submit(_torch_facts, version, files, torch_url, fetcher, arch=arch)
            for version, files in _releases(torch_data, FIRST_TORCH).items()
        }
        companion_jobs = {
            (name, version): pool.submit(
                _companion_facts,
                project=name,
                version=version,
                files=files,
                page_url=pages[name][0],
                fetcher=fetcher,
            )
            for name in pages
            if name != "torch"
            for version, files in _releases(
                pages[name][1], COMPANION_FLOOR.get(name, Version("0"))
            ).items()
        }
        torch_facts = {v: job.result() for v, job in sorted(torch_jobs.items())}
        companion_facts: dict[str, dict[Version, CompanionFacts]] = {}
        for (name, version), job in sorted(companion_jobs.items()):
            companion_facts.setdefault(name, {})[version] = job.result()
    return IndexFacts(
        torch=torch_facts,
        companions=companion_facts,
        requests_made=fetcher.stats.requests,
        bytes_read=fetcher.stats.bytes,
    )


# --------------------------------------------------------------------------- comparison


@dataclass(slots=True)
class Report:
    """The result of :func:`compare`."""

    disagreements: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


def compare(curated: Mapping[str, Any], facts: IndexFacts) -> Report:
    """Compare the parsed torch.toml with index facts.

    :param curated: ``tomllib`` result of data/torch.toml.
    :param facts: what :func:`collect` read.
    :returns: disagreements (the data or the index is wrong) and notes (facts the index cannot
        confirm, e.g. a companion that declares no exact torch pin).
    """
    report = Report()
    entries: dict[Version, Mapping[str, Any]] = {}
    for entry in curated.get("torch", []):
        version = Version(str(entry["version"]))
        if version in entries:
            report.disagreements.append(f"torch {version}: listed twice in torch.toml")
        entries[version] = entry
    for version in facts.torch:
        if version not in entries:
            report.disagreements.append(f"torch {version}: on the index, missing from torch.toml")
    for version in entries:
        if version not in facts.torch:
            report.disagreements.append(f"torch {version}: in torch.toml, not on the index")

    checked = {"releases": 0, "released": 0, "python": 0, "pypi_variant": 0, "companions": 0}
    for version, fact in facts.torch.items():
        entry = entries.get(version)
        if entry is None:
            continue
        checked["releases"] += 1
        where = f"torch {version}"
        checked["released"] += 1
        if entry.get("released") != fact.released:
            report.disagreements.append(
                f"{where}: released {entry.get('released')} in data, {fact.released} on the index"
            )
        data_python = {k: tuple(v) for k, v in dict(entry.get("python", {})).items()}
        for plat in PLATFORMS:
            checked["python"] += 1
            have = data_python.get(plat, ())
            want = fact.python.get(plat, ())
            if have != want:
                report.disagreements.append(
                    f"{where}: python[{plat}] = {list(have)} in data, {list(want)} on the index"
                )
        _compare_variant(entry, fact, where, report, checked)

    for name, by_version in facts.companions.items():
        pinned: dict[Version, list[Version]] = {}
        for cversion, cfact in by_version.items():
            for torch_version in cfact.exact_torch:
                pinned.setdefault(torch_version, []).append(cversion)
        for version, entry in entries.items():
            _compare_companion(
                name=name,
                version=version,
                entry=entry,
                by_version=by_version,
                pinned=pinned,
                report=report,
                checked=checked,
            )
    report.counts = {
        **checked,
        "index_torch_releases": len(facts.torch),
        "data_torch_releases": len(entries),
        **{f"index_{name}_releases": len(v) for name, v in facts.companions.items()},
        "requests": facts.requests_made,
        "bytes_read": facts.bytes_read,
    }
    return report


def _compare_companion(
    *,
    name: str,
    version: Version,
    entry: Mapping[str, Any],
    by_version: Mapping[Version, CompanionFacts],
    pinned: Mapping[Version, list[Version]],
    report: Report,
    checked: dict[str, int],
) -> None:
    raw = entry.get(name)
    expected = sorted(pinned.get(version, []))
    where = f"torch {version}"
    if raw is None:
        if expected:
            report.disagreements.append(
                f"{where}: no {name} in data, but {name} "
                f"{', '.join(map(str, expected))} pins torch=={version}"
            )
        return
    checked["companions"] += 1
    cversion = Version(str(raw))
    cfact = by_version.get(cversion)
    if cfact is None:
        report.disagreements.append(f"{where}: {name} {cversion} is not on the index")
        return
    if cfact.error:
        report.notes.append(f"{name} {cversion}: metadata unread ({cfact.error})")
        return
    exact = cfact.exact_torch
    if exact and version not in exact:
        pins = ", ".join(f"torch=={v}" for v in sorted(exact))
        report.disagreements.append(
            f"{where}: {name} {cversion} in data, but its METADATA pins {pins}"
        )
    elif not exact:
        for wheel, req in cfact.torch:
            if req is not None and not req.specifier.contains(version, prereleases=True):
                report.disagreements.append(
                    f"{where}: {name} {cversion} in data, but {wheel} requires {req}"
                )
        report.notes.append(
            f"{where}: {name} {cversion} METADATA declares {'; '.join(cfact.loose)}: "
            "pairing not confirmable from the index"
        )
    if expected and cversion not in expected:
        report.disagreements.append(
            f"{where}: {name} {cversion} in data, but {name} {expected[-1]} pins torch=={version}"
        )


def _compare_variant(
    entry: Mapping[str, Any],
    fact: TorchFacts,
    where: str,
    report: Report,
    checked: dict[str, int],
) -> None:
    if fact.error:
        report.disagreements.append(f"{where}: could not read the Linux wheel ({fact.error})")
        return
    observed = fact.pypi_variant
    if observed is None:
        return
    checked["pypi_variant"] += 1
    data_variant = entry.get("pypi_variant")
    if data_variant != observed:
        report.disagreements.append(
            f"{where}: pypi_variant {data_variant!r} in data, {observed!r} in "
            f"{fact.variant_wheel} torch/version.py"
        )
    variants = {str(v.get("name")): v for v in entry.get("variant", [])}
    if data_variant is not None and data_variant not in variants:
        report.disagreements.append(f"{where}: pypi_variant {data_variant!r} not among variants")
    pypi = variants.get(str(data_variant), {})
    if fact.arch is not None and pypi:
        checked["pypi_variant"] += 1
        sass = tuple(a for a in fact.arch if a.startswith("sm_"))
        ptx = tuple(a for a in fact.arch if a.startswith("compute_"))
        have = (tuple(pypi.get("arch", ())), tuple(pypi.get("ptx", ())))
        if have != (sass, ptx):
            report.disagreements.append(
                f"{where}: {data_variant} arch {list(have[0])} ptx {list(have[1])} in data, "
                f"{fact.variant_wheel} was built for {' '.join(fact.arch)}"
            )
    for key, value in (("cudnn", fact.cudnn), ("nccl", fact.nccl)):
        if value is None or pypi.get(key) is None:
            continue
        checked["pypi_variant"] += 1
        if pypi.get(key) != value:
            report.disagreements.append(
                f"{where}: {data_variant} {key} {pypi.get(key)!r} in data, {value!r} pinned in "
                f"{fact.variant_wheel} METADATA"
            )
    if fact.cuda and fact.runtime_cuda and fact.runtime_cuda != ".".join(fact.cuda.split(".")[:2]):
        report.notes.append(
            f"{where}: version.py says CUDA {fact.cuda}, METADATA pins "
            f"nvidia-cuda-runtime {fact.runtime_cuda}"
        )


# --------------------------------------------------------------------------- CLI


def facts_to_json(facts: IndexFacts) -> dict[str, Any]:
    """A JSON-ready view of the facts (for ``--dump-facts``)."""
    return {
        "torch": {
            str(v): {
                "released": f.released.isoformat(),
                "python": {k: list(p) for k, p in f.python.items()},
                "pypi_variant": f.pypi_variant,
                "wheel": f.variant_wheel,
                "cuda": f.cuda,
                "hip": f.hip,
                "runtime_cuda": f.runtime_cuda,
                "runtime_cuda_major": f.runtime_cuda_major,
                "cudnn": f.cudnn,
                "nccl": f.nccl,
                "arch": None if f.arch is None else list(f.arch),
                "error": f.error,
            }
            for v, f in facts.torch.items()
        },
        "companions": {
            name: {
                str(v): {
                    "torch": {w: None if r is None else str(r) for w, r in c.torch},
                    "exact_torch": sorted(str(t) for t in c.exact_torch),
                    "error": c.error,
                }
                for v, c in by_version.items()
            }
            for name, by_version in facts.companions.items()
        },
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Run the comparison; return 1 when anything disagrees, 0 otherwise."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--json", action="store_true", help="print a machine-readable report")
    parser.add_argument("--data", type=Path, default=TORCH_TOML, help="torch.toml to check")
    parser.add_argument("--dump-facts", type=Path, help="also write the raw index facts as JSON")
    parser.add_argument(
        "--no-ecosystem", action="store_true", help="skip scripts/refresh_ecosystem.py"
    )
    parser.add_argument(
        "--companions",
        default=",".join(COMPANIONS),
        help="comma-separated companion projects to check (default: %(default)s)",
    )
    parser.add_argument(
        "--no-arch", action="store_true", help="skip reading arch lists out of torch wheels"
    )
    parser.add_argument("--timeout", type=float, default=TIMEOUT, help="seconds per request")
    parser.add_argument("--workers", type=int, default=WORKERS, help="parallel requests")
    args = parser.parse_args(argv)

    with args.data.open("rb") as fh:
        curated = tomllib.load(fh)
    with requests.Session() as session:
        facts = collect(
            session,
            default_index_url(),
            timeout=args.timeout,
            workers=args.workers,
            companions=tuple(c.strip() for c in args.companions.split(",") if c.strip()),
            arch=not args.no_arch,
        )
    report = compare(curated, facts)
    if args.dump_facts:
        args.dump_facts.write_text(json.dumps(facts_to_json(facts), indent=1) + "\n")
    if not args.no_ecosystem:
        try:
            found = ecosystem_check()
        except Exception as exc:  # a broken extension must not hide this script's report
            found = [f"scripts/refresh_ecosystem.py check() failed: {type(exc).__name__}: {exc}"]
        report.disagreements.extend(found)
        report.counts["ecosystem_disagreements"] = len(found)
    if args.json:
        json.dump(
            {
                "counts": report.counts,
                "disagreements": report.disagreements,
                "notes": report.notes,
            },
            sys.stdout,
            indent=1,
        )
        sys.stdout.write("\n")
    else:
        for line in report.disagreements:
            sys.stdout.write(f"DISAGREE {line}\n")
        for line in report.notes:
            sys.stdout.write(f"note     {line}\n")
        counts = ", ".join(f"{k}={v}" for k, v in report.counts.items())
        sys.stdout.write(
            f"{len(report.disagreements)} disagreement(s), {len(report.notes)} note(s); {counts}\n"
        )
    return 1 if report.disagreements else 0


if __name__ == "__main__":
    sys.exit(main())
