"""Readers of dependency files and their minimal-change rewriting.

:func:`read_dependencies` turns a requirements file, a pyproject.toml or a conda
environment.yml into a :class:`DependencyFile` of typed :class:`Entry` objects that know their
file and line; :func:`rewrite` applies new specifiers and returns new texts in which only those
specifiers differ.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torchresolve.sources.conda import read_conda
from torchresolve.sources.model import CondaEnv, DependencyFile, Entry, IndexOptions
from torchresolve.sources.pyproject import read_pyproject
from torchresolve.sources.requirements import read_requirements
from torchresolve.sources.rewrite import CUDA_VERSION, rewrite, unified_diff, unrewritable

if TYPE_CHECKING:
    from pathlib import Path

__all__ = [
    "CUDA_VERSION",
    "CondaEnv",
    "DependencyFile",
    "Entry",
    "IndexOptions",
    "read_dependencies",
    "rewrite",
    "unified_diff",
    "unrewritable",
]


def read_dependencies(path: Path) -> DependencyFile:
    """Read a dependency file, chosen by its name.

    ``*.toml`` is read as pyproject.toml, ``*.yml``/``*.yaml`` as a conda environment file,
    anything else (``requirements*.txt``, ``*.in``) as a pip requirements file with its
    ``-r``/``-c`` includes.

    :raises InputError: unreadable file or bad content, naming the file and line.
    """
    suffix = path.suffix.lower()
    if suffix == ".toml":
        return read_pyproject(path)
    if suffix in (".yml", ".yaml"):
        return read_conda(path)
    return read_requirements(path)
