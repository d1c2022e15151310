"""A finding of ``aienv doctor``: what is wrong, the facts it rests on, and how to fix it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["CODES", "SEVERITIES", "Finding", "Severity", "count", "sort_findings", "summary"]

Severity = Literal["error", "warning", "info"]
#: Most severe first. An ``error`` means the environment cannot do what it is for (doctor exits 1).
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info")


#: Every finding code: its severity (``a/b`` where the facts decide) and what it means.
CODES: dict[str, tuple[str, str]] = {
    "probe-incomplete": ("error", "the environment's Python hung or crashed in the probe (importing torch, initializing CUDA)"),
    "probe-step-failed": ("warning", "one step of the probe could not read what it reads"),
    "torch-not-installed": ("info", "torch is not installed"),
    "torch-import-error": ("error", "`import torch` fails"),
    "torch-cpu-build": ("error", "a CPU build of torch on a machine with an NVIDIA GPU (\"Torch not compiled with CUDA enabled\")"),
    "driver-too-old": ("error", "the driver is older than the floor of torch's CUDA, under the lock's policy (default minor-version)"),
    "gpu-arch-not-in-build": ("error", "a GPU has no kernels in torch's arch list: no cubin it runs, no older PTX (\"no kernel image\"); for AMD GPUs, a gfx not in the ROCm build's list"),
    "ptx-jit-needs-newer-driver": ("error", "a GPU runs torch only through PTX JIT, which needs the toolkit's driver, not the minor-version floor"),
    "cuda-not-available": ("error", "a CUDA build on a GPU machine whose driver fits, yet torch.cuda.is_available() is False"),
    "torch-not-rocm-build": ("error", "torch is a CUDA or CPU build on a machine with AMD GPUs, for a ROCm target"),
    "rocm-not-available": ("error", "a ROCm build of torch on a machine with AMD GPUs, yet torch.cuda.is_available() is False"),
    "cuda-visible-devices-hides-gpus": ("warning", "CUDA_VISIBLE_DEVICES (empty, -1) hides every GPU from a CUDA build of torch"),
    "companion-torch-mismatch": ("error", "torchvision/torchaudio/xformers require another torch (their Requires-Dist, else aienv's data)"),
    "companion-variant-mismatch": ("error/warning", "a companion's local label names another variant (+cu121 vs +cu128; warning within one CUDA major)"),
    "companion-import-error": ("error", "a companion that pairs with torch still fails to import"),
    "flash-attn-build-mismatch": ("error", "flash-attn's extension does not load: built for another torch, C++ ABI or CUDA (undefined symbol)"),
    "flash-attn-import-error": ("error", "flash-attn fails to import for another reason"),
    "flash-attn-gpu-unsupported": ("error", "FlashAttention-2 on a GPU older than sm_80"),
    "system-lib-shadows-wheel": ("error/warning", "a cuDNN/cudart/cuBLAS of the wheel's major on LD_LIBRARY_PATH is loaded instead of the nvidia-* wheel's (error when older, or torch reports it)"),
    "system-lib-other-major": ("warning", "LD_LIBRARY_PATH holds another major of a library an nvidia-* wheel provides"),
    "nvcc-missing": ("error", "the lock plans a source build and no nvcc runs (CUDA_HOME, then PATH)"),
    "nvcc-cuda-mismatch": ("error", "the lock plans a source build and nvcc's CUDA major differs from torch's"),
    "system-library-missing": ("error", "a package of the lock loads CUDA/cuDNN/NCCL from the machine (its `system` list) and the loader finds none that fits"),
    "system-library-dev-name": ("warning", "PaddlePaddle 2.x opens libcudnn.so/libcublas.so by their development names; only the versioned ones are installed"),
    "framework-import-error": ("error", "`import tensorflow`, `import jax` or `import paddle` fails"),
    "framework-cpu-build": ("error", "a CPU build of TensorFlow/PaddlePaddle (or JAX without its CUDA plugin) on a machine with NVIDIA GPUs, for a CUDA target"),
    "framework-no-gpu": ("error", "a CUDA build of TensorFlow/JAX/PaddlePaddle that sees no GPU on a machine with NVIDIA GPUs"),
    "paddle-run-check-failed": ("error", "paddle.utils.run_check() raises"),
    "paddle-multi-gpu-failed": ("error", "paddle.utils.run_check() works on one GPU only, for a target with several (NCCL)"),
    "lock-python-mismatch": ("error", "the environment's Python is not the lock target's"),
    "lock-version-mismatch": ("error", "installed versions differ from the lock (every package of a full closure; the stack of a stack lock)"),
    "lock-package-missing": ("error", "packages of the lock are not installed"),
    "lock-cuda-mismatch": ("error", "torch's CUDA (torch.version.cuda) is not the lock target's, or a CUDA build where the target is CPU"),
}


@dataclass(frozen=True)
class Finding:
    """One problem (or note) about an environment.

    ``code`` is stable and kebab-case (for ``--json``, scripts and the docs); ``message`` is one
    line; ``evidence`` maps each fact the finding rests on to its value (plain JSON data);
    ``fix`` is a concrete command where there is one, else what to do.
    """

    code: str
    severity: Severity
    message: str
    evidence: Mapping[str, Any] = field(default_factory=dict)
    fix: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "code": self.code, "severity": self.severity, "message": self.message, "evidence": dict(self.evidence),
        }
        if self.fix:
            out["fix"] = self.fix
        return out


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Most severe first; within a severity, in the order the checks found them."""
    return sorted(findings, key=lambda f: SEVERITIES.index(f.severity))


def count(findings: Iterable[Finding]) -> dict[Severity, int]:
    counts: dict[Severity, int] = dict.fromkeys(SEVERITIES, 0)
    for f in findings:
        counts[f.severity] += 1
    return counts


def summary(findings: Iterable[Finding]) -> str:
    """One line: ``2 errors, 1 warning: the environment is broken``."""
    counts = count(findings)
    parts = [f"{n} {s}{'s' if n != 1 and s != 'info' else ''}" for s, n in counts.items() if n]
    if counts["error"]:
        verdict = "the environment is broken"
    elif counts["warning"]:
        verdict = "the environment works, with warnings"
    else:
        verdict = "no problems found"
    return f"{', '.join(parts)}: {verdict}" if parts else verdict
