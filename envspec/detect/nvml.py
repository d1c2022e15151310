"""NVML through ``nvidia-ml-py`` (``import pynvml``): the library ``nvidia-smi`` itself calls.

Optional: aienv never depends on ``nvidia-ml-py``; when it is importable, detection asks NVML
first (no process to start, no output format to parse). The import is lazy and silenced: the
old ``pynvml`` distribution warns on import that it is deprecated. Like ``nvidia-smi``, NVML
numbers GPUs in PCI bus order and ignores ``CUDA_VISIBLE_DEVICES``.

A call into the driver could block; :func:`query` runs in a worker thread and gives up after
the timeout (the thread is left to finish on its own).
"""

from __future__ import annotations

import threading
import warnings
from dataclasses import dataclass
from typing import Any

from ..matrix import Arch, Matrix
from ._report import NvidiaGpu

__all__ = ["NvmlMissing", "NvmlTimeout", "query"]


class NvmlMissing(Exception):
    """``pynvml`` (nvidia-ml-py) is not installed."""


class NvmlTimeout(Exception):
    """NVML did not answer within the timeout."""


@dataclass(frozen=True)
class NvmlAnswer:
    driver: str | None
    gpus: tuple[NvidiaGpu, ...]


def query(*, timeout: float, matrix: Matrix) -> NvmlAnswer:
    """The driver version and every GPU, from NVML.

    Raises :class:`NvmlMissing`, :class:`NvmlTimeout`, or whatever NVML raised (its
    ``NVMLError`` when no driver is loaded).
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pynvml  # type: ignore[import-not-found]
    except ImportError as e:
        raise NvmlMissing("nvidia-ml-py is not installed (pip install nvidia-ml-py)") from e
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["answer"] = _ask(pynvml, matrix)
        except BaseException as e:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = e

    thread = threading.Thread(target=work, name="aienv-nvml", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise NvmlTimeout(f"NVML did not answer within {timeout:g} s")
    if "error" in box:
        raise box["error"]
    answer: NvmlAnswer = box["answer"]
    return answer


def _ask(nvml: Any, matrix: Matrix) -> NvmlAnswer:
    nvml.nvmlInit()
    try:
        driver = _text(nvml.nvmlSystemGetDriverVersion())
        gpus = []
        for index in range(nvml.nvmlDeviceGetCount()):
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            name = _text(nvml.nvmlDeviceGetName(handle))
            cc, source = None, "unknown"
            # Each per-GPU call may be missing from an old driver or fail on one GPU: the
            # fact is then unknown (the compute capability comes from the GPU table).
            reported = _maybe(getattr(nvml, "nvmlDeviceGetCudaComputeCapability", None), handle)
            if reported is not None:
                cc, source = Arch(int(reported[0]), int(reported[1])), "reported"
            elif (model := matrix.gpu(name)) is not None:
                cc, source = model.cc, "gpu-table"
            memory = _maybe(nvml.nvmlDeviceGetMemoryInfo, handle)
            uuid = _maybe(nvml.nvmlDeviceGetUUID, handle)
            gpus.append(
                NvidiaGpu(
                    index, name, cc, int(memory.total) // (1024 * 1024) if memory is not None else None,
                    _text(uuid) if uuid is not None else None, source,
                )
            )
        return NvmlAnswer(driver, tuple(gpus))
    finally:
        _maybe(nvml.nvmlShutdown)


def _maybe(call: Any, *args: Any) -> Any:
    """``call(*args)``, or None if it raises (NVMLError, or an older binding's AttributeError)."""
    try:
        return call(*args)
    except Exception:  # noqa: BLE001 - an optional fact; its absence is handled by the caller
        return None


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
