"""The CUDA libraries of the machine itself, outside any Python environment: the ones a framework
build that does not bring its own loads (PaddlePaddle 2.x, TensorFlow before 2.14; the lock
records them per package as ``system = ["CUDA 12.0", "cuDNN 8.9", "NCCL >=2.7"]``).

Where :func:`find_system_libraries` looks, in the order the dynamic loader does (ld.so(8)):

1. the directories of ``LD_LIBRARY_PATH``;
2. the loader's cache, as ``ldconfig -p`` prints it (captured sample under
   ``tests/data/detect/ldconfig/``): one line per library, ``\\tlibcudnn.so.8 (libc6,x86-64) =>
   /usr/lib/x86_64-linux-gnu/libcudnn.so.8``; NVIDIA's deb and rpm packages register their
   directories there;
3. places the loader does not search but where NVIDIA's installers put the toolkit:
   ``$CUDA_HOME/lib64`` (or ``$CUDA_PATH``), ``/usr/local/cuda/lib64`` and
   ``/usr/local/cuda-X.Y/lib64``. A library found only there is reported as not loadable:
   NVIDIA's installation guide has the user add that directory to ``LD_LIBRARY_PATH``.
   (PaddlePaddle also tries ``/usr/local/cuda/lib64`` itself for cuDNN:
   ``paddle/phi/backends/dynload/dynamic_loader.cc``, ``GetCUDNNDsoHandle``.)

A file's version comes from its name (``libcudnn.so.8.9.1``), else from the name of the file a
symlink resolves to (``libcudart.so.12`` -> ``libcudart.so.12.0.146``). Parsing is pure
(:func:`parse_library_file`, :func:`parse_ldconfig`) and so is the comparison with a lock's
``system`` list (:func:`unmet_system`): the probing is in :func:`find_system_libraries` only.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from ._tools import ToolTimeout, find_tool, run_tool

__all__ = [
    "SystemLibrary",
    "UnmetSystem",
    "find_system_libraries",
    "parse_ldconfig",
    "parse_library_file",
    "parse_system_requirement",
    "unmet_system",
]

#: The libraries looked for, ``lib<kind>.so[.version]``.
_FILE = re.compile(r"^lib(cudart|cublas|cudnn|nccl)\.so(?:\.(\d+(?:\.\d+)*))?$")
#: ``\tlibcudnn.so.8 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libcudnn.so.8``
_LDCONFIG = re.compile(r"^\s+(\S+)\s+\(([^)]*)\)\s+=>\s+(\S.*)$")
#: The names the lock writes in ``system`` and the library that stands for each.
_REQUIREMENT = re.compile(r"^(CUDA|cuDNN|NCCL)\s+(\S.*)$")
_STANDS_FOR = {"CUDA": ("cudart", "cublas"), "cuDNN": ("cudnn",), "NCCL": ("nccl",)}
_LABEL = {"cudart": "CUDA runtime", "cublas": "cuBLAS", "cudnn": "cuDNN", "nccl": "NCCL"}
_DEFAULT_CUDA = Path("/usr/local")


@dataclass(frozen=True)
class SystemLibrary:
    """One library file of the machine.

    ``name`` is the file name looked for (``libcudnn.so``, ``libcudnn.so.8``); ``version`` is
    the most specific one its name or its symlink's target gives; ``loadable`` says whether the
    dynamic loader finds it by that name (``LD_LIBRARY_PATH``, the cache) or only aienv does
    (a toolkit directory nobody added to the loader's path).
    """

    kind: str  # cudart | cublas | cudnn | nccl
    name: str
    path: str
    version: Version | None
    loadable: bool
    where: str  # LD_LIBRARY_PATH | ldconfig | CUDA_HOME | CUDA_PATH | /usr/local/cuda...

    @property
    def unversioned(self) -> bool:
        """``libcudnn.so``: the development name, which only the -dev/-devel packages install."""
        return self.name.endswith(".so")

    def describe(self) -> str:
        return f"{self.path} ({_LABEL[self.kind]} {self.version or 'version unknown'})"


def parse_library_file(name: str) -> tuple[str, Version | None] | None:
    """The kind and version of a library file name: ``libcudnn.so.8.9.1`` -> (cudnn, 8.9.1),
    ``libnccl.so.2`` -> (nccl, 2), ``libcublas.so`` -> (cublas, None); None for other files."""
    m = _FILE.match(name)
    if not m:
        return None
    try:
        return m.group(1), Version(m.group(2)) if m.group(2) else None
    except InvalidVersion:
        return m.group(1), None


def parse_ldconfig(text: str, machine: str = "x86-64") -> list[tuple[str, str]]:
    """``(file name, path)`` of each library in ``ldconfig -p`` output built for ``machine``
    (the ``x86-64`` in ``(libc6,x86-64)``; 32-bit entries say ``(libc6)`` and are skipped)."""
    out = []
    for line in text.splitlines():
        m = _LDCONFIG.match(line)
        if not m:
            continue
        flags = m.group(2).split(",")
        if machine and machine not in flags:
            continue
        out.append((m.group(1), m.group(3).strip()))
    return out


def _version(path: str, name_version: Version | None) -> Version | None:
    """The most specific version of the file at ``path``: its symlink target's name says more
    (``libcudnn.so.8`` -> ``libcudnn.so.8.9.1``)."""
    try:
        real = os.path.basename(os.path.realpath(path))
    except OSError:
        return name_version
    parsed = parse_library_file(real)
    if parsed is not None and parsed[1] is not None and (name_version is None or len(parsed[1].release) > len(name_version.release)):
        return parsed[1]
    return name_version


def _library(name: str, path: str, loadable: bool, where: str) -> SystemLibrary | None:
    """The library the file ``name`` at ``path`` is, or None (another file, or a dangling
    symlink, which the loader cannot open either)."""
    parsed = parse_library_file(name)
    if parsed is None or not os.path.exists(path):
        return None
    return SystemLibrary(parsed[0], name, path, _version(path, parsed[1]), loadable, where)


def _scan_dir(directory: str, where: str, loadable: bool) -> list[SystemLibrary]:
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return []
    found = (_library(name, os.path.join(directory, name), loadable, where) for name in names)
    return [lib for lib in found if lib is not None]


def _toolkit_dirs(env: Mapping[str, str], root: Path) -> list[tuple[str, str]]:
    out = [(os.path.join(env[var], sub), var) for var in ("CUDA_HOME", "CUDA_PATH") if env.get(var) for sub in ("lib64", "lib")]
    try:
        versions = sorted((p for p in root.iterdir() if p.name.startswith("cuda")), key=lambda p: p.name)
    except OSError:
        versions = []
    out.extend((str(p / "lib64"), str(p)) for p in versions)
    return out


def find_system_libraries(
    env: Mapping[str, str] | None = None, *, ldconfig: bool = True, cuda_root: Path = _DEFAULT_CUDA, timeout: float = 5.0,
) -> tuple[SystemLibrary, ...]:
    """Every CUDA runtime, cuBLAS, cuDNN and NCCL file the machine has (see the module
    docstring for where and in which order). ``env`` stands for ``os.environ``; ``cuda_root``
    is where ``cuda*`` toolkit directories are looked for. A missing or failing ``ldconfig``
    is skipped. Each path is reported once, under the first place it was found."""
    env = os.environ if env is None else env
    found: list[SystemLibrary] = []
    for directory in env.get("LD_LIBRARY_PATH", "").split(os.pathsep):
        if directory:
            found.extend(_scan_dir(directory, "LD_LIBRARY_PATH", True))
    if ldconfig:
        found.extend(_from_ldconfig(env, timeout))
    for directory, where in _toolkit_dirs(env, cuda_root):
        found.extend(_scan_dir(directory, where, False))
    seen: set[str] = set()
    unique = []
    for lib in found:
        if lib.path not in seen:
            seen.add(lib.path)
            unique.append(lib)
    return tuple(unique)


def _from_ldconfig(env: Mapping[str, str], timeout: float) -> list[SystemLibrary]:
    tool = find_tool("ldconfig", env, Path("/sbin/ldconfig"), Path("/usr/sbin/ldconfig"))
    if tool is None:
        return []
    try:
        run = run_tool([tool, "-p"], timeout=timeout, env=env)
    except (ToolTimeout, OSError):
        return []
    if run.returncode != 0:
        return []
    machine = {"x86_64": "x86-64", "aarch64": "AArch64"}.get(os.uname().machine if hasattr(os, "uname") else "", "")
    found = (_library(name, path, True, "ldconfig") for name, path in parse_ldconfig(run.stdout, machine))
    return [lib for lib in found if lib is not None]


@functools.cache
def machine_system_libraries() -> tuple[SystemLibrary, ...]:
    """:func:`find_system_libraries` of this process's environment, once per process."""
    return find_system_libraries()


# --- the lock's ``system`` list against what was found ----------------------------------------


@dataclass(frozen=True)
class UnmetSystem:
    """One entry of a package's ``system`` list the machine does not meet.

    ``severity`` is ``error`` when the library is not there to load (missing, another major, too
    old, or only in a directory the loader does not search) and ``warning`` when only the
    unversioned development name that PaddlePaddle 2.x opens is missing. ``fix`` says what to do.
    """

    package: str
    requirement: str
    severity: str
    message: str
    fix: str
    found: tuple[str, ...] = ()


def parse_system_requirement(text: str) -> tuple[str, SpecifierSet] | None:
    """``"CUDA 12.0"`` -> ("CUDA", ``>=12.0,==12.*``); ``"NCCL >=2.7"`` -> ("NCCL", ``>=2.7``).

    A bare version means that release or a newer one of the same major: the CUDA runtime and
    cuDNN keep their sonames (``libcudart.so.12``, ``libcudnn.so.8``) and their ABI within a
    major (NVIDIA's CUDA compatibility guide, "minor version compatibility"; cuDNN's API
    compatibility notes)."""
    m = _REQUIREMENT.match(text.strip())
    if not m:
        return None
    what, rest = m.group(1), m.group(2).strip()
    try:
        if rest[0].isdigit():
            v = Version(rest)
            return what, SpecifierSet(f">={v},=={v.major}.*")
        return what, SpecifierSet(rest)
    except (InvalidSpecifier, InvalidVersion, IndexError):
        return None


def unmet_system(
    package: str, version: str, requirements: Sequence[str], libraries: Iterable[SystemLibrary],
) -> list[UnmetSystem]:
    """What of ``requirements`` (a locked package's ``system`` list) ``libraries`` do not meet.

    ``package`` ``version`` name the locked package in messages. For a PaddlePaddle package the
    unversioned names are checked too: its 2.x builds open ``libcudnn.so`` and ``libcublas.so``
    by those names (``paddle/phi/backends/dynload/dynamic_loader.cc``, the branch without
    ``WITH_PIP_CUDA_LIBRARIES``), which only the development packages install.
    """
    libraries = list(libraries)
    who = f"{package} {version}"
    out: list[UnmetSystem] = []
    for text in requirements:
        parsed = parse_system_requirement(text)
        if parsed is None:
            continue
        what, spec = parsed
        for kind in _STANDS_FOR[what]:
            problem = _unmet_kind(who, text, kind, spec, libraries, dev_names=package.startswith("paddlepaddle"))
            if problem is not None:
                out.append(problem)
                break  # one finding per requirement: cuBLAS is missing whenever the runtime is
    return out


def _wanted(text: str, label: str) -> str:
    """``CUDA 12.0`` -> ``CUDA runtime 12.0 (or a newer 12.x)``; ``NCCL >=2.7`` as written."""
    version = text.split(None, 1)[1]
    if version[:1].isdigit():
        return f"{label} {version} (or a newer {version.split('.')[0]}.x)"
    return f"{label} {version}"


def _unmet_kind(
    who: str, text: str, kind: str, spec: SpecifierSet, libraries: list[SystemLibrary], *, dev_names: bool,
) -> UnmetSystem | None:
    label = _LABEL[kind]
    wanted = _wanted(text, label)
    mine = [lib for lib in libraries if lib.kind == kind]
    fitting = [lib for lib in mine if lib.version is not None and spec.contains(lib.version, prereleases=True)]
    loadable = [lib for lib in fitting if lib.loadable]
    found = tuple(lib.describe() + ("" if lib.loadable else ", not on the loader's path") for lib in mine)
    if not loadable:
        if fitting:
            directory = os.path.dirname(fitting[0].path)
            return UnmetSystem(
                who, text, "error",
                f"{who} loads {wanted} from the machine; {fitting[0].describe()} fits but is not on the loader's path",
                f"export LD_LIBRARY_PATH={directory}:$LD_LIBRARY_PATH (or add {directory} to /etc/ld.so.conf.d/ and run ldconfig)",
                found,
            )
        versions = sorted({lib.version for lib in mine if lib.version is not None})
        have = ", ".join(f"{label} {v} ({', '.join(sorted({lib.name for lib in mine if lib.version == v}))})" for v in versions)
        return UnmetSystem(
            who, text, "error",
            f"{who} loads {wanted} from the machine; " + (f"only {have} found" if have else f"no {label} library was found"),
            _install_hint(text.split()[0], text.split(None, 1)[1]), found,
        )
    if dev_names and kind in ("cudnn", "cublas") and not any(lib.unversioned for lib in loadable):
        soname = loadable[0].name
        return UnmetSystem(
            who, text, "warning",
            f"{who} opens lib{kind}.so by its development name; only {soname} ({label} {loadable[0].version}) is on the "
            f"loader's path, so Paddle stops with 'The third-party dynamic library (lib{kind}.so) ... is not configured correctly'",
            f"install the development package of {label} (it adds lib{kind}.so), or "
            f"ln -s {loadable[0].path} {os.path.join(os.path.dirname(loadable[0].path), f'lib{kind}.so')}",
            found,
        )
    return None


def _install_hint(what: str, version: str) -> str:
    if what == "CUDA":
        return (f"install the CUDA {version} toolkit (NVIDIA's installer, or its cuda-toolkit-{version.replace('.', '-')} package) "
                "and add its lib64 to LD_LIBRARY_PATH; or re-lock for a build that brings its own CUDA libraries")
    if what == "cuDNN":
        return f"install cuDNN {version} for this CUDA (NVIDIA's libcudnn{version.split('.')[0]} and -dev packages) where the loader finds it"
    return f"install NCCL {version} (NVIDIA's libnccl2 and libnccl-dev packages); it is needed for more than one GPU"
