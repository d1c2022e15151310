"""The values detection produces: what each source said, and the whole report.

``Detection`` holds everything found on a machine; its ``host`` is the
:class:`~envspec.host.Host` the resolver takes. Only ``host`` feeds a lock: the rest (AMD and
Intel devices, WSL, the sources tried) is for people and for ``aienv doctor``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ..host import Host
from ..matrix import Arch

__all__ = ["Detection", "NvidiaGpu", "PciDevice", "PythonInfo", "SourceResult"]

Status = Literal["ok", "empty", "error", "timeout", "missing", "skipped"]


@dataclass(frozen=True)
class NvidiaGpu:
    """One NVIDIA GPU as a source reported it.

    ``index`` is the NVML / ``nvidia-smi`` index (PCI bus order, not CUDA's default order).
    ``cc`` is None when neither the source nor the GPU table knows it; ``cc_source`` says which
    (``reported`` | ``gpu-table`` | ``declared`` by an override | ``unknown``).
    """

    index: int
    name: str
    cc: Arch | None
    memory_mib: int | None = None
    uuid: str | None = None
    cc_source: str = "reported"

    def to_dict(self) -> dict[str, object]:
        return {
            "index": self.index,
            "name": self.name,
            "compute-capability": str(self.cc) if self.cc else None,
            "compute-capability-source": self.cc_source,
            "memory-mib": self.memory_mib,
            "uuid": self.uuid,
        }


@dataclass(frozen=True)
class PciDevice:
    """A display controller on the PCI bus (from ``lspci`` or ``/sys/bus/pci/devices``).

    ``vendor`` is ``nvidia`` | ``amd`` | ``intel`` | ``other``; ``driver`` the kernel driver
    bound to it (None: none bound, or the source did not say); ``integrated`` is True/False
    where it can be told (Intel only, see :func:`envspec.detect.pci.is_integrated`), else None.
    """

    slot: str
    vendor: str
    kind: str
    description: str
    driver: str | None = None
    modules: tuple[str, ...] = ()
    integrated: bool | None = None
    driver_known: bool = False  # the source reports bound drivers (lspci -k, sysfs)

    def to_dict(self) -> dict[str, object]:
        return {
            "slot": self.slot,
            "vendor": self.vendor,
            "class": self.kind,
            "description": self.description,
            "driver": self.driver,
            "modules": list(self.modules),
            "integrated": self.integrated,
        }


@dataclass(frozen=True)
class PythonInfo:
    """The interpreter that will run the environment (this one, or ``--python``)."""

    executable: str
    version: tuple[int, int, int]
    implementation: str
    sys_platform: str
    machine: str
    glibc: str | None
    libc: str | None  # "glibc", "musl", … as platform.libc_ver() names it, when it does
    bits: int
    macos: str | None = None

    @property
    def version_text(self) -> str:
        return ".".join(str(p) for p in self.version)

    def to_dict(self) -> dict[str, object]:
        return {
            "executable": self.executable,
            "version": self.version_text,
            "implementation": self.implementation,
            "sys-platform": self.sys_platform,
            "machine": self.machine,
            "libc": self.libc,
            "bits": self.bits,
        }


@dataclass
class SourceResult:
    """What one source did: ``status``, a one-line ``detail``, and how long it took.

    ``used`` is True when the report took a fact from it.
    """

    name: str
    status: Status
    detail: str = ""
    seconds: float = 0.0
    used: bool = False

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "status": self.status,
            "detail": self.detail,
            "seconds": round(self.seconds, 3),
            "used": self.used,
        }


@dataclass(frozen=True)
class Detection:
    """Everything detection found on one machine.

    ``gpus`` are the NVIDIA GPUs a CUDA program will see (after ``CUDA_VISIBLE_DEVICES``);
    ``all_gpus`` every one the sources listed. ``driver_source`` names where the driver
    version came from (``--driver``, ``AIENV_DRIVER``, ``nvml``, ``nvidia-smi``,
    ``/sys/module/nvidia/version``, ``/proc/driver/nvidia/version``). ``accelerator`` is what
    the machine could run (``cuda`` | ``rocm`` | ``xpu`` | ``mps`` | ``cpu``): a summary for
    people; the resolver reads ``host`` only.
    """

    host: Host
    platform: str
    python: PythonInfo
    glibc: str | None
    driver: str | None
    driver_source: str | None
    gpus: tuple[NvidiaGpu, ...]
    all_gpus: tuple[NvidiaGpu, ...]
    gpu_source: str | None
    cuda_visible_devices: str | None
    amd_gfx: tuple[str, ...] = ()
    pci: tuple[PciDevice, ...] = ()
    wsl: str | None = None
    accelerator: str = "cpu"
    sources: tuple[SourceResult, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, object]:
        """The whole report as plain data (``aienv detect --json``)."""
        return {
            "platform": self.platform,
            "python": self.python.to_dict(),
            "glibc": self.glibc,
            "wsl": self.wsl,
            "driver": {"version": self.driver, "source": self.driver_source} if self.driver else None,
            "gpus": [g.to_dict() for g in self.gpus],
            "gpu-source": self.gpu_source,
            "cuda-visible-devices": (
                {"value": self.cuda_visible_devices, "all-gpus": [g.to_dict() for g in self.all_gpus]}
                if self.cuda_visible_devices is not None
                else None
            ),
            "amd-gfx": list(self.amd_gfx),
            "pci-display-devices": [d.to_dict() for d in self.pci],
            "accelerator": self.accelerator,
            "host": self.host.to_dict(),
            "sources": [s.to_dict() for s in self.sources],
            "notes": list(self.notes),
        }
