"""Concrete requirements: on packages (a specifier plus build constraints) and on host facts.

Each requirement says where it came from (``origin``): ``aienv.toml`` for the user's own, else the
rule that made it ("torch 2.7.1+cu128 build", "flash-attn wheel"), so an explanation can tell the
user's intent from a compatibility fact.
"""

from __future__ import annotations

from dataclasses import dataclass

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from ..host import Gpu
from ..matrix import Arch, DriverFloor, has_kernels
from .base import (
    ACCELERATOR,
    DRIVER,
    GFX,
    GPU,
    PLATFORM,
    PYTHON,
    Candidate,
    join_versions,
)
from .candidates import (
    FrameworkCandidate,
    HostCandidate,
    PackageCandidate,
    TorchCandidate,
)

__all__ = [
    "AcceleratorRequirement",
    "DriverRequirement",
    "GfxRequirement",
    "GpuArchRequirement",
    "GpuFloorRequirement",
    "PackageRequirement",
    "PlatformRequirement",
    "PythonRequirement",
]


@dataclass(frozen=True)
class PackageRequirement:
    """``name`` matching ``specifier``, optionally of a given variant, CUDA major or C++ ABI."""

    identifier: str
    specifier: SpecifierSet
    origin: str
    variant: str | None = None
    cuda_major: int | None = None
    cxx11_abi: bool | None = None
    any_cuda: bool = False
    kinds: frozenset[str] | None = None  # variant kinds allowed (stack.cuda = "cpu" -> {"cpu"})
    cuda: SpecifierSet | None = None  # CUDA runtime range of the variant (stack.cuda)

    def is_satisfied_by(self, candidate: Candidate) -> bool:
        version = candidate.version
        if version is None or not self.specifier.contains(version, prereleases=True):
            return False
        variant = getattr(candidate, "variant", None)
        if self.variant is not None and (variant is None or getattr(variant, "name", None) != self.variant):
            return False
        if isinstance(candidate, TorchCandidate):
            build = candidate.build
            if self.kinds is not None and build.variant.kind not in self.kinds:
                return False
            if self.cuda is not None and (
                build.variant.cuda is None or not self.cuda.contains(build.variant.cuda, prereleases=True)
            ):
                return False
            if self.cuda_major is not None and build.variant.cuda_major != self.cuda_major:
                return False
            if self.any_cuda and build.variant.kind != "cuda":
                return False
            # An unknown ABI never matches an ABI-specific wheel (conservative).
            if self.cxx11_abi is not None and candidate.cxx11_abi != self.cxx11_abi:
                return False
        elif isinstance(candidate, PackageCandidate) and self.variant is not None:
            return candidate.variant is not None and candidate.variant.name == self.variant
        elif isinstance(candidate, FrameworkCandidate):
            if self.kinds is not None and candidate.kind not in self.kinds:
                return False
            if self.cuda is not None and not _framework_cuda_allowed(self.cuda, candidate):
                return False
        return True

    def format_for_error(self) -> str:
        text = f"{self.identifier}{self.specifier}" if str(self.specifier) else self.identifier
        extra = []
        if self.variant:
            extra.append(f"variant {self.variant}")
        if self.cuda_major is not None:
            extra.append(f"CUDA {self.cuda_major}.x")
        if self.any_cuda:
            extra.append("a CUDA build")
        if self.cxx11_abi is not None:
            extra.append("cxx11 ABI" if self.cxx11_abi else "pre-cxx11 ABI")
        if self.cuda is not None:
            extra.append(f"CUDA {self.cuda}")
        elif self.kinds is not None:
            extra.append(" or ".join(sorted(self.kinds)) + " build")
        return text + (f" ({', '.join(extra)})" if extra else "")


def _framework_cuda_allowed(cuda: SpecifierSet, candidate: FrameworkCandidate) -> bool:
    """Whether ``stack.cuda`` admits a framework build's CUDA. A JAX ``cudaNN`` extra runs on
    any CUDA NN.x from its floor on (its libraries come as ``>=`` wheels), so any such minor does."""
    if candidate.cuda is None:
        return False
    if candidate.identifier == "jax":
        major, floor = candidate.cuda.major, candidate.cuda.minor
        return any(cuda.contains(Version(f"{major}.{minor}"), prereleases=True) for minor in range(floor, 10))
    return cuda.contains(candidate.cuda, prereleases=True)


@dataclass(frozen=True)
class _OneOf:
    """A host fact whose value must be one of ``values`` (compared as text)."""

    values: frozenset[str]
    origin: str

    def is_satisfied_by(self, candidate: Candidate) -> bool:
        assert isinstance(candidate, HostCandidate)
        return str(candidate.value) in self.values


@dataclass(frozen=True)
class PythonRequirement(_OneOf):
    identifier: str = PYTHON

    def format_for_error(self) -> str:
        ordered = sorted(self.values, key=lambda v: tuple(int(x) for x in v.split(".")))
        return f"Python {join_versions(ordered)}"


@dataclass(frozen=True)
class PlatformRequirement(_OneOf):
    identifier: str = PLATFORM

    def format_for_error(self) -> str:
        return "platform " + " or ".join(sorted(self.values))


@dataclass(frozen=True)
class AcceleratorRequirement(_OneOf):
    identifier: str = ACCELERATOR

    def format_for_error(self) -> str:
        return "a machine with " + " or ".join(sorted(self.values))


@dataclass(frozen=True)
class DriverRequirement:
    """The NVIDIA driver must be at least ``floor.driver``. An undeclared driver satisfies it
    (the floor is written into the lock and checked where the lock is applied)."""

    floor: DriverFloor
    origin: str
    identifier: str = DRIVER

    def is_satisfied_by(self, candidate: Candidate) -> bool:
        assert isinstance(candidate, HostCandidate)
        driver = candidate.value
        if driver is None:
            return True
        return driver >= self.floor.driver  # type: ignore[operator]

    def format_for_error(self) -> str:
        if not self.floor.verified:
            return f"a known driver floor for CUDA {self.floor.cuda} on {self.floor.os} (aienv's data has none; unverified)"
        return f"driver >= {self.floor.driver} (CUDA {self.floor.cuda}, {self.floor.policy} floor)"


@dataclass(frozen=True)
class GpuArchRequirement:
    """Every GPU of the target must have kernels in a build's arch list (cubin or PTX)."""

    sm: tuple[Arch, ...]
    ptx: tuple[Arch, ...]
    summary: str
    origin: str
    identifier: str = GPU

    def runs_on(self, gpu: Gpu) -> bool:
        return has_kernels(self.sm, self.ptx, gpu.cc)

    def is_satisfied_by(self, candidate: Candidate) -> bool:
        assert isinstance(candidate, HostCandidate)
        return all(self.runs_on(g) for g in candidate.gpus)

    def format_for_error(self) -> str:
        return f"GPUs covered by {self.summary}"


@dataclass(frozen=True)
class GpuFloorRequirement:
    """Every GPU of the target must have at least compute capability ``floor``."""

    floor: Arch
    origin: str
    identifier: str = GPU

    def is_satisfied_by(self, candidate: Candidate) -> bool:
        assert isinstance(candidate, HostCandidate)
        return all((g.cc.major, g.cc.minor) >= (self.floor.major, self.floor.minor) for g in candidate.gpus)

    def format_for_error(self) -> str:
        return f"GPUs of compute capability >= {self.floor}"


@dataclass(frozen=True)
class GfxRequirement:
    """Every AMD GPU of the target must be an LLVM target the build was compiled for. A build
    whose gfx list aienv's data lacks satisfies no target with AMD GPUs (conservative)."""

    gfx: tuple[str, ...]
    summary: str
    origin: str
    identifier: str = GFX

    def is_satisfied_by(self, candidate: Candidate) -> bool:
        assert isinstance(candidate, HostCandidate)
        return all(g in self.gfx for g in candidate.value)  # type: ignore[attr-defined]

    def format_for_error(self) -> str:
        if not self.gfx:
            return f"a known gfx list for {self.summary} (aienv's data has none; unverified)"
        return f"AMD GPUs among {self.summary}: {', '.join(self.gfx)}"
