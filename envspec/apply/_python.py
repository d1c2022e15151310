"""The interpreter a new environment is made from: one of the lock's Python major.minor.

In order: ``--python PATH`` (checked); the interpreter running aienv when it is of that minor;
``python3.X`` on PATH; ``uv python find 3.X`` when uv is the installer (uv knows the
interpreters it installed). Every candidate is run once to read its real version (a broken
shim on PATH is skipped, not trusted).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from ._errors import ApplyError

__all__ = ["find_interpreter", "interpreter_minor"]

_VERSION = "import sys; print('%d.%d' % sys.version_info[:2]); print(sys.executable)"


def interpreter_minor(python: str | os.PathLike[str], *, timeout: float = 30.0) -> tuple[str, str] | None:
    """``(major.minor, sys.executable)`` of an interpreter, or None when it does not run."""
    try:
        done = subprocess.run([os.fspath(python), "-c", _VERSION], capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    lines = done.stdout.split("\n")
    if done.returncode != 0 or len(lines) < 2 or not lines[0].strip():
        return None
    return lines[0].strip(), lines[1].strip() or os.fspath(python)


def _uv_find(uv: str, minor: str) -> str | None:
    try:
        done = subprocess.run([uv, "python", "find", "--no-config", minor], capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    found = done.stdout.strip()
    return found if done.returncode == 0 and found else None


def find_interpreter(locked: str, *, python: str | None = None, uv: str | None = None) -> Path:
    """An interpreter of the locked Python's major.minor (``locked``: ``"3.11"`` or ``"3.11.9"``).

    Raises :class:`ApplyError` (exit 1) when none is found, saying how to get one; a given
    ``python`` of another minor is an error too (exit 2).
    """
    minor = ".".join(locked.split(".")[:2])
    if python is not None:
        found = interpreter_minor(python)
        if found is None:
            raise ApplyError(f"--python {python}: it does not run", code="no-python", hint="give the path of a Python interpreter")
        if found[0] != minor:
            raise ApplyError(f"--python {python} is Python {found[0]}; the lock's target needs Python {minor}", code="python-mismatch",
                             hint=f"give a Python {minor} interpreter, or re-lock for Python {found[0]}", exit_code=2)
        return Path(python)
    if f"{sys.version_info[0]}.{sys.version_info[1]}" == minor and sys.executable:
        return Path(sys.executable)  # this interpreter: its version is known without running it
    on_path = shutil.which(f"python{minor}")
    if on_path and (found := interpreter_minor(on_path)) is not None and found[0] == minor:
        return Path(on_path)
    if uv is not None:
        found_uv = _uv_find(uv, minor)
        if found_uv is not None:
            return Path(found_uv)
    hint = f"install Python {minor} (e.g. `uv python install {minor}`), or give one with --python PATH"
    raise ApplyError(f"no Python {minor} interpreter found (the lock's target needs Python {locked})", code="no-python", hint=hint)
