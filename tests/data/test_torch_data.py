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
