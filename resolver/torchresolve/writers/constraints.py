"""pip constraints files (``pip install -c constraints.txt``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from torchresolve.db.model import format_driver

if TYPE_CHECKING:
    from collections.abc import Sequence

    from packaging.requirements import Requirement

    from torchresolve.pins import PinSet
    from torchresolve.target import Target

__all__ = ["describe_target", "render_pip"]


def describe_target(target: Target) -> str:
    """The target in one line, for file headers: no date, so output is reproducible."""
    parts = [f"CPython {target.python}", target.platform]
    if target.gpu_name or target.arch:
        gpu = target.gpu_name or "GPU"
        parts.append(f"{gpu} ({target.arch})" if target.arch else gpu)
    if target.driver is not None:
        parts.append(f"driver {format_driver(target.driver)}")
    if target.cuda == "cpu":
        parts.append("CPU only")
    elif target.cuda is not None:
        parts.append(f"CUDA {target.cuda}")
    return ", ".join(parts)


def render_pip(
    pinset: PinSet,
    *,
    requirements: Sequence[Requirement] = (),
    title: str = "torchresolve constraints",
) -> str:
    """A pip constraints file: header, index lines, one ``name==version`` per pin.

    The index lines appear only when the pins need another index than the default
    (``--index-url`` replaces it, ``--extra-index-url`` adds one). Pins with hashes get
    ``--hash`` options. ``requirements`` are extra non-exact constraints (``numpy<2``).
    """
    lines = [f"# {title}", f"# target: {describe_target(pinset.target)}"]
    if pinset.index_url is not None:
        lines.append(f"--index-url {pinset.index_url}")
    lines.extend(f"--extra-index-url {url}" for url in pinset.extra_index_urls)
    for pin in sorted(pinset.pins, key=lambda p: p.name):
        line = f"{pin.name}=={pin.version}"
        if pin.hashes:
            line += "".join(f" \\\n    --hash={h}" for h in pin.hashes)
        lines.append(line)
    lines.extend(str(req) for req in requirements)
    return "\n".join(lines) + "\n"
