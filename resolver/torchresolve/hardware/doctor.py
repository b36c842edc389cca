"""Can the installed torch use this machine's GPU? Probe the build, compare, say what to change.

:func:`probe_torch` asks the target interpreter about its torch build (in a subprocess, so a
broken install cannot take torchresolve down); :func:`diagnose` is pure and turns a
:class:`~torchresolve.hardware.model.Detection` and a :class:`TorchBuild` into a :class:`Verdict`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from packaging.version import InvalidVersion, Version

from torchresolve import _subprocess
from torchresolve.db.model import format_driver
from torchresolve.errors import InputError, SubprocessError
from torchresolve.target import GpuArch, parse_arch

if TYPE_CHECKING:
    from torchresolve.db import Database
    from torchresolve.hardware.detect import Runner
    from torchresolve.hardware.model import Detection

__all__ = ["PROBE_SCRIPT", "TorchBuild", "Verdict", "diagnose", "parse_probe", "probe_torch"]

PROBE_SCRIPT = """\
import json, sys
out = {"python": "%d.%d.%d" % sys.version_info[:3], "executable": sys.executable}
try:
    import torch
except Exception as exc:
    out["error"] = "%s: %s" % (type(exc).__name__, exc)
else:
    out["version"] = torch.__version__
    out["cuda"] = getattr(torch.version, "cuda", None)
    out["hip"] = getattr(torch.version, "hip", None)
    flags = ""
    try:
        flags = torch._C._cuda_getArchFlags() or ""
    except Exception:
        pass
    if not flags:
        try:
            flags = " ".join(torch.cuda.get_arch_list())
        except Exception:
            flags = ""
    out["arch_list"] = flags.split()
    try:
        out["cudnn"] = torch.backends.cudnn.version()
    except Exception:
        out["cudnn"] = None
    try:
        nccl = torch.cuda.nccl.version()
        out["nccl"] = ".".join(str(n) for n in nccl) if isinstance(nccl, tuple) else str(nccl)
    except Exception:
        out["nccl"] = None
    try:
        out["cuda_available"] = bool(torch.cuda.is_available())
        out["device_count"] = torch.cuda.device_count() if out["cuda_available"] else 0
    except Exception as exc:
        out["cuda_available"] = False
        out["device_count"] = 0
        out["cuda_error"] = "%s: %s" % (type(exc).__name__, exc)
print("TORCHRESOLVE-PROBE " + json.dumps(out))
"""


@dataclass(frozen=True, slots=True, kw_only=True)
class TorchBuild:
    """What the target interpreter says about its torch."""

    python: str
    executable: str
    version: Version | None = None
    """None when torch cannot be imported (see ``error``)."""
    error: str | None = None
    cuda: Version | None = None
    """CUDA runtime the build was compiled for; None for CPU and ROCm builds."""
    hip: str | None = None
    arch_list: tuple[str, ...] = ()
    """As ``torch.cuda.get_arch_list()`` prints it: ``sm_90``, ``compute_90``..."""
    cudnn: str | None = None
    nccl: str | None = None
    cuda_available: bool = False
    device_count: int = 0
    cuda_error: str | None = None

    @property
    def sass(self) -> tuple[GpuArch, ...]:
        """The SASS architectures compiled into the build (``sm_90a`` counts as ``sm_90``)."""
        return tuple(_archs(self.arch_list, "sm_"))

    @property
    def ptx(self) -> tuple[GpuArch, ...]:
        """The PTX targets embedded in the build."""
        return tuple(_archs(self.arch_list, "compute_"))

    def kernels_for(self, arch: GpuArch) -> Literal["sass", "ptx"] | None:
        """How this build runs on ``arch``, by the rules of ``Variant.kernels_for``."""
        from torchresolve.db import Variant

        variant = Variant(name="installed", arch=self.sass, ptx=self.ptx)
        return variant.kernels_for(arch)


def _archs(names: tuple[str, ...], prefix: str) -> list[GpuArch]:
    found = []
    for name in names:
        if name.startswith(prefix):
            try:
                found.append(parse_arch(name))
            except InputError:
                continue  # an arch this torchresolve does not know cannot match a GPU either
    return found


def _cudnn(value: object) -> str | None:
    if not isinstance(value, int) or value <= 0:
        return None
    if value >= 90000:  # cuDNN 9 encodes major * 10000 + minor * 100 + patch
        return f"{value // 10000}.{value % 10000 // 100}.{value % 100}"
    return f"{value // 1000}.{value % 1000 // 100}.{value % 100}"


def parse_probe(stdout: str, interpreter: str) -> TorchBuild:
    """Parse the output of :data:`PROBE_SCRIPT`.

    :raises InputError: the output has no probe line or it is not the expected JSON.
    """
    line = next((ln for ln in stdout.splitlines() if ln.startswith("TORCHRESOLVE-PROBE ")), None)
    if line is None:
        raise InputError("the interpreter printed no probe result", path=interpreter)
    try:
        data: dict[str, Any] = json.loads(line.split(" ", 1)[1])
        version = data.get("version")
        cuda = data.get("cuda")
        return TorchBuild(
            python=str(data["python"]),
            executable=str(data["executable"]),
            version=Version(version) if isinstance(version, str) else None,
            error=data.get("error"),
            cuda=Version(cuda) if isinstance(cuda, str) and cuda else None,
            hip=data.get("hip"),
            arch_list=tuple(str(a) for a in data.get("arch_list", [])),
            cudnn=_cudnn(data.get("cudnn")),
            nccl=data.get("nccl"),
            cuda_available=bool(data.get("cuda_available", False)),
            device_count=int(data.get("device_count", 0)),
            cuda_error=data.get("cuda_error"),
        )
    except (ValueError, KeyError, TypeError, InvalidVersion) as exc:
        raise InputError(f"unexpected probe result: {exc}", path=interpreter) from None


def probe_torch(python: str, *, runner: Runner | None = None, timeout: float = 120.0) -> TorchBuild:
    """Ask ``python`` about its torch build.

    :raises InputError: the interpreter cannot be run, or its answer cannot be read.
    """
    run = _subprocess.run if runner is None else runner
    try:
        done = run([python, "-c", PROBE_SCRIPT], timeout=timeout, check=False)
    except SubprocessError as exc:
        raise InputError(f"cannot run the interpreter: {exc.problem}", path=python) from None
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise InputError(f"the probe exited with status {done.returncode}: {tail}", path=python)
    return parse_probe(done.stdout, python)


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    """Whether the stack can use the GPU, why, and the smallest change that fixes it."""

    status: Literal["ok", "warning", "broken", "no-gpu", "no-torch"]
    reasons: tuple[str, ...]
    command: str | None = None
    """A ``torchresolve constraints`` command that finds a build that works, when one is needed."""


def diagnose(detection: Detection, build: TorchBuild, db: Database | None = None) -> Verdict:
    """Judge whether ``build`` can use the detected GPUs and driver.

    :param db: used for the CUDA driver floors when the driver did not report its CUDA version.
    """
    gpu = detection.gpus[0] if detection.gpus else None
    if build.version is None:
        return Verdict(
            status="no-torch",
            reasons=(f"torch cannot be imported: {build.error or 'not installed'}",),
            command=_command(None, gpu.arch if gpu else None, detection.driver, db),
        )
    if gpu is None:
        return Verdict(
            status="no-gpu",
            reasons=("no NVIDIA GPU was found; torch runs on the CPU",),
        )
    reasons: list[str] = []
    broken = False
    warning = False
    if build.cuda is None:
        what = f"a ROCm build (HIP {build.hip})" if build.hip else "a CPU-only build"
        reasons.append(f"torch {build.version} is {what}: it cannot use {gpu.name}")
        broken = True
    else:
        if gpu.arch is None:
            reasons.append(f"the architecture of {gpu.name} is unknown; kernels not checked")
            warning = True
        else:
            kernels = build.kernels_for(gpu.arch)
            carried = " ".join(build.arch_list) or "no architectures"
            if kernels is None:
                reasons.append(
                    f"torch {build.version} carries {carried}: no kernels for {gpu.name} "
                    f"({gpu.arch})"
                )
                broken = True
            elif kernels == "ptx":
                reasons.append(
                    f"torch {build.version} runs on {gpu.name} ({gpu.arch}) only by JIT-"
                    f"compiling PTX ({carried}): slow start, some kernels missing"
                )
                warning = True
            else:
                reasons.append(f"torch {build.version} has {gpu.arch} kernels for {gpu.name}")
        driver_problem = _driver_problem(detection, build.cuda, db)
        if driver_problem is not None:
            severity, text = driver_problem
            reasons.append(text)
            broken = broken or severity == "broken"
            warning = warning or severity == "warning"
        elif detection.driver is not None:
            reasons.append(
                f"driver {format_driver(detection.driver)} supports the CUDA {build.cuda} "
                "runtime of the build"
            )
        if not broken and not build.cuda_available:
            detail = f": {build.cuda_error}" if build.cuda_error else ""
            reasons.append(f"torch.cuda.is_available() is False in this environment{detail}")
            broken = True
    if broken:
        return Verdict(
            status="broken",
            reasons=tuple(reasons),
            command=_command(build.version, gpu.arch, detection.driver, db),
        )
    return Verdict(status="warning" if warning else "ok", reasons=tuple(reasons))


def _driver_problem(
    detection: Detection, cuda: Version, db: Database | None
) -> tuple[Literal["broken", "warning"], str] | None:
    driver = detection.driver
    runtime = Version(f"{cuda.major}.{cuda.minor}")
    if detection.driver_cuda is not None and detection.driver_cuda >= runtime:
        return None
    if db is not None and driver is not None:
        floor = db.min_driver(runtime)
        if floor.required is not None and driver < floor.required:
            return "broken", (
                f"driver {format_driver(driver)} is too old for the CUDA {runtime} runtime "
                "of the build "
                f"(needs >= {format_driver(floor.required)})"
            )
        if floor.toolkit is not None and driver < floor.toolkit:
            return "warning", (
                f"driver {format_driver(driver)} runs CUDA {runtime} only through "
                "minor-version compatibility "
                f"(full support from {format_driver(floor.toolkit)}); PTX JIT fails"
            )
        if floor.required is not None:
            return None
    if detection.driver_cuda is not None:
        if detection.driver_cuda.major == runtime.major:
            return "warning", (
                f"the driver supports CUDA {detection.driver_cuda}, older than the build's "
                f"{runtime}; it runs only through minor-version compatibility"
            )
        return "broken", (
            f"the driver supports CUDA {detection.driver_cuda}, but the build needs {runtime}"
        )
    return None


def _command(
    torch: Version | None, arch: GpuArch | None, driver: Version | None, db: Database | None
) -> str:
    """The constraints command to run: the same torch release when one of its builds fits."""
    parts = ["torchresolve", "constraints"]
    if torch is not None:
        same = db is not None and _release_has_fitting_build(db, torch, arch, driver)
        parts += (
            ["--torch", torch.public] if same else ["--torch", f"'>={torch.public}'", "--minimal"]
        )
    if arch is not None:
        parts += ["--gpu", str(arch)]
    if driver is not None:
        parts += ["--driver", format_driver(driver)]
    return " ".join(parts)


def _release_has_fitting_build(
    db: Database, torch: Version, arch: GpuArch | None, driver: Version | None
) -> bool:
    release = db.torch(torch)
    if release is None:
        return False
    for variant in release.variants.values():
        if variant.cuda is None:
            continue
        if arch is not None and variant.kernels_for(arch) != "sass":
            continue
        floor = db.min_driver(variant.cuda).required
        if driver is not None and floor is not None and driver < floor:
            continue
        return True
    return False
