"""The apply itself: plan, build beside, verify, swap — or change nothing.

Order of work, each step before the next can change anything the user has:

0. a prefix whose marker says it is current for this lock, target and machine is left alone
   without the lock being parsed (:mod:`envspec.apply._current`);
1. read the lock, detect the machine (only its platform and C library for a named CPU target),
   choose the target (or refuse), find the installer and an interpreter of the locked Python;
2. take the prefix's apply lock and clean up after applies that died (:func:`recover`);
3. plan: a current environment is left alone (a no-op that says so); a path that is not an
   environment, or a venv aienv did not make (without ``--replace``), is refused;
4. build a new venv (or, for a target with conda packages, a conda prefix: :mod:`._conda`) at a
   staging path beside the prefix, install the locked files into it (hashes required, no
   dependency resolution), verify it with the doctor's probe and checks, record what was
   applied in it, point its scripts at the prefix;
5. swap it in (one rename, or an atomic exchange), then delete the previous environment.

Any failure or interrupt before step 5 removes the staging directory and leaves the prefix as
it was; a SIGKILL leaves the staging directory, which the next apply removes. Steps 1 to 5 are
in :mod:`envspec.apply._build`, imported only when step 0 did not settle it: a no-op imports
neither the lock's models nor the doctor.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ._current import RecordedPlan, recorded_current
from ._layout import MARKER
from ._swap import prefix_lock, recover

if TYPE_CHECKING:
    from ..doctor import Environment, Finding
    from ..host import Host
    from ..matrix import Matrix
    from ._plan import Plan

__all__ = ["ApplyRequest", "ApplyResult", "apply"]

Progress = Callable[[str], None]


@dataclass(frozen=True)
class ApplyRequest:
    """What the user asked for (the CLI's flags)."""

    lock_path: Path
    prefix: Path
    target: str | None = None
    force: bool = False
    replace: bool = False
    reinstall: bool = False
    dry_run: bool = False
    installer: Literal["auto", "uv", "pip"] = "auto"
    python: str | None = None
    verify: bool = True
    timeout: float = 120.0


@dataclass
class ApplyResult:
    """What happened: ``status`` is ``applied``, ``current`` (nothing to do) or ``dry-run``.

    ``plan`` is the :class:`~envspec.apply.Plan`, or for a no-op decided from the marker the
    :class:`~envspec.apply._current.RecordedPlan` of the apply that made the prefix.
    """

    plan: Plan | RecordedPlan
    status: Literal["applied", "current", "dry-run"]
    seconds: float = 0.0
    findings: list[Finding] = field(default_factory=list)
    environment: Environment | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "seconds": round(self.seconds, 3),
            "plan": self.plan.to_dict(),
            "findings": [f.to_dict() for f in self.findings],
            "notes": self.notes,
        }


def absolute(prefix: Path) -> Path:
    """``prefix`` made absolute, its parent resolved once, so the staging path and the prefix
    are spelled alike (the scripts' shebangs are rewritten from one to the other)."""
    prefix = prefix.expanduser()
    parent = prefix.absolute().parent
    return (parent.resolve() if parent.exists() else parent) / prefix.name


def apply(request: ApplyRequest, *, host: Host | None = None, matrix: Matrix | None = None, progress: Progress | None = None,
          output: Progress | None = None) -> ApplyResult:
    """Make the environment at ``request.prefix`` match the lock (see the module docstring).

    ``host`` stands for this machine's detected facts (tests, or a caller that has them);
    ``progress`` gets one line per step, ``output`` every line the installer prints. Raises
    :class:`~envspec.apply.HostMismatch`, :class:`~envspec.apply.PrefixError`,
    :class:`~envspec.apply.ApplyError`, :class:`~envspec.apply.VerifyError`, or the lock's
    errors; on any of them (and on an interrupt) the prefix is as it was.
    """
    say = progress or (lambda _line: None)
    started = time.monotonic()
    prefix = absolute(request.prefix)
    notes: list[str] = []
    if not (request.dry_run or request.reinstall or request.force or request.python) and (prefix / MARKER).is_file():
        with prefix_lock(prefix):
            notes = recover(prefix)
            for note in notes:
                say(note)
            recorded = recorded_current(prefix, request.lock_path, request.target, host)
        if recorded is not None:
            return ApplyResult(recorded, "current", time.monotonic() - started, notes=notes)
    from ._build import apply_full

    plan, status, env, findings, more = apply_full(request, prefix, host=host, matrix=matrix, say=say, output=output)
    return ApplyResult(plan, status, time.monotonic() - started, findings, env, notes + more)
