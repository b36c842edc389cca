"""Reading conda environment.yml files: conda specs mapped to PyPI, and the pip section."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from packaging.specifiers import SpecifierSet

from torchresolve.errors import InputError
from torchresolve.sources import CondaEnv, DependencyFile, read_dependencies
from torchresolve.sources.conda import conda_to_pypi, parse_conda_spec

if TYPE_CHECKING:
    from pathlib import Path


def _read(tmp_path: Path, text: str, name: str = "environment.yml") -> DependencyFile:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return read_dependencies(path)


def _error(tmp_path: Path, text: str) -> str:
    with pytest.raises(InputError) as info:
        _read(tmp_path, text)
    message = str(info.value)
    assert "\n" not in message
    return message


ENV = """\
name: demo  # the env
channels:
  - pytorch
  - defaults
prefix: /home/alice/miniconda3/envs/demo
dependencies:
  - python=3.7
  # the GPU stack
  - pytorch::pytorch=1.5.0=py3.7_cuda10.1.243_cudnn7.6.3_0
  - torchvision==0.6.0
  - cudatoolkit=10.1
  - "numpy>=1.18,<1.19"
  - py-opencv 4.2.0
  - scikit-learn
  - pip:
      - transformers==2.11.0  # pinned
      - --extra-index-url https://download.pytorch.org/whl/cu101
      - -f ./wheels
      - -r requirements-extra.txt
"""


def test_conda_specs_pip_section_and_metadata(tmp_path: Path) -> None:
    (tmp_path / "requirements-extra.txt").write_text("tokenizers==0.7.0\n", encoding="utf-8")
    dep = _read(tmp_path, ENV)
    assert dep.kind == "conda"
    assert dep.conda == CondaEnv(
        name="demo", channels=("pytorch", "defaults"), prefix="/home/alice/miniconda3/envs/demo"
    )
    assert dep.python == SpecifierSet("==3.7.*")
    rows = [
        (str(e.requirement) if e.requirement else None, e.conda_name, e.line, e.path.name)
        for e in dep.entries
    ]
    assert rows == [
        (None, "python", 7, "environment.yml"),
        ("torch==1.5.0", "pytorch", 9, "environment.yml"),
        ("torchvision==0.6.0", "torchvision", 10, "environment.yml"),
        (None, "cudatoolkit", 11, "environment.yml"),
        ("numpy<1.19,>=1.18", "numpy", 12, "environment.yml"),
        ("opencv-python==4.2.0", "py-opencv", 13, "environment.yml"),
        ("scikit-learn", "scikit-learn", 14, "environment.yml"),
        ("transformers==2.11.0", None, 16, "environment.yml"),
        ("tokenizers==0.7.0", None, 1, "requirements-extra.txt"),
    ]
    assert dep.index.extra_index_urls == ("https://download.pytorch.org/whl/cu101",)
    assert dep.index.find_links == ("./wheels",)
    assert [e.syntax for e in dep.entries[:7]] == ["conda"] * 7
    assert dep.entries[7].syntax == "pip-line"


@pytest.mark.parametrize(
    ("spec", "channel", "name", "pep440", "build"),
    [
        ("pytorch=1.5.0", None, "pytorch", "==1.5.0", None),
        ("pytorch==1.5.0", None, "pytorch", "==1.5.0", None),
        ("python=3.7", None, "python", "==3.7.*", None),
        ("cudatoolkit=10.1", None, "cudatoolkit", "==10.1.*", None),
        ("numpy>=1.18,<1.19", None, "numpy", ">=1.18,<1.19", None),
        ("numpy 1.18.*", None, "numpy", "==1.18.*", None),
        ("numpy=1.18*", None, "numpy", "==1.18.*", None),
        (
            "pytorch::pytorch=1.5.0=py3.7_cuda10.1.243_cudnn7.6.3_0",
            "pytorch",
            "pytorch",
            "==1.5.0",
            "py3.7_cuda10.1.243_cudnn7.6.3_0",
        ),
        (
            "pytorch 1.5.0 py3.7_cuda10.1.243_cudnn7.6.3_0",
            None,
            "pytorch",
            "==1.5.0",
            "py3.7_cuda10.1.243_cudnn7.6.3_0",
        ),
        ("conda-forge::pillow", "conda-forge", "pillow", "", None),
    ],
)
def test_parse_conda_spec(
    spec: str, channel: str | None, name: str, pep440: str, build: str | None
) -> None:
    parsed = parse_conda_spec(spec)
    assert (parsed.channel, parsed.name, parsed.specifier, parsed.build) == (
        channel,
        name,
        SpecifierSet(pep440),
        build,
    )


@pytest.mark.parametrize(
    ("conda", "pypi"),
    [
        ("pytorch", "torch"),
        ("py-opencv", "opencv-python"),
        ("opencv", "opencv-python"),
        ("pillow", "pillow"),
        ("scikit-learn", "scikit-learn"),
        ("cudatoolkit", None),
        ("cuda-version", None),
        ("magma-cuda101", None),
    ],
)
def test_conda_names_map_to_pypi(conda: str, pypi: str | None) -> None:
    assert conda_to_pypi(conda) == pypi


def test_invalid_conda_spec_names_its_line(tmp_path: Path) -> None:
    message = _error(tmp_path, "dependencies:\n  - numpy\n  - torch=1.5|1.6\n")
    assert message == (
        f"{tmp_path / 'environment.yml'}:3: 'torch=1.5|1.6' is not a valid conda spec: "
        "'|' alternatives cannot be expressed as one PEP 440 specifier"
    )


def test_invalid_pip_line_names_its_line(tmp_path: Path) -> None:
    message = _error(tmp_path, "dependencies:\n  - pip\n  - pip:\n    - ok\n    - torch=1.5\n")
    assert message.startswith(
        f"{tmp_path / 'environment.yml'}:5: 'torch=1.5' is not a valid requirement: expected "
    )


def test_invalid_yaml_names_its_line(tmp_path: Path) -> None:
    message = _error(tmp_path, "name: x\ndependencies:\n  - numpy\n - scipy\n")
    assert message == (
        f"{tmp_path / 'environment.yml'}:4: invalid YAML: "
        "expected <block end>, but found '<block sequence start>'"
    )


def test_not_a_mapping(tmp_path: Path) -> None:
    assert _error(tmp_path, "- numpy\n") == (
        f"{tmp_path / 'environment.yml'}:1: expected a mapping with a 'dependencies' list"
    )


def test_flow_style_dependencies(tmp_path: Path) -> None:
    dep = _read(tmp_path, "dependencies: [python=3.8, numpy=1.18.5]\n", name="env.yaml")
    assert [str(e.requirement) for e in dep.entries if e.requirement] == ["numpy==1.18.5"]
    assert all(e.span is not None for e in dep.entries)
