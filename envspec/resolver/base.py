"""Base types of the resolver: identifiers, and the Requirement/Candidate interfaces.

Host facts are *virtual packages*: identifiers in angle brackets whose candidates are facts of
the target (one each, except ``<python>`` when the target leaves a range of versions). Compatibility rules are then ordinary
dependencies (``torch 2.7.1+cu128`` depends on ``<driver> >= 525.60.13``), and conflicts come back
through resolvelib's causes like any other.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from packaging.specifiers import SpecifierSet
from packaging.version import Version

__all__ = [
    "ACCELERATOR",
    "DRIVER",
    "GFX",
    "GPU",
    "HOST_IDENTIFIERS",
    "PLATFORM",
    "PYTHON",
    "Candidate",
    "Requirement",
    "python_allows",
]

PYTHON = "<python>"
PLATFORM = "<platform>"
DRIVER = "<driver>"
GPU = "<gpu>"
ACCELERATOR = "<accelerator>"
GFX = "<gfx>"  # the LLVM targets of the target's AMD GPUs

#: Facts of the machine, pinned before any package (resolvelib picks them first).
HOST_IDENTIFIERS = (PLATFORM, ACCELERATOR, DRIVER, GPU, GFX, PYTHON)


class Candidate(Protocol):
    """A concrete choice for one identifier (a package build, or a host fact's value)."""

    @property
    def identifier(self) -> str: ...

    @property
    def version(self) -> Version | None: ...

    def format_for_error(self) -> str:
        """A short human description: ``torch 2.7.1+cu128``, ``driver 470.82.01``."""
        ...


class Requirement(Protocol):
    """A constraint on one identifier, with where it came from (``origin``)."""

    @property
    def identifier(self) -> str: ...

    @property
    def origin(self) -> str:
        """``aienv.toml`` for the user's own requirements, else the rule and its source."""
        ...

    def is_satisfied_by(self, candidate: Candidate) -> bool: ...

    def format_for_error(self) -> str: ...


def join_versions(versions: Sequence[str], limit: int = 8) -> str:
    """``3.9, 3.10, …, 3.13`` style list for messages, shortened in the middle."""
    if len(versions) <= limit:
        return ", ".join(versions)
    return ", ".join([*versions[: limit // 2], "…", *versions[-(limit // 2) :]])


def python_allows(spec: SpecifierSet, minor: str) -> bool:
    """Whether a Python specifier admits some release of the ``minor`` series (judged by the
    series' first and its newest patch release, as installers do for a target like "3.12")."""
    return spec.contains(Version(minor), prereleases=True) or spec.contains(Version(f"{minor}.99"), prereleases=True)
