"""Verification environments: a new venv (optionally layered over a base environment), or an
existing interpreter used in place."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.version import InvalidVersion, Version

from torchresolve import _subprocess
from torchresolve.errors import InputError, SubprocessError, VerifyError

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "BASE_PTH",
    "Environment",
    "create_venv",
    "find_uv",
    "interpreter_of",
    "layer_over",
    "python_version",
    "remove_tree",
    "resolve_python",
    "subprocess_environ",
]

BASE_PTH = "_torchresolve_base_env.pth"
"""The ``.pth`` file that puts a base environment's site folders on the venv's ``sys.path``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Environment:
    """Where the checks run.

    :param root: the venv folder (``sys.prefix`` of the interpreter for an in-place run).
    :param python: the interpreter to run.
    :param created: whether torchresolve made it (and may install into it).
    """

    root: Path
    python: Path
    created: bool


def _bin_dir(root: Path) -> Path:
    return root / ("Scripts" if os.name == "nt" else "bin")


def interpreter_of(path: Path) -> Path:
    """The Python interpreter for ``path``: the file itself, or ``bin/python3`` of an env folder.

    :raises InputError: ``path`` is neither an interpreter nor an environment folder.
    """
    if path.is_dir():
        for name in ("python3", "python", "python.exe"):
            candidate = _bin_dir(path) / name
            if candidate.exists():
                return candidate
        raise InputError("not an environment: it has no bin/python3", path=path)
    if path.exists():
        return path
    found = shutil.which(str(path))
    if found:
        return Path(found)
    raise InputError("no such interpreter or environment", path=path)


def resolve_python(spec: str | None, *, environ: Mapping[str, str]) -> str:
    """``--python``: a path or command name becomes an interpreter path; a version such as
    ``3.11`` stays a version (uv finds it) unless ``python3.11`` is on ``PATH``.

    :raises InputError: neither an existing interpreter nor a version.
    """
    if spec is None:
        return sys.executable
    try:
        version = Version(spec)
    except InvalidVersion:
        return str(interpreter_of(Path(spec)))
    found = shutil.which(f"python{version}", path=environ.get("PATH"))
    return found if found else str(version)


def find_uv(environ: Mapping[str, str]) -> Path | None:
    """The uv binary: from the ``uv`` Python package when installed, else on ``PATH``."""
    with contextlib.suppress(ImportError, FileNotFoundError):
        import uv  # type: ignore[import-not-found, unused-ignore]

        return Path(uv.find_uv_bin())
    found = shutil.which("uv", path=environ.get("PATH"))
    return Path(found) if found else None


def python_version(python: Path, *, timeout: float, environ: Mapping[str, str]) -> Version:
    """``major.minor`` of an interpreter, asked by running it."""
    done = _subprocess.run(
        [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        timeout=timeout,
        env=environ,
    )
    return Version(done.stdout.strip())


def create_venv(
    root: Path,
    *,
    python: str,
    uv: Path | None,
    with_pip: bool,
    timeout: float,
    environ: Mapping[str, str],
) -> Environment:
    """Create a venv at ``root`` with ``uv venv`` (when ``uv`` is given) or ``python -m venv``.

    :param python: interpreter path, or a version (only uv can find one by version).
    :param with_pip: seed pip into the venv (stdlib venv only; uv venvs are installed into from
        outside).
    :raises InputError: a version was given but uv is not available to find it.
    :raises VerifyError: creation failed (the installer's last error line included).
    """
    if uv is not None:
        argv: list[str | Path] = [uv, "venv", "--quiet", "--python", python, root]
    else:
        if not Path(python).exists():
            raise InputError(
                f"--python {python}: no interpreter python{python} on PATH (uv could find it)"
            )
        argv = [python, "-m", "venv", *([] if with_pip else ["--without-pip"]), root]
    try:
        _subprocess.run(argv, timeout=timeout, env=environ)
    except SubprocessError as exc:
        raise VerifyError(f"cannot create a venv with Python {python}: {exc}") from exc
    return Environment(root=root, python=interpreter_of(root), created=True)


_SITE_DIRS = """
import json, sys
SITES = ("site-packages", "dist-packages")
print(json.dumps([p for p in sys.path if p.rstrip("/\\\\").endswith(SITES)]))
"""


def layer_over(
    env: Environment, base_python: Path, *, timeout: float, environ: Mapping[str, str]
) -> tuple[str, ...]:
    """Make every package of ``base_python``'s environment importable in ``env``.

    Writes a ``.pth`` file listing the base's site folders into the venv's own site-packages, so
    they come *after* it on ``sys.path``: what the venv installs shadows the base, and pip counts
    the base's packages as already satisfied.

    :returns: the base site folders added.
    :raises VerifyError: the two interpreters are different Python versions.
    """
    base_version = python_version(base_python, timeout=timeout, environ=environ)
    own_version = python_version(env.python, timeout=timeout, environ=environ)
    if base_version != own_version:
        raise VerifyError(
            f"--base-env runs Python {base_version} but the new venv has Python {own_version}; "
            "compiled packages only work with the same version"
        )
    base_sites = json.loads(
        _subprocess.run([base_python, "-c", _SITE_DIRS], timeout=timeout, env=environ).stdout
    )
    own_sites = json.loads(
        _subprocess.run([env.python, "-c", _SITE_DIRS], timeout=timeout, env=environ).stdout
    )
    if not own_sites:
        raise VerifyError(f"{env.python} reports no site-packages folder")
    added = tuple(p for p in base_sites if p not in own_sites)
    (Path(own_sites[0]) / BASE_PTH).write_text("".join(f"{p}\n" for p in added), encoding="utf-8")
    return added


def subprocess_environ(env: Environment, environ: Mapping[str, str]) -> dict[str, str]:
    """The process environment for commands inside ``env``: its ``bin`` first on ``PATH``."""
    out = dict(environ)
    out.pop("PYTHONHOME", None)
    bin_dir = str(env.python.parent) if not env.created else str(_bin_dir(env.root))
    out["PATH"] = bin_dir + os.pathsep + environ.get("PATH", "")
    if env.created:
        out["VIRTUAL_ENV"] = str(env.root)
    return out


def remove_tree(path: Path) -> None:
    """Delete ``path`` completely, with Ctrl-C (and SIGTERM) held off until it is gone.

    A second Ctrl-C during cleanup would otherwise leave a half-deleted venv behind.
    """
    held = (signal.SIGINT, signal.SIGTERM)
    in_main = threading.current_thread() is threading.main_thread()
    previous = [signal.signal(s, signal.SIG_IGN) for s in held] if in_main else []
    try:
        shutil.rmtree(path, ignore_errors=True)
    finally:
        for sig, handler in zip(held, previous, strict=False):
            signal.signal(sig, handler)
