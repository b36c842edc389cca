"""Reading pip requirements files: pip's line syntax, includes and errors."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from torchresolve.errors import InputError
from torchresolve.sources import DependencyFile, read_dependencies

if TYPE_CHECKING:
    from pathlib import Path


def _read(tmp_path: Path, text: str, name: str = "requirements.txt") -> DependencyFile:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return read_dependencies(path)


def _error(tmp_path: Path, text: str, name: str = "reqs.txt") -> str:
    with pytest.raises(InputError) as info:
        _read(tmp_path, text, name)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_comments_and_blank_lines_are_skipped_and_lines_are_counted(tmp_path: Path) -> None:
    dep = _read(tmp_path, "# header\n\ntorch==1.5.0  # trailing\n   \n  # indented\nnumpy\n")
    assert [(e.requirement and str(e.requirement), e.line) for e in dep.entries] == [
        ("torch==1.5.0", 3),
        ("numpy", 6),
    ]
    assert dep.entries[0].raw == "torch==1.5.0"


def test_hash_in_url_fragment_is_not_a_comment(tmp_path: Path) -> None:
    dep = _read(tmp_path, "https://example.invalid/pkg.tar.gz#egg=pkg\n")
    assert dep.entries[0].raw == "https://example.invalid/pkg.tar.gz#egg=pkg"


def test_continuation_lines_join_with_hashes(tmp_path: Path) -> None:
    text = "torch==1.5.0 \\\n    --hash=sha256:aaaa \\\n    --hash sha256:bbbb\nnumpy==1.18.5\n"
    dep = _read(tmp_path, text)
    torch, numpy = dep.entries
    assert torch.line == 1
    assert torch.hashes == ("sha256:aaaa", "sha256:bbbb")
    assert str(torch.requirement) == "torch==1.5.0"
    assert numpy.line == 4


def test_comment_line_ends_a_continuation(tmp_path: Path) -> None:
    dep = _read(tmp_path, "torch==1.5.0 \\\n# a comment\nnumpy\n")
    assert [str(e.requirement) for e in dep.entries] == ["torch==1.5.0", "numpy"]


def test_requirement_include_is_relative_to_the_including_file(tmp_path: Path) -> None:
    (tmp_path / "reqs").mkdir()
    (tmp_path / "reqs" / "base.txt").write_text("\nnumpy==1.18.5\n", encoding="utf-8")
    (tmp_path / "reqs" / "main.txt").write_text("-r base.txt\ntorch==1.5.0\n", encoding="utf-8")
    dep = read_dependencies(tmp_path / "reqs" / "main.txt")
    numpy, torch = dep.entries
    assert numpy.path == tmp_path / "reqs" / "base.txt"
    assert numpy.line == 2
    assert torch.path == tmp_path / "reqs" / "main.txt"
    assert set(dep.texts) == {numpy.path, torch.path}


def test_long_include_option_and_attached_value(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("scipy\n", encoding="utf-8")
    (tmp_path / "b.txt").write_text("pandas\n", encoding="utf-8")
    dep = _read(tmp_path, "--requirement a.txt\n-rb.txt\n")
    assert [str(e.requirement) for e in dep.entries] == ["scipy", "pandas"]


def test_constraint_files_mark_entries_as_constraints(tmp_path: Path) -> None:
    (tmp_path / "constraints.txt").write_text("numpy<1.19\n", encoding="utf-8")
    dep = _read(tmp_path, "-c constraints.txt\n--constraint=constraints.txt\nnumpy\n")
    assert [e.constraint for e in dep.entries] == [True, True, False]
    assert [str(r) for r in dep.requirements()] == ["numpy"]
    assert [str(r) for r in dep.constraints()] == ["numpy<1.19", "numpy<1.19"]


def test_include_cycle_names_the_chain(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("torch\n-r b.txt\n", encoding="utf-8")
    (tmp_path / "b.txt").write_text("\n\n-r a.txt\n", encoding="utf-8")
    with pytest.raises(InputError) as info:
        read_dependencies(tmp_path / "a.txt")
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    assert str(info.value) == f"{b}:3: include cycle: {a} -> {b} -> {a}"


def test_missing_include_names_the_including_line(tmp_path: Path) -> None:
    message = _error(tmp_path, "torch\n-r missing.txt\n")
    assert message == (
        f"{tmp_path / 'reqs.txt'}:2: cannot read included file 'missing.txt': "
        "No such file or directory"
    )


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError) as info:
        read_dependencies(tmp_path / "nope.txt")
    assert (
        str(info.value) == f"{tmp_path / 'nope.txt'}: cannot read file: No such file or directory"
    )


def test_remote_include_is_refused(tmp_path: Path) -> None:
    message = _error(tmp_path, "-r https://example.invalid/r.txt\n")
    assert message.endswith(
        ":1: cannot include 'https://example.invalid/r.txt': "
        "remote requirements files are not supported"
    )


@pytest.mark.parametrize(
    "line",
    [
        "-e .",
        "--editable=git+https://example.invalid/repo.git#egg=pkg",
        "-e ./libs/mypkg[extra]",
    ],
)
def test_editables_are_kept_without_requirement(tmp_path: Path, line: str) -> None:
    (entry,) = _read(tmp_path, line + "\n").entries
    assert entry.editable
    assert entry.requirement is None
    assert entry.raw == line


@pytest.mark.parametrize(
    "line",
    [
        "./vendor/pkg-1.0.tar.gz",
        "../sibling",
        "/abs/wheels/torch-1.5.0-cp37-cp37m-linux_x86_64.whl",
        "torch-1.5.0-cp37-cp37m-linux_x86_64.whl",
        "https://download.pytorch.org/whl/cu101/torch-1.5.0%2Bcu101-cp37-cp37m-linux_x86_64.whl",
        "git+https://example.invalid/org/repo.git@v1.0#egg=repo",
        "file:///srv/pkgs/x.whl",
        "libs/pkg",
    ],
)
def test_paths_urls_and_vcs_lines_are_kept_as_they_are(tmp_path: Path, line: str) -> None:
    (entry,) = _read(tmp_path, line + "\n").entries
    assert entry.requirement is None
    assert not entry.editable
    assert entry.raw == line


def test_named_url_requirement_is_parsed(tmp_path: Path) -> None:
    (entry,) = _read(
        tmp_path, "pkg @ git+https://example.invalid/pkg.git@v2 ; python_version>'3'\n"
    ).entries
    assert entry.requirement is not None
    assert entry.requirement.name == "pkg"
    assert entry.requirement.url == "git+https://example.invalid/pkg.git@v2"


def test_markers_and_extras(tmp_path: Path) -> None:
    (entry,) = _read(
        tmp_path, 'transformers[torch,sentencepiece]==2.11.0; python_version < "3.8"\n'
    ).entries
    assert entry.requirement is not None
    assert entry.requirement.extras == {"torch", "sentencepiece"}
    assert entry.requirement.marker is not None
    assert entry.requirement.marker.evaluate({"python_version": "3.7"})
    assert not entry.requirement.marker.evaluate({"python_version": "3.11"})


@pytest.mark.parametrize(
    ("line", "inside", "outside"),
    [
        ("numpy==1.18.*", "1.18.5", "1.19.0"),
        ("numpy~=1.18.1", "1.18.5", "1.19.0"),
        ("torch===1.5.0", "1.5.0", "1.5.1"),
        ("torch==1.5.0+cu101", "1.5.0+cu101", "1.5.0+cpu"),
        ("torch==1.5.0+cpu", "1.5.0+cpu", "1.5.0"),
        ("torch>=1.4,<1.6,!=1.5.1", "1.5.0", "1.5.1"),
        ("torch (>=1.4)", "1.5.0", "1.3.0"),
    ],
)
def test_specifier_forms(tmp_path: Path, line: str, inside: str, outside: str) -> None:
    (entry,) = _read(tmp_path, line + "\n").entries
    assert entry.requirement is not None
    spec = entry.requirement.specifier
    if "===" in line:
        assert spec.contains(inside) and not spec.contains(outside)
    else:
        assert spec.contains(Version(inside)) and not spec.contains(Version(outside))


def test_index_options_accumulate_across_files(tmp_path: Path) -> None:
    (tmp_path / "more.txt").write_text(
        "--extra-index-url=https://download.pytorch.org/whl/cu118\n--index-url https://mirror.invalid/simple\n",
        encoding="utf-8",
    )
    text = (
        "-i https://first.invalid/simple\n"
        "--extra-index-url https://download.pytorch.org/whl/cu101\n"
        "-f https://download.pytorch.org/whl/torch_stable.html\n"
        "--find-links=./wheels\n"
        "--no-index\n"
        "--pre\n"
        "--only-binary :all:\n"
        "--no-binary=pyyaml\n"
        "--prefer-binary\n"
        "-r more.txt\n"
        "torch\n"
    )
    dep = _read(tmp_path, text)
    assert dep.index.index_url == "https://mirror.invalid/simple"
    assert dep.index.extra_index_urls == (
        "https://download.pytorch.org/whl/cu101",
        "https://download.pytorch.org/whl/cu118",
    )
    assert dep.index.find_links == (
        "https://download.pytorch.org/whl/torch_stable.html",
        "./wheels",
    )
    assert dep.index.no_index
    assert [str(r) for r in dep.requirements()] == ["torch"]


def test_environment_variables_are_left_as_they_are(tmp_path: Path) -> None:
    dep = _read(
        tmp_path,
        "--index-url https://${USER}:${TOKEN}@mirror.invalid/simple\n"
        "torch==${TORCH_VERSION}\n"
        "https://${HOST}/pkg-1.0.tar.gz\n",
    )
    assert dep.index.index_url == "https://${USER}:${TOKEN}@mirror.invalid/simple"
    assert [(e.requirement, e.raw) for e in dep.entries] == [
        (None, "torch==${TORCH_VERSION}"),
        (None, "https://${HOST}/pkg-1.0.tar.gz"),
    ]


def test_invalid_requirement_names_file_line_and_problem(tmp_path: Path) -> None:
    text = "# reqs\n\nnumpy\nscipy\npandas\n\ntorch=1.5\n"
    message = _error(tmp_path, text)
    assert message.startswith(
        f"{tmp_path / 'reqs.txt'}:7: 'torch=1.5' is not a valid requirement: expected "
    )


def test_unknown_option_is_an_error(tmp_path: Path) -> None:
    message = _error(tmp_path, "torch\n--frobnicate\n")
    assert message == f"{tmp_path / 'reqs.txt'}:2: unknown option '--frobnicate'"


def test_option_without_value_is_an_error(tmp_path: Path) -> None:
    message = _error(tmp_path, "-r\n")
    assert message == f"{tmp_path / 'reqs.txt'}:1: option '-r' needs a value"


def test_global_option_after_requirement_is_an_error(tmp_path: Path) -> None:
    message = _error(tmp_path, "torch -r other.txt\n")
    assert message == f"{tmp_path / 'reqs.txt'}:1: option '-r' is not allowed after a requirement"


def test_crlf_line_breaks(tmp_path: Path) -> None:
    path = tmp_path / "requirements.txt"
    path.write_bytes(b"torch==1.5.0\r\n# c\r\nnumpy==1.18.5 \\\r\n  --hash=sha256:aa\r\n")
    dep = read_dependencies(path)
    assert [(str(e.requirement), e.line, e.hashes) for e in dep.entries] == [
        ("torch==1.5.0", 1, ()),
        ("numpy==1.18.5", 3, ("sha256:aa",)),
    ]
    assert dep.texts[path] == path.read_bytes().decode()


def test_in_files_are_requirements(tmp_path: Path) -> None:
    dep = _read(tmp_path, "torch>=1.5\n", name="requirements.in")
    assert dep.kind == "requirements"
    assert dep.requirements()[0].specifier == SpecifierSet(">=1.5")
