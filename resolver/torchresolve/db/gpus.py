"""Matching what a user or nvidia-smi calls a GPU to a model of the database.

Names are compared as word sequences, case-insensitively, without the noise words
``NVIDIA``, ``GeForce`` and ``Tesla`` (nvidia-smi prints ``NVIDIA GeForce RTX 4090``, users
type ``RTX 4090``). Words, not characters, so ``A10`` never matches ``A100``.
"""

from __future__ import annotations

import difflib
import functools
import re
from typing import TYPE_CHECKING

from torchresolve.errors import InputError
from torchresolve.target import parse_arch

if TYPE_CHECKING:
    from collections.abc import Sequence

    from torchresolve.db.model import GpuModel

__all__ = ["match_gpu", "normalize_gpu_name"]

_NOISE = frozenset({"nvidia", "geforce", "tesla"})
_ARCH_QUERY = re.compile(r"^(?:(?:sm|compute)_\d{2,3}[a-z]?|\d{1,2}\.\d)$", re.IGNORECASE)


@functools.lru_cache(maxsize=4096)
def normalize_gpu_name(name: str) -> tuple[str, ...]:
    """The significant words of a GPU name: ``NVIDIA GeForce RTX 4090`` -> ``('rtx', '4090')``.

    Memoised: the planner matches the same few names against every model's names and aliases
    once per candidate build.
    """
    words = re.split(r"[\s_\-/]+", name.strip().lower())
    return tuple(w for w in words if w and w not in _NOISE)


def _contains(haystack: tuple[str, ...], needle: tuple[str, ...]) -> bool:
    if not needle or len(needle) > len(haystack):
        return False
    return any(
        haystack[i : i + len(needle)] == needle for i in range(len(haystack) - len(needle) + 1)
    )


def match_gpu(models: Sequence[GpuModel], query: str) -> GpuModel:
    """Find the model ``query`` names.

    Order: ``sm_XX``/``compute_XX``/``X.Y`` parse as an architecture (a synthetic model named
    after the query); then an exact name or alias; then the unique model one of whose names
    contains the query's words; then the model whose longest name is contained in the query
    (``NVIDIA H100 80GB HBM3 MIG 1g.10gb`` -> H100).

    :raises InputError: unknown or ambiguous name, listing close matches.
    """
    from torchresolve.db.model import GpuModel

    text = query.strip()
    if _ARCH_QUERY.match(text):
        arch = parse_arch(text)
        family = next((m.family for m in models if m.arch == arch), "")
        return GpuModel(name=str(arch), arch=arch, family=family, source="given as architecture")
    words = normalize_gpu_name(text)
    if not words:
        raise InputError(f"{query!r} is not a GPU name")

    named = [
        (model, normalize_gpu_name(n)) for model in models for n in (model.name, *model.aliases)
    ]
    exact = _unique([m for m, n in named if n == words])
    if exact and all(m.arch == exact[0].arch for m in exact):
        # One name shared by models of one architecture (memory sizes, form factors): the
        # architecture is all that matters, so the first listed stands for them all.
        return exact[0]
    containing = _unique([m for m, n in named if _contains(n, words)])
    if len(containing) == 1:
        return containing[0]
    if not containing:
        contained = [(m, len(n)) for m, n in named if _contains(words, n)]
        if contained:
            longest = max(size for _, size in contained)
            best = _unique([m for m, size in contained if size == longest])
            if len(best) == 1:
                return best[0]
            containing = best
    if containing:
        names = ", ".join(sorted(m.name for m in containing)[:6])
        raise InputError(f"GPU name {query!r} is ambiguous: it matches {names}")
    spelled = {" ".join(normalize_gpu_name(n)): n for m in models for n in (m.name, *m.aliases)}
    close = difflib.get_close_matches(" ".join(words), sorted(spelled), n=4, cutoff=0.5)
    hint = f" (close matches: {', '.join(spelled[c] for c in close)})" if close else ""
    raise InputError(f"unknown GPU {query!r}{hint}; give its architecture instead, e.g. sm_90")


def _unique(models: list[GpuModel]) -> list[GpuModel]:
    seen: list[GpuModel] = []
    for model in models:
        if all(model is not other for other in seen):
            seen.append(model)
    return seen
