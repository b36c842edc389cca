"""Entry point: argument parsing, dispatch, and the only place that turns errors into exits.

Each command lives in its own module under :mod:`torchresolve.cli` and exposes
``add_parser(subparsers)``, which registers the command and sets ``handler`` to a function
``(args: argparse.Namespace, console: Console) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import TYPE_CHECKING

from torchresolve import __version__
from torchresolve.cli._console import Console
from torchresolve.errors import InputError, TorchResolveError, UnsatisfiableError

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

__all__ = ["COMMANDS", "build_parser", "entry", "main"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2


# Command name -> module, in the order ``--help`` lists them. Modules are imported only when
# their command is registered: a run registers just the command it runs, so ``audit`` does not
# pay for the index client, the solver or the writers (start-up time is most of a short run).
COMMANDS: dict[str, str] = {
    "upgrade": "torchresolve.cli.upgrade",
    "constraints": "torchresolve.cli.constraints",
    "matrix": "torchresolve.cli.matrix",
    "audit": "torchresolve.cli.audit",
    "verify": "torchresolve.cli.verify",
    "doctor": "torchresolve.cli.doctor",
}
_HELP_FLAGS = frozenset({"-h", "--help"})


def build_parser(commands: Iterable[str] | None = None) -> argparse.ArgumentParser:
    """The argument parser with ``commands`` registered (default: every command).

    :param commands: names from :data:`COMMANDS`; a parser for one command parses that
        command's arguments exactly as the full parser does.
    """
    parser = argparse.ArgumentParser(
        prog="torchresolve",
        description="Hardware-aware, explained upgrades and audits of PyTorch stacks.",
    )
    parser.add_argument("--version", action="version", version=f"torchresolve {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress output on stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    wanted = COMMANDS if commands is None else set(commands)
    for name, module in COMMANDS.items():
        if name in wanted:
            importlib.import_module(module).add_parser(sub)
    return parser


def _commands_for(argv: Sequence[str]) -> tuple[str, ...] | None:
    """The commands to register for ``argv``, when that can be told without parsing; ``None``
    means all of them.

    The options before the command take no values, so the first word that is not an option
    is the command. ``--version`` before it needs no command; ``-h`` lists them all.
    """
    for word in argv:
        if word == "--version":
            return ()
        if word in _HELP_FLAGS:
            return None
        if not word.startswith("-"):
            return (word,) if word in COMMANDS else None
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` (``sys.argv[1:]`` when ``None``) and return the exit code."""
    words = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(_commands_for(words))
    args = parser.parse_args(words)
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
