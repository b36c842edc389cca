"""Benchmark ``torchresolve audit`` on generated 300-package lockfiles, offline.

Writes one lockfile per format (requirements with hashes, uv.lock, poetry.lock, Pipfile.lock,
pylock.toml, conda-lock.yml) holding a torch family plus filler packages, then times reading
and auditing each in-process (median of ``--repeat`` runs, database already loaded) and one
full CLI run in a fresh interpreter (start-up and database load included). Prints Markdown.

Usage: python scripts/bench_audit.py [--packages 300] [--repeat 20] [--db DIR]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from torchresolve.audit import AuditContext, audit
from torchresolve.db import Database, load_database
from torchresolve.errors import DataError
from torchresolve.sources.lockfiles import read_lockfile

FAMILY = [
    ("torch", "2.5.1"),
    ("torchvision", "0.19.1"),
    ("torchaudio", "2.5.1"),
    ("numpy", "2.1.3"),
]
HASH = "0" * 64


def packages(count: int) -> list[tuple[str, str]]:
    """The torch family (with a planted pairing error) plus filler packages, ``count`` in all."""
    filler = [
        (f"filler-package-{i:03d}", f"1.{i % 17}.{i % 5}") for i in range(count - len(FAMILY))
    ]
    return FAMILY + filler


def write_requirements(items: list[tuple[str, str]], folder: Path) -> Path:
    lines = []
    for name, version in items:
        lines += [
            f"{name}=={version} \\",
            f"    --hash=sha256:{HASH}",
            "    # via -r requirements.in",
        ]
    path = folder / "requirements.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_uv(items: list[tuple[str, str]], folder: Path) -> Path:
    blocks = ['version = 1\nrequires-python = ">=3.10"\n']
    for name, version in items:
        blocks.append(
            f'[[package]]\nname = "{name}"\nversion = "{version}"\n'
            'source = { registry = "http://127.0.0.1/simple" }\n'
            f'sdist = {{ url = "http://127.0.0.1/files/{name}-{version}.tar.gz", '
            f'hash = "sha256:{HASH}", size = 1000 }}\n'
        )
    path = folder / "uv.lock"
    path.write_text("\n".join(blocks), encoding="utf-8")
    return path


def write_poetry(items: list[tuple[str, str]], folder: Path) -> Path:
    blocks = []
    for name, version in items:
        blocks.append(
            f'[[package]]\nname = "{name}"\nversion = "{version}"\ndescription = ""\n'
            'optional = false\npython-versions = ">=3.8"\nfiles = [\n'
            f'    {{file = "{name}-{version}.tar.gz", hash = "sha256:{HASH}"}},\n]\n'
        )
    blocks.append(
        '[metadata]\nlock-version = "2.0"\npython-versions = ">=3.10,<3.13"\n'
        f'content-hash = "{HASH}"\n'
    )
    path = folder / "poetry.lock"
    path.write_text("\n".join(blocks), encoding="utf-8")
    return path


def write_pipfile(items: list[tuple[str, str]], folder: Path) -> Path:
    default = {
        name: {"hashes": [f"sha256:{HASH}"], "index": "pypi", "version": f"=={version}"}
        for name, version in items
    }
    document = {
        "_meta": {"requires": {"python_version": "3.11"}},
        "default": default,
        "develop": {},
    }
    path = folder / "Pipfile.lock"
    path.write_text(json.dumps(document, indent=4), encoding="utf-8")
    return path


def write_pylock(items: list[tuple[str, str]], folder: Path) -> Path:
    blocks = ['lock-version = "1.0"\nrequires-python = ">=3.11"\ncreated-by = "bench"\n']
    for name, version in items:
        blocks.append(
            f'[[packages]]\nname = "{name}"\nversion = "{version}"\n'
            f'sdist = {{ url = "http://127.0.0.1/files/{name}-{version}.tar.gz", '
            f'hashes = {{ sha256 = "{HASH}" }} }}\n'
        )
    path = folder / "pylock.toml"
    path.write_text("\n".join(blocks), encoding="utf-8")
    return path


def write_conda_lock(items: list[tuple[str, str]], folder: Path) -> Path:
    lines = ["version: 1", "metadata:", "  platforms:", "  - linux-64", "package:"]
    for name, version in items:
        conda = "pytorch" if name == "torch" else name
        lines += [
            f"- name: {conda}",
            f"  version: {version}",
            "  manager: conda",
            "  platform: linux-64",
            "  dependencies: {}",
            f"  url: https://conda.anaconda.org/conda-forge/linux-64/{conda}-{version}-py311_0.conda",
            "  hash:",
            f"    sha256: {HASH}",
            "  category: main",
            "  optional: false",
        ]
    path = folder / "conda-lock.yml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


WRITERS = {
    "requirements.txt (hashes)": write_requirements,
    "uv.lock": write_uv,
    "poetry.lock": write_poetry,
    "Pipfile.lock": write_pipfile,
    "pylock.toml": write_pylock,
    "conda-lock.yml": write_conda_lock,
}


def time_in_process(path: Path, db: Database, repeat: int) -> tuple[float, float, int]:
    """Median seconds to read, median seconds to audit, number of findings."""
    reads, audits = [], []
    findings = 0
    context = AuditContext()
    for _ in range(repeat):
        start = time.perf_counter()
        lock = read_lockfile(path)
        middle = time.perf_counter()
        findings = len(audit(lock.packages, context, db))
        end = time.perf_counter()
        reads.append(middle - start)
        audits.append(end - middle)
    return statistics.median(reads), statistics.median(audits), findings


def time_cli(path: Path, db_dir: Path | None) -> float:
    """Wall seconds of one ``torchresolve audit`` in a fresh interpreter."""
    launcher = "from torchresolve.cli.main import entry; entry()"
    argv = [sys.executable, "-c", launcher, "-q", "audit", "--no-detect"]
    argv += ["--fail-on", "never", "-o", "/dev/null", str(path)]
    if db_dir is not None:
        argv += ["--db", str(db_dir)]
    start = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> int:
    """Run the benchmark and print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--packages", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--db", type=Path, help="database folder (default: the shipped one)")
    args = parser.parse_args()
    db_dir: Path | None = args.db
    try:
        db = load_database(db_dir)
    except DataError as exc:
        fallback = Path(__file__).resolve().parent.parent / "tests/fixtures/lockfiles/db"
        sys.stderr.write(f"shipped database unusable ({exc}); using {fallback}\n")
        db_dir, db = fallback, load_database(fallback)
    items = packages(args.packages)
    rows = [
        "| format | packages | read (ms) | audit (ms) | findings | CLI wall (ms) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for label, writer in WRITERS.items():
            path = writer(items, Path(tmp))
            read, checked, findings = time_in_process(path, db, args.repeat)
            wall = time_cli(path, db_dir)
            rows.append(
                f"| {label} | {len(items)} | {read * 1000:.1f} | {checked * 1000:.2f} | "
                f"{findings} | {wall * 1000:.0f} |"
            )
    sys.stdout.write("\n".join(rows) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
