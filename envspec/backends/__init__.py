"""Backends: pure renderers from a :class:`~envspec.lockfile.Lock` to another tool's format.

A :class:`Backend`'s ``render(lock, target) -> str`` never touches the spec, the resolver or the
disk; the CLI writes the files (atomically). :func:`get_backend` finds one by name and lists the
valid names when it does not. Every backend renders one target of a full-closure lock and raises
:class:`RenderError` for a lock it cannot make installable.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib import import_module
from typing import Any

from ..errors import EnvspecError
from ..lockfile import Lock
from ._common import RenderError

__all__ = ["BACKENDS", "Backend", "BackendError", "RenderError", "get_backend"]

#: The renderer modules, imported on first use (PEP 562): ``aienv apply`` needs the pip
#: backend's helpers only, and the conda backend's YAML library and the others' imports are
#: not free.
_MODULES = ("conda", "conda_lock", "pip", "pylock", "shell")

Renderer = Callable[[Lock, str], str]


@dataclass(frozen=True)
class Backend:
    """A format: its ``render``, the file name it is written to for a target (``{target}``
    replaced), what it is, and whether the written file should be executable."""

    name: str
    render: Renderer
    filename: str
    description: str
    executable: bool = False

    def filename_for(self, target: str) -> str:
        return self.filename.format(target=target)


@cache
def _backends() -> dict[str, Backend]:
    from . import conda, conda_lock, pip, pylock, shell

    return {b.name: b for b in (
        Backend("pip", pip.render, "requirements-{target}.txt", "pip requirements with --hash lines"),
        Backend("conda", conda.render, "environment-{target}.yml", "conda environment.yml: Python from conda-forge, the rest in its pip section"),
        Backend("conda-lock", conda_lock.render, "conda-lock-{target}.yml", "conda-lock.yml (needs the conda-lock extra and [conda] in aienv.toml)"),
        Backend("pylock", pylock.render, "pylock.{target}.toml", "PEP 751 pylock.toml"),
        Backend("shell", shell.render, "install-{target}.sh", "bash script: checks the host, creates a venv, installs with hashes, verifies", executable=True),
    )}


def __getattr__(name: str) -> Any:
    if name == "BACKENDS":
        value: Any = _backends()
    elif name in _MODULES:
        value = import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


class BackendError(EnvspecError, ValueError):
    """An unknown backend name."""

    code = "unknown-format"
    exit_code = 2


def get_backend(name: str) -> Backend:
    backends = _backends()
    try:
        return backends[name]
    except KeyError:
        raise BackendError(f"unknown format {name!r}", hint=f"formats: {', '.join(backends)}") from None
