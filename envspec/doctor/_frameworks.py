"""The checks of the frameworks beside torch (TensorFlow, JAX, PaddlePaddle) and of the CUDA
libraries some of their builds load from the machine.

Each framework is judged by its own words, as its documentation tells users to check an install:
TensorFlow lists its GPUs (``tf.config.list_physical_devices("GPU")``), JAX names its backend and
devices, PaddlePaddle runs ``paddle.utils.run_check()``. On a machine with NVIDIA GPUs and a lock
target that uses them, a framework that cannot see them is an error; under a CPU target it is
what was asked for.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from ..detect.libraries import unmet_system
from ._context import Context
from .environment import FrameworkInfo
from .findings import Finding

__all__ = ["check_frameworks", "check_system_libraries"]

#: The distributions each framework's module comes from, and the one the lock would name.
_DISTRIBUTIONS = {
    "tensorflow": ("tensorflow", "tensorflow-cpu", "tensorflow-macos", "tensorflow-intel"),
    "jax": ("jax", "jaxlib"),
    "paddle": ("paddlepaddle-gpu", "paddlepaddle"),
}
_IMPORT = {"tensorflow": "import tensorflow", "jax": "import jax", "paddle": "import paddle"}
#: How each framework is told to use a GPU, for the fix when no lock says it.
_CUDA_BUILD = {
    "tensorflow": "pip install 'tensorflow[and-cuda]' (TensorFlow >= 2.14 brings its CUDA libraries)",
    "jax": "pip install 'jax[cuda12]' (or jax[cuda13] with a driver >= 580)",
    "paddle": "install paddlepaddle-gpu from Paddle's index for your CUDA (https://www.paddlepaddle.org.cn/packages/stable/cuXYZ/)",
}
_MISSING_LIBRARY = re.compile(r"lib(cudart|cudnn|cublas\w*|nccl|cufft|curand|cusolver|cusparse)\.so[.\d]*")


def _uses_gpus(ctx: Context) -> bool:
    """This machine has NVIDIA GPUs and the environment is meant to use them (a CUDA target, or no
    lock target to say otherwise)."""
    if not ctx.host.gpus:
        return False
    return ctx.target is None or ctx.target.accelerator == "cuda"


def _installed(ctx: Context, name: str) -> str | None:
    """The distribution the framework's module comes from (the first installed)."""
    return next((d for d in _DISTRIBUTIONS[name] if ctx.env.version_of(d) is not None), None)


def _reinstall(ctx: Context, dist: str | None) -> str | None:
    """The command that installs the lock's ``dist``, if the lock has it."""
    return ctx.lock_fix([dist]) if dist else None


def check_frameworks(ctx: Context) -> Iterator[Finding]:
    for name, info in sorted(ctx.env.frameworks.items()):
        if name not in _DISTRIBUTIONS:
            continue
        if not info.imported:
            yield _import_error(ctx, name, info)
            continue
        yield from _gpu_findings(ctx, name, info)
        if name == "paddle" and info.run_check is not None:
            yield from _run_check(ctx, info)


def _last_line(text: str) -> str:
    """The line a Python error ends with (``OSError: …``), shortened for a message."""
    return text.strip().splitlines()[-1][:300] if text.strip() else text


def _import_error(ctx: Context, name: str, info: FrameworkInfo) -> Finding:
    error = info.import_error or ""
    dist = _installed(ctx, name)
    library = _MISSING_LIBRARY.search(error)
    message = f"`{_IMPORT[name]}` fails: {_last_line(error)}"
    fix = _reinstall(ctx, dist) or f"reinstall {name} (pip install --force-reinstall {dist or name})"
    if library and "cannot open shared object file" in error:
        message += f" ({library.group(0)} is a CUDA library this build loads from the machine)"
        fix = "install the CUDA libraries the lock names under `system` for this package (the system-library findings say which)"
    return Finding("framework-import-error", "error", message, {"framework": name, "distribution": dist, "error": error}, fix)


def _gpu_findings(ctx: Context, name: str, info: FrameworkInfo) -> Iterator[Finding]:
    if not _uses_gpus(ctx):
        return
    dist = _installed(ctx, name)
    if name == "jax":  # JAX's CUDA is its plugin distribution
        cuda_build: bool | None = any(d.startswith(("jax-cuda", "jax-rocm")) for d in ctx.env.distributions)
    else:
        cuda_build = info.cuda_build
    gpus = ", ".join(g for g, _ in ctx.gpus)
    evidence = {"framework": name, "version": info.version, "distribution": dist, "GPUs": gpus}
    if cuda_build is False:
        yield Finding(
            "framework-cpu-build", "error",
            f"{name} {info.version or ''} is a CPU build ({dist}"
            + (", no jax-cudaNN-plugin installed" if name == "jax" else "") + f") on a machine with NVIDIA GPUs ({gpus})",
            evidence, _reinstall(ctx, dist) or _CUDA_BUILD[name],
        )
        return
    if name == "paddle" and info.device_count is None:
        return  # Paddle's devices are judged by run_check
    seen = info.device_count if name == "paddle" else (len(info.gpus) if info.gpus is not None else None)
    if name == "jax" and info.backend not in (None, "gpu", "cuda"):
        seen = 0
    if seen == 0:
        evidence.update({"cuda": info.cuda, "cudnn": info.cudnn, "backend": info.backend, "errors": dict(info.errors) or None})
        yield Finding(
            "framework-no-gpu", "error",
            f"{name} {info.version or ''} is a CUDA build but sees no GPU on a machine with NVIDIA GPUs ({gpus})"
            + (f"; its backend is {info.backend}" if name == "jax" and info.backend else ""),
            {k: v for k, v in evidence.items() if v is not None},
            "check what it logged when it started (a CUDA library it could not load, a driver too old for its CUDA); "
            "`aienv detect` shows the driver and CUDA_VISIBLE_DEVICES",
        )


def _run_check(ctx: Context, info: FrameworkInfo) -> Iterator[Finding]:
    ok, error, output = info.run_check or (True, None, "")
    lines = [line for line in output.splitlines() if line.strip()]
    evidence = {"version": info.version, "run_check output": "\n".join(lines[-6:]), "error": error}
    if not ok:
        yield Finding(
            "paddle-run-check-failed", "error",
            f"paddle.utils.run_check() fails: {_last_line(error) if error else 'no reason given'}",
            {k: v for k, v in evidence.items() if v},
            _reinstall(ctx, _installed(ctx, "paddle")) or "read the error above; Paddle's install guide lists the CUDA/cuDNN each build needs",
        )
        return
    several = ctx.target is not None and len(ctx.target.gpus) > 1
    if several and any("successfully ONLY for single" in line for line in lines):
        yield Finding(
            "paddle-multi-gpu-failed", "error",
            f"paddle.utils.run_check() works on one GPU only, and target {ctx.target_name!r} has {len(ctx.target.gpus)}: "  # type: ignore[union-attr]
            "Paddle names NCCL missing, GPUs busy or not visible",
            {k: v for k, v in evidence.items() if v},
            "install NCCL (NVIDIA's libnccl2 and libnccl-dev packages) and make every GPU visible (CUDA_VISIBLE_DEVICES)",
        )


def check_system_libraries(ctx: Context) -> Iterator[Finding]:
    target = ctx.target
    if target is None or target.accelerator != "cuda":
        return
    libraries = ctx.host.libraries()
    if libraries is None:
        return
    for package in target.packages:
        if not package.system:
            continue
        for unmet in unmet_system(package.name, package.version, package.system, libraries):
            evidence = {"package": unmet.package, "requires": unmet.requirement, "found": list(unmet.found)}
            if unmet.severity == "error":
                yield Finding("system-library-missing", "error", unmet.message, evidence, unmet.fix)
            else:
                yield Finding("system-library-dev-name", "warning", unmet.message, evidence, unmet.fix)
