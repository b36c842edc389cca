"""The curated ecosystem data (cuda, gpus, ecosystem, wheels, changes, advisories, blockers)
is well-formed and self-consistent, and scripts/refresh_ecosystem.py re-derives it correctly
from an index (a real HTTP server on 127.0.0.1 serving a small recorded tree)."""

from __future__ import annotations

import importlib.util
import io
import json
import re
import sys
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import requests
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from _indexserver import IndexServer
from torchresolve.db.gpus import normalize_gpu_name

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

if TYPE_CHECKING:
    from collections.abc import Iterator
    from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data"
FILES = (
    "cuda.toml",
    "gpus.toml",
    "ecosystem.toml",
    "wheels.toml",
    "changes.toml",
    "advisories.toml",
    "blockers.toml",
)
PYTHONS = ("3.8", "3.9", "3.10", "3.11", "3.12", "3.13", "3.14")
KEBAB = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
DRIVER = re.compile(r"^\d{3}(\.\d{1,3}){0,2}$")
# Compute capability majors of each architecture family (NVIDIA CUDA GPUs list).
FAMILY_MAJORS = {
    "Kepler": {3},
    "Maxwell": {5},
    "Pascal": {6},
    "Volta": {7},
    "Turing": {7},
    "Ampere": {8},
    "Ada Lovelace": {8},
    "Hopper": {9},
    "Blackwell": {10, 11, 12},
}


def load(name: str) -> dict[str, Any]:
    with (DATA / name).open("rb") as handle:
        return tomllib.load(handle)


# -- every file -------------------------------------------------------------------------


@pytest.mark.parametrize("name", FILES)
def test_every_entry_has_a_nonempty_source(name: str) -> None:
    data = load(name)
    entries = [entry for tables in data.values() for entry in tables]
    assert entries, f"{name} is empty"
    for entry in entries:
        assert str(entry.get("source", "")).strip(), f"{name}: entry without source: {entry}"


# -- ecosystem.toml ---------------------------------------------------------------------


def test_rules_parse_as_requirements_with_unique_kebab_ids() -> None:
    rules = load("ecosystem.toml")["rule"]
    ids = [rule["id"] for rule in rules]
    assert len(ids) == len(set(ids)), "duplicate rule ids"
    for rule in rules:
        assert KEBAB.match(rule["id"]), rule["id"]
        when, require = Requirement(rule["when"]), Requirement(rule["require"])
        assert when.specifier, f"{rule['id']}: 'when' must restrict versions"
        assert rule["kind"] in {
            "numpy-abi",
            "runtime-min",
            "python-range",
            "pairing",
            "import-failure",
        }
        assert rule["severity"] in {"error", "warning"}
        assert rule["reason"].strip()
        if rule["kind"] == "python-range":
            assert require.name == "python"


def test_declared_transformers_rules_cover_disjoint_ranges() -> None:
    """Per dependency, the 'as declared' rules partition the releases: no release may match two
    rules naming the same dependency (the refresh script groups consecutive releases)."""
    rules = [
        rule
        for rule in load("ecosystem.toml")["rule"]
        if rule["source"].startswith("index metadata")
        and Requirement(rule["when"]).name == "transformers"
    ]
    probes = [
        Version(f"{major}.{minor}.{patch}")
        for major in (2, 3, 4, 5)
        for minor in range(60)
        for patch in (0, 1, 2, 3)
    ]
    by_dependency: dict[str, list[SpecifierSet]] = {}
    for rule in rules:
        name = canonicalize_name(Requirement(rule["require"]).name)
        by_dependency.setdefault(name, []).append(Requirement(rule["when"]).specifier)
    assert {"python", "tokenizers", "huggingface-hub", "torch"} <= set(by_dependency)
    for name, ranges in by_dependency.items():
        for probe in probes:
            hits = [spec for spec in ranges if spec.contains(probe)]
            assert len(hits) <= 1, f"{name}: transformers {probe} matches {hits}"


def test_numpy_abi_rule_for_old_torch_forbids_numpy_2() -> None:
    rules = {rule["id"]: rule for rule in load("ecosystem.toml")["rule"]}
    rule = rules["numpy-abi-torch-1"]
    when, require = Requirement(rule["when"]), Requirement(rule["require"])
    assert when.specifier.contains("2.2.2") and not when.specifier.contains("2.3.0")
    assert not require.specifier.contains("2.0.0") and require.specifier.contains("1.26.4")


# -- gpus.toml --------------------------------------------------------------------------


def test_gpu_names_and_aliases_are_unique_as_the_matcher_sees_them() -> None:
    owner: dict[tuple[str, ...], str] = {}
    gpus = load("gpus.toml")["gpu"]
    assert len(gpus) >= 80
    for gpu in gpus:
        for spelling in (gpu["name"], *gpu.get("aliases", [])):
            words = normalize_gpu_name(spelling)
            assert words, spelling
            assert owner.setdefault(words, gpu["name"]) == gpu["name"], (
                f"{spelling!r} of {gpu['name']} also names {owner[words]}"
            )


def test_gpu_capabilities_are_valid_and_match_their_family() -> None:
    for gpu in load("gpus.toml")["gpu"]:
        major, minor = (int(part) for part in gpu["capability"].split("."))
        assert 0 <= minor <= 9
        assert major in FAMILY_MAJORS[gpu["family"]], gpu["name"]


@pytest.mark.parametrize(
    ("alias", "capability"),
    [("H100", "9.0"), ("V100", "7.0"), ("A100", "8.0"), ("T4", "7.5"), ("L4", "8.9"),
     ("A10G", "8.6"), ("RTX 4090", "8.9"), ("B200", "10.0"), ("GTX 1080", "6.1"),
     ("RTX 5090", "12.0")],
)  # fmt: skip
def test_common_aliases_resolve_to_the_documented_capability(alias: str, capability: str) -> None:
    hits = [g for g in load("gpus.toml")["gpu"] if alias in g.get("aliases", [])]
    assert len(hits) == 1
    assert hits[0]["capability"] == capability


# -- cuda.toml --------------------------------------------------------------------------


def test_cuda_driver_floors_are_valid_and_rise_with_the_toolkit() -> None:
    toolkits = sorted(load("cuda.toml")["cuda"], key=lambda t: Version(t["version"]))
    for os_key in ("min_driver_linux", "min_driver_windows"):
        floors = [(t["version"], t[os_key]) for t in toolkits if os_key in t]
        for _, driver in floors:
            assert DRIVER.match(driver), driver
        drivers = [Version(driver) for _, driver in floors]
        assert drivers == sorted(drivers), f"{os_key} falls somewhere: {floors}"


def test_cuda_covers_every_toolkit_pytorch_built_against() -> None:
    versions = {t["version"] for t in load("cuda.toml")["cuda"]}
    wanted = "9.2 10.0 10.1 10.2 11.0 11.1 11.3 11.5 11.6 11.7 11.8 12.1 12.4 12.6 12.8 12.9 13.0"
    assert set(wanted.split()) <= versions


def test_minor_compat_floor_is_below_every_toolkit_floor_of_its_major() -> None:
    data = load("cuda.toml")
    compat = {entry["major"]: entry for entry in data["minor_compat"]}
    assert set(compat) == {11, 12, 13}
    for toolkit in data["cuda"]:
        version = Version(toolkit["version"])
        # The x.0 release of a major may ship with an older driver than the later floor
        # (NVIDIA's footnote for 11.0; 12.0 GA on Windows predates 528.33).
        if version.major not in compat or version.minor == 0:
            continue
        major = version.major
        for os_key in ("min_driver_linux", "min_driver_windows"):
            if os_key in toolkit and os_key in compat[major]:
                assert Version(compat[major][os_key]) <= Version(toolkit[os_key]), toolkit


# -- wheels, changes, advisories, blockers -------------------------------------------------


def test_first_wheels_are_valid_and_never_fall_for_a_newer_python() -> None:
    by_package: dict[str, list[tuple[Version, Version]]] = {}
    for entry in load("wheels.toml")["first_wheel"]:
        assert entry["package"] == canonicalize_name(entry["package"])
        assert entry["python"] in PYTHONS
        by_package.setdefault(entry["package"], []).append(
            (Version(entry["python"]), Version(entry["version"]))
        )
    assert {"numpy", "scipy", "pandas", "scikit-learn", "tokenizers"} <= set(by_package)
    for package, rows in by_package.items():
        pythons = [python for python, _ in rows]
        assert len(pythons) == len(set(pythons)), f"{package}: duplicate python"
        versions = [version for _, version in sorted(rows)]
        assert versions == sorted(versions), f"{package}: {rows}"


def test_changes_are_dated_by_a_version_and_numerous() -> None:
    changes = load("changes.toml")["change"]
    assert len(changes) >= 15
    for change in changes:
        Version(change["version"])
        assert change["package"] == canonicalize_name(change["package"])
        assert change["summary"].strip()


def test_advisories_parse_and_exclude_their_fixed_version() -> None:
    advisories = load("advisories.toml")["advisory"]
    ids = [entry["id"] for entry in advisories]
    assert len(ids) == len(set(ids))
    for entry in advisories:
        affected = SpecifierSet(entry["affected"])
        assert re.match(r"^(CVE-\d{4}-\d+|GHSA-[\w-]+)$", entry["id"]), entry["id"]
        if "fixed" in entry:
            assert not affected.contains(entry["fixed"], prereleases=True), entry["id"]


def test_blockers_name_valid_kinds_and_other_successors() -> None:
    blockers = load("blockers.toml")["blocker"]
    packages = [canonicalize_name(b["package"]) for b in blockers]
    assert len(packages) == len(set(packages))
    assert "sklearn" in packages
    for blocker in blockers:
        assert blocker["kind"] in {"placeholder", "renamed", "abandoned"}
        if "successor" in blocker:
            assert canonicalize_name(blocker["successor"]) != canonicalize_name(blocker["package"])
        if "last_python" in blocker:
            assert blocker["last_python"] in PYTHONS


# -- scripts/refresh_ecosystem.py against a local index ---------------------------------


@pytest.fixture(scope="module")
def refresh() -> Iterator[ModuleType]:
    """The script, loaded as refresh_data.py loads it (registered in sys.modules)."""
    path = ROOT / "scripts" / "refresh_ecosystem.py"
    spec = importlib.util.spec_from_file_location("refresh_ecosystem_under_test", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def _page(root: Path, project: str, files: list[dict[str, Any]]) -> None:
    folder = root / "simple" / project
    folder.mkdir(parents=True)
    for entry in files:
        entry.setdefault("url", f"../../files/{entry['filename']}")
        entry.setdefault("hashes", {})
    body = {"meta": {"api-version": "1.1"}, "name": project, "files": files}
    (folder / "index.json").write_text(json.dumps(body), encoding="utf-8")


def _metadata(root: Path, filename: str, name: str, version: str, *lines: str) -> None:
    folder = root / "files"
    folder.mkdir(exist_ok=True)
    text = "\n".join(["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}", *lines, ""])
    (folder / f"{filename}.metadata").write_text(text, encoding="utf-8")


@pytest.fixture
def index_tree(tmp_path: Path) -> Path:
    """A small index: one package with tricky wheel tags, transformers, two placeholders."""
    root = tmp_path / "index"
    manylinux = "manylinux_2_17_x86_64.manylinux2014_x86_64"
    _page(
        root,
        "demo",
        [
            {"filename": f"demo-1.0-cp38-cp38-{manylinux}.whl"},
            {"filename": f"demo-1.1-cp39-cp39-{manylinux}.whl"},
            {"filename": f"demo-1.2-cp310-cp310-{manylinux}.whl", "yanked": "broken"},
            {"filename": "demo-1.2-cp310-cp310-win_amd64.whl"},
            {"filename": f"demo-1.3-cp310-cp310-{manylinux}.whl"},
            {"filename": f"demo-1.4rc1-cp311-cp311-{manylinux}.whl"},
            {"filename": "demo-1.4-cp311-cp311-musllinux_1_1_x86_64.whl"},
            {"filename": f"demo-1.5-cp313-cp313t-{manylinux}.whl"},
            {"filename": f"demo-2.0-cp311-abi3-{manylinux}.whl", "requires-python": ">=3.11"},
            {"filename": "demo-2.0.tar.gz"},
        ],
    )
    tf = []
    for version, hub in (("4.10.0", ">=0.0.12"), ("4.12.3", "<1.0,>=0.1.0")):
        filename = f"transformers-{version}-py3-none-any.whl"
        tf.append({"filename": filename, "requires-python": ">=3.6.0"})
        _metadata(
            root,
            filename,
            "transformers",
            version,
            "Requires-Python: >=3.6.0",
            f"Requires-Dist: huggingface-hub ({hub})",
            "Requires-Dist: torch (>=1.0) ; extra == 'torch'",
        )
    _page(root, "transformers", tf)
    _page(root, "sklearn", [{"filename": "sklearn-0.0.post12.tar.gz"}])
    _page(
        root,
        "oldpkg",
        [{"filename": f"oldpkg-1.0-cp38-cp38-{manylinux}.whl"},
         {"filename": f"oldpkg-1.1-cp312-cp312-{manylinux}.whl"}],
    )  # fmt: skip
    return root


@pytest.fixture
def server(index_tree: Path) -> Iterator[IndexServer]:
    with IndexServer(index_tree, wheel_padding=64 * 1024) as running:
        yield running


def test_first_wheels_follow_tags_yanks_prereleases_and_requires_python(
    refresh: ModuleType, server: IndexServer
) -> None:
    reader = refresh.IndexReader(session=requests.Session(), index_url=server.simple_url)
    found = {f.python: str(f.version) for f in refresh.first_wheels(reader, ["demo"])}
    # 3.10: 1.2 is yanked on Linux (its Windows wheel does not count); 3.11: the rc and the
    # musllinux-only release do not count, the cp311-abi3 wheel of 2.0 does; 3.13: the
    # free-threaded cp313t wheel serves another interpreter; abi3 covers 3.12 to 3.14.
    assert found == {
        "3.8": "1.0",
        "3.9": "1.1",
        "3.10": "1.3",
        "3.11": "2.0",
        "3.12": "2.0",
        "3.13": "2.0",
        "3.14": "2.0",
    }


def test_rendered_wheels_file_reads_back(refresh: ModuleType, server: IndexServer) -> None:
    reader = refresh.IndexReader(session=requests.Session(), index_url=server.simple_url)
    text = refresh.render_wheels(refresh.first_wheels(reader, ["demo"], ["3.8", "3.11"]))
    rows = tomllib.loads(text)["first_wheel"]
    assert [(r["package"], r["python"], r["version"]) for r in rows] == [
        ("demo", "3.8", "1.0"),
        ("demo", "3.11", "2.0"),
    ]
    assert all(r["source"] for r in rows)


def test_declared_ranges_come_from_wheel_metadata_by_range_reads(
    refresh: ModuleType, server: IndexServer
) -> None:
    reader = refresh.IndexReader(session=requests.Session(), index_url=server.simple_url)
    declared = refresh.declared_ranges(reader, "4.12.3")
    assert SpecifierSet(declared["huggingface-hub"]) == SpecifierSet(">=0.1.0,<1.0")
    assert SpecifierSet(declared["torch"]) == SpecifierSet(">=1.0")
    assert SpecifierSet(declared["python"]) == SpecifierSet(">=3.6.0")
    wheel_requests = server.requests_to("/files/transformers-4.12.3-py3-none-any.whl")
    assert wheel_requests and all(r.range for r in wheel_requests if r.status == 206)
    whole = len(server.wheel("transformers-4.12.3-py3-none-any.whl") or b"")
    assert sum(r.sent for r in wheel_requests) < whole, "the wheel was downloaded whole"


def test_member_reads_one_file_of_a_wheel(refresh: ModuleType, server: IndexServer) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("pkg/big.bin", b"\0" * 300_000, zipfile.ZIP_STORED)
        archive.writestr("pkg/utils.py", b"FLOOR = '2.1'\n", zipfile.ZIP_DEFLATED)
    body = buffer.getvalue()
    server.add("/files/pkg-1.0-py3-none-any.whl", body)
    reader = refresh.IndexReader(session=requests.Session(), index_url=server.simple_url)
    entry = {"url": f"{server.url}/files/pkg-1.0-py3-none-any.whl", "size": len(body)}
    assert reader.member(entry, "pkg/utils.py") == b"FLOOR = '2.1'\n"
    assert server.bytes_sent() < len(body) // 2


def _write_data(folder: Path, *, demo_38: str, hub_rule: str, last_python: str) -> Path:
    folder.mkdir()
    (folder / "wheels.toml").write_text(
        f'[[first_wheel]]\npackage = "demo"\npython = "3.8"\nversion = "{demo_38}"\n'
        'source = "index metadata"\n',
        encoding="utf-8",
    )
    (folder / "ecosystem.toml").write_text(
        "[[rule]]\n"
        'id = "hub"\nwhen = "transformers>=4.12.3,<4.22"\n'
        f'require = "huggingface-hub{hub_rule}"\nkind = "pairing"\nseverity = "error"\n'
        'reason = "r"\nsource = "index metadata: transformers 4.12.3 wheel METADATA"\n'
        "[[rule]]\n"
        'id = "hand"\nwhen = "transformers>=4.10,<4.12.3"\nrequire = "huggingface-hub<1.0"\n'
        'kind = "import-failure"\nseverity = "error"\nreason = "r"\nsource = "wheel: x.py"\n',
        encoding="utf-8",
    )
    (folder / "blockers.toml").write_text(
        '[[blocker]]\npackage = "sklearn"\nkind = "placeholder"\nreason = "r"\nsource = "s"\n'
        f'[[blocker]]\npackage = "oldpkg"\nkind = "abandoned"\nlast_python = "{last_python}"\n'
        'reason = "r"\nsource = "s"\n'
        '[[blocker]]\npackage = "cv2"\nkind = "renamed"\nsuccessor = "opencv-python"\n'
        'reason = "r"\nsource = "s"\n',
        encoding="utf-8",
    )
    return folder


def test_check_reports_each_disagreement_once(
    refresh: ModuleType, server: IndexServer, tmp_path: Path
) -> None:
    data = _write_data(tmp_path / "data", demo_38="0.9", hub_rule="<1.0", last_python="3.8")
    problems = refresh.check(
        index_url=server.simple_url, data_dir=data, transformers_sample=["4.12.3"]
    )
    # One wrong floor, six interpreters without a recorded floor, one rule that restates
    # the declared range wrongly, one blocker that gained wheels. The hand-written rule, the
    # placeholder and the missing project (a renamed import name) agree with the index.
    assert len(problems) == 9, problems
    assert "wheels.toml: demo cp3.8: recorded 0.9, index 1.0" in problems
    assert "wheels.toml: demo cp3.9: missing, index says 1.1" in problems
    assert sum("missing" in p for p in problems) == 6
    assert [p for p in problems if "rule hub" in p] == [
        "ecosystem.toml: rule hub: transformers 4.12.3 declares huggingface-hub<1.0,>=0.1.0, "
        "rule says huggingface-hub<1.0"
    ]
    assert "blockers.toml: oldpkg: has cp3.12 wheels, recorded last_python 3.8" in problems


def test_check_is_silent_when_the_data_agrees(
    refresh: ModuleType, server: IndexServer, tmp_path: Path
) -> None:
    data = _write_data(
        tmp_path / "data", demo_38="1.0", hub_rule=">=0.1.0,<1.0", last_python="3.12"
    )
    reader = refresh.IndexReader(session=requests.Session(), index_url=server.simple_url)
    floors = refresh.first_wheels(reader, ["demo"])
    (data / "wheels.toml").write_text(refresh.render_wheels(floors), "utf-8")
    assert (
        refresh.check(index_url=server.simple_url, data_dir=data, transformers_sample=["4.12.3"])
        == []
    )


@pytest.mark.online
def test_shipped_data_agrees_with_the_live_index(refresh: ModuleType) -> None:
    assert refresh.check() == []
