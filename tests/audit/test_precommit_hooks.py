"""The pre-commit hooks a project uses to audit its lockfiles."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from torchresolve.cli.main import main

ROOT = Path(__file__).resolve().parent.parent.parent
LOCKFILES = ROOT / "tests" / "fixtures" / "lockfiles"


def hooks() -> list[dict[str, object]]:
    loaded = YAML(typ="safe").load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    assert isinstance(loaded, list)
    return loaded


def test_hook_selects_every_lockfile_kind_and_nothing_else() -> None:
    pattern = re.compile(str(hooks()[0]["files"]))
    fixtures = [p.relative_to(ROOT).as_posix() for p in LOCKFILES.glob("*/*/*") if p.is_file()]
    assert len(fixtures) == 20
    assert all(pattern.search(name) for name in fixtures)
    for other in ("pyproject.toml", "setup.py", "docs/notes.txt", "Pipfile", "environment.py"):
        assert not pattern.search(other), other


@pytest.mark.parametrize(("twin", "code"), [("planted", 1), ("clean", 0)])
def test_hook_entry_runs_the_audit(
    twin: str, code: int, capsys: pytest.CaptureFixture[str]
) -> None:
    entry = shlex.split(str(hooks()[0]["entry"]))
    assert entry[:2] == ["torchresolve", "audit"]
    files = sorted(str(p) for p in LOCKFILES.glob(f"*/{twin}/*"))
    assert main([*entry[1:], "--db", str(LOCKFILES / "db"), *files]) == code
    capsys.readouterr()
