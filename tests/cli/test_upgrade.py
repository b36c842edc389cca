"""``torchresolve upgrade`` end to end: flags, files written, formats and exit codes.

Runs :func:`torchresolve.cli.main.main` against the recorded index on a local HTTP server and
the trimmed curated database of ``tests/fixtures/upgrade/data``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from torchresolve import _subprocess
from torchresolve.cli.main import main

if TYPE_CHECKING:
    from collections.abc import Callable

    from _indexserver import IndexServer

HERE = Path(__file__).resolve().parent.parent / "fixtures" / "upgrade"
DATA = HERE / "data"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the example requirements file in a fresh folder."""
    target = tmp_path / "requirements.txt"
    shutil.copyfile(HERE / "requirements.txt", target)
    return target


@pytest.fixture
def run(
    index_server: IndexServer,
    index_server_factory: Callable[..., IndexServer],
    isolated_pip_env: None,
    tmp_path: Path,
) -> Callable[..., int]:
    """``run(args...)`` runs the command with the local indexes, the fixture db and a cache."""
    extra = index_server_factory(HERE / "index")

    def invoke(*args: str) -> int:
        return main(
            [
                "-q",
                "upgrade",
                *args,
                "--db",
                str(DATA),
                "--index-url",
                index_server.simple_url,
                "--extra-index-url",
                extra.simple_url,
                "--cache-dir",
                str(tmp_path / "cache"),
            ]
        )

    return invoke


H100 = ("--python", "3.11", "--platform", "linux_x86_64", "--gpu", "H100")


def test_text_report_names_target_and_changes_and_writes_nothing(
    run: Callable[..., int], project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = project.read_text(encoding="utf-8")
    assert run(str(project), *H100) == 0
    out = capsys.readouterr().out
    assert "Target: Python 3.11" in out
    assert "sm_90" in out
    assert "torch " in out and "==1.5.0" in out
    assert project.read_text(encoding="utf-8") == before
    assert sorted(p.name for p in project.parent.iterdir()) == ["cache", "requirements.txt"]


def test_output_file_keeps_comments_and_rewrites_only_changed_specifiers(
    run: Callable[..., int], project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_file = tmp_path / "new.txt"
    assert run(str(project), *H100, "-o", str(out_file), "--format", "json") == 0
    report = json.loads(capsys.readouterr().out)
    old_lines = project.read_text(encoding="utf-8").splitlines()
    new_lines = out_file.read_text(encoding="utf-8").splitlines()
    assert len(old_lines) == len(new_lines)
    changed = {c["name"] for c in report["changes"] if c["rewritten"]}
    for old, new in zip(old_lines, new_lines, strict=True):
        name = old.split("==")[0].split(">=")[0].strip()
        if name in changed:
            assert new != old
            assert f"{name}=={report['pins'][name]}" in new
        else:
            assert new == old  # comments, blank lines and unchanged specifiers as they were
    assert "# paired with torch 1.5" in out_file.read_text(encoding="utf-8")


def test_write_rewrites_in_place_and_diff_shows_the_change(
    run: Callable[..., int], project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(str(project), *H100, "--write", "--diff") == 0
    out = capsys.readouterr().out
    assert "-torch==1.5.0" in out
    assert "+torch==" in out
    assert "torch==1.5.0" not in project.read_text(encoding="utf-8")


def test_output_naming_the_input_is_refused(
    run: Callable[..., int], project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = project.read_text(encoding="utf-8")
    assert run(str(project), *H100, "-o", str(project)) == 2
    assert "--write" in capsys.readouterr().err
    assert project.read_text(encoding="utf-8") == before


def test_constraints_pin_everything_with_the_variant_index_line(
    run: Callable[..., int], project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    constraints = tmp_path / "constraints.txt"
    assert (
        run(str(project), *H100, "--constraints", str(constraints), "--hashes", "--format", "json")
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    text = constraints.read_text(encoding="utf-8")
    for name, version in report["pins"].items():
        assert f"{name}=={version}" in text
    torch = report["pins"]["torch"]
    if "+" in torch:
        variant = torch.split("+")[1]
        assert f"--extra-index-url https://download.pytorch.org/whl/{variant}" in text
        assert report["target"]["cuda_variant"] == variant
    assert "--hash=sha256:" in text
    assert set(report) >= {"target", "changes", "pins", "index_urls", "warnings", "blockers"}
    assert set(report["target"]) >= {"python", "platform", "gpu", "arch", "driver", "cuda_variant"}


def test_markdown_format_is_a_table(
    run: Callable[..., int], project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(str(project), "--python", "3.11", "--cuda", "cpu", "--format", "markdown") == 0
    out = capsys.readouterr().out
    assert "| package | from | to | reason |" in out
    assert "| torch | `==1.5.0` |" in out


def test_blockers_give_exit_3_and_are_listed(
    run: Callable[..., int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("tqdm==4.46.1\nmxnet==1.6.0\n", encoding="utf-8")
    assert run(str(reqs), "--python", "3.11", "--cuda", "cpu", "--format", "json") == 3
    report = json.loads(capsys.readouterr().out)
    assert [b["name"] for b in report["blockers"]] == ["mxnet"]
    assert report["blockers"][0]["way_out"]
    assert report["pins"]["tqdm"] == "4.46.1"


def test_unsatisfiable_gives_exit_1_and_names_the_conflict(
    run: Callable[..., int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("torch\nnumpy\nneeds-numpy2\n", encoding="utf-8")
    assert run(str(reqs), *H100) == 1
    err = capsys.readouterr().err
    assert "needs-numpy2 1.0 requires numpy>=2" in err


@pytest.mark.parametrize(
    "case",
    [
        ("torch==1.5.0\nnumpy===\n", (), "requirements.txt:2"),
        ("torch==1.5.0\n", ("--gpu", "no-such-gpu-model"), "no-such-gpu-model"),
        ("torch==1.5.0\n", ("--torch", "newest!"), "--torch"),
    ],
)
def test_bad_input_gives_exit_2_with_one_line(
    run: Callable[..., int],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    case: tuple[str, tuple[str, ...], str],
) -> None:
    content, flags, expected = case
    reqs = tmp_path / "requirements.txt"
    reqs.write_text(content, encoding="utf-8")
    assert run(str(reqs), "--python", "3.11", "--cuda", "cpu", *flags) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert expected in err[0]


def test_constraints_are_accepted_unchanged_by_uv(
    run: Callable[..., int],
    project: Path,
    tmp_path: Path,
    index_server: IndexServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    uv = shutil.which("uv") or str(Path(__file__).resolve().parents[2] / ".venv" / "bin" / "uv")
    if not Path(uv).exists():
        pytest.skip("uv is not installed")
    constraints = tmp_path / "constraints.txt"
    # The driver-470 proposal uses the default index's build: everything is on the local index.
    flags = ("--python", "3.11", "--platform", "linux_x86_64", "--driver", "470.57")
    assert run(str(project), *flags, "--constraints", str(constraints), "--format", "json") == 0
    pins = json.loads(capsys.readouterr().out)["pins"]
    done = _subprocess.run(
        [
            uv,
            "pip",
            "compile",
            str(constraints),
            "--index-url",
            index_server.simple_url,
            "--python-version",
            "3.11",
            "--python-platform",
            "x86_64-manylinux_2_28",
            "--cache-dir",
            str(tmp_path / "uv-cache"),
            "--no-header",
            "--quiet",
        ],
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "UV_NO_CONFIG": "1", "HOME": str(tmp_path)},
    )
    assert done.returncode == 0, done.stderr
    resolved = {
        line.split("==")[0]: line.split("==")[1].split()[0]
        for line in done.stdout.splitlines()
        if "==" in line and not line.startswith("#")
    }
    assert resolved == pins


@pytest.mark.parametrize("name", ["requirements.txt", "pyproject.toml", "environment.yml"])
def test_every_input_syntax_is_upgraded_and_rewritten_in_its_own_syntax(
    run: Callable[..., int], tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    from torchresolve.sources import read_dependencies

    source = tmp_path / name
    shutil.copyfile(HERE / name, source)
    out_file = tmp_path / f"new-{name}"
    flags = ("--python", "3.11", "--platform", "linux_x86_64", "--cuda", "cpu")
    assert run(str(source), *flags, "-o", str(out_file), "--format", "json") == 0
    report = json.loads(capsys.readouterr().out)
    new = read_dependencies(out_file)
    specs = {e.requirement.name: e.requirement.specifier for e in new.entries if e.requirement}
    for change in report["changes"]:
        if change["rewritten"]:
            # conda specs cannot carry a local label (+cpu): the public version is written
            public = change["rewritten"].split("+")[0]
            assert str(specs[change["name"]]).split("+")[0] == public
            spec = specs[change["name"]]
            assert spec.contains(change["to"]) or spec.contains(change["to"].split("+")[0])
    old_comments = [line for line in source.read_text(encoding="utf-8").splitlines() if "#" in line]
    new_text = out_file.read_text(encoding="utf-8")
    assert all(c.split("#", 1)[1] in new_text for c in old_comments)


@pytest.mark.online
@pytest.mark.parametrize(
    "flags",
    [("--gpu", "H100"), ("--gpu", "GTX 1080"), ("--driver", "470.57"), ("--cuda", "cpu")],
)
def test_readme_example_against_the_live_index(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: tuple[str, str]
) -> None:
    """The README example with the shipped database and the configured (live) index."""
    from packaging.specifiers import SpecifierSet
    from packaging.version import Version

    from torchresolve.db import load_database

    example = Path(__file__).resolve().parents[2] / "examples" / "torch15" / "requirements.txt"
    argv = ["-q", "upgrade", str(example), "--python", "3.11", "--platform", "linux_x86_64"]
    code = main([*argv, *flags, "--format", "json", "--cache-dir", str(tmp_path / "c")])
    assert code in (0, 3)
    report = json.loads(capsys.readouterr().out)
    db = load_database()
    torch = Version(report["pins"]["torch"])
    release = db.torch(torch)
    assert release is not None
    assert Version(report["pins"]["torchvision"].split("+")[0]) == release.torchvision
    variant = release.variants[report["target"]["cuda_variant"]]
    if flags[0] == "--gpu":
        arch = db.gpu(flags[1]).arch
        assert variant.kernels_for(arch) is not None
    if flags[0] == "--driver":
        assert variant.cuda is not None
        assert variant.cuda.major == 11
    if flags[0] == "--cuda":
        assert variant.cuda is None
    if release.numpy_abi == 1:
        assert Version(report["pins"]["numpy"]) in SpecifierSet("<2")


def test_an_entry_that_cannot_be_rewritten_in_place_is_named_not_skipped_silently(
    run: Callable[..., int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = tmp_path / "environment.yml"
    # A YAML escape hides the spec's text: the reader understands it, rewrite cannot locate it.
    env.write_text(
        'name: x\ndependencies:\n  - python=3.11\n  - "num\\x70y=1.18.5"\n', encoding="utf-8"
    )
    out_file = tmp_path / "new.yml"
    assert run(str(env), *H100, "-o", str(out_file), "--format", "json") == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["pins"]["numpy"] != "1.18.5"
    err = captured.err
    assert f"{env}:4: 'numpy=1.18.5' could not be rewritten in place" in err
    assert out_file.read_text(encoding="utf-8") == env.read_text(encoding="utf-8")


@pytest.mark.usefixtures("isolated_pip_env")
def test_a_repeated_plan_is_answered_from_the_cache_unless_refresh(
    index_server: IndexServer,
    index_server_factory: Callable[..., IndexServer],
    project: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    extra = index_server_factory(HERE / "index")
    common = [
        "upgrade",
        str(project),
        *H100,
        "--format",
        "json",
        "--db",
        str(DATA),
        "--index-url",
        index_server.simple_url,
        "--extra-index-url",
        extra.simple_url,
        "--cache-dir",
        str(tmp_path / "cache"),
    ]
    outputs = []
    for extra_args in ([], [], ["--refresh"]):
        index_server.clear_log()
        assert main([*common, *extra_args]) == 0
        captured = capsys.readouterr()
        outputs.append(captured.out)
        answered = "answered from the cache" in captured.err
        # The first run plans, the second is answered, --refresh asks the index again.
        assert answered == (len(outputs) == 2)
        assert bool(index_server.log) == (len(outputs) != 2)
    assert outputs[0] == outputs[1] == outputs[2]


@pytest.mark.usefixtures("isolated_pip_env")
def test_an_unwritable_cache_folder_is_a_warning_not_a_failure(
    index_server: IndexServer,
    index_server_factory: Callable[..., IndexServer],
    project: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    extra = index_server_factory(HERE / "index")
    blocked = tmp_path / "cache-is-a-file"
    blocked.write_text("x", encoding="utf-8")
    outputs = []
    for cache in (blocked, tmp_path / "cache"):
        argv = ["upgrade", str(project), *H100, "--format", "json", "--db", str(DATA)]
        argv += ["--index-url", index_server.simple_url, "--extra-index-url", extra.simple_url]
        assert main([*argv, "--cache-dir", str(cache)]) == 0
        captured = capsys.readouterr()
        outputs.append((captured.out, captured.err))
    (out, err), (good_out, good_err) = outputs
    assert out == good_out
    assert err.count("cannot write the cache folder") == 1
    assert "Traceback" not in err
    assert "cannot write" not in good_err
