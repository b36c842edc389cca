"""``torchresolve verify FILE``: install a proposal into a fresh venv and prove it works.

``upgrade --verify`` chains into the same code: :func:`add_verify_arguments` registers the
options on its parser and :func:`verify_from_args` runs them on the file it wrote.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torchresolve._fileio import write_output
from torchresolve.errors import InputError

if TYPE_CHECKING:
    import argparse
    from collections.abc import Iterator
    from types import FrameType

    from torchresolve.cli._console import Console

__all__ = ["add_parser", "add_verify_arguments", "verify_from_args"]


def add_parser(sub: argparse._SubParsersAction[Any]) -> None:
    """Register ``verify``."""
    parser = sub.add_parser(
        "verify",
        help="install a proposal into a fresh venv and run the smoke suite",
        description=(
            "Create a venv, install FILE (a requirements or constraints file, e.g. the output "
            "of `upgrade`), check that every installed version equals the proposal, then run "
            "the smoke suite (imports, device, numerics, AMP, DDP, checkpoints, torchvision, "
            "torchaudio, transformers, numpy) with the venv's own Python. Exit 0 only when "
            "nothing failed."
        ),
    )
    parser.add_argument("file", metavar="FILE", type=Path, help="requirements file to verify")
    add_verify_arguments(parser)
    parser.set_defaults(handler=_run)


def add_verify_arguments(parser: argparse.ArgumentParser, *, chained: bool = False) -> None:
    """Add the verification options to ``parser``.

    An option whose flag the parser already has is left out, and the existing one is used: an
    upgrade's ``--python``, ``--no-index`` and ``--find-links`` mean the same thing for the
    verification venv. With ``chained`` the report files are ``--verify-json``/``--verify-junit``
    so they do not clash with the caller's own ``--json``.
    """
    existing = parser._option_string_actions
    group = parser.add_argument_group("verification" + (" (with --verify)" if chained else ""))

    def add(*flags: str, **kwargs: Any) -> None:
        if not any(flag in existing for flag in flags):
            group.add_argument(*flags, **kwargs)

    add(
        "--venv",
        dest="verify_venv",
        type=Path,
        metavar="DIR",
        help="create the venv here and keep it (default: a temporary one, removed at the end)",
    )
    add(
        "--python",
        dest="python",
        metavar="PYTHON",
        help="interpreter path or version for the venv (default: the --base-env interpreter, "
        "else the one running torchresolve)",
    )
    add(
        "--installer",
        dest="verify_installer",
        choices=("auto", "uv", "pip"),
        default="auto",
        help="uv is much faster; auto takes uv when found (pip with --base-env)",
    )
    add(
        "--allow-sdist",
        dest="verify_allow_sdist",
        action="store_true",
        help="allow building from source distributions (default: binary wheels only)",
    )
    add("--no-index", dest="no_index", action="store_true", help="as pip: ignore package indexes")
    add(
        "--find-links",
        "-f",
        dest="find_links",
        action="append",
        default=[],
        metavar="DIR",
        help="as pip: also look for wheels here (repeatable)",
    )
    add(
        "--base-env",
        dest="verify_base_env",
        type=Path,
        metavar="PATH",
        help="layer the venv over this environment (interpreter or env folder): its packages "
        "are used when they satisfy the proposal, only the rest is installed",
    )
    add(
        "--in-place",
        dest="verify_in_place",
        type=Path,
        metavar="PYTHON",
        help="check this existing interpreter's environment; create and install nothing",
    )
    add(
        "--gpu",
        dest="verify_gpu",
        choices=("auto", "yes", "no"),
        default="auto",
        help="whether CUDA must be usable (auto: when the NVIDIA driver shows a GPU)",
    )
    add(
        "--no-smoke",
        dest="verify_no_smoke",
        action="store_true",
        help="only install and compare versions",
    )
    add(
        "--checkpoint",
        dest="verify_checkpoints",
        action="append",
        default=[],
        type=Path,
        metavar="PATH",
        help="also torch.load this file of yours and report how it loads "
        "(falls back to weights_only=False: trusted files only; repeatable)",
    )
    add(
        "--ddp-processes",
        dest="verify_ddp_world",
        type=int,
        default=0,
        metavar="N",
        help="processes for the multi-process DDP check (default: 2 when two GPUs are "
        "visible; N > 1 without GPUs uses gloo on the CPU)",
    )
    add(
        "--run",
        dest="verify_run",
        metavar="CMD",
        help="after the suite, run this shell command inside the environment (your tests)",
    )
    prefix = "--verify-" if chained else "--"
    add(f"{prefix}json", dest="verify_json", metavar="FILE", help="write the JSON report here")
    add(f"{prefix}junit", dest="verify_junit", metavar="FILE", help="write JUnit XML here")
    add(
        "--install-timeout",
        dest="verify_install_timeout",
        type=float,
        default=3600.0,
        metavar="S",
        help="seconds allowed for the install (default 3600)",
    )
    add(
        "--smoke-timeout",
        dest="verify_smoke_timeout",
        type=float,
        default=1800.0,
        metavar="S",
        help="seconds allowed for the smoke suite (default 1800)",
    )
    add("--run-timeout", dest="verify_run_timeout", type=float, default=3600.0, metavar="S",
        help="seconds allowed for --run (default 3600)")  # fmt: skip


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """Treat SIGTERM like Ctrl-C, so ``kill`` also removes the temporary venv on the way out."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _output_path(value: str | None, flag: str) -> str | None:
    if value is None or value == "-":
        return value
    parent = Path(value).parent
    if not parent.is_dir():
        raise InputError(f"{flag}: folder {parent} does not exist", path=value)
    return value


def verify_from_args(args: argparse.Namespace, requirements_path: Path, console: Console) -> int:
    """Verify ``requirements_path`` with the options :func:`add_verify_arguments` parsed.

    Prints the summary on stdout, writes the JSON/JUnit reports, returns the exit code (0 only
    when no check failed).

    :raises InputError: a bad option or file (before anything is created).
    """
    from torchresolve.verify import (
        Timeouts,
        VerifyOptions,
        render_json,
        render_junit,
        render_text,
        verify,
    )

    json_path = _output_path(getattr(args, "verify_json", None), "--json")
    junit_path = _output_path(getattr(args, "verify_junit", None), "--junit")
    python = getattr(args, "python", None)
    options = VerifyOptions(
        venv=getattr(args, "verify_venv", None),
        python=None if python is None else str(python),
        installer=getattr(args, "verify_installer", "auto"),
        allow_sdist=bool(getattr(args, "verify_allow_sdist", False)),
        no_index=bool(getattr(args, "no_index", False)),
        find_links=tuple(str(x) for x in getattr(args, "find_links", None) or ()),
        base_env=getattr(args, "verify_base_env", None),
        in_place=getattr(args, "verify_in_place", None),
        smoke=not getattr(args, "verify_no_smoke", False),
        gpu=getattr(args, "verify_gpu", "auto"),
        checkpoints=tuple(getattr(args, "verify_checkpoints", None) or ()),
        ddp_world=int(getattr(args, "verify_ddp_world", 0)),
        run=getattr(args, "verify_run", None),
        timeouts=Timeouts(
            install=float(getattr(args, "verify_install_timeout", 3600.0)),
            smoke=float(getattr(args, "verify_smoke_timeout", 1800.0)),
            run=float(getattr(args, "verify_run_timeout", 3600.0)),
        ),
    )
    with _terminate_as_interrupt():
        report = verify(requirements_path, options, observer=console)
    if json_path is not None:
        write_output(json_path, render_json(report))
    if junit_path is not None:
        write_output(junit_path, render_junit(report))
    if json_path != "-" and junit_path != "-":
        write_output("-", render_text(report))
    return 0 if report.ok else 1


def _run(args: argparse.Namespace, console: Console) -> int:
    return verify_from_args(args, args.file, console)
