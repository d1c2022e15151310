"""Which target of a lock this machine can run, and why not.

:func:`host_reasons` compares one locked target with a :class:`~envspec.host.Host` (normally
the detected machine) and returns one sentence per fact that rules it out; :func:`choose_target`
picks the target to apply. The checks are the lock's own assumptions, the same the shell
backend's script makes: the platform; the glibc (or macOS) floor its wheels need; for a CUDA
target an NVIDIA GPU, a driver at least the variant's floor under the lock's policy, and every
GPU's compute capability among those the target was locked for (the lock checked the torch
build's kernels and the extensions' floors, flash-attn's sm80, for those GPUs only). A GPU of
another capability gets the sharper reason when the build has no kernels for it at all. A ROCm
target needs an AMD GPU of every gfx it was locked for, an XPU target an Intel GPU (a discrete one,
unless the target was locked for an integrated one). A package that loads CUDA libraries of the
machine (the lock's ``system``: PaddlePaddle 2.x, TensorFlow before 2.14) needs them where the
loader finds them (:func:`envspec.detect.libraries.unmet_system`), when the host says what it has.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import LockfileError
from ..host import Gpu, Host
from ..lockfile import Lock, LockedTarget
from ..matrix import Matrix, TorchBuild, parse_version
from ._errors import HostMismatch

__all__ = ["TargetChoice", "choose_target", "host_reasons", "system_reasons"]


@dataclass(frozen=True)
class TargetChoice:
    """The target to apply: its name, the locked target, why it was chosen, and the reasons
    the machine does not fit it (non-empty only under ``--force``)."""

    name: str
    target: LockedTarget
    why: str
    overridden: tuple[str, ...] = ()


def _torch_build(target: LockedTarget, matrix: Matrix) -> TorchBuild | None:
    torch = target.package("torch")
    version = parse_version(torch.version) if torch else None
    return matrix.torch_build(version, target.variant, target.platform) if version else None


def _gpu_reason(gpu: Gpu, target: LockedTarget, build: TorchBuild | None) -> str | None:
    locked = sorted({g.compute_capability for g in target.gpus})
    if str(gpu.cc) in locked:
        return None
    shown = ", ".join(locked) or "none"
    if build is not None and build.sm and not build.runs_on(gpu.cc):
        return (f"GPU {gpu.describe()}: torch {build.torch}+{build.variant.name} has no kernels for it "
                f"({build.arch_summary}; \"no kernel image is available\")")
    return (f"GPU {gpu.describe()} is not among the compute capabilities the target was locked for ({shown}); "
            "its builds and extensions were checked for those only")


def host_reasons(target: LockedTarget, host: Host, matrix: Matrix) -> list[str]:
    """Why ``host`` cannot run ``target``: one sentence per fact, empty when it can."""
    if target.platform != host.platform:
        return [f"the target is {target.platform}; this machine is {host.platform}"]
    reasons: list[str] = []
    for what, need, have in (("glibc", target.glibc, host.glibc), ("macOS", target.macos, host.macos)):
        need_v, have_v = parse_version(need), parse_version(have)
        if need_v is not None and have_v is not None and have_v < need_v:
            reasons.append(f"its wheels need {what} >= {need}; this machine has {have}")
    if target.accelerator == "rocm":
        return reasons + _amd_reasons(target, host)
    if target.accelerator == "xpu":
        return reasons + _intel_reasons(target, host)
    if target.accelerator != "cuda":
        return reasons
    reasons.extend(system_reasons(target, host))
    gpus = ", ".join(f"{g.name} ({g.compute_capability})" for g in target.gpus) or "NVIDIA GPUs"
    if not host.gpus:
        reasons.append(f"the target is a CUDA {target.cuda} build for {gpus}; no NVIDIA GPU was found on this machine "
                       "(`aienv detect` shows what was looked at)")
        return reasons
    floor = parse_version(target.driver_floor)
    if floor is not None:
        if host.driver is None:
            reasons.append(f"the NVIDIA driver version could not be read; CUDA {target.cuda} ({target.variant}) needs >= {floor}")
        elif host.driver < floor:
            reasons.append(f"the NVIDIA driver {host.driver} is older than {floor}, which CUDA {target.cuda} ({target.variant}) "
                           f"needs ({target.driver_policy} floor)")
    build = _torch_build(target, matrix)
    reasons.extend(r for g in host.gpus if (r := _gpu_reason(g, target, build)) is not None)
    return reasons


def _amd_reasons(target: LockedTarget, host: Host) -> list[str]:
    locked = sorted({g.gfx for g in target.amd_gpus})
    if not host.amd_gpus:
        return [(f"the target is a ROCm build ({target.variant}) for {', '.join(locked) or 'AMD GPUs'}; no AMD GPU was found on this "
                "machine (`aienv detect` shows what was looked at: rocm_agent_enumerator, lspci)")]
    return [
        f"AMD GPU {g.describe()} is not among the gfx targets the lock was made for ({', '.join(locked) or 'none'}); "
        f"torch's {target.variant} build was checked for those only"
        for g in dict.fromkeys(host.amd_gpus) if g.gfx not in locked
    ]


def _intel_reasons(target: LockedTarget, host: Host) -> list[str]:
    allow_integrated = any(g.integrated for g in target.intel_gpus)
    usable = [g for g in host.intel_gpus if allow_integrated or not g.integrated]
    if usable:
        return []
    if host.intel_gpus:
        return [(f"the target is an XPU build for a discrete Intel GPU; this machine has only {host.describe_gpus()}, which "
                "is used only by a target locked for it (accelerator = \"xpu\" with that GPU in gpus)")]
    return ["the target is an XPU build; no Intel GPU was found on this machine (`aienv detect` shows what was looked at)"]


def system_reasons(target: LockedTarget, host: Host) -> list[str]:
    """The target's packages' ``system`` libraries this machine lacks (errors only: a missing
    development name is the doctor's warning). Empty when the host does not say what it has."""
    if not any(p.system for p in target.packages):
        return []
    libraries = host.libraries()
    if libraries is None:
        return []
    from ..detect.libraries import unmet_system

    return [
        f"{u.message} (fix: {u.fix})"
        for p in target.packages if p.system
        for u in unmet_system(p.name, p.version, p.system, libraries) if u.severity == "error"
    ]


def _suggestion(fits: Sequence[str], reasons: Sequence[str], force: str) -> str:
    """What would unblock: a target that fits, a driver upgrade, a re-lock, or ``force``."""
    hints = [f"apply target {n} instead (aienv apply --target {n})" for n in fits]
    if any(r.startswith("the NVIDIA driver ") and " older than " in r for r in reasons):
        hints.append("upgrade the NVIDIA driver")
    hints.append("describe this machine in [targets] of aienv.toml (`aienv detect` shows its facts) and run `aienv lock`")
    hints.append(f"or {force} to apply anyway (the environment may not work here)")
    return "; ".join(hints)


def choose_target(lock: Lock, host: Host, matrix: Matrix, name: str | None = None, *, force: bool = False) -> TargetChoice:
    """The target of ``lock`` to apply on ``host``: ``name`` when given, else the one that fits.

    Raises :class:`HostMismatch` (exit 1) when the named target does not fit and ``force`` is
    false, or when no target fits; :class:`~envspec.errors.LockfileError` (exit 2) for an
    unknown name or when several fit equally (name one with ``--target``).
    """
    verdicts = {n: host_reasons(t, host, matrix) for n, t in sorted(lock.targets.items())}
    fits = [n for n, r in verdicts.items() if not r]
    if name is not None:
        target = lock.target(name)
        reasons = verdicts[name]
        if reasons and not force:
            raise HostMismatch(
                f"this machine cannot run target {name!r} of the lock:", reasons, target=name,
                hint=_suggestion(fits, reasons, "pass --force"),
            )
        why = "named with --target" + (" (forced: the machine does not fit it)" if reasons else "")
        return TargetChoice(name, target, why, tuple(reasons))
    if not fits:
        lines = [f"{n}: {r[0]}" + (f" (and {len(r) - 1} more)" if len(r) > 1 else "") for n, r in verdicts.items()]
        raise HostMismatch(
            "no target of the lock fits this machine:", lines,
            hint=_suggestion([], [r for rs in verdicts.values() for r in rs], "name one with --target NAME --force"),
        )
    if len(fits) > 1:
        # A GPU machine prefers the targets that use its GPUs; then the one locked for its driver.
        kind = (host.kind,) if host.kind in ("cuda", "rocm", "xpu") else ("cpu", "mps")
        narrowed = [n for n in fits if lock.targets[n].accelerator in kind] or fits
        if len(narrowed) > 1 and host.driver is not None:
            narrowed = [n for n in narrowed if lock.targets[n].driver == str(host.driver)] or narrowed
        if len(narrowed) > 1:
            raise LockfileError(
                f"several targets of the lock fit this machine: {', '.join(narrowed)}",
                hint="choose one with --target NAME", code="ambiguous-target",
            )
        fits = narrowed
    chosen = fits[0]
    target = lock.targets[chosen]
    what = f"{len(host.gpus)} NVIDIA GPU(s), driver {host.driver}" if host.gpus else host.describe_gpus()
    return TargetChoice(chosen, target, f"fits this machine ({host.platform}, {what})")
