"""write_output: the one atomic writer."""

from __future__ import annotations

import stat
from typing import TYPE_CHECKING

import pytest

from torchresolve._fileio import write_output

if TYPE_CHECKING:
    from pathlib import Path


def test_writes_new_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    write_output(target, "torch==2.1.2\n")
    assert target.read_text(encoding="utf-8") == "torch==2.1.2\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_replacing_keeps_the_file_mode(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old\n", encoding="utf-8")
    target.chmod(0o640)
    write_output(target, "new\n")
    assert target.read_text(encoding="utf-8") == "new\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


def test_dash_means_stdout(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    write_output("-", "to stdout\n")
    assert capsys.readouterr().out == "to stdout\n"
    assert not (tmp_path / "-").exists()


def test_failed_replace_keeps_the_old_content_and_cleans_up(tmp_path: Path) -> None:
    # A directory in the way makes the final rename fail after the temporary file is written.
    target = tmp_path / "busy"
    target.mkdir()
    (target / "keep").write_text("x", encoding="utf-8")
    with pytest.raises(OSError):
        write_output(target, "new\n")
    assert (target / "keep").read_text(encoding="utf-8") == "x"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["busy"]
