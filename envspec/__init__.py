"""aienv (package ``envspec``): lock and reproduce GPU/CUDA/framework environments.

Public API: :func:`load_spec` reads ``aienv.toml``; :func:`hosts_from_spec` builds the targets;
:func:`lock_spec` resolves them into a :class:`Lock`; :func:`read_lock`/:func:`write_lock` read
and write ``aienv.lock``. Errors derive from :class:`EnvspecError`.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    from .errors import EnvspecError, ResolutionError, SpecError
    from .host import Host, hosts_from_spec, probe_host
    from .lockfile import Lock, read_lock, write_lock
    from .matrix import get_matrix
    from .resolver import lock_spec, resolve_target
    from .spec import Spec, load_spec

#: Where each public name lives. Imported on first use (PEP 562): ``aienv --version``, ``apply``
#: and ``detect`` need neither the resolver nor the spec models, whose imports (pydantic's
#: schema building, resolvelib) cost a tenth of a second or more.
_LAZY = {
    "EnvspecError": "errors", "ResolutionError": "errors", "SpecError": "errors",
    "Host": "host", "hosts_from_spec": "host", "probe_host": "host",
    "Lock": "lockfile", "read_lock": "lockfile", "write_lock": "lockfile",
    "get_matrix": "matrix",
    "lock_spec": "resolver", "resolve_target": "resolver",
    "Spec": "spec", "load_spec": "spec",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


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
