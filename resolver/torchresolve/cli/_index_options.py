"""The package-source flags shared by commands, and the index client built from them.

``--index-url``, ``--extra-index-url``, ``-f/--find-links``, ``--no-index`` mean what they mean
to pip; ``--cache-dir``, ``--offline`` and ``--refresh`` control the metadata cache.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse
    from collections.abc import Mapping

    from torchresolve.index import IndexClient
    from torchresolve.index.config import IndexOptionsLike
    from torchresolve.observer import Observer

__all__ = ["MAX_WORKERS", "add_index_arguments", "client_from_args"]

MAX_WORKERS = 8


def add_index_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the package-source and cache flags to ``parser`` (see :func:`client_from_args`)."""
    group = parser.add_argument_group("package index")
    group.add_argument(
        "--index-url",
        metavar="URL",
        default=None,
        help="simple-API index (default: pip's configuration, else the public index)",
    )
    group.add_argument(
        "--extra-index-url",
        metavar="URL",
        action="append",
        default=[],
        help="another index to search as well (repeatable), e.g. a PyTorch variant index",
    )
    group.add_argument(
        "-f",
        "--find-links",
        metavar="PATH_OR_URL",
        action="append",
        default=[],
        help="a directory or HTML page of links to distribution files (repeatable)",
    )
    group.add_argument(
        "--no-index", action="store_true", help="ignore the indexes; use --find-links only"
    )
    group.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="metadata cache (default: $TORCHRESOLVE_CACHE_DIR, else the user cache dir)",
    )
    mode = group.add_mutually_exclusive_group()
    mode.add_argument(
        "--offline", action="store_true", help="answer from the cache only; name what is missing"
    )
    mode.add_argument(
        "--refresh",
        action="store_true",
        help="revalidate every cached index page (upgrade: and plan anew, not from a stored plan)",
    )


def client_from_args(
    args: argparse.Namespace,
    observer: Observer | None,
    file_options: IndexOptionsLike | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> IndexClient:
    """The :class:`IndexClient` the flags describe.

    Sources follow pip's precedence: flags, then ``file_options`` (the ``--index-url`` /
    ``--extra-index-url`` / ``-f`` lines of the requirements file), then ``PIP_*`` variables,
    then pip configuration files.

    :param environ: the environment (``None``: :data:`os.environ`).
    :raises InputError: a pip configuration file cannot be parsed.
    """
    # Imported here: registering the flags must not load the index client (start-up time).
    from torchresolve.index import Cache, IndexClient, default_cache_dir, load_index_config
    from torchresolve.index.http import make_session

    config = load_index_config(
        index_url=getattr(args, "index_url", None),
        extra_index_urls=tuple(getattr(args, "extra_index_url", None) or ()),
        find_links=tuple(getattr(args, "find_links", None) or ()),
        no_index=bool(getattr(args, "no_index", False)),
        file_options=file_options,
        environ=environ,
    )
    cache_dir = getattr(args, "cache_dir", None) or default_cache_dir(environ)
    return IndexClient(
        config,
        # Made when the first request is due: a warm run never imports requests.
        session=functools.partial(make_session, MAX_WORKERS),
        cache=Cache(Path(cache_dir), on_error=None if observer is None else observer.note),
        offline=bool(getattr(args, "offline", False)),
        refresh=bool(getattr(args, "refresh", False)),
        observer=observer,
        max_workers=MAX_WORKERS,
    )
