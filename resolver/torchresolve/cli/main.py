"""Entry point: argument parsing, dispatch, and the only place that turns errors into exits.

Each command lives in its own module under :mod:`torchresolve.cli` and exposes
``add_parser(subparsers)``, which registers the command and sets ``handler`` to a function
``(args: argparse.Namespace, console: Console) -> int``.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from torchresolve import __version__
from torchresolve.cli._console import Console
from torchresolve.errors import InputError, TorchResolveError, UnsatisfiableError

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["build_parser", "entry", "main"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every command registered."""
    from torchresolve.cli import audit, constraints, doctor, matrix, upgrade, verify

    parser = argparse.ArgumentParser(
        prog="torchresolve",
        description="Hardware-aware, explained upgrades and audits of PyTorch stacks.",
    )
    parser.add_argument("--version", action="version", version=f"torchresolve {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress output on stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in (upgrade, constraints, matrix, audit, verify, doctor):
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` (``sys.argv[1:]`` when ``None``) and return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    console = Console(quiet=bool(args.quiet))
    try:
        code = args.handler(args, console)
    except InputError as exc:
        console.error(str(exc))
        return EXIT_BAD_INPUT
    except UnsatisfiableError as exc:
        console.error(str(exc))
        return EXIT_FAILED
    except TorchResolveError as exc:
        console.error(str(exc))
        return EXIT_FAILED
    except KeyboardInterrupt:
        console.error("interrupted")
        return 130
    finally:
        console.close()
    return int(code)


def entry() -> None:
    """Console-script entry point."""
    sys.exit(main())
