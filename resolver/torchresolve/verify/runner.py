"""The verification pipeline: environment -> install -> versions -> smoke suite -> user command."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator, Mapping  # noqa: TC003 -- dataclass fields
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from torchresolve import _subprocess
from torchresolve.errors import InputError, SubprocessError
from torchresolve.observer import Observer
from torchresolve.verify.install import Installer, Inventory, choose_installer, read_inventory
from torchresolve.verify.proposal import Proposal, read_proposal
from torchresolve.verify.report import CheckResult, PhaseTiming, VerifyReport
from torchresolve.verify.smoke import SMOKE_PACKAGES, SmokeOptions, run_smoke
from torchresolve.verify.venv import (
    Environment,
    create_venv,
    find_uv,
    interpreter_of,
    layer_over,
    remove_tree,
    resolve_python,
    subprocess_environ,
)

__all__ = ["Timeouts", "VerifyOptions", "verify"]

_OUTPUT_TAIL = 20_000


@dataclass(frozen=True, slots=True, kw_only=True)
class Timeouts:
    """Seconds allowed per phase."""

    create: float = 600.0
    install: float = 3600.0
    inspect: float = 300.0
    smoke: float = 1800.0
    run: float = 3600.0


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifyOptions:
    """How to verify a proposal.

    :param venv: keep the new venv here (must not exist or be empty); ``None``: a temporary one,
        removed at the end.
    :param python: interpreter path or version for the new venv (default: the base env's
        interpreter with ``base_env``, else the one running torchresolve).
    :param base_env: an interpreter or env folder whose packages the new venv sees and reuses.
    :param in_place: run the checks with this interpreter; nothing is created or installed.
    :param run: a shell command run inside the environment after the suite.
    :param environ: the process environment (``None``: this process's).
    """

    venv: Path | None = None
    python: str | None = None
    installer: Literal["auto", "uv", "pip"] = "auto"
    allow_sdist: bool = False
    no_index: bool = False
    find_links: tuple[str, ...] = ()
    base_env: Path | None = None
    in_place: Path | None = None
    smoke: bool = True
    gpu: Literal["auto", "yes", "no"] = "auto"
    checkpoints: tuple[Path, ...] = ()
    ddp_world: int = 0
    run: str | None = None
    run_cwd: Path | None = None
    timeouts: Timeouts = field(default_factory=Timeouts)
    environ: Mapping[str, str] | None = None


def _check_options(options: VerifyOptions) -> None:
    if options.in_place is not None and (
        options.venv is not None or options.base_env is not None or options.python is not None
    ):
        raise InputError(
            "--in-place runs in an existing interpreter: drop --venv/--base-env/--python"
        )
    venv = options.venv
    if venv is not None and venv.exists() and (not venv.is_dir() or any(venv.iterdir())):
        raise InputError("exists and is not empty; remove it or choose another --venv", path=venv)
    for path in options.checkpoints:
        if not path.is_file():
            raise InputError("no such checkpoint file", path=path)


class _Pipeline:
    """One run's mutable state: the phases timed and the checks collected so far."""

    def __init__(self, proposal: Proposal, options: VerifyOptions, observer: Observer) -> None:
        self.proposal = proposal
        self.options = options
        self.observer = observer
        self.environ: dict[str, str] = dict(
            os.environ if options.environ is None else options.environ
        )
        self.phases: list[PhaseTiming] = []
        self.checks: list[CheckResult] = []
        self.notes: list[str] = []

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        self.observer.phase_started(name)
        start = time.monotonic()
        try:
            yield
        finally:
            # Recorded even when interrupted; announced as finished only when it finished.
            seconds = time.monotonic() - start
            self.phases.append(PhaseTiming(name=name, seconds=seconds))
        self.observer.phase_finished(name, seconds)

    def note(self, text: str) -> None:
        self.notes.append(text)
        self.observer.note(text)

    # -- phases ------------------------------------------------------------------------------
    def create(self, root: Path, installer: Installer, uv: Path | None) -> Environment:
        opts = self.options
        base_python = interpreter_of(opts.base_env) if opts.base_env is not None else None
        python = resolve_python(
            opts.python if opts.python is not None or base_python is None else str(base_python),
            environ=self.environ,
        )
        with self.phase("create venv"):
            env = create_venv(
                root,
                python=python,
                uv=uv if installer.kind == "uv" else None,
                with_pip=installer.needs_pip_in_venv,
                timeout=opts.timeouts.create,
                environ=self.environ,
            )
        if base_python is not None:
            with self.phase("layer base env"):
                added = layer_over(
                    env, base_python, timeout=opts.timeouts.inspect, environ=self.environ
                )
            self.note(f"venv layered over {base_python} ({len(added)} site folder(s))")
        return env

    def unsatisfied(self, env: Environment) -> list[str]:
        inventory = read_inventory(
            env.python, timeout=self.options.timeouts.inspect, environ=self.environ
        )
        missing = []
        for item in self.proposal.requirements:
            req = item.requirement
            if req.marker is not None and not req.marker.evaluate(
                {**inventory.markers, "extra": ""}
            ):
                continue
            have = inventory.version(req.name)
            if have is None or not req.specifier.contains(have, prereleases=True):
                missing.append(str(req))
        return missing

    def install(self, env: Environment, installer: Installer) -> bool:
        opts, proposal = self.options, self.proposal
        requirements: list[str] = []
        files = [proposal.path]
        no_deps = False
        if opts.base_env is not None:
            missing = self.unsatisfied(env)
            if not missing:
                self.note(
                    "every pin is already satisfied by the base environment: nothing to install"
                )
                return True
            self.note(f"{len(missing)} pin(s) not satisfied by the base environment")
            if installer.kind == "uv":
                # uv does not count the base's packages as installed and would reinstall every
                # dependency; install only the missing pins and let the dependency check judge.
                requirements, files, no_deps = missing, [], True
        argv = installer.install_argv(
            env.python,
            requirements,
            files=files,
            no_index=opts.no_index or proposal.no_index,
            find_links=(*opts.find_links, *([] if files else proposal.find_links)),
            allow_sdist=opts.allow_sdist,
            no_deps=no_deps,
            index_url=None if files else proposal.index_url,
            extra_index_urls=() if files else proposal.extra_index_urls,
        )
        start = time.monotonic()
        try:
            done = _subprocess.run(
                argv, timeout=opts.timeouts.install, env=self.environ, check=False
            )
        except SubprocessError as exc:
            self.checks.append(
                CheckResult(
                    name="install", status="fail", reason=str(exc), seconds=time.monotonic() - start
                )
            )
            return False
        seconds = time.monotonic() - start
        output = (done.stdout + done.stderr)[-_OUTPUT_TAIL:]
        passed = done.returncode == 0
        reason = f"installed with {installer.kind}"
        if not passed:
            lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
            last = lines[-1] if lines else f"exit status {done.returncode}"
            reason = f"{installer.kind} failed: {last.strip()}"
        self.checks.append(
            CheckResult(
                name="install",
                status="pass" if passed else "fail",
                reason=reason,
                seconds=seconds,
                details={"argv": argv, "output_tail": output},
            )
        )
        return passed

    def versions(self, env: Environment) -> Inventory:
        start = time.monotonic()
        inventory = read_inventory(
            env.python, timeout=self.options.timeouts.inspect, environ=self.environ
        )
        environment = {**inventory.markers, "extra": ""}
        for item in self.proposal.requirements:
            req = item.requirement
            name = f"versions.{item.name}"
            wanted = str(req.specifier) or "any version"
            if req.marker is not None and not req.marker.evaluate(environment):
                self.checks.append(
                    CheckResult(
                        name=name, status="skip", reason=f"marker {req.marker} is false here"
                    )
                )
                continue
            have = inventory.version(req.name)
            if have is None:
                status, reason = "fail", f"{item.name}: not installed (proposed {wanted})"
            elif not req.specifier.contains(have, prereleases=True):
                status, reason = "fail", f"{item.name}: {have} installed, proposed {wanted}"
            else:
                status, reason = "pass", f"{item.name} {have}"
            self.checks.append(
                CheckResult(
                    name=name,
                    status=status,  # type: ignore[arg-type]
                    reason=reason,
                    details={
                        "proposed": wanted,
                        "installed": have,
                        "line": f"{item.path}:{item.line}",
                    },
                )
            )
        unmet = inventory.unmet(self.proposal.names())
        self.checks.append(
            CheckResult(
                name="dependencies",
                status="fail" if unmet else "pass",
                reason="; ".join(unmet)
                if unmet
                else "every dependency of the proposed packages is met",
                seconds=time.monotonic() - start,
                details={"unmet": unmet},
            )
        )
        return inventory

    def smoke(self, env: Environment) -> None:
        opts = self.options
        smoke_options = SmokeOptions(
            gpu=opts.gpu,
            required=frozenset(self.proposal.names() & SMOKE_PACKAGES),
            checkpoints=tuple(p.resolve() for p in opts.checkpoints),
            ddp_world=opts.ddp_world,
            timeout=opts.timeouts.smoke,
        )
        self.checks.extend(
            run_smoke(
                env.python,
                smoke_options,
                environ=subprocess_environ(env, self.environ),
                observer=self.observer,
            )
        )

    def run_command(self, env: Environment, command: str) -> None:
        shell = ["cmd", "/c"] if os.name == "nt" else ["/bin/sh", "-c"]
        start = time.monotonic()
        try:
            done = _subprocess.run(
                [*shell, command],
                timeout=self.options.timeouts.run,
                env=subprocess_environ(env, self.environ),
                cwd=self.options.run_cwd,
                check=False,
            )
        except SubprocessError as exc:
            self.checks.append(
                CheckResult(
                    name="run",
                    status="fail",
                    reason=f"{command!r}: {exc.problem}",
                    seconds=time.monotonic() - start,
                )
            )
            return
        output = (done.stdout + done.stderr)[-_OUTPUT_TAIL:]
        ok = done.returncode == 0
        self.checks.append(
            CheckResult(
                name="run",
                status="pass" if ok else "fail",
                reason=f"{command!r} exited with status {done.returncode}",
                seconds=time.monotonic() - start,
                details={"command": command, "returncode": done.returncode, "output_tail": output},
            )
        )


def verify(
    requirements: Path, options: VerifyOptions, *, observer: Observer | None = None
) -> VerifyReport:
    """Install the proposal ``requirements`` into a fresh environment and prove it works.

    Phases, each timed and reported to ``observer``: create the venv (or take ``in_place``),
    layer it over ``base_env``, install, compare installed versions with the proposal, run the
    smoke suite, run the user's command. A failed install ends the run early. A temporary venv
    is removed on every exit path, Ctrl-C included (the interrupt is re-raised after cleanup).

    :raises InputError: the file or an option is invalid (nothing created).
    :raises VerifyError: the environment cannot be prepared (Python versions differ...).
    :raises SubprocessError: creating the venv or inspecting the interpreter failed.
    """
    observer = observer or Observer()
    proposal = read_proposal(requirements)
    _check_options(options)
    pipe = _Pipeline(proposal, options, observer)
    installer: Installer | None = None
    temp_root: Path | None = None
    env: Environment | None = None
    inventory: Inventory | None = None
    installed = True
    try:
        if options.in_place is not None:
            python = interpreter_of(options.in_place)
            env = Environment(root=python.parent, python=python, created=False)
        else:
            uv = find_uv(pipe.environ)
            installer = choose_installer(
                options.installer, uv=uv, layered=options.base_env is not None
            )
            if options.venv is None:
                temp_root = Path(tempfile.mkdtemp(prefix="torchresolve-verify-"))
                root = temp_root / "venv"
            else:
                root = options.venv.absolute()
            env = pipe.create(root, installer, uv)
            with pipe.phase("install"):
                installed = pipe.install(env, installer)
        if installed:
            with pipe.phase("check versions"):
                inventory = pipe.versions(env)
            if options.smoke:
                with pipe.phase("smoke tests"):
                    pipe.smoke(env)
            if options.run:
                with pipe.phase("run command"):
                    pipe.run_command(env, options.run)
    finally:
        if temp_root is not None:
            with pipe.phase("clean up"):
                remove_tree(temp_root)
    return _report(requirements, pipe, env, installer, inventory, temp_root=temp_root)


def _report(
    requirements: Path,
    pipe: _Pipeline,
    env: Environment,
    installer: Installer | None,
    inventory: Inventory | None,
    *,
    temp_root: Path | None,
) -> VerifyReport:
    installed: dict[str, str] = {}
    if inventory is not None:
        installed = {str(n): d.version for n, d in inventory.distributions.items()}
    return VerifyReport(
        requirements=requirements,
        python=str(env.python),
        environment=str(env.root),
        kept=temp_root is None,
        installer=installer.kind if installer is not None else None,
        checks=tuple(pipe.checks),
        phases=tuple(pipe.phases),
        installed=installed,
        notes=tuple(pipe.notes),
    )
