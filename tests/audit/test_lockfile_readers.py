"""Reading every supported lock format: names, exact versions, lines, Python."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from torchresolve.errors import InputError
from torchresolve.sources.lockfiles import (
    detect_kind,
    parse_lockfile,
    read_installed,
    read_lockfile,
)

LOCKFILES = Path(__file__).resolve().parent.parent / "fixtures" / "lockfiles"


def versions(path: Path) -> dict[str, str]:
    lock = read_lockfile(path)
    return {p.name: str(p.version) for p in lock.packages if p.version is not None}


@pytest.mark.parametrize(
    ("relative", "kind"),
    [
        ("requirements/planted/requirements.txt", "requirements"),
        ("constraints/planted/constraints.txt", "requirements"),
        ("uv/planted/uv.lock", "uv"),
        ("poetry/planted/poetry.lock", "poetry"),
        ("poetry-old/planted/poetry.lock", "poetry"),
        ("pipfile/planted/Pipfile.lock", "pipfile"),
        ("pylock/planted/pylock.toml", "pylock"),
        ("conda/planted/environment.yml", "conda"),
        ("conda-export/planted/environment.yml", "conda"),
        ("conda-lock/planted/conda-lock.yml", "conda-lock"),
    ],
)
def test_kind_detected_by_name_and_by_content(relative: str, kind: str) -> None:
    path = LOCKFILES / relative
    text = path.read_text(encoding="utf-8")
    assert detect_kind(path, text) == kind
    if kind not in {"requirements", "conda"}:
        # renamed files are recognised from their content alone
        suffix = ".yml" if kind == "conda-lock" else ".lock"
        assert detect_kind(Path("renamed" + suffix), text) == kind


def test_pip_compile_output_with_hashes() -> None:
    path = LOCKFILES / "requirements/planted/requirements.txt"
    lock = read_lockfile(path)
    torch = lock.get("torch")[0]
    assert torch.version == Version("2.5.1+cu121")
    assert torch.line == 15
    assert versions(path)["torchvision"] == "0.19.1+cu121"


def test_invalid_local_floor_is_kept_with_its_problem() -> None:
    lock = read_lockfile(LOCKFILES / "constraints/planted/constraints.txt")
    torch = lock.get("torch")[0]
    assert torch.version is None
    assert torch.problem is not None and "+cpu" in torch.problem
    assert torch.line == 3


def test_uv_lock() -> None:
    lock = read_lockfile(LOCKFILES / "uv/planted/uv.lock")
    assert lock.requires_python == SpecifierSet(">=3.8")
    torch = lock.get("torch")[0]
    assert (torch.version, torch.line) == (Version("2.5.1"), 27)


def test_poetry_new_and_old_formats() -> None:
    new = read_lockfile(LOCKFILES / "poetry/planted/poetry.lock")
    assert new.requires_python == SpecifierSet(">=3.9,<3.12")
    assert new.get("numpy")[0].line == 4
    old = read_lockfile(LOCKFILES / "poetry-old/planted/poetry.lock")
    assert old.requires_python == SpecifierSet(">=3.9,<4")
    assert versions(LOCKFILES / "poetry-old/planted/poetry.lock") == {
        "numpy": "1.18.5",
        "torch": "1.5.0",
        "torchvision": "0.7.0",
    }


def test_pipfile_lock() -> None:
    lock = read_lockfile(LOCKFILES / "pipfile/planted/Pipfile.lock")
    assert lock.requires_python == SpecifierSet("==3.8.*")
    torchvision = lock.get("torchvision")[0]
    assert (torchvision.version, torchvision.line) == (Version("0.16.0"), 35)
    assert lock.get("pytest")[0].version == Version("8.3.3")


def test_pylock() -> None:
    lock = read_lockfile(LOCKFILES / "pylock/planted/pylock.toml")
    assert lock.requires_python == SpecifierSet(">=3.11")
    assert lock.get("torch")[0].version == Version("2.6.0+cu126")


def test_conda_environment_with_pip_section() -> None:
    lock = read_lockfile(LOCKFILES / "conda/planted/environment.yml")
    assert lock.python == Version("3.10")
    torch = lock.get("torch")[0]
    assert (torch.conda_name, torch.version, torch.line) == ("pytorch", Version("2.0.1"), 8)
    audio = lock.get("torchaudio")[0]
    assert (audio.manager, audio.line) == ("pip", 15)
    assert lock.get("numpy")[0].version == Version("1.24")


def test_conda_env_export_build_strings() -> None:
    lock = read_lockfile(LOCKFILES / "conda-export/planted/environment.yml")
    assert lock.python == Version("3.9")
    torch = lock.get("torch")[0]
    assert torch.build == "py3.8_cuda10.2.89_cudnn7.6.5_0"
    openssl = lock.get("openssl")[0]
    assert openssl.version is None and openssl.raw_version == "1.1.1w"


def test_conda_lock_keeps_one_platform() -> None:
    lock = read_lockfile(LOCKFILES / "conda-lock/planted/conda-lock.yml")
    assert lock.python == Version("3.11")
    torches = lock.get("torch")
    assert len(torches) == 1
    assert torches[0].build == "py3.11_cuda11.7_cudnn8.5.0_0"
    assert lock.get("tqdm")[0].manager == "pip"
    assert any("linux-64" in note for note in lock.notes)


@pytest.mark.parametrize(
    ("name", "text", "line"),
    [
        ("uv.lock", "[[package]]\nname = 'x'\nversion = \n", 3),
        ("Pipfile.lock", '{"default": {\n  "torch": }', 2),
        ("environment.yml", "dependencies:\n  - numpy\n - [bad\n", None),
        ("requirements.txt", "numpy==1.0\ntorch===\n", 2),
    ],
)
def test_malformed_input_names_file_and_line(name: str, text: str, line: int | None) -> None:
    with pytest.raises(InputError) as caught:
        parse_lockfile(text, Path(name))
    assert caught.value.path == name
    if line is not None:
        assert caught.value.line == line


def test_includes_are_followed(tmp_path: Path) -> None:
    (tmp_path / "base.txt").write_text("torch==2.6.0\n", encoding="utf-8")
    (tmp_path / "requirements.txt").write_text(
        "-r base.txt\ntorchvision==0.21.0\n", encoding="utf-8"
    )
    lock = read_lockfile(tmp_path / "requirements.txt")
    assert [(p.name, p.file.name if p.file else None) for p in lock.packages] == [
        ("torch", "base.txt"),
        ("torchvision", "requirements.txt"),
    ]


def test_installed_environment_of_a_real_venv(tmp_path: Path) -> None:
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
    for name, version in (("torch", "2.5.1+cu121"), ("torchvision", "0.19.1+cu121")):
        info = Path(site) / f"{name}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n", encoding="utf-8"
        )
    lock = read_installed(str(python))
    assert lock.kind == "installed"
    assert lock.python == Version(f"{sys.version_info[0]}.{sys.version_info[1]}")
    assert lock.get("torch")[0].version == Version("2.5.1+cu121")
    assert lock.get("torchvision")[0].version == Version("0.19.1+cu121")


def test_installed_with_missing_interpreter_is_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot list installed packages"):
        read_installed(str(tmp_path / "nope" / "python"))


def test_conda_lock_fast_scan_agrees_with_yaml() -> None:
    path = LOCKFILES / "conda-lock/planted/conda-lock.yml"
    text = path.read_text(encoding="utf-8")
    # An item whose first key is not `name` is outside conda-lock's own layout: YAML decides.
    reordered = text.replace(
        "- name: numpy\n  version: 2.0.0\n", "- version: 2.0.0\n  name: numpy\n", 1
    )
    assert reordered != text
    fast = parse_lockfile(text, path)
    slow = parse_lockfile(reordered, path)

    def key(lock: object) -> list[tuple[object, ...]]:
        return [(p.name, p.version, p.line, p.build, p.manager) for p in lock.packages]  # type: ignore[attr-defined]

    assert key(fast) == key(slow)
    assert fast.python == slow.python
