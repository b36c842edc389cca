"""Record trimmed package-index data for the tests' local index server.

Usage::

    python scripts/record_fixtures.py torch "numpy>=1.18,<1.20" --versions ">=1.5,<1.6" \\
        --python 3.8,3.11 --out tests/fixtures/index [--max-versions 3] [--pytorch-variants cu121]

For each project (a name, or a requirement whose specifier narrows ``--versions``), the PEP 691
page of the configured index (pip's configuration, else the default endpoint) is fetched, and
only the files that matter are kept: versions matching the specifier (the newest
``--max-versions``), wheels installable on one of the ``--python`` versions and ``--platform``,
and sdists of versions without such a wheel. The kept page goes to
``simple/<project>/index.json`` with file URLs rewritten to ``../../files/<filename>`` (no
registry host is written), merged with what was recorded before. Each kept wheel's METADATA
(read with range requests) goes to ``files/<filename>.metadata``; each sdist's PKG-INFO too.
``--pytorch-variants`` also writes PyTorch-index pages (``pytorch/<variant>/<project>/``) whose
files are the recorded Linux wheels relabelled with the local version ``+<variant>``.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tarfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urljoin

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "resolver"))

from torchresolve._fileio import write_output
from torchresolve.index.client import json_api_url
from torchresolve.index.config import load_index_config
from torchresolve.index.http import Fetcher, make_session
from torchresolve.index.pages import JSON_TYPE, file_from_link
from torchresolve.index.tags import supports
from torchresolve.index.wheelzip import read_wheel_metadata
from torchresolve.target import PLATFORMS, Platform, parse_python

if TYPE_CHECKING:
    from packaging.version import Version

_MAX_SDIST = 30 * 1024 * 1024


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("projects", nargs="+", help="project names or requirements")
    parser.add_argument("--versions", default="", help="version specifier for every project")
    parser.add_argument("--python", default="3.8,3.11", help="comma-separated target Pythons")
    parser.add_argument(
        "--platform", default="linux_x86_64", help=f"comma-separated, of {', '.join(PLATFORMS)}"
    )
    parser.add_argument("--max-versions", type=int, default=0, help="keep the newest N versions")
    parser.add_argument("--out", type=Path, default=Path("tests/fixtures/index"))
    parser.add_argument("--index-url", default=None, help="default: pip's configured index")
    parser.add_argument("--pytorch-variants", default="", help="e.g. cu118,cu121")
    parser.add_argument("--prereleases", action="store_true")
    parser.add_argument(
        "--retrim", action="store_true", help="only re-trim the recorded .metadata files"
    )
    return parser.parse_args(argv)


_KEPT_FIELDS = frozenset(
    {
        "metadata-version",
        "name",
        "version",
        "requires-dist",
        "requires-python",
        "provides-extra",
        "dynamic",
        "summary",
    }
)


_KEPT_ENTRY_KEYS = frozenset(
    {"filename", "hashes", "requires-python", "size", "upload-time", "yanked", "core-metadata"}
)


def trim_metadata(text: str) -> str:
    """Keep the header fields the resolver reads; drop descriptions, URLs and the body.

    This keeps the fixture tree small and free of registry host names found in READMEs.
    """
    kept: list[str] = []
    keep = False
    for line in text.split("\n"):
        if not line.strip():
            break  # the body (long description) starts after the first blank line
        if line[0] in " \t":
            if keep:
                kept.append(line)
            continue
        field = line.split(":", 1)[0].strip().lower()
        keep = field in _KEPT_FIELDS
        if keep:
            kept.append(line)
    return "\n".join(kept) + "\n"


def _sdist_pkg_info(body: bytes, filename: str) -> bytes | None:
    if filename.endswith(".zip"):
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            for name in archive.namelist():
                if name.count("/") == 1 and name.endswith("/PKG-INFO"):
                    return archive.read(name)
        return None
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:*") as archive:
        for info in archive:
            if info.isfile() and info.name.count("/") == 1 and info.name.endswith("/PKG-INFO"):
                handle = archive.extractfile(info)
                return None if handle is None else handle.read()
    return None


def record_project(
    fetcher: Fetcher,
    index_url: str,
    requirement: Requirement,
    *,
    default_spec: SpecifierSet,
    pythons: list[Version],
    platforms: list[Platform],
    max_versions: int,
    prereleases: bool,
    out: Path,
) -> list[dict[str, Any]]:
    """Record one project; returns the kept file entries (with rewritten URLs)."""
    project = canonicalize_name(requirement.name)
    spec = requirement.specifier & default_spec
    page_url = urljoin(index_url, quote(project) + "/")
    response = fetcher.get(page_url, headers={"Accept": JSON_TYPE}, kind="page")
    if response.status != 200:
        raise SystemExit(f"{page_url}: HTTP {response.status}")
    data = json.loads(response.body)
    parsed = []
    for entry in data["files"]:
        dist = file_from_link(
            project=project,
            filename=entry["filename"],
            url=urljoin(page_url, entry["url"]),
            index_url=index_url,
            requires_python=entry.get("requires-python"),
        )
        if dist is None or not spec.contains(dist.version, prereleases=prereleases):
            continue
        parsed.append((entry, dist))
    versions = sorted({d.version for _, d in parsed}, reverse=True)
    if max_versions:
        versions = versions[:max_versions]
    kept: list[tuple[dict[str, Any], Any]] = []
    for version in versions:
        of_version = [(e, d) for e, d in parsed if d.version == version]
        wheels = [
            (e, d)
            for e, d in of_version
            if d.kind == "wheel" and any(supports(d, py, pl) for py in pythons for pl in platforms)
        ]
        kept.extend(wheels or [(e, d) for e, d in of_version if d.kind == "sdist"][:1])
    files_dir = out / "files"
    files_dir.mkdir(parents=True, exist_ok=True)
    entries: list[dict[str, Any]] = []
    wrote_sdist = False
    for entry, dist in kept:
        target = files_dir / f"{dist.filename}.metadata"
        if not target.exists():
            if dist.kind == "wheel":
                text = read_wheel_metadata(
                    fetcher, dist.url, project=project, max_download=_MAX_SDIST
                ).text
                write_output(target, trim_metadata(text))
            else:
                got = fetcher.get(dist.url, kind="download", max_bytes=_MAX_SDIST)
                pkg_info = _sdist_pkg_info(got.body, dist.filename) if got.status == 200 else None
                if pkg_info is None:
                    print(f"  skip {dist.filename}: no PKG-INFO", file=sys.stderr)
                    continue
                write_output(target, trim_metadata(pkg_info.decode("utf-8", "replace")))
        wrote_sdist = wrote_sdist or dist.kind == "sdist"
        # A whitelist: other keys (provenance, ...) may carry registry URLs.
        kept_entry = {k: v for k, v in entry.items() if k in _KEPT_ENTRY_KEYS}
        kept_entry["url"] = f"../../files/{quote(dist.filename)}"
        entries.append(kept_entry)
    if wrote_sdist:
        _record_json_api(fetcher, index_url, project, out)
    _merge_page(out / "simple" / project / "index.json", project, entries)
    return entries


def _record_json_api(fetcher: Fetcher, index_url: str, project: str, out: Path) -> None:
    url = json_api_url(index_url, project)
    if url is None:
        return
    got = fetcher.get(url, kind="json-api")
    if got.status != 200:
        return
    info = json.loads(got.body)["info"]
    trimmed = {
        "info": {
            k: info.get(k)
            for k in ("name", "version", "requires_dist", "requires_python", "provides_extra")
        },
        "releases": {},
        "urls": [],
    }
    target = out / "pypi" / project / "json"
    target.parent.mkdir(parents=True, exist_ok=True)
    write_output(target, json.dumps(trimmed, indent=1) + "\n")


def _merge_page(path: Path, project: str, entries: list[dict[str, Any]]) -> None:
    old: list[dict[str, Any]] = []
    if path.is_file():
        old = json.loads(path.read_text(encoding="utf-8"))["files"]
    by_name = {e["filename"]: e for e in old}
    by_name.update({e["filename"]: e for e in entries})
    files = sorted(by_name.values(), key=lambda e: str(e["filename"]))
    versions: set[Version] = set()
    for entry in files:
        dist = file_from_link(
            project=canonicalize_name(project), filename=entry["filename"], url="", index_url=""
        )
        if dist is not None:
            versions.add(dist.version)
    page = {
        "meta": {"api-version": "1.1"},
        "name": project,
        "versions": [str(v) for v in sorted(versions)],
        "files": files,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    write_output(path, json.dumps(page, indent=1) + "\n")


def write_pytorch_pages(
    out: Path, project: str, entries: list[dict[str, Any]], variant: str
) -> int:
    """A PyTorch-index page of ``project`` for ``variant`` from recorded Linux wheels."""
    links = []
    files_dir = out / "files"
    for entry in entries:
        name = str(entry["filename"])
        if not name.endswith(".whl") or "linux" not in name:
            continue
        dist_name, version, rest = name.split("-", 2)
        local_name = f"{dist_name}-{version}+{variant}-{rest}"
        source = (files_dir / f"{name}.metadata").read_text(encoding="utf-8")
        relabelled = source.replace(f"\nVersion: {version}\n", f"\nVersion: {version}+{variant}\n")
        write_output(files_dir / f"{local_name}.metadata", relabelled)
        links.append(f'<a href="../{quote(local_name)}">{local_name}</a><br/>')
    page = out / "pytorch" / variant / project / "index.html"
    page.parent.mkdir(parents=True, exist_ok=True)
    body = "<!DOCTYPE html>\n<html><body>\n" + "\n".join(links) + "\n</body></html>\n"
    write_output(page, body)
    return len(links)


def main(argv: list[str] | None = None) -> int:
    """Record the projects named on the command line; print what was kept."""
    args = _parse_args(argv)
    if args.retrim:
        for path in sorted((args.out / "files").glob("*.metadata")):
            text = path.read_text(encoding="utf-8")
            if trim_metadata(text) != text:
                write_output(path, trim_metadata(text))
        return 0
    index_url = load_index_config(index_url=args.index_url).index_url
    pythons = [parse_python(p) for p in args.python.split(",") if p.strip()]
    platforms: list[Platform] = []
    for name in args.platform.split(","):
        if name not in PLATFORMS:
            raise SystemExit(f"unknown platform {name!r}")
        platforms.append(name)
    fetcher = Fetcher(make_session(4), timeout=60.0)
    default_spec = SpecifierSet(args.versions)
    for raw in args.projects:
        requirement = Requirement(raw)
        entries = record_project(
            fetcher,
            index_url,
            requirement,
            default_spec=default_spec,
            pythons=pythons,
            platforms=platforms,
            max_versions=args.max_versions,
            prereleases=args.prereleases,
            out=args.out,
        )
        print(f"{requirement.name}: {len(entries)} files")
        for variant in filter(None, args.pytorch_variants.split(",")):
            count = write_pytorch_pages(
                args.out, canonicalize_name(requirement.name), entries, variant
            )
            print(f"  pytorch/{variant}: {count} files")
    size = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    print(f"fixture tree: {size / 1024:.0f} KiB; network: {fetcher.stats.snapshot()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
