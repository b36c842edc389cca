"""Ctrl-C during a verification: exit 130, the temporary venv removed entirely, and no
process that torchresolve started left running."""

from __future__ import annotations

import _thread
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from torchresolve.verify.smoke import SmokeOptions, run_smoke


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupt_during_the_run_phase_cleans_up(
    tmp_path: Path, wheelhouse: Path, hermetic: dict[str, str], sig: signal.Signals
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
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert "interrupted" in err
    assert list(temp.iterdir()) == []


HANGING_SUITE = """
import argparse, json, os, time
p = argparse.ArgumentParser()
p.add_argument("--out"); p.add_argument("--gpu")
a = p.parse_args()
with open(a.out, "a") as out:
    out.write(json.dumps({"event": "start", "pid": os.getpid()}) + "\\n")
    out.write(json.dumps({"event": "begin", "group": "hang"}) + "\\n")
with open(os.environ["PID_FILE"], "w") as f:
    f.write(str(os.getpid()))
time.sleep(120)
"""


def test_ctrl_c_during_the_smoke_suite_stops_the_suite_process(tmp_path: Path) -> None:
    script = tmp_path / "suite.py"
    script.write_text(HANGING_SUITE)
    pid_file = tmp_path / "pid"

    def interrupt_when_started() -> None:
        deadline = time.monotonic() + 60
        while not pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # let the follower read the start event
        _thread.interrupt_main()

    threading.Thread(target=interrupt_when_started, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        run_smoke(
            Path(sys.executable),
            SmokeOptions(script=script, timeout=100),
            environ={**os.environ, "PID_FILE": str(pid_file)},
        )
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
