"""A ``[tool.uv]`` snippet for pyproject.toml: constraints and the variant index routing."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from torchresolve.writers.constraints import describe_target

if TYPE_CHECKING:
    from collections.abc import Sequence

    from packaging.requirements import Requirement

    from torchresolve.pins import PinSet

__all__ = ["render_uv"]


def _string(text: str) -> str:
    # A JSON string of printable text is a valid TOML basic string.
    return json.dumps(text, ensure_ascii=False)


def _index_name(url: str) -> str:
    tail = url.rstrip("/").rsplit("/", 1)[-1]
    return f"pytorch-{tail}" if "pytorch.org" in url else f"index-{tail}"


def render_uv(pinset: PinSet, *, requirements: Sequence[Requirement] = ()) -> str:
    """``[tool.uv]`` with ``constraint-dependencies``; pins served by another index get an
    explicit ``[[tool.uv.index]]`` (used only by the packages routed to it) and a
    ``[tool.uv.sources]`` entry each.
    """
    lines = [
        "# torchresolve: add to pyproject.toml",
        f"# target: {describe_target(pinset.target)}",
        "[tool.uv]",
        "constraint-dependencies = [",
    ]
    pins = sorted(pinset.pins, key=lambda p: p.name)
    lines.extend(f"    {_string(f'{p.name}=={p.version}')}," for p in pins)
    lines.extend(f"    {_string(str(r))}," for r in requirements)
    lines.append("]")
    urls = sorted({p.index for p in pins if p.index is not None})
    for url in urls:
        lines += [
            "",
            "[[tool.uv.index]]",
            f"name = {_string(_index_name(url))}",
            f"url = {_string(url)}",
            "explicit = true",
        ]
    routed = [p for p in pins if p.index is not None]
    if routed:
        lines += ["", "[tool.uv.sources]"]
        for pin in routed:
            assert pin.index is not None
            lines.append(f"{pin.name} = {{ index = {_string(_index_name(pin.index))} }}")
    return "\n".join(lines) + "\n"
