"""The verify options on their own command, chained after another command, and standalone."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from _verify_helpers import hermetic_environ

from torchresolve.cli.verify import add_verify_arguments


def test_chained_options_reuse_the_callers_flags_and_prefix_reports() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--python", dest="python", help="target Python version")
    parser.add_argument("--json", dest="upgrade_json")
    add_verify_arguments(parser, chained=True)
    args = parser.parse_args(
        ["--python", "3.11", "--json", "plan.json", "--verify-json", "verify.json",
         "--installer", "pip", "--checkpoint", "a.pt", "--checkpoint", "b.pt"]
    )  # fmt: skip
    assert args.python == "3.11"
    assert args.upgrade_json == "plan.json"
    assert args.verify_json == "verify.json"
    assert args.verify_installer == "pip"
    assert args.verify_checkpoints == [Path("a.pt"), Path("b.pt")]


def test_standalone_module_runs_without_the_cli_entry(tmp_path: Path, wheelhouse: Path) -> None:
    """``python -m torchresolve.verify`` is what runs on a GPU machine without our deps."""
    file = tmp_path / "proposal.txt"
    file.write_text("beta==1.0\n")
    argv = [sys.executable, "-m", "torchresolve.verify", str(file), "--no-smoke", "--no-index",
            "--find-links", str(wheelhouse), "--installer", "pip", "--json", "-"]  # fmt: skip
    done = subprocess.run(
        argv, capture_output=True, text=True, env=hermetic_environ(), timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    assert '"ok": true' in done.stdout
