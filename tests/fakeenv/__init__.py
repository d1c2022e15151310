"""Real small Python environments for doctor's tests: venvs holding fake-but-real packages.

    python = make_venv(tmp / "env", [torch_wheel("2.7.1+cu128", cuda="12.8"), companion_wheel(...)])

Each package is a tiny wheel (``tests.localindex.build_wheel``) installed with pip
(``--no-index --no-deps``) into a ``python -m venv --without-pip`` environment. The fakes
expose the attributes the probe reads, the way the real packages do: ``torch.version.cuda``,
``torch.cuda.is_available()`` (False when ``CUDA_VISIBLE_DEVICES`` hides every GPU, as with
real torch) and ``get_arch_list()`` (empty without CUDA, as real torch returns), ``torch.
backends.cudnn.version()``, ``torch._C._GLIBCXX_USE_CXX11_ABI``; a flash-attn whose compiled
extension fails to load with a real loader message; companions with a ``Requires-Dist: torch``
pin. Wheels are built once per session (their bytes are deterministic).

``FAKE_TORCH_CUDA_INIT=hang|crash`` in the probe's environment makes the fake CUDA init hang or
die of SIGSEGV, as a broken driver stack can.
"""

from __future__ import annotations

import functools
import os
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from tests.localindex import build_wheel

__all__ = [
    "NVCC_OUTPUT",
    "RTX4090_ARCHS",
    "UNDEFINED_SYMBOL",
    "companion_wheel",
    "fake_library",
    "fake_nvcc",
    "flash_attn_wheel",
    "make_venv",
    "nvidia_wheel",
    "torch_wheel",
]

Wheel = tuple[str, bytes]

#: torch 2.7.1+cu128's arch list as torch.cuda.get_arch_list() prints it on Linux x86_64.
RTX4090_ARCHS = ("sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120", "compute_120")

#: The error of importing a flash-attn built against another torch (from a real report).
UNDEFINED_SYMBOL = (
    "{site}/flash_attn_2_cuda.cpython-311-x86_64-linux-gnu.so: undefined symbol: "
    "_ZN3c105ErrorC2ENS_14SourceLocationENSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEE"
)

#: `nvcc --version` as CUDA toolkits print it.
NVCC_OUTPUT = {
    "11.8": (
        "nvcc: NVIDIA (R) Cuda compiler driver\n"
        "Copyright (c) 2005-2022 NVIDIA Corporation\n"
        "Built on Wed_Sep_21_10:33:58_PDT_2022\n"
        "Cuda compilation tools, release 11.8, V11.8.89\n"
        "Build cuda_11.8.r11.8/compiler.31833905_0\n"
    ),
    "12.8": (
        "nvcc: NVIDIA (R) Cuda compiler driver\n"
        "Copyright (c) 2005-2025 NVIDIA Corporation\n"
        "Built on Fri_Feb_21_20:23:50_PST_2025\n"
        "Cuda compilation tools, release 12.8, V12.8.93\n"
        "Build cuda_12.8.r12.8/compiler.35583870_0\n"
    ),
}

_CUDA = '''\
"""A fake torch.cuda."""
import os
import signal
import time
import warnings

_BUILT = {built!r}
_ARCH_LIST = {arch_list!r}
_DEVICES = {devices!r}
_WARNING = {warning!r}


def _init():
    mode = os.environ.get("FAKE_TORCH_CUDA_INIT")
    if mode == "hang":
        time.sleep(3600)
    elif mode == "crash":
        os.kill(os.getpid(), signal.SIGSEGV)


def is_available():
    _init()
    if _WARNING:
        warnings.warn(_WARNING, UserWarning)
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    return _BUILT and bool(_DEVICES) and not (visible is not None and visible.strip() in ("", "-1"))


def device_count():
    return len(_DEVICES) if is_available() else 0


def get_arch_list():
    return list(_ARCH_LIST) if is_available() else []


def get_device_name(device=0):
    return _DEVICES[device][0]


def get_device_capability(device=0):
    return tuple(_DEVICES[device][1])
'''


@functools.cache
def torch_wheel(
    version: str,
    *,
    cuda: str | None,
    arch_list: Sequence[str] = RTX4090_ARCHS,
    devices: Sequence[tuple[str, tuple[int, int]]] = (("NVIDIA GeForce RTX 4090", (8, 9)),),
    cudnn: int | None = 90100,
    cxx11_abi: bool = True,
    warning: str | None = None,
    requires: Sequence[str] = (),
) -> Wheel:
    """A fake torch. ``cuda=None`` makes a CPU build (no arch list, no cuDNN, no devices)."""
    built = cuda is not None
    files = {
        "torch/version.py": f"__version__ = {version!r}\ncuda = {cuda!r}\nhip = None\ngit_version = 'fake'\n",
        "torch/cuda/__init__.py": _CUDA.format(
            built=built, arch_list=list(arch_list) if built else [], devices=[list(d) for d in devices] if built else [],
            warning=warning,
        ),
        "torch/backends/__init__.py": "",
        "torch/backends/cudnn.py": f"def version():\n    return {cudnn if built else None!r}\n",
        "torch/_C.py": f"_GLIBCXX_USE_CXX11_ABI = {cxx11_abi!r}\n",
    }
    return build_wheel("torch", version, extra_files=_encode(files), requires_dist=list(requires))


@functools.cache
def companion_wheel(name: str, version: str, torch_pin: str | None) -> Wheel:
    """torchvision/torchaudio/xformers with ``Requires-Dist: <torch_pin>`` (e.g. ``torch==2.6.0``)."""
    return build_wheel(name, version, requires_dist=[torch_pin] if torch_pin else [])


@functools.cache
def flash_attn_wheel(version: str, *, error: str | None = None) -> Wheel:
    """flash-attn laid out as the real one: ``flash_attn/flash_attn_interface.py`` imports the
    compiled ``flash_attn_2_cuda``; with ``error``, loading that extension raises ImportError."""
    if error is None:
        ext = "def fwd(*args):\n    return None\n"
    else:
        ext = (
            "import os\n"
            f"raise ImportError({error!r}.format(site=os.path.dirname(os.path.abspath(__file__))))\n"
        )
    files = {
        "flash_attn/flash_attn_interface.py": "import torch\nimport flash_attn_2_cuda as flash_attn_gpu\n",
        "flash_attn_2_cuda.py": ext,
    }
    return build_wheel("flash-attn", version, extra_files=_encode(files), requires_dist=["torch", "einops"])


@functools.cache
def nvidia_wheel(name: str, version: str, libraries: tuple[str, ...] = ()) -> Wheel:
    """An ``nvidia-*-cu12`` library wheel: its shared objects under ``nvidia/<lib>/lib/``."""
    lib = name.removeprefix("nvidia-").rsplit("-cu", 1)[0].replace("cuda-", "cuda_")
    files = {f"nvidia/{lib}/lib/{so}": b"" for so in libraries}
    return build_wheel(name, version, extra_files=files)


def _encode(files: dict[str, str]) -> dict[str, bytes]:
    return {path: text.encode() for path, text in files.items()}


def make_venv(path: Path, wheels: Iterable[Wheel]) -> Path:
    """Create a venv at ``path`` with ``wheels`` installed; return its Python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    python = path / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    wheels = list(wheels)
    if wheels:
        with tempfile.TemporaryDirectory() as tmp:
            files = []
            for filename, data in wheels:
                (Path(tmp) / filename).write_bytes(data)
                files.append(str(Path(tmp) / filename))
            subprocess.run(
                [sys.executable, "-m", "pip", "--python", str(python), "install", "--isolated", "--quiet",
                 "--no-index", "--no-deps", "--disable-pip-version-check", *files],
                check=True,
            )
    return python


def fake_nvcc(bin_dir: Path, release: str) -> Path:
    """An executable ``nvcc`` in ``bin_dir`` that prints ``nvcc --version`` of CUDA ``release``."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    path = bin_dir / "nvcc"
    # echo is a shell builtin: the script runs with any PATH.
    path.write_text("#!/bin/sh\n" + "".join(f"echo '{line}'\n" for line in NVCC_OUTPUT[release].splitlines()))
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def fake_library(directory: Path, *names: str) -> Path:
    """Empty files named like shared libraries (``libcudnn.so.8.9.2``) in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in names:
        (directory / name).write_bytes(b"")
    return directory
