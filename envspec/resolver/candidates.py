"""Concrete candidates: host facts (one value each), variants, and package builds.

Candidates are frozen and hashable. Their dependencies are not stored here: the factory knows the
target and the policy and computes them (:meth:`Factory.dependencies`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from packaging.version import Version

from ..host import Gpu
from ..matrix import FlashAttnRelease, FlashAttnWheel, TorchBuild, TorchRelease, Variant
from ..sources._model import DistFile, Index

__all__ = [
    "ExtrasCandidate",
    "FlashAttnCandidate",
    "FrameworkCandidate",
    "HostCandidate",
    "IndexCandidate",
    "PackageCandidate",
    "TorchCandidate",
]


@dataclass(frozen=True)
class HostCandidate:
    """The value of a host fact: a Python version, the platform, the driver, the GPUs …"""

    identifier: str
    value: object
    label: str

    @property
    def version(self) -> Version | None:
        return self.value if isinstance(self.value, Version) else None

    @property
    def gpus(self) -> tuple[Gpu, ...]:
        return self.value if isinstance(self.value, tuple) else ()

    def format_for_error(self) -> str:
        return self.label


@dataclass(frozen=True)
class TorchCandidate:
    """torch in one variant build: ``torch 2.7.1+cu128``."""

    release: TorchRelease
    build: TorchBuild
    local: bool  # whether the version carries the variant as a local label (PyTorch indexes)
    cxx11_abi: bool | None = None  # of this build on the target's platform
    identifier: str = "torch"

    @cached_property
    def version(self) -> Version:  # computed once: the resolver asks for it tens of thousands of times
        base = self.release.version
        return Version(f"{base}+{self.build.variant.name}") if self.local else base

    @property
    def variant(self) -> Variant:
        return self.build.variant

    def format_for_error(self) -> str:
        return f"torch {self.version}"


@dataclass(frozen=True)
class PackageCandidate:
    """A companion package build paired with one torch release: torchvision, torchaudio,
    triton, xformers. ``torch`` is the exact torch version it pairs with; ``variant`` is None
    for packages that are the same for every variant (triton)."""

    identifier: str
    version: Version
    torch: Version
    variant: Variant | None
    index: str
    source: str

    def format_for_error(self) -> str:
        return f"{self.identifier} {self.version}"


@dataclass(frozen=True)
class FlashAttnCandidate:
    """flash-attn: one prebuilt release wheel, or (``wheel is None``) a build from source."""

    release: FlashAttnRelease
    wheel: FlashAttnWheel | None
    identifier: str = "flash-attn"

    @property
    def version(self) -> Version:
        return self.release.version

    def format_for_error(self) -> str:
        if self.wheel is None:
            return f"flash-attn {self.version} (source build)"
        w = self.wheel
        abi = "cxx11abi" if w.cxx11_abi else "pre-cxx11 ABI"
        return f"flash-attn {self.version} (wheel for torch {w.torch_minor}, CUDA {w.cuda_major}, {abi}, Python {w.python})"


@dataclass(frozen=True, eq=False)
class FrameworkCandidate:
    """A framework beside torch in one build: ``tensorflow 2.18.1`` (its ``and-cuda`` extra on
    a CUDA target), ``jax 0.7.2[cuda12]``, ``paddlepaddle-gpu 2.6.2.post120``.

    ``identifier`` is the ``[stack]`` key; ``package`` the distribution locked (``paddlepaddle``
    resolves to ``paddlepaddle-gpu`` on a CUDA target). ``version`` is the release, which the
    spec's specifier is matched against; ``locked_version`` what the lock pins (Paddle's CUDA
    builds carry a ``.postNNN`` suffix). ``kind`` is the accelerator the build runs on;
    ``cuda`` the CUDA runtime it needs (None for CPU builds). ``system`` lists what the wheel
    expects on the machine rather than bringing (``CUDA 12.0``, ``cuDNN 8.9``); ``release`` and
    ``variant`` are the matrix rows it came from. Compared by identity: the factory makes each
    candidate once per resolution.
    """

    identifier: str
    package: str
    version: Version
    locked_version: Version
    kind: str
    cuda: Version | None
    index: str
    extras: tuple[str, ...] = ()
    find_links: bool = False
    verified: bool = True
    system: tuple[str, ...] = ()
    release: object = None
    variant: object = None

    def format_for_error(self) -> str:
        extras = f"[{','.join(self.extras)}]" if self.extras else ""
        if self.kind == "cuda" and self.cuda is not None:
            build = f"CUDA {self.cuda.major}.{self.cuda.minor} build"
        else:
            build = f"{self.kind} build"
        return f"{self.package}{extras} {self.locked_version} ({build})"


@dataclass(frozen=True, eq=False)
class IndexCandidate:
    """A version of a package from a package index (no compatibility rule beyond its own
    metadata). ``files`` are the files of that version a target's installer may pick, the one
    that fits the target's assumed OS floor best first. Compared by identity: the factory makes
    each candidate once per resolution."""

    identifier: str
    version: Version
    index: Index
    files: tuple[DistFile, ...]

    def format_for_error(self) -> str:
        return f"{self.identifier} {self.version}"


@dataclass(frozen=True, eq=False)
class ExtrasCandidate:
    """A package with extras (``transformers[torch]``): the base candidate plus the extras'
    requirements. It depends on the base pinned exactly, as pip's ``ExtrasCandidate`` does, so
    the base is locked once whatever extras are asked of it."""

    base: object
    extras: frozenset[str]

    @property
    def identifier(self) -> str:
        return f"{self.base.identifier}[{','.join(sorted(self.extras))}]"  # type: ignore[attr-defined]

    @property
    def version(self) -> Version:
        return self.base.version  # type: ignore[attr-defined,no-any-return]

    def format_for_error(self) -> str:
        return f"{self.identifier} {self.version}"
