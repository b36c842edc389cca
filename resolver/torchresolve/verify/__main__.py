"""``python -m torchresolve.verify FILE [options]``: the ``verify`` command on its own.

It needs only ``packaging`` besides the standard library, so it also runs on a machine that has
a preinstalled GPU stack and no network, where the rest of torchresolve's dependencies (the
index client's) may be missing: the CLI registers only the command it runs.
"""

from __future__ import annotations

import sys

from torchresolve.cli.main import main as cli_main


def main(argv: list[str] | None = None) -> int:
    """``torchresolve verify`` with ``argv`` (2: bad input, 130: interrupted)."""
    args = sys.argv[1:] if argv is None else argv
    quiet = [a for a in args if a in {"-q", "--quiet"}]
    rest = [a for a in args if a not in {"-q", "--quiet"}]
    return cli_main([*quiet, "verify", *rest])


if __name__ == "__main__":
    sys.exit(main())
