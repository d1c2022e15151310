"""Verification of a new environment before it is swapped in: ``aienv doctor``'s probe and
checks, run with the new environment's Python against this machine and the applied target.

The probe imports torch and its companions and extensions (flash-attn), reads torch's version,
CUDA, arch list and devices, and imports TensorFlow, JAX and PaddlePaddle (their GPUs; Paddle's
``run_check()``); the checks then hold it to the lock (every installed version, the Python,
torch's CUDA, the CUDA libraries a package loads from the machine) and to the machine (a CUDA
build on a GPU machine, ``cuda.is_available()``, kernels for every GPU's arch, the driver floor,
each framework seeing the GPUs). Any error-severity finding fails the apply.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from ..doctor import Environment, Finding, RunningProbe, diagnose, format_report
from ..host import Host
from ..matrix import Matrix
from ._errors import VerifyError
from ._match import TargetChoice

__all__ = ["HOST_FIT_CODES", "verify"]

#: Findings about whether this machine fits the build (not about the installed files): under
#: ``--force`` the user applied a target the machine does not fit, so they are expected and kept
#: as warnings.
HOST_FIT_CODES = frozenset({
    "driver-too-old", "gpu-arch-not-in-build", "ptx-jit-needs-newer-driver", "cuda-not-available",
    "flash-attn-gpu-unsupported", "torch-cpu-build", "framework-cpu-build", "framework-no-gpu", "system-library-missing",
    "paddle-multi-gpu-failed",
})


def _asked_for(finding: Finding, choice: TargetChoice) -> bool:
    """A CPU target chosen on a GPU machine: its CPU build is what was asked for."""
    return finding.code in ("torch-cpu-build", "framework-cpu-build") and choice.target.accelerator in ("cpu", "mps")


def verify(probe: RunningProbe, choice: TargetChoice, host: Host, matrix: Matrix, *, lock_name: str) -> tuple[Environment, list[Finding]]:
    """Take what ``probe`` (started in the new environment with
    :func:`~envspec.doctor.start_probe`) read, and check it. Returns the environment and every
    finding; raises :class:`VerifyError` (with the doctor report) when any is an error."""
    env = probe.result()
    findings = [
        replace(f, severity="warning", message=f"{f.message} (expected: --force)")
        if choice.overridden and f.severity == "error" and f.code in HOST_FIT_CODES else f
        for f in diagnose(env, host, choice.target, target_name=choice.name, lock_name=lock_name, matrix=matrix)
        if not _asked_for(f, choice)
    ]
    errors: Sequence[Finding] = [f for f in findings if f.severity == "error"]
    if errors:
        report = format_report(env, host, findings, lock=lock_name, target=choice.name)
        codes = ", ".join(sorted({f.code for f in errors}))
        raise VerifyError(
            f"the new environment failed verification ({codes}); it was not swapped in, the previous one is untouched",
            findings, report=report,
            hint="read the findings above; `aienv doctor --prefix DIR` gives the same report for an environment",
        )
    return env, findings
