"""A PEP 751 ``pylock.toml`` of the pins."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from torchresolve import __version__
from torchresolve.writers.constraints import describe_target

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from datetime import datetime

    from packaging.utils import NormalizedName

    from torchresolve.pins import PinSet

__all__ = ["LockedWheel", "pylock_problems", "render_pylock"]


@dataclass(frozen=True, slots=True, kw_only=True)
class LockedWheel:
    """One wheel file of a pinned package, as the index lists it."""

    name: str
    """The wheel's file name."""
    url: str
    hashes: Mapping[str, str] = field(hash=False)
    """Algorithm -> hex digest (``{"sha256": "..."}``)."""
    size: int | None = None
    upload_time: datetime | None = None


def _string(text: str) -> str:
    # A JSON string of printable text is a valid TOML basic string.
    return json.dumps(text, ensure_ascii=False)


def render_pylock(
    pinset: PinSet,
    *,
    default_index: str | None = None,
    files: Mapping[NormalizedName, Sequence[LockedWheel]] | None = None,
) -> str:
    """pylock.toml: ``lock-version = "1.0"``, ``created-by``, one ``[[packages]]`` per pin.

    Each package names its index (``default_index`` for pins of the default index; omitted
    when that is unknown) and lists the wheels of ``files`` (by canonical name) that have
    hashes. PEP 751 requires a source with hashes for every package, so the lock is
    installable only when ``files`` covers every pin; see :func:`pylock_problems`.
    """
    target = pinset.target
    known = files or {}
    lines = [
        f"# target: {describe_target(target)}",
        'lock-version = "1.0"',
        f"created-by = {_string('torchresolve ' + __version__)}",
        f"requires-python = {_string(f'=={target.python}.*')}",
    ]
    for pin in sorted(pinset.pins, key=lambda p: p.name):
        index = pin.index or pinset.index_url or default_index
        lines += ["", "[[packages]]", f"name = {_string(pin.name)}"]
        lines.append(f"version = {_string(str(pin.version))}")
        if index is not None:
            lines.append(f"index = {_string(index)}")
        for wheel in known.get(pin.name, ()):
            if not wheel.hashes:
                continue
            lines += ["", "[[packages.wheels]]", f"name = {_string(wheel.name)}"]
            lines.append(f"url = {_string(wheel.url)}")
            if wheel.upload_time is not None:
                lines.append(f"upload-time = {wheel.upload_time.isoformat()}")
            if wheel.size is not None:
                lines.append(f"size = {wheel.size}")
            digests = ", ".join(f"{k} = {_string(v)}" for k, v in sorted(wheel.hashes.items()))
            lines.append(f"hashes = {{ {digests} }}")
    return "\n".join(lines) + "\n"


def pylock_problems(text: str) -> list[str]:
    """Why ``text`` is not a valid PEP 751 lock (empty when valid).

    Uses ``packaging.pylock`` when the installed packaging has it (>= 25.0); else checks
    only that the text is TOML with the required top-level keys.
    """

    from torchresolve._compat import tomllib

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return [f"not valid TOML: {exc}"]
    try:
        from packaging.pylock import Pylock, PylockValidationError
    except ImportError:  # pragma: no cover - old packaging
        missing = [k for k in ("lock-version", "created-by", "packages") if k not in data]
        return [f"missing key {k!r}" for k in missing]
    try:
        Pylock.from_dict(data)
    except PylockValidationError as exc:
        return [str(exc)]
    return []
