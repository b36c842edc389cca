"""Audit locked PyTorch stacks: family pairing, CUDA variants, Python wheels, numpy ABI,
GPU and driver, known vulnerabilities, yanked pins.

:func:`audit` is pure; :mod:`torchresolve.audit.report` renders the findings.
"""

from __future__ import annotations

from torchresolve.audit.engine import audit, build_of, python_targets
from torchresolve.audit.fix import FixPlan, plan_fix
from torchresolve.audit.model import RULES, AuditContext, Finding, Severity
from torchresolve.audit.report import (
    exit_code,
    format_constraints,
    format_github,
    format_json,
    format_sarif,
    format_text,
)

__all__ = [
    "RULES",
    "AuditContext",
    "Finding",
    "FixPlan",
    "Severity",
    "audit",
    "build_of",
    "exit_code",
    "format_constraints",
    "format_github",
    "format_json",
    "format_sarif",
    "format_text",
    "plan_fix",
    "python_targets",
]
