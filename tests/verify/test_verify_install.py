"""Real venvs, real installs from a wheelhouse built by the tests, with uv and with pip."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
from _verify_helpers import make_env

from torchresolve.cli.main import main
from torchresolve.verify import VerifyOptions, verify
from torchresolve.verify.venv import BASE_PTH

if TYPE_CHECKING:
    from pathlib import Path


def _proposal(tmp_path: Path, text: str) -> Path:
    file = tmp_path / "proposal.txt"
    file.write_text(text)
    return file


def _statuses(report_checks: object) -> dict[str, str]:
    return {c.name: c.status for c in report_checks}  # type: ignore[attr-defined]


@pytest.mark.parametrize("installer", ["uv", "pip"])
def test_installs_the_proposal_into_a_fresh_venv(
    tmp_path: Path, wheelhouse: Path, hermetic: dict[str, str], installer: str
) -> None:
    file = _proposal(tmp_path, "alpha==1.0\nbeta==1.0\n")
    venv = tmp_path / "venv"
    report = verify(
        file,
        VerifyOptions(
            venv=venv,
            installer=installer,  # type: ignore[arg-type]
            no_index=True,
            find_links=(str(wheelhouse),),
            environ=hermetic,
        ),
    )
    statuses = _statuses(report.checks)
    assert report.ok, report.checks
    assert report.installer == installer
    assert statuses["install"] == statuses["versions.alpha"] == statuses["versions.beta"] == "pass"
    assert statuses["dependencies"] == "pass"
    assert report.installed["alpha"] == "1.0" and report.installed["beta"] == "1.0"
    # The suite ran with the venv's interpreter: no torch there, so its checks are skipped.
    assert statuses["imports.torch"] == "skip"
    assert [p.name for p in report.phases][:2] == ["create venv", "install"]
    assert report.kept and (venv / "pyvenv.cfg").exists()


def test_installed_version_differing_from_the_proposal_fails_naming_it(
    tmp_path: Path, wheelhouse: Path, hermetic: dict[str, str]
) -> None:
    python = make_env(tmp_path / "env", wheelhouse, ["beta==2.0"])
    file = _proposal(tmp_path, "beta==1.0\ngamma==1.0\n")
    report = verify(file, VerifyOptions(in_place=python, smoke=False, environ=hermetic))
    failed = {c.name: c.reason for c in report.checks if c.status == "fail"}
    assert not report.ok
    assert failed["versions.beta"] == "beta: 2.0 installed, proposed ==1.0"
    assert failed["versions.gamma"] == "gamma: not installed (proposed ==1.0)"


def test_unmet_dependency_fails_naming_both_packages(
    tmp_path: Path, wheelhouse: Path, hermetic: dict[str, str]
) -> None:
    python = make_env(tmp_path / "env", wheelhouse, ["alpha==1.0"], no_deps=True)
    report = verify(
        _proposal(tmp_path, "alpha==1.0\n"),
        VerifyOptions(in_place=python, smoke=False, environ=hermetic),
    )
    deps = next(c for c in report.checks if c.name == "dependencies")
    assert deps.status == "fail"
    assert "alpha 1.0 requires beta>=1: not installed" in deps.reason


def test_install_failure_ends_the_run_and_removes_the_temporary_venv(
    tmp_path: Path, wheelhouse: Path, hermetic: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    report = verify(
        _proposal(tmp_path, "beta==9.9\n"),
        VerifyOptions(
            installer="uv", no_index=True, find_links=(str(wheelhouse),), environ=hermetic
        ),
    )
    install = next(c for c in report.checks if c.name == "install")
    assert install.status == "fail" and "beta" in install.reason
    assert [c.name for c in report.checks] == ["install"]
    assert not report.kept
    assert not list(tmp_path.glob("torchresolve-verify-*"))


@pytest.mark.parametrize("installer", ["pip", "uv"])
def test_base_env_packages_are_reused_not_reinstalled(
    tmp_path: Path, wheelhouse: Path, hermetic: dict[str, str], installer: str
) -> None:
    base_python = make_env(tmp_path / "base", wheelhouse, ["beta==1.0"])
    venv = tmp_path / "venv"
    report = verify(
        _proposal(tmp_path, "alpha==1.0\nbeta==1.0\n"),
        VerifyOptions(
            venv=venv,
            base_env=tmp_path / "base",
            installer=installer,  # type: ignore[arg-type]
            no_index=True,
            find_links=(str(wheelhouse),),
            smoke=False,
            environ=hermetic,
        ),
    )
    assert report.ok, report.checks
    assert "1 pin(s) not satisfied by the base environment" in report.notes
    site = next(venv.glob("lib/python*/site-packages"))
    assert (site / BASE_PTH).exists()
    assert list(site.glob("alpha-1.0.dist-info"))
    assert not list(site.glob("beta-*.dist-info")), "beta came from the base env"
    assert base_python.exists()


def test_base_env_satisfying_everything_installs_nothing(
    tmp_path: Path, wheelhouse: Path, hermetic: dict[str, str]
) -> None:
    make_env(tmp_path / "base", wheelhouse, ["alpha==1.0", "beta==1.0"])
    report = verify(
        _proposal(tmp_path, "alpha==1.0\nbeta==1.0\n"),
        VerifyOptions(base_env=tmp_path / "base", no_index=True, smoke=False, environ=hermetic),
    )
    assert report.ok
    assert not any(c.name == "install" for c in report.checks)
    assert any("nothing to install" in note for note in report.notes)


def test_cli_run_command_and_reports(
    tmp_path: Path, wheelhouse: Path, hermetic: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    file = _proposal(tmp_path, "gamma==1.0\n")
    common = ["-q", "verify", str(file), "--installer", "uv", "--no-index", "-f", str(wheelhouse)]
    common += ["--no-smoke"]
    ok_json, ok_xml = tmp_path / "ok.json", tmp_path / "ok.xml"
    code = main([*common, "--run", "python -c 'import gamma; print(gamma.__version__)'",
                 "--json", str(ok_json), "--junit", str(ok_xml)])  # fmt: skip
    assert code == 0
    document = json.loads(ok_json.read_text())
    run = next(c for c in document["checks"] if c["name"] == "run")
    assert document["ok"] is True and run["status"] == "pass"
    assert run["details"]["output_tail"].strip() == "1.0"
    assert "<testsuite" in ok_xml.read_text()
    assert "OK:" in capsys.readouterr().out

    bad_json = tmp_path / "bad.json"
    code = main([*common, "--run", "exit 3", "--json", str(bad_json)])
    assert code == 1
    document = json.loads(bad_json.read_text())
    run = next(c for c in document["checks"] if c["name"] == "run")
    assert document["ok"] is False and run["status"] == "fail"
    assert run["details"]["returncode"] == 3
    assert "FAIL run" in capsys.readouterr().out


def test_cli_refuses_a_non_empty_venv_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = _proposal(tmp_path, "gamma==1.0\n")
    folder = tmp_path / "taken"
    folder.mkdir()
    (folder / "mine.txt").write_text("keep me")
    assert main(["verify", str(file), "--venv", str(folder)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert (folder / "mine.txt").read_text() == "keep me"


def test_cli_bad_proposal_line_exits_2_naming_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = _proposal(tmp_path, "gamma==1.0\nnot a requirement!\n")
    assert main(["verify", str(file), "--no-smoke"]) == 2
    assert f"{file}:2:" in capsys.readouterr().err
