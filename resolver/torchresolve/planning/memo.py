"""Stored proposals: the same plan asked again is answered without resolving.

A proposal is a function of the input files' text, the target, the options, the curated
database and the index pages read. A stored proposal is kept under a key naming the first
four (and this code) and carries the digest of every source's rows of every project the
resolution read (:meth:`~torchresolve.index.IndexClient.digests_read`). It is answered only
when the client confirms, without a request, that each of those projects' sources still holds
the same rows (:meth:`~torchresolve.index.IndexClient.sources_digest`: fresh entries of the
same digests). A stale page, a changed page, a changed find-links folder, another database or
another option is a miss, and the plan is made again.

Entries are JSON documents under ``plans/`` of the torchresolve cache; one that cannot be read
back is deleted and is a miss.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from torchresolve._fileio import write_output
from torchresolve.errors import TorchResolveError
from torchresolve.pins import Pin, PinSet
from torchresolve.planning.model import BlockedPackage, PlannedChange, Proposal
from torchresolve.target import GpuArch, Target, parse_platform

if TYPE_CHECKING:
    from collections.abc import Mapping

    from torchresolve.db import Database
    from torchresolve.index import IndexClient
    from torchresolve.sources import DependencyFile

__all__ = ["PlanMemo", "decode_proposal", "encode_proposal", "plan_key"]

FORMAT = 1
"""The version of the stored documents and of the key; raise it when either changes."""


@functools.lru_cache(maxsize=1)
def _code_stamp() -> str:
    """Names this code: every module of the package with its size and modification time.

    A plan made by other code (an upgrade, an edited checkout) must not be answered. Taken
    once per process.
    """
    root = Path(__file__).resolve().parent.parent
    parts = []
    for path in sorted(root.rglob("*.py")):
        stat = path.stat()
        parts.append(f"{path.relative_to(root)}:{stat.st_size}:{stat.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()


def plan_key(
    dep: DependencyFile,
    target: Target,
    *,
    db: Database,
    client: IndexClient,
    options: Mapping[str, str],
) -> str:
    """The key of the plan of ``dep`` for ``target``: the input files (names and text), the
    target, the database's digest, the client's sources, ``options`` and this code.

    :param options: every other planning option that changes the result, as strings.
    """
    from torchresolve import __version__

    fields = {
        "format": str(FORMAT),
        "version": __version__,
        "code": _code_stamp(),
        "database": db.digest,
        "target": json.dumps(encode_target(target), sort_keys=True),
        "indexes": "\n".join(client.config.indexes),
        "find_links": "\n".join(client.config.find_links),
        "options": json.dumps(dict(options), sort_keys=True),
        "input": str(dep.path),
    }
    digest = hashlib.sha256()
    for name in sorted(fields):
        digest.update(f"{name}\0{fields[name]}\0".encode())
    for path in sorted(dep.texts, key=str):
        text = dep.texts[path]
        digest.update(f"file\0{path}\0{len(text)}\0".encode() + text.encode("utf-8"))
    return digest.hexdigest()


# -- proposal <-> plain data ---------------------------------------------------------------
def _opt(value: object) -> str | None:
    return None if value is None else str(value)


def encode_target(target: Target) -> dict[str, Any]:
    """``target`` as JSON-ready data (see :func:`decode_target`)."""
    return {
        "python": str(target.python),
        "platform": target.platform,
        "gpu_name": target.gpu_name,
        "arch": None if target.arch is None else [target.arch.major, target.arch.minor],
        "driver": _opt(target.driver),
        "cuda": target.cuda,
        "detected": list(target.detected),
    }


def decode_target(data: Mapping[str, Any]) -> Target:
    """Rebuild a :class:`Target` from :func:`encode_target`'s data.

    :raises ValueError: (or KeyError, TypeError...) malformed data.
    """
    arch = data["arch"]
    return Target(
        python=Version(data["python"]),
        platform=parse_platform(data["platform"]),
        gpu_name=_str_or_none(data["gpu_name"]),
        arch=None if arch is None else GpuArch(major=int(arch[0]), minor=int(arch[1])),
        driver=None if data["driver"] is None else Version(data["driver"]),
        cuda=_str_or_none(data["cuda"]),
        detected=tuple(str(d) for d in data["detected"]),
    )


def _str_or_none(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def encode_proposal(proposal: Proposal) -> dict[str, Any]:
    """``proposal`` as JSON-ready data: every field, rewrites included."""
    pins = proposal.pins
    return {
        "target": encode_target(proposal.target),
        "variant": proposal.variant,
        "cuda": proposal.cuda,
        "changes": [
            {
                "name": c.name,
                "old": c.old,
                "new": str(c.new),
                "reason": c.reason,
                "specifier": _opt(c.specifier),
            }
            for c in proposal.changes
        ],
        "pins": {
            "pins": [
                {
                    "name": p.name,
                    "version": str(p.version),
                    "index": p.index,
                    "hashes": list(p.hashes),
                    "reason": p.reason,
                }
                for p in pins.pins
            ],
            "target": encode_target(pins.target),
            "index_url": pins.index_url,
            "extra_index_urls": list(pins.extra_index_urls),
        },
        "index_urls": list(proposal.index_urls),
        "warnings": list(proposal.warnings),
        "blockers": [
            {"name": b.name, "requirement": b.requirement, "reason": b.reason, "way_out": b.way_out}
            for b in proposal.blockers
        ],
        "strategy": proposal.strategy,
        "torch_choice": proposal.torch_choice,
        "rewrites": dict(proposal.rewrites),
    }


def decode_proposal(data: Mapping[str, Any]) -> Proposal:
    """Rebuild a :class:`Proposal` from :func:`encode_proposal`'s data.

    :raises ValueError: (or KeyError, TypeError...) malformed data.
    """
    pins = data["pins"]
    return Proposal(
        target=decode_target(data["target"]),
        variant=_str_or_none(data["variant"]),
        cuda=_str_or_none(data["cuda"]),
        changes=tuple(
            PlannedChange(
                name=canonicalize_name(c["name"]),
                old=str(c["old"]),
                new=Version(c["new"]),
                reason=str(c["reason"]),
                specifier=None if c["specifier"] is None else SpecifierSet(c["specifier"]),
            )
            for c in data["changes"]
        ),
        pins=PinSet(
            pins=tuple(
                Pin(
                    name=canonicalize_name(p["name"]),
                    version=Version(p["version"]),
                    index=_str_or_none(p["index"]),
                    hashes=tuple(str(h) for h in p["hashes"]),
                    reason=str(p["reason"]),
                )
                for p in pins["pins"]
            ),
            target=decode_target(pins["target"]),
            index_url=_str_or_none(pins["index_url"]),
            extra_index_urls=tuple(str(u) for u in pins["extra_index_urls"]),
        ),
        index_urls=tuple(str(u) for u in data["index_urls"]),
        warnings=tuple(str(w) for w in data["warnings"]),
        blockers=tuple(
            BlockedPackage(
                name=canonicalize_name(b["name"]),
                requirement=str(b["requirement"]),
                reason=str(b["reason"]),
                way_out=str(b["way_out"]),
            )
            for b in data["blockers"]
        ),
        strategy=str(data["strategy"]),
        torch_choice=str(data["torch_choice"]),
        rewrites={str(k): str(v) for k, v in data["rewrites"].items()},
    )


# -- the store -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PlanMemo:
    """Proposals stored under ``root/plans`` (the torchresolve cache folder).

    :ivar recovered: paths of entries that could not be read back and were deleted.
    """

    root: Path

    def _path(self, key: str) -> Path:
        return self.root / "plans" / key[:2] / f"{key}.json"

    def get(self, key: str, client: IndexClient) -> Proposal | None:
        """The proposal stored under ``key`` when every project it read still has, by
        ``client``'s cache and without a request, the rows it had; else ``None``."""
        path = self._path(key)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError:
            return None
        try:
            data = json.loads(text)
            if data.get("format") != FORMAT or data.get("key") != key:
                raise ValueError("an entry of another format or key")
            read: dict[str, list[str]] = data["read"]
            proposal = decode_proposal(data["proposal"])
        except (ValueError, KeyError, TypeError, AttributeError, TorchResolveError):
            with contextlib.suppress(OSError):
                path.unlink()
            return None
        for project, digests in read.items():
            now = client.sources_digest(project)
            if now is None or list(now) != digests:
                return None
        return proposal

    def put(self, key: str, proposal: Proposal, client: IndexClient) -> None:
        """Store ``proposal`` under ``key`` with the digests of every project ``client``
        read; an unwritable cache folder is skipped (the plan was made; it is not kept)."""
        document = {
            "format": FORMAT,
            "key": key,
            "read": {str(p): list(d) for p, d in sorted(client.digests_read().items())},
            "proposal": encode_proposal(proposal),
        }
        path = self._path(key)
        with contextlib.suppress(OSError):
            path.parent.mkdir(parents=True, exist_ok=True)
            write_output(path, json.dumps(document, separators=(",", ":")))
