"""The ``Host``: the facts about one target machine that a resolution depends on.

A ``Host`` is a plain value. It comes from a ``[targets.NAME]`` table (:func:`hosts_from_spec`),
from command-line flags (:func:`host_from_flags`), or from this machine (:func:`probe_host`, the
only code that probes). The resolver takes a ``Host`` and never probes, so a lock can be made for
any machine from any machine.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from .errors import HostError, Problem, SpecError
from .matrix import Arch, DriverVersion, Matrix
from .vocabulary import DEFAULT_GLIBC, DEFAULT_MACOS, PLATFORMS, parse_specifier

if TYPE_CHECKING:  # the spec models are heavy to import; only hosts_from_spec reads them
    from .detect.libraries import SystemLibrary
    from .spec import Spec, Target

__all__ = [
    "AmdGpu", "Gpu", "Host", "IntelGpu", "host_from_flags", "hosts_from_spec", "probe_host", "resolve_device", "resolve_gpu",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Gpu:
    """One GPU of a target: the name as declared and its compute capability."""

    name: str
    cc: Arch

    def describe(self) -> str:
        return f"{self.name} ({self.cc.sm})" if self.name != str(self.cc) else self.cc.sm


@dataclass(frozen=True)
class AmdGpu:
    """One AMD GPU of a target: the name as declared and its LLVM target (``gfx1100``)."""

    name: str
    gfx: str

    def describe(self) -> str:
        return f"{self.name} ({self.gfx})" if self.name != self.gfx else self.gfx


@dataclass(frozen=True)
class IntelGpu:
    """One Intel GPU of a target; ``integrated`` GPUs are used only when the target asks."""

    name: str
    integrated: bool

    def describe(self) -> str:
        return f"{self.name} ({'integrated' if self.integrated else 'discrete'})"


_GFX = re.compile(r"^gfx[0-9a-f]{3,4}$")


@dataclass(frozen=True)
class Host:
    """The facts of one target machine.

    ``python`` is the set of Python versions the environment may use on it (a target may pin one
    or leave the project's range); ``driver`` is None when unknown (no GPU, or not declared).
    """

    name: str
    platform: str
    python: SpecifierSet = field(default_factory=SpecifierSet)
    driver: Version | None = None
    gpus: tuple[Gpu, ...] = ()
    origin: str = "declared"  # declared | flags | probed
    glibc: str | None = None  # oldest glibc assumed on Linux (None: DEFAULT_GLIBC)
    macos: str | None = None  # oldest macOS assumed (None: DEFAULT_MACOS)
    amd_gpus: tuple[AmdGpu, ...] = ()
    intel_gpus: tuple[IntelGpu, ...] = ()
    accelerator: str | None = None  # as declared by the target (None: inferred, see ``kind``)
    # The CUDA libraries of the machine outside any environment (envspec.detect.libraries); None:
    # not looked at (a declared host, or a probe that did not need them: see libraries()).
    system_libraries: tuple[SystemLibrary, ...] | None = field(default=None, compare=False)

    @property
    def kind(self) -> str:
        """What the framework runs on: the declared accelerator, else ``cuda`` with NVIDIA GPUs,
        ``rocm`` with AMD GPUs, ``xpu`` with a discrete Intel GPU, ``mps`` on Apple silicon,
        else ``cpu`` (an integrated Intel GPU is never chosen unless declared)."""
        if self.accelerator is not None:
            return self.accelerator
        if self.gpus:
            return "cuda"
        if self.amd_gpus:
            return "rocm"
        if any(not g.integrated for g in self.intel_gpus):
            return "xpu"
        if self.platform == "macos-arm64":
            return "mps"
        return "cpu"

    @property
    def os_floor(self) -> str | None:
        """The OS version wheels are chosen for: glibc on Linux, macOS on macOS, else None."""
        if self.platform.startswith("linux"):
            return self.glibc or DEFAULT_GLIBC
        if self.platform.startswith("macos"):
            return self.macos or DEFAULT_MACOS
        return None

    @property
    def has_nvidia_gpu(self) -> bool:
        """Whether the target runs a CUDA framework build on NVIDIA GPUs."""
        return bool(self.gpus) and self.kind == "cuda"

    def libraries(self) -> tuple[SystemLibrary, ...] | None:
        """The machine's CUDA libraries: as given, else looked for once per process when this host
        is the probed machine, else None (unknown: nothing is checked against them)."""
        if self.system_libraries is not None:
            return self.system_libraries
        if self.origin != "probed":
            return None
        from .detect.libraries import machine_system_libraries

        return machine_system_libraries()

    def describe_gpus(self) -> str:
        """Every GPU of the target, for messages: ``RTX 4090 (sm_89)``, ``gfx1100`` …"""
        devices = [*(g.describe() for g in self.gpus), *(g.describe() for g in self.amd_gpus), *(g.describe() for g in self.intel_gpus)]
        return ", ".join(dict.fromkeys(devices)) or "no GPU"

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"platform": self.platform}
        if str(self.python):
            out["python"] = str(self.python)
        if self.driver is not None:
            out["driver"] = str(self.driver)
        out["gpus"] = [
            *({"name": g.name, "compute-capability": str(g.cc)} for g in self.gpus),
            *({"name": g.name, "gfx": g.gfx} for g in self.amd_gpus),
            *({"name": g.name, "integrated": g.integrated} for g in self.intel_gpus),
        ]
        if self.accelerator is not None or self.amd_gpus or self.intel_gpus:
            out["accelerator"] = self.kind
        return out


def resolve_gpu(text: str, matrix: Matrix) -> Gpu:
    """A GPU from a model name (``"RTX 4090"``) or a compute capability (``"8.9"``, ``"sm_89"``).

    Raises ``ValueError`` naming close model names when it is neither.
    """
    model = matrix.gpu(text)
    if model is not None:
        return Gpu(model.name, model.cc)
    try:
        cc = Arch.parse(text)
    except ValueError:
        pass
    else:
        return Gpu(str(cc), cc)
    import difflib

    near = difflib.get_close_matches(text, matrix.gpu_names(), n=3, cutoff=0.5)
    hint = f"; did you mean {' or '.join(repr(n) for n in near)}?" if near else ""
    raise ValueError(f"unknown GPU {text!r}{hint} (a compute capability like \"8.9\" works for any GPU)")


def resolve_device(text: str, matrix: Matrix) -> Gpu | AmdGpu | IntelGpu:
    """A GPU of any vendor from what a target's ``gpus`` names: an NVIDIA model or compute
    capability (:func:`resolve_gpu`), an AMD model or LLVM target (``"gfx1100"``), or an Intel
    model. Raises ``ValueError`` naming close names when it is none of them."""
    key = text.strip()
    if _GFX.match(key.lower()):
        return AmdGpu(key.lower(), key.lower())
    model = matrix.amd_gpu(key)
    if model is not None:
        return AmdGpu(model.name, model.gfx)
    found = matrix.intel_gpu(key)
    if found is not None:
        return IntelGpu(found.name, found.integrated)
    try:
        return resolve_gpu(key, matrix)
    except ValueError as e:
        names = [*matrix.gpu_names(), *matrix.amd_gpu_names(), *matrix.intel_gpu_names()]
        import difflib

        near = difflib.get_close_matches(key, names, n=3, cutoff=0.5)
        if not near:
            raise
        raise ValueError(
            f"unknown GPU {text!r}; did you mean {' or '.join(repr(n) for n in near)}? "
            "(a compute capability like \"8.9\" or an AMD target like \"gfx1100\" works for any GPU)"
        ) from e


def _parse_driver(text: str) -> Version:
    try:
        return DriverVersion(text)
    except InvalidVersion:
        raise ValueError(f"{text!r} is not a driver version (like 550.54.14)") from None


def hosts_from_spec(spec: Spec, matrix: Matrix) -> dict[str, Host]:
    """One Host per ``[targets.*]`` table, with project.python narrowed by the target's python.

    Raises :class:`~envspec.errors.SpecError` (key path and line) for unknown GPUs or bad drivers.
    """
    problems: list[Problem] = []
    hosts = {}
    for name, target in spec.targets.items():
        try:
            hosts[name] = _host_from_target(name, target, spec, matrix, problems)
        except _Skip:
            continue
    if problems:
        raise SpecError(spec.filename, problems)
    return hosts


class _Skip(Exception):
    pass


def _host_from_target(name: str, target: Target, spec: Spec, matrix: Matrix, problems: list[Problem]) -> Host:
    before = len(problems)
    devices: list[Gpu | AmdGpu | IntelGpu] = []
    for i, text in enumerate(target.gpus):
        try:
            devices.append(resolve_device(text, matrix))
        except ValueError as e:
            problems.append(Problem(f"targets.{name}.gpus[{i}]", str(e), spec.locate(f"targets.{name}.gpus")))
    gpus = [d for d in devices if isinstance(d, Gpu)]
    amd = tuple(d for d in devices if isinstance(d, AmdGpu))
    intel = tuple(d for d in devices if isinstance(d, IntelGpu))
    problem = _accelerator_problem(target.platform, target.accelerator, gpus, amd, intel)
    if problem:
        key = f"targets.{name}.accelerator" if target.accelerator else f"targets.{name}.gpus"
        problems.append(Problem(key, problem, spec.locate(key)))
    driver = None
    if target.driver is not None:
        try:
            driver = _parse_driver(target.driver)
        except ValueError as e:
            problems.append(Problem(f"targets.{name}.driver", str(e), spec.locate(f"targets.{name}.driver")))
    if len(problems) > before:
        raise _Skip
    python = spec.project.python & (target.python or SpecifierSet())
    return Host(
        name, target.platform, python, driver, tuple(gpus), "declared", target.glibc, target.macos,
        amd_gpus=amd, intel_gpus=intel, accelerator=target.accelerator,
    )


def _accelerator_problem(
    platform: str, declared: str | None, gpus: list[Gpu], amd: tuple[AmdGpu, ...], intel: tuple[IntelGpu, ...]
) -> str | None:
    """Why a target's GPUs and ``accelerator`` cannot go together (None when they can)."""
    vendors = [v for v, found in (("NVIDIA", gpus), ("AMD", amd), ("Intel", intel)) if found]
    if declared is None:
        if len(vendors) > 1:
            return f"lists {' and '.join(vendors)} GPUs: say which one the framework runs on with accelerator = \"cuda\", \"rocm\" or \"xpu\""
        return None
    needs = {"cuda": ("NVIDIA", gpus), "rocm": ("AMD", amd), "xpu": ("Intel", intel)}
    if declared in needs and not needs[declared][1]:
        vendor = needs[declared][0]
        how = 'a model name, or an LLVM target like "gfx1100"' if declared == "rocm" else "a model name"
        return f"accelerator = \"{declared}\" needs the target's {vendor} GPUs in gpus ({how})"
    if declared == "mps" and platform != "macos-arm64":
        return "accelerator = \"mps\" is Apple silicon's Metal: only a macos-arm64 target has it"
    if declared in ("rocm", "xpu") and platform == "macos-arm64":
        return f"accelerator = \"{declared}\" has no macOS build"
    return None


def host_from_flags(
    matrix: Matrix,
    *,
    name: str = "cli",
    platform: str | None = None,
    python: str | None = None,
    driver: str | None = None,
    gpus: list[str] | None = None,
    base: Host | None = None,
) -> Host:
    """A Host from ``--platform/--python/--driver/--gpu`` flags, over ``base`` (or this machine).

    Raises :class:`~envspec.errors.HostError` for a bad value.
    """
    base = base or probe_host()
    try:
        if platform is not None and platform not in PLATFORMS:
            raise ValueError(f"--platform {platform!r} is not one of: {', '.join(PLATFORMS)}")
        host_gpus = tuple(resolve_gpu(g, matrix) for g in gpus if g.strip()) if gpus is not None else base.gpus
        return Host(
            name=name,
            platform=platform or base.platform,
            python=parse_specifier(python) if python else base.python,
            driver=_parse_driver(driver) if driver else (None if gpus == [] else base.driver),
            gpus=host_gpus,
            origin="flags",
        )
    except ValueError as e:
        raise HostError(str(e)) from e


# --- the probe (the only code that looks at this machine) -------------------------------------


def probe_host(name: str = "this-machine", *, timeout: float = 5.0) -> Host:
    """This machine as a Host: :func:`envspec.detect.detect`'s ``host`` (overrides from
    ``AIENV_DRIVER``/``AIENV_GPUS``, then NVML, ``nvidia-smi``, the kernel module files;
    ``CUDA_VISIBLE_DEVICES`` applied; this Python and its glibc).

    A missing or hanging tool never fails the probe (each gets ``timeout`` seconds); a bad
    ``AIENV_DRIVER``/``AIENV_GPUS`` raises :class:`~envspec.errors.HostError`.
    """
    from .detect import detect

    return detect(name=name, timeout=timeout).host
