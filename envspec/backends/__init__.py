"""Backends: pure renderers from a :class:`~envspec.lockfile.Lock` to another tool's format.

``render(lock, target) -> str`` never touches the spec, the resolver or the disk; the CLI writes
the files. :func:`get_backend` finds one by name and lists the valid names when it does not.
"""

from __future__ import annotations

from collections.abc import Callable

from ..errors import EnvspecError
from ..lockfile import Lock
from . import pip

__all__ = ["BACKENDS", "BackendError", "get_backend"]

Renderer = Callable[[Lock, str], str]

BACKENDS: dict[str, Renderer] = {"pip": pip.render}


class BackendError(EnvspecError, ValueError):
    """An unknown backend, or a lock a backend cannot render."""

    code = "backend-error"
    exit_code = 2


def get_backend(name: str) -> Renderer:
    try:
        return BACKENDS[name]
    except KeyError:
        raise BackendError(f"unknown format {name!r}", hint=f"formats: {', '.join(sorted(BACKENDS))}") from None
