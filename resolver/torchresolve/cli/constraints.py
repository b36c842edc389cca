"""``torchresolve constraints``: exact torch-family pins for one target, in several formats."""

from __future__ import annotations

import argparse
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Literal

from packaging.requirements import Requirement
from packaging.version import Version

from torchresolve._fileio import write_output
from torchresolve.cli._index_options import add_index_arguments, client_from_args
from torchresolve.cli._target_options import (
    add_database_argument,
    add_target_arguments,
    database_from_args,
    parse_torch_spec,
    target_from_args,
)
from torchresolve.errors import InputError, ResolutionError
from torchresolve.planning.stack import PYTORCH_INDEX
from torchresolve.writers.pylock import LockedWheel

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from packaging.utils import NormalizedName

    from torchresolve.cli._console import Console
    from torchresolve.index import IndexClient
    from torchresolve.pins import Pin, PinSet
    from torchresolve.planning.stack import Stack
    from torchresolve.target import Target

__all__ = ["FORMATS", "NoLockableWheel", "add_parser", "lock_files", "render"]

FORMATS = ("pip", "uv", "conda", "pylock")


def add_parser(sub: argparse._SubParsersAction[Any]) -> None:
    """Register the command."""
    parser = sub.add_parser(
        "constraints",
        help="print exact torch/torchvision/torchaudio pins for a target machine",
        description="Pick the torch build for the target machine and write its exact pins; "
        "refuse, with the reason, when no build of the requested torch can run there.",
    )
    parser.add_argument(
        "--torch", metavar="SPEC", help="torch version or range (default: any; see --minimal)"
    )
    parser.add_argument(
        "--minimal",
        action="store_true",
        help="take the lowest matching release that fits (default: the newest)",
    )
    parser.add_argument("--format", default="pip", help=f"one of {', '.join(FORMATS)}")
    parser.add_argument("--name", default="torchresolve", help="environment name (conda)")
    parser.add_argument(
        "-o", "--output", metavar="FILE", default="-", help="write here (default: stdout)"
    )
    parser.add_argument(
        "--hashes",
        action="store_true",
        help="look up the wheels on the index and add their hashes (always on for pylock)",
    )
    parser.add_argument(
        "--pytorch-index",
        metavar="URL",
        default=PYTORCH_INDEX,
        help=f"the PyTorch wheel index or a mirror with its layout (default: {PYTORCH_INDEX})",
    )
    add_target_arguments(parser)
    add_database_argument(parser)
    add_index_arguments(parser)
    parser.set_defaults(handler=_run)


def render(
    stack: Stack,
    fmt: str,
    *,
    name: str = "torchresolve",
    pins: PinSet | None = None,
    files: Mapping[NormalizedName, Sequence[LockedWheel]] | None = None,
    default_index: str | None = None,
) -> str:
    """The pins of ``stack`` (or ``pins``, the same with hashes) in format ``fmt``.

    :raises InputError: unknown format.
    """
    from torchresolve import writers

    pinset = stack.pins if pins is None else pins
    extra = [Requirement(f"numpy{stack.numpy}")] if stack.numpy else []
    if fmt == "pip":
        return writers.render_pip(pinset, requirements=extra)
    if fmt == "uv":
        return writers.render_uv(pinset, requirements=extra)
    if fmt == "conda":
        return writers.render_environment(pinset, name=name, requirements=extra)
    if fmt == "pylock":
        return writers.render_pylock(pinset, default_index=default_index, files=files)
    raise InputError(f"--format {fmt!r} is not one of {', '.join(FORMATS)}")


class NoLockableWheel(ResolutionError):
    """A pin has no wheel with a hash for the target on its index."""

    def __init__(self, pin: Pin, target: Target) -> None:
        self.pin = pin
        self.target = target
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.pin.index or "the configured index"
        return (
            f"no wheel of {self.pin.name} {self.pin.version} with a hash for CPython "
            f"{self.target.python} on {self.target.platform} on {where}"
        )


def _same_index(a: str, b: str) -> bool:
    return a.rstrip("/") == b.rstrip("/")


def lock_files(
    pinset: PinSet, client: IndexClient
) -> tuple[PinSet, dict[NormalizedName, list[LockedWheel]]]:
    """The wheels (with hashes) of every pin for the pin set's target, from ``client``.

    A pin without a local label (``torchaudio==2.0.0`` next to ``torch==2.0.0+cu118``)
    takes the variant index's labelled build when its index has one, as pip would (a local
    label sorts higher); the returned pins carry the exact version locked and its hashes.

    :raises NoLockableWheel: a pin has no such wheel.
    :raises IndexQueryError: the index failed.
    """
    from torchresolve.index import supports

    target = pinset.target
    locked: list[Pin] = []
    files: dict[NormalizedName, list[LockedWheel]] = {}
    for pin in pinset.pins:
        candidates = [
            f
            for f in client.files(pin.name)
            if f.kind == "wheel"
            and f.hashes
            and f.yanked is None
            and supports(f, target.python, target.platform)
            and (pin.index is None or _same_index(f.index_url, pin.index))
            and (
                f.version == pin.version
                if pin.version.local
                else Version(f.version.public) == pin.version
            )
        ]
        if not candidates:
            raise NoLockableWheel(pin, target)
        version = max(f.version for f in candidates)
        chosen = [f for f in candidates if f.version == version]
        files[pin.name] = [
            LockedWheel(
                name=f.filename,
                url=f.url,
                hashes=dict(f.hashes),
                size=f.size,
                upload_time=f.upload_time,
            )
            for f in chosen
        ]
        hashes = tuple(sorted({f"{k}:{v}" for f in chosen for k, v in f.hashes.items()}))
        locked.append(replace(pin, version=version, hashes=hashes))
    return replace(pinset, pins=tuple(locked)), files


def _run(args: argparse.Namespace, console: Console) -> int:
    from torchresolve.planning.stack import select_stack

    if args.format not in FORMATS:
        raise InputError(f"--format {args.format!r} is not one of {', '.join(FORMATS)}")
    spec = parse_torch_spec(args.torch) if args.torch else None
    db = database_from_args(args)
    target = target_from_args(args, db, console)
    for how in target.detected:
        console.note(how)
    prefer: Literal["minimal", "latest"] = "minimal" if args.minimal else "latest"
    stack = select_stack(db, target, spec, prefer, pytorch_index=args.pytorch_index)
    for reason in stack.reasons:
        console.note(reason)
    pins: PinSet | None = None
    files = None
    default_index = None
    if args.hashes or args.format == "pylock":
        # The variant index serving the build is searched as well as the configured ones.
        lookup = argparse.Namespace(**vars(args))
        lookup.extra_index_url = [*args.extra_index_url, *stack.pins.extra_index_urls]
        client = client_from_args(lookup, console)
        default_index = client.config.index_url
        pins, files = lock_files(stack.pins, client)
    text = render(
        stack, args.format, name=args.name, pins=pins, files=files, default_index=default_index
    )
    write_output(args.output, text)
    return 0
