"""``torchresolve matrix``: the torch family table of the curated database."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from torchresolve._fileio import write_output
from torchresolve.cli._target_options import (
    add_database_argument,
    database_from_args,
    parse_torch_spec,
)

if TYPE_CHECKING:
    import argparse

    from packaging.version import Version

    from torchresolve.cli._console import Console
    from torchresolve.db.model import TorchRelease

__all__ = ["add_parser", "matrix_rows"]

_COLUMNS = (
    "torch",
    "released",
    "python (linux x86_64)",
    "pypi cuda",
    "variants",
    "torchvision",
    "torchaudio",
    "torchtext",
    "torchdata",
    "numpy ABI",
)


def add_parser(sub: argparse._SubParsersAction[Any]) -> None:
    """Register the command."""
    parser = sub.add_parser(
        "matrix",
        help="show torch releases with their Pythons, CUDA builds and companions",
        description="The torch family table of the curated database.",
    )
    parser.add_argument("--torch", metavar="SPEC", help="only releases matching SPEC (>=2.0)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    add_database_argument(parser)
    parser.set_defaults(handler=_run)


def _opt(version: Version | None) -> str | None:
    return None if version is None else str(version)


def _entry(release: TorchRelease) -> dict[str, Any]:
    return {
        "version": str(release.version),
        "released": release.released.isoformat(),
        "python": [str(v) for v in release.python.get("linux_x86_64", ())],
        "python_by_platform": {p: [str(v) for v in vs] for p, vs in release.python.items()},
        "pypi_variant": release.pypi_variant,
        "pypi_cuda": _opt(release.pypi_cuda),
        "variants": list(release.variants),
        "arch": {name: v.arch_names() for name, v in release.variants.items()},
        "torchvision": _opt(release.torchvision),
        "torchaudio": _opt(release.torchaudio),
        "torchtext": _opt(release.torchtext),
        "torchdata": _opt(release.torchdata),
        "numpy_abi": release.numpy_abi,
    }


def matrix_rows(releases: tuple[TorchRelease, ...]) -> list[dict[str, Any]]:
    """The ``--json`` entries of ``releases``, in order."""
    return [_entry(r) for r in releases]


def _span(versions: list[str]) -> str:
    if not versions:
        return "-"
    return versions[0] if len(versions) == 1 else f"{versions[0]}-{versions[-1]}"


def _table(rows: list[dict[str, Any]]) -> str:
    cells = [
        [
            row["version"],
            row["released"],
            _span(row["python"]),
            row["pypi_cuda"] or "cpu",
            ",".join(row["variants"]) or "-",
            row["torchvision"] or "-",
            row["torchaudio"] or "-",
            row["torchtext"] or "-",
            row["torchdata"] or "-",
            str(row["numpy_abi"]),
        ]
        for row in rows
    ]
    widths = [max(len(c) for c in column) for column in zip(_COLUMNS, *cells, strict=False)]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
        for line in [list(_COLUMNS), *cells]
    ]
    return "\n".join(lines) + "\n"


def _run(args: argparse.Namespace, console: Console) -> int:
    spec = parse_torch_spec(args.torch) if args.torch else None
    db = database_from_args(args)
    releases = tuple(
        r for r in db.torch_releases if spec is None or spec.contains(r.version, prereleases=True)
    )
    if not releases:
        console.warn(f"no torch release in the database matches {args.torch}")
    rows = matrix_rows(releases)
    if args.json:
        write_output("-", json.dumps({"torch": rows}, indent=2) + "\n")
    else:
        write_output("-", _table(rows))
    return 0
