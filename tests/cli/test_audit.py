"""``torchresolve audit`` end to end: formats, exit codes, the constraints file, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from torchresolve.cli.main import main

LOCKFILES = Path(__file__).resolve().parent.parent / "fixtures" / "lockfiles"
DB = LOCKFILES / "db"
PLANTED = LOCKFILES / "requirements" / "planted" / "requirements.txt"
CLEAN = LOCKFILES / "requirements" / "clean" / "requirements.txt"
BASE = ["audit", "--db", str(DB), "--no-detect", "--python", "3.11"]


def test_json_report(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*BASE, "--format", "json", str(PLANTED)]) == 1
    report = json.loads(capsys.readouterr().out)
    rules = sorted(f["rule"] for f in report["findings"])
    assert rules == ["family-pairing", "known-vulnerability", "mixed-cuda"]
    finding = next(f for f in report["findings"] if f["rule"] == "family-pairing")
    assert set(finding) >= {"rule", "severity", "packages", "message", "file", "line", "fix"}
    assert finding["severity"] == "error"
    assert finding["file"].endswith("requirements/planted/requirements.txt")
    assert finding["line"] == 24
    assert finding["fix"][:2] == ["torch==2.6.0+cu124", "torchvision==0.21.0+cu124"]
    assert report["fix"]["index_url"] == "https://download.pytorch.org/whl/cu124"


def test_clean_file_passes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*BASE, str(CLEAN)]) == 0
    assert capsys.readouterr().out == "No problems found.\n"


def test_sarif_report(capsys: pytest.CaptureFixture[str]) -> None:
    main([*BASE, "--format", "sarif", str(PLANTED)])
    log = json.loads(capsys.readouterr().out)
    assert log["version"] == "2.1.0"
    run = log["runs"][0]
    assert run["tool"]["driver"]["name"] == "torchresolve"
    ids = [r["id"] for r in run["tool"]["driver"]["rules"]]
    for result in run["results"]:
        assert ids[result["ruleIndex"]] == result["ruleId"]
        assert result["level"] == "error"
        region = result["locations"][0]["physicalLocation"]["region"]
        assert region["startLine"] > 0


def test_github_annotations(capsys: pytest.CaptureFixture[str]) -> None:
    main([*BASE, "--format", "github", str(PLANTED)])
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    assert all(line.startswith("::error file=") for line in lines)
    pairing = next(line for line in lines if "family-pairing" in line)
    assert ",line=24," in pairing
    assert "%0AFix: torch==2.6.0+cu124" in pairing  # newline escaped, one line per annotation


@pytest.mark.parametrize(("fail_on", "code"), [("error", 0), ("warning", 1), ("never", 0)])
def test_fail_on(fail_on: str, code: int, capsys: pytest.CaptureFixture[str]) -> None:
    # a 535 driver runs the cu124 build only by minor-version compatibility: a warning
    argv = [*BASE, "--driver", "535.104.05", "--fail-on", fail_on, str(CLEAN)]
    assert main(argv) == code
    assert "driver-too-old" in capsys.readouterr().out


def test_never_fails_even_with_errors() -> None:
    assert main([*BASE, "--fail-on", "never", "-o", "/dev/null", str(PLANTED)]) == 0


def test_fix_constraints_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "constraints.txt"
    main([*BASE, "--fix-constraints", str(out), str(PLANTED)])
    capsys.readouterr()
    lines = [ln for ln in out.read_text(encoding="utf-8").splitlines() if not ln.startswith("#")]
    assert lines == ["torch==2.6.0+cu124", "torchvision==0.21.0+cu124", "torchaudio==2.6.0"]
    # the written constraints are themselves consistent
    fixed = tmp_path / "requirements.txt"
    fixed.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert main([*BASE, str(fixed)]) == 0


def test_gpu_option(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*BASE, "--gpu", "RTX 5090", "--format", "json", str(CLEAN)]) == 1
    findings = json.loads(capsys.readouterr().out)["findings"]
    assert [f["rule"] for f in findings] == ["gpu-arch"]


def test_detected_gpu_from_overrides(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TORCHRESOLVE_GPU", "RTX 5090")
    monkeypatch.setenv("TORCHRESOLVE_DRIVER", "575.51.03")
    argv = ["audit", "--db", str(DB), "--python", "3.11", "--format", "json", str(CLEAN)]
    assert main(argv) == 1
    assert [f["rule"] for f in json.loads(capsys.readouterr().out)["findings"]] == ["gpu-arch"]


def test_python_interpreter_path(capsys: pytest.CaptureFixture[str]) -> None:
    import sys

    uv = LOCKFILES / "uv" / "clean" / "uv.lock"
    argv = ["audit", "--db", str(DB), "--no-detect", "--python", sys.executable, str(uv)]
    assert main(argv) == 0


def test_every_planted_kind_fails_and_every_clean_twin_passes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    kinds = sorted(p for p in LOCKFILES.iterdir() if (p / "planted").is_dir())
    assert len(kinds) == 10
    for kind in kinds:
        planted = next((kind / "planted").iterdir())
        clean = next((kind / "clean").iterdir())
        assert main(["audit", "--db", str(DB), "--no-detect", str(planted)]) == 1, planted
        assert main(["audit", "--db", str(DB), "--no-detect", str(clean)]) == 0, clean
    capsys.readouterr()


def test_bad_file_is_exit_2_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "uv.lock"
    bad.write_text('[[package]]\nname = "torch"\nversion = \n', encoding="utf-8")
    report = tmp_path / "report.json"
    report.write_text("old", encoding="utf-8")
    assert main([*BASE, "--format", "json", "-o", str(report), str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{bad}:3:" in err[0]
    assert report.read_text(encoding="utf-8") == "old"


def test_nothing_to_audit(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "--db", str(DB)]) == 2
    assert "nothing to audit" in capsys.readouterr().err


@pytest.mark.usefixtures("isolated_pip_env")
def test_yanked_pin_from_the_index(
    index_server: object, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lock = tmp_path / "requirements.txt"
    lock.write_text("torchvision==0.15.0\nfilelock==3.16.1\n", encoding="utf-8")
    url = index_server.simple_url  # type: ignore[attr-defined]
    argv = [*BASE, "--check-yanked", "--index-url", url, "--format", "json", str(lock)]
    assert main([*argv, "--fail-on", "warning"]) == 1
    findings = json.loads(capsys.readouterr().out)["findings"]
    assert [(f["rule"], f["line"]) for f in findings] == [("yanked", 1)]
    assert "incorrect torch dependency" in findings[0]["message"]


@pytest.mark.usefixtures("isolated_pip_env")
def test_unreachable_index_skips_the_yanked_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    lock = tmp_path / "requirements.txt"
    lock.write_text("torchvision==0.15.0\n", encoding="utf-8")
    argv = [*BASE, "--check-yanked", "--index-url", f"http://127.0.0.1:{port}/simple/", str(lock)]
    assert main(argv) == 0
    assert "yanked check skipped" in capsys.readouterr().err


def test_installed_environment(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import subprocess
    import venv

    venv.EnvBuilder(with_pip=False).create(tmp_path / "env")
    python = tmp_path / "env" / "bin" / "python"
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    for name, version in (("torch", "2.6.0+cu124"), ("torchvision", "0.20.1+cu124")):
        info = Path(site) / f"{name}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n", encoding="utf-8"
        )
    argv = ["audit", "--db", str(DB), "--no-detect", "--installed", str(python), "--format", "json"]
    assert main(argv) == 1
    findings = json.loads(capsys.readouterr().out)["findings"]
    assert [(f["rule"], f["file"]) for f in findings] == [("family-pairing", None)]
    assert findings[0]["fix"] == ["torch==2.6.0+cu124", "torchvision==0.21.0+cu124"]


@pytest.mark.parametrize("name", ["pyproject.toml", "missing.lock"])
def test_not_a_lock_file(name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / name
    if name == "pyproject.toml":
        path.write_text('[project]\nname = "x"\ndependencies = ["torch>=2"]\n', encoding="utf-8")
    assert main([*BASE, str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"torchresolve: error: {path}: ")
