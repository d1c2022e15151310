"""Resolve a spec for one target (a :class:`~envspec.host.Host`) into a locked target.

:func:`resolve_target` runs resolvelib over the factory's candidates, records a one-line reason
for each hardware-sensitive pick, and turns :class:`resolvelib.ResolutionImpossible` into a
:class:`~envspec.errors.ResolutionError` that names the blocking fact and what would unblock it
(:mod:`.explain`). Optional stack packages that cannot fit are dropped, with the reason recorded.
:func:`lock_spec` does every target and returns a :class:`~envspec.lockfile.Lock`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from packaging.version import Version
from resolvelib import BaseReporter, ResolutionImpossible, ResolutionTooDeep, Resolver

from ..errors import OfflineCacheMiss, ResolutionError
from ..host import Host
from ..lockfile import (
    BuildRecipe,
    Lock,
    LockedAmdGpu,
    LockedFile,
    LockedGpu,
    LockedIntelGpu,
    LockedPackage,
    LockedTarget,
    Omission,
)
from ..matrix import Matrix, get_matrix
from ..spec import Spec
from .base import PYTHON
from .candidates import (
    ExtrasCandidate,
    FlashAttnCandidate,
    FrameworkCandidate,
    IndexCandidate,
    PackageCandidate,
    TorchCandidate,
)
from .explain import explain_failure, torch_reason
from .factory import Factory
from .frameworks import framework_reason, paddle_conda_route
from .indexed import Closure, split_identifier
from .provider import StackProvider
from .reporter import DebugReporter
from .requirements import DriverRequirement, PackageRequirement

if TYPE_CHECKING:
    from ..sources import IndexConfig, PackageFinder
    from ..sources.conda import CondaSolver

__all__ = ["IndexSources", "lock_spec", "resolve_target"]

# A full closure that fails for the Python the stack chose is retried for this many older ones.
_PYTHON_RETRIES = 2


@dataclass
class IndexSources:
    """Where a full-closure lock gets its packages, and which earlier pins it keeps.

    ``previous`` is the existing lock: its versions are preferred while they still fit, unless
    ``upgrade`` (all) or ``upgrade_packages`` (those names) say otherwise. ``conda`` solves the
    ``[conda]`` table's packages (None: conda.anaconda.org and the default cache).
    """

    finder: PackageFinder
    config: IndexConfig
    previous: Lock | None = None
    upgrade: bool = False
    upgrade_packages: frozenset[str] = field(default_factory=frozenset)
    conda: CondaSolver | None = None

    def preferences(self, target: str) -> dict[str, str]:
        if self.previous is None or self.upgrade or target not in self.previous.targets:
            return {}
        return {p.name: p.version for p in self.previous.targets[target].packages if p.name not in self.upgrade_packages}

_MAX_ROUNDS = 20_000


def _run(factory: Factory, reporter: BaseReporter | None = None) -> Mapping[str, object]:
    resolver = Resolver(StackProvider(factory), reporter or DebugReporter())
    result = resolver.resolve(factory.root_requirements(), max_rounds=_MAX_ROUNDS)
    return result.mapping


def resolve_target(
    spec: Spec, host: Host, matrix: Matrix | None = None, *, sources: IndexSources | None = None
) -> LockedTarget:
    """Resolve ``spec`` for ``host``. Raises :class:`ResolutionError` when nothing fits.

    Without ``sources`` the stack is resolved from the matrix alone (``closure = "stack"``).
    With them, the same resolver then runs again for the Python the stack chose, with every
    package from the indexes (``closure = "full"``); if that closure cannot be met, a couple of
    older Pythons are tried before the first failure is reported. An offline run that lacked
    cached pages raises :class:`OfflineCacheMiss` listing them.
    """
    matrix = matrix or get_matrix()
    preferences = sources.preferences(host.name) if sources else {}
    factory, mapping, omitted = _resolve_stack(spec, host, matrix, preferences)
    if sources is None:
        return _locked_target(factory, mapping, omitted)
    chosen = str(mapping[PYTHON].value)  # type: ignore[attr-defined]
    # The closure tries the stack's picks first: same answer when they fit, and only the pages
    # of those builds are fetched (the matrix already ruled the newer ones out).
    picks = {
        k: str(c.locked_version if isinstance(c, FrameworkCandidate) else c.version)  # type: ignore[attr-defined]
        for k, c in mapping.items() if not k.startswith("<")
    }
    preferences = {**picks, **preferences}
    older = [p for p in factory.python_versions if Version(p) < Version(chosen)][:_PYTHON_RETRIES]
    first: ResolutionError | None = None
    for python in [chosen, *older]:
        closure = Closure(sources.finder, sources.config, python)
        full = Factory(spec, host, matrix, exclude=[o.name for o in omitted], closure=closure, preferences=preferences)
        try:
            result = _run(full)
        except ResolutionImpossible as e:
            _raise_if_offline_miss(sources)
            error = explain_failure(full, e)
            error.__cause__ = e
            first = first or error
            continue
        except ResolutionTooDeep as e:
            raise _too_deep(host) from e
        _raise_if_offline_miss(sources)
        locked = _locked_target(full, result, omitted)
        _raise_if_offline_miss(sources)  # release assets are hashed (or found cached) while locking
        return _with_conda(spec, locked, matrix, sources, host.name)
    assert first is not None
    raise first


def _with_conda(spec: Spec, target: LockedTarget, matrix: Matrix, sources: IndexSources, name: str) -> LockedTarget:
    """A full-closure target with its conda side (:mod:`.conda`): requirements always, solved
    packages when aienv.toml has a [conda] table."""
    from .conda import locked_conda

    solver = sources.conda
    if solver is None and "conda" in spec.model_fields_set:
        from ..sources.conda import CondaSolver

        solver = sources.conda = CondaSolver(offline=sources.finder.offline)
    previous = sources.previous.targets.get(name) if sources.previous and not sources.upgrade else None
    conda = locked_conda(spec, target, matrix, solver, name, previous.conda if previous else None, sources.upgrade_packages)
    return target.model_copy(update={"conda": conda})


def _raise_if_offline_miss(sources: IndexSources) -> None:
    if sources.finder.missing:
        raise OfflineCacheMiss(sources.finder.missing)


def _too_deep(host: Host) -> ResolutionError:
    return ResolutionError(
        host.name, [f"the resolution did not finish within {_MAX_ROUNDS} rounds"],
        suggestions=["narrow the version ranges in aienv.toml"], code="resolution-too-deep",
    )


def _resolve_stack(
    spec: Spec, host: Host, matrix: Matrix, preferences: Mapping[str, str]
) -> tuple[Factory, Mapping[str, object], list[Omission]]:
    """The stack from the matrix alone, dropping optional packages that cannot fit."""
    excluded: list[str] = []
    omitted: list[Omission] = []
    optional = [n for n, e in spec.stack.packages().items() if e.optional]
    while True:
        factory = Factory(spec, host, matrix, exclude=excluded, preferences=preferences)
        try:
            return factory, _run(factory), omitted
        except ResolutionImpossible as e:
            error = explain_failure(factory, e)
            droppable = [n for n in optional if n not in excluded]
            if not droppable:
                raise error from e
            # Drop the last optional package (extensions come last in the stack) and retry.
            name = droppable[-1]
            excluded.append(name)
            omitted.append(Omission(name=name, reason=error.blockers[0] if error.blockers else error.message))
        except ResolutionTooDeep as e:
            raise _too_deep(host) from e


def lock_spec(
    spec: Spec, hosts: Mapping[str, Host], matrix: Matrix | None = None, *, sources: IndexSources | None = None
) -> Lock:
    """Resolve every target; the first failing target raises :class:`ResolutionError`."""
    matrix = matrix or get_matrix()
    targets = {name: resolve_target(spec, host, matrix, sources=sources) for name, host in hosts.items()}
    return Lock(
        matrix_version=matrix.version, spec_digest=spec.digest(), project=spec.project.name, targets=targets
    )


def _locked_target(factory: Factory, mapping: Mapping[str, object], omitted: list[Omission]) -> LockedTarget:
    host = factory.host
    python = str(mapping[PYTHON].value)  # type: ignore[attr-defined]
    torch = mapping.get("torch")
    packages: list[LockedPackage] = []
    if isinstance(torch, TorchCandidate):
        packages.append(
            LockedPackage(
                name="torch", version=str(torch.version), index=factory.index_for(torch.build),
                reason=torch_reason(factory, torch, mapping), verified=torch.build.verified,
                dependencies=tuple(sorted(n for n in ("triton",) if n in mapping)),
            )
        )
    for _, candidate in sorted(mapping.items()):
        if isinstance(candidate, PackageCandidate):
            packages.append(_locked_package(factory, candidate, mapping))
        elif isinstance(candidate, FlashAttnCandidate):
            packages.append(_locked_flash_attn(factory, candidate, mapping))
        elif isinstance(candidate, FrameworkCandidate):
            packages.append(LockedPackage(
                name=candidate.package, version=str(candidate.locked_version), index=candidate.index,
                reason=framework_reason(factory, candidate), verified=candidate.verified,
                extras=candidate.extras, find_links=True if candidate.find_links else None, system=candidate.system,
                conda_route=paddle_conda_route(factory, candidate, python),
            ))
    if factory.indexed is not None:
        packages = _with_closure(factory, mapping, packages)
    frameworks = [c for _, c in sorted(mapping.items()) if isinstance(c, FrameworkCandidate)]
    floors = [d.floor for c in frameworks for d in factory.dependencies(c) if isinstance(d, DriverRequirement)]
    variant_name = "none"
    cuda_text = None
    if isinstance(torch, TorchCandidate):
        variant = torch.build.variant
        accelerator = "mps" if host.platform == "macos-arm64" else variant.kind
        if variant.cuda is not None:
            floors.append(factory.driver_floor(variant.cuda))
        reason = packages[0].reason or ""
        variant_name = variant.name
        cuda_text = f"{variant.cuda.major}.{variant.cuda.minor}" if variant.cuda else None
    elif frameworks:
        # No torch: the target's variant is the first framework's build (cu125, cu12, cpu).
        first = frameworks[0]
        accelerator = "mps" if host.platform == "macos-arm64" else first.kind
        if first.cuda is not None:
            exact = first.identifier != "jax"  # a JAX extra needs only the CUDA major
            variant_name = f"cu{first.cuda.major}{first.cuda.minor}" if exact else f"cu{first.cuda.major}"
            cuda_text = f"{first.cuda.major}.{first.cuda.minor}" if exact else None
        else:
            variant_name = "cpu"
        reason = next((p.reason for p in packages if p.name == first.package), None) or ""
    else:
        accelerator = "cpu"
        reason = "no hardware-sensitive package in [stack]"
    # The driver floor of the target: the highest of its CUDA builds' floors (all must run).
    verified = [f for f in floors if f.verified]
    floor = max(verified, key=lambda f: f.driver) if verified and len(verified) == len(floors) else None
    return LockedTarget(
        platform=host.platform,
        python=python,
        glibc=host.os_floor if host.platform.startswith("linux") else None,
        macos=host.os_floor if host.platform.startswith("macos") else None,
        driver=str(host.driver) if host.driver else None,
        gpus=tuple(LockedGpu(name=g.name, compute_capability=str(g.cc)) for g in host.gpus),
        amd_gpus=tuple(LockedAmdGpu(name=g.name, gfx=g.gfx) for g in host.amd_gpus),
        intel_gpus=tuple(LockedIntelGpu(name=g.name, integrated=g.integrated) for g in host.intel_gpus),
        accelerator=accelerator,
        variant=variant_name,
        cuda=cuda_text,
        driver_floor=str(floor.driver) if floor else None,
        driver_policy=factory.policy.driver_compat,
        closure="full" if factory.indexed is not None else "stack",
        hashes=factory.indexed is not None and all(f.sha256 for p in packages for f in p.files),
        reason=reason,
        requirements=tuple(factory.other_requirements()),
        omitted=tuple(omitted),
        packages=tuple(packages),
    )


def _with_closure(factory: Factory, mapping: Mapping[str, object], stack: list[LockedPackage]) -> list[LockedPackage]:
    """Every package of a full closure: the stack's with their files and index, and every
    package from the indexes; each with its dependency edges on this target. Files no index
    hashed (release assets) get the sha256 and size of a download (``PackageFinder.hashes``)."""
    edges: dict[str, set[str]] = {}
    for identifier, candidate in mapping.items():
        if identifier.startswith("<"):
            continue
        name = split_identifier(identifier)[0]
        if isinstance(candidate, FrameworkCandidate):
            name = candidate.package  # ``paddlepaddle`` in [stack] locks as paddlepaddle-gpu on a GPU target
        targets = edges.setdefault(name, set())
        for dep in factory.dependencies(candidate):
            if isinstance(dep, PackageRequirement):
                dep_name = split_identifier(dep.identifier)[0]
                if dep_name != name and dep_name in mapping:
                    targets.add(dep_name)
    by_name = {p.name: p for p in stack}
    assert factory.indexed is not None
    finder = factory.indexed.finder
    chosen = [f for identifier, c in mapping.items() if not identifier.startswith("<") for f in factory.files_of(c)]
    # Files no index hashed (flash-attn's GitHub release assets): downloaded once, then cached.
    hashed = finder.hashes(f for f in chosen if not f.sha256)
    sizes = finder.sizes(f for f in chosen if f.url not in hashed)
    sizes.update((url, h.size) for url, h in hashed.items())
    out = []
    for identifier, candidate in sorted(mapping.items()):
        if identifier.startswith("<") or isinstance(candidate, ExtrasCandidate):
            continue
        files = tuple(
            LockedFile(url=f.url, sha256=f.sha256 or (hashed[f.url].sha256 if f.url in hashed else None), size=sizes.get(f.url))
            for f in factory.files_of(candidate)
        )
        dependencies = tuple(sorted(edges.get(identifier, ())))
        known = by_name.get(candidate.package if isinstance(candidate, FrameworkCandidate) else identifier)
        if known is not None:
            index = factory.index_of(candidate).url if not isinstance(candidate, FlashAttnCandidate) or candidate.wheel is None else None
            out.append(known.model_copy(update={"files": files or known.files, "index": index, "dependencies": dependencies}))
        elif isinstance(candidate, IndexCandidate):
            out.append(LockedPackage(
                name=identifier, version=str(candidate.version), index=candidate.index.url, files=files, dependencies=dependencies,
            ))
    return out


def _locked_package(factory: Factory, c: PackageCandidate, mapping: Mapping[str, object]) -> LockedPackage:
    name = c.identifier
    torch = mapping.get("torch")
    tv = torch.version if isinstance(torch, TorchCandidate) else c.torch
    if name in ("torchvision", "torchaudio"):
        reason = f"pairs with torch {tv} (its wheel metadata pins torch=={c.torch}); same variant index"
    elif name == "triton":
        torch_release = torch.release if isinstance(torch, TorchCandidate) else None
        pin = torch_release.triton if torch_release and torch_release.triton else f"triton=={c.version}"
        reason = f"torch {tv} requires {pin} in its wheel metadata; newest triton release that fits"
    else:
        reason = f"newest {name} whose torch requirement and build fit torch {tv}"
    return LockedPackage(name=name, version=str(c.version), index=c.index, reason=reason)


def _locked_flash_attn(factory: Factory, c: FlashAttnCandidate, mapping: Mapping[str, object]) -> LockedPackage:
    torch = mapping["torch"]
    assert isinstance(torch, TorchCandidate)
    gpus = ", ".join(dict.fromkeys(g.describe() for g in factory.host.gpus)) or "no GPU declared"
    if c.wheel is not None:
        w = c.wheel
        reason = (
            f"prebuilt wheel for torch {w.torch_minor}, CUDA {w.cuda_major}, "
            f"cxx11abi={'TRUE' if w.cxx11_abi else 'FALSE'}, Python {w.python} matches torch {torch.version}; "
            f"GPUs {gpus} >= sm_80"
        )
        return LockedPackage(
            name="flash-attn", version=str(c.version), files=(LockedFile(url=w.url),), reason=reason,
            verified=c.release.verified,
        )
    cuda = torch.build.variant.cuda
    assert cuda is not None
    archs = sorted({f"{g.cc.major}.{g.cc.minor}" for g in factory.host.gpus}) or ["8.0"]
    recipe = BuildRecipe(
        nvcc_major=cuda.major,
        env={"FLASH_ATTENTION_FORCE_BUILD": "TRUE", "MAX_JOBS": "4", "TORCH_CUDA_ARCH_LIST": ";".join(archs)},
        command=f"pip install --no-build-isolation flash-attn=={c.version}",
        note=f"needs nvcc {cuda.major}.x (torch {torch.version} is built with CUDA {cuda}); "
        "MAX_JOBS bounds memory (about 4 GB per job)",
    )
    reason = f"no prebuilt wheel fits torch {torch.version} on this target; source builds are allowed by [policy]"
    return LockedPackage(name="flash-attn", version=str(c.version), index="https://pypi.org/simple", build=recipe, reason=reason)
