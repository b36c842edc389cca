"""``python -m torchresolve.verify FILE [options]``: the ``verify`` command on its own.

It needs only ``packaging`` besides the standard library, so it also runs on a machine that has
a preinstalled GPU stack and no network, where the rest of torchresolve's dependencies (the
index client's) may be missing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from torchresolve.cli._console import Console
from torchresolve.cli.verify import add_verify_arguments, verify_from_args
from torchresolve.errors import InputError, TorchResolveError


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv``, verify, and return the exit code (2: bad input, 130: interrupted)."""
    parser = argparse.ArgumentParser(prog="python -m torchresolve.verify")
    parser.add_argument("file", metavar="FILE", type=Path, help="requirements file to verify")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    add_verify_arguments(parser)
    args = parser.parse_args(argv)
    console = Console(quiet=bool(args.quiet))
    try:
        return verify_from_args(args, args.file, console)
    except InputError as exc:
        console.error(str(exc))
        return 2
    except TorchResolveError as exc:
        console.error(str(exc))
        return 1
    except KeyboardInterrupt:
        console.error("interrupted")
        return 130
    finally:
        console.close()


if __name__ == "__main__":
    sys.exit(main())
