"""The loaded NVIDIA kernel module: ``/sys/module/nvidia/version`` and ``/proc/driver/nvidia/version``.

These exist only while the ``nvidia`` kernel module is loaded (not under WSL2, where the GPU
is reached through the Windows driver). They give the driver version without any tool, which
helps in containers that lack ``nvidia-smi``; they say nothing about the GPUs.

``/sys/module/nvidia/version`` holds the bare version (``550.144.03``), the file NVIDIA's
README recommends. ``/proc/driver/nvidia/version`` comes in two forms (captured outputs under
``tests/data/detect/nvidia-version/``)::

    NVRM version: NVIDIA UNIX x86_64 Kernel Module  384.98  Thu Oct 26 15:16:01 PDT 2017
    NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  565.57.01  Release Build  (dvs-builder@…)  …

the proprietary module and the open-source one ("Open Kernel Module for <arch>"), each followed
by a ``GCC version:`` line. Jetson boards (L4T) print their L4T release in the same place
(``… Open Kernel Module for aarch64  35.3.1 …``), which is not a desktop driver version.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["KernelModule", "parse_proc_version", "parse_sys_version"]

_PROC = re.compile(
    r"NVRM version: NVIDIA UNIX (?:(?P<open>Open )Kernel Module for (?P<arch1>\S+)|(?P<arch2>\S+) Kernel Module)"
    r"\s+(?P<version>\d+(?:\.\d+)+)"
)
_VERSION = re.compile(r"^\d+(?:\.\d+)+$")


@dataclass(frozen=True)
class KernelModule:
    """``version`` as printed; ``flavor`` ``open`` or ``proprietary``; ``arch`` as printed."""

    version: str
    flavor: str
    arch: str

    @property
    def is_l4t(self) -> bool:
        """A Jetson (L4T) release number rather than a desktop driver version (major < 100)."""
        return int(self.version.split(".")[0]) < 100


def parse_proc_version(text: str) -> KernelModule | None:
    """The module version in ``/proc/driver/nvidia/version``, or None if it has no NVRM line."""
    m = _PROC.search(text)
    if not m:
        return None
    return KernelModule(
        version=m.group("version"),
        flavor="open" if m.group("open") else "proprietary",
        arch=m.group("arch1") or m.group("arch2"),
    )


def parse_sys_version(text: str) -> str | None:
    """The version in ``/sys/module/nvidia/version`` (one line), or None if it is not one."""
    value = text.strip()
    return value if _VERSION.match(value) else None
