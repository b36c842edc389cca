"""Reading pyproject.toml: PEP 621, PEP 735 dependency groups and Poetry."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from packaging.specifiers import SpecifierSet

from torchresolve.errors import InputError
from torchresolve.sources import DependencyFile, read_dependencies
from torchresolve.sources.pyproject import poetry_constraint, specifier_to_poetry

if TYPE_CHECKING:
    from pathlib import Path


def _read(tmp_path: Path, text: str) -> DependencyFile:
    path = tmp_path / "pyproject.toml"
    path.write_text(text, encoding="utf-8")
    return read_dependencies(path)


def _error(tmp_path: Path, text: str) -> str:
    with pytest.raises(InputError) as info:
        _read(tmp_path, text)
    message = str(info.value)
    assert "\n" not in message
    return message


PEP621 = """\
[project]
name = "demo"
requires-python = ">=3.7"
dependencies = [
    "torch==1.5.0",  # comment
    'numpy>=1.18,<1.19',

    "transformers[torch]==2.11.0; python_version < \\"3.9\\"",
]

[project.optional-dependencies]
gpu = ["pynvml"]
dev = [
  "pytest",
]
"""


def test_pep621_dependencies_extras_and_lines(tmp_path: Path) -> None:
    dep = _read(tmp_path, PEP621)
    assert dep.kind == "pyproject"
    assert dep.python == SpecifierSet(">=3.7")
    assert [(str(e.requirement), e.line, e.group) for e in dep.entries] == [
        ("torch==1.5.0", 5, None),
        ("numpy<1.19,>=1.18", 6, None),
        ('transformers[torch]==2.11.0; python_version < "3.9"', 8, None),
        ("pynvml", 12, "gpu"),
        ("pytest", 14, "dev"),
    ]
    assert all(e.syntax == "pep508" and e.span is not None for e in dep.entries)


def test_dependency_groups_with_include_group(tmp_path: Path) -> None:
    text = """\
[dependency-groups]
test = ["pytest>=5"]
dev = [{include-group = "test"}, "black==19.10b0"]
"""
    dep = _read(tmp_path, text)
    assert [(str(e.requirement), e.group, e.line) for e in dep.entries] == [
        ("pytest>=5", "test", 2),
        ("black==19.10b0", "dev", 3),
    ]


def test_dependency_group_unknown_include(tmp_path: Path) -> None:
    message = _error(tmp_path, '[dependency-groups]\ndev = [{include-group = "lint"}]\n')
    assert message == (
        f"{tmp_path / 'pyproject.toml'}: dependency-groups.dev: "
        "group 'dev' includes unknown group 'lint'"
    )


def test_dependency_group_cycle(tmp_path: Path) -> None:
    text = '[dependency-groups]\na = [{include-group = "b"}]\nb = [{include-group = "a"}]\n'
    message = _error(tmp_path, text)
    assert message.endswith("dependency group include cycle: a -> b -> a")


POETRY = """\
[tool.poetry]
name = "demo"

[tool.poetry.dependencies]
python = "^3.7"
torch = "^1.5"
torchvision = "~0.6"
tqdm = "*"
numpy = "1.18.5"
scipy = ">=1.4 <1.5"
transformers = { version = "^2.11", extras = ["torch"], markers = "sys_platform == 'linux'" }
dataclasses = { version = "^0.7", python = "~3.6" }
mylib = { git = "https://example.invalid/mylib.git", branch = "main" }
pillow = [
    { version = "^7.1", python = "<3.8" },
    { version = "^8.0", python = ">=3.8" },
]

[tool.poetry.dependencies.pandas]
version = "~1.0.3"

[tool.poetry.group.dev.dependencies]
pytest = "^5.4"

[tool.poetry.dev-dependencies]
black = "19.10b0"
"""


def test_poetry_dependencies_are_converted_to_pep440(tmp_path: Path) -> None:
    dep = _read(tmp_path, POETRY)
    assert dep.python == SpecifierSet(">=3.7,<4")
    found = {(str(e.requirement) if e.requirement else e.raw, e.line, e.group) for e in dep.entries}
    assert found == {
        ("torch<2,>=1.5", 6, None),
        ("torchvision<0.7,>=0.6", 7, None),
        ("tqdm", 8, None),
        ("numpy==1.18.5", 9, None),
        ("scipy<1.5,>=1.4", 10, None),
        ('transformers[torch]<3,>=2.11; sys_platform == "linux"', 11, None),
        ('dataclasses<0.8,>=0.7; python_version < "3.7" and python_version >= "3.6"', 12, None),
        ("{'git': 'https://example.invalid/mylib.git', 'branch': 'main'}", 13, None),
        ('pillow<8,>=7.1; python_version < "3.8"', 15, None),
        ('pillow<9,>=8.0; python_version >= "3.8"', 16, None),
        ("pandas<1.1,>=1.0.3", 20, None),
        ("pytest<6,>=5.4", 23, "dev"),
        ("black==19.10b0", 26, "dev"),
    }
    assert {e.syntax for e in dep.entries} == {"poetry"}


@pytest.mark.parametrize(
    ("poetry", "pep440"),
    [
        ("^1.5", ">=1.5,<2"),
        ("^1.5.2", ">=1.5.2,<2"),
        ("^0.6", ">=0.6,<0.7"),
        ("^0.0.3", ">=0.0.3,<0.0.4"),
        ("^0", ">=0,<1"),
        ("~1.5", ">=1.5,<1.6"),
        ("~1.5.2", ">=1.5.2,<1.6"),
        ("~1", ">=1,<2"),
        ("~=1.5", "~=1.5"),
        ("*", ""),
        ("1.5.0", "==1.5.0"),
        ("=1.5.0", "==1.5.0"),
        ("1.5.*", "==1.5.*"),
        (">= 1.2, < 2.0", ">=1.2,<2.0"),
        (">=1.2 <2.0 !=1.3", ">=1.2,<2.0,!=1.3"),
    ],
)
def test_poetry_constraint(poetry: str, pep440: str) -> None:
    assert poetry_constraint(poetry) == SpecifierSet(pep440)


def test_poetry_alternatives_are_refused(tmp_path: Path) -> None:
    message = _error(tmp_path, '[tool.poetry.dependencies]\n\ntorch = "^1.5 || ^2.0"\n')
    assert message.startswith(
        f"{tmp_path / 'pyproject.toml'}:3: tool.poetry.dependencies.torch: "
        "'^1.5 || ^2.0' is not a valid Poetry version constraint: "
    )


@pytest.mark.parametrize(
    ("spec", "poetry"),
    [("==2.1.2", "2.1.2"), ("==2.1.*", "2.1.*"), ("", "*"), (">=2,<3", "<3,>=2")],
)
def test_specifier_to_poetry(spec: str, poetry: str) -> None:
    assert specifier_to_poetry(SpecifierSet(spec)) == poetry


def test_invalid_requirement_string_names_its_line(tmp_path: Path) -> None:
    text = '[project]\nname = "x"\ndependencies = [\n  "numpy",\n  "torch=1.5",\n]\n'
    message = _error(tmp_path, text)
    assert message.startswith(
        f"{tmp_path / 'pyproject.toml'}:5: 'torch=1.5' is not a valid requirement: expected "
    )


def test_invalid_toml_names_its_line(tmp_path: Path) -> None:
    message = _error(tmp_path, '[project]\nname = "x"\ndependencies = [\n"torch",\nversion = 3\n')
    assert message.startswith(f"{tmp_path / 'pyproject.toml'}:5: invalid TOML: ")


def test_file_without_dependencies(tmp_path: Path) -> None:
    dep = _read(tmp_path, "[tool.black]\nline-length = 100\n")
    assert dep.entries == ()
    assert dep.python is None


def test_wrong_table_type_names_its_key(tmp_path: Path) -> None:
    message = _error(tmp_path, '[project]\nname = "x"\noptional-dependencies = "gpu"\n')
    assert message == (
        f"{tmp_path / 'pyproject.toml'}:3: project.optional-dependencies: "
        "expected a table, found 'gpu'"
    )


def test_invalid_requires_python_names_its_line(tmp_path: Path) -> None:
    message = _error(tmp_path, '[project]\nname = "x"\nrequires-python = "3.7+"\n')
    assert message == (
        f"{tmp_path / 'pyproject.toml'}:3: project.requires-python: Invalid specifier: '3.7+'"
    )
