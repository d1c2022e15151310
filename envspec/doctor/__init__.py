"""``aienv doctor``: what is wrong with a Python environment on this machine, and how to fix it.

Three steps, kept apart so each can be tested alone:

1. :func:`probe_environment` runs a small stdlib-only script with the environment's own Python
   (``find_python(prefix)``, or this interpreter) and returns an :class:`Environment`: the
   installed distributions, what torch says about itself, which companions and extensions
   import, CUDA libraries on ``LD_LIBRARY_PATH``, the ``nvcc`` a source build would use.
2. The host comes from :func:`envspec.host.probe_host` (or any :class:`~envspec.host.Host`),
   and the lock's target from :func:`select_target`.
3. :func:`diagnose` compares them: pure checks, each yielding :class:`Finding`\\ s with a
   stable code, the evidence and a concrete fix (see :mod:`envspec.doctor.checks`).
"""

from __future__ import annotations

from ._lock import select_target
from .checks import diagnose
from .environment import (
    DEFAULT_TIMEOUT,
    Environment,
    ProbeError,
    find_python,
    probe_environment,
)
from .findings import SEVERITIES, Finding, summary
from .report import format_report

__all__ = [
    "DEFAULT_TIMEOUT",
    "SEVERITIES",
    "Environment",
    "Finding",
    "ProbeError",
    "diagnose",
    "find_python",
    "format_report",
    "probe_environment",
    "select_target",
    "summary",
]
