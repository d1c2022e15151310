"""The human report of ``aienv doctor``: what was inspected, then the findings grouped by
severity, each with its evidence and fix, and a one-line summary. Returns text; the CLI prints."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ..host import Host
from .environment import Environment, FrameworkInfo
from .findings import SEVERITIES, Finding, summary

__all__ = ["format_report"]

_HEADINGS = {"error": "errors", "warning": "warnings", "info": "notes"}


def format_report(
    env: Environment, host: Host, findings: Sequence[Finding], *, lock: str | None = None, target: str | None = None
) -> str:
    lines = [f"environment: {env.python}" + (f" (Python {env.python_version})" if env.python_version else "")]
    t = env.torch
    if t is not None and t.imported:
        facts = [f"CUDA {t.cuda}" if t.cuda else f"ROCm {t.hip}" if t.hip else "CPU build"]
        if t.cudnn_version:
            facts.append(f"cuDNN {t.cudnn_version}")
        if t.cuda_available is not None:
            facts.append(f"CUDA available: {'yes' if t.cuda_available else 'no'}")
        lines.append(f"  torch {t.version} ({', '.join(facts)})")
    for name, f in sorted(env.frameworks.items()):
        lines.append(f"  {name} {f.version or ''}".rstrip() + f" ({_framework_facts(f)})")
    gpus = host.describe_gpus() if (host.gpus or host.amd_gpus or host.intel_gpus) else "none"
    lines.append(f"host: {host.platform}, driver {host.driver or 'none found'}, GPUs: {gpus}")
    if lock is not None:
        lines.append(f"lock: {lock}, target {target}")
    for severity in SEVERITIES:
        group = [f for f in findings if f.severity == severity]
        if not group:
            continue
        lines += ["", f"{_HEADINGS[severity]}:"]
        for f in group:
            lines.append(f"  [{f.code}] {f.message}")
            evidence = "; ".join(f"{k}: {_value(v)}" for k, v in f.evidence.items() if v not in (None, [], {}, ""))
            if evidence:
                lines.append(f"    evidence: {evidence}")
            if f.fix:
                lines.append(f"    fix: {f.fix}")
    if sum(f.severity == "error" for f in findings) > 1:
        lines += ["", "Each fix answers its own finding: apply the first, then run `aienv doctor` again."]
    lines += ["", summary(findings)]
    return "\n".join(lines) + "\n"


def _framework_facts(f: FrameworkInfo) -> str:
    if not f.imported:
        return "import fails"
    facts = []
    if f.cuda_build is not None:
        facts.append(f"CUDA {f.cuda}" if f.cuda_build and f.cuda else "CUDA build" if f.cuda_build else "CPU build")
    if f.backend:
        facts.append(f"backend {f.backend}")
    if f.gpus is not None or f.device_count is not None:
        facts.append(f"GPUs seen: {len(f.gpus) if f.gpus is not None else f.device_count}")
    if f.run_check is not None:
        facts.append("run_check: " + ("passed" if f.run_check[0] else "failed"))
    return ", ".join(facts) or "imported"


def _value(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value)
