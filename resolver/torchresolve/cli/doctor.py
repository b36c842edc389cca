"""``torchresolve doctor``: GPUs, driver, the installed torch build, and whether they fit."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from torchresolve.errors import DataError, HardwareError

if TYPE_CHECKING:
    import argparse

    from torchresolve.cli._console import Console
    from torchresolve.hardware.doctor import TorchBuild, Verdict
    from torchresolve.hardware.model import Detection

__all__ = ["add_parser", "render_json", "render_text"]


def add_parser(sub: argparse._SubParsersAction[Any]) -> None:
    """Register the command."""
    from torchresolve.cli._target_options import add_database_argument

    parser = sub.add_parser(
        "doctor",
        help="check that the installed torch can use this machine's GPU and driver",
        description="Report the GPUs, the driver and the newest CUDA it supports, the installed "
        "torch build (read by the target Python), and whether they work together; if not, "
        "the torchresolve constraints command that finds a build that does.",
    )
    parser.add_argument(
        "--python", metavar="PATH", help="interpreter whose torch to check (default: active env)"
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    add_database_argument(parser)
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace, console: Console) -> int:
    from torchresolve._fileio import write_output
    from torchresolve.hardware import Detection, detect
    from torchresolve.hardware.doctor import diagnose, probe_torch
    from torchresolve.sources.lockfiles import default_python

    db = None
    try:
        from torchresolve.cli._target_options import database_from_args

        db = database_from_args(args)
    except DataError as exc:  # the verdict still works from the driver's own CUDA version
        console.warn(f"curated database unavailable, driver floors from the driver only: {exc}")
    try:
        detection = detect(gpu_lookup=None if db is None else (lambda name: db.gpu(name).arch))
    except HardwareError as exc:
        detection = Detection(method="none", notes=(f"GPU detection failed: {exc}",))
    python = args.python or default_python()
    build = probe_torch(python)
    verdict = diagnose(detection, build, db)
    text = (
        render_json(detection, build, verdict)
        if args.json
        else render_text(detection, build, verdict)
    )
    write_output("-", text)
    return 1 if verdict.status in {"broken", "no-torch"} else 0


def render_text(detection: Detection, build: TorchBuild, verdict: Verdict) -> str:
    """The doctor report for a terminal."""
    from torchresolve.db.model import format_driver

    lines = []
    if detection.gpus:
        for gpu in detection.gpus:
            memory = f", {gpu.memory_mib} MiB" if gpu.memory_mib is not None else ""
            arch = f"{gpu.arch} (compute capability {gpu.arch.capability})" if gpu.arch else "?"
            lines.append(f"GPU {gpu.index}:       {gpu.name}, {arch}{memory}")
    else:
        lines.append("GPU:         no NVIDIA GPU")
    if detection.driver is not None:
        cuda = f" (supports CUDA <= {detection.driver_cuda})" if detection.driver_cuda else ""
        lines.append(f"Driver:      {format_driver(detection.driver)}{cuda}")
    lines.append(f"Detected by: {detection.method}")
    lines += [f"  note: {note}" for note in detection.notes]
    lines.append(f"Python:      {build.executable} ({build.python})")
    if build.version is None:
        lines.append(f"torch:       not importable: {build.error}")
    else:
        runtime = (
            f"CUDA {build.cuda}" if build.cuda else (f"HIP {build.hip}" if build.hip else "CPU")
        )
        lines.append(f"torch:       {build.version} ({runtime})")
        if build.arch_list:
            lines.append(f"  arch list: {' '.join(build.arch_list)}")
        if build.cudnn:
            lines.append(f"  cuDNN:     {build.cudnn}")
        if build.nccl:
            lines.append(f"  NCCL:      {build.nccl}")
        available = f"yes, {build.device_count} device(s)" if build.cuda_available else "no"
        lines.append(f"  CUDA available: {available}")
    lines.append("")
    lines.append(f"Verdict:     {verdict.status.upper()}")
    lines += [f"  - {reason}" for reason in verdict.reasons]
    if verdict.command:
        lines.append(f"Fix:         {verdict.command}")
    return "\n".join(lines) + "\n"


def render_json(detection: Detection, build: TorchBuild, verdict: Verdict) -> str:
    """The doctor report as JSON (``gpus``, ``driver``, ``torch``, ``verdict``)."""
    from torchresolve.db.model import format_driver

    document = {
        "gpus": [
            {
                "index": g.index,
                "name": g.name,
                "arch": str(g.arch) if g.arch else None,
                "compute_capability": g.arch.capability if g.arch else None,
                "memory_mib": g.memory_mib,
            }
            for g in detection.gpus
        ],
        "driver": format_driver(detection.driver) if detection.driver else None,
        "driver_cuda": str(detection.driver_cuda) if detection.driver_cuda else None,
        "method": detection.method,
        "notes": list(detection.notes),
        "python": {"executable": build.executable, "version": build.python},
        "torch": {
            "version": str(build.version) if build.version else None,
            "error": build.error,
            "cuda": str(build.cuda) if build.cuda else None,
            "hip": build.hip,
            "arch_list": list(build.arch_list),
            "cudnn": build.cudnn,
            "nccl": build.nccl,
            "cuda_available": build.cuda_available,
            "device_count": build.device_count,
        },
        "verdict": {
            "status": verdict.status,
            "reasons": list(verdict.reasons),
            "command": verdict.command,
        },
    }
    return json.dumps(document, indent=2) + "\n"
