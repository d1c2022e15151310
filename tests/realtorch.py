"""A lock of the real torch from PyPI, for the tests and the benchmark that use genuine wheels
(network: PyPI; about 3.5 GB the first time, kept in uv's cache).

aienv's own lock of a CUDA target takes torch from download.pytorch.org/whl/cu128, which not every
machine that runs tests can reach (this project's CI cannot); PyPI's torch 2.9.1 for Linux
x86_64 is the same CUDA 12.8 build under a plain version, with its CUDA libraries as nvidia-*
wheels. ``aienv apply`` takes a lock from anywhere, so this one is written from uv's PEP 751
``pylock.toml`` for ``torch==2.9.1``.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import tomllib
from packaging.tags import sys_tags
from packaging.utils import parse_wheel_filename

from envspec.backends._common import filename_of
from envspec.lockfile import Lock, LockedFile, LockedPackage, LockedTarget, write_lock
from envspec.matrix import get_matrix

__all__ = ["TARGET", "TORCH", "write_pypi_torch_lock"]

#: The pinned release, and the lock's target name.
TORCH = "2.9.1"
TARGET = "cu128"
HERE_PYTHON = f"{sys.version_info[0]}.{sys.version_info[1]}"


def write_pypi_torch_lock(path: Path, uv: str) -> None:
    """Write to ``path`` a lock whose one target, :data:`TARGET`, is PyPI's torch :data:`TORCH`
    and its closure for this interpreter, from ``uv pip compile --format pylock.toml``: for each
    package the wheels that fit this interpreter, with their URLs and sha256 on PyPI; the CUDA
    12.8 driver floor from the matrix."""
    result = subprocess.run([uv, "pip", "compile", "-", "--quiet", "--python", sys.executable, "--format", "pylock.toml",
                             "--index-url", "https://pypi.org/simple"], input=f"torch=={TORCH}\n", capture_output=True, text=True,
                            check=True, timeout=600)
    here = set(sys_tags())
    packages = []
    for row in tomllib.loads(result.stdout)["packages"]:
        wheels = [LockedFile(url=w["url"], sha256=w["hashes"]["sha256"]) for w in row.get("wheels", ())]
        fitting = tuple(f for f in wheels if parse_wheel_filename(filename_of(f))[3] & here)
        assert fitting, f"no wheel of {row['name']} {row['version']} fits this interpreter"
        packages.append(LockedPackage(name=row["name"], version=row["version"], index="https://pypi.org/simple", files=fitting))
    matrix = get_matrix()
    cuda = matrix.variants[TARGET].cuda
    floor = matrix.driver_floor(cuda, "linux", "minor-version")
    target = LockedTarget(
        platform="linux-x86_64", python=HERE_PYTHON, glibc="2.28", accelerator="cuda", variant=TARGET, cuda=str(cuda),
        driver_floor=str(floor.driver), driver_policy="minor-version", closure="full", hashes=True,
        reason=f"PyPI's torch {TORCH}, the CUDA {cuda} build", requirements=(f"torch=={TORCH}",), packages=tuple(packages),
    )
    digest = "sha256:" + hashlib.sha256(result.stdout.encode()).hexdigest()
    write_lock(Lock(matrix_version=matrix.version, spec_digest=digest, project="pypi-torch", targets={TARGET: target}), path)
