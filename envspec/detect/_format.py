"""The human-readable form of a :class:`Detection` (``aienv detect`` without ``--json``)."""

from __future__ import annotations

from ._report import Detection, NvidiaGpu

__all__ = ["format_detection"]

_WSL = {"wsl1": "WSL 1", "wsl2": "WSL 2"}


def format_detection(d: Detection) -> str:
    """A few aligned lines: platform, Python, glibc, driver, GPUs, other accelerators, the
    sources tried, and notes. The text ends with a newline."""
    rows: list[tuple[str, str]] = []
    rows.append(("platform", d.platform + (f" ({_WSL[d.wsl]})" if d.wsl else "")))
    p = d.python
    rows.append(("python", f"{p.implementation} {p.version_text} ({p.executable})"))
    if d.platform.startswith("linux"):
        rows.append(("glibc", d.glibc or f"none found ({p.libc or 'not glibc'})"))
    rows.append(("driver", f"{d.driver} (from {d.driver_source})" if d.driver else "none found"))
    if d.gpus:
        for i, gpu in enumerate(d.gpus):
            rows.append(("gpus" if i == 0 else "", _gpu(gpu)))
    else:
        rows.append(("gpus", "none" if d.gpu_source == "override" else "none found"))
    if d.cuda_visible_devices is not None:
        rows.append(
            ("CUDA_VISIBLE_DEVICES", f"{d.cuda_visible_devices!r}: {len(d.gpus)} of {len(d.all_gpus)} GPUs visible")
        )
    others = [f"AMD {g}" for g in d.amd_gfx]
    others += [
        f"{dev.description} ({'integrated' if dev.integrated else 'discrete'})"
        for dev in d.pci
        if dev.vendor == "intel" and dev.integrated is not None
    ]
    if others:
        rows.append(("other accelerators", "; ".join(others)))
    rows.append(("accelerator", d.accelerator))
    tried = [f"{s.name} {s.status}" + (" (used)" if s.used else "") for s in d.sources]
    rows.append(("sources", ", ".join(tried)))
    width = max(len(k) for k, _ in rows) + 2
    lines = [f"{(k + ':') if k else '':<{width}}{v}" for k, v in rows]
    lines += [f"note: {n}" for n in d.notes]
    return "\n".join(lines) + "\n"


def _gpu(gpu: NvidiaGpu) -> str:
    cc = f"compute capability {gpu.cc}" if gpu.cc else "compute capability unknown"
    if gpu.cc and gpu.cc_source == "gpu-table":
        cc += " (from the GPU table)"
    memory = f", {gpu.memory_mib} MiB" if gpu.memory_mib else ""
    return f"{gpu.index}: {gpu.name}, {cc}{memory}"
