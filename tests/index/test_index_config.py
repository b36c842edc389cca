"""Index configuration the way pip takes it, and the CLI flags that build a client."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest
from pypi_simple import PYPI_SIMPLE_ENDPOINT

from torchresolve.cli._index_options import add_index_arguments, client_from_args
from torchresolve.errors import InputError
from torchresolve.index import json_api_url, load_index_config

if TYPE_CHECKING:
    from pathlib import Path


@dataclass(frozen=True)
class FileOptions:
    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    no_index: bool = False


def test_default_endpoint_comes_from_the_client_library() -> None:
    config = load_index_config(environ={}, config_files=())
    assert config.index_url == PYPI_SIMPLE_ENDPOINT
    assert config.indexes == (PYPI_SIMPLE_ENDPOINT,)


def test_precedence_flags_file_env_config(tmp_path: Path) -> None:
    conf = tmp_path / "pip.conf"
    conf.write_text(
        "[global]\nindex-url = http://conf.test/simple\nextra-index-url = http://c1.test/s\n"
        "find-links = /srv/wheels\n[install]\nextra-index-url = http://c2.test/s\n",
        encoding="utf-8",
    )
    env = {"PIP_INDEX_URL": "http://env.test/simple", "PIP_EXTRA_INDEX_URL": "http://e1.test/s"}
    only_conf = load_index_config(environ={}, config_files=[conf])
    assert only_conf.index_url == "http://conf.test/simple/"
    assert only_conf.extra_index_urls == ("http://c2.test/s/",)  # [install] wins
    assert only_conf.find_links == ("/srv/wheels",)
    with_env = load_index_config(environ=env, config_files=[conf])
    assert with_env.index_url == "http://env.test/simple/"
    assert with_env.extra_index_urls == ("http://e1.test/s/", "http://c2.test/s/")
    with_file = load_index_config(
        environ=env,
        config_files=[conf],
        file_options=FileOptions(index_url="http://file.test/simple", find_links=("./w",)),
    )
    assert with_file.index_url == "http://file.test/simple/"
    assert with_file.find_links == ("./w", "/srv/wheels")
    flags = load_index_config(
        index_url="http://flag.test/simple/",
        extra_index_urls=["https://download.pytorch.org/whl/cu121"],
        environ=env,
        config_files=[conf],
        file_options=FileOptions(index_url="http://file.test/s"),
    )
    assert flags.index_url == "http://flag.test/simple/"
    assert flags.extra_index_urls[0] == "https://download.pytorch.org/whl/cu121/"


def test_no_index_from_environment() -> None:
    config = load_index_config(environ={"PIP_NO_INDEX": "1"}, config_files=())
    assert config.no_index
    assert config.indexes == ()


def test_pip_config_file_env_var_and_devnull(tmp_path: Path) -> None:
    conf = tmp_path / "my.conf"
    conf.write_text("[global]\nindex-url = http://mine.test/simple/\n", encoding="utf-8")
    assert load_index_config(environ={"PIP_CONFIG_FILE": str(conf)}).index_url == (
        "http://mine.test/simple/"
    )
    assert load_index_config(environ={"PIP_CONFIG_FILE": "/dev/null"}).index_url == (
        PYPI_SIMPLE_ENDPOINT
    )


def test_unreadable_pip_config_is_input_error(tmp_path: Path) -> None:
    conf = tmp_path / "pip.conf"
    conf.write_text("index-url = no section\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"pip\.conf"):
        load_index_config(environ={}, config_files=[conf])


def test_json_api_url_is_derived_from_the_simple_endpoint() -> None:
    assert json_api_url("http://h.test/simple/", "Foo_Bar") == "http://h.test/pypi/foo-bar/json"
    assert json_api_url("https://download.pytorch.org/whl/cu121/", "torch") is None


def test_cli_flags_build_a_client(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    add_index_arguments(parser)
    args = parser.parse_args(
        [
            "--index-url",
            "http://flag.test/simple",
            "--extra-index-url",
            "http://x.test/s",
            "-f",
            str(tmp_path),
            "--cache-dir",
            str(tmp_path / "c"),
            "--offline",
        ]
    )
    client = client_from_args(args, None, environ={"PIP_CONFIG_FILE": "/dev/null"})
    assert client.config.index_url == "http://flag.test/simple/"
    assert client.config.extra_index_urls == ("http://x.test/s/",)
    assert client.config.find_links == (str(tmp_path),)
    assert client.offline
    assert client.cache is not None
    assert client.cache.root == tmp_path / "c"
    with pytest.raises(SystemExit):
        parser.parse_args(["--offline", "--refresh"])
