"""Where things are in a virtual environment and around the prefix apply manages.

Beside a prefix ``DIR/.venv`` apply keeps only hidden, clearly named siblings, all on the
same filesystem so that renames are atomic:

- ``DIR/..venv.aienv-stage-PID-RANDOM``: a new environment being built (removed when the
  apply ends; one left by a killed apply is removed by the next);
- ``DIR/..venv.aienv-old-PID-RANDOM``: the previous environment during the two renames of a
  swap on systems without an atomic exchange (restored by the next apply if the second rename
  never happened);
- ``DIR/..venv.aienv-lock``: the lock file that keeps two applies off one prefix.

Inside the environment, ``aienv-applied.json`` records what was applied (the marker that makes
a re-apply a no-op, and tells an aienv environment from one made by hand).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

__all__ = [
    "MARKER",
    "bin_dir",
    "env_python",
    "is_conda_prefix",
    "is_venv",
    "leftovers",
    "lock_path",
    "new_sibling",
    "site_packages",
]

MARKER = "aienv-applied.json"
_STAGE, _OLD = "stage", "old"


def bin_dir(prefix: Path) -> Path:
    """Where a venv keeps its interpreter and scripts."""
    return prefix / ("Scripts" if os.name == "nt" else "bin")


def env_python(prefix: Path) -> Path:
    """The interpreter of a venv (or conda prefix, on POSIX)."""
    return bin_dir(prefix) / ("python.exe" if os.name == "nt" else "python")


def is_venv(path: Path) -> bool:
    return (path / "pyvenv.cfg").is_file()


def is_conda_prefix(path: Path) -> bool:
    return (path / "conda-meta").is_dir()


def site_packages(prefix: Path) -> list[Path]:
    """The site-packages directories of an environment (POSIX ``lib/pythonX.Y``, Windows ``Lib``)."""
    found = sorted(prefix.glob("lib/python*/site-packages")) + sorted(prefix.glob("lib64/python*/site-packages"))
    windows = prefix / "Lib" / "site-packages"
    if windows.is_dir():
        found.append(windows)
    seen, out = set(), []
    for p in found:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


def _prefix_of(prefix: Path, kind: str) -> str:
    return f".{prefix.name}.aienv-{kind}-"


def new_sibling(prefix: Path, kind: str) -> Path:
    """A fresh hidden path beside ``prefix`` (``kind``: ``stage`` or ``old``)."""
    return prefix.parent / f"{_prefix_of(prefix, kind)}{os.getpid()}-{secrets.token_hex(4)}"


def leftovers(prefix: Path, kind: str) -> list[Path]:
    """Siblings of ``kind`` left beside ``prefix`` by earlier applies, newest first."""
    if not prefix.parent.is_dir():
        return []
    start = _prefix_of(prefix, kind)
    found = [p for p in prefix.parent.iterdir() if p.name.startswith(start)]
    return sorted(found, key=lambda p: p.lstat().st_mtime, reverse=True)


def lock_path(prefix: Path) -> Path:
    return prefix.parent / f".{prefix.name}.aienv-lock"
