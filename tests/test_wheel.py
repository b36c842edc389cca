"""The built wheel ships the database: install it in a fresh venv and run the CLI from there."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import venv
from importlib import resources
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]

pytestmark = pytest.mark.slow


def _run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv with the wheel built from this checkout installed (``--no-deps``).

    Its dependencies come from this test environment through a .pth file naming our
    site-packages: that directory's own .pth files (the editable install) are not run, so
    ``import torchresolve`` finds only the installed wheel.
    """
    if not (resources.files("torchresolve._data") / "torch.toml").is_file():
        pytest.skip("data/torch.toml not written yet")
    work = tmp_path_factory.mktemp("wheel")
    # Build from a copy: an in-tree build would leave build/ in a checkout others work in.
    source = work / "source"
    skip = shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc")
    for name in ("resolver", "data"):
        shutil.copytree(ROOT / name, source / name, ignore=skip)
    for name in ("pyproject.toml", "README.md"):
        if (ROOT / name).is_file():
            shutil.copy2(ROOT / name, source / name)
    dist = work / "dist"
    built = _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-w",
            str(dist),
            str(source),
        ],
        cwd=work,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = dist.glob("torchresolve-*.whl")
    env = work / "venv"
    venv.create(env, with_pip=False)
    python = env / "bin" / "python"
    purelib = Path(
        _run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], cwd=work
        ).stdout.strip()
    )
    (purelib / "_test_deps.pth").write_text(sysconfig.get_path("purelib") + "\n", "utf-8")
    done = _run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--no-deps",
            "--no-index",
            str(wheel),
        ],
        cwd=work,
    )
    assert done.returncode == 0, done.stderr
    return env


def test_wheel_contains_the_data(installed: Path, tmp_path: Path) -> None:
    python = installed / "bin" / "python"
    probe = _run(
        [
            str(python),
            "-c",
            "import torchresolve, torchresolve._data as d; "
            "print(torchresolve.__file__); print(d.__file__)",
        ],
        cwd=tmp_path,
    )
    assert probe.returncode == 0, probe.stderr
    for line in probe.stdout.splitlines():
        assert Path(line).is_relative_to(installed), line


def test_matrix_json_from_the_wheel(installed: Path, tmp_path: Path) -> None:
    done = _run([str(installed / "bin" / "torchresolve"), "matrix", "--json"], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    versions = [e["version"] for e in json.loads(done.stdout)["torch"]]
    assert "1.5.0" in versions
    assert "2.0.0" in versions


def test_constraints_from_the_wheel(installed: Path, tmp_path: Path) -> None:
    done = _run(
        [
            str(installed / "bin" / "torchresolve"),
            "-q",
            "constraints",
            "--torch",
            "2.0.0",
            "--gpu",
            "H100",
            "--python",
            "3.11",
            "--platform",
            "linux_x86_64",
        ],
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "torch==2.0.0+cu118" in done.stdout.splitlines()
