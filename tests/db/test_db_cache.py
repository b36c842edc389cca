"""The on-disk cache of the database files' parsed TOML: keyed by content, versioned, safe."""

from __future__ import annotations

import marshal
import shutil
from pathlib import Path

import pytest

from torchresolve.db import load_database
from torchresolve.db._cache import FORMAT, documents_key
from torchresolve.db.loader import DATA_FILES
from torchresolve.errors import DataError

GOOD = Path(__file__).parent / "fixtures" / "good"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A writable copy of the good fixture database."""
    target = tmp_path / "data"
    shutil.copytree(GOOD, target)
    return target


def _entries(cache: Path) -> list[Path]:
    return sorted((cache / "db").glob("*.marshal"))


def _key(folder: Path) -> str:
    return documents_key(
        {
            name: (folder / name).read_bytes() if (folder / name).is_file() else None
            for name in DATA_FILES
        }
    )


def test_first_load_stores_an_entry_named_by_the_files_sha256(
    data_dir: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    load_database(data_dir, cache_dir=cache)
    assert [p.name for p in _entries(cache)] == [f"{_key(data_dir)}.marshal"]


def test_a_stored_entry_gives_the_same_database_as_the_files(
    data_dir: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    first = load_database(data_dir, cache_dir=cache)
    again = load_database(data_dir, cache_dir=tmp_path / "other")  # parsed from the files
    (tmp_path / "copy").mkdir()
    shutil.copytree(data_dir, tmp_path / "copy" / "data")
    from_cache = load_database(tmp_path / "copy" / "data", cache_dir=cache)
    assert from_cache == first == again
    assert from_cache.torch_releases[0].released == first.torch_releases[0].released


def test_the_stored_documents_are_read_instead_of_the_toml(data_dir: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    load_database(data_dir, cache_dir=cache)
    [entry] = _entries(cache)
    header = entry.read_bytes()[:6]
    key, documents = marshal.loads(entry.read_bytes()[6:])
    name = documents["gpus.toml"]["gpu"][0]["name"]
    documents["gpus.toml"]["gpu"][0]["name"] = "Stored Name"
    entry.write_bytes(header + marshal.dumps((key, documents)))
    shutil.copytree(data_dir, tmp_path / "same")  # same bytes, new folder: no in-process hit
    db = load_database(tmp_path / "same", cache_dir=cache)
    assert db.gpus[0].name == "Stored Name" != name


def test_an_edited_file_gets_a_new_entry(data_dir: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    load_database(data_dir, cache_dir=cache)
    torch = data_dir / "torch.toml"
    torch.write_text(torch.read_text().replace("released = 2020-04-21", "released = 2020-04-22"))
    shutil.copytree(data_dir, tmp_path / "edited")
    db = load_database(tmp_path / "edited", cache_dir=cache)
    assert str(db.torch_releases[0].released) == "2020-04-22"
    assert len(_entries(cache)) == 2


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"garbage",
        b"TRDB" + (FORMAT + 1).to_bytes(2, "big") + marshal.dumps(("k", {})),
        b"TRDB" + FORMAT.to_bytes(2, "big") + b"\xff\x00truncated",
        b"TRDB" + FORMAT.to_bytes(2, "big") + marshal.dumps(("another key", {})),
        b"TRDB" + FORMAT.to_bytes(2, "big") + marshal.dumps([1, 2]),
    ],
    ids=["empty", "garbage", "other-format", "truncated", "other-key", "wrong-shape"],
)
def test_a_damaged_or_foreign_entry_is_replaced_and_the_files_parsed(
    data_dir: Path, tmp_path: Path, payload: bytes
) -> None:
    cache = tmp_path / "cache"
    expected = load_database(data_dir, cache_dir=False)
    entry = cache / "db" / f"{_key(data_dir)}.marshal"
    entry.parent.mkdir(parents=True)
    entry.write_bytes(payload)
    assert load_database(data_dir, cache_dir=cache) == expected
    assert entry.read_bytes() != payload  # discarded, then stored again from the files
    shutil.copytree(data_dir, tmp_path / "again")
    assert load_database(tmp_path / "again", cache_dir=cache) == expected


def test_an_unwritable_cache_is_skipped(data_dir: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    assert load_database(data_dir, cache_dir=blocker) == load_database(data_dir, cache_dir=False)


def test_bad_toml_is_still_reported_and_nothing_is_stored(data_dir: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    (data_dir / "cuda.toml").write_text("this is = = not toml\n")
    with pytest.raises(DataError, match="not valid TOML"):
        load_database(data_dir, cache_dir=cache)
    assert _entries(cache) == []
