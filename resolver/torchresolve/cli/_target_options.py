"""The target-machine flags shared by commands: ``--python --platform --gpu --driver --cuda``."""

from __future__ import annotations

import platform as _platform
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from torchresolve import _subprocess
from torchresolve.errors import InputError, SubprocessError
from torchresolve.target import (
    GpuArch,
    Platform,
    Target,
    parse_cuda,
    parse_driver,
    parse_platform,
    parse_python,
)

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable

    from torchresolve.db.model import Database
    from torchresolve.hardware.model import Detection, GpuInfo
    from torchresolve.observer import Observer

__all__ = [
    "add_database_argument",
    "add_target_arguments",
    "database_from_args",
    "parse_torch_spec",
    "running_platform",
    "target_from_args",
]

_VERSION_SCRIPT = "import sys; print('%d.%d' % sys.version_info[:2])"


def add_target_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the target flags to ``parser`` (all optional; see :func:`target_from_args`)."""
    group = parser.add_argument_group("target machine")
    group.add_argument(
        "--python",
        metavar="3.X|PATH",
        help="target CPython version, or an interpreter to ask (default: this Python)",
    )
    group.add_argument(
        "--platform",
        metavar="NAME",
        help="linux_x86_64, linux_aarch64, macos_arm64, macos_x86_64 or windows "
        "(default: this machine)",
    )
    group.add_argument(
        "--gpu", metavar="NAME|sm_XX", help="GPU model (H100, 'RTX 4090') or architecture"
    )
    group.add_argument("--driver", metavar="VER", help="NVIDIA driver version (535.104.05)")
    group.add_argument(
        "--cuda",
        metavar="X.Y|cpu|auto",
        default="auto",
        help="CUDA build to use; auto (default) detects the GPU when --gpu/--driver are absent",
    )


def running_platform() -> Platform:
    """This machine's platform name (Linux x86_64 when it is none of the known ones)."""
    machine = _platform.machine().lower()
    if sys.platform == "darwin":
        return "macos_arm64" if machine in {"arm64", "aarch64"} else "macos_x86_64"
    if sys.platform == "win32":
        return "windows"
    return "linux_aarch64" if machine in {"aarch64", "arm64"} else "linux_x86_64"


def _python(value: str | None) -> tuple[Version, str | None]:
    if value is None:
        here = parse_python(f"{sys.version_info.major}.{sys.version_info.minor}")
        return here, f"python: {here} (this interpreter)"
    try:
        return parse_python(value), None
    except InputError:
        path = Path(value)
        if not path.exists():
            raise InputError(
                f"--python {value!r} is neither a version (3.X) nor an existing interpreter"
            ) from None
    try:
        done = _subprocess.run([path, "-c", _VERSION_SCRIPT], timeout=30)
    except SubprocessError as exc:
        raise InputError(f"--python {value!r}: cannot run it: {exc}") from exc
    version = parse_python(done.stdout.strip())
    return version, f"python: {version} (from {value})"


def _detected_gpu(
    detection: Detection, db: Database, observer: Observer
) -> tuple[GpuInfo, GpuArch | None]:
    """The GPU to plan for: the oldest architecture when several differ (it constrains most)."""
    found: list[tuple[GpuInfo, GpuArch | None]] = []
    for gpu in detection.gpus:
        arch = gpu.arch
        if arch is None:
            try:
                arch = db.gpu(gpu.name).arch
            except InputError:
                observer.note(f"unknown GPU model {gpu.name!r}: its architecture is not checked")
        found.append((gpu, arch))
    known = [(g, a) for g, a in found if a is not None]
    if not known:
        return found[0]
    chosen = min(known, key=lambda pair: pair[1] or GpuArch(0, 0))
    if len({a for _, a in known}) > 1:
        observer.note(f"GPUs of several architectures: planning for the oldest, {chosen[1]}")
    return chosen


def target_from_args(
    args: argparse.Namespace,
    db: Database,
    observer: Observer,
    *,
    detect: Callable[[], Detection] | None = None,
) -> Target:
    """Build the :class:`Target` from the flags added by :func:`add_target_arguments`.

    ``--cuda auto`` without ``--gpu``/``--driver`` runs ``detect`` (default:
    :func:`torchresolve.hardware.detect`): a GPU found sets the architecture and driver and
    lets the planner choose the CUDA build; none found means a CPU build. ``--gpu`` or
    ``--driver`` with ``auto`` lets the planner choose too. How each value was obtained is
    recorded in :attr:`Target.detected`.

    :raises InputError: a flag value does not parse, or names an unknown GPU.
    """
    detected: list[str] = []
    python, how = _python(getattr(args, "python", None))
    if how:
        detected.append(how)
    platform_arg = getattr(args, "platform", None)
    if platform_arg is None:
        target_platform = running_platform()
        detected.append(f"platform: {target_platform} (this machine)")
    else:
        target_platform = parse_platform(platform_arg)
    cuda_choice = parse_cuda(getattr(args, "cuda", None) or "auto")
    gpu_arg = getattr(args, "gpu", None)
    driver_arg = getattr(args, "driver", None)
    gpu_name: str | None = None
    arch: GpuArch | None = None
    if gpu_arg is not None:
        model = db.gpu(gpu_arg)
        gpu_name, arch = model.name, model.arch
    driver = parse_driver(driver_arg) if driver_arg is not None else None
    cuda: str | None = None if cuda_choice == "auto" else cuda_choice
    if cuda_choice == "auto" and gpu_arg is None and driver_arg is None:
        if detect is None:
            from torchresolve.hardware import detect as detect_hardware

            detect = detect_hardware
        detection = detect()
        for note in detection.notes:
            observer.note(note)
        if detection.found:
            gpu, arch = _detected_gpu(detection, db, observer)
            gpu_name = gpu.name
            driver = detection.driver
            detected.append(f"gpu: {gpu.name} ({arch or 'unknown arch'}) via {detection.method}")
            if driver is not None:
                # Imported here: the database package is not needed to register the flags.
                from torchresolve.db.model import format_driver

                detected.append(f"driver: {format_driver(driver)} via {detection.method}")
        else:
            cuda = "cpu"
            detected.append("cuda: cpu (no NVIDIA GPU detected through NVML or nvidia-smi)")
    return Target(
        python=python,
        platform=target_platform,
        gpu_name=gpu_name,
        arch=arch,
        driver=driver,
        cuda=cuda,
        detected=tuple(detected),
    )


def parse_torch_spec(text: str) -> SpecifierSet:
    """Parse ``--torch``: a version (``2.1.0``, meaning ``==2.1.0``) or a specifier set.

    :raises InputError: neither.
    """
    raw = text.strip()
    try:
        return SpecifierSet(f"=={Version(raw)}")
    except InvalidVersion:
        pass
    try:
        spec = SpecifierSet(raw)
    except InvalidSpecifier:
        spec = None
    if spec is None or not raw:
        raise InputError(f"--torch {text!r} is neither a version nor a specifier (e.g. >=2.1,<2.4)")
    return spec


def add_database_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--db DIR``: read the curated database from a folder instead of the shipped one."""
    parser.add_argument(
        "--db",
        metavar="DIR",
        type=Path,
        help="folder of curated database *.toml files (default: the one shipped)",
    )


def database_from_args(args: argparse.Namespace) -> Database:
    """Load the database named by ``--db`` (the shipped one when absent).

    :raises InputError: ``--db`` is not a folder.
    :raises DataError: the database is malformed.
    """
    from torchresolve.db import load_database

    folder: Path | None = getattr(args, "db", None)
    if folder is not None and not folder.is_dir():
        raise InputError(f"--db {str(folder)!r} is not a folder")
    # The parsed-database cache lives with the index cache when --cache-dir names one.
    cache_dir: Path | None = getattr(args, "cache_dir", None)
    return load_database(folder, cache_dir=None if cache_dir is None else Path(cache_dir))
