"""A 300-package lock is read and audited in full (its speed is measured by scripts/bench_audit.py,
not asserted here: see docs/benchmarks.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from torchresolve.audit import AuditContext, audit
from torchresolve.sources.lockfiles import read_lockfile

if TYPE_CHECKING:
    from pathlib import Path

    from torchresolve.db import Database


def test_300_package_uv_lock_is_read_and_audited_in_full(tmp_path: Path, db: Database) -> None:
    blocks = ['version = 1\nrequires-python = ">=3.10"\n']
    family = [("torch", "2.5.1"), ("torchvision", "0.19.1"), ("numpy", "2.1.3")]
    filler = [(f"filler-{i:03d}", f"1.{i % 7}.0") for i in range(300 - len(family))]
    for name, version in family + filler:
        blocks.append(
            f'[[package]]\nname = "{name}"\nversion = "{version}"\n'
            'source = { registry = "http://127.0.0.1/simple" }\n'
        )
    lock = tmp_path / "uv.lock"
    lock.write_text("\n".join(blocks), encoding="utf-8")
    packages = read_lockfile(lock).packages
    findings = audit(packages, AuditContext(), db)
    assert len(packages) == 300
    assert {f.rule for f in findings} == {"family-pairing", "known-vulnerability"}
