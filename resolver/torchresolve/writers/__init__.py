"""Writers: pure functions turning a :class:`~torchresolve.pins.PinSet` into file text.

They return strings; files are written only through :func:`torchresolve._fileio.write_output`.
"""

from __future__ import annotations

from torchresolve.writers.conda import render_environment
from torchresolve.writers.constraints import describe_target, render_pip
from torchresolve.writers.pylock import LockedWheel, pylock_problems, render_pylock
from torchresolve.writers.uv import render_uv

__all__ = [
    "LockedWheel",
    "describe_target",
    "pylock_problems",
    "render_environment",
    "render_pip",
    "render_pylock",
    "render_uv",
]
