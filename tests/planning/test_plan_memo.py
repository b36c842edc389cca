"""Stored plans: the same plan asked again is answered from the cache, and only then.

Real local index servers, a real cache folder and the trimmed curated database; a plan
answered from the cache is recognised by the client reading no page at all (and the servers
seeing no request).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from packaging.version import Version

from torchresolve.db import load_database
from torchresolve.planning.memo import PlanMemo, decode_proposal, encode_proposal
from torchresolve.planning.upgrade import plan_upgrade
from torchresolve.sources import read_dependencies
from torchresolve.target import Target, parse_arch
from torchresolve.writers.report import (
    render_constraints,
    render_json,
    render_markdown,
    render_text,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from _indexserver import IndexServer
    from torchresolve.db import Database
    from torchresolve.index import IndexClient
    from torchresolve.planning.model import Proposal

HERE = Path(__file__).resolve().parent.parent / "fixtures" / "upgrade"
DATA = HERE / "data"
H100 = Target(python=Version("3.11"), gpu_name="H100", arch=parse_arch("sm_90"))
CPU = Target(python=Version("3.11"), cuda="cpu")


@pytest.fixture
def example(tmp_path: Path) -> Path:
    copy = tmp_path / "project" / "requirements.txt"
    copy.parent.mkdir()
    shutil.copyfile(HERE / "requirements.txt", copy)
    return copy


@pytest.fixture
def clients(
    make_index_client: Callable[..., IndexClient],
    index_server: IndexServer,
    index_server_factory: Callable[..., IndexServer],
    isolated_pip_env: None,
) -> Callable[..., IndexClient]:
    """New clients on the same cache, servers and (fresh) log each time."""
    extra = index_server_factory(HERE / "index")

    def make(**options: Any) -> IndexClient:
        index_server.clear_log()
        extra.clear_log()
        options.setdefault("extra_index_urls", (extra.simple_url,))
        return make_index_client(**options)

    return make


def _plan(
    client: IndexClient,
    path: Path,
    *,
    memo: PlanMemo | None,
    target: Target = H100,
    db: Database | None = None,
    **options: Any,
) -> Proposal:
    return plan_upgrade(
        read_dependencies(path),
        target,
        client=client,
        db=load_database(DATA) if db is None else db,
        memo=memo,
        **options,
    )


def _renders(proposal: Proposal) -> tuple[str, ...]:
    return (
        render_json(proposal),
        render_text(proposal),
        render_markdown(proposal),
        render_constraints(proposal, hashes=True),
    )


@pytest.mark.parametrize("target", [H100, CPU], ids=["h100", "cpu"])
def test_a_proposal_survives_the_round_trip(
    clients: Callable[..., IndexClient], example: Path, target: Target
) -> None:
    proposal = _plan(clients(), example, memo=None, target=target)
    again = decode_proposal(encode_proposal(proposal))
    assert again == proposal
    assert again.rewrites == proposal.rewrites
    assert _renders(again) == _renders(proposal)


def test_the_same_plan_is_answered_without_reading_the_index(
    clients: Callable[..., IndexClient], example: Path, tmp_path: Path
) -> None:
    memo = PlanMemo(tmp_path / "cache")
    first_client = clients()
    first = _plan(first_client, example, memo=memo)
    assert first_client.page_sources  # a real resolution read pages
    client = clients()
    again = _plan(client, example, memo=memo)
    assert again == first
    assert _renders(again) == _renders(first)
    assert client.page_sources == {}
    assert client.stats.requests == 0


def _variants(example: Path, tmp_path: Path) -> dict[str, dict[str, Any]]:
    changed = tmp_path / "changed" / "requirements.txt"
    changed.parent.mkdir()
    changed.write_text(example.read_text(encoding="utf-8") + "# a comment\n", encoding="utf-8")
    data = tmp_path / "data"
    shutil.copytree(DATA, data)
    with (data / "changes.toml").open("a", encoding="utf-8") as handle:
        handle.write("\n# an edit\n")
    return {
        "input text": {"path": changed},
        "target": {"target": CPU},
        "strategy": {"strategy": "latest"},
        "torch choice": {"torch": "latest"},
        "database": {"db": load_database(data)},
    }


@pytest.mark.parametrize("change", ["input text", "target", "strategy", "torch choice", "database"])
def test_any_other_input_is_planned_anew(
    clients: Callable[..., IndexClient], example: Path, tmp_path: Path, change: str
) -> None:
    memo = PlanMemo(tmp_path / "cache")
    _plan(clients(), example, memo=memo)
    options = _variants(example, tmp_path)[change]
    path = options.pop("path", example)
    fresh = _plan(clients(), path, memo=None, **options)
    client = clients()
    answered = _plan(client, path, memo=memo, **options)
    assert client.page_sources  # resolved, not answered from the stored plan
    assert answered == fresh


def test_a_stale_page_is_planned_anew(
    clients: Callable[..., IndexClient],
    example: Path,
    tmp_path: Path,
    index_server: IndexServer,
) -> None:
    memo = PlanMemo(tmp_path / "cache")
    first = _plan(clients(), example, memo=memo)
    stale = clients(page_ttl=0.0)
    assert _plan(stale, example, memo=memo) == first
    assert index_server.log  # pages were asked again (revalidated)
    assert stale.page_sources


def test_a_changed_source_is_planned_anew(
    clients: Callable[..., IndexClient], example: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "wheels"
    folder.mkdir()
    (folder / "tqdm-99.0-py3-none-any.whl").write_bytes(b"not read")
    memo = PlanMemo(tmp_path / "cache")
    links = {"find_links": (str(folder),)}
    _plan(clients(**links), example, memo=memo)
    warm = clients(**links)
    _plan(warm, example, memo=memo)
    assert warm.page_sources == {}
    (folder / "tqdm-99.1-py3-none-any.whl").write_bytes(b"not read either")
    changed = clients(**links)
    _plan(changed, example, memo=memo)
    assert changed.page_sources


@pytest.mark.parametrize("damage", ["", "{", '{"format": 1}', "[]"])
def test_a_damaged_entry_is_removed_and_planned_anew(
    clients: Callable[..., IndexClient], example: Path, tmp_path: Path, damage: str
) -> None:
    memo = PlanMemo(tmp_path / "cache")
    first = _plan(clients(), example, memo=memo)
    (entry,) = (tmp_path / "cache" / "plans").rglob("*.json")
    entry.write_text(damage, encoding="utf-8")
    client = clients()
    assert _plan(client, example, memo=memo) == first
    assert client.page_sources
    # Stored again, readable: the next run is answered.
    last = clients()
    assert _plan(last, example, memo=memo) == first
    assert last.page_sources == {}
