"""Audit findings as text: a terminal table, JSON, SARIF 2.1.0, GitHub annotations, constraints.

Every function is pure and returns the text; the CLI writes it.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from torchresolve.audit.model import RULES

if TYPE_CHECKING:
    from collections.abc import Sequence

    from torchresolve.audit.fix import FixPlan
    from torchresolve.audit.model import Finding

__all__ = [
    "exit_code",
    "format_constraints",
    "format_github",
    "format_json",
    "format_sarif",
    "format_text",
]

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_SARIF_LEVEL = {"error": "error", "warning": "warning", "info": "note"}


def _where(finding: Finding, base: Path | None) -> str:
    if finding.file is None:
        return "-"
    path = _relative(finding.file, base)
    return f"{path}:{finding.line}" if finding.line else path


def _relative(path: Path, base: Path | None) -> str:
    if base is not None:
        try:
            return Path(os.path.relpath(path, base)).as_posix()
        except ValueError:  # another drive on Windows
            return path.as_posix()
    return path.as_posix()


def format_text(
    findings: Sequence[Finding], plan: FixPlan | None = None, *, base: Path | None = None
) -> str:
    """A table of findings for the terminal, then the consistent fix.

    :param base: paths are shown relative to this folder when given.
    """
    if not findings:
        return "No problems found.\n"
    rows = [(f.severity, f.rule, _where(f, base), f.message) for f in findings]
    widths = [max(len(r[i]) for r in (*rows, ("SEVERITY", "RULE", "WHERE", ""))) for i in range(3)]
    head = ("SEVERITY", "RULE", "WHERE", "MESSAGE")
    lines = ["  ".join(h.ljust(w) for h, w in zip(head[:3], widths, strict=True)) + "  MESSAGE"]
    for row in rows:
        lines.append(
            "  ".join(c.ljust(w) for c, w in zip(row[:3], widths, strict=True)) + "  " + row[3]
        )
    counts = {s: sum(1 for f in findings if f.severity == s) for s in ("error", "warning", "info")}
    lines.append("")
    lines.append(
        f"{counts['error']} error(s), {counts['warning']} warning(s), {counts['info']} info"
    )
    if plan is not None and plan.constraints:
        lines.append("")
        lines.append("Consistent fix (write it with --fix-constraints FILE):")
        lines += [f"  {line}" for line in plan.constraints]
        if plan.index_url:
            lines.append(f"  (from --extra-index-url {plan.index_url})")
    return "\n".join(lines) + "\n"


def _finding_json(finding: Finding, base: Path | None) -> dict[str, Any]:
    return {
        "rule": finding.rule,
        "severity": finding.severity,
        "packages": list(finding.packages),
        "message": finding.message,
        "file": _relative(finding.file, base) if finding.file else None,
        "line": finding.line,
        "fix": list(finding.fix),
        "reference": finding.reference or None,
    }


def format_json(
    findings: Sequence[Finding], plan: FixPlan | None = None, *, base: Path | None = None
) -> str:
    """``{"findings": [...], "fix": {...}}``; each finding has rule, severity, packages,
    message, file, line, fix (and reference)."""
    fix: dict[str, Any] = {"constraints": [], "index_url": None}
    if plan is not None:
        fix = {"constraints": list(plan.constraints), "index_url": plan.index_url}
    document = {"findings": [_finding_json(f, base) for f in findings], "fix": fix}
    return json.dumps(document, indent=2) + "\n"


def format_sarif(findings: Sequence[Finding], *, version: str, base: Path | None = None) -> str:
    """A SARIF 2.1.0 log for code scanning (one run, one result per finding)."""
    rule_ids = sorted({f.rule for f in findings})
    rules = [
        {
            "id": rule,
            "name": rule,
            "shortDescription": {"text": RULES.get(rule, "curated ecosystem rule")},
        }
        for rule in rule_ids
    ]
    results = []
    for finding in findings:
        text = finding.message
        if finding.fix:
            text += " Fix: " + ", ".join(finding.fix)
        result: dict[str, Any] = {
            "ruleId": finding.rule,
            "ruleIndex": rule_ids.index(finding.rule),
            "level": _SARIF_LEVEL[finding.severity],
            "message": {"text": text},
        }
        if finding.file is not None:
            location: dict[str, Any] = {"artifactLocation": {"uri": _relative(finding.file, base)}}
            if finding.line:
                location["region"] = {"startLine": finding.line}
            result["locations"] = [{"physicalLocation": location}]
        results.append(result)
    log = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "torchresolve",
                        "version": version,
                        "rules": rules,
                    }
                },
                "results": results,
            }
        ],
    }
    return json.dumps(log, indent=2) + "\n"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def format_github(findings: Sequence[Finding], *, base: Path | None = None) -> str:
    """GitHub Actions workflow commands (``::error file=...,line=...,title=...::message``)."""
    level = {"error": "error", "warning": "warning", "info": "notice"}
    lines = []
    for finding in findings:
        props = []
        if finding.file is not None:
            props.append(f"file={_escape_property(_relative(finding.file, base))}")
            if finding.line:
                props.append(f"line={finding.line}")
        props.append(f"title={_escape_property('torchresolve ' + finding.rule)}")
        message = finding.message
        if finding.fix:
            message += "\nFix: " + ", ".join(finding.fix)
        lines.append(f"::{level[finding.severity]} {','.join(props)}::{_escape_data(message)}")
    return "\n".join(lines) + ("\n" if lines else "")


def format_constraints(plan: FixPlan, findings: Sequence[Finding]) -> str:
    """A pip constraints file with the consistent fix (``pip install -c FILE ...``)."""
    lines = ["# torchresolve audit: the consistent fix for the findings below"]
    lines += [f"#   {f.rule}: {f.message}" for f in findings if f.severity != "info"]
    if plan.index_url:
        lines.append(f"# these builds come from: --extra-index-url {plan.index_url}")
    extra = [line for f in findings for line in f.fix if not _in_plan(line, plan)]
    lines += list(plan.constraints)
    seen = set(plan.constraints)
    for line in extra:
        if line not in seen:
            seen.add(line)
            lines.append(line)
    return "\n".join(lines) + "\n"


def _in_plan(line: str, plan: FixPlan) -> bool:
    name = re.split(r"[=<>!~]", line, maxsplit=1)[0].strip()
    return any(c.startswith(f"{name}==") or c.startswith(f"{name}<") for c in plan.constraints)


def exit_code(findings: Sequence[Finding], fail_on: Literal["error", "warning", "never"]) -> int:
    """1 when a finding reaches ``fail_on`` severity, else 0."""
    if fail_on == "never":
        return 0
    failing = {"error"} if fail_on == "error" else {"error", "warning"}
    return 1 if any(f.severity in failing for f in findings) else 0
