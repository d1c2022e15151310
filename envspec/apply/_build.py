"""Steps 1 to 5 of an apply (see :mod:`envspec.apply._apply`): read the lock, detect, choose,
plan, then build beside, verify, record and swap.

What the machine's detection covers depends on the target asked for: a target named with
``--target`` that needs no GPU (CPU, MPS) is checked against the platform and C library only,
and nothing else is probed (no ``nvidia-smi``, no ``lspci``): its checks and its verification
read nothing else. Every other case detects the machine as ``aienv detect`` does.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from .. import __version__
from ..host import Host, probe_host
from ..lockfile import Lock, atomic_write, lock_from_dict, read_lock
from ..matrix import Matrix, get_matrix
from ..sources._cache import default_cache_dir
from ._apply import ApplyRequest, Progress
from ._conda import conda_python, create_conda_prefix, require_rattler
from ._current import NOOP_KEY, Scope, choice_scope, machine_facts
from ._errors import ApplyError, PrefixError
from ._install import create_venv, install_packages
from ._layout import MARKER, installed_listing, leftovers, new_sibling
from ._match import choose_target
from ._plan import Plan, format_size, make_plan
from ._python import find_interpreter
from ._swap import prefix_lock, recover, remove_tree, retarget, swap_in

if TYPE_CHECKING:
    from ..doctor import Environment, Finding

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["apply_full"]

Status = Literal["applied", "current", "dry-run"]


def _installer(choice: str) -> tuple[Literal["uv", "pip"], str]:
    uv = shutil.which("uv")
    if choice == "uv" or (choice == "auto" and uv):
        if uv is None:
            raise ApplyError("--installer uv: uv is not on PATH", code="no-uv", hint="install uv (pip install uv), or use --installer pip",
                             exit_code=2)
        return "uv", uv
    return "pip", "pip"


def _read_lock(path: Path) -> tuple[Lock, str | None]:
    """The lock and the sha256 of the very bytes it was read from (None when they could not be
    read twice alike: :func:`read_lock` then reads it, or raises its usual errors)."""
    try:
        raw = path.read_bytes()
        data = tomllib.loads(raw.decode("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return read_lock(path), None
    return lock_from_dict(data, path.name), hashlib.sha256(raw).hexdigest()


def _scope(lock: Lock, request: ApplyRequest) -> Scope:
    if request.target is None:
        return "host"
    return choice_scope(True, lock.target(request.target).accelerator)  # an unknown name raises here, as choose_target would


def _detect(scope: Scope) -> Host:
    if scope == "machine":
        from ..detect import detect

        return detect(gpus=[]).host  # the GPUs given as none: no GPU tool runs
    return probe_host()


def apply_full(
    request: ApplyRequest, prefix: Path, *, host: Host | None, matrix: Matrix | None, say: Progress, output: Progress | None,
) -> tuple[Plan, Status, Environment | None, list[Finding], list[str]]:
    """Apply ``request`` to the absolute ``prefix``: ``(plan, status, environment, findings,
    notes)``."""
    lock, lock_sha256 = _read_lock(request.lock_path)
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
        require_rattler()  # before anything is touched
        interpreter = conda_python(prefix)  # the locked conda python, in the prefix
    else:
        interpreter = find_interpreter(choice.target.python, python=request.python, uv=installer_path if installer == "uv" else None)

    if request.dry_run:
        plan = make_plan(lock, request.lock_path, choice, prefix, interpreter, installer, installer_path)
        notes = [f"an interrupted apply left {p.name}; the next apply removes it" for p in leftovers(prefix, "stage")]
        _refuse_foreign(plan, request)
        return plan, "dry-run", None, [], notes

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
            return plan, "current", None, [], notes
        facts = machine_facts(scope, host if host is not None or scope == "machine" else detected)
        marker = _marker(plan, request)
        marker[NOOP_KEY] = {"lock-sha256": lock_sha256, "target": request.target, "scope": scope, "facts": facts}
        env, findings = _build_and_swap(plan, request, detected, matrix, marker, say, output)
        return plan, "applied", env, findings, notes


def _refuse_foreign(plan: Plan, request: ApplyRequest) -> None:
    if plan.state == "foreign" and not request.replace:
        raise PrefixError(
            f"{plan.prefix} is an environment aienv did not make; applying would replace it and lose what is installed there",
            hint="pass --replace to replace it, or choose another place with --prefix DIR", code="prefix-not-aienv",
        )


def _build_and_swap(
    plan: Plan, request: ApplyRequest, host: Host, matrix: Matrix, marker: dict[str, Any], say: Progress, output: Progress | None
) -> tuple[Environment | None, list[Finding]]:
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
                create_conda_prefix(plan, stage, default_cache_dir(), output)
            else:
                say(f"[1/{steps}] creating a Python {plan.target.python} environment with {plan.installer} ({plan.interpreter})")
                create_venv(plan, stage, output)
            say(f"[2/{steps}] installing {len(plan.items)} packages, {format_size(plan.download_size)}, with {plan.installer} "
                "(exact files, hashes required, no dependency resolution)")
            install_packages(plan, stage, Path(scratch), output)
        if request.verify:
            from ._verify import verify  # the doctor: not imported for --no-verify

            say(f"[3/{steps}] verifying the new environment (imports, torch's version and CUDA, this machine's GPUs)")
            env, findings = verify(plan.python_in(stage), plan.choice, host, matrix, lock_name=plan.lock_path.name, timeout=request.timeout)
        marker[NOOP_KEY]["installed"] = installed_listing(stage)
        atomic_write(stage / MARKER, json.dumps(marker, indent=2, sort_keys=True) + "\n")
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
        "kind": plan.kind,
        "installer": plan.installer,
        "python": plan.target.python,
        "packages": len(plan.items),
        "conda-packages": len(plan.conda),
        "verified": request.verify,
        "forced": bool(plan.choice.overridden),
        "plan": plan.to_dict(),
    }
