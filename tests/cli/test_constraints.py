"""``torchresolve constraints``: pins for a target, refusals with reasons, target flags."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from torchresolve.cli._target_options import add_target_arguments, target_from_args
from torchresolve.cli.main import main
from torchresolve.db import load_database
from torchresolve.errors import InputError
from torchresolve.hardware.model import Detection, GpuInfo
from torchresolve.observer import Observer
from torchresolve.target import GpuArch

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

GOOD = Path(__file__).parents[1] / "db" / "fixtures" / "good"
DB = ["--db", str(GOOD)]


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["-q", "constraints", *DB, "--platform", "linux_x86_64", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_pip_constraints_for_an_h100(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "--torch", "2.0.0", "--gpu", "H100", "--python", "3.11")
    assert code == 0, err
    lines = [x for x in out.splitlines() if x and not x.startswith("#")]
    assert lines[0] == "--extra-index-url https://download.pytorch.org/whl/cu118"
    assert Requirement("torch==2.0.0+cu118") in [Requirement(x) for x in lines[1:]]


def test_output_file_and_uv_format(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    target = tmp_path / "uv.toml"
    code, out, _ = _run(
        capsys,
        "--torch",
        "2.1",
        "--cuda",
        "cpu",
        "--python",
        "3.10",
        "--format",
        "uv",
        "-o",
        str(target),
    )
    assert code == 0
    assert out == ""
    uv = tomllib.loads(target.read_text(encoding="utf-8"))["tool"]["uv"]
    assert "torch==2.1.0+cpu" in uv["constraint-dependencies"]


@pytest.mark.parametrize(
    ("argv", "reason"),
    [
        (
            ["--torch", "1.5.0", "--gpu", "GTX 1080", "--python", "3.11"],
            "torch 1.5.0 has no wheels for CPython 3.11 on linux_x86_64 (it has 3.5-3.8)",
        ),
        (
            ["--torch", "2.0.0", "--gpu", "H100", "--cuda", "11.7", "--python", "3.11"],
            "torch 2.0.0+cu117 has kernels for sm_37..sm_86; the H100 is sm_90",
        ),
        (
            ["--torch", "2.1.0", "--gpu", "A100", "--driver", "440.33", "--python", "3.11"],
            "driver 440.33 is older than CUDA 11.8 needs (>= 450.80.02",
        ),
        (
            ["--torch", "2.0.0", "--cuda", "12.1", "--gpu", "A100", "--python", "3.11"],
            "torch 2.0.0 has no CUDA 12.1 build (it has CUDA 11.7, 11.8)",
        ),
    ],
)
def test_refusals_exit_1_with_the_reason(
    capsys: pytest.CaptureFixture[str], argv: list[str], reason: str
) -> None:
    code, out, err = _run(capsys, *argv)
    assert code == 1
    assert out == ""
    assert err.startswith("torchresolve: error: no build of torch==")
    assert reason in err
    assert err.count("\n") == 1


def test_driver_refusal_names_every_cuda_build(capsys: pytest.CaptureFixture[str]) -> None:
    _, _, err = _run(capsys, "--torch", "2.1.0", "--gpu", "A100", "--driver", "440.33")
    assert "older than CUDA 11.8 needs" in err
    assert "older than CUDA 12.1 needs (>= 525.60.13" in err


@pytest.mark.parametrize(
    ("argv", "problem"),
    [
        (["--cuda", "eleven"], "'eleven' is not a CUDA choice"),
        (["--gpu", "Voodoo 5"], "unknown GPU 'Voodoo 5'"),
        (["--driver", "new"], "'new' is not an NVIDIA driver version"),
        (["--python", "no/such/python"], "is neither a version (3.X) nor an existing"),
        (["--format", "poetry"], "--format 'poetry' is not one of pip, uv, conda, pylock"),
        (["--torch", "==banana"], "--torch '==banana' is neither a version nor a specifier"),
    ],
)
def test_bad_flag_values_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], problem: str
) -> None:
    code, out, err = _run(capsys, "--cuda", "cpu", "--python", "3.11", *argv)
    assert code == 2
    assert out == ""
    assert problem in err


def test_python_from_an_interpreter_path(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "--torch", ">=2", "--cuda", "cpu", "--python", sys.executable)
    assert code == 0
    here = f"CPython {sys.version_info.major}.{sys.version_info.minor},"
    assert here in out


def test_existing_output_untouched_on_refusal(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    target = tmp_path / "constraints.txt"
    target.write_text("keep\n", encoding="utf-8")
    code, _, _ = _run(
        capsys, "--torch", "1.5.0", "--cuda", "cpu", "--python", "3.12", "-o", str(target)
    )
    assert code == 1
    assert target.read_text(encoding="utf-8") == "keep\n"


# -- target_from_args ------------------------------------------------------------------------


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_target_arguments(parser)
    return parser.parse_args(["--python", "3.11", "--platform", "linux_x86_64", *argv])


def _detect_h100() -> Detection:
    gpu = GpuInfo(index=0, name="NVIDIA H100 80GB HBM3", arch=None)
    return Detection(gpus=(gpu,), driver=Version("550.54.15"), method="nvml")


def _detect_nothing() -> Detection:
    return Detection(method="nvidia-smi", notes=("nvidia-smi not found",))


class _Notes(Observer):
    def __init__(self) -> None:
        self.notes: list[str] = []

    def note(self, message: str) -> None:
        self.notes.append(message)


def test_auto_uses_the_detected_gpu() -> None:
    db = load_database(GOOD)
    target = target_from_args(_args(), db, Observer(), detect=_detect_h100)
    assert target.arch == GpuArch(9, 0)  # looked up by name: detection gave none
    assert target.driver == Version("550.54.15")
    assert target.cuda is None
    assert target.detected == (
        "gpu: NVIDIA H100 80GB HBM3 (sm_90) via nvml",
        "driver: 550.54.15 via nvml",
    )


def test_auto_without_a_gpu_means_cpu() -> None:
    observer = _Notes()
    target = target_from_args(_args(), load_database(GOOD), observer, detect=_detect_nothing)
    assert target.cuda == "cpu"
    assert target.arch is None
    assert target.detected == ("cuda: cpu (no NVIDIA GPU detected through NVML or nvidia-smi)",)
    assert observer.notes == ["nvidia-smi not found"]


def _no_detection() -> Detection:
    raise AssertionError("detection must not run")


def test_gpu_flag_skips_detection_and_lets_the_planner_choose() -> None:
    db = load_database(GOOD)
    target = target_from_args(_args("--gpu", "sm_86"), db, Observer(), detect=_no_detection)
    assert target.arch == GpuArch(8, 6)
    assert target.cuda is None
    assert target.detected == ()


def test_explicit_cuda_and_driver() -> None:
    db = load_database(GOOD)
    args = _args("--cuda", "cu118", "--driver", "520.61.05")
    target = target_from_args(args, db, Observer(), detect=_no_detection)
    assert target.cuda == "11.8"
    assert target.driver == Version("520.61.05")


def test_defaults_come_from_this_machine() -> None:
    parser = argparse.ArgumentParser()
    add_target_arguments(parser)
    db = load_database(GOOD)
    target = target_from_args(parser.parse_args([]), db, Observer(), detect=_detect_nothing)
    assert target.python == Version(f"{sys.version_info.major}.{sys.version_info.minor}")
    assert any(d.startswith("python: ") for d in target.detected)
    assert any(d.startswith("platform: ") for d in target.detected)


def test_unknown_platform_is_an_input_error() -> None:
    with pytest.raises(InputError, match="'solaris' is not a platform"):
        target_from_args(
            _args("--platform", "solaris"), load_database(GOOD), Observer(), detect=_no_detection
        )


# -- hashes and pylock from a local index ------------------------------------------------------

TORCH_241 = """
[[torch]]
version = "2.4.1"
released = 2024-09-04
pypi_variant = "cu121"
numpy_abi = 2

[torch.python]
linux_x86_64 = ["3.8", "3.11", "3.12"]

[[torch.variant]]
name = "cu121"
arch = ["sm_50", "sm_60", "sm_70", "sm_75", "sm_80", "sm_86", "sm_90"]
source = "test"

[[torch.variant]]
name = "cu118"
arch = ["sm_50", "sm_60", "sm_70", "sm_75", "sm_80", "sm_86", "sm_90"]
source = "test"
"""


@pytest.fixture
def lock_db(tmp_path: Path) -> Path:
    """A database whose only release, torch 2.4.1, is the one the recorded index has."""
    folder = tmp_path / "db"
    folder.mkdir()
    for name in ("cuda.toml", "gpus.toml"):
        (folder / name).write_bytes((GOOD / name).read_bytes())
    (folder / "torch.toml").write_text(TORCH_241, encoding="utf-8")
    return folder


def _recorded_sha256(filename: str) -> str:
    page = Path(__file__).parents[1] / "fixtures" / "index" / "simple" / "torch" / "index.json"
    files = json.loads(page.read_text("utf-8"))["files"]
    return next(f["hashes"]["sha256"] for f in files if f["filename"] == filename)


@pytest.mark.usefixtures("isolated_pip_env")
def test_pylock_with_hashes_from_the_index(
    capsys: pytest.CaptureFixture[str], index_server: Any, lock_db: Path, tmp_path: Path
) -> None:
    from torchresolve.writers import pylock_problems

    code = main(
        [
            "-q",
            "constraints",
            "--db",
            str(lock_db),
            "--platform",
            "linux_x86_64",
            "--torch",
            "2.4.1",
            "--gpu",
            "A100",
            "--python",
            "3.11",
            "--format",
            "pylock",
            "--index-url",
            index_server.simple_url,
            "--cache-dir",
            str(tmp_path / "cache"),
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert pylock_problems(out) == []
    (torch,) = tomllib.loads(out)["packages"]
    assert torch["version"] == "2.4.1"
    assert torch["index"] == index_server.simple_url
    (wheel,) = torch["wheels"]
    assert wheel["name"] == "torch-2.4.1-cp311-cp311-manylinux1_x86_64.whl"
    assert wheel["hashes"] == {"sha256": _recorded_sha256(wheel["name"])}


@pytest.mark.usefixtures("isolated_pip_env")
def test_pip_hashes_and_missing_wheel(
    capsys: pytest.CaptureFixture[str], index_server: Any, lock_db: Path, tmp_path: Path
) -> None:
    common = [
        "-q",
        "constraints",
        "--db",
        str(lock_db),
        "--platform",
        "linux_x86_64",
        "--torch",
        "2.4.1",
        "--gpu",
        "A100",
        "--hashes",
        "--index-url",
        index_server.simple_url,
        "--cache-dir",
        str(tmp_path / "cache"),
    ]
    assert main([*common, "--python", "3.8"]) == 0
    out = capsys.readouterr().out
    sha = _recorded_sha256("torch-2.4.1-cp38-cp38-manylinux1_x86_64.whl")
    assert f"torch==2.4.1 \\\n    --hash=sha256:{sha}" in out
    assert main([*common, "--python", "3.12"]) == 1
    err = capsys.readouterr().err
    assert err == (
        "torchresolve: error: no wheel of torch 2.4.1 with a hash for CPython 3.12 on "
        "linux_x86_64 on the configured index\n"
    )


def test_detected_gpus_of_several_architectures_plan_for_the_oldest() -> None:
    def detect() -> Detection:
        gpus = (
            GpuInfo(index=0, name="NVIDIA H100 80GB HBM3", arch=GpuArch(9, 0)),
            GpuInfo(index=1, name="Mystery Accelerator 9000", arch=None),
            GpuInfo(index=2, name="NVIDIA A100-SXM4-80GB", arch=None),
        )
        return Detection(gpus=gpus, driver=Version("550.54.15"), method="nvidia-smi")

    observer = _Notes()
    target = target_from_args(_args(), load_database(GOOD), observer, detect=detect)
    assert target.arch == GpuArch(8, 0)
    assert target.gpu_name == "NVIDIA A100-SXM4-80GB"
    assert observer.notes == [
        "unknown GPU model 'Mystery Accelerator 9000': its architecture is not checked",
        "GPUs of several architectures: planning for the oldest, sm_80",
    ]


def test_detected_unknown_gpu_is_not_checked() -> None:
    def detect() -> Detection:
        gpu = GpuInfo(index=0, name="Mystery Accelerator 9000", arch=None)
        return Detection(gpus=(gpu,), method="nvml")

    target = target_from_args(_args(), load_database(GOOD), _Notes(), detect=detect)
    assert target.arch is None
    assert target.cuda is None
    assert target.detected == ("gpu: Mystery Accelerator 9000 (unknown arch) via nvml",)


def test_pytorch_index_mirror(capsys: pytest.CaptureFixture[str]) -> None:
    mirror = "https://mirror.example.internal/pytorch/whl/"
    code, out, _ = _run(
        capsys,
        "--torch",
        "2.0.0",
        "--gpu",
        "H100",
        "--python",
        "3.11",
        "--pytorch-index",
        mirror,
        "--format",
        "uv",
    )
    assert code == 0
    uv = tomllib.loads(out)["tool"]["uv"]
    assert uv["index"][0]["url"] == "https://mirror.example.internal/pytorch/whl/cu118"


@pytest.mark.usefixtures("isolated_pip_env")
def test_variant_pins_are_looked_up_on_the_variant_index(
    capsys: pytest.CaptureFixture[str], index_server: Any, lock_db: Path, tmp_path: Path
) -> None:
    # The recorded PyTorch page lists torch 2.4.1+cu118 without a hash: nothing to lock.
    pytorch = index_server.simple_url.replace("/simple/", "/pytorch/")
    code = main(
        [
            "-q",
            "constraints",
            "--db",
            str(lock_db),
            "--platform",
            "linux_x86_64",
            "--torch",
            "2.4.1",
            "--gpu",
            "A100",
            "--python",
            "3.11",
            "--cuda",
            "11.8",
            "--format",
            "pylock",
            "--pytorch-index",
            pytorch,
            "--index-url",
            index_server.simple_url,
            "--cache-dir",
            str(tmp_path / "cache"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert err == (
        "torchresolve: error: no wheel of torch 2.4.1+cu118 with a hash for CPython 3.11 on "
        f"linux_x86_64 on {pytorch.rstrip('/')}/cu118\n"
    )
    assert any(entry.path.startswith("/pytorch/cu118/torch") for entry in index_server.log)
