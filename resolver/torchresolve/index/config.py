"""Where packages come from: index URLs and find-links, taken the way pip takes them.

Precedence, strongest first: command-line flags, ``--index-url``/``--extra-index-url``/``-f``
lines of the requirements file, ``PIP_*`` environment variables, pip configuration files
(``PIP_CONFIG_FILE``, then the user and site files; ``[install]`` over ``[global]``). The
default index is :data:`pypi_simple.PYPI_SIMPLE_ENDPOINT` (see :func:`default_index_url`); no
registry host is written here.
Extra index URLs and find-links from all levels are combined (strongest first, duplicates
dropped), as pip appends command-line values to configured ones.
"""

from __future__ import annotations

import configparser
import functools
import importlib.util
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import platformdirs

from torchresolve.errors import InputError

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

__all__ = [
    "IndexConfig",
    "IndexOptionsLike",
    "default_index_url",
    "load_index_config",
    "pip_config_files",
]

_ENDPOINT_LINE = re.compile(r'^PYPI_SIMPLE_ENDPOINT\s*(?::\s*str\s*)?=\s*"([^"\\]+)"\s*$', re.M)


@functools.cache
def default_index_url() -> str:
    """The default index: :data:`pypi_simple.PYPI_SIMPLE_ENDPOINT`.

    Importing :mod:`pypi_simple` costs about 0.15 s (it pulls in pydantic and BeautifulSoup),
    a sixth of a warm ``upgrade`` run, and only this constant is needed here; so the assignment
    is read from the package's source, and the package is imported only when the source does
    not hold it in that plain form.
    """
    spec = importlib.util.find_spec("pypi_simple")
    if spec is not None and spec.origin is not None:
        try:
            source = Path(spec.origin).read_text(encoding="utf-8")
        except OSError:
            source = ""
        found = _ENDPOINT_LINE.search(source)
        if found is not None:
            return found.group(1)
    from pypi_simple import PYPI_SIMPLE_ENDPOINT

    return PYPI_SIMPLE_ENDPOINT


class IndexOptionsLike(Protocol):
    """The index options of a requirements file (``torchresolve.sources.IndexOptions``)."""

    @property
    def index_url(self) -> str | None: ...
    @property
    def extra_index_urls(self) -> tuple[str, ...]: ...
    @property
    def find_links(self) -> tuple[str, ...]: ...
    @property
    def no_index(self) -> bool: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class IndexConfig:
    """The package sources of one run, in pip's order of meaning.

    :ivar index_url: the primary simple-API index (ends with ``/``).
    :ivar extra_index_urls: further simple-API indexes, searched as well.
    :ivar find_links: local directories, ``file://`` URLs or HTML pages of links.
    :ivar no_index: ignore ``index_url`` and ``extra_index_urls`` (find-links only).
    """

    index_url: str = field(default_factory=default_index_url)
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    no_index: bool = False

    @property
    def indexes(self) -> tuple[str, ...]:
        """The simple-API indexes searched, primary first (none with ``no_index``)."""
        return () if self.no_index else (self.index_url, *self.extra_index_urls)


def _slash(url: str) -> str:
    return url if url.endswith("/") else url + "/"


def _split(value: str | None) -> list[str]:
    return value.split() if value else []


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def pip_config_files(environ: Mapping[str, str]) -> list[Path]:
    """pip's configuration files, weakest first (site-wide, user, virtualenv, PIP_CONFIG_FILE).

    ``PIP_CONFIG_FILE=os.devnull`` disables them all, as in pip.
    """
    explicit = environ.get("PIP_CONFIG_FILE")
    if explicit == os.devnull:
        return []
    site_dirs = platformdirs.site_config_dir("pip", multipath=True).split(os.pathsep)
    files = [Path(d) / "pip.conf" for d in site_dirs]
    files.append(Path("/etc/pip.conf"))
    home = Path(environ.get("HOME", str(Path.home())))
    files.append(home / ".pip" / "pip.conf")
    files.append(Path(platformdirs.user_config_dir("pip")) / "pip.conf")
    files.append(Path(sys.prefix) / "pip.conf")
    if explicit:
        files.append(Path(explicit))
    return files


def _read_config(paths: Iterable[Path]) -> dict[str, str]:
    """Merge ``[global]`` then ``[install]`` of each file, later files overriding earlier."""
    merged: dict[str, str] = {}
    for path in paths:
        parser = configparser.RawConfigParser()
        try:
            with path.open(encoding="utf-8") as handle:
                parser.read_file(handle)
        except FileNotFoundError:
            continue
        except (OSError, configparser.Error) as exc:
            raise InputError(f"cannot read pip configuration: {exc}", path=path) from exc
        for section in ("global", "install"):
            if parser.has_section(section):
                for key, value in parser.items(section):
                    merged[key.replace("_", "-")] = value
    return merged


def _dedupe(values: Iterable[str]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for value in values:
        seen.setdefault(value, None)
    return tuple(seen)


def load_index_config(
    *,
    index_url: str | None = None,
    extra_index_urls: Sequence[str] = (),
    find_links: Sequence[str] = (),
    no_index: bool = False,
    file_options: IndexOptionsLike | None = None,
    environ: Mapping[str, str] | None = None,
    config_files: Sequence[Path] | None = None,
) -> IndexConfig:
    """Combine flags, requirements-file options, environment and pip.conf into a config.

    :param environ: ``None`` reads :data:`os.environ`.
    :param config_files: pip configuration files, weakest first; ``None`` finds pip's.
    :raises InputError: a pip configuration file cannot be parsed.
    """
    env = os.environ if environ is None else environ
    conf = _read_config(pip_config_files(env) if config_files is None else config_files)
    file_index = file_options.index_url if file_options is not None else None
    primary = (
        index_url
        or file_index
        or env.get("PIP_INDEX_URL")
        or conf.get("index-url")
        or default_index_url()
    )
    extras = [
        *extra_index_urls,
        *(file_options.extra_index_urls if file_options is not None else ()),
        *_split(env.get("PIP_EXTRA_INDEX_URL")),
        *_split(conf.get("extra-index-url")),
    ]
    links = [
        *find_links,
        *(file_options.find_links if file_options is not None else ()),
        *_split(env.get("PIP_FIND_LINKS")),
        *_split(conf.get("find-links")),
    ]
    skip_index = (
        no_index
        or (file_options is not None and file_options.no_index)
        or _truthy(env.get("PIP_NO_INDEX"))
        or _truthy(conf.get("no-index"))
    )
    primary = _slash(primary)
    return IndexConfig(
        index_url=primary,
        extra_index_urls=tuple(u for u in _dedupe(_slash(u) for u in extras) if u != primary),
        find_links=_dedupe(links),
        no_index=skip_index,
    )
