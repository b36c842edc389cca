"""Value types of an upgrade proposal: what the writers render and the CLI acts on."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from packaging.specifiers import SpecifierSet
    from packaging.utils import NormalizedName
    from packaging.version import Version

    from torchresolve.pins import PinSet
    from torchresolve.target import Target

__all__ = ["BlockedPackage", "PlannedChange", "Proposal"]


@dataclass(frozen=True, slots=True, kw_only=True)
class PlannedChange:
    """One direct requirement: what the input said, what the proposal installs, and why.

    :ivar old: the specifier as written (``==1.5.0``; ``""`` when unpinned).
    :ivar new: the resolved version.
    :ivar specifier: the specifier to write back, or ``None`` when the old one still fits.
    """

    name: NormalizedName
    old: str
    new: Version
    reason: str
    specifier: SpecifierSet | None = None

    @property
    def changed(self) -> bool:
        """True when the input file needs rewriting for this project."""
        return self.specifier is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class BlockedPackage:
    """A direct requirement with no installable release for the target at all."""

    name: NormalizedName
    requirement: str
    reason: str
    way_out: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Proposal:
    """The planner's answer for one dependency file and one target.

    :ivar target: the target, as resolved (detected fields filled in).
    :ivar variant: the torch build's variant (``cu118``, ``cpu``), or ``None`` without torch.
    :ivar cuda: the CUDA runtime of the chosen build (``11.8``), ``None`` for CPU builds.
    :ivar changes: one entry per direct requirement, in input order.
    :ivar pins: every resolved package, exact (local labels included).
    :ivar index_urls: the index lines the constraints need (default first).
    :ivar warnings: behaviour changes crossed, metadata fallbacks, advisories.
    :ivar blockers: direct requirements left out, with the way out.
    :ivar rewrites: the new text of every input file that changes (path -> text).
    """

    target: Target
    variant: str | None
    cuda: str | None
    changes: tuple[PlannedChange, ...]
    pins: PinSet
    index_urls: tuple[str, ...]
    warnings: tuple[str, ...] = ()
    blockers: tuple[BlockedPackage, ...] = ()
    strategy: str = "minimal"
    torch_choice: str = "minimal"
    rewrites: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def complete(self) -> bool:
        """True when nothing was left out."""
        return not self.blockers
