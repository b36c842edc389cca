"""Ctrl-C during a verification: exit 130, and the temporary venv is removed entirely."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path


def test_sigint_during_the_run_phase_cleans_up(
    tmp_path: Path, wheelhouse: Path, hermetic: dict[str, str]
) -> None:
    file = tmp_path / "proposal.txt"
    file.write_text("gamma==1.0\n")
    temp = tmp_path / "tmp"
    temp.mkdir()
    marker = tmp_path / "running"
    command = f"touch {marker} && sleep 60"
    argv = [sys.executable, "-c", "from torchresolve.cli.main import entry; entry()",
            "verify", str(file), "--installer", "uv", "--no-index", "-f", str(wheelhouse),
            "--no-smoke", "--run", command]  # fmt: skip
    proc = subprocess.Popen(
        argv, env={**hermetic, "TMPDIR": str(temp)}, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the --run command never started"
            time.sleep(0.05)
        assert list(temp.glob("torchresolve-verify-*/venv/pyvenv.cfg")), "venv should exist now"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert "interrupted" in err
    assert list(temp.iterdir()) == []
