"""Each lock format with known problems planted, and its clean twin that must give nothing."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from packaging.version import Version

from torchresolve.audit import AuditContext, Finding, audit, plan_fix, python_targets
from torchresolve.cli.audit import python_context
from torchresolve.sources.lockfiles import LockedPackage, read_lockfile
from torchresolve.target import GpuArch

if TYPE_CHECKING:
    from torchresolve.db import Database

LOCKFILES = Path(__file__).resolve().parent.parent / "fixtures" / "lockfiles"

CASES = {
    "requirements/{}/requirements.txt": {
        "family-pairing",
        "mixed-cuda",
        "known-vulnerability",
    },
    "constraints/{}/constraints.txt": {"invalid-specifier"},
    "uv/{}/uv.lock": {
        "python-wheels",
        "known-vulnerability",
        "transformers-4.46-tokenizers",
    },
    "poetry/{}/poetry.lock": {"numpy-abi", "known-vulnerability"},
    "poetry-old/{}/poetry.lock": {"python-wheels", "family-pairing", "known-vulnerability"},
    "pipfile/{}/Pipfile.lock": {"family-pairing", "known-vulnerability"},
    "pylock/{}/pylock.toml": {"mixed-cuda"},
    "conda/{}/environment.yml": {
        "mixed-cuda",
        "family-pairing",
        "known-vulnerability",
        "transformers-4.46-tokenizers",
    },
    "conda-export/{}/environment.yml": {"python-wheels", "mixed-cuda", "known-vulnerability"},
    "conda-lock/{}/conda-lock.yml": {"numpy-abi", "known-vulnerability"},
}


def run_audit(path: Path, db: Database, **target: object) -> list[Finding]:
    lock = read_lockfile(path)
    pythons, origin = python_context(None, lock)
    context = AuditContext(pythons=pythons, python_origin=origin, **target)  # type: ignore[arg-type]
    return audit(lock.packages, context, db)


@pytest.mark.parametrize("pattern", sorted(CASES))
def test_planted_problems_are_found(pattern: str, db: Database) -> None:
    findings = run_audit(LOCKFILES / pattern.format("planted"), db)
    assert {f.rule for f in findings} == CASES[pattern]
    for finding in findings:
        assert finding.file is not None and finding.file.name == Path(pattern).name
        assert finding.line is not None and finding.line > 0
        if finding.severity == "error":
            assert finding.fix, finding


@pytest.mark.parametrize("pattern", sorted(CASES))
def test_clean_twin_gives_no_finding(pattern: str, db: Database) -> None:
    assert run_audit(LOCKFILES / pattern.format("clean"), db) == []


def test_pairing_points_at_the_companion_and_fixes_the_family(db: Database) -> None:
    findings = run_audit(LOCKFILES / "requirements/planted/requirements.txt", db)
    pairing = next(f for f in findings if f.rule == "family-pairing")
    assert pairing.line == 24  # the torchvision line, the one Dependabot bumped alone
    assert "0.20.1" in pairing.message
    # torch < 2.6 is vulnerable, so the family moves to 2.6.0 together, keeping cu121? no:
    # 2.6.0 has no cu121 build, so the index's default build (cu124) is chosen.
    assert pairing.fix == ("torch==2.6.0+cu124", "torchvision==0.21.0+cu124", "torchaudio==2.6.0")


def test_mixed_cuda_lists_every_build(db: Database) -> None:
    findings = run_audit(LOCKFILES / "requirements/planted/requirements.txt", db)
    mixed = next(f for f in findings if f.rule == "mixed-cuda")
    assert "cu118" in mixed.message and "cu121" in mixed.message
    assert mixed.line == 21  # the odd one out: torchaudio +cu118


def test_conda_cudatoolkit_beside_pytorch_cuda(db: Database) -> None:
    findings = run_audit(LOCKFILES / "conda/planted/environment.yml", db)
    mixed = next(f for f in findings if f.rule == "mixed-cuda")
    assert "pytorch-cuda" in " ".join(mixed.packages) or "cu118" in mixed.message
    assert "cu117" in mixed.message


def test_cve_2025_32434(db: Database) -> None:
    findings = run_audit(LOCKFILES / "pipfile/planted/Pipfile.lock", db)
    cve = next(f for f in findings if f.rule == "known-vulnerability")
    assert "CVE-2025-32434" in cve.message
    assert cve.reference == "GHSA-53q9-r3pm-6pq6"
    assert cve.fix[0] == "torch==2.6.0"


def test_python_rule_uses_requires_python(db: Database) -> None:
    findings = run_audit(LOCKFILES / "uv/planted/uv.lock", db)
    wheels = next(f for f in findings if f.rule == "python-wheels")
    assert "3.8" in wheels.message and "requires-python >=3.8" in wheels.message


def test_python_targets() -> None:
    from packaging.specifiers import SpecifierSet

    assert python_targets(SpecifierSet(">=3.9,<3.12")) == (
        Version("3.9"),
        Version("3.10"),
        Version("3.11"),
    )
    assert python_targets(SpecifierSet(">=3.10")) == (Version("3.10"),)
    assert python_targets(None) == ()


def test_gpu_without_kernels_and_its_fix(db: Database) -> None:
    path = LOCKFILES / "requirements/clean/requirements.txt"
    findings = run_audit(path, db, arch=GpuArch(12, 0), gpu_name="RTX 5090")
    assert [f.rule for f in findings] == ["gpu-arch"]
    assert findings[0].severity == "error"
    assert "sm_120" in findings[0].message
    assert findings[0].fix == (
        "torch==2.7.0+cu128",
        "torchvision==0.22.0+cu128",
        "torchaudio==2.7.0",
    )


def test_ptx_only_is_a_warning(db: Database) -> None:
    lock = [LockedPackage(name="torch", version=Version("2.5.1+cu118"))]  # type: ignore[arg-type]
    findings = audit(lock, AuditContext(arch=GpuArch(10, 0)), db)
    assert [(f.rule, f.severity) for f in findings if f.rule == "gpu-arch"] == [
        ("gpu-arch", "warning")
    ]


@pytest.mark.parametrize(
    ("driver", "severity"), [("535.104.05", "warning"), ("470.82.01", "error"), ("560.35.03", None)]
)
def test_driver_floor(driver: str, severity: str | None, db: Database) -> None:
    path = LOCKFILES / "requirements/clean/requirements.txt"
    findings = run_audit(path, db, driver=Version(driver))
    found = [f.severity for f in findings if f.rule == "driver-too-old"]
    assert found == ([severity] if severity else [])


def test_driver_fix_moves_to_an_older_cuda(db: Database) -> None:
    path = LOCKFILES / "requirements/clean/requirements.txt"
    lock = read_lockfile(path)
    context = AuditContext(driver=Version("520.61.05"), arch=GpuArch(9, 0))
    by_name: dict = {}
    for package in lock.packages:
        by_name.setdefault(package.name, []).append(package)
    plan = plan_fix(by_name, lock.get("torch")[0], db.torch("2.6.0"), context, db)
    assert plan.family[0] == "torch==2.6.0+cu118"
    assert plan.index_url is not None and plan.index_url.endswith("/cu118")


def test_yanked_pins_from_context(db: Database) -> None:
    lock = read_lockfile(LOCKFILES / "pylock/clean/pylock.toml")
    key = (lock.get("numpy")[0].name, Version("2.2.6"))
    findings = audit(lock.packages, AuditContext(yanked={key: "broken wheel"}), db)
    assert [(f.rule, f.severity) for f in findings] == [("yanked", "warning")]
    assert "broken wheel" in findings[0].message


def test_unknown_torch_is_info(db: Database) -> None:
    lock = [LockedPackage(name="torch", version=Version("9.9.9"))]  # type: ignore[arg-type]
    findings = audit(lock, AuditContext(), db)
    assert [(f.rule, f.severity) for f in findings] == [("unknown-torch", "info")]


UV_FORK = """\
version = 1
requires-python = ">=3.10"
resolution-markers = [
    "sys_platform == 'darwin'",
    "sys_platform != 'darwin'",
]

[[package]]
name = "torch"
version = "2.6.0"
source = { registry = "http://127.0.0.1/simple" }
resolution-markers = ["sys_platform == 'darwin'"]

[[package]]
name = "torch"
version = "2.6.0+cu124"
source = { registry = "https://download.pytorch.org/whl/cu124" }
resolution-markers = ["sys_platform != 'darwin'"]

[[package]]
name = "torchvision"
version = "0.21.0"
source = { registry = "http://127.0.0.1/simple" }
resolution-markers = ["sys_platform == 'darwin'"]

[[package]]
name = "torchvision"
version = "0.21.0+cu124"
source = { registry = "https://download.pytorch.org/whl/cu124" }
resolution-markers = ["sys_platform != 'darwin'"]
"""


@pytest.mark.parametrize("platform", ["linux_x86_64", "macos_arm64"])
def test_platform_forks_are_audited_per_target(platform: str, db: Database, tmp_path: Path) -> None:
    lock = tmp_path / "uv.lock"
    lock.write_text(UV_FORK, encoding="utf-8")
    packages = read_lockfile(lock).packages
    context = AuditContext(pythons=(Version("3.11"),), platform=platform)  # type: ignore[arg-type]
    assert audit(packages, context, db) == []


def test_marker_lines_in_requirements(db: Database, tmp_path: Path) -> None:
    lock = tmp_path / "requirements.txt"
    lock.write_text(
        "torch==2.6.0+cu124 ; sys_platform == 'linux'\n"
        "torch==2.6.0 ; sys_platform == 'darwin'\n"
        "torchvision==0.21.0+cpu ; sys_platform == 'linux'\n",
        encoding="utf-8",
    )
    findings = audit(read_lockfile(lock).packages, AuditContext(), db)
    assert [(f.rule, f.line) for f in findings] == [("mixed-cuda", 3)]


def test_conda_cudatoolkit_beside_a_pip_cuda_build(db: Database, tmp_path: Path) -> None:
    env = tmp_path / "environment.yml"
    env.write_text(
        "dependencies:\n  - python=3.11\n  - cudatoolkit=11.8\n"
        "  - pip:\n    - torch==2.6.0+cu124\n",
        encoding="utf-8",
    )
    findings = run_audit(env, db)
    assert [f.rule for f in findings] == ["mixed-cuda"]
    assert findings[0].fix == ("torch==2.6.0+cu124", "cudatoolkit=12.4")


def test_data_rule_on_the_target_python(db: Database) -> None:
    import dataclasses

    from packaging.requirements import Requirement

    from torchresolve.db import Rule

    rule = Rule(
        id="transformers-5-python",
        when=Requirement("transformers>=5"),
        require=Requirement("python>=3.10"),
        kind="python-range",
        severity="error",
        reason="transformers 5 requires Python 3.10",
        source="test",
    )
    with_rule = dataclasses.replace(db, rules=(*db.rules, rule))
    lock = [LockedPackage(name="transformers", version=Version("5.0.0"))]  # type: ignore[arg-type]
    old = audit(lock, AuditContext(pythons=(Version("3.9"),)), with_rule)
    assert [(f.rule, f.severity) for f in old] == [("transformers-5-python", "error")]
    assert audit(lock, AuditContext(pythons=(Version("3.11"),)), with_rule) == []


def test_pins_older_than_the_first_wheel_for_the_target_python_warn(tmp_path: Path) -> None:
    import shutil

    from torchresolve.db import load_database

    data = tmp_path / "db"
    shutil.copytree(LOCKFILES / "db", data)
    (data / "wheels.toml").write_text(
        '[[first_wheel]]\npackage = "numpy"\npython = "3.11"\nversion = "1.23.2"\n'
        'source = "test fixture"\n',
        encoding="utf-8",
    )
    db = load_database(data, cache_dir=False)
    context = AuditContext(pythons=(Version("3.11"),))
    old = LockedPackage(name="numpy", version=Version("1.18.5"))  # type: ignore[arg-type]
    new = LockedPackage(name="numpy", version=Version("1.23.2"))  # type: ignore[arg-type]
    findings = [f for f in audit([old], context, db) if f.rule == "python-wheels"]
    assert [(f.severity, f.fix) for f in findings] == [("warning", ("numpy>=1.23.2",))]
    assert "first release with one is 1.23.2" in findings[0].message
    assert not [f for f in audit([new], context, db) if f.rule == "python-wheels"]
