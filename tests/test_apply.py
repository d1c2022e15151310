"""``aienv apply``: real virtual environments from locks against a local index.

The index (on 127.0.0.1) serves fake-but-real torch builds (``tests.fakeenv``: a CPU build in
``whl/cpu``, a CUDA 12.8 build for an RTX 4090 in ``whl/cu128``) and two plain packages on the
default index, one of them padded to 4 MB so that a download can be caught in the middle. A
project locks torch and ``demo-lib`` for a GPU target and a CPU target with this interpreter's
Python; every test applies that lock with uv or pip into a temporary prefix and checks the
result from outside: the files, the installed versions, the scripts' paths, what the server
was asked, and what is left beside the prefix.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from envspec.apply import ApplyError, ApplyRequest, HostMismatch, PrefixError, VerifyError, apply, choose_target, host_reasons
from envspec.apply._layout import MARKER, env_python, leftovers, lock_path, new_sibling
from envspec.apply._swap import prefix_lock, recover, retarget, swap_in
from envspec.cli import main
from envspec.host import Gpu, Host
from envspec.lockfile import read_lock
from envspec.matrix import Arch, get_matrix
from tests.conftest import lock_against
from tests.fakeenv import torch_wheel
from tests.localindex import IndexServer, build_wheel

HERE_PYTHON = f"{sys.version_info[0]}.{sys.version_info[1]}"
pytestmark = pytest.mark.skipif(
    not (platform.system() == "Linux" and platform.machine() == "x86_64"), reason="the lock's targets are linux-x86_64"
)
UV = shutil.which("uv")
INSTALLERS = [pytest.param("uv", marks=pytest.mark.skipif(UV is None, reason="uv is not on PATH")), "pip"]

SPEC = f"""
[project]
name = "apply-demo"
python = "=={HERE_PYTHON}.*"

[stack]
torch = "==2.8.0"

[dependencies]
packages = ["demo-lib", "demo-big"]

[targets.gpu]
platform = "linux-x86_64"
gpus = ["RTX 4090"]
driver = "550.54.14"

[targets.cpu]
platform = "linux-x86_64"
gpus = []
"""

RTX_4090 = Gpu("NVIDIA GeForce RTX 4090", Arch(8, 9))
CPU_HOST = Host("here", "linux-x86_64", SpecifierSet(f"=={HERE_PYTHON}.*"), glibc="2.35", origin="probed")
GPU_HOST = Host("here", "linux-x86_64", SpecifierSet(f"=={HERE_PYTHON}.*"), Version("550.54.14"), (RTX_4090,), "probed", "2.35")
GPU_ENV = {"AIENV_DRIVER": "550.54.14", "AIENV_GPUS": "RTX 4090"}
NO_GPU_ENV = {"AIENV_GPUS": "none"}


@pytest.fixture(scope="module")
def server():
    with IndexServer() as s:
        s.add_index("whl/cpu", html_only=True)
        s.add_index("whl/cu128", html_only=True)
        s.add_file("whl/cpu", *torch_wheel("2.8.0+cpu", cuda=None, requires=("filelock",)))
        s.add_file("whl/cu128", *torch_wheel("2.8.0+cu128", cuda="12.8", requires=("filelock",)))
        s.add_file("simple", *build_wheel("filelock", "3.16.1"))
        s.add_file("simple", *build_wheel("triton", "3.4.0"))  # torch 2.8.0 pins it on Linux (aienv's data)
        s.add_file("simple", *build_wheel("demo-lib", "1.0", requires_dist=["filelock>=3"]))
        s.add_file("simple", *build_wheel("demo-big", "2.0", pad=4_000_000))
        yield s


@pytest.fixture(scope="module")
def project(server, tmp_path_factory) -> Path:
    """The project with its lock (read-only: copy it to change it)."""
    work = tmp_path_factory.mktemp("apply-project")
    (work / "aienv.toml").write_text(SPEC, encoding="utf-8")
    assert lock_against(work, server, work / ".cache") == 0
    return work


def _request(project: Path, prefix: Path, **kw) -> ApplyRequest:
    return ApplyRequest(lock_path=project / "aienv.lock", prefix=prefix, **kw)


def _tree(prefix: Path) -> dict[str, str]:
    """Every path under prefix with its content hash (links: their target), to compare states."""
    out = {}
    for path in sorted(prefix.rglob("*")):
        rel = str(path.relative_to(prefix))
        if path.is_symlink():
            out[rel] = "-> " + os.readlink(path)
        elif path.is_file():
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest() + f" {oct(path.stat().st_mode)}"
        else:
            out[rel] = "dir"
    return out


def _installed(prefix: Path) -> dict[str, str]:
    code = "import importlib.metadata as m, json; print(json.dumps({d.metadata['Name'].lower(): d.version for d in m.distributions()}))"
    out = subprocess.run([str(env_python(prefix)), "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def _siblings(prefix: Path) -> list[str]:
    return sorted(p.name for p in prefix.parent.iterdir() if ".aienv-" in p.name and not p.name.endswith("-lock"))


# --- applying ---------------------------------------------------------------------------------


@pytest.mark.parametrize("installer", INSTALLERS)
def test_applies_the_cpu_target_into_a_new_verified_venv(project, tmp_path, installer):
    prefix = tmp_path / "env"
    result = apply(_request(project, prefix, installer=installer), host=CPU_HOST)
    assert result.status == "applied" and result.plan.choice.name == "cpu" and result.plan.installer == installer
    installed = _installed(prefix)
    lock = read_lock(project / "aienv.lock")
    for package in lock.targets["cpu"].packages:
        assert Version(installed[package.name]) == Version(package.version), package.name
    assert installed["torch"] == "2.8.0+cpu"
    assert result.environment is not None and result.environment.torch is not None
    assert result.environment.torch.version == "2.8.0+cpu" and result.environment.torch.cuda is None
    marker = json.loads((prefix / MARKER).read_text())
    assert marker["target"] == "cpu" and marker["fingerprint"] == result.plan.fingerprint and marker["installer"] == installer
    # Built at a staging path, then moved: nothing may still name the staging path.
    for path in (prefix / "bin").iterdir():
        if path.is_file() and not path.is_symlink():
            assert b".aienv-stage-" not in path.read_bytes(), path
    assert _siblings(prefix) == []
    activate = (prefix / "bin" / "activate").read_text()
    assert str(prefix) in activate
