"""``aienv apply``: make a real environment match the lock, verified, or change nothing.

:func:`apply` chooses the lock's target for this machine (:func:`choose_target`, refusing with
the reasons when the machine cannot run it), builds a new virtual environment beside the prefix
with the locked Python, installs exactly the locked files into it (uv when on PATH, else pip;
``--require-hashes --no-deps``), verifies it with the doctor's probe and checks, and swaps it in
atomically. A re-apply of the same lock is a no-op. See :mod:`envspec.apply._apply` for the
order of work and :mod:`envspec.apply._swap` for the swap.
"""

from __future__ import annotations

from ._apply import ApplyRequest, ApplyResult, apply
from ._errors import ApplyError, HostMismatch, PrefixError, VerifyError
from ._layout import MARKER
from ._match import TargetChoice, choose_target, host_reasons
from ._plan import Plan, PlanItem, installed_versions

__all__ = [
    "MARKER",
    "ApplyError",
    "ApplyRequest",
    "ApplyResult",
    "HostMismatch",
    "Plan",
    "PlanItem",
    "PrefixError",
    "TargetChoice",
    "VerifyError",
    "apply",
    "choose_target",
    "host_reasons",
    "installed_versions",
]
