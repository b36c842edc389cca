"""Helpers for the verify tests: tiny valid wheels (no network, no build backend), a hermetic
installer environment, and small real venvs."""

from __future__ import annotations

import base64
import hashlib
import os
import sys
import zipfile
from typing import TYPE_CHECKING

from packaging.utils import canonicalize_name

from torchresolve import _subprocess
from torchresolve.verify.venv import find_uv

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path

__all__ = ["build_wheel", "hermetic_environ", "make_env"]


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def build_wheel(
    folder: Path, name: str, version: str, *, requires: Sequence[str] = (), body: str = ""
) -> Path:
    """Write ``{name}-{version}-py3-none-any.whl`` into ``folder`` and return its path.

    The wheel holds a module named like the project (``-`` -> ``_``) whose ``__version__`` is
    ``version``, plus ``body``; ``requires`` become ``Requires-Dist`` lines.
    """
    module = canonicalize_name(name).replace("-", "_")
    dist_info = f"{module}-{version}.dist-info"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    metadata += "".join(f"Requires-Dist: {req}\n" for req in requires)
    files = {
        f"{module}/__init__.py": f"__version__ = {version!r}\n{body}",
        f"{dist_info}/METADATA": metadata,
        f"{dist_info}/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: torchresolve-tests\nRoot-Is-Purelib: true\n"
            "Tag: py3-none-any\n"
        ),
    }
    record_lines = []
    for path, text in files.items():
        data = text.encode()
        record_lines.append(f"{path},{_record_hash(data)},{len(data)}")
    record_lines.append(f"{dist_info}/RECORD,,")
    files[f"{dist_info}/RECORD"] = "\n".join(record_lines) + "\n"
    wheel = folder / f"{module}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return wheel


def hermetic_environ() -> dict[str, str]:
    """This process's environment without the machine's pip/uv configuration."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_", "VIRTUAL_ENV"))}
    env["PIP_CONFIG_FILE"] = os.devnull
    env["UV_NO_CONFIG"] = "1"
    return env


def make_env(root: Path, wheelhouse: Path, packages: list[str], *, no_deps: bool = False) -> Path:
    """A real venv at ``root`` holding ``packages`` from ``wheelhouse``; returns its python."""
    environ: Mapping[str, str] = hermetic_environ()
    uv = find_uv(environ)
    assert uv is not None, "uv is part of the test extras"
    _subprocess.run(
        [uv, "venv", "--quiet", "--python", sys.executable, root], timeout=120, env=environ
    )
    python = root / "bin" / "python"
    if packages:
        argv: list[str | Path] = [uv, "pip", "install", "--quiet", "--python", python]
        argv.append("--no-index")
        argv += ["--find-links", wheelhouse, *(["--no-deps"] if no_deps else []), *packages]
        _subprocess.run(argv, timeout=120, env=environ)
    return python
