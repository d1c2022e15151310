"""Resolve a spec for one target (a :class:`~envspec.host.Host`) into a locked target.

:func:`resolve_target` runs resolvelib over the factory's candidates, records a one-line reason
for each hardware-sensitive pick, and turns :class:`resolvelib.ResolutionImpossible` into a
:class:`~envspec.errors.ResolutionError` that names the blocking fact and what would unblock it
(:mod:`.explain`). Optional stack packages that cannot fit are dropped, with the reason recorded.
:func:`lock_spec` does every target and returns a :class:`~envspec.lockfile.Lock`.
"""

from __future__ import annotations

from collections.abc import Mapping

from resolvelib import BaseReporter, ResolutionImpossible, ResolutionTooDeep, Resolver

from ..errors import ResolutionError
from ..host import Host
from ..lockfile import BuildRecipe, Lock, LockedFile, LockedGpu, LockedPackage, LockedTarget, Omission
from ..matrix import Matrix, get_matrix
from ..spec import Spec
from .base import PYTHON
from .candidates import FlashAttnCandidate, PackageCandidate, TorchCandidate
from .explain import explain_failure, torch_reason
from .factory import Factory
from .provider import StackProvider
from .reporter import DebugReporter

__all__ = ["lock_spec", "resolve_target"]

_MAX_ROUNDS = 20_000


def _run(factory: Factory, reporter: BaseReporter | None = None) -> Mapping[str, object]:
    resolver = Resolver(StackProvider(factory), reporter or DebugReporter())
    result = resolver.resolve(factory.root_requirements(), max_rounds=_MAX_ROUNDS)
    return result.mapping


def resolve_target(spec: Spec, host: Host, matrix: Matrix | None = None) -> LockedTarget:
    """Resolve ``spec`` for ``host``. Raises :class:`ResolutionError` when nothing fits."""
    matrix = matrix or get_matrix()
    excluded: list[str] = []
    omitted: list[Omission] = []
    optional = [n for n, e in spec.stack.packages().items() if e.optional]
    while True:
        factory = Factory(spec, host, matrix, exclude=excluded)
        try:
            mapping = _run(factory)
            break
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
            raise ResolutionError(
                host.name, [f"the resolution did not finish within {_MAX_ROUNDS} rounds"],
                suggestions=["narrow the stack's version ranges in aienv.toml"], code="resolution-too-deep",
            ) from e
    return _locked_target(factory, mapping, omitted)


def lock_spec(spec: Spec, hosts: Mapping[str, Host], matrix: Matrix | None = None) -> Lock:
    """Resolve every target; the first failing target raises :class:`ResolutionError`."""
    matrix = matrix or get_matrix()
    targets = {name: resolve_target(spec, host, matrix) for name, host in hosts.items()}
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
    if isinstance(torch, TorchCandidate):
        variant = torch.build.variant
        accelerator = "mps" if host.platform == "macos-arm64" else variant.kind
        floor = None
        if variant.cuda is not None:
            floor = factory.driver_floor(variant.cuda)
        reason = packages[0].reason or ""
    else:
        variant_name, accelerator, floor = "none", "cpu", None
        reason = "no hardware-sensitive package in [stack]"
        variant = None
    return LockedTarget(
        platform=host.platform,
        python=python,
        driver=str(host.driver) if host.driver else None,
        gpus=tuple(LockedGpu(name=g.name, compute_capability=str(g.cc)) for g in host.gpus),
        accelerator=accelerator,
        variant=variant.name if variant else variant_name,
        cuda=f"{variant.cuda.major}.{variant.cuda.minor}" if variant and variant.cuda else None,
        driver_floor=str(floor.driver) if floor and floor.verified else None,
        driver_policy=factory.policy.driver_compat,
        closure="stack",
        hashes=False,
        reason=reason,
        requirements=tuple(factory.other_requirements()),
        omitted=tuple(omitted),
        packages=tuple(packages),
    )


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
