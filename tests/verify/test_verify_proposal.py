"""Reading a proposal file: requirements, pass-through index options, errors with file:line."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from packaging.version import Version

from torchresolve.errors import InputError
from torchresolve.verify.proposal import read_proposal

if TYPE_CHECKING:
    from pathlib import Path


def test_reads_pins_options_and_local_versions(tmp_path: Path) -> None:
    extra = tmp_path / "extra.txt"
    extra.write_text("gamma==1.0\n")
    file = tmp_path / "proposal.txt"
    file.write_text(
        "# generated\n"
        "--index-url https://download.pytorch.org/whl/cu118\n"
        "--extra-index-url http://127.0.0.1:1/simple\n"
        "-f ./wheels\n"
        "torch==2.1.2+cu118  # the CUDA 11.8 build\n"
        "numpy==1.26.4 \\\n"
        "    --hash=sha256:0123\n"
        "Typing_Extensions>=4 ; python_version >= '3.8'\n"
        "-r extra.txt\n"
    )
    proposal = read_proposal(file)
    names = [r.name for r in proposal.requirements]
    assert names == ["torch", "numpy", "typing-extensions", "gamma"]
    torch = proposal.requirements[0]
    assert torch.requirement.specifier.contains(Version("2.1.2+cu118"))
    assert not torch.requirement.specifier.contains(Version("2.1.2+cu121"))
    assert proposal.requirements[1].line == 6
    assert proposal.index_url == "https://download.pytorch.org/whl/cu118"
    assert proposal.extra_index_urls == ("http://127.0.0.1:1/simple",)
    assert proposal.find_links == ("./wheels",)
    assert proposal.requirements[3].path == extra


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("torch===", "not a requirement"),
        ("-e ./src", "editable"),
        ("pkg @ https://example.invalid/pkg.whl", "URL requirement"),
        ("--weird-flag", "unsupported option --weird-flag"),
        ("--index-url", "needs a value"),
    ],
)
def test_bad_lines_name_file_and_line(tmp_path: Path, line: str, problem: str) -> None:
    file = tmp_path / "proposal.txt"
    file.write_text(f"numpy==2.0.0\n{line}\n")
    with pytest.raises(InputError) as info:
        read_proposal(file)
    assert info.value.line == 2
    assert info.value.path == str(file)
    assert problem in str(info.value)


def test_missing_file_is_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        read_proposal(tmp_path / "absent.txt")
