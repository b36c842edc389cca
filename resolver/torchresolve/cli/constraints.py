"""`torchresolve constraints` (placeholder until the command lands)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from torchresolve.errors import TorchResolveError

if TYPE_CHECKING:
    from torchresolve.cli._console import Console

__all__ = ["add_parser"]


def add_parser(sub: argparse._SubParsersAction[Any]) -> None:
    """Register the command."""
    parser = sub.add_parser("constraints", help="(not implemented yet)")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace, console: Console) -> int:
    raise TorchResolveError("constraints is not implemented yet")
