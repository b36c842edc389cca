"""A 300-package lock is read and audited well under a second (docs/benchmarks-audit.md)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from torchresolve.audit import AuditContext, audit
from torchresolve.sources.lockfiles import read_lockfile

if TYPE_CHECKING:
    from pathlib import Path

    from torchresolve.db import Database


def test_300_package_uv_lock_under_a_second(tmp_path: Path, db: Database) -> None:
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
    start = time.perf_counter()
    packages = read_lockfile(lock).packages
    findings = audit(packages, AuditContext(), db)
    elapsed = time.perf_counter() - start
    assert len(packages) == 300
    assert {f.rule for f in findings} == {"family-pairing", "known-vulnerability"}
    # typically 20-30 ms on a loaded 2-core machine; a second leaves room for noise
    assert elapsed < 1.0
