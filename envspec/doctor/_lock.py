"""Doctor against ``aienv.lock``: which target applies here, and what differs from it.

Codes: ``lock-python-mismatch``, ``lock-version-mismatch``, ``lock-package-missing``,
``lock-cuda-mismatch`` (what ``import torch`` reports against the target's CUDA). A
full-closure lock (``closure = "full"``) is compared package by package; a stack lock
(``aienv lock --no-index``) pins the stack alone, so only the stack is compared.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from packaging.specifiers import InvalidSpecifier, SpecifierSet

from ..errors import LockfileError
from ..host import Host
from ..lockfile import Lock, LockedPackage, LockedTarget
from ..vocabulary import STACK_PACKAGES
from ._context import Context
from ._fixes import parse_version
from .findings import Finding

__all__ = ["check_lock", "select_target"]


def select_target(lock: Lock, host: Host, name: str | None = None) -> tuple[str, LockedTarget]:
    """The target of ``lock`` to compare with: ``name``; else the only one; else the one whose
    platform is the host's, narrowed by GPUs (the host's compute capabilities among the
    target's; a CPU target for a host without GPUs), then by driver.

    Raises :class:`~envspec.errors.LockfileError` (exit 2) when none or several fit.
    """
    if name is not None:
        return name, lock.target(name)
    if len(lock.targets) == 1:
        return next(iter(lock.targets.items()))
    names = sorted(lock.targets)
    fits = [n for n in names if lock.targets[n].platform == host.platform]
    if len(fits) > 1:
        ccs = {str(g.cc) for g in host.gpus}
        if ccs:
            narrowed = [n for n in fits if lock.targets[n].accelerator == "cuda"
                        and ccs <= {g.compute_capability for g in lock.targets[n].gpus}]
        else:
            narrowed = [n for n in fits if lock.targets[n].accelerator in ("cpu", "mps")]
        if len(narrowed) > 1 and host.driver is not None:
            by_driver = [n for n in narrowed if lock.targets[n].driver == str(host.driver)]
            narrowed = by_driver or narrowed
        fits = narrowed or fits
    if len(fits) == 1:
        return fits[0], lock.targets[fits[0]]
    what = ", ".join(f"{n} ({lock.targets[n].platform})" for n in names)
    if not fits:
        raise LockfileError(
            f"the lock has no target for this machine ({host.platform}); its targets: {what}",
            hint="choose one with --target NAME, or add this machine to [targets] and run `aienv lock`",
            code="no-matching-target",
        )
    raise LockfileError(
        f"several targets of the lock fit this machine: {', '.join(fits)}",
        hint="choose one with --target NAME", code="ambiguous-target",
    )


def _same(installed: str, locked: str) -> bool:
    """pip's view: ``==locked`` (a local label only when the lock has one)."""
    v = parse_version(installed)
    try:
        return v is not None and SpecifierSet(f"=={locked}").contains(v, prereleases=True)
    except InvalidSpecifier:
        return installed == locked


def _by_conda_route(installed: str, package: LockedPackage, target: LockedTarget) -> bool:
    """A package with a conda route may have come in by it (a conda prefix, ``--format conda``):
    then its version is the conda package's, the solved record's or the route's ``==`` pin
    (``paddlepaddle-gpu ==2.6.2`` for the wheel ``2.6.2.post117``)."""
    route = package.conda_route
    if route is None:
        return False
    solved = [r.version for r in (target.conda.packages if target.conda else ()) if r.name == package.name]
    pinned = [m.group(1) for spec in route.specs if (m := re.match(rf"^{re.escape(package.name)}\s*==\s*(\S+)$", spec))]
    return any(_same(installed, v) for v in [*solved, *pinned])


def check_lock(ctx: Context) -> Iterator[Finding]:
    target, name = ctx.target, ctx.target_name
    if target is None or name is None or not ctx.env.distributions:
        return
    where = f"{ctx.lock_name} (target {name})"
    minor = ctx.env.python_minor
    locked_minor = ".".join(target.python.split(".")[:2])
    if minor and minor != locked_minor:
        yield Finding(
            "lock-python-mismatch", "error",
            f"the environment runs Python {ctx.env.python_version}; {where} is for Python {target.python}",
            {"python": ctx.env.python_version, "locked": target.python, "target": name},
            f"re-create the environment with Python {locked_minor} (python{locked_minor} -m venv DIR), then install the lock into it",
        )
    yield from _check_cuda(ctx, target, name, where)
    packages = [p for p in target.packages if target.closure == "full" or p.name in STACK_PACKAGES]
    differ, missing = {}, {}
    for p in packages:
        installed = ctx.env.version_of(p.name)
        if installed is None:
            missing[p.name] = p.version
        elif not (_same(installed, p.version) or _by_conda_route(installed, p, target)):
            differ[p.name] = {"installed": installed, "locked": p.version}
    scope = "" if target.closure == "full" else " (a stack lock: only the stack is compared)"
    if differ:
        shown = ", ".join(f"{n} {d['installed']} (locked {d['locked']})" for n, d in list(differ.items())[:5])
        more = f", and {len(differ) - 5} more" if len(differ) > 5 else ""
        yield Finding(
            "lock-version-mismatch", "error",
            f"{len(differ)} installed package{'s differ' if len(differ) != 1 else ' differs'} from {where}: {shown}{more}{scope}",
            {"target": name, "closure": target.closure, "packages": differ},
            ctx.lock_fix(list(differ)),
        )
    if missing:
        shown = ", ".join(f"{n} {v}" for n, v in list(missing.items())[:5])
        more = f", and {len(missing) - 5} more" if len(missing) > 5 else ""
        yield Finding(
            "lock-package-missing", "error",
            f"{len(missing)} package{'s' if len(missing) != 1 else ''} of {where} {'are' if len(missing) != 1 else 'is'} "
            f"not installed: {shown}{more}{scope}",
            {"target": name, "closure": target.closure, "missing": missing},
            ctx.lock_fix(list(missing)),
        )


def _minor(text: str) -> str:
    return ".".join(text.split(".")[:2])


def _check_cuda(ctx: Context, target: LockedTarget, name: str, where: str) -> Iterator[Finding]:
    """torch's own CUDA against the target's: a CUDA build of another CUDA minor, or a CUDA
    build where the target is CPU (a CPU build on a CUDA target is ``torch-cpu-build`` on a GPU
    machine, and shows here too on one without)."""
    t = ctx.torch
    if t is None or not t.imported:
        return
    evidence = {"torch": t.version, "torch.version.cuda": t.cuda, "target": name, "locked-cuda": target.cuda,
                "locked-variant": target.variant}
    if target.accelerator == "cuda" and target.cuda and (t.cuda is None or _minor(t.cuda) != _minor(target.cuda)):
        what = f"a CUDA {t.cuda} build" if t.cuda else "a build without CUDA"
        yield Finding(
            "lock-cuda-mismatch", "error", f"torch {t.version} is {what}; {where} has CUDA {target.cuda} ({target.variant})",
            evidence, ctx.lock_fix(["torch"]),
        )
    elif target.accelerator == "cpu" and t.cuda:
        yield Finding(
            "lock-cuda-mismatch", "error", f"torch {t.version} is a CUDA {t.cuda} build; {where} is a CPU target",
            evidence, ctx.lock_fix(["torch"]),
        )
