"""rewrite(): only the changed specifiers differ, each in its own file; unified_diff()."""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name

from torchresolve.sources import (
    CUDA_VERSION,
    read_dependencies,
    rewrite,
    unified_diff,
    unrewritable,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "torch15"


def _changes(**specs: str) -> dict[NormalizedName, SpecifierSet]:
    return {canonicalize_name(name.replace("_", "-")): SpecifierSet(s) for name, s in specs.items()}


def _rewrite_one(path: Path, text: str, **specs: str) -> str:
    path.write_bytes(text.encode())
    dep = read_dependencies(path)
    result = rewrite(dep, _changes(**specs))
    assert set(result) <= {path}
    return result.get(path, text)


def _changed_lines(old: str, new: str) -> set[int]:
    old_lines, new_lines = old.splitlines(keepends=True), new.splitlines(keepends=True)
    assert len(old_lines) == len(new_lines)
    return {n for n, (a, b) in enumerate(zip(old_lines, new_lines, strict=True), 1) if a != b}


@pytest.mark.parametrize("name", ["requirements.txt", "pyproject.toml", "environment.yml"])
def test_no_changes_leave_the_example_files_alone(name: str) -> None:
    dep = read_dependencies(EXAMPLES / name)
    assert rewrite(dep, {}) == {}
    assert rewrite(dep, _changes(unrelated="==1.0")) == {}


@pytest.mark.parametrize("name", ["requirements.txt", "pyproject.toml", "environment.yml"])
def test_upgrade_of_the_examples_changes_only_those_lines(name: str, tmp_path: Path) -> None:
    dep = read_dependencies(EXAMPLES / name)
    changes = _changes(torch="==2.1.2", numpy="==1.26.4", transformers="==4.36.2")
    (new,) = rewrite(dep, changes).values()
    old = dep.texts[dep.path]
    expected = {
        e.line
        for e in dep.entries
        if e.requirement is not None and canonicalize_name(e.requirement.name) in changes
    }
    assert len(expected) == 3
    assert _changed_lines(old, new) == expected
    (tmp_path / name).write_text(new, encoding="utf-8")
    reread = read_dependencies(tmp_path / name)
    pins = {
        canonicalize_name(r.name): str(r.specifier)
        for r in reread.requirements()
        if canonicalize_name(r.name) in changes
    }
    assert pins == {"torch": "==2.1.2", "numpy": "==1.26.4", "transformers": "==4.36.2"}


def test_requirements_line_keeps_extras_markers_and_comment(tmp_path: Path) -> None:
    text = (
        "# deps\n"
        'transformers[torch] == 2.11.0 ; python_version < "3.9"  # 3.x breaks tokenizers\n'
        "numpy==1.18.5\n"
    )
    new = _rewrite_one(tmp_path / "r.txt", text, transformers="==4.36.2")
    assert new == (
        "# deps\n"
        'transformers[torch]==4.36.2 ; python_version < "3.9"  # 3.x breaks tokenizers\n'
        "numpy==1.18.5\n"
    )


def test_local_version_label_is_written(tmp_path: Path) -> None:
    new = _rewrite_one(tmp_path / "r.txt", "torch==1.5.0+cu101\n", torch="==2.1.2+cu121")
    assert new == "torch==2.1.2+cu121\n"


def test_hashes_of_a_changed_line_are_dropped(tmp_path: Path) -> None:
    text = (
        "torch==1.5.0 \\\n"
        "    --hash=sha256:aaaa \\\n"
        "    --hash=sha256:bbbb  # from pip-compile\n"
        "numpy==1.18.5 \\\n"
        "    --hash=sha256:cccc\n"
    )
    new = _rewrite_one(tmp_path / "r.txt", text, torch="==2.1.2")
    assert new == ("torch==2.1.2  # from pip-compile\nnumpy==1.18.5 \\\n    --hash=sha256:cccc\n")


def test_included_file_changes_in_its_own_text(tmp_path: Path) -> None:
    (tmp_path / "base.txt").write_text("numpy==1.18.5  # base\n", encoding="utf-8")
    (tmp_path / "constraints.txt").write_text("torch<1.6\n", encoding="utf-8")
    main = tmp_path / "requirements.txt"
    main.write_text("-r base.txt\n-c constraints.txt\n-e .\ntorch\n", encoding="utf-8")
    dep = read_dependencies(main)
    result = rewrite(dep, _changes(numpy="==1.26.4", torch="==2.1.2"))
    assert result == {
        tmp_path / "base.txt": "numpy==1.26.4  # base\n",
        tmp_path / "constraints.txt": "torch==2.1.2\n",
        main: "-r base.txt\n-c constraints.txt\n-e .\ntorch==2.1.2\n",
    }


def test_lines_kept_as_they_are_are_not_rewritten(tmp_path: Path) -> None:
    text = "./vendor/torch-1.5.0.tar.gz\n-e git+https://example.invalid/torch.git#egg=torch\n"
    new = _rewrite_one(tmp_path / "r.txt", text, torch="==2.1.2")
    assert new == text


def test_named_url_is_replaced_by_the_specifier(tmp_path: Path) -> None:
    text = (
        "torch @ https://download.pytorch.org/whl/cu101/torch-1.5.0.whl ; sys_platform == 'linux'\n"
    )
    new = _rewrite_one(tmp_path / "r.txt", text, torch="==2.1.2")
    assert new == "torch==2.1.2 ; sys_platform == 'linux'\n"


def test_crlf_is_preserved(tmp_path: Path) -> None:
    new = _rewrite_one(tmp_path / "r.txt", "a==1\r\ntorch==1.5.0\r\nb==2\r\n", torch="==2.1.2")
    assert new == "a==1\r\ntorch==2.1.2\r\nb==2\r\n"


def test_repeated_package_with_markers_is_rewritten_everywhere(tmp_path: Path) -> None:
    text = "numpy==1.18.5; python_version<'3.8'\nnumpy==1.19.5; python_version>='3.8'\n"
    new = _rewrite_one(tmp_path / "r.txt", text, numpy=">=1.26,<2")
    assert new == "numpy<2,>=1.26; python_version<'3.8'\nnumpy<2,>=1.26; python_version>='3.8'\n"


PYPROJECT = """\
[project]
name = "demo"   # name
dependencies = [ "torch==1.5.0", 'numpy>=1.18,<1.19',  # inline comment
  "transformers[torch]==2.11.0; python_version < \\"3.9\\"",
     "scipy",
]
[project.optional-dependencies]
gpu = ['torch==1.5.0 ; sys_platform == "linux"']
"""


def test_pyproject_only_the_changed_literals_differ(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    new = _rewrite_one(path, PYPROJECT, torch="==2.1.2", numpy="==1.26.4", transformers="==4.36.2")
    assert new == PYPROJECT.replace('"torch==1.5.0"', '"torch==2.1.2"').replace(
        "'numpy>=1.18,<1.19'", "'numpy==1.26.4'"
    ).replace('"transformers[torch]==2.11.0;', '"transformers[torch]==4.36.2;').replace(
        "'torch==1.5.0 ;", "'torch==2.1.2 ;"
    )
    assert read_dependencies(path).entries  # the original still parses
    path.write_text(new, encoding="utf-8")
    assert {str(r) for r in read_dependencies(path).requirements()} >= {
        "torch==2.1.2",
        'transformers[torch]==4.36.2; python_version < "3.9"',
    }


POETRY = """\
[tool.poetry.dependencies]
python = "^3.7"
torch = "^1.5"   # GPU
transformers = { version = "^2.11", extras = ["torch"] }
tqdm = "*"

[tool.poetry.dependencies.numpy]
version = '~1.18'
"""


def test_poetry_constraints_are_written_in_poetry_syntax(tmp_path: Path) -> None:
    new = _rewrite_one(
        tmp_path / "pyproject.toml",
        POETRY,
        torch="==2.1.2",
        transformers=">=4.36,<5",
        numpy="==1.26.4",
        tqdm="==4.66.1",
    )
    assert new == (
        "[tool.poetry.dependencies]\n"
        'python = "^3.7"\n'
        'torch = "2.1.2"   # GPU\n'
        'transformers = { version = "<5,>=4.36", extras = ["torch"] }\n'
        'tqdm = "4.66.1"\n'
        "\n"
        "[tool.poetry.dependencies.numpy]\n"
        "version = '1.26.4'\n"
    )


ENV = """\
name: demo
channels: [pytorch, defaults]   # order matters
dependencies:
  - python=3.7
  - pytorch::pytorch=1.5.0=py3.7_cuda10.1.243_cudnn7.6.3_0  # GPU build
  - torchvision==0.6.0
  - cudatoolkit=10.1
  - "numpy>=1.18,<1.19"
  - pandas 1.0.5
  - pip:
    - transformers==2.11.0   # pip only
    - 'tokenizers==0.7.0'
"""


def test_conda_specs_keep_their_style_and_comments(tmp_path: Path) -> None:
    changes = {
        "torch": "==2.1.2+cu121",
        "torchvision": "==0.16.2",
        "numpy": "==1.26.4",
        "pandas": "==2.1.4",
        "transformers": "==4.36.2",
        "tokenizers": "==0.15.0",
    }
    new = _rewrite_one(tmp_path / "environment.yml", ENV, **changes)
    assert new == (
        "name: demo\n"
        "channels: [pytorch, defaults]   # order matters\n"
        "dependencies:\n"
        "  - python=3.7\n"
        "  - pytorch::pytorch=2.1.2  # GPU build\n"
        "  - torchvision==0.16.2\n"
        "  - cudatoolkit=10.1\n"
        '  - "numpy=1.26.4"\n'
        "  - pandas 2.1.4\n"
        "  - pip:\n"
        "    - transformers==4.36.2   # pip only\n"
        "    - 'tokenizers==0.15.0'\n"
    )


def test_cudatoolkit_becomes_cuda_version(tmp_path: Path) -> None:
    changes = {
        CUDA_VERSION: SpecifierSet("==12.1"),
        canonicalize_name("python"): SpecifierSet("==3.11.*"),
    }
    path = tmp_path / "environment.yml"
    path.write_text(ENV, encoding="utf-8")
    (new,) = rewrite(read_dependencies(path), changes).values()
    assert _changed_lines(ENV, new) == {4, 7}
    assert "  - python=3.11\n" in new
    assert "  - cuda-version=12.1\n" in new


def test_unified_diff() -> None:
    old = "a\ntorch==1.5.0\nb\n"
    new = "a\ntorch==2.1.2\nb\n"
    assert unified_diff(old, new, Path("req/requirements.txt")) == (
        "--- a/req/requirements.txt\n"
        "+++ b/req/requirements.txt\n"
        "@@ -1,3 +1,3 @@\n"
        " a\n"
        "-torch==1.5.0\n"
        "+torch==2.1.2\n"
        " b\n"
    )
    assert unified_diff(old, old, Path("r.txt")) == ""


def test_unified_diff_marks_a_missing_final_newline() -> None:
    diff = unified_diff("torch==1.5.0", "torch==2.1.2", Path("r.txt"))
    assert diff.endswith(
        "-torch==1.5.0\n\\ No newline at end of file\n+torch==2.1.2\n\\ No newline at end of file\n"
    )


def test_byte_order_mark_is_kept(tmp_path: Path) -> None:
    new = _rewrite_one(tmp_path / "r.txt", "\ufefftorch==1.5.0\n", torch="==2.1.2")
    assert new == "\ufefftorch==2.1.2\n"


def test_requirement_split_over_lines_is_rebuilt_on_one(tmp_path: Path) -> None:
    text = "torch\\\n==1.5.0  # pinned\nnumpy\n"
    new = _rewrite_one(tmp_path / "r.txt", text, torch="==2.1.2")
    assert new == "torch==2.1.2  # pinned\nnumpy\n"


def test_other_options_survive_when_hashes_are_dropped(tmp_path: Path) -> None:
    text = "torch==1.5.0 \\\n  --hash=sha256:aa \\\n  --config-settings 'a=b c'\n"
    new = _rewrite_one(tmp_path / "r.txt", text, torch="==2.1.2")
    assert new == "torch==2.1.2 --config-settings 'a=b c'\n"


def test_existing_cuda_version_is_rewritten(tmp_path: Path) -> None:
    text = "dependencies:\n  - cuda-version=11.8  # driver floor\n  - pytorch=2.1.0\n"
    path = tmp_path / "environment.yml"
    path.write_text(text, encoding="utf-8")
    result = rewrite(read_dependencies(path), {CUDA_VERSION: SpecifierSet("==12.4")})
    assert result == {path: text.replace("cuda-version=11.8", "cuda-version=12.4")}


def test_rewrite_is_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "r.txt"
    first = _rewrite_one(path, "torch==1.5.0  # x\n", torch="==2.1.2")
    path.write_text(first, encoding="utf-8")
    assert rewrite(read_dependencies(path), _changes(torch="==2.1.2")) == {}


def test_entries_that_cannot_be_located_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "environment.yml"
    # "\x3e" is ">": the value is "numpy>=1.18" but the scalar's text is not that text
    path.write_text('dependencies:\n  - "numpy\\x3e=1.18"\n  - scipy=1.4.1\n', encoding="utf-8")
    dep = read_dependencies(path)
    changes = _changes(numpy="==1.26.4", scipy="==1.11.4")
    assert [str(e.requirement) for e in unrewritable(dep, changes)] == ["numpy>=1.18"]
    assert rewrite(dep, changes) == {
        path: 'dependencies:\n  - "numpy\\x3e=1.18"\n  - scipy=1.11.4\n'
    }


def test_escaped_toml_strings_are_rewritten_through_their_value(tmp_path: Path) -> None:
    text = '[project]\ndependencies = ["\\u0074orch==1.5.0", "numpy"]\n'
    new = _rewrite_one(tmp_path / "pyproject.toml", text, torch="==2.1.2")
    assert new == '[project]\ndependencies = ["torch==2.1.2", "numpy"]\n'
