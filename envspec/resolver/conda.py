"""The conda side of a full-closure target: its match specs, its virtual packages, its solution.

:func:`locked_conda` turns a locked target into a :class:`~envspec.lockfile.LockedConda`. The
requirements are always written: ``python <target python>.*``, ``pip``, the match specs of a
package's documented conda route (PaddlePaddle's ``cudatoolkit`` pin, whose channels come
first), the ``[conda]`` packages, and ``cuda-nvcc <torch's CUDA x.y>.*`` when a package is to be
built with nvcc. They are solved (``packages``) only when ``aienv.toml`` has an explicit
``[conda]`` table: without one, no conda channel is contacted.

The solve sees the target, not this machine, through virtual packages (:func:`virtual_packages`).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

from packaging.version import Version

from ..errors import ResolutionError
from ..lockfile import LockedConda, LockedCondaPackage, LockedTarget
from ..matrix import DriverVersion, Matrix
from ..sources.conda import CONDA_SUBDIRS, CondaSolveError, CondaSolver, VirtualPackage

if TYPE_CHECKING:
    from ..spec import Spec

__all__ = ["conda_channels", "conda_requirements", "driver_cuda", "locked_conda", "virtual_packages"]

# The kernel a Linux target is assumed to run, for `__linux`: a target declares no kernel, and
# this is conda-lock's default (default-virtual-packages.yaml), so both tools solve alike.
LINUX_KERNEL = "5.10"
_ARCHSPEC = {"linux-x86_64": "x86_64", "linux-aarch64": "aarch64", "windows-x86_64": "x86_64", "macos-arm64": "arm64"}


def locked_conda(
    spec: Spec,
    target: LockedTarget,
    matrix: Matrix,
    solver: CondaSolver | None,
    name: str,
    previous: LockedConda | None = None,
    upgrade: Collection[str] = (),
) -> LockedConda:
    """The conda side of ``target`` (named ``name``); solved when ``spec`` has a ``[conda]`` table.

    ``solver`` None with such a table solves with the defaults (conda.anaconda.org, the default
    cache). The packages of ``previous`` (this target's conda side in the existing lock) are
    kept while they fit, except those named in ``upgrade``. Raises :class:`ResolutionError`
    (code ``conda-unsatisfiable``) when the specs cannot be met, and passes on the solver's
    fetch and offline errors.
    """
    requirements = conda_requirements(spec, target)
    channels = conda_channels(spec, target)
    if "conda" not in spec.model_fields_set:
        return LockedConda(channels=channels, requirements=requirements)
    solver = solver or CondaSolver()
    subdir = CONDA_SUBDIRS[target.platform]
    virtual = virtual_packages(target, matrix)
    try:
        prefer = {p.name: p.url for p in previous.packages if p.name not in upgrade} if previous else {}
        records = solver.solve(requirements, channels, subdir, virtual, prefer)
    except CondaSolveError as e:
        shown = ", ".join(str(v) for v in virtual) or "none"
        raise ResolutionError(
            name,
            [f"the conda packages {', '.join(requirements)} cannot be solved for {subdir} from {', '.join(e.channels)}"],
            conflicts=[*e.detail.splitlines(), f"(virtual packages of this target: {shown})"],
            suggestions=_suggestions(e.detail, name),
            code="conda-unsatisfiable",
        ) from e
    packages = tuple(
        LockedCondaPackage(
            name=r.name, version=r.version, build=r.build, channel=r.channel, subdir=r.subdir,
            url=r.url, sha256=r.sha256, md5=r.md5, depends=r.depends,
        )
        for r in records
    )
    return LockedConda(channels=channels, requirements=requirements, packages=packages)


def _suggestions(detail: str, name: str) -> list[str]:
    out = []
    if "__cuda" in detail:
        out.append(f"a package needs a newer CUDA driver than targets.{name} has (or declares): raise its driver")
    if "__glibc" in detail:
        out.append(f"a package needs a newer glibc than targets.{name}.glibc")
    return [*out, "check that each [conda] package exists for this platform in these channels"]


def conda_channels(spec: Spec, target: LockedTarget) -> tuple[str, ...]:
    """The channels of a target's conda environment: those of its packages' documented conda
    routes (PaddlePaddle's channel), in their order, before the project's ``[conda]`` channels;
    each once."""
    routes = [c for p in target.packages if p.conda_route is not None for c in p.conda_route.channels]
    return tuple(dict.fromkeys([*routes, *spec.conda.channels]))


def conda_requirements(spec: Spec, target: LockedTarget) -> tuple[str, ...]:
    """The match specs of a target's conda environment, in this order: Python, pip, the match
    specs of its packages' documented conda routes (``paddlepaddle-gpu ==2.6.2``,
    ``cudatoolkit 11.7.*``), the ``[conda]`` packages, and nvcc of torch's CUDA minor when a
    package has a build recipe that needs nvcc (a flash-attn source build)."""
    routes = [s for p in target.packages if p.conda_route is not None for s in p.conda_route.specs]
    out = [f"python {target.python}.*", "pip", *routes, *spec.conda.packages]
    if target.cuda and any(p.build is not None and p.build.nvcc_major is not None for p in target.packages):
        out.append(f"cuda-nvcc {target.cuda}.*")
    return tuple(dict.fromkeys(out))


def virtual_packages(target: LockedTarget, matrix: Matrix) -> tuple[VirtualPackage, ...]:
    """The virtual packages of a target, as conda would detect them on it (CEP "Virtual
    packages"): ``__unix``/``__linux``/``__glibc`` (the target's glibc floor), ``__win``,
    ``__osx`` (its macOS floor), ``__archspec`` (generic: the target declares no CPU model), and
    ``__cuda`` for a target with NVIDIA GPUs — see :func:`driver_cuda`.

    ``__linux`` is :data:`LINUX_KERNEL`, as the target declares no kernel. A GPU target with no
    declared driver is assumed to have the driver floor the lock records for its torch build
    (the oldest driver it can run on), so ``__cuda`` is what that driver supports.
    """
    platform = target.platform
    out = [VirtualPackage("__archspec", "1", _ARCHSPEC.get(platform, "0"))]
    if platform.startswith("linux"):
        out += [VirtualPackage("__unix", "0"), VirtualPackage("__linux", LINUX_KERNEL)]
        if target.glibc:
            out.append(VirtualPackage("__glibc", target.glibc))
    elif platform.startswith("windows"):
        out.append(VirtualPackage("__win", "0"))
    elif platform.startswith("macos"):
        out.append(VirtualPackage("__unix", "0"))
        if target.macos:
            out.append(VirtualPackage("__osx", target.macos))
    driver = target.driver or target.driver_floor
    if target.gpus and driver and not platform.startswith("macos"):
        cuda = driver_cuda(matrix, DriverVersion(driver), platform)
        if cuda is not None:
            out.append(VirtualPackage("__cuda", cuda))
    return tuple(sorted(out, key=lambda v: v.name))


def driver_cuda(matrix: Matrix, driver: Version, platform: str) -> str | None:
    """The CUDA version an NVIDIA driver supports (what ``nvidia-smi`` prints as "CUDA Version"
    and conda's ``__cuda`` reports: ``cuDriverGetVersion``), as ``major.minor``.

    From NVIDIA's "CUDA Toolkit and Corresponding Driver Versions" table in the matrix: the
    newest CUDA x.y whose first release's driver (x.y GA, the ``toolkit`` floor) is <= ``driver``
    (550.54.14 -> 12.4; 570.86.10 -> 12.8). Conservative where the table ends: a driver newer
    than its newest row supports at least that row's CUDA, and that is what is returned;
    unverified rows and platforms without a driver column (13.x on Windows) are not used.
    None when the driver predates every row.
    """
    best: Version | None = None
    minors = {Version(".".join(str(row["cuda"]).split(".")[:2])) for row in matrix.raw["cuda.json"]["toolkits"]}
    for minor in minors:
        floor = matrix.driver_floor(minor, platform, "toolkit")
        if floor is None or not floor.verified or floor.driver > driver:
            continue
        if best is None or minor > best:
            best = minor
    return str(best) if best is not None else None
