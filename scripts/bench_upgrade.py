"""Time ``torchresolve upgrade`` against ``uv pip compile`` and pip's resolver, same run.

Usage::

    python scripts/bench_upgrade.py [--input examples/torch15/requirements.txt] [--runs 3]
        [--python 3.11] [--gpu H100] [--db DIR]

Two inputs are measured: the file as written (old exact pins, which uv and pip refuse on a new
Python) and a *loose* copy where every ``==X`` becomes ``>=X`` (which all three can resolve;
uv runs with ``--resolution lowest-direct`` there, the issue's comparison). Each tool runs
cold (a fresh, empty cache folder) once, then warm (the same cache) ``--runs`` times; the
median warm time is reported. Index locations come from pip's configuration, for every tool:
uv reads no pip configuration, so it is given them as flags (see ``_uv_sources``).
torchresolve is also timed warm with its stored plans removed before each run (``plans/`` of
its cache), so the resolution runs on the warm index cache: the time of a changed input or
option, where a stored plan cannot answer.
The result is a Markdown table on stdout (paste it into the upgrade section of docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "resolver"))

from torchresolve import _subprocess
from torchresolve.index import load_index_config

_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True, slots=True, kw_only=True)
class Timing:
    """One tool on one input: cold seconds, median warm seconds, exit status, a summary."""

    tool: str
    input: str
    cold: float
    warm: float
    returncode: int
    summary: str
    replan: float | None = None
    """Median warm seconds with no stored plan (torchresolve only)."""


def _loose(text: str) -> str:
    """``name==X`` -> ``name>=X`` (local labels and index lines dropped)."""
    lines = []
    for line in text.splitlines():
        body = line.split("#", 1)[0].strip()
        if not body or body.startswith("-"):
            continue
        body = re.sub(r"==\s*([^\s;,+]+)(\+\S+)?", r">=\1", body)
        lines.append(body)
    return "\n".join(lines) + "\n"


def _tools(
    args: argparse.Namespace, requirements: Path, cache: Path, loose: bool
) -> dict[str, list[str]]:
    python = args.python
    torchresolve = [
        sys.executable,
        "-c",
        "import sys; from torchresolve.cli.main import main; sys.exit(main())",
        "-q",
        "upgrade",
        str(requirements),
        "--python",
        python,
        "--platform",
        "linux_x86_64",
        "--gpu",
        args.gpu,
        "--cache-dir",
        str(cache / "torchresolve"),
        "--format",
        "json",
    ]
    if args.db:
        torchresolve += ["--db", args.db]
    uv = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
    uv_cmd = [
        uv,
        "pip",
        "compile",
        str(requirements),
        "--python-version",
        python,
        "--python-platform",
        "x86_64-manylinux_2_28",
        "--cache-dir",
        str(cache / "uv"),
        "--quiet",
        "--no-header",
        *_uv_sources(),
    ]
    if loose:
        uv_cmd += ["--resolution", "lowest-direct"]
    pip = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--dry-run",
        "--quiet",
        "--ignore-installed",
        "--only-binary=:all:",
        "--python-version",
        python,
        "--platform",
        "manylinux2014_x86_64",
        "--target",
        str(cache / "pip-target"),
        "--cache-dir",
        str(cache / "pip"),
        "-r",
        str(requirements),
    ]
    return {"torchresolve upgrade": torchresolve, "uv pip compile": uv_cmd, "pip --dry-run": pip}


def _uv_sources() -> list[str]:
    """pip's configured sources as uv flags: uv reads no pip configuration, and the tools must
    read the same indexes. ``unsafe-best-match`` is pip's way of combining several indexes
    (uv's default takes a project from the first index that has it)."""
    config = load_index_config()
    flags = ["--index-url", config.index_url, "--index-strategy", "unsafe-best-match"]
    for url in config.extra_index_urls:
        flags += ["--extra-index-url", url]
    for location in config.find_links:
        flags += ["--find-links", location]
    return flags


def _once(argv: list[str], forget: Path | None = None) -> tuple[float, int, str]:
    if forget is not None:
        shutil.rmtree(forget, ignore_errors=True)
    # Bytecode is written as an installed package has it (this machine may disable it).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    started = time.perf_counter()
    done = _subprocess.run(argv, timeout=900, cwd=_ROOT, check=False, env=env)
    seconds = time.perf_counter() - started
    tail = (done.stderr.strip().splitlines() or [""])[-1][:90]
    return seconds, done.returncode, tail


def measure(args: argparse.Namespace) -> list[Timing]:
    """Run every tool on both inputs, cold then warm."""
    source = Path(args.input).resolve()
    results: list[Timing] = []
    with tempfile.TemporaryDirectory(prefix="bench-upgrade-") as folder:
        work = Path(folder)
        loose = work / "requirements-loose.txt"
        loose.write_text(_loose(source.read_text(encoding="utf-8")), encoding="utf-8")
        for label, path, is_loose in (("as written", source, False), ("loose >=", loose, True)):
            for tool, _ in _tools(args, path, work, is_loose).items():
                cache = work / f"cache-{len(results)}"
                argv = _tools(args, path, cache, is_loose)[tool]
                cold, code, tail = _once(argv)
                warm = [_once(argv)[0] for _ in range(args.runs)]
                replan = None
                if tool == "torchresolve upgrade":
                    plans = cache / "torchresolve" / "plans"
                    replan = statistics.median(_once(argv, plans)[0] for _ in range(args.runs))
                results.append(
                    Timing(
                        tool=tool,
                        input=label,
                        cold=cold,
                        warm=statistics.median(warm),
                        returncode=code,
                        summary="ok" if code in (0, 3) else tail,
                        replan=replan,
                    )
                )
                print(
                    f"{label:>10}  {tool:<20} cold {cold:6.2f} s  warm {results[-1].warm:6.2f} s"
                    f"  no stored plan {'-' if replan is None else f'{replan:.2f} s'}"
                    f"  exit {code}",
                    file=sys.stderr,
                )
    return results


def render(results: list[Timing], args: argparse.Namespace) -> str:
    """The Markdown table."""
    shown = Path(args.input).resolve()
    if shown.is_relative_to(_ROOT):
        shown = shown.relative_to(_ROOT)
    lines = [
        f"Input: `{shown}`, target Python {args.python}, GPU {args.gpu}; "
        f"warm = median of {args.runs} runs.",
        "",
        "| input | tool | cold (s) | warm (s) | warm, no stored plan (s) | exit | result |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in results:
        summary = r.summary.replace("|", "\\|")
        replan = "-" if r.replan is None else f"{r.replan:.2f}"
        lines.append(
            f"| {r.input} | {r.tool} | {r.cold:.2f} | {r.warm:.2f} | {replan} | {r.returncode}"
            f" | {summary} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Parse the flags, measure, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--input", default=str(_ROOT / "examples" / "torch15" / "requirements.txt"))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--python", default="3.11")
    parser.add_argument("--gpu", default="H100")
    parser.add_argument("--db", default=None, help="curated database folder (default: shipped)")
    args = parser.parse_args(argv)
    sys.stdout.write(render(measure(args), args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
