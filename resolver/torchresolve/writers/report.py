"""Renderers of an upgrade :class:`~torchresolve.planning.model.Proposal`: pure, text in and out.

* :func:`render_text`: the terminal report (table old -> new with reasons, target, warnings);
* :func:`render_json`: the machine-readable report (``target``, ``changes``, ``pins``,
  ``index_urls``, ``warnings``, ``blockers``);
* :func:`render_markdown`: the same for a pull-request description;
* :func:`render_constraints`: every resolved package pinned, with the index lines.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from torchresolve.db.model import format_driver

if TYPE_CHECKING:
    from torchresolve.planning.model import Proposal

__all__ = ["proposal_dict", "render_constraints", "render_json", "render_markdown", "render_text"]


def _target_dict(proposal: Proposal) -> dict[str, Any]:
    target = proposal.target
    return {
        "python": str(target.python),
        "platform": target.platform,
        "gpu": target.gpu_name,
        "arch": str(target.arch) if target.arch is not None else None,
        "driver": format_driver(target.driver) if target.driver is not None else None,
        "cuda": target.cuda,
        "cuda_variant": proposal.variant,
        "cuda_runtime": proposal.cuda,
        "detected": list(target.detected),
    }


def proposal_dict(proposal: Proposal) -> dict[str, Any]:
    """The JSON-ready dictionary of a proposal (the schema of ``--format json``)."""
    return {
        "target": _target_dict(proposal),
        "strategy": proposal.strategy,
        "torch": proposal.torch_choice,
        "changes": [
            {
                "name": c.name,
                "from": c.old,
                "to": str(c.new),
                "reason": c.reason,
                "rewritten": str(c.specifier) if c.specifier is not None else None,
            }
            for c in proposal.changes
        ],
        "pins": {str(p.name): str(p.version) for p in proposal.pins.pins},
        "index_urls": list(proposal.index_urls),
        "warnings": list(proposal.warnings),
        "blockers": [
            {"name": b.name, "requirement": b.requirement, "reason": b.reason, "way_out": b.way_out}
            for b in proposal.blockers
        ],
        "complete": proposal.complete,
    }


def render_json(proposal: Proposal) -> str:
    """The proposal as indented JSON with a trailing newline."""
    return json.dumps(proposal_dict(proposal), indent=2, sort_keys=False) + "\n"


def _target_line(proposal: Proposal) -> str:
    t = proposal.target
    parts = [f"Python {t.python}", t.platform]
    if t.gpu_name or t.arch is not None:
        parts.append(f"GPU {t.gpu_name or '?'} ({t.arch or 'unknown arch'})")
    if t.driver is not None:
        parts.append(f"driver {format_driver(t.driver)}")
    parts.append(f"torch build {proposal.variant}" if proposal.variant else "no torch")
    return ", ".join(parts)


def _table(rows: list[tuple[str, str, str, str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = []
    for i, row in enumerate(rows):
        lines.append(
            f"  {row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:<{widths[2]}}  {row[3]}"
        )
        if i == 0:
            lines.append("  " + "  ".join("-" * w for w in widths) + "  ------")
    return lines


def render_text(proposal: Proposal) -> str:
    """The terminal report."""
    lines = [f"Target: {_target_line(proposal)}", ""]
    rows = [("package", "from", "to", "reason")]
    rows += [(str(c.name), c.old or "(any)", str(c.new), c.reason) for c in proposal.changes]
    lines += _table(rows)
    if proposal.blockers:
        lines += ["", "Blocked (left out of the proposal):"]
        lines += [f"  {b.name}: {b.reason}; way out: {b.way_out}" for b in proposal.blockers]
    if proposal.warnings:
        lines += ["", "Warnings:"]
        lines += [f"  - {w}" for w in proposal.warnings]
    lines += ["", "Index lines:"] + [f"  {u}" for u in proposal.index_urls]
    lines.append(f"{len(proposal.pins.pins)} packages pinned.")
    return "\n".join(lines) + "\n"


def render_markdown(proposal: Proposal) -> str:
    """The report as Markdown, for pull-request descriptions."""
    lines = ["## torchresolve upgrade", "", f"**Target:** {_target_line(proposal)}", ""]
    lines += ["| package | from | to | reason |", "| --- | --- | --- | --- |"]
    for c in proposal.changes:
        reason = c.reason.replace("|", "\\|")
        lines.append(f"| {c.name} | `{c.old or '(any)'}` | `{c.new}` | {reason} |")
    if proposal.blockers:
        lines += ["", "### Blocked", ""]
        lines += [f"- **{b.name}**: {b.reason}. Way out: {b.way_out}." for b in proposal.blockers]
    if proposal.warnings:
        lines += ["", "### Behaviour changes and warnings", ""]
        lines += [f"- {w}" for w in proposal.warnings]
    lines += ["", "<details><summary>All pins</summary>", "", "```"]
    lines += [f"{p.name}=={p.version}" for p in proposal.pins.pins]
    lines += ["```", "", "</details>"]
    return "\n".join(lines) + "\n"


def render_constraints(proposal: Proposal, *, hashes: bool = False) -> str:
    """Every resolved package pinned, with the index lines pip and uv need.

    :param hashes: add ``--hash=sha256:...`` options for the files the index published
        (builds from the PyTorch variant index have none recorded and are left without).
    """
    lines = ["# generated by torchresolve upgrade", f"# target: {_target_line(proposal)}"]
    if proposal.pins.index_url:
        lines.append(f"--index-url {proposal.pins.index_url}")
    lines += [f"--extra-index-url {url}" for url in proposal.pins.extra_index_urls]
    for pin in proposal.pins.pins:
        line = f"{pin.name}=={pin.version}"
        if hashes and pin.hashes:
            line += " \\\n" + " \\\n".join(f"    --hash={h}" for h in pin.hashes)
        lines.append(line)
    return "\n".join(lines) + "\n"
