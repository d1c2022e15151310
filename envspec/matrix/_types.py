"""Typed, frozen rows of the compatibility matrix. Pure values: no I/O, no lookups."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from packaging.version import Version

__all__ = [
    "Arch",
    "CompanionRelease",
    "DriverFloor",
    "DriverVersion",
    "FlashAttnRelease",
    "FlashAttnWheel",
    "GpuModel",
    "TorchBuild",
    "TorchRelease",
    "TritonRelease",
    "Variant",
    "XformersRelease",
    "has_kernels",
]

_ARCH = re.compile(r"^(?:sm_?)?(\d+)\.?(\d)([af]?)$")


@dataclass(frozen=True, order=True)
class Arch:
    """A CUDA compute capability, e.g. ``8.6``, ``9.0a`` (arch-specific), ``10.0``.

    ``suffix`` is ``"a"`` for arch-specific targets (sm_90a: runs on exactly 9.0) or ``"f"`` for
    family targets (sm_100f: runs on the same major, same or higher minor).
    """

    major: int
    minor: int
    suffix: str = ""

    @classmethod
    def parse(cls, text: str) -> Arch:
        """Parse ``"8.6"``, ``"sm_86"``, ``"86"``, ``"9.0a"``, ``"10.0"``, ``"sm_120"``."""
        m = _ARCH.match(text.strip().lower())
        if not m:
            raise ValueError(f"{text!r} is not a compute capability (write e.g. 8.6 or sm_86)")
        return cls(int(m.group(1)), int(m.group(2)), m.group(3))

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}{self.suffix}"

    @property
    def sm(self) -> str:
        return f"sm_{self.major}{self.minor}{self.suffix}"

    def cubin_runs_on(self, gpu: Arch) -> bool:
        """Whether machine code (cubin) built for this arch runs on ``gpu``.

        CUDA binary compatibility (CUDA C++ Programming Guide, "Binary Compatibility"): a cubin
        for X.y runs on X.z for z >= y; an arch-specific ``a`` cubin only on exactly X.y.
        """
        if self.suffix == "a":
            return (gpu.major, gpu.minor) == (self.major, self.minor)
        return gpu.major == self.major and gpu.minor >= self.minor

    def ptx_runs_on(self, gpu: Arch) -> bool:
        """Whether PTX for this arch can be JIT-compiled for ``gpu`` (forward only)."""
        if self.suffix == "a":
            return (gpu.major, gpu.minor) == (self.major, self.minor)
        return (gpu.major, gpu.minor) >= (self.major, self.minor)


def has_kernels(sm: tuple[Arch, ...], ptx: tuple[Arch, ...], gpu: Arch) -> bool:
    """Whether code built for ``sm`` (cubins) and ``ptx`` runs on ``gpu``."""
    return any(a.cubin_runs_on(gpu) for a in sm) or any(p.ptx_runs_on(gpu) for p in ptx)


@dataclass(frozen=True)
class Variant:
    """An accelerator variant of the PyTorch indexes: ``cu128``, ``rocm6.3``, ``xpu``, ``cpu``."""

    name: str
    kind: Literal["cuda", "rocm", "xpu", "cpu"]
    index: str
    cuda: Version | None = None
    rocm: str | None = None

    @property
    def cuda_major(self) -> int | None:
        return self.cuda.major if self.cuda else None

    def preference(self) -> tuple[int, Version]:
        """Sort key, higher is preferred: CUDA (newest first), then ROCm, XPU, CPU last."""
        rank = {"cuda": 3, "rocm": 2, "xpu": 1, "cpu": 0}[self.kind]
        if self.cuda is not None:
            return (rank, self.cuda)
        if self.rocm is not None:
            return (rank, Version(self.rocm))
        return (rank, Version("0"))


@dataclass(frozen=True, eq=False)
class TorchBuild:
    """One published build: a torch release in one variant for some platforms. Rows are unique
    in the matrix: equality and hashing are by identity (cheap, and the resolver hashes often).

    ``sm``/``ptx`` are the compute capabilities compiled in (CUDA builds only). ``verified`` is
    False when a fact of the row could not be checked against a primary source; the resolver
    then prefers verified rows and says so in its reason.
    """

    torch: Version
    variant: Variant
    platforms: frozenset[str]
    sm: tuple[Arch, ...] = ()
    ptx: tuple[Arch, ...] = ()
    cuda_full: str | None = None
    gfx: tuple[str, ...] = ()
    verified: bool = True
    sources: tuple[str, ...] = ()
    note: str = ""

    def runs_on(self, gpu: Arch) -> bool:
        """Whether this build has kernels for ``gpu``: a compatible cubin, or PTX to JIT."""
        return has_kernels(self.sm, self.ptx, gpu)

    @property
    def arch_summary(self) -> str:
        """``sm_50..sm_90`` style summary for messages, with ``+PTX`` where shipped."""
        if not self.sm:
            return "no arch list"
        archs = sorted(self.sm)
        text = archs[0].sm if len(archs) == 1 else f"{archs[0].sm}..{archs[-1].sm}"
        if self.ptx:
            text += "+PTX(" + ",".join(p.sm for p in sorted(self.ptx)) + ")"
        return text


@dataclass(frozen=True, eq=False)
class TorchRelease:
    """A torch release and every fact that pairs with it. Rows are unique in the matrix, so
    equality and hashing are by identity (candidates that hold a release stay hashable)."""

    version: Version
    python: dict[str, tuple[str, ...]]  # platform -> CPython minors with wheels
    abi: dict[str, bool]  # platform -> _GLIBCXX_USE_CXX11_ABI of its Linux builds
    pypi_cuda: dict[str, str]  # platform -> "12.6" | "cpu": what the plain PyPI wheel carries
    torchvision: Version | None
    torchaudio: Version | None
    triton: str | None  # the requirement in torch's metadata: "triton==3.3.1", "triton~=3.8.0"
    builds: tuple[TorchBuild, ...]
    sources: tuple[str, ...] = ()
    abi_overrides: dict[tuple[str, str], bool] = field(default_factory=dict)  # (platform, variant)
    triton_marker: str = ""  # the PEP 508 marker of the triton requirement

    def cxx11_abi(self, platform: str, variant: str) -> bool | None:
        """The C++ ABI of this release's ``variant`` build on ``platform`` (None: unknown, or
        not Linux). 2.6.0 is the one release whose x86_64 variants differ (cu126 is cxx11)."""
        if (platform, variant) in self.abi_overrides:
            return self.abi_overrides[(platform, variant)]
        return self.abi.get(platform)


class DriverVersion(Version):
    """An NVIDIA driver version: compares as PEP 440, prints as written.

    ``Version("576.02")`` prints ``576.2``; drivers are written with zero-padded fields
    (``580.65.06``), and a message must show the number ``nvidia-smi`` shows.
    """

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self._text = text.strip()

    def __str__(self) -> str:
        return self._text

    def __repr__(self) -> str:
        return f"<DriverVersion({self._text!r})>"


@dataclass(frozen=True)
class DriverFloor:
    """The oldest NVIDIA driver that runs a CUDA runtime, under one policy, with its source."""

    cuda: str
    driver: Version
    policy: Literal["toolkit", "minor-version"]
    os: Literal["linux", "windows"]
    source: str
    verified: bool = True


@dataclass(frozen=True)
class GpuModel:
    """A GPU model with its compute capability."""

    name: str
    cc: Arch
    arch: str
    aliases: tuple[str, ...] = ()
    source: str = ""


@dataclass(frozen=True)
class FlashAttnWheel:
    """One prebuilt flash-attn wheel published on the project's GitHub release."""

    version: Version
    cuda_tag: str  # as in the filename: "12", "118", "122"
    torch_minor: str  # "2.6"
    cxx11_abi: bool
    python: str  # "3.12"
    platform: str  # "linux-x86_64"
    filename: str
    url: str

    @property
    def cuda_major(self) -> int:
        return int(self.cuda_tag[:2]) if len(self.cuda_tag) >= 3 else int(self.cuda_tag)


@dataclass(frozen=True, eq=False)
class FlashAttnRelease:
    version: Version
    wheels: tuple[FlashAttnWheel, ...]
    requires_python: str | None
    min_cc: Arch
    verified: bool = True
    sources: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class CompanionRelease:
    """A torchvision/torchaudio release and the torch requirement in its wheel metadata.

    ``torch`` is the requirement string (``torch==2.7.1``; from torchvision 0.29.1 a range,
    ``torch>=2.14.0``), or None when the metadata declares no torch requirement.
    """

    name: str
    version: Version
    torch: str | None
    source: str = ""

    @property
    def exact_torch(self) -> Version | None:
        """The torch version of an exact ``==X`` pin, else None."""
        if self.torch and self.torch.replace(" ", "").startswith("torch==") and "*" not in self.torch:
            return Version(self.torch.replace(" ", "").removeprefix("torch==").split(";")[0])
        return None


@dataclass(frozen=True, eq=False)
class TritonRelease:
    """A triton release on PyPI and the CPython minors of its wheels per platform."""

    version: Version
    python: dict[str, tuple[str, ...]]
    source: str = ""


@dataclass(frozen=True)
class XformersRelease:
    """An xformers release on PyPI and the torch it requires (from its wheel metadata)."""

    version: Version
    torch: str  # the requirement string, e.g. "torch==2.7.0"
    python: dict[str, tuple[str, ...] | None]  # platform -> CPython minors; None: any (py3-none)
    requires_python: str = ""
    source: str = ""
