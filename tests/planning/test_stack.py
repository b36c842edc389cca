"""Choosing a torch build for a target, and refusing with the reason when none can run."""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from torchresolve.db import Database, load_database
from torchresolve.errors import ResolutionError
from torchresolve.planning.stack import (
    PYTORCH_INDEX,
    StackRefused,
    builds_for,
    select_stack,
    variant_index_url,
)
from torchresolve.target import Target, parse_arch

GOOD = Path(__file__).parents[1] / "db" / "fixtures" / "good"


@pytest.fixture(scope="module")
def db() -> Database:
    return load_database(GOOD)


def _gpu(
    db: Database, name: str, *, python: str = "3.11", driver: str | None = None, **kw: str
) -> Target:
    model = db.gpu(name)
    return Target(
        python=Version(python),
        gpu_name=model.name,
        arch=model.arch,
        driver=None if driver is None else Version(driver),
        **kw,  # type: ignore[arg-type]
    )


def _refusal(db: Database, target: Target, spec: str) -> str:
    with pytest.raises(StackRefused) as caught:
        select_stack(db, target, SpecifierSet(spec), "latest")
    assert isinstance(caught.value, ResolutionError)
    return str(caught.value)


def test_variant_index_url() -> None:
    assert variant_index_url("cu118") == f"{PYTORCH_INDEX}/cu118"
    assert PYTORCH_INDEX == "https://download.pytorch.org/whl"


def test_refused_without_a_wheel_for_the_python(db: Database) -> None:
    message = _refusal(db, _gpu(db, "GTX 1080"), "==1.5.0")
    assert "torch 1.5.0 has no wheels for CPython 3.11 on linux_x86_64 (it has 3.5-3.8)" in message


def test_refused_when_the_gpu_arch_is_not_in_the_build(db: Database) -> None:
    message = _refusal(db, _gpu(db, "H100", cuda="11.7"), "==2.0.0")
    assert "torch 2.0.0+cu117 has kernels for sm_37..sm_86; the H100 is sm_90" in message


def test_refused_when_the_driver_is_too_old(db: Database) -> None:
    message = _refusal(db, _gpu(db, "A100", driver="470.57.02", cuda="12.1"), "==2.1.0")
    assert (
        "driver 470.57.02 is older than CUDA 12.1 needs (>= 525.60.13 with minor-version "
        "compatibility; the CUDA 12.1 toolkit driver is 530.30.02)"
    ) in message


def test_refused_when_the_cuda_version_is_not_published(db: Database) -> None:
    message = _refusal(db, _gpu(db, "A100", cuda="12.1"), "==2.0.0")
    assert "torch 2.0.0 has no CUDA 12.1 build (it has CUDA 11.7, 11.8)" in message


def test_refusal_shows_the_nearest_releases(db: Database) -> None:
    target = _gpu(db, "K80", python="3.8")  # sm_37: dropped after 2.0
    with pytest.raises(StackRefused) as caught:
        select_stack(db, target, SpecifierSet(">=2.1"), "latest")
    refused = caught.value
    assert sorted(refused.reasons) == [Version("2.1.0"), Version("2.4.0")]
    assert str(refused).startswith("no build of torch>=2.1 can run on this target: 2.4.0: ")
    assert "the K80 is sm_37" in str(refused)
    assert "\n" not in str(refused)


def test_no_release_matches(db: Database) -> None:
    message = _refusal(db, _gpu(db, "A100"), "==9.0")
    assert message == "no torch release in the database matches torch==9.0"


def test_default_build_preferred_when_it_fits(db: Database) -> None:
    stack = select_stack(db, _gpu(db, "A100"), SpecifierSet("==2.0.0"), "latest")
    assert stack.build.index_url is None
    assert stack.build.local == ""
    assert stack.build.variant.name == "cu117"
    torch = stack.pins.get("torch")
    assert torch is not None
    assert torch.version == Version("2.0.0")
    assert stack.pins.extra_index_urls == ()


def test_lowest_fitting_cuda_variant_when_the_default_does_not_fit(db: Database) -> None:
    stack = select_stack(db, _gpu(db, "H100"), SpecifierSet("==2.0.0"), "latest")
    assert stack.build.variant.name == "cu118"
    assert stack.build.index_url == variant_index_url("cu118")
    pins = {p.name: str(p.version) for p in stack.pins.pins}
    assert pins == {
        "torch": "2.0.0+cu118",
        "torchvision": "0.15.0+cu118",
        "torchaudio": "2.0.0",
        "torchtext": "0.15.0",
        "torchdata": "0.6.0",
    }
    assert stack.pins.extra_index_urls == (variant_index_url("cu118"),)
    indexes = {p.name: p.index for p in stack.pins.pins}
    assert indexes["torch"] == indexes["torchaudio"] == variant_index_url("cu118")
    assert indexes["torchtext"] is None  # pure Python: from the default index


def test_minimal_and_latest(db: Database) -> None:
    target = _gpu(db, "H100")
    assert select_stack(db, target, None, "minimal").build.release.version == Version("2.0.0")
    assert select_stack(db, target, None, "latest").build.release.version == Version("2.4.0")


def test_explicit_cuda_version(db: Database) -> None:
    stack = select_stack(db, _gpu(db, "A100", cuda="11.8"), SpecifierSet("==2.1.0"), "latest")
    assert str(stack.build.torch_version) == "2.1.0+cu118"


def test_cpu_target_on_linux_gets_the_cpu_variant(db: Database) -> None:
    target = Target(python=Version("3.11"), cuda="cpu")
    stack = select_stack(db, target, SpecifierSet("==2.1.0"), "latest")
    assert str(stack.build.torch_version) == "2.1.0+cpu"
    assert stack.build.index_url == variant_index_url("cpu")


@pytest.mark.parametrize("platform", ["windows", "macos_arm64"])
def test_cpu_target_elsewhere_gets_the_default_build(db: Database, platform: str) -> None:
    target = Target(python=Version("3.10"), platform=platform, cuda="cpu")  # type: ignore[arg-type]
    stack = select_stack(db, target, SpecifierSet("==2.0.0"), "latest")
    assert stack.build.index_url is None
    assert stack.build.torch_version == Version("2.0.0")


def test_no_cuda_builds_for_macos(db: Database) -> None:
    target = Target(python=Version("3.10"), platform="macos_arm64", arch=parse_arch("sm_90"))
    message = _refusal(db, target, "==2.0.0")
    assert "the PyTorch index has no cu118 builds for macOS" in message


def test_ptx_only_build_is_usable_with_a_note(db: Database) -> None:
    stack = select_stack(db, _gpu(db, "B200", python="3.12"), SpecifierSet("==2.4.0"), "latest")
    assert stack.build.variant.name == "cu121"
    assert any("PTX JIT" in note for note in stack.reasons)


def test_driver_between_minor_compat_and_toolkit_is_noted(db: Database) -> None:
    target = _gpu(db, "A100", driver="470.57.02")
    stack = select_stack(db, target, SpecifierSet("==2.0.0"), "latest")
    assert stack.build.variant.name == "cu117"
    assert any("minor-version compatibility only" in r for r in stack.reasons)


def test_numpy_bound_from_the_abi(db: Database) -> None:
    target = Target(python=Version("3.11"), cuda="cpu")
    old = select_stack(db, target, SpecifierSet("==2.1.0"), "latest")
    new = select_stack(db, target, SpecifierSet("==2.4.0"), "latest")
    assert not old.numpy.contains("2.0.0")
    assert old.numpy.contains("1.26.4")
    assert new.numpy.contains("2.0.0")


def test_builds_for_lists_every_build_ascending(db: Database) -> None:
    builds = builds_for(db, _gpu(db, "H100"), SpecifierSet(">=2.0,<2.2"))
    # The default build first (named by its variant), then the variant index by CUDA.
    assert [(str(b), b.index_url is None) for b in builds] == [
        ("torch 2.0.0+cu117", True),
        ("torch 2.0.0+cpu", False),
        ("torch 2.0.0+rocm5.4.2", False),
        ("torch 2.0.0+cu118", False),
        ("torch 2.1.0+cu121", True),
        ("torch 2.1.0+cpu", False),
        ("torch 2.1.0+cu118", False),
    ]
    usable = [str(b) for b in builds if b.usable]
    assert usable == ["torch 2.0.0+cu118", "torch 2.1.0+cu121", "torch 2.1.0+cu118"]
