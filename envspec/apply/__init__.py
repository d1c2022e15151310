"""``aienv apply``: make a real environment match the lock, verified, or change nothing.

:func:`apply` chooses the lock's target for this machine (:func:`choose_target`, refusing with
the reasons when the machine cannot run it), builds a new virtual environment beside the prefix
with the locked Python — or, for a target with solved conda packages, a conda prefix of exactly
those packages made by py-rattler (:mod:`envspec.apply._conda`) — installs exactly the locked
files into it (uv when on PATH, else pip; ``--require-hashes --no-deps``), verifies it with the
doctor's probe and checks, and swaps it in atomically. A re-apply of the same lock is a no-op.
See :mod:`envspec.apply._apply` for the order of work and :mod:`envspec.apply._swap` for the swap.

The names that need the lock's models (:func:`choose_target`, :class:`Plan`, …) are imported
on first use (PEP 562), so that ``apply`` can find a prefix current without importing them.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from ._apply import ApplyRequest, ApplyResult, apply
from ._errors import ApplyError, HostMismatch, PrefixError, VerifyError
from ._layout import MARKER

if TYPE_CHECKING:
    from ._match import TargetChoice, choose_target, host_reasons
    from ._plan import Plan, PlanItem, installed_versions

_LAZY = {
    "TargetChoice": "_match", "choose_target": "_match", "host_reasons": "_match",
    "Plan": "_plan", "PlanItem": "_plan", "installed_versions": "_plan",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


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
