"""verify seam: install a proposal into a fresh environment and prove it works.

:func:`verify` creates a venv (or layers one over a base environment, or uses an interpreter
in place), installs the proposal with uv or pip, compares the installed versions with it, runs
the standalone smoke suite (``_smoke.py``) with the environment's own interpreter, and runs the
user's command. Writers in :mod:`torchresolve.verify.report` render the result.
"""

from __future__ import annotations

from torchresolve.verify.report import (
    CheckResult,
    PhaseTiming,
    VerifyReport,
    render_json,
    render_junit,
    render_text,
)
from torchresolve.verify.runner import Timeouts, VerifyOptions, verify

__all__ = [
    "CheckResult",
    "PhaseTiming",
    "Timeouts",
    "VerifyOptions",
    "VerifyReport",
    "render_json",
    "render_junit",
    "render_text",
    "verify",
]
