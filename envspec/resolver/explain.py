"""Why a pick was made, and why nothing fits: explanations built from the factory's facts.

Failures are explained as a ladder, most specific first (after pip's ``get_installation_error``):

1. a requested version that does not exist at all;
2. host facts that block every build of the framework the spec allows (driver, GPU arch,
   Python, platform), with what would unblock it;
3. a companion or extension that cannot pair with any allowed framework build (a torchvision pin
   for another torch, no flash-attn wheel for the combination, a GPU below flash-attn's floor);
4. otherwise, resolvelib's causes as "X requires Y" lines.

The whole explanation lives on the returned :class:`~envspec.errors.ResolutionError`, so
``--json`` and library callers get it too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from packaging.version import Version
from resolvelib import ResolutionImpossible

from ..errors import ResolutionError
from ..vocabulary import FRAMEWORKS
from .base import ACCELERATOR, DRIVER, GFX, GPU, PLATFORM, PYTHON, join_versions
from .candidates import (
    FlashAttnCandidate,
    FrameworkCandidate,
    PackageCandidate,
    TorchCandidate,
)
from .factory import Factory
from .frameworks import LibraryAgreement, is_library
from .requirements import (
    DriverRequirement,
    GfxRequirement,
    GpuArchRequirement,
    GpuFloorRequirement,
    PackageRequirement,
)

__all__ = ["explain_failure", "torch_reason"]


# --- reasons for picks ----------------------------------------------------------------------


def torch_reason(factory: Factory, chosen: TorchCandidate, mapping: Mapping[str, object]) -> str:
    """One line: why this variant, and why this torch version."""
    host, build, variant = factory.host, chosen.build, chosen.build.variant
    release = chosen.release
    gpus = ", ".join(dict.fromkeys(g.describe() for g in host.gpus))
    if variant.kind == "cuda":
        assert variant.cuda is not None
        floor = factory.driver_floor(variant.cuda)
        driver = f"driver {host.driver}" if host.driver else "the driver (not declared; the lock records the floor)"
        text = (
            f"{variant.name}: newest CUDA variant of torch {release.version} whose driver floor {floor.driver} "
            f"({floor.policy}) <= {driver} and whose build ({build.arch_summary}) has kernels for {gpus}"
        )
    elif variant.kind == "rocm":
        gpus = ", ".join(g.describe() for g in host.amd_gpus)
        text = f"{variant.name}: newest ROCm variant of torch {release.version} whose build targets {gpus}"
    elif variant.kind == "xpu":
        gpus = ", ".join(g.describe() for g in host.intel_gpus) or "the target's Intel GPU"
        text = f"xpu: torch {release.version}'s Intel GPU build for {gpus} (the GPU families it supports are not checked: not in aienv's data)"
    elif host.platform == "macos-arm64":
        text = f"torch {release.version} from PyPI: the macOS build (MPS, no CUDA)"
    elif factory.forced_cpu:
        text = "cpu: aienv.toml asks for cuda = \"cpu\"; from the CPU index, not PyPI's CUDA build"
    else:
        text = "cpu: the target has no GPU; from the CPU index, not PyPI's Linux wheel (a CUDA build)"
    if not build.verified:
        text += "; NOTE: this build's facts are unverified in aienv's data"
    rejected = []
    for other in release.builds:  # every variant of the same kind with a newer runtime
        if other is build or host.platform not in other.platforms or other.variant.kind != variant.kind:
            continue
        if other.variant.preference() <= variant.preference():
            continue
        candidate = factory.torch_candidate(other)
        assert candidate is not None  # same platform as the chosen build
        blockers = factory.blockers(candidate)
        if not blockers and not factory.available(candidate):
            rejected.append(f"{other.variant.name}: no fitting file on {factory.index_of(candidate).url}")
        elif blockers:
            rejected.append(f"{other.variant.name} needs {blockers[0].format_for_error()}")
        elif not other.verified and build.verified:
            rejected.append(f"{other.variant.name}: unverified in aienv's data, ranked after verified builds")
        else:
            rejected.append(f"{other.variant.name} {_root_conflict(factory, candidate) or 'conflicts with the rest of the stack'}")
    if rejected:
        text += "; not " + "; not ".join(rejected[:2])
    newer = _newer_wanted(factory, release.version)
    if newer is None:
        text += f"; torch {release.version} is the newest release the spec allows"
    elif variant.kind in ("rocm", "xpu") and not any(
        b.variant.kind == variant.kind and host.platform in b.platforms for b in newer.release.builds
    ):
        text += f"; newer torch {newer.release.version} has no {variant.kind} build in aienv's data"
    else:
        blockers = factory.blockers(newer)
        if blockers:
            why = f"needs {blockers[0].format_for_error()}"
        elif not factory.available(newer):
            why = f"no fitting file on {factory.index_of(newer).url}"
        else:
            why = "no fit with the rest of the stack"
        text += f"; newer torch {newer.release.version} ruled out: {why}"
    return text


def _root_conflict(factory: Factory, candidate: TorchCandidate) -> str | None:
    variant = factory.variant_requirement()
    if variant is not None and not variant.is_satisfied_by(candidate):
        return f"is excluded by aienv.toml ({variant.format_for_error()})"
    return None


def _torch_specs(factory: Factory) -> list[PackageRequirement]:
    """The spec's own requirements on torch's version (not its variant)."""
    variant = factory.variant_requirement()
    return [r for r in factory.roots_for("torch") if r != variant]


def _wanted_torch(factory: Factory) -> list[TorchCandidate]:
    """torch candidates for this platform that the spec's own requirements allow."""
    specs = factory.roots_for("torch")
    return [c for c in factory.candidates("torch") if all(r.is_satisfied_by(c) for r in specs)]


def _newer_wanted(factory: Factory, version: Version) -> TorchCandidate | None:
    """The best build of the closest newer release the spec allows: one the host could run
    if there is one (then the stack ruled it out), else its preferred build."""
    newer = [c for c in _wanted_torch(factory) if c.release.version > version]
    if not newer:
        return None
    closest = [c for c in newer if c.release.version == newer[-1].release.version]
    runnable = [c for c in closest if not factory.blockers(c)]
    return (runnable or closest)[0]


# --- failures -------------------------------------------------------------------------------


def explain_failure(factory: Factory, exc: ResolutionImpossible) -> ResolutionError:  # type: ignore[type-arg]
    """Turn resolvelib's failure into an error that names the blocking fact and the way out."""
    conflicts = _cause_lines(exc)
    library = _library_conflict(exc)
    if library is not None:
        blockers, suggestions, code = library
        return ResolutionError(factory.host.name, blockers, suggestions=suggestions, conflicts=conflicts, code=code)
    for step in (_missing_versions, _host_blocks_torch, _host_blocks_framework, _framework_library_conflict, _companion_conflict, _flash_attn_conflict):
        found = step(factory)
        if found is not None:
            blockers, suggestions, code = found
            return ResolutionError(factory.host.name, blockers, suggestions=suggestions, conflicts=conflicts, code=code)
    return ResolutionError(
        factory.host.name, ["the stack's requirements conflict with each other"], conflicts=conflicts,
        suggestions=["relax the conflicting version ranges in aienv.toml"],
    )


_Found = tuple[list[str], list[str], str] | None
_MAX_CAUSES = 6


def _cause_lines(exc: ResolutionImpossible) -> list[str]:  # type: ignore[type-arg]
    lines = []
    for cause in exc.causes:
        if cause.requirement.identifier == ACCELERATOR:
            continue  # "torch 2.7.1+rocm6.3 requires a machine with rocm": true, and noise
        parent = cause.parent.format_for_error() if cause.parent is not None else "aienv.toml"
        line = f"{parent} requires {cause.requirement.format_for_error()}"
        if line not in lines:
            lines.append(line)
    if len(lines) > _MAX_CAUSES:
        lines = [*lines[:_MAX_CAUSES], f"… and {len(lines) - _MAX_CAUSES} more (aienv -vv lock shows the resolver's steps)"]
    return lines


def _missing_versions(factory: Factory) -> _Found:
    for root in factory.root_requirements():
        if not isinstance(root, PackageRequirement):
            continue
        all_candidates = factory.candidates(root.identifier)
        if any(root.is_satisfied_by(c) for c in all_candidates):
            continue
        known = sorted({str(Version(str(c.version)).public) for c in all_candidates}, key=Version)  # type: ignore[attr-defined]
        where = "" if known else f" on {factory.host.platform}"
        blocker = f"no {root.identifier} release{where} matches {root.specifier or 'any version'} ({root.origin})"
        hint = f"known {root.identifier} releases: {join_versions(known)}" if known else f"{root.identifier} has no build for {factory.host.platform}"
        return [blocker], [hint], "no-matching-version"
    return None


def _library_conflict(exc: ResolutionImpossible) -> _Found:  # type: ignore[type-arg]
    """A full closure: the index's NVIDIA library wheels pinned two ways by two packages.
    (Between frameworks in the stack, :func:`_framework_library_conflict` finds it from their
    builds: resolvelib's causes are those of its last attempt, which need not name the pins.)"""
    for cause in exc.causes:
        identifier = getattr(cause.requirement, "identifier", "")
        if not is_library(identifier):
            continue
        pins = sorted({f"{c.parent.format_for_error()} needs {c.requirement.format_for_error()}" for c in exc.causes
                       if c.parent is not None and c.requirement.identifier == identifier})
        if len({p.split(" needs ")[0] for p in pins}) > 1:
            return (
                [f"CUDA library conflict on {identifier}: {'; '.join(pins)} — no version satisfies both"],
                ["pick framework versions built against the same CUDA/cuDNN",
                 "put the frameworks in separate environments (a target or project each)"],
                "cuda-library-conflict",
            )
    return None


def _host_blocks_torch(factory: Factory) -> _Found:
    if "torch" not in factory.stack_names:
        return None
    wanted = _wanted_torch(factory)
    host = factory.host
    if not wanted:
        # Nothing for this platform, or the CUDA specifier rules out every build.
        specs = _torch_specs(factory)
        spec_text = " ".join(r.format_for_error() for r in specs) or "torch"  # type: ignore[attr-defined]
        variant = factory.variant_requirement()
        if variant is not None and any(all(r.is_satisfied_by(c) for r in specs) for c in factory.candidates("torch")):
            cuda = factory.spec.stack.cuda_specifier
            what = f"CUDA {cuda}" if cuda is not None else "a CPU build"
            return (
                [f"no torch {_spec_text(factory)} build for {host.platform} has {what} (aienv.toml stack.cuda)"],
                ["relax stack.cuda or the torch range"],
                "no-matching-variant",
            )
        return None
    per_candidate = [(c, factory.blockers(c)) for c in wanted]
    if any(not blockers for _, blockers in per_candidate):
        return None  # some build fits the host: the conflict is between packages
    # Each build with the set of host facts that block it.
    blocking = [(c, frozenset(b.identifier for b in bl)) for c, bl in per_candidate]  # type: ignore[attr-defined]
    # Builds for another kind of accelerator (ROCm, XPU, CPU on a GPU machine) explain nothing.
    relevant = [(c, ids) for c, ids in blocking if ACCELERATOR not in ids] or blocking
    kinds = frozenset().union(*(ids for _, ids in relevant))
    # A fact is named when it alone rules out every relevant build; failing that, each fact that
    # is the only blocker of some build (what fixing it alone would unblock).
    fatal = [k for k in (DRIVER, GPU, GFX, PYTHON, PLATFORM) if k in kinds and all(k in ids for _, ids in relevant)]
    named = fatal or [k for k in (DRIVER, GPU, GFX, PYTHON) if any(ids == {k} for _, ids in relevant)]
    lines: list[str] = []
    suggestions: list[str] = []
    code = "host-incompatible"
    spec_text = _spec_text(factory)
    blocked = {k: [c for c, ids in relevant if k in ids] for k in kinds}
    if DRIVER in named:
        code = "driver-too-old"
        lines.append(_driver_line(factory, [c for c, _ in relevant]))
        floors = [d.floor.driver for c in blocked[DRIVER] for d in factory.dependencies(c) if isinstance(d, DriverRequirement) and d.floor.verified]
        if floors:
            suggestions.append(f"upgrade the driver to >= {min(floors)}")
    if GPU in named:
        if code == "host-incompatible":
            code = "gpu-arch-unsupported"
        lines.extend(_gpu_lines(factory, blocked[GPU]))
        suggestions.extend(_drop_gpu_suggestions(factory, blocked[GPU]))
    if GFX in named:
        if code == "host-incompatible":
            code = "gpu-arch-unsupported"
        lines.extend(_gfx_lines(factory, blocked[GFX]))
        suggestions.extend(_gfx_suggestions(factory))
    if PYTHON in named:
        if code == "host-incompatible":
            code = "python-unsupported"
        have = sorted({p for c in wanted for p in c.release.python.get(host.platform, ())}, key=Version)
        lines.append(
            f"torch {spec_text} has wheels for Python {join_versions(have)} on {host.platform}; "
            f"the target allows Python {host.python or 'any'}"
        )
    if PLATFORM in named or not lines:
        lines.append(f"torch {spec_text} has no build this target can run on {host.platform}")
    fitting = _fitting_torch(factory)
    if fitting is not None:
        newest_wanted = max(c.release.version for c in wanted)
        oldest_wanted = min(c.release.version for c in wanted)
        v, name = fitting.release.version, fitting.build.variant.name
        if v < oldest_wanted:
            suggestions.append(f"use torch <= {v} ({name})")
        elif v > newest_wanted:
            oldest = _oldest_fitting_after(factory, newest_wanted) or fitting
            suggestions.append(f"use torch >= {oldest.release.version} ({oldest.build.variant.name})")
        else:
            suggestions.append(f"use torch {v} ({name})")
    return lines, suggestions, code


def _gfx_lines(factory: Factory, blocked: Sequence[TorchCandidate]) -> list[str]:
    lines = []
    for gpu in factory.host.amd_gpus:
        reqs = [d for c in blocked for d in factory.dependencies(c) if isinstance(d, GfxRequirement)]
        known = sorted({g for r in reqs for g in r.gfx})
        unknown = [r.summary for r in reqs if not r.gfx]
        if gpu.gfx in known:
            continue
        text = f"{gpu.describe()} is not a target of any torch {_spec_text(factory)} ROCm build"
        text += f" (their gfx lists: {', '.join(known)})" if known else ""
        if unknown:
            text += f"; aienv's data has no gfx list for {join_versions(unknown, 4)} (unverified, not chosen)"
        lines.append(text)
    return lines or [f"no single torch {_spec_text(factory)} ROCm build covers {factory.host.describe_gpus()}"]


def _gfx_suggestions(factory: Factory) -> list[str]:
    return [
        "check AMD's ROCm compatibility list for the GPU (ROCm builds target the LLVM gfx names in their lists)",
        "make this a CPU target (accelerator = \"cpu\")",
    ]


def _spec_text(factory: Factory) -> str:
    specs = [str(r.specifier) for r in _torch_specs(factory) if str(r.specifier)]  # type: ignore[attr-defined]
    return ",".join(specs) if specs else "(any version)"


def _driver_line(factory: Factory, wanted: Sequence[TorchCandidate]) -> str:
    host = factory.host
    policy = factory.policy.driver_compat
    needed: dict[int, Version] = {}
    for c in wanted:
        for d in factory.dependencies(c):
            if isinstance(d, DriverRequirement) and c.build.variant.cuda is not None:
                major = c.build.variant.cuda.major
                needed[major] = min(needed.get(major, d.floor.driver), d.floor.driver)
    allowed = _allowed_cuda(factory)
    majors = ", ".join(f"CUDA {m}.x needs >= {v}" for m, v in sorted(needed.items()))
    allows = f"allows CUDA <= {allowed} under {policy} compatibility" if allowed else f"is older than any CUDA build's floor under {policy} compatibility"
    return f"driver {host.driver} {allows}; torch {_spec_text(factory)} has no build it can run ({majors})"


def _allowed_cuda(factory: Factory) -> str | None:
    """The newest CUDA (as ``12.x`` or ``12.4``) any variant in the data allows on this driver."""
    host = factory.host
    if host.driver is None:
        return None
    best = None
    for variant in factory.matrix.variants.values():
        if variant.cuda is None:
            continue
        floor = factory.driver_floor(variant.cuda)
        if floor.driver <= host.driver and (best is None or variant.cuda > best):
            best = variant.cuda
    if best is None:
        return None
    return f"{best.major}.x" if factory.policy.driver_compat == "minor-version" else f"{best.major}.{best.minor}"


def _gpu_lines(factory: Factory, blocked: Sequence[TorchCandidate]) -> list[str]:
    lines = []
    for gpu in factory.host.gpus:
        missing = [c for c in blocked if not _arch_req(factory, c).runs_on(gpu)]
        if missing:
            newest = missing[0]
            lines.append(
                f"{gpu.describe()} has no kernels in torch {_spec_text(factory)} builds for this target "
                f"(e.g. torch {newest.release.version} {newest.build.variant.name}: {newest.build.arch_summary})"
            )
    if not lines:
        names = " and ".join(g.describe() for g in factory.host.gpus)
        lines.append(f"no single torch {_spec_text(factory)} build has kernels for all of {names}")
    return lines


def _arch_req(factory: Factory, c: TorchCandidate) -> GpuArchRequirement:
    return next(d for d in factory.dependencies(c) if isinstance(d, GpuArchRequirement))


def _drop_gpu_suggestions(factory: Factory, blocked: Sequence[TorchCandidate]) -> list[str]:
    if len(factory.host.gpus) < 2:
        return []
    out = []
    for gpu in factory.host.gpus:
        others = [g for g in factory.host.gpus if g is not gpu]
        if any(all(_arch_req(factory, c).runs_on(o) for o in others) and not _arch_req(factory, c).runs_on(gpu) for c in blocked):
            out.append(f"drop {gpu.describe()} from the target (put it in a target of its own)")
    return out


def _fitting_torch(factory: Factory) -> TorchCandidate | None:
    """The newest torch build (ignoring the spec's torch range) that this host can run."""
    variant = factory.variant_requirement()
    for c in factory.candidates("torch"):
        if variant is None or variant.is_satisfied_by(c):
            if not factory.blockers(c):
                return c
    return None


def _oldest_fitting_after(factory: Factory, version: Version) -> TorchCandidate | None:
    fits = [
        c for c in factory.candidates("torch")
        if c.release.version > version and not factory.blockers(c)
    ]
    return min(fits, key=lambda c: c.release.version) if fits else None


def _host_blocks_framework(factory: Factory) -> _Found:
    """A framework beside torch none of whose allowed builds this host can run."""
    host = factory.host
    for name in FRAMEWORKS:
        roots = factory.roots_for(name)
        if not roots:
            continue
        wanted = [c for c in factory.candidates(name) if all(r.is_satisfied_by(c) for r in roots)]
        spec = _root_spec(factory, name)
        runnable = [c for c in wanted if not factory.blockers(c)]
        if runnable and factory.indexed is not None and not any(factory.available(c) for c in runnable):
            first = runnable[0]
            assert isinstance(first, FrameworkCandidate)
            os_floor = f", {'glibc' if host.platform.startswith('linux') else 'macOS'} {host.os_floor}" if host.os_floor else ""
            return (
                [(f"no file of {first.format_for_error()} on {factory.index_of(first).url} installs on this target "
                  f"({host.platform}, Python {', '.join(factory.python_versions)}{os_floor})")],
                ["check the wheels' tags on the index: a newer OS floor (targets.NAME.glibc / macos) may be needed"],
                "no-matching-file",
            )
        if not wanted or runnable:
            continue
        gpu_builds = [c for c in wanted if isinstance(c, FrameworkCandidate) and c.kind == "cuda"]
        lines: list[str] = []
        suggestions: list[str] = []
        code = "host-incompatible"
        if host.kind == "cuda" and name == "tensorflow" and host.platform.startswith("windows") and not gpu_builds:
            lines.append(
                f"tensorflow {spec} has no GPU build on native Windows: TensorFlow 2.10 was the last release "
                "whose Windows wheel uses CUDA"
            )
            suggestions += [
                "run it under WSL2: make this a linux-x86_64 target (the driver is the Windows one)",
                "use tensorflow 2.10 (tensorflow = \"2.10\") for native-Windows GPU",
                "set stack.cuda = \"cpu\" for a CPU build",
            ]
            return lines, suggestions, "tensorflow-windows-gpu"
        relevant = gpu_builds if host.kind == "cuda" and gpu_builds else wanted
        blockers = [(c, factory.blockers(c)) for c in relevant]
        ids = [frozenset(b.identifier for b in bl) for _, bl in blockers]  # type: ignore[attr-defined]
        if all(DRIVER in i for i in ids):
            code = "driver-too-old"
            floors = sorted({b.floor.driver for _, bl in blockers for b in bl if isinstance(b, DriverRequirement) and b.floor.verified})
            lines.append(f"driver {host.driver} is below the floor of every {name} {spec} GPU build"
                         + (f" (the lowest is {floors[0]})" if floors else ""))
            if floors:
                suggestions.append(f"upgrade the driver to >= {floors[0]}")
        elif all(GPU in i for i in ids):
            code = "gpu-arch-unsupported"
            need = sorted({str(b.floor) for _, bl in blockers for b in bl if isinstance(b, GpuFloorRequirement)})
            lines.append(f"{host.describe_gpus()} is below what {name} {spec} GPU builds need (compute capability >= {' / '.join(need)})")
        elif all(PYTHON in i for i in ids):
            code = "python-unsupported"
            lines.append(f"{name} {spec} has no wheel for the Python this target allows ({host.python or 'any'}) on {host.platform}")
        elif all(PLATFORM in i for i in ids):
            lines.append(f"{name} {spec} has no {'GPU ' if host.kind == 'cuda' else ''}build for {host.platform}")
        elif all(ACCELERATOR in i for i in ids):
            kinds = sorted({c.kind for c in wanted if isinstance(c, FrameworkCandidate)})
            lines.append(f"{name} {spec} has {' and '.join(kinds)} builds only; this target's accelerator is {host.kind}")
            if "cpu" in kinds:
                suggestions.append("set stack.cuda = \"cpu\" to use the CPU build on this target")
        else:
            first = blockers[0]
            lines.append(f"{first[0].format_for_error()} needs {first[1][0].format_for_error()}")  # type: ignore[attr-defined]
        fitting = next((c for c in factory.candidates(name) if not factory.blockers(c) and (host.kind != "cuda" or c.kind == "cuda")), None)  # type: ignore[attr-defined]
        if fitting is not None:
            note = "" if fitting.verified else "; its facts are unverified in aienv's data"  # type: ignore[attr-defined]
            suggestions.append(f"use {name} {fitting.version} ({fitting.format_for_error()}{note})")  # type: ignore[attr-defined]
        return lines, suggestions, code
    return None


def _runnable_wanted(factory: Factory, name: str) -> list[FrameworkCandidate]:
    roots = factory.roots_for(name)
    return [
        c for c in factory.candidates(name)
        if isinstance(c, FrameworkCandidate) and all(r.is_satisfied_by(c) for r in roots) and not factory.blockers(c)
    ]


def _framework_library_conflict(factory: Factory) -> _Found:
    """Two frameworks of the stack whose runnable builds all pin NVIDIA's libraries apart."""
    names = [n for n in FRAMEWORKS if n in factory.stack_names]
    for i, first in enumerate(names):
        firsts = _runnable_wanted(factory, first)
        for second in names[i + 1 :]:
            seconds = _runnable_wanted(factory, second)
            if not firsts or not seconds:
                continue
            rules = {
                id(c): [d for d in factory.dependencies(c) if isinstance(d, LibraryAgreement) and d.identifier == second]
                for c in firsts
            }
            if any(all(d.is_satisfied_by(o) for d in rules[id(c)]) for c in firsts for o in seconds):
                continue
            c, o = firsts[0], seconds[0]
            clash = next((d.clash(o) for d in rules[id(c)] if d.clash(o)), [])
            spec = _root_spec(factory, second)
            return (
                [(f"CUDA library conflict: {c.format_for_error()} and every {second} {spec} build this target can run "
                  f"pin NVIDIA's CUDA libraries apart (e.g. {o.format_for_error()}: {'; '.join(clash[:3])}), "
                  "so they cannot share one environment")],
                ["pick framework versions built against the same CUDA/cuDNN (their pins of the NVIDIA wheels must agree)",
                 "put the frameworks in separate environments (a target or project each)"],
                "cuda-library-conflict",
            )
    return None


def _root_spec(factory: Factory, name: str) -> str:
    roots = factory.roots_for(name)
    return ",".join(str(r.specifier) for r in roots if str(r.specifier)) or "(any version)"


def _companion_conflict(factory: Factory) -> _Found:
    runnable = [c for c in _wanted_torch(factory) if not factory.blockers(c)]
    torch_versions = {c.release.version for c in runnable}
    for root in factory.root_requirements():
        if not isinstance(root, PackageRequirement) or root.identifier not in ("torchvision", "torchaudio", "xformers"):
            continue
        matching = [c for c in factory.candidates(root.identifier) if root.is_satisfied_by(c)]
        pairs: set[Version] = set()
        for c in matching:
            for dep in factory.dependencies(c):
                if isinstance(dep, PackageRequirement) and dep.identifier == "torch":
                    pairs |= {v for v in torch_versions if dep.specifier.contains(v, prereleases=True)}
        if pairs:
            continue
        paired_with = sorted({str(c.torch) for c in matching if isinstance(c, PackageCandidate) and c.torch != Version("0")}, key=Version)
        name = root.identifier
        what = f"pairs only with torch {join_versions(paired_with)} (PyPI metadata)" if paired_with else "requires a torch that no allowed build provides"
        blocker = f"{name} {root.specifier} {what}, but no such torch fits: aienv.toml allows torch {_spec_text(factory)} on this target"
        suggestions = []
        if runnable:
            best = runnable[0].release
            pair = getattr(best, name, None)
            if pair is not None:
                suggestions.append(f"use {name} {pair} (pairs with torch {best.version})")
            elif name == "xformers":
                fit = [x for x in factory.matrix.xformers_releases if best.version in _specifier_of(x.torch)]
                if fit:
                    suggestions.append(f"use xformers {fit[0].version} (requires {fit[0].torch})")
        if paired_with:
            suggestions.append(f"use torch {paired_with[-1]}")
        return [blocker], suggestions, "companion-mismatch"
    return None


def _specifier_of(requirement: str) -> object:
    from packaging.requirements import Requirement

    return Requirement(requirement).specifier


def _flash_attn_conflict(factory: Factory) -> _Found:
    root = next(iter(factory.roots_for("flash-attn")), None)
    if root is None:
        return None
    host = factory.host
    floor = factory.matrix.flash_attn_releases[0].min_cc if factory.matrix.flash_attn_releases else None
    low = [g for g in host.gpus if floor is not None and (g.cc.major, g.cc.minor) < (floor.major, floor.minor)]
    if low:
        names = ", ".join(g.describe() for g in low)
        return (
            [f"flash-attn (FlashAttention-2) needs compute capability >= {floor} (Ampere or newer); {names} is older"],
            ["make flash-attn optional (flash-attn = { version = \"...\", optional = true }) and fall back to torch's SDPA",
             "drop the pre-Ampere GPU from this target"],
            "gpu-below-flash-attn-floor",
        )
    runnable = [c for c in _wanted_torch(factory) if not factory.blockers(c)]
    candidates = [c for c in factory.candidates("flash-attn") if root.is_satisfied_by(c)]
    wheels = [c.wheel for c in candidates if isinstance(c, FlashAttnCandidate) and c.wheel is not None]
    combos = sorted(
        {(c.release.version.major, c.release.version.minor, c.build.variant.cuda_major, c.cxx11_abi) for c in runnable if c.build.variant.kind == "cuda"},
        reverse=True,
    )
    have = sorted({(w.torch_minor, w.cuda_major) for w in wheels}, key=lambda t: (Version(t[0]), t[1]))
    torch_part = ", ".join(f"{a}.{b}+cu{m}" for a, b, m, _ in combos[:6]) or "none"
    pythons = ", ".join(factory.python_versions) or "none"
    blocker = (
        f"no prebuilt flash-attn {root.specifier or ''} wheel fits: the allowed torch builds here are {torch_part} "
        f"(Python {pythons}, {host.platform}); wheels exist for torch "
        + (", ".join(f"{t}+cu{m}" for t, m in have[-8:]) or "none on this platform")
    ).replace("flash-attn  wheel", "flash-attn wheel")
    suggestions = []
    if wheels:
        newest_minor = max(Version(w.torch_minor) for w in wheels)
        suggestions.append(f"use torch =={newest_minor}.* (the newest torch with flash-attn wheels)")
    if not factory.policy.source_builds:
        cuda_major = combos[0][2] if combos else None
        suggestions.append(
            "set [policy] source-builds = true to build flash-attn from source"
            + (f" (needs nvcc {cuda_major}.x)" if cuda_major else "")
        )
    return [blocker], suggestions, "no-flash-attn-wheel"
