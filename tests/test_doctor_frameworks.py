"""``aienv doctor`` on TensorFlow, JAX and PaddlePaddle environments (issue #7): real venvs holding
fake-but-real framework wheels (``tests.fakeenv``), probed by the real probe, judged against a
host and a lock target. The fakes answer as the real frameworks do: the GPUs they see are the
fake machine's (``FAKE_GPUS``, hidden by ``CUDA_VISIBLE_DEVICES``), and a CUDA library they load
from the machine is found only in a directory of ``LD_LIBRARY_PATH``."""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path

import pytest

from envspec.detect.libraries import find_system_libraries
from envspec.doctor import diagnose, format_report, probe_environment
from envspec.lockfile import LockedPackage
from tests.fakeenv import (
    jax_plugin_wheel,
    jax_wheel,
    make_venv,
    paddle_wheel,
    tensorflow_wheel,
)
from tests.localindex import build_wheel
from tests.test_doctor import NO_GPU, RTX4090, codes, host, only, target

posix_only = pytest.mark.skipif(os.name != "posix", reason="library files on LD_LIBRARY_PATH")
pytestmark = posix_only


@pytest.fixture(scope="module")
def paddle_env(tmp_path_factory) -> Path:
    return make_venv(tmp_path_factory.mktemp("paddle") / "env", [paddle_wheel("2.6.2.post120")])


@pytest.fixture(scope="module")
def tensorflow_env(tmp_path_factory) -> Path:
    """TensorFlow 2.13 as it was before 2.14: a CUDA build that loads CUDA 11.8 and cuDNN 8 from the machine."""
    wheel = tensorflow_wheel("2.13.1", cuda="11.8", cudnn="8", needs=("libcudart.so.11.0", "libcudnn.so.8"))
    return make_venv(tmp_path_factory.mktemp("tf") / "env", [wheel])


@pytest.fixture(scope="module")
def cpu_frameworks_env(tmp_path_factory) -> Path:
    return make_venv(tmp_path_factory.mktemp("cpu") / "env", [tensorflow_wheel("2.19.1", cuda=None), jax_wheel("0.4.30")])


@pytest.fixture(scope="module")
def jax_env(tmp_path_factory) -> Path:
    return make_venv(tmp_path_factory.mktemp("jax") / "env", [jax_wheel("0.6.2"), jax_plugin_wheel("0.6.2")])


def libdir(tmp_path: Path, *names: str) -> Path:
    d = tmp_path / "lib"
    d.mkdir(exist_ok=True)
    for name in names:
        (d / name).write_bytes(b"\x7fELF")
    return d


def probe(python: Path, **env: str):
    base = {k: v for k, v in os.environ.items() if k not in ("LD_LIBRARY_PATH", "CUDA_VISIBLE_DEVICES", "FAKE_GPUS")}
    return probe_environment(python, env={**base, **env})


PADDLE_LIBS = ("libcudnn.so", "libcudnn.so.8", "libcublas.so", "libcublas.so.12")


def paddle_target(gpus: int = 1, system=("CUDA 12.0", "cuDNN 8.9")):
    package = LockedPackage(name="paddlepaddle-gpu", version="2.6.2.post120", index="https://www.paddlepaddle.org.cn/packages/stable/cu120/",
                            system=system)
    return target([package], closure="stack", gpus=(("NVIDIA GeForce RTX 4090", "8.9"),) * gpus)


# --- PaddlePaddle: paddle.utils.run_check() ------------------------------------------------------


def test_paddle_run_check_passes_with_its_libraries(paddle_env, tmp_path):
    env = probe(paddle_env, LD_LIBRARY_PATH=str(libdir(tmp_path, *PADDLE_LIBS)))
    paddle = env.frameworks["paddle"]
    assert (paddle.version, paddle.cuda_build, paddle.cuda, paddle.device_count) == ("2.6.2.post120", True, "12.0", 1)
    assert paddle.run_check is not None and paddle.run_check[0]
    assert "PaddlePaddle is installed successfully!" in paddle.run_check[2]
    assert codes(diagnose(env, RTX4090)) == ["torch-not-installed"]
    assert "paddle 2.6.2.post120 (CUDA 12.0, GPUs seen: 1, run_check: passed)" in format_report(env, RTX4090, [])


def test_paddle_run_check_fails_without_cudnn(paddle_env, tmp_path):
    env = probe(paddle_env, LD_LIBRARY_PATH=str(libdir(tmp_path, "libcublas.so")))
    f = only(diagnose(env, RTX4090), "paddle-run-check-failed")
    assert f.severity == "error"
    assert "The third-party dynamic library (libcudnn.so) that Paddle depends on is not configured correctly" in f.message
    assert "Running verify PaddlePaddle program" in f.evidence["run_check output"]


def test_paddle_on_several_gpus_needs_nccl(paddle_env, tmp_path):
    two = paddle_target(gpus=2)
    env = probe(paddle_env, LD_LIBRARY_PATH=str(libdir(tmp_path, *PADDLE_LIBS)), FAKE_GPUS="2")
    gpu_host = host("RTX 4090", "RTX 4090")
    f = only(diagnose(env, gpu_host, two, target_name="pair"), "paddle-multi-gpu-failed")
    assert "target 'pair' has 2" in f.message and "NCCL" in f.fix
    # one GPU in the target: working on one is all it asks
    assert "paddle-multi-gpu-failed" not in codes(diagnose(env, gpu_host, paddle_target(gpus=1), target_name="one"))
    env = probe(paddle_env, LD_LIBRARY_PATH=str(libdir(tmp_path, *PADDLE_LIBS, "libnccl.so.2")), FAKE_GPUS="2")
    assert "paddle-multi-gpu-failed" not in codes(diagnose(env, gpu_host, two, target_name="pair"))


def test_the_locks_system_libraries(paddle_env, tmp_path):
    # what the machine has, found by the real scan of a directory laid out as NVIDIA's packages lay it
    # out: the file, its soname link, the development link
    lib = tmp_path / "lib"
    lib.mkdir()
    for kind, version, soname in (("cudnn", "8.9.1", "8"), ("cublas", "12.0.2.224", "12"), ("cudart", "12.0.146", "12")):
        (lib / f"lib{kind}.so.{version}").write_bytes(b"\x7fELF")
        (lib / f"lib{kind}.so.{soname}").symlink_to(f"lib{kind}.so.{version}")
        (lib / f"lib{kind}.so").symlink_to(f"lib{kind}.so.{soname}")
    env = probe(paddle_env, LD_LIBRARY_PATH=str(lib))
    assert env.frameworks["paddle"].run_check[0]
    found = find_system_libraries({"LD_LIBRARY_PATH": str(lib)}, ldconfig=False, cuda_root=tmp_path / "none")
    machine = dataclasses.replace(RTX4090, system_libraries=found)
    assert [c for c in codes(diagnose(env, machine, paddle_target())) if c.startswith("system-")] == []
    # cuDNN 9 only: the 2.6 build wants cuDNN 8
    nine = tmp_path / "nine"
    nine.mkdir()
    (nine / "libcudnn.so.9.1.0").write_bytes(b"")
    machine = dataclasses.replace(RTX4090, system_libraries=find_system_libraries(
        {"LD_LIBRARY_PATH": f"{nine}:{tmp_path / 'none'}"}, ldconfig=False, cuda_root=tmp_path / "none"))
    findings = diagnose(env, machine, paddle_target())
    cuda, cudnn = (f for f in findings if f.code == "system-library-missing")
    assert "no CUDA runtime library was found" in cuda.message
    assert "only cuDNN 9.1.0 (libcudnn.so.9.1.0) found" in cudnn.message and cudnn.evidence["requires"] == "cuDNN 8.9"
    # a CPU target does not load them
    cpu = paddle_target().model_copy(update={"accelerator": "cpu", "gpus": ()})
    assert "system-library-missing" not in codes(diagnose(env, machine, cpu))


def test_a_paddle_that_cannot_load_the_cuda_runtime(tmp_path):
    error = "libcudart.so.12: cannot open shared object file: No such file or directory"
    wheel = build_wheel("paddlepaddle-gpu", "2.6.2.post120", extra_files={"paddle/__init__.py": f"raise OSError({error!r})\n".encode()})
    env = probe(make_venv(tmp_path / "env", [wheel]))
    f = only(diagnose(env, RTX4090), "framework-import-error")
    assert f.message == f"`import paddle` fails: OSError: {error} (libcudart.so.12 is a CUDA library this build loads from the machine)"
    assert "system" in f.fix


# --- TensorFlow and JAX ---------------------------------------------------------------------------


def test_tensorflow_before_2_14_sees_no_gpu_without_the_system_cuda(tensorflow_env, tmp_path):
    env = probe(tensorflow_env)
    tf = env.frameworks["tensorflow"]
    assert (tf.version, tf.cuda_build, tf.cuda, tf.cudnn, tf.gpus) == ("2.13.1", True, "11.8", "8", ())
    f = only(diagnose(env, RTX4090), "framework-no-gpu")
    assert f.message.startswith("tensorflow 2.13.1 is a CUDA build but sees no GPU")
    # the lock says it loads CUDA 11.8 and cuDNN 8.6 from the machine: that finding explains it
    package = LockedPackage(name="tensorflow", version="2.13.1", index="https://pypi.org/simple", system=("CUDA 11.8", "cuDNN 8.6"))
    machine = dataclasses.replace(RTX4090, system_libraries=())
    found = codes(diagnose(env, machine, target([package], closure="stack")))
    assert found.count("system-library-missing") == 2 and "framework-no-gpu" not in found
    # with them on LD_LIBRARY_PATH it lists the GPU
    env = probe(tensorflow_env, LD_LIBRARY_PATH=str(libdir(tmp_path, "libcudart.so.11.0", "libcudnn.so.8")))
    assert env.frameworks["tensorflow"].gpus == ("/physical_device:GPU:0",)
    assert "framework-no-gpu" not in codes(diagnose(env, RTX4090))


def test_cpu_builds_on_a_gpu_machine(cpu_frameworks_env):
    env = probe(cpu_frameworks_env)
    findings = diagnose(env, RTX4090)
    assert sorted(f.evidence["framework"] for f in findings if f.code == "framework-cpu-build") == ["jax", "tensorflow"]
    assert "jax-cudaNN-plugin" in next(f.message for f in findings if f.code == "framework-cpu-build" and f.evidence["framework"] == "jax")
    # what a CPU target or a machine without GPU asked for
    assert "framework-cpu-build" not in codes(diagnose(env, NO_GPU))
    assert "framework-cpu-build" not in codes(diagnose(env, RTX4090, target([], accelerator="cpu", gpus=())))


def test_jax_with_its_cuda_plugin(jax_env):
    env = probe(jax_env)
    assert (env.frameworks["jax"].backend, env.frameworks["jax"].gpus) == ("gpu", ("cuda:0",))
    assert "jax" not in {f.evidence.get("framework") for f in diagnose(env, RTX4090)}
    hidden = probe(jax_env, CUDA_VISIBLE_DEVICES="")
    f = only(diagnose(hidden, RTX4090), "framework-no-gpu")
    assert "its backend is cpu" in f.message
    assert env.to_dict()["frameworks"]["jax"] == {"version": "0.6.2", "backend": "gpu", "gpus": ["cuda:0"]}


def test_the_probe_reads_names_from_dist_info_directories(paddle_env):
    env = probe(paddle_env)
    assert env.version_of("paddlepaddle-gpu") == "2.6.2.post120"
    assert str(Path(sys.executable)) != str(paddle_env)


def test_a_package_that_came_by_its_conda_route(tmp_path):
    """Paddle's conda package is version 2.6.2 where the lock's wheel is 2.6.2.post117: a conda
    prefix made from the route holds the route's version, which is not a mismatch."""
    from envspec.lockfile import CondaRoute

    route = CondaRoute(channels=("https://mirrors.tuna.tsinghua.edu.cn/anaconda/cloud/Paddle/", "conda-forge"),
                       specs=("paddlepaddle-gpu ==2.6.2", "cudatoolkit 11.7.*"), source="https://www.paddlepaddle.org.cn/")
    package = LockedPackage(name="paddlepaddle-gpu", version="2.6.2.post117", index="https://www.paddlepaddle.org.cn/packages/stable/cu117/",
                            conda_route=route)
    env = probe(make_venv(tmp_path / "env", [paddle_wheel("2.6.2", cuda="11.7", cudnn="8.4.1")]))
    cpu_machine = NO_GPU
    assert "lock-version-mismatch" not in codes(diagnose(env, cpu_machine, target([package], closure="stack"), target_name="t"))
    # without the route, 2.6.2 is not the locked wheel
    plain = package.model_copy(update={"conda_route": None})
    assert "lock-version-mismatch" in codes(diagnose(env, cpu_machine, target([plain], closure="stack"), target_name="t"))


# --- torch on AMD GPUs ------------------------------------------------------------------------------


def test_torch_on_amd_gpus():
    from envspec.doctor import Environment
    from envspec.doctor.environment import Distribution, TorchInfo
    from envspec.host import AmdGpu

    mi300 = dataclasses.replace(NO_GPU, amd_gpus=(AmdGpu("AMD Instinct MI300X", "gfx942"),) * 2)

    def env(version, **torch):
        return Environment(python="python", python_version="3.12.3", distributions={"torch": Distribution("torch", version)},
                           torch=TorchInfo(version=version, **torch))

    rocm = env("2.9.1+rocm6.4", hip="6.4.43482", cuda_available=True, arch_list=("gfx90a", "gfx942", "gfx1100"))
    assert [c for c in codes(diagnose(rocm, mi300)) if c != "torch-not-installed"] == []
    f = only(diagnose(env("2.9.1+cu128", cuda="12.8", cuda_available=False), mi300), "torch-not-rocm-build")
    assert "a CUDA 12.8 build on a machine with AMD GPUs (gfx942)" in f.message
    assert "rocm-not-available" in codes(diagnose(env("2.9.1+rocm6.4", hip="6.4.43482", cuda_available=False), mi300))
    old = env("2.5.1+rocm6.1", hip="6.1.40091", cuda_available=True, arch_list=("gfx900", "gfx906", "gfx908", "gfx90a", "gfx1030"))
    assert "has no kernels for gfx942" in only(diagnose(old, mi300), "gpu-arch-not-in-build").message
    # a CPU target asked for no GPU
    cpu = target([], accelerator="cpu", gpus=())
    assert "torch-not-rocm-build" not in codes(diagnose(env("2.9.1+cpu"), mi300, cpu))
