"""The report writers: JSON and JUnit carry every check; the text names failures."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from torchresolve.verify.report import (
    CheckResult,
    PhaseTiming,
    VerifyReport,
    render_json,
    render_junit,
    render_text,
)


def _report(*checks: CheckResult) -> VerifyReport:
    return VerifyReport(
        requirements=Path("proposal.txt"),
        python="venv/bin/python",
        environment="venv",
        kept=False,
        installer="uv",
        checks=checks,
        phases=(PhaseTiming(name="install", seconds=1.5),),
        installed={"torch": "2.5.1"},
    )


CHECKS = (
    CheckResult(name="versions.torch", status="pass", reason="torch 2.5.1"),
    CheckResult(
        name="versions.numpy", status="fail", reason="numpy: 2.1.0 installed, proposed ==1.26.4"
    ),
    CheckResult(name="numerics.tf32", status="skip", reason="needs a CUDA device", seconds=0.01),
    CheckResult(name="checkpoint.user:a.pt", status="pass", reason="loads", details={"k": 1}),
)


def test_json_has_ok_and_every_check() -> None:
    document = json.loads(render_json(_report(*CHECKS)))
    assert document["ok"] is False
    assert [c["name"] for c in document["checks"]] == [c.name for c in CHECKS]
    assert {c["status"] for c in document["checks"]} == {"pass", "fail", "skip"}
    assert all({"name", "status", "reason", "seconds"} <= set(c) for c in document["checks"])
    assert document["phases"] == [{"name": "install", "seconds": 1.5}]
    assert document["counts"] == {"pass": 2, "fail": 1, "skip": 1}


def test_ok_needs_no_failure_and_at_least_one_check() -> None:
    assert _report(CHECKS[0], CHECKS[2]).ok
    assert not _report().ok
    assert not _report(*CHECKS).ok


def test_junit_counts_failures_and_skips() -> None:
    root = ET.fromstring(render_junit(_report(*CHECKS)))
    assert root.tag == "testsuite"
    assert (root.get("tests"), root.get("failures"), root.get("skipped")) == ("4", "1", "1")
    cases = {case.get("name"): case for case in root.iter("testcase")}
    failure = cases["versions.numpy"].find("failure")
    assert failure is not None and "numpy" in (failure.get("message") or "")
    assert cases["numerics.tf32"].find("skipped") is not None
    assert cases["checkpoint.user:a.pt"].get("classname") == "verify.checkpoint"


def test_text_names_the_failing_package_and_verdict() -> None:
    text = render_text(_report(*CHECKS))
    assert "FAIL versions.numpy" in text
    assert "FAILED: 2 passed, 1 failed, 1 skipped" in text
    assert "install 1.5 s" in text
