"""Database queries: GPU names, kernel compatibility, driver floors, rules, companions."""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.version import Version

from torchresolve.db import Database, Variant, format_driver, load_database
from torchresolve.errors import InputError
from torchresolve.target import GpuArch, parse_arch

GOOD = Path(__file__).parent / "fixtures" / "good"


@pytest.fixture(scope="module")
def db() -> Database:
    return load_database(GOOD)


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ("H100", "NVIDIA H100 80GB HBM3"),
        ("NVIDIA H100 80GB HBM3", "NVIDIA H100 80GB HBM3"),
        ("nvidia h100 pcie", "NVIDIA H100 80GB HBM3"),
        ("GTX 1080", "NVIDIA GeForce GTX 1080"),  # exact alias beats "GTX 1080 Ti"
        ("NVIDIA GeForce GTX 1080 Ti", "NVIDIA GeForce GTX 1080 Ti"),
        ("rtx 4090", "NVIDIA GeForce RTX 4090"),
        ("Tesla K80", "Tesla K80"),
        ("A10", "NVIDIA A10"),  # words, not characters: never the A100
        ("4090", "NVIDIA GeForce RTX 4090"),  # unique contains-match
        ("NVIDIA H100 PCIe MIG 1g.10gb", "NVIDIA H100 80GB HBM3"),  # query contains a name
    ],
)
def test_gpu_names(db: Database, query: str, name: str) -> None:
    assert db.gpu(query).name == name


@pytest.mark.parametrize(("query", "arch"), [("sm_90", GpuArch(9, 0)), ("8.6", GpuArch(8, 6))])
def test_gpu_architecture_gives_synthetic_model(db: Database, query: str, arch: GpuArch) -> None:
    model = db.gpu(query)
    assert model.arch == arch
    assert model.name == str(arch)
    assert model.family == ("Hopper" if arch.major == 9 else "Ampere")


def test_ambiguous_gpu_lists_candidates(db: Database) -> None:
    with pytest.raises(InputError, match="ambiguous: it matches NVIDIA GeForce GTX 1080, NVIDIA"):
        db.gpu("GTX")


def test_unknown_gpu_lists_close_matches(db: Database) -> None:
    with pytest.raises(InputError, match=r"unknown GPU 'A1000' \(close matches: A100"):
        db.gpu("A1000")


@pytest.mark.parametrize(
    ("arch", "ptx", "gpu", "expected"),
    [
        (["sm_80"], [], "sm_86", "sass"),  # same major, higher minor
        (["sm_86"], [], "sm_80", None),  # lower minor cannot run newer SASS
        (["sm_80", "sm_86"], [], "sm_90", None),  # SASS never crosses a major
        (["sm_80"], ["compute_80"], "sm_90", "ptx"),  # PTX JIT on anything newer
        (["sm_70"], ["compute_90"], "sm_86", None),  # PTX not for older GPUs
        (["sm_90"], [], "sm_120", None),
        (["sm_50", "sm_120"], [], "sm_121", "sass"),
    ],
)
def test_kernels_for(arch: list[str], ptx: list[str], gpu: str, expected: str | None) -> None:
    variant = Variant(
        name="cu128",
        arch=tuple(parse_arch(a) for a in arch),
        ptx=tuple(parse_arch(p) for p in ptx),
    )
    assert variant.kernels_for(parse_arch(gpu)) == expected


def test_arch_specific_cubin_gives_no_compatibility(db: Database) -> None:
    release = db.torch("2.4.0")
    assert release is not None
    # sm_90a is listed, but only sm_90 SASS and compute_90 PTX count.
    assert release.variants["cu121"].kernels_for(GpuArch(10, 0)) == "ptx"
    assert release.variants["cu124"].kernels_for(GpuArch(10, 0)) is None


def test_min_driver(db: Database) -> None:
    floor = db.min_driver(Version("11.8"))
    assert format_driver(floor.toolkit or Version("0")) == "520.61.05"
    assert format_driver(floor.minor_compat or Version("0")) == "450.80.02"
    assert floor.required == floor.minor_compat
    windows = db.min_driver(Version("11.8"), "windows")
    assert windows.toolkit == Version("520.06")
    old = db.min_driver(Version("10.2"))
    assert old.minor_compat is None
    assert old.required == Version("440.33")
    unknown = db.min_driver(Version("13.0"))
    assert unknown.toolkit is None
    assert unknown.required is None


def test_torch_lookup_ignores_local_label(db: Database) -> None:
    release = db.torch("2.0.0+cu118")
    assert release is not None
    assert release.version == Version("2.0.0")
    assert db.torch("9.9.9") is None


def test_release_for_companion(db: Database) -> None:
    release = db.release_for_companion("torchvision", Version("0.6.0+cu92"))
    assert release is not None
    assert release.version == Version("1.5.0")
    assert db.release_for_companion("TorchAudio", Version("2.1.0")) is db.torch("2.1.0")
    assert db.release_for_companion("torchvision", Version("0.99")) is None


def test_rules_for(db: Database) -> None:
    assert [r.id for r in db.rules_for("torch", Version("2.1.0"))] == ["numpy-abi-1"]
    assert db.rules_for("torch", Version("2.4.0")) == ()
    assert [r.id for r in db.rules_for("TorchVision", Version("0.6.0"))] == ["torchvision-python"]


def test_first_wheel(db: Database) -> None:
    assert db.first_wheel("numpy", Version("3.11")) == Version("1.23.2")
    assert db.first_wheel("numpy", Version("3.12")) is None


def test_has_wheel(db: Database) -> None:
    release = db.torch("1.5.0")
    assert release is not None
    assert release.has_wheel(Version("3.8"), "linux_x86_64")
    assert not release.has_wheel(Version("3.11"), "linux_x86_64")
    assert not release.has_wheel(Version("3.8"), "linux_aarch64")


def test_a_name_shared_by_models_of_one_arch_is_not_ambiguous() -> None:
    from torchresolve.db import GpuModel, match_gpu

    models = [
        GpuModel(name="NVIDIA A100-SXM4-40GB", aliases=("A100",), arch=GpuArch(8, 0)),
        GpuModel(name="NVIDIA A100-SXM4-80GB", aliases=("A100",), arch=GpuArch(8, 0)),
        GpuModel(name="Odd A200", aliases=("X1",), arch=GpuArch(8, 0)),
        GpuModel(name="Odd B200", aliases=("X1",), arch=GpuArch(10, 0)),
    ]
    assert match_gpu(models, "A100").name == "NVIDIA A100-SXM4-40GB"
    with pytest.raises(InputError, match="ambiguous: it matches Odd A200, Odd B200"):
        match_gpu(models, "X1")
