"""Detection: the facts of this machine a lock depends on, and where each came from.

:func:`detect` returns a :class:`Detection` (everything found, every source tried); its
``host`` is the :class:`~envspec.host.Host` the resolver takes. One module per source, each
with pure parsers tested on captured real outputs (``tests/data/detect/``):

- :mod:`.nvml` (nvidia-ml-py, optional), :mod:`.nvidia_smi`, :mod:`.kernel_module`
  (``/sys/module/nvidia/version``, ``/proc/driver/nvidia/version``): the NVIDIA driver and GPUs;
- :mod:`.visible`: ``CUDA_VISIBLE_DEVICES``;
- :mod:`.rocm` (``rocm_agent_enumerator``), :mod:`.pci` (``lspci``, sysfs): other accelerators,
  and GPUs with no driver loaded;
- :mod:`.system`: platform, WSL, glibc, the Python that will run the environment.

The order of sources is documented in :func:`detect`'s module, ``envspec/detect/_detect.py``.
"""

from __future__ import annotations

from ._detect import detect
from ._format import format_detection
from ._report import Detection, NvidiaGpu, PciDevice, PythonInfo, SourceResult

__all__ = ["Detection", "NvidiaGpu", "PciDevice", "PythonInfo", "SourceResult", "detect", "format_detection"]


def __dir__() -> list[str]:
    return __all__
