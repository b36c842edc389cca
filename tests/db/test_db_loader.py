"""Loading data/*.toml: typed records, and one precise error per kind of malformed file."""

from __future__ import annotations

import os
import shutil
from datetime import date
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from torchresolve.db import load_database
from torchresolve.errors import DataError
from torchresolve.target import GpuArch

GOOD = Path(__file__).parent / "fixtures" / "good"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A writable copy of the good fixture database."""
    target = tmp_path / "data"
    shutil.copytree(GOOD, target)
    return target


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"fixture lacks {old!r}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_good_fixture_loads_typed_records() -> None:
    db = load_database(GOOD)
    assert [str(r.version) for r in db.torch_releases] == ["1.5.0", "2.0.0", "2.1.0", "2.4.0"]
    release = db.torch("2.0.0")
    assert release is not None
    assert release.released == date(2023, 3, 15)
    assert release.python["linux_x86_64"][-1] == Version("3.11")
    assert release.pypi_cuda == Version("11.7")
    assert release.variants["cu118"].arch[-1] == GpuArch(9, 0)
    assert release.variants["cu118"].cudnn == "8.7.0"
    assert release.companions() == {
        "torchvision": Version("0.15.0"),
        "torchaudio": Version("2.0.0"),
        "torchtext": Version("0.15.0"),
        "torchdata": Version("0.6.0"),
    }
    rule = db.rules[0]
    assert rule.when == Requirement("torch<2.3")
    assert rule.require.specifier == SpecifierSet("<2")
    assert db.first_wheels[0].package == "numpy"  # canonicalised from "NumPy"


def test_missing_optional_files_load_as_empty() -> None:
    db = load_database(GOOD)
    assert db.advisories == ()
    assert db.blockers == ()
    assert db.changes == ()


def test_arch_specific_cubins_are_kept_apart() -> None:
    variant = load_database(GOOD).torch_releases[-1].variants["cu121"]
    assert "sm_90a" in variant.arch_specific
    assert GpuArch(9, 0) in variant.arch
    assert variant.arch_names()[-2:] == ["sm_90a", "compute_90"]


def test_result_is_cached_and_reloaded_after_an_edit(data_dir: Path) -> None:
    first = load_database(data_dir)
    assert load_database(data_dir) is first
    _replace(data_dir / "torch.toml", "released = 2020-04-21", "released = 2020-04-22")
    stat = (data_dir / "torch.toml").stat()
    # Make sure the mtime differs even on coarse-grained file systems.
    os.utime(data_dir / "torch.toml", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    second = load_database(data_dir)
    assert second is not first
    assert second.torch_releases[0].released == date(2020, 4, 22)


@pytest.mark.parametrize(
    ("file", "old", "new", "message"),
    [
        (
            "torch.toml",
            'arch = ["sm_37", "sm_50", "sm_60", "sm_70", "sm_75", "sm_80", "sm_86", "sm_90"]',
            'arch = [37, "sm_50"]',
            "at 'torch[1].variant[1].arch[0]': expected a string, got an integer",
        ),
        (
            "torch.toml",
            'arch = ["sm_37", "sm_50", "sm_60", "sm_70", "sm_75", "sm_80", "sm_86", "sm_90"]',
            'arch = ["sm_37", "compute_50"]',
            "at 'torch[1].variant[1].arch[1]': 'compute_50' is not an architecture "
            "(expected sm_XY)",
        ),
        (
            "torch.toml",
            'version = "2.1.0"',
            'version = "2.1.x"',
            "at 'torch[2].version': '2.1.x' is not a valid version",
        ),
        (
            "torch.toml",
            'pypi_variant = "cu121"\nnumpy_abi = 1',
            'pypi_variant = "cu121"\nnumpy_abi = 1\ncuda_default = "12.1"',
            "at 'torch[2].cuda_default': unknown key",
        ),
        (
            "torch.toml",
            "released = 2023-10-04\n",
            "",
            "at 'torch[2].released': missing required key",
        ),
        (
            "torch.toml",
            'pypi_variant = "cu117"',
            'pypi_variant = "cu116"',
            "at 'torch[1].pypi_variant': 'cu116' is not one of the variants listed",
        ),
        (
            "torch.toml",
            'linux_x86_64 = ["3.8", "3.9", "3.10", "3.11"]',
            'linux_x86_64 = ["3.8", "3.9", "3.10", "3"]',
            "at 'torch[1].python.linux_x86_64[3]': '3' is not a Python version",
        ),
        (
            "torch.toml",
            "released = 2020-04-21",
            'released = "2020-04-21"',
            "at 'torch[0].released': expected a date, got a string",
        ),
        (
            "ecosystem.toml",
            'require = "numpy<2"',
            'require = "numpy<<2"',
            "at 'rule[0].require': 'numpy<<2' is not a valid PEP 508 requirement",
        ),
        (
            "ecosystem.toml",
            'severity = "error"',
            'severity = "fatal"',
            "at 'rule[0].severity': 'fatal' is not one of error, warning",
        ),
        (
            "gpus.toml",
            'capability = "9.0"',
            'capability = "sm_90"',
            "at 'gpu[0].capability': 'sm_90' is not a compute capability",
        ),
        (
            "cuda.toml",
            "[[minor_compat]]\nmajor = 11",
            "[[minor_compat]]\nmajor = '11'",
            "at 'minor_compat[0].major': expected an integer, got a string",
        ),
    ],
)
def test_malformed_value_names_file_key_and_problem(
    data_dir: Path, file: str, old: str, new: str, message: str
) -> None:
    _replace(data_dir / file, old, new)
    with pytest.raises(DataError) as caught:
        load_database(data_dir)
    text = str(caught.value)
    assert text.startswith(str(data_dir.resolve() / file) + " ")
    assert message in text


def test_advisory_with_a_bad_specifier(data_dir: Path) -> None:
    (data_dir / "advisories.toml").write_text(
        '[[advisory]]\nid = "CVE-1"\npackage = "torch"\naffected = "<<2.6"\n'
        'summary = "s"\nsource = "x"\n',
        encoding="utf-8",
    )
    with pytest.raises(DataError, match=r"at 'advisory\[0\].affected': '<<2.6' is not a valid"):
        load_database(data_dir)


def test_unknown_top_level_key(data_dir: Path) -> None:
    (data_dir / "changes.toml").write_text('[[changes]]\npackage = "torch"\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"changes.toml at 'changes': unknown key"):
        load_database(data_dir)


def test_not_toml(data_dir: Path) -> None:
    (data_dir / "blockers.toml").write_text("[[blocker]\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"blockers.toml: not valid TOML: .*line 1"):
        load_database(data_dir)


def test_required_file_missing(data_dir: Path) -> None:
    (data_dir / "gpus.toml").unlink()
    with pytest.raises(DataError, match=r"gpus.toml: file is missing"):
        load_database(data_dir)


def test_duplicate_release(data_dir: Path) -> None:
    _replace(data_dir / "torch.toml", 'version = "2.1.0"', 'version = "2.0.0"')
    with pytest.raises(DataError, match=r"at 'torch\[2\]': duplicate torch release 2.0.0"):
        load_database(data_dir)


def test_shipped_database_loads_and_is_cached_per_process() -> None:
    from importlib import resources

    if not (resources.files("torchresolve._data") / "torch.toml").is_file():
        pytest.skip("data/torch.toml not written yet")
    from torchresolve.db.loader import _cached

    _cached.cache_clear()
    db = load_database()
    assert load_database() is db
    assert db.torch_releases
