"""The shell backend: rendered bash scripts, checked by shellcheck and executed with bash.

The scripts run for real: against the local index of ComfyUI's closure (tests/conftest.py),
with this interpreter as the target's Python, a PATH holding only the tools the script needs,
proxies that make any request beyond 127.0.0.1 fail, and a fake ``nvidia-smi`` printing what
the real one prints (``--query-gpu=driver_version,compute_cap,name --format=csv,noheader``).
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from envspec.backends import RenderError, get_backend, pip, shell
from envspec.errors import LockfileError
from envspec.lockfile import (
    BuildRecipe,
    Lock,
    LockedFile,
    LockedGpu,
    LockedPackage,
    LockedTarget,
    lock_from_dict,
    read_lock,
)
from tests.conftest import EXAMPLES, lock_against

HERE_PYTHON = f"{sys.version_info[0]}.{sys.version_info[1]}"
# The locked targets are linux-x86_64; the scripts refuse any other machine before doing anything.
ON_TARGET = platform.system() == "Linux" and platform.machine() == "x86_64"
runs_here = pytest.mark.skipif(not ON_TARGET, reason="the scripts' targets are linux-x86_64")

RTX_4090 = "550.54.14, 8.9, NVIDIA GeForce RTX 4090"  # as nvidia-smi prints it


def _shellcheck(path: Path) -> None:
    if shutil.which("shellcheck") is None:
        if os.environ.get("AIENV_REQUIRE_TOOLS") == "1":
            pytest.fail("shellcheck is not on PATH (AIENV_REQUIRE_TOOLS=1)")
        pytest.skip("shellcheck is not on PATH")
    result = subprocess.run(["shellcheck", str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout


def _bash() -> str:
    bash = shutil.which("bash")
    assert bash is not None
    return bash


def _run(script: str, cwd: Path, *args: str, smi: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `script` with bash in `cwd`: PATH holds uname, ls, rm and mktemp (and `nvidia-smi`
    printing `smi`, when given), the Python is this one, pip sees no configuration, TMPDIR is
    cwd/tmp, and only 127.0.0.1 is reachable."""
    tools = cwd / "bin"
    tools.mkdir(parents=True, exist_ok=True)
    for tool in ("uname", "ls", "rm", "mktemp"):
        found = shutil.which(tool)
        assert found is not None
        if not (tools / tool).exists():
            (tools / tool).symlink_to(found)
    if smi is not None:
        lines = " ".join(shlex.quote(line) for line in smi.split("\n"))
        (tools / "nvidia-smi").write_text(f"#!/bin/sh\nprintf '%s\\n' {lines}\n", encoding="utf-8")
        (tools / "nvidia-smi").chmod(0o755)
    (cwd / "tmp").mkdir(exist_ok=True)
    path = cwd / "install.sh"
    path.write_text(script, encoding="utf-8")
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "AIENV_")) and "proxy" not in k.lower()}
    base.update(
        PATH=str(tools), TMPDIR=str(cwd / "tmp"), AIENV_PYTHON=sys.executable, PIP_CONFIG_FILE=os.devnull,
        http_proxy="http://127.0.0.1:9", https_proxy="http://127.0.0.1:9", no_proxy="127.0.0.1,localhost",
    )
    base.update(env)
    return subprocess.run([_bash(), str(path), *args], cwd=cwd, env=base, capture_output=True, text=True, check=False)


def _with_target(lock: Lock, name: str, **changes: object) -> Lock:
    target = lock.targets[name].model_copy(update=changes)
    return lock.model_copy(update={"targets": {**lock.targets, name: target}})


@pytest.fixture(scope="module")
def lock_here(comfy_server, tmp_path_factory) -> Lock:
    """examples/comfyui locked against the local index with this interpreter's Python for the
    rtx4090 and cpu targets, so that the scripts can create and fill a real venv here."""
    if HERE_PYTHON not in ("3.10", "3.11", "3.12", "3.13"):
        pytest.skip(f"the index snapshot has wheels for CPython 3.10-3.13, not {HERE_PYTHON}")
    work = tmp_path_factory.mktemp("comfyui-here")
    shutil.copytree(EXAMPLES / "comfyui", work, dirs_exist_ok=True)
    (work / "aienv.lock").unlink()
    spec = (work / "aienv.toml").read_text(encoding="utf-8")
    for target in ("[targets.rtx4090]", "[targets.cpu]"):
        spec = spec.replace(target, f'{target}\npython = "{HERE_PYTHON}"')
    (work / "aienv.toml").write_text(spec, encoding="utf-8")
    assert lock_against(work, comfy_server, work / ".cache") == 0
    return read_lock(work / "aienv.lock")


# --- rendering -------------------------------------------------------------------------------


def test_registered_and_every_linux_target_passes_bash_n_and_shellcheck(comfy_lock, tmp_path):
    backend = get_backend("shell")
    assert backend.executable and backend.filename_for("cpu") == "install-cpu.sh"
    lock = read_lock(comfy_lock / "aienv.lock")
    for name in ("rtx4090", "cpu"):
        text = backend.render(lock, name)
        assert text.startswith("#!/usr/bin/env bash\n") and "set -euo pipefail\n" in text
        assert f"bash install-{name}.sh [VENV_DIR]" in text and lock.spec_digest in text
        path = tmp_path / f"install-{name}.sh"
        path.write_text(text, encoding="utf-8")
        assert subprocess.run([_bash(), "-n", str(path)], check=False).returncode == 0
        _shellcheck(path)


def test_a_windows_target_is_refused_naming_the_pip_format(comfy_lock):
    lock = read_lock(comfy_lock / "aienv.lock")
    with pytest.raises(RenderError, match="windows-x86_64") as e:
        shell.render(lock, "rtx5090-windows")
    assert e.value.hint and "--format pip --target rtx5090-windows" in e.value.hint


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        # values the script compares as numbers must be numbers: never text that bash evaluates
        ({"python": "3.12$(touch PWNED)"}, "python"),
        ({"python": "3"}, "python"),
        ({"driver_floor": "525.60.13 "}, "driver-floor"),
        ({"glibc": "2.28;id"}, "glibc"),
        ({"gpus": (LockedGpu.model_construct(name="x", compute_capability="8.9`id`"),)}, "compute-capability"),
    ],
)
def test_a_number_that_is_not_a_number_is_a_render_error(comfy_lock, changes, key):
    lock = _with_target(read_lock(comfy_lock / "aienv.lock"), "rtx4090", **changes)
    with pytest.raises(RenderError, match=key):
        shell.render(lock, "rtx4090")


# --- the host checks: refused before anything is created -------------------------------------------


@runs_here
@pytest.mark.parametrize(
    ("smi", "env", "expected"),
    [
        # the driver below the variant's floor (cu128: 525.60.13) names both
        ("515.65.01, 8.9, NVIDIA GeForce RTX 4090", {}, ["NVIDIA driver 515.65.01", "older than 525.60.13", "cu128"]),
        # a GPU older than every locked one: it may have no kernels in the build
        ("550.54.14, 7.5, Tesla T4", {}, ["GPU Tesla T4 has compute capability 7.5", "older than every GPU", "no kernel image"]),
        # every GPU counts: the second one of a node is refused too
        (f"{RTX_4090}\n550.54.14, 6.1, NVIDIA GeForce GTX 1080", {}, ["GTX 1080 has compute capability 6.1"]),
        # a newer GPU the lock never checked
        ("570.86.10, 12.0, NVIDIA GeForce RTX 5090", {}, ["RTX 5090 (compute capability 12.0) is not one target rtx4090 was locked for"]),
        # what nvidia-smi prints when it cannot tell
        ("[N/A], [N/A], NVIDIA GeForce RTX 4090", {}, ["cannot read nvidia-smi's line"]),
        ("", {}, ["nvidia-smi lists no GPU"]),
        # no nvidia-smi at all
        (None, {}, ["nvidia-smi is not on PATH", "AIENV_SKIP_HOST_CHECK=1"]),
        # the GPU checks pass (or are skipped, with a warning): then the Python is checked, by running it
        (RTX_4090, {}, [f"is Python {HERE_PYTHON}; target rtx4090 needs Python 3.9"]),
        (None, {"AIENV_SKIP_HOST_CHECK": "1"}, ["warning: AIENV_SKIP_HOST_CHECK=1", f"is Python {HERE_PYTHON}; target rtx4090 needs Python 3.9"]),
        (RTX_4090, {"AIENV_PYTHON": "python3.9-absent"}, ["cannot run python3.9-absent", "set AIENV_PYTHON"]),
    ],
)
def test_a_cuda_target_refuses_a_machine_it_was_not_locked_for(comfy_lock, tmp_path, smi, env, expected):
    lock = _with_target(read_lock(comfy_lock / "aienv.lock"), "rtx4090", python="3.9")
    result = _run(shell.render(lock, "rtx4090"), tmp_path, smi=smi, **env)
    assert result.returncode == 1, result.stderr
    for text in expected:
        assert text in result.stderr
    assert result.stderr.count("error:") == 1
    assert not (tmp_path / ".venv").exists() and not any((tmp_path / "tmp").iterdir())


@runs_here
def test_another_platform_is_refused(comfy_lock, tmp_path):
    lock = _with_target(read_lock(comfy_lock / "aienv.lock"), "cpu", platform="macos-arm64", glibc=None)
    result = _run(shell.render(lock, "cpu"), tmp_path)
    assert result.returncode == 1
    assert "target cpu is macos-arm64 (Darwin arm64), this machine is Linux x86_64" in result.stderr


@runs_here
def test_a_path_that_is_not_a_venv_is_refused_and_left_alone(lock_here, tmp_path):
    script = shell.render(lock_here, "cpu")
    (tmp_path / "notes.txt").write_text("mine", encoding="utf-8")
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "main.py").write_text("print()", encoding="utf-8")
    for args, env in [(("notes.txt",), {}), ((), {"AIENV_VENV": "project"})]:
        result = _run(script, tmp_path, *args, **env)
        assert result.returncode == 1
        assert "exists and is not a virtual environment" in result.stderr
    assert (tmp_path / "notes.txt").read_text(encoding="utf-8") == "mine"
    assert [p.name for p in (tmp_path / "project").iterdir()] == ["main.py"]
    assert not (tmp_path / ".venv").exists()


# --- real installs ----------------------------------------------------------------------------------


def _installed(venv: Path) -> dict[str, str]:
    code = "import importlib.metadata as m, json; print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))"
    # run in the venv's directory: `python -c` puts the working directory on sys.path
    out = subprocess.run([str(venv / "bin" / "python"), "-c", code], cwd=venv, capture_output=True, text=True, check=True).stdout
    return {canonicalize_name(k): v for k, v in json.loads(out).items() if canonicalize_name(k) not in ("pip", "setuptools")}


@runs_here
def test_the_cpu_script_installs_exactly_the_lock_and_verifies_it(lock_here, comfy_server, tmp_path):
    first = len(comfy_server.log)
    result = _run(shell.render(lock_here, "cpu"), tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"verified: import torch, torchaudio, torchvision; torch {lock_here.targets['cpu'].package('torch').version} (cpu)" in result.stderr
    assert _installed(tmp_path / ".venv") == {p.name: p.version for p in lock_here.targets["cpu"].packages}
    # the files came from the local indexes; the requirements file is gone
    fetched = [r.path for r in comfy_server.log[first:]]
    assert any(p.startswith("/files/whl/cpu/torch-") for p in fetched) and any(p.startswith("/files/simple/") for p in fetched)
    assert not any((tmp_path / "tmp").iterdir())


@runs_here
def test_a_cuda_script_installs_and_its_verification_refuses_a_torch_without_cuda(lock_here, tmp_path):
    # The index's torch wheels are tiny fakes without CUDA: the verification must say so.
    result = _run(shell.render(lock_here, "rtx4090"), tmp_path, "env", smi=RTX_4090)
    assert result.returncode == 1
    torch = lock_here.targets["rtx4090"].package("torch").version
    assert f"torch {torch} is built for CUDA None, the lock has CUDA 12.8" in result.stderr
    assert _installed(tmp_path / "env")["torch"] == torch


# --- a hostile lock: every value stays data -------------------------------------------------------

EVIL = "x' \"y\" $(touch PWNED) `touch PWNED` ; touch PWNED\ntouch PWNED $HOME ${IFS} \\ *"


def _hostile_lock(python: str) -> Lock:
    def package(stem: str, **kw: object) -> LockedPackage:
        evil = EVIL.replace("x", stem)
        files = kw.pop("files", (LockedFile.model_construct(url=f"http://127.0.0.1:9/f/{evil}.whl", sha256="0" * 64),))
        index = kw.pop("index", f"http://127.0.0.1:9/simple/{evil}")
        return LockedPackage.model_construct(name=kw.pop("name", evil), version=f"1.0{evil}", index=index, files=files, **kw)

    target = LockedTarget.model_construct(
        platform="linux-x86_64", python=python, glibc="2.17", driver="550.54.14",
        gpus=(LockedGpu.model_construct(name=f"gpu {EVIL}", compute_capability="8.9"),),
        accelerator="cuda", variant=f"cu128{EVIL}", cuda=f"12.8{EVIL}", driver_floor="525.60.13",
        driver_policy="minor-version", closure="full", hashes=True, reason=EVIL,
        packages=(
            package("torch", name="torch"),
            package("a"),
            package("sdist", files=(LockedFile.model_construct(url=f"http://127.0.0.1:9/{EVIL}.tar.gz", sha256="1" * 64),)),
            package("direct", index=None),
            package("built", files=(), build=BuildRecipe.model_construct(command=f"pip install {EVIL}", env={}, nvcc_major=None, note=None)),
        ),
    )
    return Lock.model_construct(
        lock_version=1, generated_by=f"aienv {EVIL}", matrix_version=EVIL, spec_digest=f"sha256:{EVIL}",
        project=EVIL, targets={f"t {EVIL}": target},
    )


@runs_here
def test_a_hostile_lock_is_refused_on_read_and_renders_inert(tmp_path):
    lock = _hostile_lock(HERE_PYTHON)
    name = f"t {EVIL}"
    with pytest.raises(LockfileError):
        lock_from_dict(lock.to_dict())
    script = shell.render(lock, name)
    (tmp_path / "check").mkdir()
    (tmp_path / "check" / "s.sh").write_text(script, encoding="utf-8")
    assert subprocess.run([_bash(), "-n", str(tmp_path / "check" / "s.sh")], check=False).returncode == 0
    _shellcheck(tmp_path / "check" / "s.sh")

    # The block of values reads back, in bash, as exactly the lock's values.
    start, end = script.index("# --- lock values"), script.index("# --- end of lock values")
    names = ["TARGET", "VARIANT", "CUDA", "GPUS", "TORCH_VERSION", "NO_BINARY", "NOT_INSTALLED", "REQUIREMENTS"]
    probe = script[start:end] + "".join(f'printf "%s\\0" "${n}"\n' for n in names)
    out = subprocess.run([_bash(), "-euc", probe], cwd=tmp_path / "check", capture_output=True, text=True, check=True).stdout
    seen = dict(zip(names, out.split("\0")))
    assert seen["TARGET"] == name and seen["TORCH_VERSION"] == f"1.0{EVIL.replace('x', 'torch')}"
    assert seen["VARIANT"] == f"cu128{EVIL}" and seen["CUDA"] == f"12.8{EVIL}" and seen["GPUS"] == f"gpu {EVIL} (8.9)"
    assert seen["NO_BINARY"] == EVIL.replace("x", "sdist") and seen["NOT_INSTALLED"].endswith(f"pip install {EVIL}")
    assert seen["REQUIREMENTS"] == pip.render(lock, name)

    # Refused on the GPU check: the message carries the values literally.
    refused = _run(script, tmp_path / "refused", smi="550.54.14, 7.5, Tesla T4")
    assert refused.returncode == 1 and f"target {name} was locked for (gpu {EVIL} (8.9))" in refused.stderr
    # Past every check: the venv is made, the requirements reach pip as text, pip refuses them.
    ran = _run(script, tmp_path / "ran", smi=RTX_4090, PIP_RETRIES="0", PIP_TIMEOUT="1")
    assert ran.returncode != 0 and (tmp_path / "ran" / ".venv" / "pyvenv.cfg").exists()
    assert f"installing 4 locked packages (target {name}, cu128{EVIL})" in ran.stderr
    assert not any((tmp_path / "ran" / "tmp").iterdir())  # the trap removed the requirements file
    assert not [p for p in tmp_path.rglob("*") if "PWNED" in p.name]
