"""The shipped database checked against the recorded index data (tests/fixtures/index).

Each fact below is read from a recorded file, not typed in: a wheel's filename says which
CPython it is for, a companion wheel's ``Requires-Dist: torch (==X)`` says which torch it
belongs to, and the PyTorch index pages list the variants.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from importlib import resources
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import Version

from torchresolve.db import Database, load_database

INDEX = Path(__file__).parents[1] / "fixtures" / "index"

pytestmark = pytest.mark.skipif(
    not (resources.files("torchresolve._data") / "torch.toml").is_file(),
    reason="data/torch.toml not written yet",
)


@pytest.fixture(scope="module")
def db() -> Database:
    return load_database()


def _torch_wheels() -> list[dict[str, object]]:
    page = INDEX / "simple" / "torch" / "index.json"
    if not page.is_file():
        pytest.skip("no recorded torch page")
    files: list[dict[str, object]] = json.loads(page.read_text(encoding="utf-8"))["files"]
    return [f for f in files if str(f["filename"]).endswith(".whl")]


def test_release_dates_not_after_any_recorded_upload(db: Database) -> None:
    for file in _torch_wheels():
        _, version, _, _ = parse_wheel_filename(str(file["filename"]))
        release = db.torch(version)
        assert release is not None, f"torch {version} is on the index but not in torch.toml"
        uploaded = datetime.fromisoformat(str(file["upload-time"]).replace("Z", "+00:00"))
        assert release.released <= uploaded.date()


def test_recorded_linux_wheels_are_listed_as_supported(db: Database) -> None:
    checked = 0
    for file in _torch_wheels():
        _, version, _, tags = parse_wheel_filename(str(file["filename"]))
        for tag in tags:
            match = re.fullmatch(r"cp3(\d+)", tag.interpreter)
            if match and "manylinux" in tag.platform and tag.platform.endswith("x86_64"):
                release = db.torch(version)
                assert release is not None
                python = Version(f"3.{match.group(1)}")
                assert release.has_wheel(python, "linux_x86_64"), (version, python)
                checked += 1
    assert checked


def test_companions_match_their_recorded_torch_requirement(db: Database) -> None:
    checked = 0
    for meta in sorted((INDEX / "files").glob("*.whl.metadata")):
        name, version, _, _ = parse_wheel_filename(meta.name.removesuffix(".metadata"))
        if name not in {"torchvision", "torchaudio", "torchtext", "torchdata"}:
            continue
        for line in meta.read_text(encoding="utf-8").splitlines():
            if not line.startswith("Requires-Dist: torch"):
                continue
            req = Requirement(line.removeprefix("Requires-Dist: "))
            if canonicalize_name(req.name) != "torch":
                continue
            (spec,) = req.specifier
            torch = Version(spec.version)
            paired = db.release_for_companion(name, version)
            if paired is not None:
                assert paired.version == Version(torch.public), (name, version)
                checked += 1
            if torch.local:  # the default build of that torch is this variant
                release = db.torch(torch)
                assert release is not None
                assert release.pypi_variant == torch.local
    assert checked


def test_recorded_variant_pages(db: Database) -> None:
    pages = sorted((INDEX / "pytorch").glob("*/torch/index.html"))
    if not pages:
        pytest.skip("no recorded PyTorch index pages")
    for page in pages:
        variant = page.parents[1].name
        for filename in set(re.findall(r">(torch-[^<]+\.whl)<", page.read_text("utf-8"))):
            _, version, _, _ = parse_wheel_filename(filename)
            release = db.torch(version)
            assert release is not None
            assert variant in release.variants, (version, variant)


# Facts from public sources for the releases the recorded data does not cover.
# | fact                                   | source                                     |
# | torch 1.5.0 pairs with torchvision 0.6.0 | pytorch/vision README compatibility table |
# | torch 2.0.0 +cu118 builds have sm_90     | PyTorch 2.0 release notes (CUDA 11.8, Hopper) |
# | torch 2.1.0 default wheel is CUDA 12.1   | PyTorch 2.1 release notes                  |
def test_facts_from_release_notes(db: Database) -> None:
    old = db.torch("1.5.0")
    assert old is not None
    assert old.torchvision == Version("0.6.0")
    hopper = db.torch("2.0.0")
    assert hopper is not None
    assert hopper.variants["cu118"].kernels_for(db.gpu("H100").arch) == "sass"
    new = db.torch("2.1.0")
    assert new is not None
    assert new.pypi_cuda == Version("12.1")
