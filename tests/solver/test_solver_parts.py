"""The solver's pure parts: identifiers, requirement matching, wishes, markers, explanations."""

from __future__ import annotations

from datetime import datetime, timezone

from packaging.markers import Marker
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version
from resolvelib.structs import RequirementInformation

from torchresolve.errors import UnsatisfiableError
from torchresolve.solver import Candidate, Requirement, Wish, identify
from torchresolve.solver.explain import explain_impossible
from torchresolve.solver.factory import Factory, _Project, marker_environment
from torchresolve.target import Target

NUMPY = canonicalize_name("numpy")
TORCH = canonicalize_name("torch")


def test_identifier_separates_extras_from_the_bare_project() -> None:
    assert identify("Hugging_Face-Hub") == "hugging-face-hub"
    assert identify("transformers", frozenset({"torch", "sentencepiece"})) == (
        "transformers[sentencepiece,torch]"
    )


def test_exact_requirement_compares_local_labels() -> None:
    exact = Requirement(name=TORCH, exact=Version("2.0.0+cu118"))
    assert exact.accepts(Version("2.0.0+cu118"))
    assert not exact.accepts(Version("2.0.0"))
    assert not exact.accepts(Version("2.0.0+cu117"))
    loose = Requirement(name=TORCH, specifier=SpecifierSet("==2.0.0"))
    assert loose.accepts(Version("2.0.0+cu118"))  # PEP 440: == ignores the local label


def test_candidates_are_equal_by_name_version_and_extras_only() -> None:
    one = Candidate(name=NUMPY, version=Version("1.24.2"), index_url="x")
    two = Candidate(name=NUMPY, version=Version("1.24.2"))
    assert one == two
    assert hash(one) == hash(two)
    assert one.with_extras(frozenset({"dev"})) != two


def test_wish_knows_an_exact_pin_but_not_a_wildcard() -> None:
    assert Wish(name=NUMPY, specifier=SpecifierSet("==1.18.5")).pinned == Version("1.18.5")
    assert Wish(name=NUMPY, specifier=SpecifierSet("==1.18.*")).pinned is None
    assert Wish(name=NUMPY, specifier=SpecifierSet(">=1.18")).pinned is None


def test_marker_environment_describes_the_target_not_this_machine() -> None:
    env = marker_environment(Target(python=Version("3.8"), platform="windows"))
    assert Marker('python_version < "3.9" and sys_platform == "win32"').evaluate(env)
    linux = marker_environment(Target(python=Version("3.12")))
    assert Marker('platform_machine == "x86_64" and python_version >= "3.12"').evaluate(linux)


def test_era_order_prefers_the_newest_release_before_the_era_then_later_ones() -> None:
    project = _Project()
    stamps = {"1.0": 2019, "1.1": 2020, "1.2": 2021, "1.3": 2022}
    for text, year in stamps.items():
        project.released[Version(text)] = datetime(year, 6, 1, tzinfo=timezone.utc)
    versions = sorted(project.released)
    era = datetime(2020, 12, 31, tzinfo=timezone.utc)
    order = Factory._era_order(project, versions, era)
    assert [str(v) for v in order] == ["1.1", "1.0", "1.2", "1.3"]
    assert Factory._era_order(project, versions, None) == list(reversed(versions))


def test_impossible_resolution_is_explained_with_the_chain_and_a_hint() -> None:
    parent = Candidate(name=canonicalize_name("needs-numpy2"), version=Version("1.0"))
    torch = Candidate(name=TORCH, version=Version("2.0.0+cu118"))
    causes = [
        RequirementInformation(Requirement(name=NUMPY, specifier=SpecifierSet(">=2")), parent),
        RequirementInformation(
            Requirement(
                name=NUMPY, specifier=SpecifierSet("<2"), origin="curated", note="numpy 1.x ABI"
            ),
            torch,
        ),
        RequirementInformation(Requirement(name=parent.name, origin="input"), None),
    ]
    error = explain_impossible(
        causes,
        requested_by={parent.identifier: None},
        rejected={NUMPY: {Version("2.0.0"): "no wheel for cp311"}},
    )
    assert isinstance(error, UnsatisfiableError)
    text = str(error)
    assert "needs-numpy2 1.0 requires numpy>=2" in text
    assert "torch 2.0.0+cu118 requires numpy<2 (numpy 1.x ABI)" in text
    assert "the input file requires needs-numpy2" in text
    assert error.hint.startswith("relax needs-numpy2")
