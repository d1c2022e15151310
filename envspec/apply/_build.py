"""Steps 1 to 5 of an apply (see :mod:`envspec.apply._apply`): read the lock, detect, choose,
plan, then build beside, verify, record and swap.

What the machine's detection covers depends on the target asked for: a target named with
``--target`` that needs no GPU (CPU, MPS) is checked against the platform and C library only,
and nothing else is probed (no ``nvidia-smi``, no ``lspci``): its checks and its verification
read nothing else. Every other case detects the machine as ``aienv detect`` does.

Such a target, once its lock has been read, has its plan in the plan cache
(:mod:`envspec.apply._plancache`): the next apply of the same lock bytes into a new prefix takes
the files from there and does not import the lock's models, the matrix or the backends until it
verifies (with ``--no-verify``, not at all).

The verification starts the probe in the new environment first (its module needs no more than
``packaging``), and while the environment's Python imports the stack (seconds, with a real
torch) this process does its own share: it imports the doctor's checks, and for a plan from the
plan cache reads the lock from the same bytes, chooses the target again and compares the plan's
contents (about 0.2 s of one core, which before ran beside the installer and slowed it). An
entry that disagrees with the lock is dropped and the apply starts over from the lock, before
anything is swapped in. Nothing runs in a thread: the installer's child runs Python code between
fork and exec (the parent-death signal), which is safe only with no other thread running.

This module imports only what every apply needs; the lock's models and the detection are
imported where they are used.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from .. import __version__
from ._apply import ApplyRequest, Progress
from ._conda import conda_python
from ._current import NOOP_KEY, Scope, choice_scope, machine_facts
from ._errors import ApplyError, PrefixError
from ._install import create_venv, install_packages
from ._layout import MARKER, installed_listing, leftovers, new_sibling, write_atomic
from ._plan import Contents, Plan, format_size, plan_from
from ._python import find_interpreter
from ._swap import prefix_lock, recover, remove_tree, retarget, swap_in

if TYPE_CHECKING:
    from ..doctor import Environment, Finding
    from ..host import Host
    from ..lockfile import Lock
    from ..matrix import Matrix
    from ._match import TargetChoice
    from ._plancache import CachedPlan

__all__ = ["apply_full"]

Status = Literal["applied", "current", "dry-run"]
Outcome = tuple[Plan, Status, "Environment | None", "list[Finding]", list[str]]
#: What the verification needs: the plan with the real target choice, this machine, the matrix.
VerifyContext = Callable[[], "tuple[Plan, Host, Matrix]"]
#: The environment variables detection reads for a target named with --target (a bad value is an
#: error of the full apply): part of the plan cache's key.
_DETECT_ENV = ("AIENV_DRIVER", "AIENV_GPUS")


class _StaleEntry(Exception):
    """The plan cache's entry disagrees with the lock: start over without it."""


def _installer(choice: str) -> tuple[Literal["uv", "pip"], str]:
    uv = shutil.which("uv")
    if choice == "uv" or (choice == "auto" and uv):
        if uv is None:
            raise ApplyError("--installer uv: uv is not on PATH", code="no-uv", hint="install uv (pip install uv), or use --installer pip",
                             exit_code=2)
        return "uv", uv
    return "pip", "pip"


def _lock_bytes(path: Path) -> tuple[bytes | None, str | None]:
    """The lock's bytes and their sha256, or ``(None, None)`` when they cannot be read (the
    full apply then reads it with :func:`~envspec.lockfile.read_lock`, which raises its usual
    errors)."""
    try:
        raw = path.read_bytes()
    except OSError:
        return None, None
    return raw, hashlib.sha256(raw).hexdigest()


def _parse_lock(raw: bytes | None, path: Path) -> tuple[Lock, bool]:
    """The lock from ``raw``, its bytes, and True; else (they do not parse as they are) from
    :func:`~envspec.lockfile.read_lock`, which raises its usual errors, and False."""
    from ..lockfile import lock_from_dict, read_lock

    if raw is None:
        return read_lock(path), False
    try:
        import tomllib
    except ImportError:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError):
        return read_lock(path), False  # its errors, worded as for every command
    return lock_from_dict(data, path.name), True


def _scope(lock: Lock, request: ApplyRequest) -> Scope:
    if request.target is None:
        return "host"
    return choice_scope(True, lock.target(request.target).accelerator)  # an unknown name raises here, as choose_target would


def _detect(scope: Scope) -> Host:
    if scope == "machine":
        from ..detect import detect

        return detect(gpus=[]).host  # the GPUs given as none: no GPU tool runs
    from ..host import probe_host

    return probe_host()


def _cache_facts(host: Host | None) -> dict[str, Any]:
    """What the choice of a target named with --target that needs no GPU read (as the no-op
    marker records it), and the environment detection would read."""
    return {"machine": machine_facts("machine", host), "env": {k: os.environ.get(k) for k in _DETECT_ENV}}


def _cacheable(request: ApplyRequest, matrix: Matrix | None) -> bool:
    """Whether this apply may use (and fill) the plan cache: a named target, not forced, the
    embedded matrix (a caller's own could choose otherwise)."""
    return request.target is not None and not request.force and matrix is None


def apply_full(
    request: ApplyRequest, prefix: Path, *, host: Host | None, matrix: Matrix | None, say: Progress, output: Progress | None,
) -> Outcome:
    """Apply ``request`` to the absolute ``prefix``: ``(plan, status, environment, findings,
    notes)``."""
    raw, lock_sha256 = _lock_bytes(request.lock_path)
    notes: list[str] = []
    if lock_sha256 is not None and not request.dry_run and _cacheable(request, matrix):
        from . import _plancache

        assert request.target is not None
        facts = _cache_facts(host)
        cached = _plancache.load(lock_sha256, request.target, facts)
        if cached is not None:
            try:
                return _apply_cached(cached, raw, lock_sha256, request, prefix, host, say, output, notes)
            except _StaleEntry:
                _plancache.remove(lock_sha256, request.target)
    return _apply_from_lock(raw, lock_sha256, request, prefix, host, matrix, say, output, notes)


def _apply_from_lock(
    raw: bytes | None, lock_sha256: str | None, request: ApplyRequest, prefix: Path, host: Host | None, matrix: Matrix | None,
    say: Progress, output: Progress | None, notes: list[str],
) -> Outcome:
    """The apply that reads the lock (and fills the plan cache for a named CPU target)."""
    from ..matrix import get_matrix
    from ._match import choose_target

    cacheable = _cacheable(request, matrix)
    lock, parsed = _parse_lock(raw, request.lock_path)
    if not parsed:
        lock_sha256 = None  # not the hash of the bytes the lock was read from
    matrix = matrix or get_matrix()
    scope = _scope(lock, request)
    detected = host or _detect(scope)
    choice = choose_target(lock, detected, matrix, request.target, force=request.force)
    installer, installer_path = _installer(request.installer)
    if choice.target.conda is not None and choice.target.conda.packages:
        if request.python is not None:
            raise ApplyError(
                f"--python {request.python}: target {choice.name!r} is a conda prefix, whose Python is the lock's conda python",
                hint="leave out --python (it chooses the interpreter of a venv)", code="python-not-for-conda", exit_code=2,
            )
        from ._conda import require_rattler

        require_rattler()  # before anything is touched
        interpreter = conda_python(prefix)  # the locked conda python, in the prefix
    else:
        interpreter = find_interpreter(choice.target.python, python=request.python, uv=installer_path if installer == "uv" else None)

    if request.dry_run:
        plan = _plan(lock, request, choice, prefix, interpreter, installer, installer_path, lock_sha256, scope, host, cacheable)
        notes += [f"an interrupted apply left {p.name}; the next apply removes it" for p in leftovers(prefix, "stage")]
        _refuse_foreign(plan, request)
        return plan, "dry-run", None, [], notes

    prefix.parent.mkdir(parents=True, exist_ok=True)
    with prefix_lock(prefix):
        notes += _recover(prefix, say)
        plan = _plan(lock, request, choice, prefix, interpreter, installer, installer_path, lock_sha256, scope, host, cacheable)
        _refuse_foreign(plan, request)
        if choice.overridden:
            say(f"warning: --force: this machine does not fit target {choice.name!r}: " + "; ".join(choice.overridden))
        if plan.state == "current" and not request.reinstall:
            return plan, "current", None, [], notes
        facts = machine_facts(scope, host if host is not None or scope == "machine" else detected)
        marker = _marker(plan, request)
        marker[NOOP_KEY] = {"lock-sha256": lock_sha256, "target": request.target, "scope": scope, "facts": facts}
        env, findings, plan = _build_and_swap(plan, request, lambda: (plan, detected, matrix), marker, say, output)
        return plan, "applied", env, findings, notes


def _plan(
    lock: Lock, request: ApplyRequest, choice: TargetChoice, prefix: Path, interpreter: Path, installer: Literal["uv", "pip"],
    installer_path: str, lock_sha256: str | None, scope: Scope, host: Host | None, cacheable: bool,
) -> Plan:
    """The plan from the lock; recorded in the plan cache when a later apply may take it from
    there (a named target of scope ``machine``, a venv of wheels only)."""
    from ._plan import plan_contents

    contents = plan_contents(lock, choice.name)
    if cacheable and lock_sha256 is not None and scope == "machine" and not contents.conda and all(i.is_wheel for i in contents.items):
        from . import _plancache

        assert request.target is not None
        _plancache.store(_plancache.planned_choice(choice), contents, lock_sha256, request.target, _cache_facts(host))
    return plan_from(contents, choice, request.lock_path, prefix, interpreter, installer, installer_path)


def _recover(prefix: Path, say: Progress) -> list[str]:
    notes = recover(prefix)
    for note in notes:
        say(note)
    return notes


def _apply_cached(
    cached: CachedPlan, raw: bytes | None, lock_sha256: str, request: ApplyRequest, prefix: Path, host: Host | None,
    say: Progress, output: Progress | None, notes: list[str],
) -> Outcome:
    """The apply of a plan from the plan cache: the same steps as from the lock, in the same
    order, with the choice and the contents the entry recorded."""
    installer, installer_path = _installer(request.installer)
    choice = cached.choice
    interpreter = find_interpreter(choice.target.python, python=request.python, uv=installer_path if installer == "uv" else None)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    with prefix_lock(prefix):
        notes += _recover(prefix, say)
        plan = plan_from(cached.contents, choice, request.lock_path, prefix, interpreter, installer, installer_path)
        _refuse_foreign(plan, request)
        if plan.state == "current" and not request.reinstall:
            return plan, "current", None, [], notes
        marker = _marker(plan, request)
        marker[NOOP_KEY] = {"lock-sha256": lock_sha256, "target": request.target, "scope": "machine",
                            "facts": machine_facts("machine", host)}

        checked = plan
        env, findings, plan = _build_and_swap(plan, request, lambda: _checked_against_lock(checked, raw, request, host), marker, say,
                                              output)
        return plan, "applied", env, findings, notes


def _checked_against_lock(plan: Plan, raw: bytes | None, request: ApplyRequest, host: Host | None) -> tuple[Plan, Host, Matrix]:
    """For the verification of a plan from the plan cache: the lock read from the bytes the
    entry's key was taken from, the target chosen again on this machine, the plan's contents
    recomputed. Any difference (or error) raises :class:`_StaleEntry`."""
    from ..matrix import get_matrix
    from . import _plancache
    from ._match import choose_target
    from ._plan import plan_contents

    try:
        lock, parsed = _parse_lock(raw, request.lock_path)
        if not parsed:
            raise _StaleEntry("the lock's bytes do not parse as they are")
        matrix = get_matrix()
        detected = host or _detect("machine")
        choice = choose_target(lock, detected, matrix, request.target, force=request.force)
        contents = plan_contents(lock, choice.name)
    except Exception as e:  # the full apply reports it, from the lock
        raise _StaleEntry(str(e)) from e
    if _plancache.planned_choice(choice) != plan.choice or contents.comparable() != _contents(plan).comparable():
        raise _StaleEntry("the plan cache's entry differs from the lock")
    return replace(plan, choice=choice, builds=contents.builds), detected, matrix


def _contents(plan: Plan) -> Contents:
    return Contents(plan.spec_digest, plan.items, plan.builds, plan.conda, plan.notes, plan.fingerprint)


def _refuse_foreign(plan: Plan, request: ApplyRequest) -> None:
    if plan.state == "foreign" and not request.replace:
        raise PrefixError(
            f"{plan.prefix} is an environment aienv did not make; applying would replace it and lose what is installed there",
            hint="pass --replace to replace it, or choose another place with --prefix DIR", code="prefix-not-aienv",
        )


def _build_and_swap(
    plan: Plan, request: ApplyRequest, context: VerifyContext, marker: dict[str, Any], say: Progress, output: Progress | None
) -> tuple[Environment | None, list[Finding], Plan]:
    """Build the plan's environment at the staging path, verify it (``context`` gives what the
    verification needs), record the marker, swap it in. Returns the environment the probe saw,
    the findings and the plan (with the real target choice once verified)."""
    stage = new_sibling(plan.prefix, "stage")
    steps = 4 if request.verify else 3
    env: Environment | None = None
    findings: list[Finding] = []
    try:
        with tempfile.TemporaryDirectory(prefix="aienv-apply-") as scratch:
            if plan.kind == "conda":
                python = next(p for p in plan.conda if p.name == "python")
                say(f"[1/{steps}] creating a conda prefix with py-rattler: {len(plan.conda)} conda packages, python "
                    f"{python.version} (the locked files, sha256 checked, no solve)")
                from ..sources._cache import default_cache_dir
                from ._conda import create_conda_prefix

                create_conda_prefix(plan, stage, default_cache_dir(), output)
            else:
                say(f"[1/{steps}] creating a Python {plan.target.python} environment with {plan.installer} ({plan.interpreter})")
                create_venv(plan, stage, output)
            say(f"[2/{steps}] installing {len(plan.items)} packages, {format_size(plan.download_size)}, with {plan.installer} "
                "(exact files, hashes required, no dependency resolution)")
            install_packages(plan, stage, Path(scratch), output)
        if request.verify:
            say(f"[3/{steps}] verifying the new environment (imports, torch's version and CUDA, this machine's GPUs)")
            from ..doctor import start_probe  # the probe's module alone

            probe = start_probe(plan.python_in(stage), timeout=request.timeout)
            try:
                plan, host, matrix = context()  # while the probe runs (see the module's docstring)
                # the doctor's checks: not imported for --no-verify
                from ._verify import verify

                env, findings = verify(probe, plan.choice, host, matrix, lock_name=plan.lock_path.name)
            finally:
                probe.kill()  # a no-op once verify() has its result; else before the stage is removed
        marker[NOOP_KEY]["installed"] = installed_listing(stage)
        write_atomic(stage / MARKER, json.dumps(marker, indent=2, sort_keys=True) + "\n")
        retarget(stage, plan.prefix)
        say(f"[{steps}/{steps}] swapping the new environment into {plan.prefix}")
        old = swap_in(stage, plan.prefix)
    except BaseException:
        if stage.exists() or stage.is_symlink():
            remove_tree(stage)
        raise
    if old is not None:
        remove_tree(old)
    return env, findings, plan


def _marker(plan: Plan, request: ApplyRequest) -> dict[str, Any]:
    return {
        "applied-by": f"aienv {__version__}",
        "lock": str(plan.lock_path),
        "spec-digest": plan.spec_digest,
        "target": plan.choice.name,
        "fingerprint": plan.fingerprint,
        "kind": plan.kind,
        "installer": plan.installer,
        "python": plan.target.python,
        "packages": len(plan.items),
        "conda-packages": len(plan.conda),
        "verified": request.verify,
        "forced": bool(plan.choice.overridden),
        "plan": plan.to_dict(),
    }
