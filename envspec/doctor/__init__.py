"""``aienv doctor``: what is wrong with a Python environment on this machine, and how to fix it.

Three steps, kept apart so each can be tested alone:

1. :func:`probe_environment` runs a small stdlib-only script with the environment's own Python
   (``find_python(prefix)``, or this interpreter) and returns an :class:`Environment`: the
   installed distributions, what torch says about itself, which companions and extensions
   import, CUDA libraries on ``LD_LIBRARY_PATH``, the ``nvcc`` a source build would use.
   :func:`start_probe` starts it and returns at once, for a caller with other work meanwhile.
2. The host comes from :func:`envspec.host.probe_host` (or any :class:`~envspec.host.Host`),
   and the lock's target from :func:`select_target`.
3. :func:`diagnose` compares them: pure checks, each yielding :class:`Finding`\\ s with a
   stable code, the evidence and a concrete fix (see :mod:`envspec.doctor.checks`).

The names are imported from their modules when first used (PEP 562): the probe's module needs
only ``packaging``, while the checks bring in the lock's models (pydantic) and the matrix, and
``aienv apply`` starts the probe before it imports those.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import exports

if TYPE_CHECKING:
    from ._lock import select_target
    from .checks import diagnose
    from .environment import (
        DEFAULT_TIMEOUT,
        Environment,
        ProbeError,
        RunningProbe,
        find_python,
        probe_environment,
        start_probe,
    )
    from .findings import SEVERITIES, Finding, summary
    from .report import format_report

#: Where each public name lives.
_HOME = {
    "select_target": "._lock",
    "diagnose": ".checks",
    "DEFAULT_TIMEOUT": ".environment",
    "Environment": ".environment",
    "ProbeError": ".environment",
    "RunningProbe": ".environment",
    "find_python": ".environment",
    "probe_environment": ".environment",
    "start_probe": ".environment",
    "SEVERITIES": ".findings",
    "Finding": ".findings",
    "summary": ".findings",
    "format_report": ".report",
}

__all__ = [
    "DEFAULT_TIMEOUT",
    "SEVERITIES",
    "Environment",
    "Finding",
    "ProbeError",
    "RunningProbe",
    "diagnose",
    "find_python",
    "format_report",
    "probe_environment",
    "select_target",
    "start_probe",
    "summary",
]
assert set(__all__) == set(_HOME)


__getattr__, __dir__ = exports(__name__, _HOME)
