"""The TensorFlow and PaddleOCR examples (issue #7) as full closures against local indexes built
from real PyPI metadata (tests/data/index: pypi-tensorflow.json, pypi-paddleocr.json, and a
Paddle-style per-CUDA index, paddle.json), rendered to every format and read back by the tools
that consume them: pip's own resolver (dry run with --require-hashes), packaging's PEP 751
parser, YAML, and bash."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib
import yaml
from packaging.pylock import Pylock

from envspec.backends import get_backend
from envspec.lockfile import Lock, read_lock

from .conftest import EXAMPLES, lock_against

FORMATS = ("pip", "conda", "pylock", "shell")


def _locked(example: str, server, tmp_path_factory, *flags: str) -> Path:
    work = tmp_path_factory.mktemp(example) / example
    shutil.copytree(EXAMPLES / example, work)
    (work / "aienv.lock").unlink()
    assert lock_against(work, server, work / ".cache", "--paddle-index-url", f"{server.url}/paddle", *flags) == 0
    return work


@pytest.fixture(scope="module")
def tf_lock(tf_server, tmp_path_factory) -> Lock:
    return read_lock(_locked("tensorflow", tf_server, tmp_path_factory) / "aienv.lock")


@pytest.fixture(scope="module")
def paddle_lock(paddle_server, tmp_path_factory) -> Lock:
    return read_lock(_locked("paddleocr", paddle_server, tmp_path_factory) / "aienv.lock")


def _pins(lock: Lock, target: str) -> dict[str, str]:
    return {p.name: p.version for p in lock.targets[target].packages}


def test_tensorflow_targets(tf_lock: Lock) -> None:
    gpu, cpu, mac = (tf_lock.targets[t] for t in ("a100", "cpu", "mac"))
    assert all(t.closure == "full" and t.hashes for t in (gpu, cpu, mac))
    assert (gpu.variant, gpu.cuda, gpu.driver_floor) == ("cu125", "12.5", "525.60.13")
    tf = gpu.package("tensorflow")
    assert tf is not None and tf.version == "2.19.1" and tf.extras == ("and-cuda",)
    # The and-cuda extra's NVIDIA wheels are in the GPU closure, at the extra's exact pins …
    assert _pins(tf_lock, "a100")["nvidia-cudnn-cu12"] == "9.3.0.75"
    assert {"keras", "numpy", "absl-py"} <= set(_pins(tf_lock, "a100")), "the base package's requirements too"
    # … and in no CPU closure.
    for target in ("cpu", "mac"):
        assert not any(n.startswith("nvidia-") for n in _pins(tf_lock, target))
        assert tf_lock.targets[target].package("tensorflow").extras == ()
    assert mac.accelerator == "mps" and cpu.accelerator == "cpu"


def test_paddle_targets(paddle_lock: Lock, paddle_server) -> None:
    rtx, t4, cpu = (paddle_lock.targets[t] for t in ("rtx4090", "t4-pair", "cpu"))
    paddle = rtx.package("paddlepaddle-gpu")
    assert paddle is not None and paddle.version == "2.6.2.post120"
    assert paddle.index == f"{paddle_server.url}/paddle/cu120", "the Paddle index under the configured base"
    assert paddle.system == ("CUDA 12.0", "cuDNN 8.9")
    assert (rtx.variant, rtx.driver_floor) == ("cu120", "525.60.13")
    # Driver 520 is below CUDA 12.0's toolkit floor: the CUDA 11.8 build, PyPI's paddlepaddle-gpu.
    t4_paddle = t4.package("paddlepaddle-gpu")
    assert t4_paddle is not None and t4_paddle.version == "2.6.2"
    assert t4_paddle.index == paddle_server.index_url("simple").rstrip("/")
    assert "NCCL >=2.7" in t4_paddle.system, "two GPUs: NCCL for multi-GPU training"
    assert cpu.package("paddlepaddle").version == "2.6.2" and cpu.package("paddlepaddle-gpu") is None
    for target in (rtx, t4, cpu):
        assert target.package("paddleocr").version == "2.8.1"


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_renders(tf_lock: Lock, paddle_lock: Lock, fmt: str, tmp_path: Path) -> None:
    backend = get_backend(fmt)
    for lock in (tf_lock, paddle_lock):
        for target, locked in lock.targets.items():
            text = backend.render(lock, target)
            assert text == backend.render(lock, target), "deterministic"
            for package in locked.packages:
                assert package.name in text or package.name.replace("-", "_") in text, f"{package.name} missing from {fmt}"
            if fmt == "conda":
                env = yaml.safe_load(text)
                assert any(isinstance(d, dict) and "pip" in d for d in env["dependencies"])
            elif fmt == "pylock":
                pylock = Pylock.from_dict(tomllib.loads(text))
                assert {p.name for p in pylock.packages} == {p.name for p in locked.packages}
            elif fmt == "shell" and not locked.platform.startswith("windows"):
                script = tmp_path / f"{target}.sh"
                script.write_text(text)
                assert subprocess.run(["bash", "-n", str(script)], check=False).returncode == 0


def test_paddle_pip_render_installs_with_pip(paddle_lock: Lock, paddle_server, tmp_path: Path) -> None:
    """pip itself accepts the rendered file for the Paddle GPU target: every pin found on the
    index the render names (Paddle's cu120 index as an extra index), every hash checked."""
    text = get_backend("pip").render(paddle_lock, "rtx4090")
    assert f"--extra-index-url {paddle_server.url}/paddle/cu120" in text
    assert "paddlepaddle-gpu==2.6.2.post120" in text
    req = tmp_path / "requirements.txt"
    req.write_text(text)
    run = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--no-cache-dir", "--require-hashes",
         "--no-deps", "--ignore-installed", "-r", str(req)],
        capture_output=True, text=True, check=False, env={"PIP_CONFIG_FILE": "/dev/null", "PATH": "/usr/bin:/bin"},
    )
    assert run.returncode == 0, run.stderr[-2000:]


def test_tensorflow_pip_render_installs_with_pip(tf_lock: Lock, tmp_path: Path) -> None:
    """The GPU target is Python 3.12 on manylinux_2_28: pip is told so (its files are the lock's)."""
    req = tmp_path / "requirements.txt"
    req.write_text(get_backend("pip").render(tf_lock, "a100"))
    run = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--no-cache-dir", "--require-hashes",
         "--no-deps", "--ignore-installed", "--python-version", "3.12", "--platform", "manylinux_2_28_x86_64", "--platform", "manylinux_2_17_x86_64",
         "--platform", "manylinux2014_x86_64",
         "--only-binary", ":all:", "--target", str(tmp_path / "t"), "-r", str(req)],
        capture_output=True, text=True, check=False, env={"PIP_CONFIG_FILE": "/dev/null", "PATH": "/usr/bin:/bin"},
    )
    assert run.returncode == 0, run.stderr[-2000:]
