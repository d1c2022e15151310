"""The ``Host``: the facts about one target machine that a resolution depends on.

A ``Host`` is a plain value. It comes from a ``[targets.NAME]`` table (:func:`hosts_from_spec`),
from command-line flags (:func:`host_from_flags`), or from this machine (:func:`probe_host`, the
only code that probes). The resolver takes a ``Host`` and never probes, so a lock can be made for
any machine from any machine.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from .errors import HostError, Problem, SpecError
from .matrix import Arch, DriverVersion, Matrix
from .vocabulary import DEFAULT_GLIBC, DEFAULT_MACOS, PLATFORMS, parse_specifier

if TYPE_CHECKING:  # the spec models are heavy to import; only hosts_from_spec reads them
    from .spec import Spec, Target

__all__ = ["Gpu", "Host", "host_from_flags", "hosts_from_spec", "probe_host", "resolve_gpu"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Gpu:
    """One GPU of a target: the name as declared and its compute capability."""

    name: str
    cc: Arch

    def describe(self) -> str:
        return f"{self.name} ({self.cc.sm})" if self.name != str(self.cc) else self.cc.sm


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
        return bool(self.gpus)

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"platform": self.platform}
        if str(self.python):
            out["python"] = str(self.python)
        if self.driver is not None:
            out["driver"] = str(self.driver)
        out["gpus"] = [{"name": g.name, "compute-capability": str(g.cc)} for g in self.gpus]
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
    gpus = []
    for i, text in enumerate(target.gpus):
        try:
            gpus.append(resolve_gpu(text, matrix))
        except ValueError as e:
            problems.append(Problem(f"targets.{name}.gpus[{i}]", str(e), spec.locate(f"targets.{name}.gpus")))
    driver = None
    if target.driver is not None:
        try:
            driver = _parse_driver(target.driver)
        except ValueError as e:
            problems.append(Problem(f"targets.{name}.driver", str(e), spec.locate(f"targets.{name}.driver")))
    if len(problems) > before:
        raise _Skip
    python = spec.project.python & (target.python or SpecifierSet())
    return Host(name, target.platform, python, driver, tuple(gpus), "declared", target.glibc, target.macos)


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
