"""``torchresolve audit``: check lockfiles or an installed environment for a broken torch stack."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from torchresolve.errors import HardwareError, InputError, SubprocessError

if TYPE_CHECKING:
    import argparse

    from packaging.utils import NormalizedName
    from packaging.version import Version

    from torchresolve.audit import AuditContext, Finding, FixPlan
    from torchresolve.cli._console import Console
    from torchresolve.db import Database
    from torchresolve.sources.lockfiles import LockFile

__all__ = ["add_parser", "context_for", "python_context"]

_FORMATS = ("text", "json", "sarif", "github")


def add_parser(sub: argparse._SubParsersAction[Any]) -> None:
    """Register the command."""
    from torchresolve.cli._target_options import add_database_argument

    parser = sub.add_parser(
        "audit",
        help="check lockfiles or an installed environment for an inconsistent torch stack",
        description=(
            "Audit requirements/constraints files, uv.lock, poetry.lock, Pipfile.lock, "
            "pylock.toml, conda environment.yml or conda-lock.yml files (or an installed "
            "environment) for torch family mismatches, mixed CUDA variants, missing wheels, "
            "numpy ABI breaks, GPU/driver problems, known vulnerabilities and yanked pins."
        ),
    )
    parser.add_argument("files", nargs="*", type=Path, metavar="FILE", help="lock files to audit")
    parser.add_argument(
        "--installed",
        nargs="?",
        const="",
        default=None,
        metavar="PYTHON",
        help="audit the distributions installed for PYTHON (default: the active environment)",
    )
    parser.add_argument(
        "--python",
        metavar="VERSION|PATH",
        help="target Python (3.11) or an interpreter path; default: the lock's requires-python",
    )
    parser.add_argument("--platform", default="linux_x86_64", help="target platform")
    parser.add_argument("--gpu", help="target GPU model or architecture (H100, sm_90)")
    parser.add_argument("--driver", help="target NVIDIA driver version (535.104.05)")
    parser.add_argument(
        "--no-detect", action="store_true", help="do not detect the GPU and driver of this machine"
    )
    parser.add_argument("--format", choices=_FORMATS, default="text", help="output format")
    parser.add_argument("-o", "--output", default="-", help="write the report here (default: -)")
    parser.add_argument(
        "--fail-on",
        choices=("error", "warning", "never"),
        default="error",
        help="exit 1 when a finding of this severity or worse exists (default: error)",
    )
    parser.add_argument(
        "--fix-constraints",
        metavar="FILE",
        help="write the consistent fix as a pip constraints file",
    )
    parser.add_argument(
        "--check-yanked",
        action="store_true",
        help="ask the package index whether pinned versions were yanked (needs the network)",
    )
    parser.add_argument("--index-url", help="index for --check-yanked (default: pip's)")
    add_database_argument(parser)
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace, console: Console) -> int:
    from torchresolve import __version__
    from torchresolve.audit import (
        audit,
        exit_code,
        format_constraints,
        format_github,
        format_json,
        format_sarif,
        format_text,
        plan_fix,
    )
    from torchresolve.cli._target_options import database_from_args
    from torchresolve.sources.lockfiles import read_installed, read_lockfile
    from torchresolve.target import parse_platform

    if not args.files and args.installed is None:
        raise InputError("nothing to audit: name lock files or pass --installed")
    platform = parse_platform(args.platform)
    # Bad input is reported before anything else is loaded.
    locks: list[LockFile] = [read_lockfile(path) for path in args.files]
    if args.installed is not None:
        locks.append(read_installed(args.installed or None))
    db = database_from_args(args)
    hardware = _hardware(args, db, console)
    findings: list[Finding] = []
    plans: list[FixPlan] = []
    for lock in locks:
        for note in lock.notes:
            console.note(note)
        context = context_for(lock, args.python, platform, hardware, console)
        if args.check_yanked:
            context = _with_yanked(context, lock, args.index_url, console)
        findings += audit(lock.packages, context, db)
        plans.append(_plan(lock, context, db, plan_fix))
    plan = next((p for p in plans if p.constraints), plans[0] if plans else None)
    base = Path.cwd()
    if args.format == "json":
        text = format_json(findings, plan, base=base)
    elif args.format == "sarif":
        text = format_sarif(findings, version=__version__, base=base)
    elif args.format == "github":
        text = format_github(findings, base=base)
    else:
        text = format_text(findings, plan, base=base)
    from torchresolve._fileio import write_output

    if args.fix_constraints:
        if plan is None or not plan.constraints:
            console.warn("no fix to write: no torch known to the database in the audited input")
        else:
            write_output(args.fix_constraints, format_constraints(plan, findings))
    write_output(args.output, text)
    return exit_code(findings, args.fail_on)


def _plan(lock: LockFile, context: AuditContext, db: Database, plan_fix: Any) -> FixPlan:
    from packaging.utils import canonicalize_name

    from torchresolve.audit.engine import FAMILY

    by_name: dict[NormalizedName, list[Any]] = {}
    for package in lock.packages:
        by_name.setdefault(package.name, []).append(package)
    torch = next((p for p in by_name.get(canonicalize_name("torch"), []) if p.version), None)
    release = db.torch(torch.version) if torch is not None and torch.version else None
    if release is None and torch is None:
        for name in FAMILY:
            entry = next((p for p in by_name.get(name, []) if p.version), None)
            if entry is not None and entry.version is not None:
                release = db.release_for_companion(name, entry.version)
                if release is not None:
                    break
    result: FixPlan = plan_fix(by_name, torch, release, context, db)
    return result


class _Hardware:
    """The GPU and driver the audit checks against, and how they were found."""

    def __init__(
        self, arch: Any = None, name: str | None = None, driver: Version | None = None
    ) -> None:
        self.arch = arch
        self.name = name
        self.driver = driver


def _hardware(args: argparse.Namespace, db: Database, console: Console) -> _Hardware:
    from torchresolve.target import parse_driver

    found = _Hardware()
    if args.gpu:
        model = db.gpu(args.gpu)
        found.arch, found.name = model.arch, model.short_name
    if args.driver:
        found.driver = parse_driver(args.driver)
    if args.gpu or args.driver or args.no_detect:
        return found
    from torchresolve.hardware import detect

    try:
        detection = detect(gpu_lookup=lambda name: db.gpu(name).arch)
    except HardwareError as exc:
        console.warn(f"GPU detection failed, GPU rules skipped: {exc}")
        return found
    if detection.gpus:
        gpu = detection.gpus[0]
        found.arch, found.name = gpu.arch, gpu.name
        from torchresolve.db.model import format_driver

        driver = format_driver(detection.driver) if detection.driver else "unknown"
        console.note(f"auditing for detected {gpu.name} ({gpu.arch}), driver {driver}")
    found.driver = detection.driver
    return found


def python_context(value: str | None, lock: LockFile) -> tuple[tuple[Version, ...], str]:
    """The target Pythons for ``lock`` and how they were decided.

    :param value: ``--python``: a version (``3.11``), an interpreter path, or None for the
        lock's own requires-python (or the Python an environment file pins).
    :raises InputError: the value is neither a version nor a runnable interpreter.
    """
    from torchresolve.audit import python_targets
    from torchresolve.target import parse_python

    if value:
        try:
            return (parse_python(value),), f"--python {value}"
        except InputError:
            return (_interpreter_version(value),), f"--python {value}"
    if lock.python is not None:
        return (lock.python,), f"the environment's Python {lock.python}"
    if lock.requires_python is not None:
        return python_targets(lock.requires_python), f"requires-python {lock.requires_python}"
    return (), ""


def _interpreter_version(path: str) -> Version:
    from torchresolve import _subprocess
    from torchresolve.target import parse_python

    probe = "import sys; print('%d.%d' % sys.version_info[:2])"
    try:
        done = _subprocess.run([path, "-c", probe], timeout=30)
    except SubprocessError as exc:
        raise InputError(
            f"--python {path!r} is neither a version nor an interpreter: {exc}"
        ) from None
    return parse_python(done.stdout.strip())


def context_for(
    lock: LockFile,
    python: str | None,
    platform: Any,
    hardware: _Hardware,
    console: Console,
) -> AuditContext:
    """The audit context of one lock."""
    from torchresolve.audit import AuditContext

    pythons, origin = python_context(python, lock)
    if not pythons:
        where = lock.path or "the input"
        console.note(f"{where}: no target Python known (pass --python); wheel checks skipped")
    return AuditContext(
        pythons=pythons,
        python_origin=origin,
        platform=platform,
        arch=hardware.arch,
        gpu_name=hardware.name,
        driver=hardware.driver,
    )


def _with_yanked(
    context: AuditContext, lock: LockFile, index_url: str | None, console: Console
) -> AuditContext:
    """Ask the index which pinned versions were yanked; the index failing skips the check."""
    import dataclasses
    from concurrent.futures import ThreadPoolExecutor

    import requests

    from torchresolve.errors import IndexQueryError
    from torchresolve.index import IndexClient, load_index_config

    config = load_index_config(index_url=index_url)
    pinned = [p for p in lock.packages if p.version is not None and p.manager == "pip"]
    yanked: dict[tuple[NormalizedName, Version], str] = {}
    with requests.Session() as session:
        # One quick try per page: a yanked pin is a warning, not worth a slow audit.
        client = IndexClient(
            config, session=session, timeout=10.0, observer=console, retries=1, backoff=0.0
        )
        try:
            with ThreadPoolExecutor(max_workers=8) as pool:
                pages = list(pool.map(lambda p: client.files(p.name), pinned))
        except IndexQueryError as exc:
            console.warn(f"index unreachable, yanked check skipped: {exc}")
            return context
    for package, files in zip(pinned, pages, strict=True):
        for dist in files:
            if dist.version == package.version and dist.yanked is not None:
                yanked[(package.name, dist.version)] = dist.yanked
                break
    return dataclasses.replace(context, yanked=yanked)
