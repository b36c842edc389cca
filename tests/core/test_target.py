"""Parsing of target flags at the boundary."""

from __future__ import annotations

import pytest
from packaging.version import Version

from torchresolve.errors import InputError
from torchresolve.target import (
    GpuArch,
    parse_arch,
    parse_cuda,
    parse_driver,
    parse_platform,
    parse_python,
    variant_cuda,
)


@pytest.mark.parametrize(
    ("text", "arch"),
    [
        ("sm_90", GpuArch(9, 0)),
        ("sm_90a", GpuArch(9, 0)),
        ("compute_86", GpuArch(8, 6)),
        ("9.0", GpuArch(9, 0)),
        ("12.0", GpuArch(12, 0)),
        ("sm_120", GpuArch(12, 0)),
        ("61", GpuArch(6, 1)),
    ],
)
def test_arch_forms(text: str, arch: GpuArch) -> None:
    assert parse_arch(text) == arch


def test_arch_renders_like_torch_and_nvidia_smi() -> None:
    assert str(GpuArch(12, 0)) == "sm_120"
    assert GpuArch(8, 6).capability == "8.6"


@pytest.mark.parametrize("text", ["H100", "sm_", "9", "ninety"])
def test_bad_arch_is_input_error(text: str) -> None:
    with pytest.raises(InputError, match="is not a GPU architecture"):
        parse_arch(text)


def test_python_is_reduced_to_major_minor() -> None:
    assert parse_python("3.11.4") == Version("3.11")
    with pytest.raises(InputError):
        parse_python("2.7")
    with pytest.raises(InputError):
        parse_python("3")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("auto", "auto"), ("CPU", "cpu"), ("11.8", "11.8"), ("cu121", "12.1"), ("cu92", "9.2")],
)
def test_cuda_choices(text: str, expected: str) -> None:
    assert parse_cuda(text) == expected


def test_bad_cuda_and_driver_are_input_errors() -> None:
    with pytest.raises(InputError):
        parse_cuda("rocm")
    with pytest.raises(InputError):
        parse_driver("latest")
    assert parse_driver("470.57") == Version("470.57")


def test_variant_cuda() -> None:
    assert variant_cuda("cu118") == Version("11.8")
    assert variant_cuda("cu130") == Version("13.0")
    assert variant_cuda("cpu") is None
    assert variant_cuda("rocm6.2") is None


def test_platform_aliases() -> None:
    assert parse_platform("x86_64-manylinux_2_28") == "linux_x86_64"
    assert parse_platform("win_amd64") == "windows"
    with pytest.raises(InputError, match="is not a platform"):
        parse_platform("solaris")


def test_input_error_names_file_line_and_key() -> None:
    assert str(InputError("bad", path="reqs.txt", line=7)) == "reqs.txt:7: bad"
    assert str(InputError("bad", path="data.toml", key="torch[2]")) == "data.toml: torch[2]: bad"
