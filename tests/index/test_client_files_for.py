"""IndexClient.files_for(): the files one target takes, the same as filtering files() by hand."""

from __future__ import annotations

import marshal
import shutil
from typing import TYPE_CHECKING

import pytest
from packaging.version import Version

from torchresolve.index import supports

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime
    from pathlib import Path

    from _indexserver import IndexServer
    from torchresolve.index import DistFile, IndexClient, TargetFiles
    from torchresolve.target import Platform

PROJECTS = ("torch", "torchaudio", "torchvision", "numpy", "tqdm")
TARGETS: tuple[tuple[str, Platform], ...] = (
    ("3.8", "linux_x86_64"),
    ("3.11", "linux_x86_64"),
    ("3.12", "macos_arm64"),
    ("3.11", "windows"),
)
_HEADER = 6  # magic (4 bytes) + format number (2 bytes) of a parsed-page entry
# ... then the head's length (4 bytes), the head, and the rows.


def _by_hand(files: tuple[DistFile, ...], python: Version, platform: Platform) -> TargetFiles:
    """What files_for must answer, computed from every file the way the solver did."""
    from torchresolve.index import TargetFiles

    groups: dict[Version, list[DistFile]] = {}
    for file in files:
        groups.setdefault(file.version, []).append(file)
    released: dict[Version, datetime] = {}
    for version, group in groups.items():
        times = [f.upload_time for f in group if f.upload_time is not None]
        if times:
            released[version] = min(times)
    return TargetFiles(
        project=files[0].project,
        files=tuple(f for f in files if supports(f, python, platform)),
        versions=tuple(groups),
        released=released,
        yanked=frozenset(v for v, g in groups.items() if all(f.yanked is not None for f in g)),
        compiled=any(tag.platform != "any" for f in files for tag in f.tags),
    )


def _facts(found: TargetFiles) -> tuple[object, ...]:
    """Every field, with the files' own fields (DistFile equality leaves some out), in order."""
    return (
        found.project,
        [(f.filename, f.url, f.index_url, f.hashes, f.size, f.upload_time) for f in found.files],
        found.versions,
        list(found.released.items()),
        found.yanked,
        found.compiled,
    )


@pytest.mark.parametrize(("python", "platform"), TARGETS)
def test_files_for_is_files_filtered_for_the_target(
    make_index_client: Callable[..., IndexClient],
    index_server: IndexServer,
    python: str,
    platform: Platform,
) -> None:
    version = Version(python)
    # Two sources, so names listed by both are taken from the first one only.
    sources = {"extra_index_urls": [index_server.pytorch_url("cu121")]}
    rows_first = make_index_client(**sources)
    every = {p: make_index_client(**sources).files(p) for p in PROJECTS}
    for project in PROJECTS:
        found = rows_first.files_for(project, version, platform)
        expected = _by_hand(every[project], version, platform)
        assert _facts(found) == _facts(expected)
    kept = sum(len(rows_first.files_for(p, version, platform).files) for p in PROJECTS)
    assert 0 < kept < sum(len(files) for files in every.values())


def test_files_for_reuses_files_already_read_with_the_same_answer(
    make_index_client: Callable[..., IndexClient],
) -> None:
    from_rows = make_index_client()
    from_files = make_index_client()
    for project in PROJECTS:
        from_files.files(project)
    read = dict(from_files.page_sources)
    for python, platform in TARGETS:
        for project in PROJECTS:
            rows_answer = from_rows.files_for(project, Version(python), platform)
            files_answer = from_files.files_for(project, Version(python), platform)
            assert _facts(files_answer) == _facts(rows_answer)
    assert from_files.page_sources == read  # answered from the files it had, no page read
    # The answer is kept: asking again reads nothing.
    before = dict(from_rows.page_sources)
    assert from_rows.files_for("torch", Version("3.11"), "linux_x86_64") is from_rows.files_for(
        "torch", Version("3.11"), "linux_x86_64"
    )
    assert from_rows.page_sources == before


def test_files_for_a_missing_project_is_empty(
    make_index_client: Callable[..., IndexClient],
) -> None:
    found = make_index_client().files_for("no-such-project", Version("3.11"), "linux_x86_64")
    assert found.files == found.versions == ()
    assert not found.released
    assert not found.compiled


def test_damaged_row_of_a_file_the_target_skips_is_still_caught(
    make_index_client: Callable[..., IndexClient], tmp_path: Path
) -> None:
    python, platform = Version("3.11"), "linux_x86_64"
    cold = make_index_client().files_for("numpy", python, platform)
    (entry,) = (tmp_path / "cache" / "parsed").rglob("*.marshal")
    payload = entry.read_bytes()
    size = int.from_bytes(payload[_HEADER : _HEADER + 4], "big")
    start = _HEADER + 4 + size
    rows = list(marshal.loads(payload[start:]))
    # Break the version of a wheel this target does not take (a cp38 one).
    index = next(i for i, row in enumerate(rows) if "-cp38-" in row[0])
    rows[index] = (rows[index][0], rows[index][1], "not a version", *rows[index][3:])
    entry.write_bytes(payload[:start] + marshal.dumps(tuple(rows)))
    # Without the target view, the rows are read again.
    shutil.rmtree(tmp_path / "cache" / "targets")
    again = make_index_client()
    assert _facts(again.files_for("numpy", python, platform)) == _facts(cold)
    # The damaged entry was dropped and the page read again (JSON pages are not kept raw).
    assert again.page_sources == {"parsed-cache": 1, "network": 1}
