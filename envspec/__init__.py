"""aienv (package ``envspec``): lock and reproduce GPU/CUDA/framework environments.

Public API: :func:`load_spec` reads ``aienv.toml``; :func:`hosts_from_spec` builds the targets;
:func:`lock_spec` resolves them into a :class:`Lock`; :func:`read_lock`/:func:`write_lock` read
and write ``aienv.lock``. Errors derive from :class:`EnvspecError`.
"""

from __future__ import annotations

from ._version import __version__
from .errors import EnvspecError, ResolutionError, SpecError
from .host import Host, hosts_from_spec, probe_host
from .lockfile import Lock, read_lock, write_lock
from .matrix import get_matrix
from .resolver import lock_spec, resolve_target
from .spec import Spec, load_spec

__all__ = [
    "EnvspecError",
    "Host",
    "Lock",
    "ResolutionError",
    "Spec",
    "SpecError",
    "__version__",
    "get_matrix",
    "hosts_from_spec",
    "load_spec",
    "lock_spec",
    "probe_host",
    "read_lock",
    "resolve_target",
    "write_lock",
]
