"""Find the NVIDIA GPUs and the driver: overrides, then NVML, then ``nvidia-smi``, then none.

Every fallback taken is recorded in :attr:`Detection.notes`, so a report can say why a GPU was
not seen. Output that cannot be understood raises :class:`HardwareError` with a message that
quotes it; a missing or failing tool is a note, never a traceback.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
from typing import TYPE_CHECKING, Literal, Protocol

from packaging.version import InvalidVersion, Version

from torchresolve import _subprocess
from torchresolve.errors import DataError, HardwareError, InputError, SubprocessError
from torchresolve.hardware.model import Detection, GpuInfo
from torchresolve.hardware.nvml import Nvml, load_nvml
from torchresolve.target import GpuArch, parse_arch, parse_driver

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

__all__ = ["ENV_DRIVER", "ENV_GPU", "Runner", "detect", "parse_smi_query"]

ENV_GPU = "TORCHRESOLVE_GPU"
"""Comma-separated GPU models or architectures (``H100``, ``sm_90``) that replace detection."""
ENV_DRIVER = "TORCHRESOLVE_DRIVER"
"""A driver version (``580.82.07``) that replaces detection."""

QUERY_FIELDS = "index,name,compute_cap,memory.total,driver_version"
OLD_QUERY_FIELDS = "index,name,memory.total,driver_version"
_CUDA_RE = re.compile(r"CUDA Version\s*:\s*(\d+\.\d+)")
_NO_DEVICES = "No devices were found"


class Runner(Protocol):
    """The signature of :func:`torchresolve._subprocess.run` that detection needs."""

    def __call__(
        self,
        argv: Sequence[str],
        *,
        timeout: float,
        env: Mapping[str, str] | None = None,
        check: bool = True,
    ) -> _subprocess.Completed: ...


def detect(
    *,
    environ: Mapping[str, str] | None = None,
    runner: Runner | None = None,
    nvml: Nvml | Literal[False] | None = None,
    gpu_lookup: Callable[[str], GpuArch] | None = None,
    timeout: float = 10.0,
) -> Detection:
    """Detect NVIDIA GPUs and the driver on this machine.

    :param environ: environment to read overrides and ``PATH`` from; ``os.environ`` when None.
    :param runner: subprocess runner; :func:`torchresolve._subprocess.run` when None.
    :param nvml: an NVML binding; None loads ``libnvidia-ml.so.1``; False skips NVML.
    :param gpu_lookup: model name -> architecture, for overrides and old drivers without
        ``compute_cap``; the curated database's ``gpu()`` when None.
    :param timeout: seconds before ``nvidia-smi`` is abandoned.
    :raises HardwareError: a tool answered with output that cannot be parsed, or an override
        is malformed.
    """
    env = os.environ if environ is None else environ
    run: Runner = _subprocess.run if runner is None else runner
    lookup = _database_lookup if gpu_lookup is None else gpu_lookup
    notes: list[str] = []

    if env.get(ENV_GPU) or env.get(ENV_DRIVER):
        return _from_overrides(env, lookup)

    if nvml is False:
        notes.append("NVML skipped")
    else:
        try:
            binding = load_nvml() if nvml is None else nvml
            return _from_nvml(binding, notes)
        except HardwareError as exc:
            notes.append(f"NVML unavailable: {exc}; trying nvidia-smi")

    found = _from_smi(env, run, lookup, timeout, notes)
    if found is not None:
        return found
    return Detection(method="none", notes=(*notes, "no NVIDIA GPU"))


# -- overrides ---------------------------------------------------------------------------------


def _from_overrides(env: Mapping[str, str], lookup: Callable[[str], GpuArch]) -> Detection:
    notes: list[str] = []
    gpus: list[GpuInfo] = []
    raw_gpus = env.get(ENV_GPU, "").strip()
    for index, item in enumerate(part.strip() for part in raw_gpus.split(",") if part.strip()):
        try:
            arch: GpuArch | None = parse_arch(item)
        except InputError:
            arch = _lookup_or_none(lookup, item, notes)
            if arch is None:
                raise HardwareError(f"{ENV_GPU}={raw_gpus!r}: unknown GPU {item!r}") from None
        gpus.append(GpuInfo(index=index, name=item, arch=arch))
    driver = None
    raw_driver = env.get(ENV_DRIVER, "").strip()
    if raw_driver:
        try:
            driver = parse_driver(raw_driver)
        except InputError as exc:
            raise HardwareError(f"{ENV_DRIVER}: {exc}") from None
    notes.append(f"from {ENV_GPU}={raw_gpus!r} and {ENV_DRIVER}={raw_driver!r} (detection skipped)")
    return Detection(gpus=tuple(gpus), driver=driver, method="override", notes=tuple(notes))


# -- NVML --------------------------------------------------------------------------------------


def _from_nvml(nvml: Nvml, notes: list[str]) -> Detection:
    nvml.init()
    try:
        driver = _version(nvml.driver_version(), "NVML driver version")
        encoded = nvml.cuda_driver_version()
        driver_cuda = Version(f"{encoded // 1000}.{(encoded % 1000) // 10}") if encoded else None
        gpus = []
        for index in range(nvml.device_count()):
            device = nvml.device(index)
            gpus.append(
                GpuInfo(
                    index=index,
                    name=device.name,
                    arch=GpuArch(*device.capability),
                    memory_mib=device.memory_total // (1024 * 1024),
                )
            )
    finally:
        try:
            nvml.shutdown()
        except HardwareError as exc:  # the answers are in; a failed shutdown changes nothing
            notes.append(f"NVML shutdown failed: {exc}")
    if not gpus:
        notes.append("NVML sees no GPU")
    return Detection(
        gpus=tuple(gpus), driver=driver, driver_cuda=driver_cuda, method="nvml", notes=tuple(notes)
    )


# -- nvidia-smi --------------------------------------------------------------------------------


def _from_smi(
    env: Mapping[str, str],
    run: Runner,
    lookup: Callable[[str], GpuArch],
    timeout: float,
    notes: list[str],
) -> Detection | None:
    program = shutil.which("nvidia-smi", path=env.get("PATH", os.defpath))
    if program is None:
        notes.append("nvidia-smi not found on PATH")
        return None
    call_env = dict(env)
    query = [program, f"--query-gpu={QUERY_FIELDS}", "--format=csv,noheader,nounits"]
    try:
        done = run(query, timeout=timeout, env=call_env, check=False)
        old_driver = done.returncode != 0 and "compute_cap" in done.stdout + done.stderr
        if old_driver:
            notes.append("this nvidia-smi cannot report compute_cap; GPU names looked up instead")
            query[1] = f"--query-gpu={OLD_QUERY_FIELDS}"
            done = run(query, timeout=timeout, env=call_env, check=False)
    except SubprocessError as exc:
        notes.append(f"nvidia-smi failed: {exc.problem}")
        return None
    output = (done.stdout + "\n" + done.stderr).strip()
    if _NO_DEVICES in output:
        notes.append(f"nvidia-smi: {_NO_DEVICES} (exit status {done.returncode})")
        return None
    if done.returncode != 0:
        last = output.splitlines()[-1] if output else "no output"
        notes.append(f"nvidia-smi exited with status {done.returncode}: {last}")
        return None
    gpus, driver = parse_smi_query(done.stdout, has_compute_cap=not old_driver)
    if old_driver:
        gpus = tuple(
            GpuInfo(
                index=gpu.index,
                name=gpu.name,
                arch=_lookup_or_none(lookup, gpu.name, notes),
                memory_mib=gpu.memory_mib,
            )
            for gpu in gpus
        )
    driver_cuda = _smi_cuda(program, run, call_env, timeout, notes)
    return Detection(
        gpus=gpus, driver=driver, driver_cuda=driver_cuda, method="nvidia-smi", notes=tuple(notes)
    )


def parse_smi_query(
    text: str, *, has_compute_cap: bool = True
) -> tuple[tuple[GpuInfo, ...], Version]:
    """Parse ``nvidia-smi --query-gpu=...`` CSV output (no header, no units).

    :param text: the standard output.
    :param has_compute_cap: the query included ``compute_cap`` (drivers before 510 lack it).
    :returns: the GPUs and the driver version.
    :raises HardwareError: a line does not have the expected fields.
    """
    width = 5 if has_compute_cap else 4
    gpus: list[GpuInfo] = []
    drivers: set[Version] = set()
    rows = [row for row in csv.reader(text.splitlines(), skipinitialspace=True) if row]
    if not rows:
        raise HardwareError("nvidia-smi printed no GPU lines")
    for row in rows:
        line = ", ".join(row)
        if len(row) != width:
            raise HardwareError(f"nvidia-smi printed {line!r}, expected {width} fields per GPU")
        try:
            index = int(row[0])
            arch = parse_arch(row[2]) if has_compute_cap else None
            memory = row[-2].strip()
            memory_mib = int(float(memory)) if memory not in {"[N/A]", "N/A"} else None
        except (ValueError, InputError):
            raise HardwareError(f"nvidia-smi printed {line!r}, which cannot be parsed") from None
        drivers.add(_version(row[-1], "nvidia-smi driver_version"))
        gpus.append(GpuInfo(index=index, name=row[1].strip(), arch=arch, memory_mib=memory_mib))
    return tuple(gpus), max(drivers)


def _smi_cuda(
    program: str, run: Runner, env: Mapping[str, str], timeout: float, notes: list[str]
) -> Version | None:
    try:
        done = run([program], timeout=timeout, env=env, check=False)
    except SubprocessError as exc:
        notes.append(f"nvidia-smi header failed: {exc.problem}; CUDA version of driver unknown")
        return None
    match = _CUDA_RE.search(done.stdout)
    if match is None:
        notes.append("nvidia-smi header has no 'CUDA Version'; CUDA version of driver unknown")
        return None
    return Version(match.group(1))


# -- helpers -----------------------------------------------------------------------------------


def _version(text: str, what: str) -> Version:
    try:
        return Version(text.strip())
    except InvalidVersion:
        raise HardwareError(f"{what} {text.strip()!r} is not a version") from None


def _lookup_or_none(
    lookup: Callable[[str], GpuArch], name: str, notes: list[str]
) -> GpuArch | None:
    try:
        return lookup(name)
    except InputError:
        notes.append(f"GPU {name!r} is not in the database; its architecture is unknown")
    except DataError as exc:
        notes.append(f"GPU {name!r} not looked up, the database cannot be read: {exc}")
    return None


def _database_lookup(name: str) -> GpuArch:
    from torchresolve.db import load_database  # lazy: detection works before the db loads

    return load_database().gpu(name).arch
