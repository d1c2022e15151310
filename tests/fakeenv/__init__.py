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
    "jax_plugin_wheel",
    "jax_wheel",
    "make_venv",
    "nvidia_wheel",
    "paddle_wheel",
    "tensorflow_wheel",
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


# --- TensorFlow, JAX, PaddlePaddle ------------------------------------------------------------

#: What every fake framework shares: the GPUs it sees are the fake machine's (FAKE_GPUS, default
#: 1), hidden as real CUDA hides them by an empty or -1 CUDA_VISIBLE_DEVICES; and a CUDA library
#: "loads" when a file of that name is in a directory of LD_LIBRARY_PATH (dlopen's first place).
_FAKE_MACHINE = """\
import os


def visible_gpus():
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return 0
    return int(os.environ.get("FAKE_GPUS", "1"))


def loadable(name):
    return any(os.path.exists(os.path.join(d, name)) for d in os.environ.get("LD_LIBRARY_PATH", "").split(os.pathsep) if d)
"""


@functools.cache
def tensorflow_wheel(version: str, *, cuda: str | None = "12.5.1", cudnn: str = "9", needs: tuple[str, ...] = ()) -> Wheel:
    """A fake TensorFlow: ``tf.sysconfig.get_build_info()`` and ``tf.config.list_physical_devices``
    as the real one answers them; ``cuda=None`` is a CPU build. ``needs``: CUDA libraries
    (``libcudart.so.11.0``) it loads from the machine, as TensorFlow before 2.14 does: without
    them it logs and sees no GPU."""
    info = {"is_cuda_build": cuda is not None, "cuda_version": cuda or "", "cudnn_version": cudnn if cuda else ""}
    files = {
        "tensorflow/__init__.py": f"__version__ = {version!r}\nfrom . import config, sysconfig\n",
        "tensorflow/_machine.py": _FAKE_MACHINE,
        "tensorflow/sysconfig.py": f"def get_build_info():\n    return dict({info!r})\n",
        "tensorflow/config.py": (
            "import sys\nfrom . import _machine\n\n\nclass PhysicalDevice:\n"
            "    def __init__(self, name, device_type):\n        self.name, self.device_type = name, device_type\n\n\n"
            "def list_physical_devices(device_type=None):\n"
            f"    built, needs = {cuda is not None!r}, {list(needs)!r}\n"
            "    missing = [n for n in needs if not _machine.loadable(n)]\n"
            "    if missing:\n"
            "        print(\"Could not load dynamic library '%s'\" % missing[0], file=sys.stderr)\n"
            "    n = _machine.visible_gpus() if built and not missing else 0\n"
            "    gpus = [PhysicalDevice('/physical_device:GPU:%d' % i, 'GPU') for i in range(n)]\n"
            "    cpus = [PhysicalDevice('/physical_device:CPU:0', 'CPU')]\n"
            "    return {'GPU': gpus, 'CPU': cpus}.get(device_type, cpus + gpus)\n"
        ),
    }
    return build_wheel("tensorflow", version, extra_files=_encode(files))


@functools.cache
def jax_wheel(version: str) -> Wheel:
    """A fake JAX: its backend is ``gpu`` when a CUDA plugin (:func:`jax_plugin_wheel`) is
    installed and a GPU is visible, else ``cpu``, as JAX falls back."""
    files = {
        "jax/__init__.py": (
            f"__version__ = {version!r}\nimport importlib.util\nfrom . import _machine\n\n\n"
            "class Device:\n    def __init__(self, platform, i):\n        self.platform, self.id = platform, i\n\n"
            "    def __str__(self):\n        return '%s:%d' % ('cuda' if self.platform == 'gpu' else 'TFRT_CPU', self.id)\n\n\n"
            "def default_backend():\n"
            "    plugin = importlib.util.find_spec('jax_cuda12_plugin') or importlib.util.find_spec('jax_cuda13_plugin')\n"
            "    return 'gpu' if plugin is not None and _machine.visible_gpus() else 'cpu'\n\n\n"
            "def devices():\n"
            "    if default_backend() == 'gpu':\n"
            "        return [Device('gpu', i) for i in range(_machine.visible_gpus())]\n"
            "    return [Device('cpu', 0)]\n"
        ),
        "jax/_machine.py": _FAKE_MACHINE,
    }
    return build_wheel("jax", version, extra_files=_encode(files))


@functools.cache
def jax_plugin_wheel(version: str, cuda_major: int = 12) -> Wheel:
    """``jax-cudaNN-plugin``: its module is all the fake JAX looks for."""
    return build_wheel(f"jax-cuda{cuda_major}-plugin", version, extra_files=_encode({f"jax_cuda{cuda_major}_plugin/__init__.py": ""}))


#: What paddle.utils.run_check() prints (python/paddle/utils/install_check.py).
_PADDLE_UTILS = """\
import logging

from . import _machine, device


def run_check():
    print("Running verify PaddlePaddle program ... ")
    gpus = device.cuda.device_count() if device.is_compiled_with_cuda() else 0
    kind, places = ("GPU", gpus) if gpus else ("CPU", 2)
    if gpus:
        for name in ("libcudnn.so", "libcublas.so"):
            if not _machine.loadable(name):
                raise RuntimeError(
                    "(PreconditionNotMet) The third-party dynamic library (%s) that Paddle depends on is not configured "
                    "correctly. (error code is %s: cannot open shared object file: No such file or directory)" % (name, name)
                )
    print("PaddlePaddle works well on 1 %s." % kind)
    if gpus > 1 and not _machine.loadable("libnccl.so.2"):
        logging.warning("PaddlePaddle meets some problem with %d %ss." % (places, kind))
        print("PaddlePaddle is installed successfully ONLY for single %s! Let's start deep learning with PaddlePaddle now." % kind)
        return
    print("PaddlePaddle works well on %d %ss." % (places, kind))
    print("PaddlePaddle is installed successfully! Let's start deep learning with PaddlePaddle now.")
"""


@functools.cache
def paddle_wheel(version: str, *, name: str = "paddlepaddle-gpu", cuda: str | None = "12.0", cudnn: str = "8.9.1",
                 tag: str = "py3-none-any") -> Wheel:
    """A fake PaddlePaddle 2.x: ``paddle.device.is_compiled_with_cuda()``, ``paddle.version.cuda()``
    and a ``paddle.utils.run_check()`` that, as the real one does on a GPU build, opens
    ``libcudnn.so`` and ``libcublas.so`` from the machine and fails with Paddle's message without
    them, and works on one GPU only without NCCL. ``cuda=None``: the CPU package."""
    files = {
        "paddle/__init__.py": f"__version__ = {version!r}\nfrom . import device, utils, version\n",
        "paddle/_machine.py": _FAKE_MACHINE,
        "paddle/version.py": f"def cuda():\n    return {cuda or 'False'!r}\n\n\ndef cudnn():\n    return {cudnn if cuda else 'False'!r}\n",
        "paddle/device/__init__.py": f"from . import cuda\n\n\ndef is_compiled_with_cuda():\n    return {cuda is not None!r}\n",
        "paddle/device/cuda.py": f"from .. import _machine\n\n\ndef device_count():\n    return _machine.visible_gpus() if {cuda is not None!r} else 0\n",
        "paddle/utils/__init__.py": "from ._check import run_check\n",
        "paddle/utils/_check.py": _PADDLE_UTILS.replace("from . import _machine, device", "from .. import _machine, device"),
    }
    return build_wheel(name, version, tag=tag, extra_files=_encode(files))


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
