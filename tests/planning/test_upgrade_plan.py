"""The upgrade planner against recorded index data (a real local HTTP server) and a trimmed db.

The expectations are computed from the fixtures (the db's builds, the recorded files), not
hard-coded, so each test states the property it checks.
"""

from __future__ import annotations

import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from torchresolve.db import load_database
from torchresolve.errors import UnsatisfiableError
from torchresolve.index import supports
from torchresolve.planning.stack import builds_for
from torchresolve.planning.upgrade import order_builds, plan_upgrade, torch_choice
from torchresolve.sources import read_dependencies
from torchresolve.target import GpuArch, Target, parse_arch

if TYPE_CHECKING:
    from collections.abc import Callable

    from _indexserver import IndexServer
    from torchresolve.db import Database
    from torchresolve.index import IndexClient
    from torchresolve.planning.model import Proposal

HERE = Path(__file__).resolve().parent.parent / "fixtures" / "upgrade"
DATA = HERE / "data"
EXAMPLE = HERE / "requirements.txt"
PY311 = Version("3.11")


@pytest.fixture
def db() -> Database:
    return load_database(DATA)


@pytest.fixture
def client(
    make_index_client: Callable[..., IndexClient],
    index_server_factory: Callable[..., IndexServer],
    isolated_pip_env: None,
) -> IndexClient:
    """The shared recorded index plus this seam's handcrafted projects as an extra index."""
    extra = index_server_factory(HERE / "index")
    return make_index_client(extra_index_urls=(extra.simple_url,))


def _plan(
    client: IndexClient, db: Database, target: Target, path: Path = EXAMPLE, **kw: Any
) -> Proposal:
    return plan_upgrade(read_dependencies(path), target, client=client, db=db, **kw)


def _pins(proposal: Proposal) -> dict[str, Version]:
    return {str(p.name): p.version for p in proposal.pins.pins}


def _assert_installable(client: IndexClient, proposal: Proposal) -> None:
    """Every pin has a file for CPython 3.11 on Linux x86_64 on the index (public version)."""
    for pin in proposal.pins.pins:
        public = Version(pin.version.public)
        files = [f for f in client.files(pin.name) if f.version == public]
        assert any(f.kind == "wheel" and supports(f, PY311, "linux_x86_64") for f in files), (
            f"{pin.name} {pin.version} has no cp311 wheel"
        )


def _assert_family_exact(db: Database, proposal: Proposal) -> None:
    pins = _pins(proposal)
    torch = pins["torch"]
    release = db.torch(torch)
    assert release is not None
    vision = pins["torchvision"]
    assert Version(vision.public) == release.torchvision
    assert vision.local == torch.local  # same variant, same index


def _build_of(db: Database, target: Target, proposal: Proposal) -> Any:
    torch = _pins(proposal)["torch"]
    matches = [b for b in builds_for(db, target) if b.torch_version == torch]
    assert len(matches) == 1
    return matches[0]


def _lowest_with_family_wheels(db: Database, client: IndexClient, target: Target) -> Version:
    """Independent expectation: the lowest usable release whose torchvision has a cp311 wheel."""
    vision = [
        f.version
        for f in client.files("torchvision")
        if f.kind == "wheel" and supports(f, PY311, "linux_x86_64")
    ]
    for build in order_builds(builds_for(db, target), "minimal", None):
        if build.release.torchvision in vision:
            return build.release.version
    raise AssertionError("no release fits")


def _h100(db: Database) -> Target:
    gpu = db.gpu("H100")
    return Target(python=PY311, gpu_name=gpu.name, arch=gpu.arch)


def test_h100_gets_a_build_with_sm90_kernels_paired_and_numpy_abi(
    client: IndexClient, db: Database
) -> None:
    target = _h100(db)
    proposal = _plan(client, db, target)
    build = _build_of(db, target, proposal)
    assert build.variant.kernels_for(GpuArch(9, 0)) == "sass"
    assert build.release.version == _lowest_with_family_wheels(db, client, target)
    _assert_family_exact(db, proposal)
    _assert_installable(client, proposal)
    assert _pins(proposal)["numpy"] in SpecifierSet("<2")  # torch < 2.3: numpy 1.x C API
    if build.index_url is not None:
        assert build.index_url in proposal.index_urls
        assert _pins(proposal)["torch"].local == build.variant.name
    torch_change = next(c for c in proposal.changes if c.name == "torch")
    assert "3.11" in torch_change.reason
    assert proposal.complete


def test_gtx1080_skips_a_release_whose_torchvision_has_no_cp311_wheel(
    client: IndexClient, db: Database
) -> None:
    target = Target(python=PY311, arch=parse_arch("sm_61"))
    proposal = _plan(client, db, target)
    build = _build_of(db, target, proposal)
    assert build.variant.kernels_for(GpuArch(6, 1)) is not None
    # torch 1.13.1 has a cp311 wheel in the fixtures; its torchvision does not.
    assert any(
        f.version == Version("1.13.1") and supports(f, PY311, "linux_x86_64")
        for f in client.files("torch")
    )
    assert build.release.version == _lowest_with_family_wheels(db, client, target)
    _assert_family_exact(db, proposal)
    _assert_installable(client, proposal)
    reason = next(c.reason for c in proposal.changes if c.name == "torch")
    assert "1.13.1 skipped: torchvision" in reason


def test_driver_470_stays_on_cuda_11(client: IndexClient, db: Database) -> None:
    target = Target(python=PY311, driver=Version("470.57"))
    proposal = _plan(client, db, target)
    build = _build_of(db, target, proposal)
    assert build.variant.cuda is not None
    assert build.variant.cuda.major == 11
    floor = db.min_driver(build.variant.cuda).required
    assert floor is not None
    assert floor <= Version("470.57")
    _assert_installable(client, proposal)


def test_cpu_target_gets_the_cpu_build_without_cuda_runtime(
    client: IndexClient, db: Database
) -> None:
    target = Target(python=PY311, cuda="cpu")
    proposal = _plan(client, db, target)
    build = _build_of(db, target, proposal)
    assert build.variant.cuda is None
    assert proposal.variant == build.variant.name
    assert not [name for name in _pins(proposal) if name.startswith("nvidia-")]
    _assert_family_exact(db, proposal)


def test_latest_takes_the_newest_usable_release(client: IndexClient, db: Database) -> None:
    target = _h100(db)
    proposal = _plan(client, db, target, torch="latest")
    usable = [b.release.version for b in builds_for(db, target) if b.usable]
    assert Version(_pins(proposal)["torch"].public) == max(usable)
    _assert_family_exact(db, proposal)


def test_explicit_torch_version_is_honoured(client: IndexClient, db: Database) -> None:
    target = _h100(db)
    newest = max(b.release.version for b in builds_for(db, target) if b.usable)
    proposal = _plan(client, db, target, torch=torch_choice(str(newest)))
    assert Version(_pins(proposal)["torch"].public) == newest


def test_unpinned_range_prefers_the_newest_release_of_the_torch_era(
    client: IndexClient, db: Database
) -> None:
    target = _h100(db)
    proposal = _plan(client, db, target)
    release = db.torch(_pins(proposal)["torch"])
    assert release is not None
    era = datetime(
        release.released.year,
        release.released.month,
        release.released.day,
        23,
        59,
        tzinfo=timezone.utc,
    )
    spec = SpecifierSet(">=4.46,<5")
    before = [
        f.version
        for f in client.files("tqdm")
        if f.upload_time is not None and f.upload_time <= era and f.version in spec
    ]
    assert _pins(proposal)["tqdm"] == max(before)


def test_a_pin_that_still_fits_is_kept(client: IndexClient, db: Database, tmp_path: Path) -> None:
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("tqdm==4.46.1\nnumpy\n", encoding="utf-8")
    proposal = _plan(client, db, Target(python=PY311, cuda="cpu"), reqs)
    change = next(c for c in proposal.changes if c.name == "tqdm")
    assert change.new == Version("4.46.1")
    assert change.specifier is None
    assert change.reason.startswith("kept")


def test_an_unsupported_pin_moves_up_to_the_closest_version_with_a_wheel(
    client: IndexClient, db: Database
) -> None:
    proposal = _plan(client, db, Target(python=PY311, cuda="cpu"))
    numpy = next(c for c in proposal.changes if c.name == "numpy")
    wheels = sorted(
        f.version
        for f in client.files("numpy")
        if f.kind == "wheel"
        and supports(f, PY311, "linux_x86_64")
        and f.version > Version("1.18.5")
    )
    assert numpy.new == wheels[0]
    assert "no wheel for cp311" in numpy.reason
    assert numpy.specifier == SpecifierSet(f"=={wheels[0]}")


def test_an_unusable_range_moves_to_the_closest_version_above_it(
    client: IndexClient, db: Database, tmp_path: Path
) -> None:
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("numpy>=1.18,<1.19\n", encoding="utf-8")
    proposal = _plan(client, db, Target(python=PY311, cuda="cpu"), reqs)
    numpy = next(c for c in proposal.changes if c.name == "numpy")
    wheels = sorted(
        f.version
        for f in client.files("numpy")
        if f.kind == "wheel" and supports(f, PY311, "linux_x86_64") and f.version >= Version("1.19")
    )
    # The lowest release above the range that has a wheel, not the newest of the torch era.
    assert numpy.new == wheels[0]
    assert numpy.reason.startswith("nothing in <1.19,>=1.18 fits")


def test_latest_strategy_still_respects_the_numpy_abi(client: IndexClient, db: Database) -> None:
    proposal = _plan(client, db, _h100(db), strategy="latest")
    wheels = [f.version for f in client.files("numpy") if supports(f, PY311, "linux_x86_64")]
    assert max(wheels).major == 2  # the fixtures do offer numpy 2
    assert _pins(proposal)["numpy"].major == 1


def test_packages_without_any_installable_release_become_blockers(
    client: IndexClient, db: Database, tmp_path: Path
) -> None:
    reqs = tmp_path / "requirements.txt"
    reqs.write_text(
        "tqdm==4.46.1\nmxnet==1.6.0\nsklearn==0.0\nno-such-project-here==1.0\noldpure\n",
        encoding="utf-8",
    )
    proposal = _plan(client, db, Target(python=PY311, cuda="cpu"), reqs)
    blocked = {b.name: b for b in proposal.blockers}
    assert set(blocked) == {"mxnet", "sklearn", "no-such-project-here", "oldpure"}
    assert "--allow-sdist" in blocked[canonicalize_name("oldpure")].way_out
    assert "3.8" in blocked[canonicalize_name("mxnet")].way_out  # the last Python with wheels
    assert "scikit-learn" in blocked[canonicalize_name("sklearn")].way_out
    assert "not on the index" in blocked[canonicalize_name("no-such-project-here")].reason
    assert _pins(proposal)["tqdm"] == Version("4.46.1")
    assert not proposal.complete


def test_conflict_is_explained_with_the_chain(
    client: IndexClient, db: Database, tmp_path: Path
) -> None:
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("torch\nnumpy\nneeds-numpy2\n", encoding="utf-8")
    with pytest.raises(UnsatisfiableError) as caught:
        _plan(client, db, _h100(db), reqs)
    text = str(caught.value)
    assert "needs-numpy2 1.0 requires numpy>=2" in text
    assert "numpy<2" in text
    assert caught.value.hint


def test_torch_release_without_a_wheel_for_the_target_is_refused_in_words(
    client: IndexClient, db: Database
) -> None:
    with pytest.raises(UnsatisfiableError) as caught:
        _plan(client, db, _h100(db), torch=torch_choice("1.5.0"))
    assert "no wheels for CPython 3.11" in str(caught.value)


def test_behaviour_changes_crossed_are_warned(client: IndexClient, db: Database) -> None:
    proposal = _plan(client, db, _h100(db))
    new = Version(_pins(proposal)["torch"].public)
    crossed = [
        c for c in db.changes if c.package == "torch" and Version("1.5.0") < c.version <= new
    ]
    assert crossed
    for change in crossed:
        assert any(change.summary in w for w in proposal.warnings)


def _db_with_rules(tmp_path: Path, rules: str) -> Database:
    folder = tmp_path / "data"
    shutil.copytree(DATA, folder)
    with (folder / "ecosystem.toml").open("a", encoding="utf-8") as handle:
        handle.write(rules)
    return load_database(folder)


def test_a_curated_python_rule_moves_a_pin_that_fails_on_the_target(
    client: IndexClient, tmp_path: Path
) -> None:
    db = _db_with_rules(
        tmp_path,
        '\n[[rule]]\nid = "tqdm-old-python"\nwhen = "tqdm<4.50"\nrequire = "python<3.10"\n'
        'kind = "python-range"\nseverity = "error"\nreason = "fixture: fails to import on 3.10+"\n'
        'source = "test fixture"\n',
    )
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("tqdm==4.46.1\n", encoding="utf-8")
    proposal = _plan(client, db, Target(python=PY311, cuda="cpu"), reqs)
    change = proposal.changes[0]
    assert change.new not in SpecifierSet("<4.50")
    assert "fails to import on 3.10+" in change.reason


def test_a_curated_rule_on_a_transitive_dependency_is_enforced(
    client: IndexClient, tmp_path: Path
) -> None:
    # requests comes only through torchvision: the rule must still bind it.
    db = _db_with_rules(
        tmp_path,
        '\n[[rule]]\nid = "vision-requests"\nwhen = "torchvision>=0.15"\n'
        'require = "requests>=2.30"\nkind = "runtime-min"\nseverity = "error"\n'
        'reason = "fixture"\nsource = "test fixture"\n',
    )
    plain = _plan(client, load_database(DATA), _h100(db))
    assert _pins(plain)["requests"] < Version("2.30")  # the era choice without the rule
    proposal = _plan(client, db, _h100(db))
    assert _pins(proposal)["requests"] >= Version("2.30")


def test_a_kept_old_pin_gets_dependencies_from_its_own_era(
    client: IndexClient, db: Database, tmp_path: Path
) -> None:
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("oldparent==1.0\n", encoding="utf-8")
    parent = next(f for f in client.files("oldparent") if f.version == Version("1.0"))
    assert parent.upload_time is not None
    children = client.files("child")
    expected = max(
        f.version
        for f in children
        if f.upload_time is not None and f.upload_time <= parent.upload_time
    )
    minimal = _plan(client, db, Target(python=PY311, cuda="cpu"), reqs)
    assert _pins(minimal)["child"] == expected
    assert expected < max(f.version for f in children)
    latest = _plan(client, db, Target(python=PY311, cuda="cpu"), reqs, strategy="latest")
    assert _pins(latest)["child"] == max(f.version for f in children)


def test_allow_sdist_accepts_an_sdist_with_dynamic_metadata_and_says_so(
    client: IndexClient, db: Database, tmp_path: Path
) -> None:
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("oldpure\n", encoding="utf-8")
    proposal = _plan(client, db, Target(python=PY311, cuda="cpu"), reqs, allow_sdist=True)
    assert not proposal.blockers
    assert _pins(proposal)["oldpure"] == Version("0.3")
    assert any("oldpure 0.3: dependencies unknown" in w for w in proposal.warnings)
