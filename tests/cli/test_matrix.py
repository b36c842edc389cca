"""``torchresolve matrix``: the family table and its JSON form."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from torchresolve.cli.main import main

GOOD = Path(__file__).parents[1] / "db" / "fixtures" / "good"


def test_matrix_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["matrix", "--json", "--db", str(GOOD)]) == 0
    data = json.loads(capsys.readouterr().out)
    entries = {e["version"]: e for e in data["torch"]}
    assert list(entries) == ["1.5.0", "2.0.0", "2.1.0", "2.4.0"]
    old = entries["1.5.0"]
    assert old["released"] == "2020-04-21"
    assert old["python"] == ["3.5", "3.6", "3.7", "3.8"]
    assert old["pypi_cuda"] == "10.2"
    assert old["torchvision"] == "0.6.0"
    assert old["torchdata"] is None
    assert old["numpy_abi"] == 1
    assert entries["2.0.0"]["variants"] == ["cu117", "cu118", "cpu", "rocm5.4.2"]
    assert entries["2.0.0"]["arch"]["cpu"] == []
    assert entries["2.4.0"]["arch"]["cu121"][-3:] == ["sm_90", "sm_90a", "compute_90"]


def test_matrix_filter_and_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["matrix", "--torch", ">=2.0,<2.2", "--db", str(GOOD)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["torch", "released", "python"]
    assert [line.split()[0] for line in lines[1:]] == ["2.0.0", "2.1.0"]
    assert lines[1].split()[1:4] == ["2023-03-15", "3.8-3.11", "11.7"]


def test_matrix_bad_spec_is_an_input_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["matrix", "--torch", "2.x", "--db", str(GOOD)]) == 2
    err = capsys.readouterr().err
    assert err == (
        "torchresolve: error: --torch '2.x' is neither a version nor a specifier "
        "(e.g. >=2.1,<2.4)\n"
    )


def test_matrix_of_the_shipped_database(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib import resources

    if not (resources.files("torchresolve._data") / "torch.toml").is_file():
        pytest.skip("data/torch.toml not written yet")
    assert main(["matrix", "--json"]) == 0
    versions = [e["version"] for e in json.loads(capsys.readouterr().out)["torch"]]
    assert versions[0] == "1.4.0"
    assert "1.5.0" in versions
    assert "2.0.0" in versions
