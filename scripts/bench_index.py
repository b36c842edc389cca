"""Benchmark the index client: cold and warm time to collect the metadata of a torch-1.5-era set.

Usage::

    python scripts/bench_index.py [--python 3.8] [--per-project 3] [--runs 1] [--cache-dir DIR]

The requirement set is torch, torchvision, torchaudio, transformers, numpy, scipy, pandas and
scikit-learn pinned to their 2020 releases. Starting from it, the script walks the dependency
graph: for each project, the newest ``--per-project`` versions allowed by every specifier seen
so far are candidates; one file per candidate (a wheel for the target, else the sdist) has its
metadata fetched (in parallel), and the requirements of the newest candidate (markers
evaluated for the target, no extras) add projects. A cold run uses an empty cache; then a
warm run with a new client on the same cache. Prints a Markdown table row per run with the
time, requests and bytes moved, where the pages came from, the metadata origins, and the
largest file read. (Earlier versions also timed a warm run with the parsed-page entries
deleted; JSON project pages are no longer kept raw, so that run would go to the network.)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Final

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "resolver"))

from torchresolve.index import Cache, IndexClient, load_index_config, make_session, supports
from torchresolve.index.tags import python_full_version
from torchresolve.target import Platform, parse_python

if TYPE_CHECKING:
    from packaging.version import Version

    from torchresolve.index import DistFile, Metadata

REQUIREMENTS = (
    "torch>=1.5,<1.6",
    "torchvision>=0.6,<0.7",
    "torchaudio>=0.5,<0.6",
    "transformers>=2.8,<3",
    "numpy>=1.18,<1.19",
    "scipy>=1.4,<1.5",
    "pandas>=1.0,<1.1",
    "scikit-learn>=0.22,<0.23",
)
PLATFORM: Final[Platform] = "linux_x86_64"


def _best_file(files: list[DistFile], python: Version) -> DistFile | None:
    usable = [f for f in files if supports(f, python, PLATFORM) and f.yanked is None]
    wheels = [f for f in usable if f.kind == "wheel"]
    if wheels:
        return sorted(wheels, key=lambda f: f.filename)[0]
    sdists = [f for f in usable if f.kind == "sdist"]
    return sdists[0] if sdists else None


def collect(
    client: IndexClient, python: Version, per_project: int
) -> tuple[dict[DistFile, Metadata], int]:
    """Walk the graph from :data:`REQUIREMENTS`; returns metadata by file and projects seen."""
    environment = {
        "python_version": f"{python.major}.{python.minor}",
        "python_full_version": str(python_full_version(python)),
        "sys_platform": "linux",
        "platform_system": "Linux",
        "platform_machine": "x86_64",
        "os_name": "posix",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "extra": "",
    }
    specs: dict[NormalizedName, SpecifierSet] = {}
    queue: list[Requirement] = [Requirement(r) for r in REQUIREMENTS]
    done: set[NormalizedName] = set()
    result: dict[DistFile, Metadata] = {}
    while queue:
        batch: list[tuple[NormalizedName, list[DistFile]]] = []
        for requirement in queue:
            name = canonicalize_name(requirement.name)
            specs[name] = specs.get(name, SpecifierSet()) & requirement.specifier
        fresh = [canonicalize_name(r.name) for r in queue]
        pages = client.files_many(n for n in fresh if n not in done)
        for name, files_of in pages.items():
            done.add(name)
            files = list(files_of)
            versions = sorted(
                {f.version for f in files if specs[name].contains(f.version)}, reverse=True
            )[:per_project]
            chosen = [
                best
                for v in versions
                if (best := _best_file([f for f in files if f.version == v], python)) is not None
            ]
            batch.append((name, chosen))
        queue = []
        metas = client.metadata_many([f for _, chosen in batch for f in chosen])
        result.update(metas)
        for _name, chosen in batch:
            if not chosen:
                continue
            for dep in metas[chosen[0]].requires_dist:
                if dep.marker is None or dep.marker.evaluate(environment):
                    queue.append(dep)
    return result, len(done)


def _row(
    label: str, client: IndexClient, seconds: float, metas: dict[DistFile, Metadata], projects: int
) -> str:
    stats = client.stats.snapshot()
    origins = Counter(m.origin for m in metas.values())
    unknown = sum(1 for m in metas.values() if not m.known)
    by_url = client.stats.by_url or {}
    # The file with the most bytes moved for its metadata, against its size.
    worst = max(metas, key=lambda f: by_url.get(f.url, 0), default=None)
    big = "-"
    if worst is not None and by_url.get(worst.url):
        big = (
            f"{by_url[worst.url] / 1e3:.0f} kB of {worst.filename} "
            f"({(worst.size or 0) / 1e6:.0f} MB)"
        )
    torch_bytes = max((by_url.get(f.url, 0) for f in metas if f.project == "torch"), default=0)
    big += f"; torch wheel max {torch_bytes / 1e3:.0f} kB"
    sources = ", ".join(f"{k} {v}" for k, v in sorted(client.page_sources.items()))
    return (
        f"| {label} | {seconds:.2f} s | {projects} | {len(metas)} | {sources} | "
        f"{stats['requests']} | "
        f"{stats['bytes'] / 1e6:.2f} MB | {stats.get('bytes_page', 0) / 1e6:.2f} MB | "
        f"{stats.get('bytes_range', 0) / 1e6:.2f} MB | {stats.get('bytes_download', 0) / 1e6:.2f}"
        f" MB | {', '.join(f'{k} {v}' for k, v in sorted(origins.items()))} | {unknown} | {big} |"
    )


def main(argv: list[str] | None = None) -> int:
    """Run the cold and warm benchmark and print the results as a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python", default="3.8")
    parser.add_argument("--per-project", type=int, default=3)
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--index-url", default=None)
    args = parser.parse_args(argv)
    python = parse_python(args.python)
    # Only the primary index: local extra indexes from this machine's pip.conf would make the
    # numbers depend on the machine.
    config = load_index_config(index_url=args.index_url, environ={}, config_files=())
    with tempfile.TemporaryDirectory() as scratch:
        root = args.cache_dir or Path(scratch)
        print(f"index: {config.index_url}  python {python}  {PLATFORM}", file=sys.stderr)
        print(
            "| run | time | projects | files | pages from | requests | bytes | pages | ranges"
            " | downloads | origins | unknown | most bytes for one file |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for label in ("cold", "warm"):
            client = IndexClient(
                config,
                session=make_session(args.workers),
                cache=Cache(root),
                max_workers=args.workers,
            )
            start = time.perf_counter()
            metas, projects = collect(client, python, args.per_project)
            seconds = time.perf_counter() - start
            print(_row(label, client, seconds, metas, projects), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
