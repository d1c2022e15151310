"""Packages whose public names are imported from their modules on first use (PEP 562).

``aienv``'s commands each need a small part of a package: ``apply`` starts the doctor's probe
before it imports the doctor's checks (and with them the lock's models), and reads
``envspec.sources``' file model without its HTTP client, cache and sdist builder. A package
lists where each name lives and takes its ``__getattr__`` and ``__dir__`` from :func:`exports`;
type checkers read the same names from an ``if TYPE_CHECKING:`` import block.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["exports"]


def exports(package: str, homes: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package`` (its ``__name__``), whose name ``n`` lives in
    the module ``homes[n]`` (relative, like ``".checks"``). A name is imported once, then set
    in the package, so later lookups do not come back here."""
    namespace = importlib.import_module(package).__dict__

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(home, package), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(homes))

    return __getattr__, __dir__
