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

import dataclasses
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

from envspec.apply import (
    ApplyError,
    ApplyRequest,
    HostMismatch,
    Plan,
    PrefixError,
    VerifyError,
    apply,
    choose_target,
    host_reasons,
)
from envspec.apply._current import RecordedPlan
from envspec.apply._layout import MARKER, env_python, leftovers, lock_path, new_sibling
from envspec.apply._swap import prefix_lock, recover, retarget, swap_in
from envspec.cli import main
from envspec.host import Gpu, Host
from envspec.lockfile import read_lock
from envspec.matrix import Arch, get_matrix
from tests.conftest import lock_against
from tests.fakeenv import torch_wheel
from tests.localindex import IndexServer, build_wheel
from tests.realtorch import TARGET as PYPI_TORCH_TARGET
from tests.realtorch import write_pypi_torch_lock

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
#: The UV_CACHE_DIR this run was started with: the tests with genuine files from public indexes
#: use it (or uv's default), the others a fresh cache each.
RUN_UV_CACHE = os.environ.get("UV_CACHE_DIR")


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


@pytest.fixture(autouse=True)
def fresh_installer_caches(monkeypatch, tmp_path):
    """Each test starts with empty uv and pip caches: what a test serves is what gets installed
    (a cached copy of a genuine file would otherwise hide an injected fault)."""
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))
    monkeypatch.setenv("PIP_CACHE_DIR", str(tmp_path / "pip-cache"))


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
            assert b".aienv-stage" not in path.read_bytes(), path
    assert _siblings(prefix) == []
    activate = (prefix / "bin" / "activate").read_text()
    assert str(prefix) in activate


@pytest.mark.parametrize("installer", INSTALLERS)
def test_applies_the_gpu_target_on_a_matching_gpu_host_and_verifies_cuda(project, tmp_path, installer):
    prefix = tmp_path / "env"
    result = apply(_request(project, prefix, installer=installer), host=GPU_HOST)
    assert result.plan.choice.name == "gpu" and "fits this machine" in result.plan.choice.why
    torch = result.environment.torch
    assert torch.version == "2.8.0+cu128" and torch.cuda == "12.8" and torch.cuda_available is True
    assert [f.code for f in result.findings if f.severity == "error"] == []
    assert _installed(prefix)["triton"] == "3.4.0"


def test_reapply_is_a_no_op_that_says_so(project, server, tmp_path, capsys):
    prefix = tmp_path / "env"
    assert apply(_request(project, prefix), host=CPU_HOST).status == "applied"
    before = _tree(prefix)
    server.clear_log()
    code = main(["-C", str(project), "apply", "--prefix", str(prefix), "--installer", "pip"])
    out = capsys.readouterr().out
    assert code == 0 and out.startswith("nothing to do:") and "already matches the lock" in out
    assert _tree(prefix) == before and server.requests_for("/files/") == []


_NOT_IMPORTED = "import sys; from envspec.cli import main; code = main(sys.argv[1:]); " \
    "print(sorted(m for m in ('pydantic', 'envspec.lockfile', 'envspec.doctor', 'envspec.detect') if m in sys.modules), code)"


def test_a_reapply_is_decided_from_the_marker_without_reading_the_lock(project, tmp_path):
    """The no-op in a fresh process (envspec.apply._current): nothing to do, said without
    importing the lock's models, the doctor or the detection (a named CPU target reads only the
    platform and the C library), and with the plan that was applied."""
    prefix = tmp_path / "env"
    args = ["-C", str(project), "apply", "--prefix", str(prefix), "--target", "cpu"]
    assert main([*args, "-q"]) == 0
    marker = json.loads((prefix / MARKER).read_text())
    assert marker["no-op-key"]["scope"] == "machine" and marker["no-op-key"]["target"] == "cpu"
    before = _tree(prefix)
    done = subprocess.run([sys.executable, "-c", _NOT_IMPORTED, *args, "--json"], capture_output=True, text=True, check=True)
    *shown, imported = done.stdout.strip().splitlines()
    assert imported == "[] 0"
    data = json.loads("\n".join(shown))
    assert data["status"] == "current" and data["plan"]["state"] == "current" and data["plan"]["prefix"] == str(prefix)
    assert {p["name"] for p in data["plan"]["packages"]} == {"torch", "filelock", "demo-lib", "demo-big"}
    assert _tree(prefix) == before


def test_what_the_marker_did_not_record_takes_the_full_check(project, tmp_path):
    prefix = tmp_path / "env"
    assert apply(_request(project, prefix, target="gpu"), host=GPU_HOST).status == "applied"
    assert json.loads((prefix / MARKER).read_text())["no-op-key"]["scope"] == "host"  # a CUDA target: driver and GPUs
    again = apply(_request(project, prefix, target="gpu"), host=GPU_HOST)
    assert again.status == "current" and isinstance(again.plan, RecordedPlan)
    # Another driver: the full check, which finds the environment current all the same.
    newer = dataclasses.replace(GPU_HOST, driver=Version("570.86.10"))
    result = apply(_request(project, prefix, target="gpu"), host=newer)
    assert result.status == "current" and isinstance(result.plan, Plan)
    # A machine the target no longer fits is refused, not waved through by the marker.
    with pytest.raises(HostMismatch):
        apply(_request(project, prefix, target="gpu"), host=dataclasses.replace(GPU_HOST, driver=Version("470.82.01")))
    # No --target where the marker recorded one: the full check chooses (and finds it current).
    result = apply(_request(project, prefix), host=GPU_HOST)
    assert result.status == "current" and isinstance(result.plan, Plan) and result.plan.choice.name == "gpu"
    # The same pins in a lock whose bytes differ: the full check (the fingerprint is the same).
    other = tmp_path / "other.lock"
    other.write_text((project / "aienv.lock").read_text() + "# a comment\n")
    result = apply(ApplyRequest(lock_path=other, prefix=prefix, target="gpu"), host=GPU_HOST)
    assert result.status == "current" and isinstance(result.plan, Plan)


def test_a_changed_environment_or_another_target_is_rebuilt_and_swapped_in(project, tmp_path):
    prefix = tmp_path / "env"
    apply(_request(project, prefix), host=CPU_HOST)
    # Someone uninstalls a locked package: the re-apply notices and rebuilds.
    subprocess.run([sys.executable, "-m", "pip", "--python", str(env_python(prefix)), "uninstall", "-y", "-q", "demo-lib"],
                   check=True, capture_output=True)
    result = apply(_request(project, prefix), host=CPU_HOST)
    assert result.status == "applied" and result.plan.state == "update"
    assert "demo-lib 1.0 is not installed" in " ".join(result.plan.changes)
    assert _installed(prefix)["demo-lib"] == "1.0"
    # The GPU target into the same prefix replaces the CPU environment.
    result = apply(_request(project, prefix), host=GPU_HOST)
    assert result.plan.state == "update" and _installed(prefix)["torch"] == "2.8.0+cu128"
    assert _siblings(prefix) == []


def test_dry_run_prints_the_plan_and_changes_nothing(project, tmp_path, capsys):
    prefix = tmp_path / "env"
    code = main(["-C", str(project), "apply", "--prefix", str(prefix), "--dry-run", "--installer", "pip", "--target", "cpu"])
    out = capsys.readouterr().out
    assert code == 0 and not prefix.exists() and _siblings(prefix) == []
    assert "target: cpu" in out and f"prefix: {prefix}: create it" in out
    assert "demo-big 2.0" in out and "torch 2.8.0+cpu" in out and "packages: 4, 4.0 MB" in out
    code = main(["-C", str(project), "apply", "--prefix", str(prefix), "-n", "--json", "--installer", "pip", "--target", "cpu"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and data["status"] == "dry-run" and data["plan"]["state"] == "create"
    assert {p["name"] for p in data["plan"]["packages"]} == {"torch", "filelock", "demo-lib", "demo-big"}
    assert all(len(p["sha256"]) == 64 for p in data["plan"]["packages"])


# --- hashes, failures and interrupts: the previous environment survives -----------------------


@pytest.fixture
def applied(project, tmp_path, monkeypatch) -> Path:
    """A prefix holding the applied CPU target (made with uv when there is one: fast), with
    caches of its own: the test's installer caches stay empty."""
    prefix = tmp_path / "env"
    caches = {k: os.environ[k] for k in ("UV_CACHE_DIR", "PIP_CACHE_DIR")}
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache-applied"))
    monkeypatch.setenv("PIP_CACHE_DIR", str(tmp_path / "pip-cache-applied"))
    apply(_request(project, prefix, installer="uv" if UV else "pip"), host=CPU_HOST)
    for key, value in caches.items():
        monkeypatch.setenv(key, value)
    return prefix


def _file_url(project: Path, target: str, name: str) -> str:
    package = next(p for p in read_lock(project / "aienv.lock").targets[target].packages if p.name == name)
    return package.files[0].url


@pytest.mark.parametrize("installer", INSTALLERS)
def test_a_tampered_wheel_is_refused_and_the_previous_environment_is_untouched(project, server, applied, installer, capsys):
    before = _tree(applied)
    url = _file_url(project, "gpu", "demo-lib")
    server.clear_log()
    # Another wheel of the same name and version: valid, installable, other bytes.
    server.fault(url, body=build_wheel("demo-lib", "1.0", requires_dist=["filelock>=3"], summary="tampered")[1])
    try:
        code = main(["-C", str(project), "apply", "--prefix", str(applied), "--installer", installer, "--target", "gpu", "--force"])
    finally:
        server.clear_faults()
    err = capsys.readouterr().err
    assert server.requests_for("demo_lib-1.0")  # the tampered bytes were served
    assert code == 1
    assert "does not match the lock's sha256" in err and "nothing was changed" in err
    assert _tree(applied) == before and _siblings(applied) == []


@pytest.mark.parametrize("installer", INSTALLERS)
def test_a_download_failing_mid_install_leaves_the_previous_environment(project, server, applied, installer):
    before = _tree(applied)
    # The file is gone (404: installers retry 5xx answers for seconds, which proves nothing more).
    server.fault(_file_url(project, "gpu", "demo-big"), status=404)
    try:
        with pytest.raises(ApplyError) as caught:
            apply(_request(project, applied, installer=installer), host=GPU_HOST)
    finally:
        server.clear_faults()
    assert caught.value.code == "install-failed" and caught.value.exit_code == 1 and caught.value.output
    assert _tree(applied) == before and _siblings(applied) == []


def test_a_failed_verification_is_not_swapped_in(project, applied, monkeypatch):
    before = _tree(applied)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # the fake torch then sees no GPU, as the real one does
    with pytest.raises(VerifyError) as caught:
        apply(_request(project, applied), host=GPU_HOST)
    assert "cuda-not-available" in {f.code for f in caught.value.findings}
    assert "[cuda-not-available]" in caught.value.report and "unset CUDA_VISIBLE_DEVICES" in caught.value.report
    assert _tree(applied) == before and _siblings(applied) == []


def _cli(project: Path, prefix: Path, *args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("AIENV_")}
    return subprocess.Popen(
        [sys.executable, "-m", "envspec", "-C", str(project), "apply", "--prefix", str(prefix), *args],
        env={**base, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _wait_for_request(server, url: str, process: subprocess.Popen[str], timeout: float = 60.0) -> None:
    """Wait until the installer asked for `url` (its fault, times=1, is taken), whose answer is delayed."""
    deadline = time.monotonic() + timeout
    while server.fault_pending(url):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the installer never asked for the file"
        time.sleep(0.05)
    time.sleep(0.3)  # the installer is now waiting on the stalled download


def _installer_processes(stage_part: str) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if stage_part in cmdline:
                found.append(cmdline)
    return found


@pytest.mark.parametrize("installer", INSTALLERS)
def test_sigkill_mid_install_leaves_the_previous_environment_and_the_next_apply_cleans_up(project, server, applied, installer):
    before = _tree(applied)
    url = _file_url(project, "gpu", "demo-big")
    server.clear_log()
    server.fault(url, delay=8.0, times=1)
    process = _cli(project, applied, "--installer", installer, env=GPU_ENV)
    try:
        _wait_for_request(server, url, process)
        stages = leftovers(applied, "stage")
        assert len(stages) == 1  # the new environment being built, beside the prefix
        process.kill()
        process.communicate()
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
        server.clear_faults()
    assert _tree(applied) == before
    # The installer died with aienv (no process keeps writing into the staging directory).
    deadline = time.monotonic() + 10
    while _installer_processes(stages[0].name) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _installer_processes(stages[0].name) == []
    done = _cli(project, applied, "--installer", installer, env=GPU_ENV)
    _out, err = done.communicate(timeout=300)
    assert done.returncode == 0, err
    assert "a partial environment left by an apply that was killed" in err
    assert _siblings(applied) == [] and _installed(applied)["torch"] == "2.8.0+cu128"


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupt_mid_install_removes_the_new_environment(project, server, applied, signum):
    before = _tree(applied)
    url = _file_url(project, "gpu", "demo-big")
    server.clear_log()
    server.fault(url, delay=8.0, times=1)
    process = _cli(project, applied, "--installer", "uv" if UV else "pip", env=GPU_ENV)
    try:
        _wait_for_request(server, url, process)
        process.send_signal(signum)
        _out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
        server.clear_faults()
    assert process.returncode == 130 and "interrupted" in err
    assert _tree(applied) == before and _siblings(applied) == []


# --- refusals -----------------------------------------------------------------------------------


def test_a_host_that_cannot_run_the_named_target_is_refused_and_force_overrides(project, tmp_path, capsys):
    prefix = tmp_path / "env"
    old_driver = {"AIENV_DRIVER": "470.82.01", "AIENV_GPUS": "RTX 4090"}
    for key, value in old_driver.items():
        os.environ[key] = value
    try:
        code = main(["-C", str(project), "apply", "--prefix", str(prefix), "--target", "gpu", "--installer", "pip"])
        err = capsys.readouterr().err
        assert code == 1 and not prefix.exists() and _siblings(prefix) == []
        assert "cannot run target 'gpu'" in err and "the NVIDIA driver 470.82.01 is older than" in err
        assert "apply target cpu instead (aienv apply --target cpu)" in err and "--force" in err
        code = main(["-C", str(project), "apply", "--prefix", str(prefix), "--target", "gpu", "--force"])
        captured = capsys.readouterr()
        assert code == 0, captured.err
        assert "warning: --force" in captured.err and "driver-too-old" in captured.out
        assert _installed(prefix)["torch"] == "2.8.0+cu128"
    finally:
        for key in old_driver:
            os.environ.pop(key, None)


def test_host_reasons_name_each_fact(project):
    lock = read_lock(project / "aienv.lock")
    matrix = get_matrix()
    gpu = lock.targets["gpu"]
    assert host_reasons(gpu, GPU_HOST, matrix) == []
    mac = Host("m", "macos-arm64")
    assert host_reasons(gpu, mac, matrix) == ["the target is linux-x86_64; this machine is macos-arm64"]
    assert "no NVIDIA GPU was found" in host_reasons(gpu, CPU_HOST, matrix)[0]
    old_glibc = Host("h", "linux-x86_64", glibc="2.17", driver=GPU_HOST.driver, gpus=GPU_HOST.gpus)
    assert host_reasons(gpu, old_glibc, matrix) == [f"its wheels need glibc >= {gpu.glibc}; this machine has 2.17"]
    pascal = Host("h", "linux-x86_64", driver=GPU_HOST.driver, gpus=(RTX_4090, Gpu("Tesla P100", Arch(6, 0))))
    [reason] = host_reasons(gpu, pascal, matrix)
    assert reason.startswith("GPU Tesla P100 (sm_60): torch 2.8.0+cu128 has no kernels for it")
    ampere = Host("h", "linux-x86_64", driver=GPU_HOST.driver, gpus=(Gpu("RTX 3090", Arch(8, 6)),))
    [reason] = host_reasons(gpu, ampere, matrix)
    assert "is not among the compute capabilities the target was locked for (8.9)" in reason
    assert host_reasons(lock.targets["cpu"], GPU_HOST, matrix) == []


def test_target_choice_prefers_the_gpu_target_and_explains_a_machine_nothing_fits(project):
    lock = read_lock(project / "aienv.lock")
    matrix = get_matrix()
    assert choose_target(lock, GPU_HOST, matrix).name == "gpu"
    assert choose_target(lock, CPU_HOST, matrix).name == "cpu"
    with pytest.raises(HostMismatch) as caught:
        choose_target(lock, Host("w", "windows-x86_64"), matrix)
    assert caught.value.exit_code == 1
    assert "cpu: the target is linux-x86_64; this machine is windows-x86_64" in caught.value.message
    assert "gpu: the target is linux-x86_64" in caught.value.message
    with pytest.raises(HostMismatch):
        choose_target(lock, CPU_HOST, matrix, "gpu")
    forced = choose_target(lock, CPU_HOST, matrix, "gpu", force=True)
    assert forced.overridden and "forced" in forced.why


def test_a_path_that_is_not_an_environment_is_refused_and_kept(project, tmp_path):
    prefix = tmp_path / "data"
    prefix.mkdir()
    (prefix / "precious.txt").write_text("keep me")
    with pytest.raises(PrefixError) as caught:
        apply(_request(project, prefix), host=CPU_HOST)
    assert caught.value.exit_code == 2 and "is not a virtual environment" in caught.value.message
    assert (prefix / "precious.txt").read_text() == "keep me" and _siblings(prefix) == []


def test_a_venv_aienv_did_not_make_is_replaced_only_with_replace(project, tmp_path):
    prefix = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(prefix)], check=True)
    (prefix / "mine.txt").write_text("x")
    with pytest.raises(PrefixError) as caught:
        apply(_request(project, prefix), host=CPU_HOST)
    assert caught.value.code == "prefix-not-aienv" and "--replace" in (caught.value.hint or "")
    assert (prefix / "mine.txt").exists()
    assert apply(_request(project, prefix, replace=True), host=CPU_HOST).status == "applied"
    assert not (prefix / "mine.txt").exists() and (prefix / MARKER).exists() and _siblings(prefix) == []


def test_a_stack_only_lock_is_refused(project, tmp_path):
    work = tmp_path / "p"
    work.mkdir()
    shutil.copy(project / "aienv.toml", work / "aienv.toml")
    assert main(["-C", str(work), "lock", "--no-index"]) == 0
    assert main(["-C", str(work), "apply", "--prefix", str(work / "env")]) == 1
    assert not (work / "env").exists()


def test_a_second_apply_on_the_same_prefix_is_refused_while_one_runs(project, tmp_path):
    prefix = tmp_path / "env"
    with prefix_lock(prefix), pytest.raises(ApplyError) as caught:
        apply(_request(project, prefix), host=CPU_HOST)
    assert caught.value.code == "prefix-busy" and not prefix.exists()
    assert lock_path(prefix).exists()


# --- the swap, piece by piece -------------------------------------------------------------------


def test_recover_restores_an_environment_a_crash_left_between_the_two_renames(tmp_path):
    prefix = tmp_path / "env"
    old = new_sibling(prefix, "old")
    old.mkdir()
    (old / "pyvenv.cfg").write_text("home = x\n")
    stage = new_sibling(prefix, "stage")
    stage.mkdir()
    notes = recover(prefix)
    assert (prefix / "pyvenv.cfg").exists() and not old.exists() and not stage.exists()
    assert any("restored the previous environment" in n for n in notes)
    assert any("partial environment" in n for n in notes)


def test_swap_in_exchanges_or_renames_and_returns_the_old_environment(tmp_path):
    prefix = tmp_path / "env"
    first = new_sibling(prefix, "stage")
    first.mkdir()
    (first / "which").write_text("first")
    assert swap_in(first, prefix) is None and (prefix / "which").read_text() == "first"
    second = new_sibling(prefix, "stage")
    second.mkdir()
    (second / "which").write_text("second")
    old = swap_in(second, prefix)
    assert (prefix / "which").read_text() == "second" and old is not None and (old / "which").read_text() == "first"


def test_retarget_rewrites_the_staging_path_in_scripts_and_keeps_modes(tmp_path):
    stage, prefix = tmp_path / ".env.aienv-stage", tmp_path / "env"
    (stage / "bin").mkdir(parents=True)
    script = stage / "bin" / "tool"
    script.write_text(f"#!{stage}/bin/python\nimport tool\n")
    script.chmod(0o755)
    (stage / "bin" / "python").symlink_to(sys.executable)
    (stage / "pyvenv.cfg").write_text(f"home = /usr/bin\ncommand = python -m venv {stage}\n")
    assert retarget(stage, prefix) == 2
    assert script.read_text().startswith(f"#!{prefix}/bin/python\n") and script.stat().st_mode & 0o777 == 0o755
    assert f"venv {prefix}\n" in (stage / "pyvenv.cfg").read_text()
    assert os.readlink(stage / "bin" / "python") == sys.executable


def test_quiet_shows_the_installer_lines_only_when_it_failed(project, server, tmp_path, capsys):
    prefix = tmp_path / "env"
    server.fault(_file_url(project, "cpu", "demo-big"), status=404)
    try:
        code = main(["-C", str(project), "apply", "--prefix", str(prefix), "--target", "cpu", "-q"])
    finally:
        server.clear_faults()
    err = capsys.readouterr().err
    assert code == 1 and "404" in err and "error: installing 4 packages" in err
    assert main(["-C", str(project), "apply", "--prefix", str(prefix), "--target", "cpu", "-q"]) == 0
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out.startswith(f"applied {prefix} (target cpu of aienv.lock): 4 packages")


# --- the real thing -----------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.network
def test_the_comfyui_example_cpu_target_applies_with_the_real_cpu_torch(tmp_path, monkeypatch):
    """examples/comfyui locked for this Python against PyPI and download.pytorch.org (or the
    mirrors in AIENV_INDEX_URL / AIENV_PYTORCH_INDEX_URL), its CPU target applied with the real
    CPU torch wheel, and verified: torch imports, is the locked +cpu build, has no CUDA."""
    from tests.conftest import EXAMPLES

    _run_uv_cache(monkeypatch)
    work = tmp_path / "comfyui"
    shutil.copytree(EXAMPLES / "comfyui", work)
    (work / "aienv.lock").unlink()
    spec = (work / "aienv.toml").read_text(encoding="utf-8")
    (work / "aienv.toml").write_text(spec.replace("[targets.cpu]", f'[targets.cpu]\npython = "{HERE_PYTHON}"'), encoding="utf-8")
    assert main(["-C", str(work), "lock"]) == 0
    result = apply(ApplyRequest(lock_path=work / "aienv.lock", prefix=work / ".venv", target="cpu", timeout=600), host=CPU_HOST)
    torch = result.environment.torch
    assert result.status == "applied" and torch.imported and torch.version.endswith("+cpu") and torch.cuda is None
    assert torch.version == next(p.version for p in result.plan.target.packages if p.name == "torch")
    assert {"torchvision", "torchaudio"} <= {n for n, r in result.environment.imports.items() if r.ok}


def _run_uv_cache(monkeypatch) -> None:
    """Genuine files from public indexes: uv's cache of the run, not a fresh one (a cached copy
    is not an injected fault here, and the files are gigabytes)."""
    if RUN_UV_CACHE is None:
        monkeypatch.delenv("UV_CACHE_DIR")
    else:
        monkeypatch.setenv("UV_CACHE_DIR", RUN_UV_CACHE)


@pytest.mark.slow
@pytest.mark.network
@pytest.mark.skipif(UV is None or platform.machine() != "x86_64" or not sys.platform.startswith("linux"), reason="uv, linux-x86_64")
def test_a_lock_of_pypi_torch_applies_the_real_wheels_and_verifies_the_real_torch(tmp_path, monkeypatch):
    """The real thing with the wheels PyPI serves: torch 2.9.1 and its nvidia-* wheels (about
    3.5 GB the first time; uv's own cache keeps them) installed by apply with hashes required,
    verified by importing the real torch in the new environment, swapped in. On a machine without
    an NVIDIA GPU the CUDA target is applied with --force: torch's CUDA build runs on the CPU, and
    what does not fit the machine is a warning."""
    from envspec.apply._verify import HOST_FIT_CODES
    from envspec.host import probe_host

    _run_uv_cache(monkeypatch)
    assert UV is not None
    lock = tmp_path / "aienv.lock"
    write_pypi_torch_lock(lock, UV)
    gpus = probe_host().gpus
    result = apply(ApplyRequest(lock_path=lock, prefix=tmp_path / ".venv", target=PYPI_TORCH_TARGET, force=not gpus, timeout=600))
    env, torch = result.environment, result.environment.torch
    assert result.status == "applied" and env.incomplete is None and torch.imported
    assert (env.version_of("torch"), torch.version, torch.cuda, torch.cuda_available) == ("2.9.1", "2.9.1+cu128", "12.8", bool(gpus))
    assert [f.code for f in result.findings if f.severity == "error"] == []
    if not gpus:
        assert all("expected: --force" in f.message for f in result.findings if f.code in HOST_FIT_CODES)
    assert subprocess.run([str(env_python(tmp_path / ".venv")), "-c", "import torch; print(torch.ones(2).sum().item())"],
                          capture_output=True, text=True, check=True).stdout.strip() == "2.0"
