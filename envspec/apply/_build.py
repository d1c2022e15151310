"""The apply itself: plan, build beside, verify, swap — or change nothing.

Order of work, each step before the next can change anything the user has:

1. read the lock, detect the machine, choose the target (or refuse), find the installer and an
   interpreter of the locked Python;
2. take the prefix's apply lock and clean up after applies that died (:func:`recover`);
3. plan: a current environment is left alone (a no-op that says so); a path that is not an
   environment, or a venv aienv did not make (without ``--replace``), is refused;
4. build a new venv at a staging path beside the prefix, install the locked files into it
   (hashes required, no dependency resolution), verify it with the doctor's probe and checks,
   record what was applied in it, point its scripts at the prefix;
5. swap it in (one rename, or an atomic exchange), then delete the previous environment.

Any failure or interrupt before step 5 removes the staging directory and leaves the prefix as
it was; a SIGKILL leaves the staging directory, which the next apply removes.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .. import __version__
from ..doctor import Environment, Finding
from ..host import Host, probe_host
from ..lockfile import atomic_write, read_lock
from ..matrix import Matrix, get_matrix
from ._errors import ApplyError, PrefixError
from ._install import create_venv, install_packages
from ._layout import MARKER, env_python, leftovers, new_sibling
from ._match import choose_target
from ._plan import Plan, format_size, make_plan, refuse_conda
from ._python import find_interpreter
from ._swap import prefix_lock, recover, remove_tree, retarget, swap_in
from ._verify import verify

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
    """What happened: ``status`` is ``applied``, ``current`` (nothing to do) or ``dry-run``."""

    plan: Plan
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


def _installer(choice: str) -> tuple[Literal["uv", "pip"], str]:
    uv = shutil.which("uv")
    if choice == "uv" or (choice == "auto" and uv):
        if uv is None:
            raise ApplyError("--installer uv: uv is not on PATH", code="no-uv", hint="install uv (pip install uv), or use --installer pip",
                             exit_code=2)
        return "uv", uv
    return "pip", "pip"


def _absolute(prefix: Path) -> Path:
    # The parent resolved once, so the staging path and the prefix are spelled alike (the
    # scripts' shebangs are rewritten from one to the other).
    prefix = prefix.expanduser()
    parent = prefix.absolute().parent
    return (parent.resolve() if parent.exists() else parent) / prefix.name


def apply(request: ApplyRequest, *, host: Host | None = None, matrix: Matrix | None = None, progress: Progress | None = None,
          output: Progress | None = None) -> ApplyResult:
    """Make the environment at ``request.prefix`` match the lock (see the module docstring).

    ``progress`` gets one line per step, ``output`` every line the installer prints. Raises
    :class:`~envspec.apply.HostMismatch`, :class:`~envspec.apply.PrefixError`,
    :class:`~envspec.apply.ApplyError`, :class:`~envspec.apply.VerifyError`, or the lock's
    errors; on any of them (and on an interrupt) the prefix is as it was.
    """
    say = progress or (lambda _line: None)
    started = time.monotonic()
    lock = read_lock(request.lock_path)
    matrix = matrix or get_matrix()
    host = host or probe_host()
    choice = choose_target(lock, host, matrix, request.target, force=request.force)
    refuse_conda(choice)
    installer, installer_path = _installer(request.installer)
    interpreter = find_interpreter(choice.target.python, python=request.python, uv=installer_path if installer == "uv" else None)
    prefix = _absolute(request.prefix)

    if request.dry_run:
        plan = make_plan(lock, request.lock_path, choice, prefix, interpreter, installer, installer_path)
        notes = [f"an interrupted apply left {p.name}; the next apply removes it" for p in leftovers(prefix, "stage")]
        _refuse_foreign(plan, request)
        return ApplyResult(plan, "dry-run", time.monotonic() - started, notes=notes)

    prefix.parent.mkdir(parents=True, exist_ok=True)
    with prefix_lock(prefix):
        notes = recover(prefix)
        for note in notes:
            say(note)
        plan = make_plan(lock, request.lock_path, choice, prefix, interpreter, installer, installer_path)
        _refuse_foreign(plan, request)
        if choice.overridden:
            say(f"warning: --force: this machine does not fit target {choice.name!r}: " + "; ".join(choice.overridden))
        if plan.state == "current" and not request.reinstall:
            return ApplyResult(plan, "current", time.monotonic() - started, notes=notes)
        env, findings = _build_and_swap(plan, request, host, matrix, say, output)
        return ApplyResult(plan, "applied", time.monotonic() - started, findings, env, notes)


def _refuse_foreign(plan: Plan, request: ApplyRequest) -> None:
    if plan.state == "foreign" and not request.replace:
        raise PrefixError(
            f"{plan.prefix} is an environment aienv did not make; applying would replace it and lose what is installed there",
            hint="pass --replace to replace it, or choose another place with --prefix DIR", code="prefix-not-aienv",
        )


def _build_and_swap(
    plan: Plan, request: ApplyRequest, host: Host, matrix: Matrix, say: Progress, output: Progress | None
) -> tuple[Environment | None, list[Finding]]:
    stage = new_sibling(plan.prefix, "stage")
    steps = 4 if request.verify else 3
    env: Environment | None = None
    findings: list[Finding] = []
    try:
        with tempfile.TemporaryDirectory(prefix="aienv-apply-") as scratch:
            say(f"[1/{steps}] creating a Python {plan.target.python} environment with {plan.installer} ({plan.interpreter})")
            create_venv(plan, stage, output)
            say(f"[2/{steps}] installing {len(plan.items)} packages, {format_size(plan.download_size)}, with {plan.installer} "
                "(exact files, hashes required, no dependency resolution)")
            install_packages(plan, stage, Path(scratch), output)
        if request.verify:
            say(f"[3/{steps}] verifying the new environment (imports, torch's version and CUDA, this machine's GPUs)")
            env, findings = verify(env_python(stage), plan.choice, host, matrix, lock_name=plan.lock_path.name, timeout=request.timeout)
        atomic_write(stage / MARKER, json.dumps(_marker(plan, request), indent=2, sort_keys=True) + "\n")
        retarget(stage, plan.prefix)
        say(f"[{steps}/{steps}] swapping the new environment into {plan.prefix}")
        old = swap_in(stage, plan.prefix)
    except BaseException:
        if stage.exists() or stage.is_symlink():
            remove_tree(stage)
        raise
    if old is not None:
        remove_tree(old)
    return env, findings


def _marker(plan: Plan, request: ApplyRequest) -> dict[str, Any]:
    return {
        "applied-by": f"aienv {__version__}",
        "lock": str(plan.lock_path),
        "spec-digest": plan.spec_digest,
        "target": plan.choice.name,
        "fingerprint": plan.fingerprint,
        "installer": plan.installer,
        "python": plan.target.python,
        "packages": len(plan.items),
        "verified": request.verify,
        "forced": bool(plan.choice.overridden),
    }
