"""An on-disk cache of the database files' parsed TOML documents.

Parsing the ~8 TOML files is most of a database load (tomllib is pure Python), and the CLI
loads the database on every run. The documents (plain dicts, lists, strings, numbers and
dates) are stored with :mod:`marshal`, which rebuilds data and never runs code, under
``<cache dir>/db/<key>.marshal``, where the key is the sha256 of the files' names and bytes and
of this format's number. Only the TOML parsing is skipped: every value is still validated and
converted by the loader, so an entry can never hold a database the files would not give.

An entry of another format, damaged, or written for other files is removed and reported as a
miss; writing is atomic (a temporary file renamed into place, the index cache's convention) and
a cache that cannot be written is skipped silently: it only saves time.
"""

from __future__ import annotations

import contextlib
import hashlib
import marshal
import os
import tempfile
from datetime import date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["FORMAT", "documents_key", "read_documents", "write_documents"]

FORMAT: Final = 1
"""The version of the entries; raise it when the stored shape changes."""
_MAGIC: Final = b"TRDB"
_MARSHAL_VERSION: Final = 4
_HEADER: Final = _MAGIC + FORMAT.to_bytes(2, "big")

Documents = dict[str, "dict[str, Any] | None"]
"""File name -> its parsed TOML document (``None``: the optional file is absent)."""


def documents_key(files: Mapping[str, bytes | None]) -> str:
    """The sha256 (hex) naming the entry of ``files`` (name -> bytes, ``None`` when absent)."""
    digest = hashlib.sha256(b"torchresolve-db\0" + str(FORMAT).encode() + b"\0")
    for name in sorted(files):
        body = files[name]
        digest.update(name.encode("utf-8") + b"\0")
        if body is None:
            digest.update(b"-\0")
        else:
            digest.update(str(len(body)).encode() + b"\0" + body)
    return digest.hexdigest()


def _path(root: Path, key: str) -> Path:
    return root / "db" / f"{key}.marshal"


def _encode(value: Any) -> Any:
    # tomllib gives no tuples, so a tuple marks a date or time (marshal cannot store them).
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if isinstance(value, datetime):
        return ("datetime", value.isoformat())
    if isinstance(value, date):
        return ("date", value.isoformat())
    if isinstance(value, time):
        return ("time", value.isoformat())
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if isinstance(value, tuple):
        kind, text = value
        if kind == "datetime":
            return datetime.fromisoformat(text)
        if kind == "date":
            return date.fromisoformat(text)
        if kind == "time":
            return time.fromisoformat(text)
        raise ValueError(f"unknown tagged value {kind!r}")
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise TypeError(f"unexpected stored value of type {type(value).__name__}")


def read_documents(root: Path, key: str, names: tuple[str, ...]) -> Documents | None:
    """The stored documents of entry ``key`` with exactly the files ``names``, or ``None``.

    A damaged entry, one of another format or one stored under another key is removed.
    """
    path = _path(root, key)
    try:
        payload = path.read_bytes()
    except OSError:
        return None
    try:
        if not payload.startswith(_HEADER):
            raise ValueError("not a database entry of this format")
        stored = marshal.loads(memoryview(payload)[len(_HEADER) :])
        if not isinstance(stored, tuple) or len(stored) != 2:
            raise ValueError("wrong shape")
        stored_key, documents = stored
        if stored_key != key or not isinstance(documents, dict):
            raise ValueError("entry of other files")
        if sorted(documents) != sorted(names):
            raise ValueError("entry of other file names")
        decoded: Documents = {}
        for name, document in documents.items():
            if document is not None and not isinstance(document, dict):
                raise ValueError("wrong document type")
            decoded[name] = None if document is None else _decode(document)
    except (ValueError, TypeError, EOFError):
        with contextlib.suppress(OSError):
            path.unlink()
        return None
    return decoded


def write_documents(root: Path, key: str, documents: Documents) -> None:
    """Store ``documents`` as entry ``key`` atomically; an unwritable cache is skipped."""
    path = _path(root, key)
    encoded = {name: None if doc is None else _encode(doc) for name, doc in documents.items()}
    payload = _HEADER + marshal.dumps((key, encoded), _MARSHAL_VERSION)
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
        Path(tmp).replace(path)
    except OSError:
        if tmp is not None:
            with contextlib.suppress(OSError):
                Path(tmp).unlink()
