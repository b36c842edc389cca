"""Benchmark ``torchresolve verify``: wall time of each phase with uv and with pip.

Usage::

    python scripts/bench_verify.py PROPOSAL [--installer uv --installer pip] [--repeat 3]
        [--find-links DIR] [--no-index] [--no-smoke] [--out FILE]

For each installer, one untimed run warms the installer's cache, then ``--repeat`` timed runs
follow, each in a fresh temporary venv; the table gives the median seconds of every phase and
of the whole run. Nothing here is specific to a machine: the proposal and the wheel sources
come from the arguments.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

from torchresolve._fileio import write_output
from torchresolve.verify import VerifyOptions, VerifyReport, verify

PHASES = ("create venv", "install", "check versions", "smoke tests", "clean up")


def _run_once(
    proposal: Path, installer: str, args: argparse.Namespace
) -> tuple[VerifyReport, float]:
    options = VerifyOptions(
        installer=installer,  # type: ignore[arg-type]
        no_index=args.no_index,
        find_links=tuple(args.find_links),
        smoke=not args.no_smoke,
        gpu="no",
    )
    start = time.monotonic()
    report = verify(proposal, options)
    return report, time.monotonic() - start


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write the markdown table; 1 when a run failed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("proposal", type=Path)
    parser.add_argument("--installer", action="append", choices=("uv", "pip"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--find-links", action="append", default=[])
    parser.add_argument("--no-index", action="store_true")
    parser.add_argument("--no-smoke", action="store_true")
    parser.add_argument("--out", default="-")
    args = parser.parse_args(argv)
    installers = args.installer or ["uv", "pip"]
    rows = []
    failed = False
    for installer in installers:
        warm, _ = _run_once(args.proposal, installer, args)  # fills the installer's cache
        failed |= not warm.ok
        timings: dict[str, list[float]] = {phase: [] for phase in PHASES}
        totals = []
        for _ in range(args.repeat):
            report, total = _run_once(args.proposal, installer, args)
            failed |= not report.ok
            totals.append(total)
            for phase in report.phases:
                timings.setdefault(phase.name, []).append(phase.seconds)
        cells = [f"{statistics.median(timings[p]):.2f}" if timings.get(p) else "-" for p in PHASES]
        rows.append(
            f"| {installer} | " + " | ".join(cells) + f" | {statistics.median(totals):.2f} |"
        )
    lines = [
        f"Proposal: `{args.proposal.name}` ({args.proposal.read_text().count(chr(10))} lines); "
        f"Python {platform.python_version()} on {platform.machine()}; median of {args.repeat} "
        "runs after one warm-up run per installer (warm cache); seconds.",
        "",
        "| installer | " + " | ".join(PHASES) + " | total |",
        "|---" * (len(PHASES) + 2) + "|",
        *rows,
    ]
    write_output(args.out, "\n".join(lines) + "\n")
    if failed:
        sys.stderr.write("bench_verify: a verification failed; the timings may be meaningless\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
