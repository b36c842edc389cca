"""What a verification found, and the pure writers that render it (text, JSON, JUnit XML)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

__all__ = [
    "CheckResult",
    "PhaseTiming",
    "Status",
    "VerifyReport",
    "render_json",
    "render_junit",
    "render_text",
]

Status = Literal["pass", "fail", "skip"]
STATUSES: tuple[Status, ...] = ("pass", "fail", "skip")


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckResult:
    """One check: ``versions.torch``, ``numerics.tf32``, ``run``...

    :param reason: one line: what was measured (pass), why not applicable (skip), what is wrong
        (fail).
    :param details: JSON-compatible measurements (errors, versions, tracebacks).
    """

    name: str
    status: Status
    reason: str
    seconds: float = 0.0
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class PhaseTiming:
    """Wall time of one phase (``create venv``, ``install``, ``smoke tests``...)."""

    name: str
    seconds: float


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifyReport:
    """The outcome of :func:`torchresolve.verify.verify`.

    :param environment: the venv folder, or the interpreter's prefix for ``--in-place``.
    :param kept: whether the environment still exists after the run.
    :param installer: ``uv``/``pip``, or ``None`` when nothing was installed.
    :param installed: every distribution visible in the environment, name -> version.
    """

    requirements: Path
    python: str
    environment: str
    kept: bool
    installer: str | None
    checks: tuple[CheckResult, ...]
    phases: tuple[PhaseTiming, ...]
    installed: Mapping[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when no check failed (skips do not fail a run) and at least one check ran."""
        return bool(self.checks) and not any(c.status == "fail" for c in self.checks)

    def count(self, status: Status) -> int:
        """How many checks ended with ``status``."""
        return sum(1 for c in self.checks if c.status == status)


def render_text(report: VerifyReport) -> str:
    """The human summary: phases with times, failures first, then every other check.

    Passing ``versions.*`` checks are folded into one line; everything else is listed.
    """
    lines = [f"verify {report.requirements}", f"  python: {report.python}"]
    where = report.environment + ("" if report.kept else " (removed)")
    lines.append(f"  environment: {where}")
    if report.installer:
        lines.append(f"  installer: {report.installer}")
    lines.append("  phases: " + ", ".join(f"{p.name} {p.seconds:.1f} s" for p in report.phases))
    lines.extend(f"  note: {note}" for note in report.notes)
    lines.append("")
    version_passes = [
        c for c in report.checks if c.name.startswith("versions.") and c.status == "pass"
    ]
    if version_passes:
        lines.append(f"PASS versions: {len(version_passes)} pinned versions installed as proposed")
    for check in sorted(report.checks, key=lambda c: c.status != "fail"):
        if check in version_passes:
            continue
        lines.append(
            f"{check.status.upper():4} {check.name} ({check.seconds:.2f} s): {check.reason}"
        )
        if check.status == "fail" and check.name == "run":
            tail = str(check.details.get("output_tail", "")).rstrip()
            lines.extend(f"     | {line}" for line in tail.splitlines()[-20:])
    lines.append("")
    verdict = "OK" if report.ok else "FAILED"
    lines.append(
        f"{verdict}: {report.count('pass')} passed, {report.count('fail')} failed, "
        f"{report.count('skip')} skipped"
    )
    return "\n".join(lines) + "\n"


def render_json(report: VerifyReport) -> str:
    """A JSON document with ``ok``, ``checks`` (name, status, reason, seconds, details),
    ``phases``, the environment and the installed versions."""
    document = {
        "ok": report.ok,
        "requirements": str(report.requirements),
        "python": report.python,
        "environment": report.environment,
        "kept": report.kept,
        "installer": report.installer,
        "phases": [{"name": p.name, "seconds": round(p.seconds, 3)} for p in report.phases],
        "counts": {status: report.count(status) for status in STATUSES},
        "checks": [
            {
                "name": c.name,
                "status": c.status,
                "reason": c.reason,
                "seconds": round(c.seconds, 4),
                "details": dict(c.details),
            }
            for c in report.checks
        ],
        "installed": dict(sorted(report.installed.items())),
        "notes": list(report.notes),
    }
    return json.dumps(document, indent=2, default=str) + "\n"


def render_junit(report: VerifyReport) -> str:
    """JUnit XML: one ``testsuite`` named ``torchresolve.verify``, one ``testcase`` per check
    (classname = the part of the name before the first dot)."""
    suite = ET.Element(
        "testsuite",
        {
            "name": "torchresolve.verify",
            "tests": str(len(report.checks)),
            "failures": str(report.count("fail")),
            "errors": "0",
            "skipped": str(report.count("skip")),
            "time": f"{sum(c.seconds for c in report.checks):.3f}",
        },
    )
    for check in report.checks:
        group = check.name.split(".", 1)[0].split(":", 1)[0]
        case = ET.SubElement(
            suite,
            "testcase",
            {"classname": f"verify.{group}", "name": check.name, "time": f"{check.seconds:.3f}"},
        )
        if check.status == "fail":
            failure = ET.SubElement(case, "failure", {"message": check.reason})
            failure.text = json.dumps(dict(check.details), indent=2, default=str)
        elif check.status == "skip":
            ET.SubElement(case, "skipped", {"message": check.reason})
        else:
            ET.SubElement(case, "system-out").text = check.reason
    ET.indent(suite)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suite, "unicode") + "\n"
