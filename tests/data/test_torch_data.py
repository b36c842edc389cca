"""Internal consistency of the shipped torch release database (data/torch.toml).

The file is parsed directly with tomllib so these checks do not depend on the loader. The one
online test compares the file with the live package index through scripts/refresh_data.py.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import re
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from packaging.version import InvalidVersion, Version

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

ROOT = Path(__file__).resolve().parents[2]
TORCH_TOML = ROOT / "data" / "torch.toml"
PLATFORMS = {"linux_x86_64", "linux_aarch64", "macos_arm64", "macos_x86_64", "windows"}
COMPANIONS = ("torchvision", "torchaudio", "torchtext", "torchdata")
VARIANT_RE = re.compile(r"^(cpu|cu\d{2,3}|rocm\d+\.\d+(\.\d+)?)$")
SASS_RE = re.compile(r"^sm_(\d{1,2})(\d)a?$")
PTX_RE = re.compile(r"^compute_(\d{1,2})(\d)$")
PYTHON_RE = re.compile(r"^(2\.7|3\.\d{1,2})$")
FIRST = Version("1.4.0")
NEWEST_KNOWN = Version("2.15.0")  # the newest torch on the index when the data was built


@pytest.fixture(scope="module")
def releases() -> list[dict[str, Any]]:
    with TORCH_TOML.open("rb") as handle:
        data = tomllib.load(handle)
    entries: list[dict[str, Any]] = data["torch"]
    return entries


def _version(entry: dict[str, Any]) -> Version:
    return Version(entry["version"])


def _capability(arch: str) -> tuple[int, int]:
    match = SASS_RE.match(arch) or PTX_RE.match(arch)
    assert match is not None, arch
    return int(match.group(1)), int(match.group(2))


def _cuda(variant: str) -> Version | None:
    match = re.fullmatch(r"cu(\d+)(\d)", variant)
    return None if match is None else Version(f"{int(match.group(1))}.{match.group(2)}")


def _variant(entry: dict[str, Any], name: str) -> dict[str, Any]:
    found = [v for v in entry["variant"] if v["name"] == name]
    assert len(found) == 1, f"torch {entry['version']}: variant {name} listed {len(found)} times"
    return found[0]


def _by_version(releases: list[dict[str, Any]], version: str) -> dict[str, Any]:
    return next(e for e in releases if e["version"] == version)


def test_versions_are_unique_valid_and_ascending(releases: list[dict[str, Any]]) -> None:
    versions = [_version(e) for e in releases]
    assert len(set(versions)) == len(versions)
    assert versions == sorted(versions)
    assert all(not v.is_prerelease and not v.local and len(v.release) == 3 for v in versions)


def test_every_release_from_first_to_newest_is_present(releases: list[dict[str, Any]]) -> None:
    versions = [_version(e) for e in releases]
    assert versions[0] == FIRST
    assert versions[-1] >= NEWEST_KNOWN
    by_minor: dict[tuple[int, int], list[int]] = defaultdict(list)
    for v in versions:
        by_minor[(v.major, v.minor)].append(v.micro)
    # Every minor series between the first and the newest, each with contiguous patches from .0.
    minors = sorted(by_minor)
    expected_minors = [(1, m) for m in range(4, 14)] + [(2, m) for m in range(minors[-1][1] + 1)]
    assert minors == expected_minors
    for minor, patches in by_minor.items():
        assert patches == list(range(len(patches))), f"gap in the {minor} series: {patches}"


def test_release_dates_ascend_within_a_minor_series(releases: list[dict[str, Any]]) -> None:
    series: dict[tuple[int, int], list[tuple[Version, dt.date]]] = defaultdict(list)
    for entry in releases:
        released = entry["released"]
        assert isinstance(released, dt.date)
        assert not isinstance(released, dt.datetime)
        assert dt.date(2020, 1, 1) <= released <= dt.date.today()
        v = _version(entry)
        series[(v.major, v.minor)].append((v, released))
    for points in series.values():
        dates = [d for _, d in sorted(points)]
        assert dates == sorted(dates)
        assert len(set(dates)) == len(dates)
    # A new minor is released after the previous minor's .0.
    firsts = [min(points)[1] for _, points in sorted(series.items())]
    assert firsts == sorted(firsts)


def test_python_versions_per_platform(releases: list[dict[str, Any]]) -> None:
    for entry in releases:
        python = entry["python"]
        assert "linux_x86_64" in python, entry["version"]
        assert set(python) <= PLATFORMS
        for plat, versions in python.items():
            assert versions, (entry["version"], plat)
            assert all(PYTHON_RE.match(p) for p in versions), (entry["version"], versions)
            parsed = [Version(p) for p in versions]
            assert parsed == sorted(set(parsed)), (entry["version"], plat)


def test_variant_names_and_arch_strings_are_valid(releases: list[dict[str, Any]]) -> None:
    for entry in releases:
        names = [v["name"] for v in entry["variant"]]
        assert len(set(names)) == len(names), entry["version"]
        for variant in entry["variant"]:
            where = (entry["version"], variant["name"])
            assert VARIANT_RE.match(variant["name"]), where
            assert variant["source"].strip(), where
            assert all(SASS_RE.match(a) for a in variant["arch"]), where
            assert all(PTX_RE.match(a) for a in variant["ptx"]), where
            caps = [_capability(a) for a in variant["arch"]]
            assert caps == sorted(set(caps)), where
            if variant["name"] == "cpu" or variant["name"].startswith("rocm"):
                assert variant["arch"] == [] and variant["ptx"] == [], where
            else:
                assert variant["arch"], where
            for key in ("cudnn", "nccl"):
                if key in variant:
                    assert re.fullmatch(r"\d+\.\d+\.\d+", variant[key]), where


def test_arch_lists_respect_what_each_cuda_toolkit_can_build(
    releases: list[dict[str, Any]],
) -> None:
    for entry in releases:
        for variant in entry["variant"]:
            cuda = _cuda(variant["name"])
            if cuda is None:
                continue
            caps = [_capability(a) for a in variant["arch"] + variant["ptx"]]
            where = (entry["version"], variant["name"])
            if cuda >= Version("12.0"):  # CUDA 12 removed Kepler
                assert min(caps) >= (5, 0), where
            if cuda >= Version("13.0"):  # CUDA 13 removed Maxwell, Pascal and Volta
                assert min(caps) >= (7, 5), where
            if cuda < Version("11.8"):  # Hopper needs CUDA 11.8
                assert max(caps) < (9, 0), where
            if cuda < Version("12.8"):  # Blackwell needs CUDA 12.8
                assert max(caps) < (10, 0), where


def test_pypi_variant_is_a_listed_cuda_variant(releases: list[dict[str, Any]]) -> None:
    for entry in releases:
        pypi = entry["pypi_variant"]
        assert VARIANT_RE.match(pypi)
        assert _cuda(pypi) is not None, entry["version"]
        _variant(entry, pypi)
        assert "cpu" in {v["name"] for v in entry["variant"]}, entry["version"]


def test_companions_are_valid_versions_that_never_go_backwards(
    releases: list[dict[str, Any]],
) -> None:
    for project in COMPANIONS:
        previous: Version | None = None
        for entry in releases:
            raw = entry.get(project)
            if raw is None:
                continue
            try:
                current = Version(raw)
            except InvalidVersion:  # pragma: no cover - the assertion below reports it
                pytest.fail(f"torch {entry['version']}: {project} = {raw!r} is not a version")
            assert not current.local and not current.is_prerelease
            if previous is not None:
                assert current >= previous, (entry["version"], project, raw)
            previous = current


def test_torchtext_stops_after_torch_2_3_0(releases: list[dict[str, Any]]) -> None:
    with_text = [_version(e) for e in releases if "torchtext" in e]
    assert max(with_text) == Version("2.3.0")
    assert _by_version(releases, "2.3.0")["torchtext"] == "0.18.0"


def test_numpy_abi_switches_once_at_2_3(releases: list[dict[str, Any]]) -> None:
    for entry in releases:
        expected = 2 if _version(entry) >= Version("2.3.0") else 1
        assert entry["numpy_abi"] == expected, entry["version"]


def test_every_fact_has_a_source(releases: list[dict[str, Any]]) -> None:
    for entry in releases:
        sources = entry["sources"]
        for key in ("released", "python", "pypi_variant", "numpy_abi", "variants", "family"):
            assert sources.get(key, "").strip(), (entry["version"], key)


def test_known_hopper_facts(releases: list[dict[str, Any]]) -> None:
    for version in ("1.13.0", "1.13.1"):
        assert "sm_90" not in _variant(_by_version(releases, version), "cu117")["arch"]
    torch_2_0 = _by_version(releases, "2.0.0")
    assert torch_2_0["pypi_variant"] == "cu117"
    assert "sm_90" not in _variant(torch_2_0, "cu117")["arch"]
    assert "sm_90" in _variant(torch_2_0, "cu118")["arch"]


def test_known_maxwell_pascal_and_blackwell_facts(releases: list[dict[str, Any]]) -> None:
    for entry in releases:
        v = _version(entry)
        for variant in entry["variant"]:
            cuda = _cuda(variant["name"])
            archs = set(variant["arch"])
            if cuda is not None and cuda >= Version("12.8") and v >= Version("2.8.0"):
                assert not archs & {"sm_50", "sm_52", "sm_60", "sm_61"}, (v, variant["name"])
            if {"sm_100", "sm_120"} & archs:
                assert v >= Version("2.7.0"), (v, variant["name"])
                assert cuda is not None and cuda >= Version("12.8"), (v, variant["name"])


def _load_refresh_script() -> Any:
    path = ROOT / "scripts" / "refresh_data.py"
    spec = importlib.util.spec_from_file_location("refresh_data", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.online
def test_index_metadata_agrees_with_the_data() -> None:
    refresh = _load_refresh_script()
    assert refresh.main(["--no-arch", "--no-ecosystem"]) == 0


# ------------------------------------------------------------------ refresh script, offline
# scripts/refresh_data.py against a real HTTP server on 127.0.0.1 serving a tiny index: a torch
# project with two releases (real wheel zips built here) and a torchvision companion.

TORCH_VERSION_PY = """from typing import Optional
__version__ = '{version}+cu128'
cuda: Optional[str] = '12.8'
hip: Optional[str] = None
"""
TORCH_METADATA = """Metadata-Version: 2.1
Name: torch
Version: {version}
Requires-Dist: filelock
Requires-Dist: nvidia-cuda-runtime-cu12==12.8.90; platform_system == "Linux"
Requires-Dist: nvidia-cudnn-cu12==9.10.2.21; platform_system == "Linux"
Requires-Dist: nvidia-nccl-cu12==2.27.3; platform_system == "Linux"
"""
ARCH_FLAGS = (
    b"\0unrelated_kernel_sm_80\0std::string ipc_hsm_70 sm_75 sm_80 sm_86 sm_90 sm_100 sm_120\0"
)


def _wheel(path: Path, members: dict[str, bytes]) -> None:
    import random
    import zipfile

    # Incompressible padding makes a whole-file download stand out in the server log.
    filler = random.Random(0).randbytes(400_000)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(zipfile.ZipInfo("torch/lib/padding.bin"), filler)
        for name, body in members.items():
            archive.writestr(name, body)


def _project_json(files: dict[str, list[tuple[str, str]]]) -> bytes:
    import json

    releases = {
        version: [
            {
                "filename": name,
                "url": f"../../files/{name}",
                "upload_time": uploaded,
                "size": None,
                "yanked": False,
            }
            for name, uploaded in entries
        ]
        for version, entries in files.items()
    }
    return json.dumps({"info": {}, "releases": releases}).encode()


@pytest.fixture
def tiny_index(tmp_path: Path) -> Path:
    root = tmp_path / "index"
    (root / "files").mkdir(parents=True)
    torch_files: dict[str, list[tuple[str, str]]] = {}
    for version, day in (("2.8.0", "2025-08-06"), ("2.9.0", "2025-10-15")):
        linux = f"torch-{version}-cp313-cp313-manylinux_2_28_x86_64.whl"
        _wheel(
            root / "files" / linux,
            {
                "torch/version.py": TORCH_VERSION_PY.format(version=version).encode(),
                "torch/lib/libtorch_python.so": b"\x7fELF" + ARCH_FLAGS,
                f"torch-{version}.dist-info/METADATA": TORCH_METADATA.format(
                    version=version
                ).encode(),
            },
        )
        torch_files[version] = [
            (linux, f"{day}T15:00:00"),
            (f"torch-{version}-cp312-cp312-win_amd64.whl", f"{day}T14:00:00"),
            (f"torch-{version}-cp313-cp313t-manylinux_2_28_x86_64.whl", f"{day}T16:00:00"),
        ]
    (root / "pypi" / "torch").mkdir(parents=True)
    (root / "pypi" / "torch" / "json").write_bytes(_project_json(torch_files))
    vision_files: dict[str, list[tuple[str, str]]] = {}
    for vision, torch_pin in (("0.23.0", "torch==2.8.0"), ("0.24.0", "torch>=2.9.0")):
        name = f"torchvision-{vision}-cp313-cp313-manylinux_2_28_x86_64.whl"
        metadata = f"Metadata-Version: 2.1\nName: torchvision\nVersion: {vision}\n"
        metadata += f"Requires-Dist: numpy\nRequires-Dist: {torch_pin}\n"
        _wheel(
            root / "files" / name,
            {f"torchvision-{vision}.dist-info/METADATA": metadata.encode()},
        )
        vision_files[vision] = [(name, "2025-08-06T16:00:00")]
    (root / "pypi" / "torchvision").mkdir(parents=True)
    (root / "pypi" / "torchvision" / "json").write_bytes(_project_json(vision_files))
    return root


TINY_TOML = """
[[torch]]
version = "2.8.0"
released = 2025-08-06
pypi_variant = "cu128"
numpy_abi = 2
torchvision = "0.23.0"
[torch.python]
linux_x86_64 = ["3.13"]
windows = ["3.12"]
[[torch.variant]]
name = "cu128"
arch = ["sm_70", "sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120"]
ptx = []
cudnn = "9.10.2"
nccl = "2.27.3"
source = "test"

[[torch]]
version = "2.9.0"
released = 2025-10-15
pypi_variant = "cu128"
numpy_abi = 2
torchvision = "0.24.0"
[torch.python]
linux_x86_64 = ["3.13"]
windows = ["3.12"]
[[torch.variant]]
name = "cu128"
arch = ["sm_70", "sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120"]
ptx = []
source = "test"
"""


def _collect(refresh: Any, server: Any) -> Any:
    import requests

    with requests.Session() as session:
        return refresh.collect(
            session,
            server.simple_url,
            timeout=10.0,
            workers=2,
            companions=("torchvision",),
        )


def test_refresh_reads_index_facts_with_range_requests_only(
    tiny_index: Path, index_server_factory: Any
) -> None:
    refresh = _load_refresh_script()
    server = index_server_factory(tiny_index)
    facts = _collect(refresh, server)

    torch_2_8 = facts.torch[Version("2.8.0")]
    assert torch_2_8.released == dt.date(2025, 8, 6)
    # Free-threaded (cp313t) wheels are not counted.
    assert dict(torch_2_8.python) == {"linux_x86_64": ("3.13",), "windows": ("3.12",)}
    assert torch_2_8.pypi_variant == "cu128"
    assert torch_2_8.runtime_cuda == "12.8"
    assert (torch_2_8.cudnn, torch_2_8.nccl) == ("9.10.2", "2.27.3")
    assert torch_2_8.arch == ("sm_70", "sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120")
    vision = facts.companions["torchvision"]
    assert vision[Version("0.23.0")].exact_torch == {Version("2.8.0")}
    assert vision[Version("0.24.0")].loose == ("torch>=2.9.0",)

    wheel_requests = server.requests_to("/files/")
    assert wheel_requests
    assert all(entry.range and entry.status == 206 for entry in wheel_requests)
    for entry in wheel_requests:  # never a whole wheel
        assert entry.sent < 400_000


def test_refresh_compare_reports_each_disagreement(
    tiny_index: Path, index_server_factory: Any
) -> None:
    refresh = _load_refresh_script()
    facts = _collect(refresh, index_server_factory(tiny_index))
    curated = tomllib.loads(TINY_TOML)
    assert refresh.compare(curated, facts).disagreements == []

    curated["torch"][0]["released"] = dt.date(2025, 8, 7)
    curated["torch"][0]["pypi_variant"] = "cu126"
    curated["torch"][0]["torchvision"] = "0.24.0"
    curated["torch"][1]["python"]["linux_x86_64"] = ["3.12", "3.13"]
    curated["torch"][1]["variant"][0]["arch"] = ["sm_90"]
    del curated["torch"][1]["torchvision"]
    report = refresh.compare(curated, facts)
    text = "\n".join(report.disagreements)
    assert "torch 2.8.0: released 2025-08-07 in data, 2025-08-06 on the index" in text
    assert "torch 2.8.0: pypi_variant 'cu126' in data, 'cu128'" in text
    assert "torch 2.8.0: torchvision 0.24.0 in data, but" in text
    assert "requires torch>=2.9.0" in text
    assert "python[linux_x86_64] = ['3.12', '3.13'] in data, ['3.13'] on the index" in text
    assert "torch 2.9.0: cu128 arch ['sm_90']" in text
    assert len(report.disagreements) == 7
    assert any("torchvision 0.24.0 METADATA declares torch>=2.9.0" in n for n in report.notes)


def test_refresh_reports_a_server_that_ignores_ranges(
    tiny_index: Path, index_server_factory: Any
) -> None:
    refresh = _load_refresh_script()
    server = index_server_factory(tiny_index, honour_range=False)
    facts = _collect(refresh, server)
    report = refresh.compare(tomllib.loads(TINY_TOML), facts)
    assert any("could not read the Linux wheel" in d for d in report.disagreements)
    assert any("range request answered HTTP 200" in d for d in report.disagreements)


def test_refresh_main_exit_status(
    tiny_index: Path,
    index_server_factory: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    refresh = _load_refresh_script()
    server = index_server_factory(tiny_index)
    monkeypatch.setenv("PIP_INDEX_URL", server.simple_url)
    good = tmp_path / "torch.toml"
    good.write_text(TINY_TOML)
    args = ["--data", str(good), "--no-ecosystem", "--companions", "torchvision", "--json"]
    assert refresh.main(args) == 0
    assert '"disagreements": []' in capsys.readouterr().out
    bad = tmp_path / "bad.toml"
    bad.write_text(TINY_TOML.replace("released = 2025-10-15", "released = 2025-10-16"))
    assert refresh.main(["--data", str(bad), "--no-ecosystem", "--companions", "torchvision"]) == 1
    assert "DISAGREE torch 2.9.0: released 2025-10-16" in capsys.readouterr().out


def test_refresh_takes_the_index_url_from_pip_configuration(tmp_path: Path) -> None:
    import os

    import pypi_simple
    import requests

    refresh = _load_refresh_script()
    local = "http://127.0.0.1:9/simple/"
    assert refresh.default_index_url({"PIP_INDEX_URL": local.rstrip("/")}) == local
    conf = tmp_path / "pip.conf"
    conf.write_text(f"[global]\nindex-url = {local}\n")
    environ = {"PIP_CONFIG_FILE": str(conf), "HOME": str(tmp_path), "XDG_CONFIG_DIRS": ""}
    assert refresh.default_index_url(environ) == local
    fallback = refresh.default_index_url({"PIP_CONFIG_FILE": os.devnull})
    assert fallback.rstrip("/") == pypi_simple.PYPI_SIMPLE_ENDPOINT.rstrip("/")
    # The JSON API lives next to a /simple/ index; any other index URL fails before a request.
    with pytest.raises(ValueError, match="does not end in /simple/"):
        refresh.collect(requests.Session(), "http://127.0.0.1:9/index/")
