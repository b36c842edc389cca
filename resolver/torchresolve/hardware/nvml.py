"""A minimal NVML binding through :mod:`ctypes`: the few queries detection needs.

NVML (``libnvidia-ml.so.1``) ships with the NVIDIA driver, so it is present wherever a GPU is
usable, without any Python package. Detection talks to it through the :class:`Nvml` protocol so
that tests can inject a fake.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from typing import Protocol

from torchresolve.errors import HardwareError

__all__ = ["CtypesNvml", "Nvml", "NvmlDevice", "NvmlError", "load_nvml"]

_LIBRARY = "libnvidia-ml.so.1"
_BUFFER = 96  # NVML_DEVICE_NAME_V2_BUFFER_SIZE and the driver-version buffer are both <= 96


class NvmlError(HardwareError):
    """An NVML call returned a non-success status.

    :param call: the NVML function name.
    :param status: the ``nvmlReturn_t`` code.
    """

    def __init__(self, call: str, status: int) -> None:
        self.call = call
        self.status = status
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"NVML {self.call} failed with status {self.status}"


@dataclass(frozen=True, slots=True, kw_only=True)
class NvmlDevice:
    """What NVML says about one GPU."""

    name: str
    capability: tuple[int, int]
    memory_total: int
    """Bytes of device memory."""


class Nvml(Protocol):
    """The NVML queries detection uses; every method may raise :class:`HardwareError`."""

    def init(self) -> None:
        """Initialise the library (``nvmlInit_v2``)."""

    def shutdown(self) -> None:
        """Release the library (``nvmlShutdown``)."""

    def driver_version(self) -> str:
        """The driver version string (``580.82.07``)."""

    def cuda_driver_version(self) -> int:
        """Newest CUDA the driver supports, encoded as ``1000 * major + 10 * minor``."""

    def device_count(self) -> int:
        """Number of visible GPUs."""

    def device(self, index: int) -> NvmlDevice:
        """Name, compute capability and memory of GPU ``index``."""


class _Memory(ctypes.Structure):
    _fields_ = (
        ("total", ctypes.c_ulonglong),
        ("free", ctypes.c_ulonglong),
        ("used", ctypes.c_ulonglong),
    )


class CtypesNvml:
    """:class:`Nvml` over the real shared library."""

    def __init__(self, library: ctypes.CDLL) -> None:
        self._lib = library

    def _call(self, name: str, *args: object) -> None:
        try:
            function = getattr(self._lib, name)
        except AttributeError as exc:
            raise HardwareError(f"NVML has no function {name} (driver too old?)") from exc
        status = int(function(*args))
        if status != 0:
            raise NvmlError(name, status)

    def init(self) -> None:
        self._call("nvmlInit_v2")

    def shutdown(self) -> None:
        self._call("nvmlShutdown")

    def driver_version(self) -> str:
        buffer = ctypes.create_string_buffer(_BUFFER)
        self._call("nvmlSystemGetDriverVersion", buffer, ctypes.c_uint(_BUFFER))
        return buffer.value.decode("utf-8", "replace")

    def cuda_driver_version(self) -> int:
        value = ctypes.c_int()
        self._call("nvmlSystemGetCudaDriverVersion_v2", ctypes.byref(value))
        return int(value.value)

    def device_count(self) -> int:
        value = ctypes.c_uint()
        self._call("nvmlDeviceGetCount_v2", ctypes.byref(value))
        return int(value.value)

    def device(self, index: int) -> NvmlDevice:
        handle = ctypes.c_void_p()
        self._call("nvmlDeviceGetHandleByIndex_v2", ctypes.c_uint(index), ctypes.byref(handle))
        name = ctypes.create_string_buffer(_BUFFER)
        self._call("nvmlDeviceGetName", handle, name, ctypes.c_uint(_BUFFER))
        major, minor = ctypes.c_int(), ctypes.c_int()
        self._call(
            "nvmlDeviceGetCudaComputeCapability", handle, ctypes.byref(major), ctypes.byref(minor)
        )
        memory = _Memory()
        self._call("nvmlDeviceGetMemoryInfo", handle, ctypes.byref(memory))
        return NvmlDevice(
            name=name.value.decode("utf-8", "replace"),
            capability=(int(major.value), int(minor.value)),
            memory_total=int(memory.total),
        )


def load_nvml() -> CtypesNvml:
    """Load ``libnvidia-ml.so.1``.

    :raises HardwareError: the library is not installed (no NVIDIA driver on this machine).
    """
    try:
        library = ctypes.CDLL(_LIBRARY)
    except OSError as exc:
        raise HardwareError(f"{_LIBRARY} cannot be loaded ({exc})") from exc
    return CtypesNvml(library)
