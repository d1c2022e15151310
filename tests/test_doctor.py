"""aienv doctor: the probe run in real venvs holding fake-but-real packages, each finding
triggered by such an environment and a declared Host, the pure parsers, target selection, the
CLI. Venvs are shared per module (each costs about a second); wheels are built once."""

from __future__ import annotations

import json
import os
import shlex
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from envspec.cli import main
from envspec.doctor import (
    Environment,
    ProbeError,
    diagnose,
    find_python,
    probe_environment,
    select_target,
    start_probe,
    summary,
)
from envspec.doctor.environment import (
    Distribution,
    ImportResult,
    TorchInfo,
    parse_library,
    parse_nvcc_release,
)
from envspec.errors import LockfileError
from envspec.host import Host, resolve_gpu
from envspec.lockfile import (
    BuildRecipe,
    Lock,
    LockedFile,
    LockedGpu,
    LockedPackage,
    LockedTarget,
    write_lock,
)
from envspec.matrix import DriverVersion, get_matrix
from tests.fakeenv import (
    NVCC_OUTPUT,
    UNDEFINED_SYMBOL,
    companion_wheel,
    fake_library,
    fake_nvcc,
    flash_attn_wheel,
    make_venv,
    nvidia_wheel,
    torch_wheel,
)

PY = f"{sys.version_info.major}.{sys.version_info.minor}"
CU128 = "https://download.pytorch.org/whl/cu128"
posix_only = pytest.mark.skipif(os.name != "posix", reason="fake nvcc is a shell script")


def host(*gpus: str, driver: str | None = "550.54.14", platform: str = "linux-x86_64") -> Host:
    matrix = get_matrix()
    return Host(
        "this-machine", platform, SpecifierSet(), DriverVersion(driver) if driver else None,
        tuple(resolve_gpu(g, matrix) for g in gpus), "probed",
    )


RTX4090 = host("RTX 4090")
NO_GPU = host(driver=None)


def codes(findings) -> list[str]:
    return [f.code for f in findings]


def only(findings, code):
    found = [f for f in findings if f.code == code]
    assert len(found) == 1, codes(findings)
    return found[0]


# --- the environments -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def clean_path(tmp_path_factory) -> str:
    """A PATH with no nvcc on it (this machine may have one)."""
    return str(tmp_path_factory.mktemp("empty-bin"))


@pytest.fixture(scope="module")
def probe(clean_path):
    """probe(python, **env): the probe run with only these variables (PATH without nvcc unless
    given), so nothing of this machine's environment leaks into a test."""

    def run(python: Path, timeout: float = 30, **env: str) -> Environment:
        return probe_environment(python, timeout=timeout, env={"PATH": clean_path, **env})

    return run


@pytest.fixture(scope="module")
def cpu_env(tmp_path_factory) -> Path:
    """PyPI-style mistake: torch and torchvision from the CPU index."""
    return make_venv(tmp_path_factory.mktemp("envs") / "cpu", [
        torch_wheel("2.7.1+cpu", cuda=None),
        companion_wheel("torchvision", "0.22.1+cpu", "torch==2.7.1"),
    ])


@pytest.fixture(scope="module")
def healthy_env(tmp_path_factory) -> Path:
    """torch 2.7.1+cu128 with its own torchvision/torchaudio, cuDNN wheel, a working flash-attn."""
    return make_venv(tmp_path_factory.mktemp("envs") / "healthy", [
        torch_wheel("2.7.1+cu128", cuda="12.8"),
        companion_wheel("torchvision", "0.22.1+cu128", "torch==2.7.1"),
        companion_wheel("torchaudio", "2.7.1+cu128", "torch==2.7.1"),
        flash_attn_wheel("2.8.3"),
        nvidia_wheel("nvidia-cudnn-cu12", "9.1.0.70", ("libcudnn.so.9",)),
    ])


@pytest.fixture(scope="module")
def broken_env(tmp_path_factory) -> Path:
    """torch 2.6.0+cu124 (sm_50..sm_90, no PTX) with companions of other torches and variants
    and a flash-attn built for another torch."""
    return make_venv(tmp_path_factory.mktemp("envs") / "broken", [
        torch_wheel(
            "2.6.0+cu124", cuda="12.4", cxx11_abi=False,
            arch_list=("sm_50", "sm_60", "sm_70", "sm_75", "sm_80", "sm_86", "sm_90"),
        ),
        companion_wheel("torchvision", "0.22.1+cu128", "torch==2.7.1"),
        companion_wheel("torchaudio", "2.6.0+cu118", "torch==2.6.0"),
        companion_wheel("xformers", "0.0.28.post3", "torch==2.5.1"),
        flash_attn_wheel("2.7.4.post1", error=UNDEFINED_SYMBOL),
        nvidia_wheel("nvidia-cudnn-cu12", "9.1.0.70", ("libcudnn.so.9",)),
    ])


@pytest.fixture(scope="module")
def healthy(healthy_env, probe) -> Environment:
    return probe(healthy_env)


@pytest.fixture(scope="module")
def broken(broken_env, probe) -> Environment:
    return probe(broken_env)


# --- the probe --------------------------------------------------------------------------------


def test_probe_reads_torch_and_the_environment(healthy, healthy_env):
    assert healthy.python == str(healthy_env)
    assert healthy.python_version == ".".join(map(str, sys.version_info[:3]))
    assert healthy.incomplete is None
    t = healthy.torch
    assert t is not None and t.imported
    assert (t.version, t.cuda, t.cuda_available, t.cxx11_abi) == ("2.7.1+cu128", "12.8", True, True)
    assert "sm_120" in t.arch_list and t.cudnn_version == Version("9.1.0")
    assert [(d.name, d.capability) for d in t.devices] == [("NVIDIA GeForce RTX 4090", "8.9")]
    assert healthy.distributions["torchvision"].requires == ("torch==2.7.1",)
    assert healthy.imports["flash_attn"].ok and healthy.imports["torchvision"].version == "0.22.1+cu128"
    assert healthy.nvcc == () and healthy.libraries == ()


def test_probe_of_this_environment_without_torch():
    env = probe_environment()
    assert env.python == sys.executable and env.python_version == ".".join(map(str, sys.version_info[:3]))
    assert "envspec" in env.distributions and "pytest" in env.distributions
    if "torch" not in env.distributions:
        assert env.torch is None
        assert codes(diagnose(env, NO_GPU)) == ["torch-not-installed"]


def test_a_failing_import_is_data(broken):
    result = broken.imports["flash_attn"]
    assert not result.ok and result.module == "flash_attn.flash_attn_interface"
    assert result.error.startswith("ImportError: ") and "undefined symbol: _ZN3c10" in result.error


def test_a_hanging_cuda_init_times_out_with_what_was_read(healthy_env, probe):
    env = probe(healthy_env, timeout=2, FAKE_TORCH_CUDA_INIT="hang")
    assert env.incomplete == "the probe timed out after 2 s during step 'torch'"
    assert "torch" in env.distributions and env.torch is None
    finding = only(diagnose(env, RTX4090), "probe-incomplete")
    assert finding.severity == "error" and finding.evidence["reason"] == env.incomplete
    assert "torch.cuda.is_available()" in finding.fix and "faulthandler" in finding.fix


def test_a_started_probe_runs_while_the_caller_works(healthy_env, clean_path):
    """start_probe returns at once (apply does its own work meanwhile); result() is what
    probe_environment gives."""
    probe = start_probe(healthy_env, env={"PATH": clean_path})
    assert isinstance(probe.pid, int)
    env = probe.result()
    assert env == probe_environment(healthy_env, env={"PATH": clean_path})
    assert env.torch is not None and env.torch.version == "2.7.1+cu128"
    probe.kill()  # after result(): nothing to do


@pytest.mark.skipif(os.name != "posix", reason="process groups")
def test_a_started_probe_given_up_on_is_killed_with_what_it_started(healthy_env, clean_path):
    probe = start_probe(healthy_env, timeout=60, env={"PATH": clean_path, "FAKE_TORCH_CUDA_INIT": "hang"})
    probe.kill()  # as apply does when its own work raised: at once, not after the timeout
    with pytest.raises(ProcessLookupError):
        os.killpg(probe.pid, 0)  # no process is left in the probe's group


@pytest.mark.skipif(os.name != "posix", reason="signals")
def test_a_crash_while_importing_is_reported(healthy_env, probe):
    env = probe(healthy_env, FAKE_TORCH_CUDA_INIT="crash")
    assert env.incomplete == "the probe exited with signal SIGSEGV during step 'torch'"
    assert codes(diagnose(env, RTX4090)) == ["probe-incomplete"]


def test_probe_output_that_stops_mid_step_is_incomplete():
    lines = """{"aienv-probe": 1}
{"begin": "python"}
{"section": "python", "data": {"version": "3.12.4", "prefix": "/env"}}
not json
{"begin": "torch"}
"""
    env = Environment.from_probe("/env/bin/python", lines)
    assert env.python_minor == "3.12" and env.incomplete == "the probe stopped during step 'torch'"


def test_find_python(healthy_env, tmp_path):
    prefix = healthy_env.parent.parent
    assert find_python(prefix) == prefix / "bin" / "python"
    with pytest.raises(ProbeError, match="no Python in it") as e:
        find_python(tmp_path)
    assert e.value.exit_code == 2
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "python").symlink_to(tmp_path / "gone" / "python3.9")
    with pytest.raises(ProbeError, match="broken link"):
        find_python(tmp_path)


# --- pure parsing -----------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "release"), [
    (NVCC_OUTPUT["11.8"], "11.8"),
    (NVCC_OUTPUT["12.8"], "12.8"),
    ("Cuda compilation tools, release 13.0, V13.0.88\n", "13.0"),
    ("bash: nvcc: command not found", None),
])
def test_parse_nvcc_release(text, release):
    assert parse_nvcc_release(text) == (Version(release) if release else None)


@pytest.mark.parametrize(("file", "parsed"), [
    ("libcudnn.so.8.9.2", ("cudnn", "8.9.2")),
    ("libcudnn.so.9", ("cudnn", "9")),
    ("libcudnn_ops.so.9.1.0", ("cudnn", "9.1.0")),
    ("libcudart.so.12.2.140", ("cudart", "12.2.140")),
    ("libcublasLt.so.12", ("cublas", "12")),
    ("libcudart.so", ("cudart", None)),
    ("libcudart_static.a", None),
    ("libnccl.so.2", None),
])
def test_parse_library(file, parsed):
    result = parse_library(file)
    assert (result[0], str(result[1]) if result[1] else None) == parsed if parsed else result is None


@pytest.mark.parametrize(("raw", "version"), [(90100, "9.1.0"), (8902, "8.9.2"), (90300, "9.3.0"), (None, None)])
def test_cudnn_version_decoding(raw, version):
    assert TorchInfo(cudnn=raw).cudnn_version == (Version(version) if version else None)


# --- torch against the machine ----------------------------------------------------------------


def test_healthy_environment_has_no_findings(healthy):
    assert diagnose(healthy, RTX4090) == []
    assert summary([]) == "no problems found"


def test_cpu_build_on_a_gpu_machine(cpu_env, probe):
    env = probe(cpu_env)
    findings = diagnose(env, RTX4090)
    f = only(findings, "torch-cpu-build")
    assert f.severity == "error" and "Torch not compiled with CUDA enabled" in f.message
    assert f.evidence["torch"] == "2.7.1+cpu" and f.evidence["torch.version.cuda"] is None
    assert f.evidence["gpus"] == ["NVIDIA GeForce RTX 4090 (sm_89)"] and f.evidence["driver"] == "550.54.14"
    # A CUDA build of the same release that driver 550 runs, with the torchvision that pairs with it.
    assert f.fix.startswith(f"{shlex.quote(str(cpu_env))} -m pip install --force-reinstall torch==2.7.1+cu12")
    assert "torchvision==0.22.1+cu12" in f.fix and "--index-url https://download.pytorch.org/whl/cu12" in f.fix
    assert codes(findings) == ["torch-cpu-build"]
    assert diagnose(env, NO_GPU) == []  # on a machine without a GPU it is the right build


def test_driver_too_old_for_the_builds_cuda(healthy):
    findings = diagnose(healthy, host("RTX 4090", driver="470.82.01"))
    f = only(findings, "driver-too-old")
    assert f.evidence["driver"] == "470.82.01" and f.evidence["torch.version.cuda"] == "12.8"
    assert (f.evidence["driver-floor"], f.evidence["policy"]) == ("525.60.13", "minor-version")
    assert f.fix.startswith("upgrade the NVIDIA driver to >= 525.60.13; or install a build this driver runs: ")
    assert "torch==2.7.1+cu118" in f.fix and "--index-url https://download.pytorch.org/whl/cu118" in f.fix
    assert codes(findings) == ["driver-too-old"]


def test_driver_floor_follows_the_locks_policy(healthy):
    # 560.35.03 meets CUDA 12.x's minor-version floor but not CUDA 12.8's toolkit driver (570.26).
    h = host("RTX 4090", driver="560.35.03")
    assert "driver-too-old" not in codes(diagnose(healthy, h))
    lock_target = target([], policy="toolkit")
    f = only(diagnose(healthy, h, lock_target, target_name="rtx4090"), "driver-too-old")
    assert (f.evidence["driver-floor"], f.evidence["policy"]) == ("570.26", "toolkit")


def test_gpu_not_in_the_builds_arch_list(broken):
    findings = diagnose(broken, host("RTX 5090", driver="570.124.06"))
    f = only(findings, "gpu-arch-not-in-build")
    assert f.severity == "error" and "no kernel image is available" in f.message
    assert f.evidence["gpu"] == "NVIDIA GeForce RTX 5090 (sm_120)" and f.evidence["arch-list"][-1] == "sm_90"
    assert f.evidence["arch-list-source"] == "torch.cuda.get_arch_list()"
    assert "+cu128" in f.fix and "torch==2.7" in f.fix  # the nearest release with sm_120 kernels


def test_arch_list_from_the_matrix_when_torch_cannot_report_it(healthy_env, probe):
    # CUDA_VISIBLE_DEVICES="" hides every GPU: torch reports no arch list, aienv's data stands in.
    env = probe(healthy_env, CUDA_VISIBLE_DEVICES="")
    assert env.torch.cuda_available is False and env.torch.arch_list == ()
    f = only(diagnose(env, RTX4090), "cuda-not-available")
    assert f.fix.startswith("unset CUDA_VISIBLE_DEVICES") and f.evidence["CUDA_VISIBLE_DEVICES"] == ""
    assert codes(diagnose(env, RTX4090)) == ["cuda-not-available"]
    f = only(diagnose(env, host("3.7")), "gpu-arch-not-in-build")  # a Kepler GPU
    assert f.evidence["arch-list-source"].startswith("aienv's data for torch 2.7.1+cu128")
    # Detection applies CUDA_VISIBLE_DEVICES as well, and then reports no GPU: still say why.
    hidden = diagnose(env, NO_GPU)
    assert codes(hidden) == ["cuda-visible-devices-hides-gpus"] and hidden[0].severity == "warning"
    assert hidden[0].fix.startswith("unset CUDA_VISIBLE_DEVICES")


def test_ptx_only_kernels_need_the_toolkits_driver():
    env = Environment(
        "/env/bin/python", "3.12.4",
        distributions={"torch": Distribution("torch", "2.7.1+cu128")},
        torch=TorchInfo(version="2.7.1+cu128", cuda="12.8", cuda_available=True, arch_list=("sm_80", "sm_90", "compute_90")),
    )
    b200 = host("10.0", driver="560.35.03")  # >= 525.60.13 (12.x minor-version), < 570.26 (12.8 toolkit)
    f = only(diagnose(env, b200), "ptx-jit-needs-newer-driver")
    assert f.evidence["toolkit-driver"] == "570.26" and f.fix.startswith("upgrade the NVIDIA driver to >= 570.26")
    assert diagnose(env, host("10.0", driver="575.51.03")) == []


def test_torch_that_does_not_import():
    env = Environment(
        "/env/bin/python", "3.12.4", distributions={"torch": Distribution("torch", "2.8.0+cu128")},
        torch=TorchInfo(import_error="OSError: libcudnn.so.9: cannot open shared object file: No such file or directory"),
    )
    f = only(diagnose(env, RTX4090), "torch-import-error")
    assert f.message == "import torch fails: libcudnn.so.9: cannot open shared object file"
    assert f.fix == f"/env/bin/python -m pip install --force-reinstall torch==2.8.0+cu128 --index-url {CU128}"
    assert codes(diagnose(env, RTX4090)) == ["torch-import-error"]


def test_cuda_unavailable_for_another_reason():
    warning = "CUDA initialization: CUDA unknown error - this may be due to an incorrectly set up environment"
    env = Environment(
        "/env/bin/python", "3.12.4", distributions={"torch": Distribution("torch", "2.7.1+cu128")},
        torch=TorchInfo(version="2.7.1+cu128", cuda="12.8", cuda_available=False, warnings=(warning,)),
        step_errors={"libraries": "PermissionError: [Errno 13] Permission denied: '/opt/cuda/lib64'"},
    )
    findings = diagnose(env, RTX4090)
    f = only(findings, "cuda-not-available")
    assert f.evidence["torch-warnings"] == [warning] and f.fix.startswith("run `nvidia-smi` as this user")
    assert only(findings, "probe-step-failed").severity == "warning"
    # An old driver explains it: that finding alone.
    assert codes(diagnose(env, host("RTX 4090", driver="470.82.01"))) == ["driver-too-old", "probe-step-failed"]


def test_every_code_a_check_emits_is_in_the_table():
    import re

    import envspec.doctor
    from envspec.doctor.findings import CODES, SEVERITIES

    root = Path(envspec.doctor.__file__).parent
    source = "".join((root / name).read_text() for name in ("checks.py", "_lock.py", "_frameworks.py"))
    emitted = set()
    for m in re.finditer(r'Finding\(\s*"([a-z0-9-]+)"(?: if [^"]+ else "([a-z0-9-]+)")?', source):
        emitted |= {c for c in m.groups() if c}
    assert emitted == set(CODES)
    assert all(set(severity.split("/")) <= set(SEVERITIES) for severity, _ in CODES.values())


def test_other_import_failures():
    env = Environment(
        "/env/bin/python", "3.12.4",
        distributions={"torch": Distribution("torch", "2.7.1+cu128"), "torchvision": Distribution("torchvision", "0.22.1+cu128", ("torch==2.7.1",)),
                       "flash-attn": Distribution("flash-attn", "2.8.3")},
        torch=TorchInfo(version="2.7.1+cu128", cuda="12.8", cuda_available=True, arch_list=("sm_80", "sm_90")),
        imports={
            "torchvision": ImportResult(False, module="torchvision", error="RuntimeError: operator torchvision::nms does not exist"),
            "flash_attn": ImportResult(False, module="flash_attn", error="ModuleNotFoundError: No module named 'einops'"),
        },
    )
    findings = diagnose(env, host("A100"))
    assert only(findings, "companion-import-error").message == "import torchvision fails: RuntimeError: operator torchvision::nms does not exist"
    assert only(findings, "flash-attn-import-error").message == "import flash_attn fails: ModuleNotFoundError: No module named 'einops'"


# --- companions and extensions ----------------------------------------------------------------


def test_companions_paired_with_another_torch_or_variant(broken):
    findings = diagnose(broken, RTX4090)
    vision = [f for f in findings if f.code == "companion-torch-mismatch" and "torchvision" in f.evidence]
    assert len(vision) == 1
    f = vision[0]
    assert f.message == "torchvision 0.22.1+cu128 requires torch==2.7.1 but torch 2.6.0+cu124 is installed"
    assert f.evidence["requires-source"] == "its metadata (Requires-Dist)"
    assert f.fix.endswith("install --force-reinstall --no-deps torchvision==0.21.0+cu124 --index-url https://download.pytorch.org/whl/cu124")
    xformers = [f for f in findings if f.code == "companion-torch-mismatch" and "xformers" in f.evidence]
    assert xformers[0].evidence["requires"] == "torch==2.5.1" and "xformers==0.0.29" in xformers[0].fix
    audio = only(findings, "companion-variant-mismatch")
    assert audio.severity == "error" and "+cu118 vs +cu124" in audio.message
    assert audio.fix.endswith("torchaudio==2.6.0+cu124 --index-url https://download.pytorch.org/whl/cu124")


def test_flash_attn_built_for_another_torch(broken):
    f = only(diagnose(broken, RTX4090), "flash-attn-build-mismatch")
    assert "undefined symbol" in f.message and "undefined symbol: _ZN3c10" in f.evidence["error"]
    assert (f.evidence["torch"], f.evidence["torch._C._GLIBCXX_USE_CXX11_ABI"]) == ("2.6.0+cu124", False)
    # The release's prebuilt wheel for torch 2.6, CUDA 12, the old C++ ABI and this Python.
    assert f.fix.endswith(f"flash_attn-2.7.4.post1+cu12torch2.6cxx11abiFALSE-cp{PY.replace('.', '')}-cp{PY.replace('.', '')}-linux_x86_64.whl")
    assert "--force-reinstall --no-deps https://github.com/Dao-AILab/flash-attention/releases/download/v2.7.4.post1/" in f.fix


def test_flash_attn_on_a_pre_ampere_gpu(healthy):
    findings = diagnose(healthy, host("Tesla T4"))
    f = only(findings, "flash-attn-gpu-unsupported")
    assert f.evidence == {"flash-attn": "2.8.3", "gpus": ["NVIDIA T4 (sm_75)"], "min-compute-capability": "8.0"}
    assert "-m pip uninstall -y flash-attn" in f.fix
    assert codes(findings) == ["flash-attn-gpu-unsupported"]


# --- LD_LIBRARY_PATH and nvcc -----------------------------------------------------------------


def test_system_cudnn_on_ld_library_path(healthy_env, probe, tmp_path):
    old = fake_library(tmp_path / "cudnn8", "libcudnn.so", "libcudnn.so.8", "libcudnn.so.8.9.2")
    same = fake_library(tmp_path / "cudnn9", "libcudnn.so.9", "libcudnn.so.9.0.0", "libcudnn_ops.so.9.0.0")
    ld = f"{old}:{same}:/opt/elsewhere"
    env = probe(healthy_env, LD_LIBRARY_PATH=ld)
    findings = diagnose(env, RTX4090)
    shadow = only(findings, "system-lib-shadows-wheel")
    assert shadow.severity == "error" and "is loaded instead of nvidia-cudnn-cu12 9.1.0.70" in shadow.message
    assert shadow.evidence["library"] == f"{same}/libcudnn.so.9.0.0" and shadow.evidence["library-version"] == "9.0.0"
    assert shadow.fix.startswith(f"export LD_LIBRARY_PATH={old}:/opt/elsewhere")
    other = only(findings, "system-lib-other-major")
    assert other.severity == "warning" and other.evidence["library"] == f"{old}/libcudnn.so.8.9.2"
    assert other.evidence["nvidia-cudnn-cu12"] == "9.1.0.70" and other.evidence["LD_LIBRARY_PATH"] == ld
    assert other.fix.startswith(f"export LD_LIBRARY_PATH={same}:/opt/elsewhere")
    alone = diagnose(probe(healthy_env, LD_LIBRARY_PATH=str(old)), RTX4090)
    assert codes(alone) == ["system-lib-other-major"] and alone[0].fix.startswith("unset LD_LIBRARY_PATH")


@posix_only
def test_nvcc_for_a_planned_source_build(healthy_env, probe, tmp_path):
    lock_target = target([*HEALTHY_STACK, FLASH_ATTN_BUILD], closure="stack")
    nvcc11, nvcc12 = fake_nvcc(tmp_path / "cuda-11.8" / "bin", "11.8"), fake_nvcc(tmp_path / "cuda-12.8" / "bin", "12.8")

    def check(**env):
        return diagnose(probe(healthy_env, **env), RTX4090, lock_target, target_name="rtx4090")

    f = only(check(PATH=str(nvcc11.parent)), "nvcc-cuda-mismatch")
    assert (f.evidence["nvcc"], f.evidence["nvcc-release"], f.evidence["nvcc-major"]) == (str(nvcc11), "11.8", 12)
    assert "cuda-nvcc=12.8" in f.fix and "export CUDA_HOME=/usr/local/cuda-12.8" in f.fix
    assert check(PATH=str(nvcc12.parent)) == []
    # torch's cpp_extension takes CUDA_HOME before PATH.
    assert check(PATH=str(nvcc11.parent), CUDA_HOME=str(nvcc12.parent.parent)) == []
    missing = only(check(), "nvcc-missing")
    assert "no nvcc on PATH or in CUDA_HOME" in missing.message and "cuda-nvcc=12.8" in missing.fix
    # Without a planned source build, nvcc does not matter.
    assert diagnose(probe(healthy_env, PATH=str(nvcc11.parent)), RTX4090) == []


# --- the lock ---------------------------------------------------------------------------------

HEALTHY_STACK = (
    LockedPackage(name="torch", version="2.7.1+cu128", index=CU128),
    LockedPackage(name="torchvision", version="0.22.1+cu128", index=CU128),
    LockedPackage(name="torchaudio", version="2.7.1+cu128", index=CU128),
)
FLASH_ATTN_BUILD = LockedPackage(
    name="flash-attn", version="2.8.3", index="https://pypi.org/simple",
    build=BuildRecipe(nvcc_major=12, env={"MAX_JOBS": "4"}, command="pip install --no-build-isolation flash-attn==2.8.3"),
)


def target(packages, *, closure="full", python=PY, policy="minor-version", platform="linux-x86_64",
           gpus=(("NVIDIA GeForce RTX 4090", "8.9"),), accelerator="cuda") -> LockedTarget:
    return LockedTarget(
        platform=platform, python=python, accelerator=accelerator,
        gpus=tuple(LockedGpu(name=n, compute_capability=cc) for n, cc in gpus),
        variant="cu128" if accelerator == "cuda" else "cpu", cuda="12.8" if accelerator == "cuda" else None,
        driver_policy=policy, closure=closure, hashes=closure == "full", reason="test", packages=tuple(packages),
    )


def lock(**targets: LockedTarget) -> Lock:
    return Lock(matrix_version=get_matrix().version, spec_digest="sha256:" + "0" * 64, project="demo", targets=targets)


def full(name: str, version: str, index: str = "https://pypi.org/simple") -> LockedPackage:
    url = f"https://files.example/{name}-{version}-py3-none-any.whl"
    return LockedPackage(name=name, version=version, index=index, files=(LockedFile(url=url, sha256="0" * 64),))


def test_environment_matching_its_full_lock(healthy):
    t = target([full("torch", "2.7.1+cu128", CU128), full("torchvision", "0.22.1+cu128", CU128),
                full("flash-attn", "2.8.3"), full("nvidia-cudnn-cu12", "9.1.0.70")])
    assert diagnose(healthy, RTX4090, t, target_name="rtx4090") == []


def test_installed_versions_that_differ_from_the_lock(healthy):
    t = target([full("torch", "2.7.0+cu128", CU128), full("torchvision", "0.22.1+cu128", CU128), full("numpy", "2.2.6")])
    findings = diagnose(healthy, RTX4090, t, target_name="rtx4090")
    differ = only(findings, "lock-version-mismatch")
    assert differ.evidence["packages"] == {"torch": {"installed": "2.7.1+cu128", "locked": "2.7.0+cu128"}}
    assert differ.message.startswith("1 installed package differs from aienv.lock (target rtx4090): torch 2.7.1+cu128 (locked 2.7.0+cu128)")
    # A venv is rebuilt from the lock by aienv apply (verified, swapped in atomically).
    assert differ.fix == f"aienv apply --target rtx4090 --prefix {shlex.quote(healthy.prefix)} --replace"
    missing = only(findings, "lock-package-missing")
    assert missing.evidence["missing"] == {"numpy": "2.2.6"}
    assert codes(findings) == ["lock-version-mismatch", "lock-package-missing"]
    # A Python that is not a venv (system, conda) is not replaced: the hash-checked pip render.
    system = replace(healthy, base_prefix=healthy.prefix)
    assert only(diagnose(system, RTX4090, t, target_name="rtx4090"), "lock-version-mismatch").fix == (
        "aienv export --format pip --target rtx4090 -o requirements-rtx4090.txt && "
        f"{shlex.quote(str(healthy.python))} -m pip install --require-hashes --no-deps -r requirements-rtx4090.txt"
    )


def test_a_stack_lock_compares_the_stack_alone(healthy):
    t = target([LockedPackage(name="torch", version="2.7.0+cu128", index=CU128), *HEALTHY_STACK[1:],
                LockedPackage(name="numpy", version="2.2.6")], closure="stack")
    f = only(diagnose(healthy, RTX4090, t, target_name="rtx4090"), "lock-version-mismatch")
    assert "only the stack is compared" in f.message
    assert f.fix == f"{shlex.quote(str(healthy.python))} -m pip install torch==2.7.0+cu128 --index-url {CU128}"


def test_a_locked_build_that_does_not_fit_this_host_is_not_the_fix(healthy):
    # The lock's torch is the installed one (CUDA 12.8): for an old driver the fix is another build.
    f = only(diagnose(healthy, host("RTX 4090", driver="470.82.01"), target(HEALTHY_STACK, closure="stack"),
                      target_name="rtx4090"), "driver-too-old")
    assert "torch==2.7.1+cu118" in f.fix


def test_the_locks_python(healthy):
    f = only(diagnose(healthy, RTX4090, target(HEALTHY_STACK, python="3.9"), target_name="t"), "lock-python-mismatch")
    assert f.evidence["locked"] == "3.9" and "python3.9 -m venv" in f.fix


def test_a_cpu_build_fix_comes_from_the_lock(cpu_env, probe):
    f = only(diagnose(probe(cpu_env), RTX4090, target(HEALTHY_STACK, closure="stack"), target_name="rtx4090"), "torch-cpu-build")
    # The lock's stack, torchaudio included (it is locked, though not installed).
    assert f.fix.endswith(f"-m pip install torch==2.7.1+cu128 torchvision==0.22.1+cu128 torchaudio==2.7.1+cu128 --index-url {CU128}")


@pytest.mark.parametrize(("targets", "h", "name", "expected"), [
    # One target: it, whatever the machine.
    ({"only": target([])}, NO_GPU, None, "only"),
    # By name.
    ({"a": target([]), "b": target([])}, RTX4090, "b", "b"),
    # By platform, then by the GPUs' compute capabilities, then CPU for a machine without a GPU.
    ({"win": target([], platform="windows-x86_64"), "linux": target([])}, RTX4090, None, "linux"),
    ({"a100": target([], gpus=(("NVIDIA A100", "8.0"),)), "rtx4090": target([]), "cpu": target([], gpus=(), accelerator="cpu")},
     RTX4090, None, "rtx4090"),
    ({"rtx4090": target([]), "cpu": target([], gpus=(), accelerator="cpu")}, NO_GPU, None, "cpu"),
])
def test_select_target(targets, h, name, expected):
    assert select_target(lock(**targets), h, name)[0] == expected


@pytest.mark.parametrize(("targets", "name", "code"), [
    ({"a": target([]), "b": target([])}, "nope", "unknown-target"),
    ({"a": target([]), "b": target([])}, None, "ambiguous-target"),
    ({"a": target([], platform="windows-x86_64"), "b": target([], platform="macos-arm64", gpus=(), accelerator="cpu")}, None, "no-matching-target"),
])
def test_select_target_refuses(targets, name, code):
    with pytest.raises(LockfileError) as e:
        select_target(lock(**targets), RTX4090, name)
    assert e.value.code == code and e.value.exit_code == 2


# --- the command ------------------------------------------------------------------------------


@pytest.fixture
def this_host(monkeypatch):
    """`aienv doctor` sees an RTX 4090 with driver 550.54.14, and no variable of this machine."""
    import envspec.host

    for name in ("LD_LIBRARY_PATH", "CUDA_VISIBLE_DEVICES", "CUDA_HOME", "CUDA_PATH", "FAKE_TORCH_CUDA_INIT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(envspec.host, "probe_host", lambda *a, **k: RTX4090)


def test_cli_json(cpu_env, this_host, capsys):
    assert main(["doctor", "--prefix", str(cpu_env.parent.parent), "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"host", "environment", "lock", "findings"}
    assert out["host"]["gpus"] == [{"name": "NVIDIA GeForce RTX 4090", "compute-capability": "8.9"}]
    assert out["environment"]["torch"]["version"] == "2.7.1+cpu" and out["lock"] is None
    (finding,) = out["findings"]
    assert (finding["code"], finding["severity"]) == ("torch-cpu-build", "error")
    assert finding["evidence"]["torch.version.cuda"] is None and "--index-url" in finding["fix"]


def test_cli_human_report(cpu_env, this_host, capsys):
    assert main(["doctor", "--prefix", str(cpu_env.parent.parent)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"environment: {cpu_env} (Python {'.'.join(map(str, sys.version_info[:3]))})"
    assert lines[1] == "  torch 2.7.1+cpu (CPU build, CUDA available: no)"
    assert lines[2] == "host: linux-x86_64, driver 550.54.14, GPUs: NVIDIA GeForce RTX 4090 (sm_89)"
    assert lines[4] == "errors:" and lines[5].startswith("  [torch-cpu-build] torch 2.7.1+cpu is a CPU build")
    assert lines[6].startswith("    evidence: torch: 2.7.1+cpu; gpus: [\"NVIDIA GeForce RTX 4090 (sm_89)\"]")
    assert lines[7].startswith("    fix: ") and lines[-1] == "1 error: the environment is broken"


def test_cli_with_the_lock_in_the_directory(healthy_env, this_host, tmp_path, capsys):
    write_lock(lock(rtx4090=target(HEALTHY_STACK, closure="stack"), cpu=target([], gpus=(), accelerator="cpu")), tmp_path / "aienv.lock")
    prefix = str(healthy_env.parent.parent)
    assert main(["-C", str(tmp_path), "doctor", "--prefix", prefix]) == 0
    out = capsys.readouterr().out
    assert f"lock: {tmp_path / 'aienv.lock'}, target rtx4090" in out and out.endswith("no problems found\n")
    assert main(["-C", str(tmp_path), "doctor", "--prefix", prefix, "--target", "nope", "--json"]) == 2
    assert json.loads(capsys.readouterr().out)["error"]["code"] == "unknown-target"


@pytest.mark.parametrize("case", ["no-python", "bad-lock", "target-without-lock"])
def test_cli_bad_input_exits_2(case, healthy_env, this_host, tmp_path, capsys):
    prefix = str(healthy_env.parent.parent)
    argv = {
        "no-python": ["doctor", "--prefix", str(tmp_path)],
        "bad-lock": ["doctor", "--prefix", prefix, "--lock", str(tmp_path / "aienv.lock")],
        "target-without-lock": ["-C", str(tmp_path), "doctor", "--prefix", prefix, "--target", "x"],
    }[case]
    (tmp_path / "aienv.lock").write_text("lock-version = [")
    if case == "target-without-lock":
        (tmp_path / "aienv.lock").unlink()
    assert main([*argv, "--json"]) == 2
    assert json.loads(capsys.readouterr().out)["error"]["code"] == {
        "no-python": "no-python", "bad-lock": "invalid-lock", "target-without-lock": "usage"}[case]


# --- a real torch -----------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.network
def test_the_real_torch_from_pypi_is_read_as_it_is(tmp_path):
    """torch 2.9.1 from PyPI (the CUDA 12.8 build, with its nvidia-* wheels: about 3.5 GB the
    first time; uv's cache keeps them) installed into a real venv and probed as apply's
    verification probes a new environment: the probe reads what that wheel is, and on a machine
    without an NVIDIA GPU (where a CUDA build runs on the CPU) the checks find nothing wrong."""
    import shutil
    import subprocess

    from envspec.host import probe_host
    from tests.realtorch import TORCH

    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not on PATH")
    venv = tmp_path / "venv"
    subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(venv)], check=True)
    subprocess.run([uv, "pip", "install", "-q", "--python", str(find_python(venv)), f"torch=={TORCH}"], check=True, timeout=3600)
    env = probe_environment(find_python(venv), timeout=300)
    t = env.torch
    assert env.incomplete is None and t is not None and t.imported, env.incomplete
    assert (env.version_of("torch"), t.version, t.cuda, t.hip, t.cxx11_abi) == ("2.9.1", "2.9.1+cu128", "12.8", None, True)
    assert t.cudnn is not None and t.cudnn >= 90000  # the nvidia-cudnn-cu12 wheel torch loaded
    machine = probe_host()
    findings = diagnose(env, machine)
    if machine.gpus:
        assert t.cuda_available and t.devices and t.arch_list
    else:
        assert t.cuda_available is False and not t.devices
        assert [f for f in findings if f.severity == "error"] == []


# --- a real GPU -------------------------------------------------------------------------------


@pytest.mark.gpu
def test_doctor_agrees_with_torch_on_a_real_gpu():
    """In this environment, with real torch on a real GPU: the probe reads what torch itself
    says, and doctor does not call a working CUDA setup broken."""
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("torch sees no GPU here")
    from envspec.host import probe_host

    env = probe_environment(timeout=300)
    t = env.torch
    assert env.incomplete is None and t is not None and t.imported
    assert (t.version, t.cuda, t.cuda_available) == (str(torch.__version__), torch.version.cuda, True)
    assert list(t.arch_list) == torch.cuda.get_arch_list()
    assert t.device_count == torch.cuda.device_count()
    assert [d.capability for d in t.devices] == [
        "{}.{}".format(*torch.cuda.get_device_capability(i)) for i in range(torch.cuda.device_count())
    ]
    assert t.cudnn == torch.backends.cudnn.version()
    this = probe_host()
    assert sorted(str(g.cc) for g in this.gpus) == sorted(d.capability for d in t.devices)
    broken = {"torch-cpu-build", "driver-too-old", "gpu-arch-not-in-build", "cuda-not-available", "torch-import-error"}
    assert not broken & set(codes(diagnose(env, this)))
