"""Writers: pip constraints, uv, conda and pylock text, each parsed back."""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version
from ruamel.yaml import YAML

from torchresolve.db import Database, load_database
from torchresolve.pins import Pin, PinSet
from torchresolve.planning.stack import Stack, select_stack, variant_index_url
from torchresolve.target import Target
from torchresolve.writers import (
    LockedWheel,
    pylock_problems,
    render_environment,
    render_pip,
    render_pylock,
    render_uv,
)

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

GOOD = Path(__file__).parents[1] / "db" / "fixtures" / "good"
NUMPY = [Requirement("numpy<2")]


@pytest.fixture(scope="module")
def db() -> Database:
    return load_database(GOOD)


@pytest.fixture(scope="module")
def variant_stack(db: Database) -> Stack:
    """torch 2.0.0 on an H100: the cu118 build from the variant index."""
    gpu = db.gpu("H100")
    target = Target(python=Version("3.11"), gpu_name=gpu.name, arch=gpu.arch)
    return select_stack(db, target, SpecifierSet("==2.0.0"), "latest")


@pytest.fixture(scope="module")
def default_stack(db: Database) -> Stack:
    """torch 2.0.0 on an A100: the default build from the default index."""
    gpu = db.gpu("A100")
    target = Target(python=Version("3.11"), gpu_name=gpu.name, arch=gpu.arch)
    return select_stack(db, target, SpecifierSet("==2.0.0"), "latest")


def _pip_lines(text: str) -> tuple[list[str], list[Requirement]]:
    options, requirements = [], []
    for line in text.replace("\\\n", "").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if line.startswith("--"):
            options.append(line)
        else:
            requirements.append(Requirement(line.split(" --hash=")[0]))
    return options, requirements


def test_pip_constraints_for_the_variant_index(variant_stack: Stack) -> None:
    text = render_pip(variant_stack.pins, requirements=NUMPY)
    options, requirements = _pip_lines(text)
    assert options == [f"--extra-index-url {variant_index_url('cu118')}"]
    pinned = {r.name: r.specifier for r in requirements}
    assert pinned["torch"] == SpecifierSet("==2.0.0+cu118")
    assert pinned["torchvision"] == SpecifierSet("==0.15.0+cu118")
    assert pinned["numpy"] == SpecifierSet("<2")
    assert text.startswith("# torchresolve constraints\n# target: CPython 3.11, linux_x86_64")


def test_pip_constraints_for_the_default_build_have_no_index_line(default_stack: Stack) -> None:
    text = render_pip(default_stack.pins)
    options, requirements = _pip_lines(text)
    assert options == []
    assert Requirement("torch==2.0.0") in requirements


def test_pip_constraints_with_hashes_and_index_url() -> None:
    target = Target(python=Version("3.11"))
    pins = PinSet(
        pins=(
            Pin(
                name=canonicalize_name("torch"),
                version=Version("2.1.0"),
                hashes=("sha256:" + "a" * 64, "sha256:" + "b" * 64),
            ),
        ),
        target=target,
        index_url="http://127.0.0.1:1/simple",
    )
    text = render_pip(pins)
    options, requirements = _pip_lines(text)
    assert options == ["--index-url http://127.0.0.1:1/simple"]
    assert requirements == [Requirement("torch==2.1.0")]
    assert f"--hash=sha256:{'b' * 64}" in text


def test_pip_output_is_reproducible(variant_stack: Stack) -> None:
    assert render_pip(variant_stack.pins) == render_pip(variant_stack.pins)
    assert "2026" not in render_pip(variant_stack.pins)


def test_uv_routes_the_torch_family_to_the_explicit_variant_index(variant_stack: Stack) -> None:
    data = tomllib.loads(render_uv(variant_stack.pins, requirements=NUMPY))
    uv = data["tool"]["uv"]
    assert "torch==2.0.0+cu118" in uv["constraint-dependencies"]
    assert "numpy<2" in uv["constraint-dependencies"]
    assert uv["index"] == [
        {"name": "pytorch-cu118", "url": variant_index_url("cu118"), "explicit": True}
    ]
    assert uv["sources"]["torch"] == {"index": "pytorch-cu118"}
    assert set(uv["sources"]) == {"torch", "torchvision", "torchaudio"}


def test_uv_for_the_default_build_has_no_index(default_stack: Stack) -> None:
    uv = tomllib.loads(render_uv(default_stack.pins))["tool"]["uv"]
    assert "index" not in uv
    assert "sources" not in uv
    assert "torch==2.0.0" in uv["constraint-dependencies"]


def test_conda_environment(variant_stack: Stack) -> None:
    text = render_environment(variant_stack.pins, name="proj", requirements=NUMPY)
    env = YAML(typ="safe").load(text)
    assert env["name"] == "proj"
    assert env["channels"] == ["conda-forge"]
    deps = env["dependencies"]
    assert "python=3.11" in deps
    assert "pytorch=2.0.0=cuda*" in deps
    assert "torchvision=0.15.0" in deps  # conda has no local labels
    assert "cuda-version=11.8" in deps
    assert "numpy<2" in deps
    pip = next(d["pip"] for d in deps if isinstance(d, dict))
    assert sorted(pip) == ["torchdata==0.6.0", "torchtext==0.15.0"]


def test_conda_cpu_build(db: Database) -> None:
    target = Target(python=Version("3.11"), cuda="cpu")
    stack = select_stack(db, target, SpecifierSet("==2.4.0"), "latest")
    deps = YAML(typ="safe").load(render_environment(stack.pins))["dependencies"]
    assert "pytorch=2.4.0=cpu*" in deps
    assert not any(str(d).startswith("cuda-version") for d in deps)


def test_pylock_with_wheels_is_valid_pep751(variant_stack: Stack) -> None:
    files = {
        pin.name: [
            LockedWheel(
                name=f"{pin.name}-{pin.version}-cp311-cp311-linux_x86_64.whl",
                url=f"http://127.0.0.1:1/files/{pin.name}-{pin.version}.whl",
                hashes={"sha256": "c" * 64},
                size=123,
                upload_time=datetime(2023, 3, 15, tzinfo=timezone.utc),
            )
        ]
        for pin in variant_stack.pins.pins
    }
    text = render_pylock(variant_stack.pins, files=files)
    assert pylock_problems(text) == []
    data = tomllib.loads(text)
    assert data["lock-version"] == "1.0"
    assert data["created-by"].startswith("torchresolve")
    torch = next(p for p in data["packages"] if p["name"] == "torch")
    assert torch["version"] == "2.0.0+cu118"
    assert torch["index"] == variant_index_url("cu118")
    assert torch["wheels"][0]["hashes"] == {"sha256": "c" * 64}


def test_pylock_without_known_files_names_the_gap(default_stack: Stack) -> None:
    text = render_pylock(default_stack.pins, default_index="http://127.0.0.1:1/simple")
    data = tomllib.loads(text)
    assert {p["index"] for p in data["packages"]} == {"http://127.0.0.1:1/simple"}
    assert all("wheels" not in p for p in data["packages"])
    problems = pylock_problems(text)
    assert problems
    assert "packages[0]" in problems[0]
