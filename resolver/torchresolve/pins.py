"""A resolved set of exact pins: what writers turn into constraints, lockfiles and reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from packaging.utils import NormalizedName
    from packaging.version import Version

    from torchresolve.target import Target

__all__ = ["Pin", "PinSet"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Pin:
    """One package at one exact version (a local version such as ``+cu118`` included)."""

    name: NormalizedName
    version: Version
    index: str | None = None
    """URL of the index that serves this build; ``None`` means the default index."""
    hashes: tuple[str, ...] = ()
    """``sha256:<hex>`` strings of the acceptable files."""
    reason: str = ""
    """Why this version: one short sentence for reports."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PinSet:
    """A consistent set of pins for one target, plus the index lines that serve it."""

    pins: tuple[Pin, ...]
    target: Target
    index_url: str | None = None
    """Replacement for the default index (``--index-url``), when one is needed."""
    extra_index_urls: tuple[str, ...] = field(default_factory=tuple)

    def get(self, name: str) -> Pin | None:
        """The pin for canonical ``name``, or ``None``."""
        for pin in self.pins:
            if pin.name == name:
                return pin
        return None
