"""The frameworks beside torch — TensorFlow, JAX, PaddlePaddle — as stack packages.

Each framework release becomes one candidate per build that could run on the target (a CUDA
build per CUDA variant, and a CPU build), newest release first and, within a release, the newest
CUDA first. Their rules are the torch rules, read from the framework's own matrix file:

- **TensorFlow** (``tensorflow.json``): wheels per platform and Python; a GPU build only where
  the release's wheel is a CUDA build (Linux x86_64; native Windows up to 2.10 only); from 2.14
  the ``and-cuda`` extra brings NVIDIA's libraries as wheels pinned exactly, before that the
  wheel loads a system CUDA/cuDNN of the tested pair; the driver floor of the tested CUDA.
- **JAX** (``jax.json``): ``jax[cudaNN]`` extras whose plugin is on PyPI, with the plugin's
  platforms and Pythons, the driver and SM minimums of the install docs for that CUDA major, and
  the NVIDIA library requirements of the extra (or the plugin's ``with-cuda`` extra).
- **PaddlePaddle** (``paddle.json``): one build per CUDA variant of a release (version with a
  ``.postNNN`` suffix, its own index or find-links page); 2.x wheels load a system CUDA and cuDNN;
  NCCL for multi-GPU targets; the compute capability floor of the install docs.
  ``[stack] paddlepaddle`` takes the CPU package (``paddlepaddle``) on a target without a GPU,
  ``paddlepaddle-gpu`` asks for a GPU build only. A build whose CUDA x.y the release's conda
  page offers carries that documented conda route (:func:`paddle_conda_route`) for the conda
  renders.

NVIDIA library pins (``nvidia-cudnn-cu12==8.9.4.25`` of ``tensorflow[and-cuda]``,
``nvidia-cudnn-cu12>=9.1`` of ``jax[cuda12]``) must agree when two frameworks share one
environment: a framework build requires of each framework after it in the stack a build whose
pins of the same libraries some version satisfies both ways (:class:`LibraryAgreement`), so the
conflict is found among a few framework builds instead of by backtracking over a dozen library
wheels, and is reported as what it is. A full closure then locks the libraries' real files from
the frameworks' own metadata.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from packaging.requirements import Requirement as Pep508
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from ..lockfile import CondaRoute
from ..matrix import PYPI_INDEX, DriverFloor, DriverVersion
from ..vocabulary import FRAMEWORKS
from .candidates import FrameworkCandidate
from .requirements import (
    AcceleratorRequirement,
    DriverRequirement,
    GpuFloorRequirement,
    PlatformRequirement,
    PythonRequirement,
)

if TYPE_CHECKING:
    from .factory import Factory

__all__ = [
    "LibraryAgreement", "framework_candidates", "framework_dependencies", "framework_reason", "library_pins",
    "paddle_conda_route",
]

_CPU_KINDS = frozenset({"cpu", "mps"})
_LINUX = {"sys_platform": "linux", "platform_system": "Linux", "os_name": "posix", "platform_machine": "x86_64", "extra": ""}


def is_library(name: str) -> bool:
    """NVIDIA's CUDA library wheels (``nvidia-cudnn-cu12``), which frameworks pin."""
    return name.startswith("nvidia-")


# --- candidates ------------------------------------------------------------------------------


def framework_candidates(factory: Factory, identifier: str) -> Iterator[FrameworkCandidate]:
    if identifier == "tensorflow":
        yield from _tensorflow(factory)
    elif identifier == "jax":
        yield from _jax(factory)
    elif identifier in ("paddlepaddle", "paddlepaddle-gpu"):
        yield from _paddle(factory, identifier)


def _tensorflow(factory: Factory) -> Iterator[FrameworkCandidate]:
    platform = factory.host.platform
    for r in factory.matrix.tensorflow_releases:
        if not r.python.get(platform):
            continue
        if r.gpu_on(platform):
            pip_libs = r.has_and_cuda and platform.startswith("linux")
            system = () if pip_libs else (f"CUDA {_mm(r.cuda)}", f"cuDNN {_mm(r.cudnn)}")
            yield FrameworkCandidate(
                "tensorflow", "tensorflow", r.version, r.version, "cuda", r.cuda, PYPI_INDEX,
                extras=("and-cuda",) if pip_libs else (), verified=r.verified, system=system, release=r,
            )
        yield FrameworkCandidate("tensorflow", "tensorflow", r.version, r.version, "cpu", None, PYPI_INDEX, verified=r.verified, release=r)


def _jax(factory: Factory) -> Iterator[FrameworkCandidate]:
    for r in factory.matrix.jax_releases:
        # One pip-libraries extra per CUDA major, newest CUDA first; ``cuda12`` before its alias
        # ``cuda12_pip``. Extras whose CUDA plugin is not on PyPI (jaxlib builds on Google's
        # find-links page before 0.4.31 and 0.7.0's cuda13) are not offered.
        seen: set[int] = set()
        extras = sorted(
            (e for e in r.extras if e.libs == "pip" and e.cuda_major is not None and e.plugin is not None),
            key=lambda e: (-(e.cuda_major or 0), e.name != f"cuda{e.cuda_major}", e.name),
        )
        for extra in extras:
            assert extra.cuda_major is not None
            if extra.cuda_major in seen:
                continue
            seen.add(extra.cuda_major)
            cuda = extra.cuda_min or Version(f"{extra.cuda_major}.0")
            yield FrameworkCandidate(
                "jax", "jax", r.version, r.version, "cuda", cuda, PYPI_INDEX, extras=(extra.name,), release=r, variant=extra,
            )
        yield FrameworkCandidate("jax", "jax", r.version, r.version, "cpu", None, PYPI_INDEX, release=r)


def _paddle(factory: Factory, identifier: str) -> Iterator[FrameworkCandidate]:
    platform = factory.host.platform
    config = factory.indexed.config if factory.indexed is not None else None
    multi_gpu = len(factory.host.gpus) > 1
    for r in factory.matrix.paddle_releases:
        variants = sorted((v for v in r.variants if platform in v.platforms), key=lambda v: v.cuda, reverse=True)
        for v in variants:
            system: list[str] = []
            if r.system_cuda:
                system.append(f"CUDA {_mm(v.cuda)}")
                if v.cudnn is not None:
                    system.append(f"cuDNN {_mm(v.cudnn)}")
            if multi_gpu and r.nccl is not None:
                system.append(f"NCCL {r.nccl}")
            if config is None or v.index.startswith(PYPI_INDEX):
                index = v.index
            elif v.index_mode == "find-links":
                index = config.paddle_find_links(v.index).url
            else:
                index = config.paddle(v.index).url
            yield FrameworkCandidate(
                identifier, "paddlepaddle-gpu", r.version, v.version, "cuda", v.cuda, index,
                find_links=v.index_mode == "find-links", verified=r.verified and v.verified, system=tuple(system),
                release=r, variant=v,
            )
        if identifier == "paddlepaddle":
            # The CPU package has no row of its own in aienv's data (paddle.json is about the
            # GPU builds): offered from PyPI, unverified, for the release's documented Pythons.
            yield FrameworkCandidate(identifier, "paddlepaddle", r.version, r.version, "cpu", None, PYPI_INDEX, verified=False, release=r)


def paddle_conda_route(factory: Factory, c: FrameworkCandidate, python: str) -> CondaRoute | None:
    """The documented conda route of a Paddle GPU build (``paddle.json``'s ``conda``), when the
    release's conda page offers this build's CUDA x.y for the target's platform and Python:
    the page's channels and the match specs of its command (``paddlepaddle-gpu ==2.6.2``,
    ``cudatoolkit 11.7.*``). None for any other build."""
    if c.identifier not in ("paddlepaddle", "paddlepaddle-gpu") or c.kind != "cuda" or c.cuda is None:
        return None
    route = c.release.conda  # type: ignore[attr-defined]
    pin = _mm(c.cuda)
    if route is None or pin not in route.cuda_pins or factory.host.platform not in route.platforms:
        return None
    if python not in (route.python or c.release.python):  # type: ignore[attr-defined]
        return None
    return CondaRoute(channels=route.channels_for(pin), specs=route.specs_for(pin), source=route.page)


def _mm(v: Version) -> str:
    return f"{v.major}.{v.minor}"


def library_pins(c: FrameworkCandidate) -> dict[str, SpecifierSet]:
    """The NVIDIA library wheels a framework build pins, by name (from its matrix row)."""
    texts: list[str] = []
    if c.identifier == "tensorflow" and c.extras:
        texts = list(c.release.and_cuda or ())  # type: ignore[attr-defined]
    elif c.identifier == "jax" and c.kind == "cuda":
        texts = [*c.variant.requires, *c.variant.plugin.with_cuda]  # type: ignore[attr-defined]
    pins: dict[str, SpecifierSet] = {}
    for text in texts:
        req = Pep508(text)
        name = canonicalize_name(req.name)
        # The extras with NVIDIA wheels are Linux-only; their markers say so (sys_platform).
        if is_library(name) and (req.marker is None or req.marker.evaluate(_LINUX)):
            pins[name] = pins.get(name, SpecifierSet()) & req.specifier
    return pins


def _agree(a: SpecifierSet, b: SpecifierSet) -> bool:
    """Whether some version satisfies both: one of the versions either names, or, when neither
    has an upper bound or exact pin, any version high enough."""
    named = {Version(s.version.rstrip(".*")) for s in (*a, *b) if s.operator in ("==", ">=", "~=", "===", ">")}
    if any(a.contains(v, prereleases=True) and b.contains(v, prereleases=True) for v in named):
        return True
    bounded = any(s.operator in ("==", "<", "<=", "~=", "===") for s in (*a, *b))
    return not bounded


@dataclass(frozen=True, eq=False)
class LibraryAgreement:
    """A framework build needs ``identifier`` (another framework of the stack) in a build whose
    NVIDIA library pins agree with ``pins``."""

    identifier: str
    pins: tuple[tuple[str, SpecifierSet], ...]
    origin: str

    def is_satisfied_by(self, candidate: object) -> bool:
        if not isinstance(candidate, FrameworkCandidate):
            return True
        theirs = library_pins(candidate)
        return all(_agree(spec, theirs[name]) for name, spec in self.pins if name in theirs)

    def clash(self, candidate: FrameworkCandidate) -> list[str]:
        """``nvidia-cudnn-cu12>=9.1 vs ==8.9.4.25`` for each library the two cannot agree on."""
        theirs = library_pins(candidate)
        return [f"{name}{spec} vs {name}{theirs[name]}" for name, spec in self.pins if name in theirs and not _agree(spec, theirs[name])]

    def format_for_error(self) -> str:
        shown = ", ".join(f"{n}{s}" for n, s in self.pins[:3])
        return f"{self.identifier} whose NVIDIA library pins agree with {shown}{' …' if len(self.pins) > 3 else ''}"


# --- rules -----------------------------------------------------------------------------------


def framework_dependencies(factory: Factory, c: FrameworkCandidate) -> list[object]:
    """The compatibility rules of a framework build, as requirements on host facts and on the
    NVIDIA libraries it pins."""
    origin = f"{c.format_for_error()}"
    host = factory.host
    deps: list[object] = []
    if c.identifier == "tensorflow":
        r = c.release
        pythons = r.python.get(host.platform, ())  # type: ignore[attr-defined]
        platforms = frozenset(r.python) if c.kind == "cpu" else frozenset(r.gpu_platforms) & frozenset(r.python)  # type: ignore[attr-defined]
        deps += [PlatformRequirement(platforms, origin), PythonRequirement(frozenset(pythons), origin)]
        if c.kind == "cuda":
            assert c.cuda is not None
            deps += [AcceleratorRequirement(frozenset({"cuda"}), origin), factory.driver_requirement(c.cuda, origin)]

        else:
            deps.append(_cpu_accelerator(factory, origin))
    elif c.identifier == "jax":
        r = c.release
        if c.kind == "cuda":
            extra = c.variant
            plugin = extra.plugin  # type: ignore[attr-defined]
            deps += [
                PlatformRequirement(frozenset(plugin.python), f"{origin}: {plugin.name} wheels on PyPI"),
                PythonRequirement(frozenset(plugin.python.get(host.platform, ())), f"{origin}: {plugin.name} wheels on PyPI"),
                AcceleratorRequirement(frozenset({"cuda"}), origin),
            ]
            minimums = factory.matrix.jax_cuda_major(extra.cuda_major)  # type: ignore[attr-defined]
            if minimums is not None:
                floor = DriverFloor(f"{extra.cuda_major}.x", minimums.driver_linux, "minor-version", "linux", minimums.source)  # type: ignore[attr-defined]
                deps.append(DriverRequirement(floor, f"{origin} (JAX's install docs for CUDA {extra.cuda_major})"))  # type: ignore[attr-defined]
                deps.append(GpuFloorRequirement(minimums.min_sm, f"{origin} (JAX's install docs: SM >= {minimums.min_sm})"))
            else:
                unknown = DriverFloor(f"{extra.cuda_major}.x", DriverVersion("9999"), "minor-version", "linux", "", verified=False)  # type: ignore[attr-defined]
                deps.append(DriverRequirement(unknown, origin))

        else:
            deps += [
                PythonRequirement(frozenset(factory.pythons_for(str(r.requires_python))), f"{origin} requires-python"),  # type: ignore[attr-defined]
                _cpu_accelerator(factory, origin),
            ]
    else:  # paddlepaddle, paddlepaddle-gpu
        r = c.release
        deps.append(PythonRequirement(frozenset(r.python), f"{origin} (Paddle's install docs)"))  # type: ignore[attr-defined]
        if c.kind == "cuda":
            assert c.cuda is not None
            v = c.variant
            deps += [
                PlatformRequirement(frozenset(v.platforms), origin),  # type: ignore[attr-defined]
                AcceleratorRequirement(frozenset({"cuda"}), origin),
                _paddle_driver(factory, c, origin),
            ]
            if r.min_compute_capability is not None:  # type: ignore[attr-defined]
                deps.append(GpuFloorRequirement(r.min_compute_capability, f"{origin} (Paddle's install docs)"))  # type: ignore[attr-defined]
        else:
            deps.append(_cpu_accelerator(factory, origin))
    pins = library_pins(c)
    if pins:
        # Required of each framework after this one in the stack (each pair checked once): the
        # resolver pins frameworks in stack order, so the later one's candidates are filtered
        # and a conflict names this build as the parent.
        for other in FRAMEWORKS[FRAMEWORKS.index(c.identifier) + 1 :]:
            if other in factory.stack_names:
                deps.append(LibraryAgreement(other, tuple(sorted(pins.items())), origin))
    return deps


def _paddle_driver(factory: Factory, c: FrameworkCandidate, origin: str) -> DriverRequirement:
    """A Paddle build that loads the machine's CUDA toolkit (2.x) needs that toolkit's own driver
    floor (NVIDIA's toolkit table: paddle.json's note); one that brings CUDA follows the policy."""
    assert c.cuda is not None
    if not c.release.system_cuda:  # type: ignore[attr-defined]
        return factory.driver_requirement(c.cuda, origin)
    floor = factory.matrix.driver_floor(c.cuda, factory.host.platform, "toolkit")
    if floor is None:
        return factory.driver_requirement(c.cuda, origin)
    return DriverRequirement(floor, f"{origin} loads the system CUDA {_mm(c.cuda)} toolkit")


def _cpu_accelerator(factory: Factory, origin: str) -> AcceleratorRequirement:
    """A CPU build runs anywhere, but is chosen for a GPU target only when the spec asks
    (``cuda = "cpu"``) — never silently (the torch rule). ``paddlepaddle-gpu`` has no CPU build."""
    kinds = set(_CPU_KINDS)
    if factory.forced_cpu:
        kinds |= {"cuda", "rocm", "xpu"}
    return AcceleratorRequirement(frozenset(kinds), origin)


# --- reasons ---------------------------------------------------------------------------------


def framework_reason(factory: Factory, c: FrameworkCandidate) -> str:
    """One line: why this framework build."""
    host = factory.host
    name = c.package
    if c.kind == "cuda":
        assert c.cuda is not None
        gpus = host.describe_gpus()
        driver = f"driver {host.driver}" if host.driver else "the driver (not declared; the lock records the floor)"
        if c.identifier == "jax":
            minimums = factory.matrix.jax_cuda_major(c.variant.cuda_major)  # type: ignore[attr-defined]
            floor = f"{minimums.driver_linux}" if minimums else "unknown"
            text = (
                f"jax[{c.extras[0]}]: newest CUDA major of jax {c.version} whose plugin is on PyPI; JAX's floor "
                f"driver {floor} <= {driver}, SM >= {minimums.min_sm if minimums else '?'} for {gpus}"
            )
        else:
            floor = next(d.floor for d in factory.dependencies(c) if isinstance(d, DriverRequirement))
            what = {
                "tensorflow": f"tensorflow {c.version} is tested with CUDA {_mm(c.cuda)}",
                "paddlepaddle": f"{c.locked_version}: newest CUDA variant of Paddle {c.version}",
                "paddlepaddle-gpu": f"{c.locked_version}: newest CUDA variant of Paddle {c.version}",
            }[c.identifier]
            text = f"{what}; driver floor {floor.driver} ({floor.policy}) <= {driver}; GPUs {gpus}"
            if c.extras:
                text += "; NVIDIA libraries from the and-cuda extra's exact pins"
    elif host.platform == "macos-arm64":
        text = f"{name} {c.version}: the macOS arm64 build (CPU; no CUDA on macOS)"
    elif factory.forced_cpu:
        text = f"{name} {c.version}: CPU build, aienv.toml asks for cuda = \"cpu\""
    else:
        text = f"{name} {c.version}: CPU build, the target has no GPU"
    if c.system:
        text += f"; expects on the machine: {', '.join(c.system)}"
    if c.find_links:
        text += f"; from the find-links page {c.index}"
    if not c.verified:
        text += "; NOTE: this build's facts are unverified in aienv's data"
    newer = [o for o in factory.candidates(c.identifier) if o.version > c.version and _spec_allows(factory, o)]  # type: ignore[attr-defined]
    if newer:
        closest = [o for o in newer if o.version == newer[-1].version]  # type: ignore[attr-defined]
        best = next((o for o in closest if o.kind == c.kind), closest[0])  # type: ignore[attr-defined]
        blockers = factory.blockers(best)
        if c.identifier == "tensorflow" and c.kind == "cuda" and host.platform.startswith("windows"):
            why = "no GPU build on native Windows after 2.10 (a linux-x86_64 target under WSL2 has them)"
        elif blockers:
            why = f"needs {blockers[0].format_for_error()}"
        else:
            why = "no fit with the rest of the stack"
        text += f"; newer {name} {best.version} ruled out: {why}"  # type: ignore[attr-defined]
    else:
        text += f"; {c.version} is the newest release the spec allows"
    return text


def _spec_allows(factory: Factory, candidate: object) -> bool:
    identifier = candidate.identifier  # type: ignore[attr-defined]
    roots = factory.roots_for(identifier)
    return all(r.is_satisfied_by(candidate) for r in roots)  # type: ignore[arg-type]

