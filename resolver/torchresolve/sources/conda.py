"""Reader of conda environment.yml files: conda match specs and the ``pip:`` section.

Conda specs are mapped to PyPI names (``pytorch`` -> ``torch``) and to PEP 440 specifiers; the
entry keeps ``conda_name``. Conda's fuzzy ``=`` (``python=3.7`` means ``3.7.*``) becomes a
wildcard; ``pytorch=1.5.0`` (three or more components) becomes ``==1.5.0``, which matches the
same releases in practice. ``pip:`` items are requirements lines (``-r``, ``-f``,
``--extra-index-url`` included, relative to the environment file).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from packaging.requirements import Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name

from torchresolve.errors import InputError
from torchresolve.sources.model import CondaEnv, DependencyFile, Entry
from torchresolve.sources.requirements import RequirementsReader, read_text

if TYPE_CHECKING:
    from pathlib import Path

__all__ = [
    "CONDA_ONLY",
    "CONDA_TO_PYPI",
    "CondaSpec",
    "conda_to_pypi",
    "format_conda_spec",
    "parse_conda_spec",
    "read_conda",
]

CONDA_TO_PYPI: dict[str, str] = {
    "pytorch": "torch",
    "pytorch-cpu": "torch",
    "pytorch-gpu": "torch",
    "pytorch-nightly": "torch",
    "py-opencv": "opencv-python",
    "opencv": "opencv-python",
    "libopencv": "opencv-python",
    "matplotlib-base": "matplotlib",
    "pytables": "tables",
    "msgpack-python": "msgpack",
    "tensorflow-gpu": "tensorflow",
    "faiss": "faiss-cpu",
    "pyqt": "pyqt5",
    "ruamel_yaml": "ruamel-yaml",
    "typing_extensions": "typing-extensions",
    "huggingface_hub": "huggingface-hub",
    "pytorch-lightning": "pytorch-lightning",
    "sentencepiece": "sentencepiece",
}
"""Conda package names whose PyPI distribution has another name; others map to themselves.

The one table of such names: the lockfile readers and the audit use it too."""

CONDA_ONLY: frozenset[str] = frozenset(
    {
        "python",
        "pip",
        "cudatoolkit",
        "cudatoolkit-dev",
        "cuda-version",
        "cuda-toolkit",
        "cuda-nvcc",
        "cuda-runtime",
        "cuda",
        "cudnn",
        "nccl",
        "pytorch-cuda",
        "pytorch-mutex",
        "cpuonly",
        "mkl",
        "mkl-include",
        "blas",
        "libblas",
        "openblas",
        "ffmpeg",
        "libgcc-ng",
        "libstdcxx-ng",
        "_libgcc_mutex",
        "cmake",
        "ninja",
        "git",
        "libjpeg-turbo",
        "jpeg",
        "libpng",
        "libprotobuf",
        "hdf5",
        "openmpi",
        "magma",
    }
)
"""Conda packages that are not Python distributions on PyPI (toolkits, compilers, runtimes)."""

_SPEC_RE = re.compile(
    r"^(?:(?P<channel>[^\s:]+)::)?(?P<name>[A-Za-z0-9_][A-Za-z0-9._-]*)(?P<rest>.*)$"
)
_RELATIONAL = (">=", "<=", "!=", "~=", ">", "<")


def conda_to_pypi(conda_name: str) -> str | None:
    """The PyPI name of a conda package, ``None`` for conda-only packages (``cudatoolkit``)."""
    name = conda_name.lower()
    if name in CONDA_ONLY or name.startswith("magma-cuda"):
        return None
    return CONDA_TO_PYPI.get(name, name)


@dataclass(frozen=True, slots=True, kw_only=True)
class CondaSpec:
    """One conda match spec, split into the parts that :func:`format_conda_spec` writes back."""

    channel: str | None
    name: str
    style: str
    """How the version was written: ``=`` (fuzzy), ``==``, `` `` (``numpy 1.18``),
    ``rel`` (``>=1.18,<1.19``) or ``""`` (no version)."""
    version: str
    build: str | None
    specifier: SpecifierSet


def _wildcard(version: str) -> str:
    """Conda's ``1.5*`` or ``1.5.*`` as PEP 440's ``1.5.*``."""
    return version.rstrip("*").rstrip(".") + ".*"


def _fuzzy(version: str) -> str:
    """PEP 440 clause for conda's fuzzy ``=version``."""
    if version.endswith("*"):
        return f"=={_wildcard(version)}"
    if version.count(".") >= 2:
        return f"=={version}"
    return f"=={version}.*"


def parse_conda_spec(text: str) -> CondaSpec:
    """Split a conda match spec and convert its version to PEP 440.

    :raises ValueError: syntax not supported (brackets, ``|`` alternatives) or a bad version.
    """
    match = _SPEC_RE.match(text.strip())
    if match is None:
        raise ValueError("expected [channel::]name[version[=build]]")
    rest = match.group("rest").strip()
    build: str | None = None
    if rest.startswith("["):
        raise ValueError("bracket options ('name[version=...]') are not supported")
    if "|" in rest:
        raise ValueError("'|' alternatives cannot be expressed as one PEP 440 specifier")
    if not rest:
        style, version, clauses = "", "", []
    elif rest.startswith("=="):
        style = "=="
        version, _, build_text = rest[2:].partition("=")
        build = build_text or None
        clauses = [f"=={version.strip()}"]
    elif rest.startswith("="):
        style = "="
        version, _, build_text = rest[1:].partition("=")
        build = build_text or None
        clauses = [_fuzzy(version.strip())]
    elif rest.startswith(_RELATIONAL):
        style, version = "rel", rest
        clauses = []
        for part in rest.replace(" ", "").split(","):
            if part.startswith(("==", *_RELATIONAL)):
                clauses.append(part)
            else:
                clauses.append(_fuzzy(part.lstrip("=")))
    else:
        style = " "
        tokens = rest.split()
        version = tokens[0]
        build = " ".join(tokens[1:]) or None
        clauses = [_fuzzy(version)]
    try:
        specifier = SpecifierSet(",".join(clauses))
    except InvalidSpecifier as exc:
        raise ValueError(str(exc).splitlines()[0]) from None
    return CondaSpec(
        channel=match.group("channel"),
        name=match.group("name"),
        style=style,
        version=version.strip(),
        build=build,
        specifier=specifier,
    )


def format_conda_spec(
    original: CondaSpec, specifier: SpecifierSet, *, name: str | None = None
) -> str:
    """Write a new version for a spec in its own style; the build string goes (it was for the
    old version) and local version labels go (conda has none: CUDA is chosen by packages).

    :param name: a replacement conda name (``cuda-version`` for ``cudatoolkit``).
    """
    prefix = f"{original.channel}::" if original.channel else ""
    prefix += name or original.name
    items = list(specifier)
    if not items:
        return prefix
    if len(items) == 1 and items[0].operator == "==":
        version = items[0].version.split("+")[0]
        if version.endswith(".*"):
            return f"{prefix}={version[:-2]}"
        if original.style == "==":
            return f"{prefix}=={version}"
        if original.style == " ":
            return f"{prefix} {version}"
        return f"{prefix}={version}"
    clauses = sorted(str(item).split("+")[0] for item in items)
    return prefix + ",".join(clauses)


def _line_offsets(text: str) -> list[int]:
    offsets = [0]
    for chunk in text.splitlines(keepends=True):
        offsets.append(offsets[-1] + len(chunk))
    return offsets


def scalar_span(text: str, start: int, value: str, *, flow: bool) -> tuple[int, int] | None:
    """The span of a YAML scalar's content (inside any quotes) starting at ``start``.

    ``None`` when the text there is not simply ``value`` (escapes, folded lines): such an entry
    is not rewritten in place.
    """
    if start >= len(text):
        return None
    quote = text[start]
    if quote in ("'", '"'):
        end = start + 1 + len(value)
        if text[start + 1 : end] == value and text[end : end + 1] == quote:
            return start + 1, end
        return None
    line_end = len(text)
    for stop in ("\n", "\r"):
        found = text.find(stop, start)
        if found >= 0:
            line_end = min(line_end, found)
    segment = text[start:line_end]
    comment = re.search(r"\s#", segment)
    if comment is not None:
        segment = segment[: comment.start()]
    if flow:
        segment = re.split(r"[,\]]", segment, maxsplit=1)[0]
    segment = segment.rstrip()
    if segment != value:
        return None
    return start, start + len(segment)


def read_conda(path: Path) -> DependencyFile:
    """Read an environment.yml: conda specs, its ``pip:`` section, name, channels, prefix.

    :raises InputError: invalid YAML or spec, naming the file and line.
    """
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap, CommentedSeq
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    text = read_text(path)
    try:
        data: Any = YAML(typ="rt").load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark is not None else None
        raise InputError(f"invalid YAML: {exc.problem}", path=path, line=line) from None
    except YAMLError as exc:
        raise InputError(f"invalid YAML: {exc}", path=path) from None
    if not isinstance(data, CommentedMap):
        raise InputError("expected a mapping with a 'dependencies' list", path=path, line=1)
    dependencies = data.get("dependencies") or CommentedSeq()
    if not isinstance(dependencies, CommentedSeq):
        raise InputError(
            "'dependencies' must be a list", path=path, line=data.lc.value("dependencies")[0] + 1
        )
    offsets = _line_offsets(text)
    reader = RequirementsReader()
    reader.texts[path] = text
    python: SpecifierSet | None = None
    flow = bool(dependencies.fa.flow_style())
    for index, item in enumerate(dependencies):
        row, column = dependencies.lc.item(index)
        if isinstance(item, dict) and "pip" in item:
            _read_pip_section(
                reader, path=path, text=text, offsets=offsets, items=item["pip"], row=row
            )
            continue
        if not isinstance(item, str):
            raise InputError(
                f"expected a conda spec or a 'pip:' list, found {item!r}", path=path, line=row + 1
            )
        try:
            spec = parse_conda_spec(item)
        except ValueError as exc:
            raise InputError(
                f"'{item}' is not a valid conda spec: {exc}", path=path, line=row + 1
            ) from None
        pypi = conda_to_pypi(spec.name)
        requirement = None if pypi is None else Requirement(f"{pypi}{spec.specifier}")
        if canonicalize_name(spec.name) == "python" and spec.specifier:
            python = spec.specifier
        reader.entries.append(
            Entry(
                requirement=requirement,
                raw=item,
                path=path,
                line=row + 1,
                conda_name=spec.name,
                syntax="conda",
                span=scalar_span(text, offsets[row] + column, item, flow=flow),
            )
        )
    channels = data.get("channels") or []
    return DependencyFile(
        path=path,
        kind="conda",
        entries=tuple(reader.entries),
        index=reader.index(),
        python=python,
        conda=CondaEnv(
            name=None if data.get("name") is None else str(data.get("name")),
            channels=tuple(str(channel) for channel in channels),
            prefix=None if data.get("prefix") is None else str(data.get("prefix")),
        ),
        texts=dict(reader.texts),
    )


def _read_pip_section(
    reader: RequirementsReader,
    *,
    path: Path,
    text: str,
    offsets: list[int],
    items: Any,
    row: int,
) -> None:
    from ruamel.yaml.comments import CommentedSeq

    if not isinstance(items, CommentedSeq):
        raise InputError("'pip' must be a list of requirements lines", path=path, line=row + 1)
    flow = bool(items.fa.flow_style())
    for index, item in enumerate(items):
        line, column = items.lc.item(index)
        if not isinstance(item, str):
            raise InputError(
                f"expected a requirements line, found {item!r}", path=path, line=line + 1
            )
        reader.process_line(
            item,
            path=path,
            line=line + 1,
            span=scalar_span(text, offsets[line] + column, item, flow=flow),
            constraint=False,
            chain=(path,),
        )
