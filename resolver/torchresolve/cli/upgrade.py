"""``torchresolve upgrade``: propose an explained, hardware-aware upgrade of a dependency file.

Exit codes: 0 a full proposal, 3 a proposal with blockers, 1 unsatisfiable, 2 bad input.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packaging.utils import canonicalize_name

from torchresolve._fileio import write_output
from torchresolve.cli._index_options import add_index_arguments, client_from_args
from torchresolve.cli._target_options import (
    add_database_argument,
    add_target_arguments,
    database_from_args,
    target_from_args,
)
from torchresolve.errors import InputError

if TYPE_CHECKING:
    import argparse

    from packaging.specifiers import SpecifierSet
    from packaging.utils import NormalizedName

    from torchresolve.cli._console import Console
    from torchresolve.index import IndexClient
    from torchresolve.planning.model import Proposal
    from torchresolve.sources import DependencyFile, IndexOptions

__all__ = ["EXIT_BLOCKED", "add_parser"]

EXIT_BLOCKED = 3


def add_parser(sub: argparse._SubParsersAction[Any]) -> None:
    """Register ``upgrade``."""
    parser = sub.add_parser(
        "upgrade",
        help="propose an upgrade of a dependency file for a target machine",
        description="Resolve the file's requirements for the target (Python, GPU, driver, CUDA) "
        "and report old -> new with the reason per change.",
    )
    parser.add_argument(
        "file", type=Path, help="requirements*.txt, pyproject.toml or environment.yml"
    )
    add_target_arguments(parser)
    add_database_argument(parser)
    choice = parser.add_argument_group("choices")
    choice.add_argument(
        "--torch",
        default="minimal",
        metavar="VERSION|minimal|latest",
        help="torch release: lowest that works (default), newest, or one version",
    )
    choice.add_argument(
        "--strategy",
        choices=("minimal", "latest"),
        default="minimal",
        help="versions of the other packages: closest to the old ones (default) or newest",
    )
    choice.add_argument(
        "--allow-sdist", action="store_true", help="accept releases that only have an sdist"
    )
    add_index_arguments(parser)
    out = parser.add_argument_group("output")
    out.add_argument("-o", "--output", metavar="FILE", help="write the upgraded file here")
    out.add_argument("--write", action="store_true", help="rewrite the input file(s) in place")
    out.add_argument("--diff", action="store_true", help="show the change as a unified diff")
    out.add_argument(
        "--constraints", metavar="FILE", help="write every resolved package pinned (pip -c)"
    )
    out.add_argument("--hashes", action="store_true", help="add sha256 hashes to --constraints")
    out.add_argument(
        "--format", choices=("text", "json", "markdown"), default="text", help="report format"
    )
    out.add_argument(
        "--verify",
        action="store_true",
        help="install the constraints into a fresh venv and smoke-test them (needs --constraints)",
    )
    from torchresolve.cli.verify import add_verify_arguments

    add_verify_arguments(parser, chained=True)
    parser.set_defaults(handler=run)


def _without_pytorch_index(options: IndexOptions) -> IndexOptions:
    """The file's index options minus PyTorch wheel-index lines.

    torch builds come from the curated database (variant and local label) and their metadata
    from the default index; the constraints name the PyTorch index line themselves.
    """
    from torchresolve.planning.stack import is_pytorch_index

    return dataclasses.replace(
        options,
        index_url=None
        if options.index_url and is_pytorch_index(options.index_url)
        else options.index_url,
        extra_index_urls=tuple(u for u in options.extra_index_urls if not is_pytorch_index(u)),
        find_links=tuple(u for u in options.find_links if not is_pytorch_index(u)),
    )


def _client(args: argparse.Namespace, dep: DependencyFile, console: Console) -> IndexClient:
    return client_from_args(args, console, _without_pytorch_index(dep.index))


def _render(proposal: Proposal, fmt: str) -> str:
    from torchresolve.writers.report import render_json, render_markdown, render_text

    if fmt == "json":
        return render_json(proposal)
    if fmt == "markdown":
        return render_markdown(proposal)
    return render_text(proposal)


def run(args: argparse.Namespace, console: Console) -> int:
    """Handle ``torchresolve upgrade``; returns the exit code."""
    from torchresolve.planning.memo import PlanMemo
    from torchresolve.planning.upgrade import plan_upgrade, torch_choice
    from torchresolve.sources import read_dependencies, rewrite, unified_diff, unrewritable
    from torchresolve.writers.report import render_constraints

    path: Path = args.file
    if args.output is not None and args.write:
        raise InputError("use either -o/--output or --write, not both")
    if args.output is not None and Path(args.output).resolve() == path.resolve():
        raise InputError("-o names the input file; use --write to rewrite it in place")
    if args.hashes and not args.constraints:
        raise InputError("--hashes needs --constraints FILE")
    if args.verify and not args.constraints:
        raise InputError("--verify needs --constraints FILE")
    choice = torch_choice(args.torch)
    dep = read_dependencies(path)
    db = database_from_args(args)
    target = target_from_args(args, db, console)
    client = _client(args, dep, console)
    proposal = plan_upgrade(
        dep,
        target,
        client=client,
        db=db,
        torch=choice,
        strategy=args.strategy,
        allow_sdist=bool(args.allow_sdist),
        default_index=client.config.index_url,
        observer=console,
        # --refresh asks the index again for everything: no stored plan either.
        memo=None if client.cache is None or args.refresh else PlanMemo(client.cache.root),
    )
    changes: dict[NormalizedName, SpecifierSet] = {
        canonicalize_name(c.name): c.specifier for c in proposal.changes if c.specifier is not None
    }
    texts = rewrite(dep, changes)
    if args.diff or args.output is not None or args.write:
        for entry in unrewritable(dep, changes):
            console.warn(
                f"{entry.path}:{entry.line}: {entry.raw.strip()!r} could not be rewritten in place;"
                " change it by hand (the report and --constraints carry the new version)"
            )
    if args.diff:
        for changed, new in texts.items():
            write_output("-", unified_diff(dep.texts[changed], new, changed))
    if args.output is not None:
        write_output(args.output, texts.get(dep.path, dep.texts[dep.path]))
    if args.write:
        for changed, new in texts.items():
            write_output(changed, new)
    if args.constraints:
        write_output(args.constraints, render_constraints(proposal, hashes=bool(args.hashes)))
        bare = [str(p.name) for p in proposal.pins.pins if not p.hashes]
        if args.hashes and bare:
            console.warn(
                f"--hashes: no published hash for {', '.join(bare)} (PyTorch-index builds);"
                " pip's --require-hashes mode will refuse the file"
            )
    write_output("-", _render(proposal, args.format))
    code = EXIT_BLOCKED if proposal.blockers else 0
    if args.verify:
        from torchresolve.cli.verify import verify_from_args

        verified = int(verify_from_args(args, Path(args.constraints), console))
        return verified or code
    return code
