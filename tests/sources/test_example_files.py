"""The example 2020 project's three dependency files parse to the same torch 1.5 stack."""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.utils import canonicalize_name
from packaging.version import Version

from torchresolve.sources import read_dependencies

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "torch15"


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("requirements.txt", "requirements"),
        ("pyproject.toml", "pyproject"),
        ("environment.yml", "conda"),
    ],
)
def test_example_parses_to_the_2020_stack(name: str, kind: str) -> None:
    dep = read_dependencies(EXAMPLES / name)
    assert dep.kind == kind
    requirements = {canonicalize_name(r.name): r for r in dep.requirements()}
    for package, version in {
        "torch": "1.5.0",
        "torchvision": "0.6.0",
        "transformers": "2.11.0",
        "numpy": "1.18.5",
    }.items():
        spec = requirements[canonicalize_name(package)].specifier
        assert spec.contains(Version(version)) or spec.contains(Version(f"{version}+cu101"))
    assert {"scipy", "pandas", "scikit-learn", "tqdm", "pillow"} <= set(requirements)
    assert all(entry.span is not None for entry in dep.entries if entry.requirement is not None)


def test_requirements_example_uses_the_pytorch_find_links_page() -> None:
    dep = read_dependencies(EXAMPLES / "requirements.txt")
    assert dep.index.find_links == ("https://download.pytorch.org/whl/torch_stable.html",)
    torch = next(e for e in dep.entries if e.requirement and e.requirement.name == "torch")
    assert str(torch.requirement) == "torch==1.5.0+cu101"


def test_conda_example_keeps_channels_and_cuda_toolkit() -> None:
    dep = read_dependencies(EXAMPLES / "environment.yml")
    assert dep.conda is not None
    assert dep.conda.channels == ("pytorch", "conda-forge", "defaults")
    assert [e.raw for e in dep.entries if e.conda_name == "cudatoolkit"] == ["cudatoolkit=10.1"]
    assert str(dep.python) == "==3.7.*"
